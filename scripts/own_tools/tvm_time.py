"""TVM's own time evaluator on the library infermark compiled (the entry in its cache): the
Relax VM on the CPU, its `main` timed by VirtualMachine.time_evaluator, TVM_NUM_THREADS set by
the caller. Prints one JSON line: {"p50_ms", "runs"}.

    TVM_NUM_THREADS=N python tvm_time.py LIBRARY.so SECONDS C H W
"""

import json
import statistics
import sys

import numpy as np
import tvm
from tvm import relax


def main():
    path, seconds = sys.argv[1], float(sys.argv[2])
    c, h, w = (int(v) for v in sys.argv[3:6])
    dev = tvm.cpu()
    vm = relax.VirtualMachine(tvm.runtime.load_module(path), dev)
    x = tvm.runtime.tensor(np.random.default_rng(1).random((1, c, h, w), dtype=np.float32), dev)
    vm["main"](x)  # first run outside the timing, as every tool here
    # One run per repeat, enough repeats to fill SECONDS (from the first run's time).
    probe = vm.time_evaluator("main", dev, number=1, repeat=3)(x)
    repeat = max(10, int(seconds / max(probe.mean, 1e-6)))
    r = vm.time_evaluator("main", dev, number=1, repeat=repeat)(x)
    print(json.dumps({"p50_ms": statistics.median(r.results) * 1e3, "runs": len(r.results)}))


if __name__ == "__main__":
    main()
