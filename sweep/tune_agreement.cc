// The accuracy gate of `infermark tune` (Tuner::agreement_ok, sweep/tune_internal.h): a
// reduced precision is a candidate only while its top-1 agreement with the baseline's fp32,
// measured once by `infermark accuracy` and kept beside the result file, reaches
// --min-top1-agreement.
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "sweep/tune_internal.h"

namespace infermark::tune_internal {
namespace fs = std::filesystem;

bool Tuner::agreement_ok(const std::string& backend, const std::string& precision) {
  if (precision == "fp32" || o_.limits.min_top1_agreement <= 0) return true;
  const std::string key = backend + " " + precision;
  const fs::path file = fs::path(o_.out).replace_extension(".accuracy.jsonl");
  auto read = [&]() -> bool {
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
      const auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || j.value("backend", "") != backend ||
          j.value("precision", "") != precision || j.value("model", "") != template_.model.path)
        continue;
      if (j.value("status", "") == "ok")
        agreement_[key] = j.value("top1_agreement", 0.0);
      else
        refused_[key] = "agreement not measured: " + j.value("message", std::string("failed"));
      return true;
    }
    return false;
  };
  if (!read()) {
    const fs::path program = fs::read_symlink("/proc/self/exe");
    std::string cmd = "'" + program.string() + "' accuracy --model '" + template_.model.path +
                      "' --images '" + o_.images + "' --backends " + backend + " --precision " +
                      precision + " --reference " + baseline_ + " --threads " +
                      std::to_string(o_.threads) + " --out '" + file.string() + "' >&2";
    progress("agreement", key + " against " + baseline_ + " fp32 on " + o_.images);
    [[maybe_unused]] const int code = std::system(cmd.c_str());
    if (!read()) refused_[key] = "agreement could not be measured (infermark accuracy failed)";
  }
  if (!agreement_.count(key)) return false;
  if (agreement_[key] < o_.limits.min_top1_agreement) {
    refused_[key] = "top-1 agreement " + fixed(agreement_[key], 3) + " with " + baseline_ +
                    " fp32 is below --min-top1-agreement " + fixed(o_.limits.min_top1_agreement, 3);
    return false;
  }
  return true;
}

}  // namespace infermark::tune_internal
