#!/usr/bin/env bash
# Install the inference-framework SDKs that infermark's C++ code links against,
# into project-local locations only:
#
#   $ROOT/.venv                       Python venv (shared with other scripts)
#     onnxruntime==$ORT_VERSION       wheel: libonnxruntime.so.* in onnxruntime/capi/
#     openvino==$OPENVINO_VERSION     wheel: full C++ SDK (headers, CMake config, libs,
#                                     plugins) + the `benchmark_app` console script
#   $ROOT/.deps/onnxruntime/
#     include/                        ORT C/C++ API headers, from Debian's
#                                     libonnxruntime-dev .deb (the wheel has none)
#     lib/libonnxruntime.so{,.1}      symlinks to the wheel's capi/libonnxruntime.so.<ver>
#     lib/cmake/onnxruntime/          tiny onnxruntimeConfig.cmake -> onnxruntime::onnxruntime
#   $ROOT/.deps/env.sh                paths for the C++ build (source it)
#
# Nothing is installed system-wide: the .deb is fetched with a private apt
# sources list / state dir and only unpacked (dpkg-deb -x), never installed.
#
# Idempotent: every step checks what is present first; a second run does nothing.
# Env knobs: FRAMEWORKS_FORCE=1 (redo everything), ORT_DEV_DEB_STRICT=1 (fail
# instead of falling back when the pinned .deb version is gone from the archive).
set -euo pipefail

# ---------------------------------------------------------------- pinned versions
ORT_VERSION="1.31.1"          # newest 1.31.x on PyPI
OPENVINO_VERSION="2026.4.1"   # newest on PyPI
# Debian's libonnxruntime-dev: newest in the archive (experimental). Debian has no
# 1.31 headers; older headers are fine against a newer library (ORT's C ABI is
# append-only; the headers request ORT_API_VERSION, which the newer lib serves).
ORT_DEV_DEB_VERSION="1.27.1+dfsg-1"
ORT_DEV_DEB_SUITE="experimental"
ORT_DEV_DEB_SHA256="521b439b4674dbd71da1d0bc3016f29075c6ad572f4a1c13beb011dee893f8f3"
# Suites tried (newest first) if the pinned version has left the archive.
ORT_DEV_DEB_FALLBACK_SUITES=(experimental sid trixie)
DEBIAN_MIRROR="http://deb.debian.org/debian"
DEBIAN_KEYRING="/usr/share/keyrings/debian-archive-keyring.gpg"

# ---------------------------------------------------------------- paths
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
DEPS="$ROOT/.deps"
ORT_DIR="$DEPS/onnxruntime"
CACHE="$DEPS/.cache"
FORCE="${FRAMEWORKS_FORCE:-0}"

