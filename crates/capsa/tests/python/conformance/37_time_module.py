# expect: [true,true,"1970",true,1971]
import time
t0 = time.monotonic(); ns = time.perf_counter_ns()
time.sleep(0.01)
[time.monotonic() - t0 >= 0.009, time.time() > 1.7e9, time.strftime("%Y", time.gmtime(0)), isinstance(ns, int), time.gmtime(86400 * 365).tm_year]
