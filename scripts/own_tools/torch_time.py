"""PyTorch's own timing of the torchvision module equivalent to a zoo model (PyTorch runs no
ONNX): Debian's python3-torch, the same 1.13 as the LibTorch backend's libtorch, eval mode
under torch.inference_mode, THREADS intra-op threads and one inter-op thread as the backend
sets them, batch 1, random weights. Prints one JSON line: {"p50_ms", "runs"}.

    python3 torch_time.py MODEL THREADS SECONDS SIZE      (MODEL: a torchvision name)
"""

import json
import sys

import torch
import torchvision

from timing import loop


def main():
    name, threads, seconds, size = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    model = getattr(torchvision.models, name)(weights=None).eval()
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        print(json.dumps(loop(lambda: model(x), seconds)))


if __name__ == "__main__":
    main()
