"""TensorFlow's own Python call on the SavedModel infermark converted (the entry in its
cache): the serving_default signature, intra-op THREADS and inter-op 1 as infermark sets them,
batch 1. Prints one JSON line: {"p50_ms", "runs"}.

    python tf_call.py SAVEDMODEL_DIR THREADS SECONDS C H W
"""

import json
import sys

import numpy as np
import tensorflow as tf

from timing import loop


def main():
    path, threads, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    c, h, w = (int(v) for v in sys.argv[4:7])
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    f = tf.saved_model.load(path).signatures["serving_default"]
    name = list(f.structured_input_signature[1].keys())[0]
    x = tf.constant(np.random.default_rng(1).random((1, c, h, w), dtype=np.float32))
    print(json.dumps(loop(lambda: f(**{name: x}), seconds)))


if __name__ == "__main__":
    main()
