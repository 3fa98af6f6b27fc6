"""ONNX Runtime's own Python API on the same file: one session with the settings infermark
uses (graph optimization all, sequential, intra-op THREADS, inter-op 1), batch-1 runs timed
back to back with time.perf_counter. Prints one JSON line: {"p50_ms", "runs"}.

    python ort_loop.py MODEL.onnx THREADS SECONDS
"""

import json
import sys

import numpy as np
import onnxruntime as ort

from timing import loop


def main():
    model, threads, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    o = ort.SessionOptions()
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    o.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    o.intra_op_num_threads = threads
    o.inter_op_num_threads = 1
    s = ort.InferenceSession(model, o, providers=["CPUExecutionProvider"])
    i = s.get_inputs()[0]
    shape = [1 if not isinstance(d, int) else d for d in i.shape]
    shape[0] = 1
    x = np.random.default_rng(1).random(shape, dtype=np.float32)
    print(json.dumps(loop(lambda: s.run(None, {i.name: x}), seconds)))


if __name__ == "__main__":
    main()
