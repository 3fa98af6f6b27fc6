#!/usr/bin/env bash
# The Python clients and servers of the KServe v2 (Open Inference) protocol that the serve and
# load conformance tests (tests/serve/) check infermark against, in their own venv,
# $ROOT/.venv-serve:
#
#   tritonclient[http,grpc]   NVIDIA Triton's client library: what talks to `infermark serve`
#                             over HTTP/REST (JSON and binary tensor data) and gRPC
#   kserve                    KServe's Python model server (kserve.ModelServer): a server of
#                             another make for `infermark load` to drive
#
# Every wheel in the venv is pinned by scripts/deps/python-constraints-serve.txt (pip freeze).
#
# Idempotent: the venv remembers what it was installed from and a second run with the same
# pins does nothing. SERVE_FORCE=1 reinstalls; SERVE_PIP_ARGS adds pip options (e.g.
# "--find-links DIR" for pre-downloaded wheels).
set -euo pipefail

TRITONCLIENT_VERSION="2.73.0"
KSERVE_VERSION="0.21.0"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv-serve"
PINS="$ROOT/scripts/deps/python-constraints-serve.txt"
STAMP="$VENV/.installed-from"
WANT=("tritonclient[http,grpc]==$TRITONCLIENT_VERSION" "kserve==$KSERVE_VERSION")

log() { printf '[serve] %s\n' "$*"; }

want() { cat "$PINS"; printf '%s\n' "${WANT[@]}"; }
if [[ "${SERVE_FORCE:-0}" != 1 && -f "$STAMP" ]] && cmp -s <(want) "$STAMP"; then
  log "present: tritonclient==$TRITONCLIENT_VERSION kserve==$KSERVE_VERSION"
  exit 0
fi
if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating venv $VENV ($(/usr/bin/python3 --version))"
  /usr/bin/python3 -m venv "$VENV"
fi
log "pip install ${WANT[*]} -c $(basename "$PINS")"
# shellcheck disable=SC2086  # SERVE_PIP_ARGS: one option per word
"$VENV/bin/python" -m pip install --disable-pip-version-check --only-binary=:all: -q \
  -c "$PINS" ${SERVE_PIP_ARGS:-} "${WANT[@]}"
want > "$STAMP"
log "done"
