#!/usr/bin/env bash
# Builds the fuzz target of the KServe v2 parsers (fuzz/, clang-14 with libFuzzer, ASan and
# UBSan) in build-fuzz if needed, and runs it for RUNS inputs from its seed corpus. Exits
# non-zero on any crash, sanitizer report or parser finding; the input that caused it is kept
# in build-fuzz/artifacts/ (rerun: build-fuzz/protocol_fuzz FILE).
#
#   scripts/fuzz.sh [RUNS]    RUNS defaults to 10000
#
# The corpus is copied to a temporary folder, so that the inputs libFuzzer adds to it never
# land in the repository. Env knobs: FUZZ_DIR (build folder), FUZZ_SEED (libFuzzer's -seed;
# 0, the default, picks one and prints it), FUZZ_ARGS (more libFuzzer options).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS="${1:-10000}"
DIR="${FUZZ_DIR:-$ROOT/build-fuzz}"

log() { printf '[fuzz] %s\n' "$*"; }

if [[ ! -f "$DIR/build.ninja" ]]; then
  log "configuring $DIR (clang++-14)"
  cmake -S "$ROOT/fuzz" -B "$DIR" -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 > "$DIR.configure.log" 2>&1 ||
    { cat "$DIR.configure.log"; exit 1; }
fi
cmake --build "$DIR"

corpus="$(mktemp -d)"
trap 'rm -rf "$corpus"' EXIT
cp "$DIR"/seeds/* "$corpus/"
mkdir -p "$DIR/artifacts"
log "$RUNS inputs from $(ls "$corpus" | wc -l) seeds"
# detect_leaks: a parser that leaks on bad input is a finding too.
set +e
# shellcheck disable=SC2086  # FUZZ_ARGS: one option per word
ASAN_OPTIONS="detect_leaks=1:${ASAN_OPTIONS:-}" UBSAN_OPTIONS="print_stacktrace=1:${UBSAN_OPTIONS:-}" \
  "$DIR/protocol_fuzz" -runs="$RUNS" -seed="${FUZZ_SEED:-0}" -max_len=4096 -timeout=10 \
  -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$DIR/artifacts/" \
  ${FUZZ_ARGS:-} "$corpus" 2>&1 | tee "$DIR/last-run.log"
status=${PIPESTATUS[0]}
set -e
if [[ $status -ne 0 ]] || grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|FINDING:' "$DIR/last-run.log"; then
  log "FAILED (exit $status): see above; the input is in $DIR/artifacts/"
  exit 1
fi
log "ok: $RUNS inputs, no finding"
