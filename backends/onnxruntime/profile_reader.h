#pragma once

#include <cstdint>
#include <filesystem>

#include "core/profile.h"

namespace infermark {

// ONNX Runtime's session profile (SessionOptions::EnableProfiling; the file EndProfiling
// writes: a JSON array of trace events) as kernel times. Each session.Run is one "model_run"
// event of category Session; each kernel one "<node name>_kernel_time" event of category Node,
// with its operator in args.op_name. The first `skip_runs` runs (warm-up) are left out: their
// kernels start before the next run does. Throws Error naming the file where it cannot be read.
KernelProfile read_ort_profile(const std::filesystem::path& file, int64_t skip_runs);

}  // namespace infermark
