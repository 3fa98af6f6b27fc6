"""torchvision's ImageNet preprocessing of image files, the reference core/image.cc is held to
(tests/core/image_test.cc): Resize(RESIZE) on the PIL image, CenterCrop(CROP), ToTensor,
Normalize(ImageNet mean and std), stacked into one NCHW float32 batch written as .npy.

    /usr/bin/python3 torchvision_preprocess.py OUT.npy RESIZE CROP IMAGE...
"""

import sys

import numpy as np
import torch
from PIL import Image
from torchvision import transforms


def main():
    out, resize, crop = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    pipeline = transforms.Compose([
        transforms.Resize(resize),  # bilinear on PIL images: Pillow's antialiased resampling
        transforms.CenterCrop(crop),
        transforms.ToTensor(),
        transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
    ])
    batch = torch.stack([pipeline(Image.open(f).convert("RGB")) for f in sys.argv[4:]])
    np.save(out, batch.numpy().astype(np.float32))


if __name__ == "__main__":
    main()
