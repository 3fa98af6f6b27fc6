#!/usr/bin/env bash
# Builds the fuzz targets (fuzz/, clang-14 with libFuzzer, ASan and UBSan) in build-fuzz if
# needed, and runs each from its seed corpus for RUNS inputs or SECONDS seconds, whichever comes
# first. Prints per target the inputs run, the time and the result; exits non-zero when any
# target has a crash, sanitizer report, hang, allocation past the limit or parser finding. The
# input that caused it is kept in build-fuzz/artifacts/TARGET/ (rerun: build-fuzz/TARGET_fuzz
# FILE).
#
#   scripts/fuzz.sh [RUNS [TARGET...]]    RUNS defaults to 1000000; TARGETs to all of them:
#                                         protocol npy image results study onnx
#
# Each corpus is copied to a temporary folder, so that the inputs libFuzzer adds to it never
# land in the repository. Env knobs: FUZZ_DIR (build folder), FUZZ_SECONDS (the time limit per
# target, default 600), FUZZ_SEED (libFuzzer's -seed; 0, the default, picks one and prints it),
# FUZZ_ARGS (more libFuzzer options).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS="${1:-1000000}"
shift || true
DIR="${FUZZ_DIR:-$ROOT/build-fuzz}"
SECONDS_EACH="${FUZZ_SECONDS:-600}"

log() { printf '[fuzz] %s\n' "$*"; }

if [[ ! -f "$DIR/build.ninja" ]]; then
  log "configuring $DIR (clang++-14)"
  cmake -S "$ROOT/fuzz" -B "$DIR" -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 > "$DIR.configure.log" 2>&1 ||
    { cat "$DIR.configure.log"; exit 1; }
fi
if [[ $# -gt 0 ]]; then
  targets=("$@")
  build=()
  for t in "${targets[@]}"; do build+=("${t}_fuzz" "${t}_seeds"); done
  cmake --build "$DIR" --target "${build[@]}"
else
  cmake --build "$DIR"
  mapfile -t targets < "$DIR/targets.txt"
fi

# The longest input per target: enough for its seeds and their mutations, short enough that a
# run stays in the millions.
max_len() {
  case "$1" in
    image | onnx | results) echo 16384 ;;
    *) echo 4096 ;;
  esac
}

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
summary=()
failed=0
for t in "${targets[@]}"; do
  binary="$DIR/${t}_fuzz"
  corpus="$work/$t"
  mkdir -p "$corpus" "$DIR/artifacts/$t"
  cp "$DIR/seeds/$t"/* "$corpus/"
  runlog="$DIR/last-run-$t.log"
  log "$t: up to $RUNS inputs or ${SECONDS_EACH} s from $(find "$corpus" -type f | wc -l) seeds"
  start=$(date +%s)
  # detect_leaks: a parser that leaks on bad input is a finding too.
  set +e
  # shellcheck disable=SC2086  # FUZZ_ARGS: one option per word
  ASAN_OPTIONS="detect_leaks=1:${ASAN_OPTIONS:-}" UBSAN_OPTIONS="print_stacktrace=1:${UBSAN_OPTIONS:-}" \
    "$binary" -runs="$RUNS" -max_total_time="$SECONDS_EACH" -seed="${FUZZ_SEED:-0}" \
    -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$DIR/artifacts/$t/" ${FUZZ_ARGS:-} "$corpus" > "$runlog" 2>&1
  status=$?
  set -e
  seconds=$(($(date +%s) - start))
  inputs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$runlog" | tail -1)
  [[ -n "$inputs" ]] || inputs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$runlog" | tail -1)
  [[ -n "$inputs" ]] || inputs="?"
  if [[ $status -ne 0 ]] ||
    grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|FINDING:' "$runlog"; then
    failed=1
    grep -E 'ERROR: |runtime error:|FINDING:|SUMMARY:|Test unit written to' "$runlog" | head -20 || true
    result="FAILED (exit $status): log $runlog, input in $DIR/artifacts/$t/"
  else
    result="ok, no finding"
  fi
  line="$(printf '%-9s %9s inputs %5s s  %s' "$t" "$inputs" "$seconds" "$result")"
  log "$line"
  summary+=("$line")
done

log "summary:"
for line in "${summary[@]}"; do log "  $line"; done
if [[ $failed -ne 0 ]]; then
  log "FAILED: see the logs above; rerun an input with $DIR/TARGET_fuzz FILE"
  exit 1
fi
log "ok: every target ran without a finding"
