#pragma once

// The IREE plugin's compile steps as subprocesses (.venv-iree's prepare_onnx.py,
// iree-import-onnx, iree-compile): running one and collecting its output, and the lines of that
// output that say what went wrong. Kept apart from iree_backend.cc so that each file stays
// short.

#include <string>
#include <vector>

namespace infermark::iree_detail {

struct ToolResult {
  int exit_code = -1;  // -1: did not start or was killed by a signal
  std::string output;  // stdout and stderr together
};

// Runs argv[0] (an absolute path) and collects what it prints. The Python tools get no
// PYTHONPATH or PYTHONHOME of the caller's: .venv-iree must see only its own packages.
ToolResult run_tool(const std::vector<std::string>& argv);

// The lines of a tool's output that say what went wrong, on one line:
//  - a Python traceback: its last exception, without the module path of the exception type
//    ("onnx.onnx_cpp2py_export.checker.ValidationError: No Op registered for Relx ...");
//  - MLIR diagnostics: each "error:" line without its location, and the ONNX operators that
//    the notes show ("torch.operator "onnx.Foo""), deduplicated;
//  - otherwise the last non-empty lines.
std::string meaningful(const std::string& output);

// Valid models that use what this IREE cannot compile: operators unknown to ONNX or not
// lowered by IREE's ONNX import, opsets it does not handle.
bool is_unsupported(const std::string& message);

}  // namespace infermark::iree_detail
