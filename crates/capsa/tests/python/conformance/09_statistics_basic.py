# expect: [5,4.5,4,2.0,2.1380899353,3]
import statistics as st
xs = [2, 4, 4, 4, 5, 5, 7, 9]
[st.mean(xs), st.median(xs), st.mode(xs), st.pstdev(xs), round(st.stdev(xs), 10), st.median_low([1, 3, 5, 7])]