log()  { printf '[frameworks] %s\n' "$*"; }
warn() { printf '[frameworks] WARNING: %s\n' "$*" >&2; }
die()  { printf '[frameworks] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- 1. venv
if [[ ! -x "$PY" ]]; then
  log "creating venv $VENV (/usr/bin/python3 $(/usr/bin/python3 -c 'import platform; print(platform.python_version())'))"
  /usr/bin/python3 -m venv "$VENV"
else
  log "venv present: $VENV"
fi

# ---------------------------------------------------------------- 2. wheels
dist_version() {  # prints installed version of a distribution, or nothing
  "$PY" - "$1" <<'EOF' 2>/dev/null || true
import sys, importlib.metadata as m
try: print(m.version(sys.argv[1]))
except m.PackageNotFoundError: pass
EOF
}

want=()
[[ "$FORCE" == 1 || "$(dist_version onnxruntime)" != "$ORT_VERSION" ]] && want+=("onnxruntime==$ORT_VERSION")
[[ "$FORCE" == 1 || "$(dist_version openvino)" != "$OPENVINO_VERSION" ]] && want+=("openvino==$OPENVINO_VERSION")
if ((${#want[@]})); then
  log "pip install ${want[*]}"
  "$PY" -m pip install --disable-pip-version-check --only-binary=:all: \
    -c "$ROOT/scripts/deps/python-constraints.txt" "${want[@]}"
else
  log "wheels present: onnxruntime==$ORT_VERSION openvino==$OPENVINO_VERSION"
fi

SITE="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
ORT_CAPI="$SITE/onnxruntime/capi"
ORT_LIB_REAL="$ORT_CAPI/libonnxruntime.so.$ORT_VERSION"
[[ -f "$ORT_LIB_REAL" ]] || die "expected $ORT_LIB_REAL from the onnxruntime wheel"
OV_PKG="$SITE/openvino"
OV_CMAKE_DIR="$OV_PKG/cmake"
[[ -f "$OV_CMAKE_DIR/OpenVINOConfig.cmake" ]] || die "expected $OV_CMAKE_DIR/OpenVINOConfig.cmake from the openvino wheel"
[[ -x "$VENV/bin/benchmark_app" ]] || die "expected $VENV/bin/benchmark_app from the openvino wheel"

# ---------------------------------------------------------------- 3. ORT headers
HDR_STAMP="$ORT_DIR/include/.libonnxruntime-dev.version"   # "pin=<pinned> got=<fetched>"
changed=$((${#want[@]} > 0))
if [[ "$FORCE" != 1 && -f "$ORT_DIR/include/onnxruntime_cxx_api.h" ]] &&
   grep -q "^pin=$ORT_DEV_DEB_VERSION " "$HDR_STAMP" 2>/dev/null; then
  log "ORT headers present: $ORT_DIR/include ($(cat "$HDR_STAMP"))"
else
  changed=1
  arch="$(dpkg --print-architecture)"
  work="$(mktemp -d /tmp/infermark-ort-deb.XXXXXX)"
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$CACHE"
  deb="$CACHE/libonnxruntime-dev_${ORT_DEV_DEB_VERSION//:/%3a}_${arch}.deb"
  if [[ -f "$deb" ]] && echo "$ORT_DEV_DEB_SHA256  $deb" | sha256sum -c --status; then
    log "using cached $deb"
    got_version="$ORT_DEV_DEB_VERSION"
  else
    [[ -r "$DEBIAN_KEYRING" ]] || die "missing $DEBIAN_KEYRING (apt-get install debian-archive-keyring)"
    mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/prefs.d" "$work/dl"
    for s in "${ORT_DEV_DEB_FALLBACK_SUITES[@]}"; do
      echo "deb [arch=$arch signed-by=$DEBIAN_KEYRING] $DEBIAN_MIRROR $s main"
    done >"$work/sources.list"
    # Private apt config: own sources/lists/cache, empty dpkg status, no system
    # prefs. The system's sources and apt state are never touched.
    APT_OPTS=(
      -o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
      -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache"
      -o "Dir::State::status=/dev/null" -o "Dir::Etc::Preferences=/dev/null"
      -o "Dir::Etc::PreferencesParts=$work/prefs.d" -o "Acquire::Languages=none"
      -o "Debug::NoLocking=1" -qq
    )
    [[ "$(id -u)" == 0 ]] && APT_OPTS+=(-o "APT::Sandbox::User=root")
    log "fetching libonnxruntime-dev=$ORT_DEV_DEB_VERSION (pinned from $ORT_DEV_DEB_SUITE) via private apt lists: ${ORT_DEV_DEB_FALLBACK_SUITES[*]}"
    apt-get "${APT_OPTS[@]}" update
    versions="$(apt-cache "${APT_OPTS[@]}" madison libonnxruntime-dev | awk -F'|' '{gsub(/ /,"",$2); print $2}')"
    if grep -qxF "$ORT_DEV_DEB_VERSION" <<<"$versions"; then
      got_version="$ORT_DEV_DEB_VERSION"
    else
      [[ "${ORT_DEV_DEB_STRICT:-0}" == 1 ]] && die "libonnxruntime-dev=$ORT_DEV_DEB_VERSION no longer in the archive"
      got_version="$(sort -V <<<"$versions" | tail -n1)"
      [[ -n "$got_version" ]] || die "libonnxruntime-dev not found in ${ORT_DEV_DEB_FALLBACK_SUITES[*]}"
      warn "pinned libonnxruntime-dev=$ORT_DEV_DEB_VERSION is gone from the archive; using $got_version (update the pin)"
    fi
    (cd "$work/dl" && apt-get "${APT_OPTS[@]}" download "libonnxruntime-dev=$got_version")
    src="$(ls "$work"/dl/libonnxruntime-dev_*.deb)"
    if [[ "$got_version" == "$ORT_DEV_DEB_VERSION" ]]; then
      echo "$ORT_DEV_DEB_SHA256  $src" | sha256sum -c --status || die "sha256 mismatch for $src"
    fi
    deb="$CACHE/$(basename "$src")"
    mv -f "$src" "$deb"
  fi
  dpkg-deb -x "$deb" "$work/x"
  [[ -f "$work/x/usr/include/onnxruntime/onnxruntime_cxx_api.h" ]] || die "no headers in $deb"
  rm -rf "$ORT_DIR/include"
  mkdir -p "$ORT_DIR"
  cp -a "$work/x/usr/include/onnxruntime" "$ORT_DIR/include"
  cp -a "$work/x/usr/share/doc/libonnxruntime-dev/copyright" "$ORT_DIR/include/COPYRIGHT.debian" 2>/dev/null || true
  echo "pin=$ORT_DEV_DEB_VERSION got=$got_version" >"$HDR_STAMP"
  log "ORT headers installed: $ORT_DIR/include (libonnxruntime-dev $got_version)"
fi

# ---------------------------------------------------------------- 3b. ORT lib layout
# The wheel's lib has SONAME libonnxruntime.so.1 but the wheel only ships the fully
# versioned file, so provide both the link name and the SONAME name here.
mkdir -p "$ORT_DIR/lib/cmake/onnxruntime"
link() {  # link TARGET NAME: (re)create a relative symlink only if it differs
  [[ -L "$2" && "$(readlink -f "$2")" == "$(readlink -f "$1")" ]] || ln -sfnr "$1" "$2"
}
link "$ORT_LIB_REAL" "$ORT_DIR/lib/libonnxruntime.so"
link "$ORT_LIB_REAL" "$ORT_DIR/lib/libonnxruntime.so.1"
[[ -f "$ORT_CAPI/libonnxruntime_providers_shared.so" ]] &&
  link "$ORT_CAPI/libonnxruntime_providers_shared.so" "$ORT_DIR/lib/libonnxruntime_providers_shared.so"

write_if_changed() {  # write_if_changed FILE (content on stdin)
  local tmp; tmp="$(mktemp)"; cat >"$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv -f "$tmp" "$1"; chmod 644 "$1"; log "wrote $1"; fi
}

write_if_changed "$ORT_DIR/lib/cmake/onnxruntime/onnxruntimeConfig.cmake" <<EOF
# Generated by scripts/deps/frameworks.sh: ORT $ORT_VERSION (PyPI wheel lib) +
# headers from Debian libonnxruntime-dev. Use: find_package(onnxruntime CONFIG REQUIRED)
# with onnxruntime_DIR=$ORT_DIR/lib/cmake/onnxruntime, link onnxruntime::onnxruntime.
get_filename_component(_ort_prefix "\${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
set(onnxruntime_VERSION "$ORT_VERSION")
set(onnxruntime_INCLUDE_DIRS "\${_ort_prefix}/include")
set(onnxruntime_LIBRARIES onnxruntime::onnxruntime)
if(NOT TARGET onnxruntime::onnxruntime)
  add_library(onnxruntime::onnxruntime SHARED IMPORTED)
  set_target_properties(onnxruntime::onnxruntime PROPERTIES
    IMPORTED_LOCATION "\${_ort_prefix}/lib/libonnxruntime.so.1"
    IMPORTED_SONAME "libonnxruntime.so.1"
    INTERFACE_INCLUDE_DIRECTORIES "\${_ort_prefix}/include")
endif()
unset(_ort_prefix)
EOF
write_if_changed "$ORT_DIR/lib/cmake/onnxruntime/onnxruntimeConfigVersion.cmake" <<EOF
set(PACKAGE_VERSION "$ORT_VERSION")
if(PACKAGE_FIND_VERSION VERSION_GREATER PACKAGE_VERSION)
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
else()
  set(PACKAGE_VERSION_COMPATIBLE TRUE)
  if(PACKAGE_FIND_VERSION STREQUAL PACKAGE_VERSION)
    set(PACKAGE_VERSION_EXACT TRUE)
  endif()
endif()
EOF

# ---------------------------------------------------------------- 4. env file
write_if_changed "$DEPS/env.sh" <<EOF
# Generated by scripts/deps/frameworks.sh -- source it for the C++ build.
export INFERMARK_VENV="$VENV"
export onnxruntime_DIR="$ORT_DIR/lib/cmake/onnxruntime"
export ONNXRUNTIME_INCLUDE_DIR="$ORT_DIR/include"
export ONNXRUNTIME_LIB_DIR="$ORT_DIR/lib"
export OpenVINO_DIR="$OV_CMAKE_DIR"
export OPENVINO_LIB_DIR="$OV_PKG/libs"
export OPENVINO_BENCHMARK_APP="$VENV/bin/benchmark_app"
EOF

# ---------------------------------------------------------------- 5. sanity check
# After a (re)install: the headers' ORT_API_VERSION must be served by the wheel's
# library (OrtGetApiBase()->GetApi(v) != NULL), else Ort:: C++ wrapper init fails.
if ((changed)) || [[ "$FORCE" == 1 ]]; then
  hdr_api="$(sed -n 's/^#define ORT_API_VERSION \([0-9]*\).*/\1/p' "$ORT_DIR/include/onnxruntime_c_api.h")"
  "$PY" - "$ORT_DIR/lib/libonnxruntime.so.1" "$hdr_api" <<'EOF' || die "ORT header/library API mismatch (see above)"
import ctypes, sys
F = ctypes.CFUNCTYPE
class Base(ctypes.Structure):
    _fields_ = [("GetApi", F(ctypes.c_void_p, ctypes.c_uint32)), ("GetVersionString", F(ctypes.c_char_p))]
lib = ctypes.CDLL(sys.argv[1]); lib.OrtGetApiBase.restype = ctypes.POINTER(Base)
b = lib.OrtGetApiBase().contents; hdr = int(sys.argv[2])
ver = b.GetVersionString().decode()
if b.GetApi(hdr):
    print(f"[frameworks] ORT check: lib {ver} serves headers' ORT_API_VERSION {hdr}")
else:
    top = next((v for v in range(hdr, 0, -1) if b.GetApi(v)), 0)
    print(f"[frameworks] lib {ver} supports API <= {top}, headers want {hdr}: "
          f"define ORT_API_MANUAL_INIT and Ort::InitApi(OrtGetApiBase()->GetApi({top}))", file=sys.stderr)
    sys.exit(1)
EOF
fi

log "done: ORT $ORT_VERSION ($ORT_DIR), OpenVINO $OPENVINO_VERSION (OpenVINO_DIR=$OV_CMAKE_DIR)"
