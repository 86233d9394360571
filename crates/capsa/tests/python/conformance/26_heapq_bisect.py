# expect: [[1,3],[9,7],1,3,[1,3,3,4,7],[1,2,3,4]]
import heapq, bisect
h = [5, 1, 8, 3]
heapq.heapify(h)
first = [heapq.heappop(h) for _ in range(2)]
xs = [1, 3, 3, 7]
bisect.insort(xs, 4)
[first, heapq.nlargest(2, [4, 9, 2, 7]), bisect.bisect_left(xs, 3), bisect.bisect_right(xs, 3), xs, list(heapq.merge([1, 4], [2, 3]))]
