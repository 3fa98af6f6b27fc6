# The frameworks of the study, in the order `infermark backends` and the reports list them: the
# one list that names them. One entry each:
#
#   infermark_framework(<name> <deps> <slow>
#     "<not built>")
#
# <name>       its folder backends/<name>/ (the plugin libinfermark_backend_<name>.so, built when
#              its option INFERMARK_WITH_<NAME> is ON and its SDK is found) and, if there is one,
#              its test tests/backends/<name>_test.cc
# <deps>       its install step under scripts/deps/, run by scripts/bootstrap.sh (once, when
#              frameworks share it); - for a framework of the study that cannot be installed
#              here: it has no folder and no option, and is listed as not available
# <slow>       the GoogleTest suite of its test when that compiles ahead of time (make test-fast
#              leaves it and the framework's contract tests out); - when its tests are quick
# <not built>  why a build lacks it, as `infermark backends` says
#
# From it follow the options, the folders and the registry's names (backends/CMakeLists.txt),
# the framework's tests (tests/CMakeLists.txt), the Makefile's lists of frameworks and the
# install steps (scripts/bootstrap.sh). The Makefile and bootstrap.sh read <name>, <deps> and
# <slow> from the entry's first line with awk: keep them there.
macro(infermark_framework name deps slow not_built)
  list(APPEND INFERMARK_FRAMEWORKS ${name})
  set(INFERMARK_FRAMEWORK_${name}_DEPS ${deps})
  set(INFERMARK_FRAMEWORK_${name}_SLOW ${slow})
  set(INFERMARK_FRAMEWORK_${name}_NOT_BUILT "${not_built}")
endmacro()
set(INFERMARK_FRAMEWORKS "")

infermark_framework(onnxruntime frameworks.sh -
  "the onnxruntime SDK was not found when the build was configured (make build installs it)")
infermark_framework(openvino frameworks.sh -
  "the OpenVINO SDK was not found when the build was configured (make build installs it)")
infermark_framework(opencv apt.sh -
  "OpenCV's dnn module (Debian's libopencv-dnn-dev) was not found when the build was configured (make build installs it)")
infermark_framework(libtorch apt.sh -
  "LibTorch (Debian's libtorch-dev) was not found when the build was configured (make build installs it)")
infermark_framework(tvm tvm.sh Tvm
  "TVM (the apache-tvm wheel) was not found when the build was configured (make build installs it)")
infermark_framework(iree iree.sh Iree
  "IREE (the iree-base-compiler and iree-base-runtime wheels) was not found when the build was configured (make build installs it)")
infermark_framework(tensorflow tensorflow.sh TensorFlow
  "TensorFlow (the tensorflow-cpu wheel) was not found when the build was configured (make build installs it)")
infermark_framework(tensorrt - -
  "no TensorRT SDK is reachable from this environment's package registries (Debian, PyPI); there is no backends/tensorrt")
