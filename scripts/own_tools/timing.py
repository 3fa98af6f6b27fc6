"""The timing loop the frameworks' Python APIs are measured with (ort_loop.py, tf_call.py,
torch_time.py): 10% of the time (at least one run) untimed, then runs back to back, each
timed with time.perf_counter, until SECONDS have passed and at least 10 runs were made."""

import statistics
import time


def loop(run, seconds):
    end = time.perf_counter() + max(0.1 * seconds, 0)
    run()
    while time.perf_counter() < end:
        run()
    times = []
    stop = time.perf_counter() + seconds
    while time.perf_counter() < stop or len(times) < 10:
        t0 = time.perf_counter()
        run()
        times.append((time.perf_counter() - t0) * 1e3)
    return {"p50_ms": statistics.median(times), "runs": len(times)}
