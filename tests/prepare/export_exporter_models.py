#!/usr/bin/env python3
"""Models as PyTorch 1.13's ONNX exporter writes them (opset 13, dynamic batch), with the
patterns that real exported classifiers carry and frameworks trip on:

  mobilenet_v2   torchvision's MobileNetV2: ReLU6 written as Clip with min and max inputs
  same_pad       a small network with TensorFlow-style "same" padding computed at run time
                 from the input's size (Shape, Gather, arithmetic, Pad), as timm writes it
  resnet50       torchvision's ResNet50 with its initial BatchNorm values: equal tensors are
                 merged into one initializer read through Identity nodes
  same_pad_any_size   same_pad with its height and width free as well (dynamic axes 0, 2, 3)
  nhwc           a small network taking channels-last images (N, H, W, 3) named "image", as
                 TensorFlow's exporters write them; nhwc_fixed: the same with its batch fixed
                 to 1 (no dynamic axis)

    export_exporter_models.py OUT_DIR [--input-size 64]

Writes OUT_DIR/NAME.onnx, OUT_DIR/NAME.input.npy (a batch of 2 images) and
OUT_DIR/NAME.expected.npy (PyTorch's outputs for it, the reference every framework is checked
against).
"""
import argparse
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "zoo"))
from export_torchvision import randomize  # noqa: E402  (tests/zoo/export_torchvision.py)


class PadSameConv(torch.nn.Module):
    """Conv2d with TensorFlow's "same" padding, computed from the input's size."""

    def __init__(self, c_in, c_out, k, stride):
        super().__init__()
        self.conv = torch.nn.Conv2d(c_in, c_out, k, stride, padding=0)
        self.k, self.stride = k, stride

    def forward(self, x):
        ih, iw = x.size()[-2:]
        ph = max((math.ceil(ih / self.stride) - 1) * self.stride + self.k - ih, 0)
        pw = max((math.ceil(iw / self.stride) - 1) * self.stride + self.k - iw, 0)
        x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return self.conv(x)


class SamePad(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(
            PadSameConv(3, 16, 3, 2), torch.nn.BatchNorm2d(16), torch.nn.ReLU6(),
            PadSameConv(16, 32, 3, 2), torch.nn.BatchNorm2d(32), torch.nn.ReLU6(),
            PadSameConv(32, 32, 5, 1), torch.nn.ReLU())
        self.fc = torch.nn.Linear(32, 10)

    def forward(self, x):
        return self.fc(self.features(x).mean((2, 3)))


class ChannelsLast(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, 2, 1)
        self.fc = torch.nn.Linear(8, 5)

    def forward(self, x):  # x: N, H, W, C
        return self.fc(torch.relu(self.conv(x.permute(0, 3, 1, 2))).mean((2, 3)))


def randomized(model):
    randomize(model)
    return model


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out_dir")
    parser.add_argument("--input-size", type=int, default=64)
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    torch.manual_seed(0)
    models = {
        "mobilenet_v2": randomized(torchvision.models.mobilenet_v2(weights=None)),
        "same_pad": randomized(SamePad()),
        "resnet50": torchvision.models.resnet50(weights=None),  # initial values: Identity
    }
    models["nhwc"] = ChannelsLast()
    for name, model in models.items():
        model.eval()
        path = os.path.join(args.out_dir, name + ".onnx")
        x = torch.rand(2, 3, args.input_size, args.input_size)
        names = ["input", "logits"]
        if name == "same_pad":
            torch.onnx.export(model, x[:1], os.path.join(args.out_dir, "same_pad_any_size.onnx"),
                              input_names=names[:1], output_names=names[1:], opset_version=13,
                              dynamic_axes={"input": {0: "batch", 2: "height", 3: "width"},
                                            "logits": {0: "batch"}})
        if name == "nhwc":
            x = x.permute(0, 2, 3, 1).contiguous()
            names = ["image", "scores"]
            torch.onnx.export(model, x[:1], os.path.join(args.out_dir, "nhwc_fixed.onnx"),
                              input_names=names[:1], output_names=names[1:], opset_version=13)
        torch.onnx.export(model, x[:1], path, input_names=names[:1], output_names=names[1:],
                          opset_version=13,
                          dynamic_axes={names[0]: {0: "batch"}, names[1]: {0: "batch"}})
        with torch.no_grad():
            y = model(x)
        np.save(os.path.join(args.out_dir, name + ".input.npy"), x.numpy())
        np.save(os.path.join(args.out_dir, name + ".expected.npy"), y.numpy())


if __name__ == "__main__":
    main()
