// The accuracy gate of `infermark tune` (Tuner::agreement_ok, sweep/tune_internal.h): a
// reduced precision is a candidate only while its top-1 agreement with the baseline's fp32,
// measured once by the accuracy library (verify/accuracy.h, each framework in a process of its
// own) and kept beside the result file, reaches --min-top1-agreement.
#include "backends/registry.h"
#include "backends/settings.h"
#include "core/accuracy_row.h"
#include "core/error.h"
#include "core/image.h"
#include "sweep/tune_internal.h"
#include "verify/accuracy.h"

namespace infermark::tune_internal {
namespace fs = std::filesystem;

namespace {

// The agreement of `backend` in `precision` on the images, appended to `file`: the reference
// (the baseline in fp32) first, then the framework. Throws Error for what cannot be read.
void measure_agreement(const std::string& model, const std::string& images,
                       const std::string& backend, const std::string& precision,
                       const std::string& baseline, int threads, const fs::path& file) {
  BackendRegistry registry;
  AccuracyOptions a;
  a.model = model;
  a.model_label = model;
  const std::vector<fs::path> files = image_files(images);
  a.images = load_images(files, a.preprocessing);  // torchvision's ImageNet recipe
  for (const auto& f : files) a.image_files.push_back(f.filename().string());
  a.preprocess = a.preprocessing.describe();
  a.backends = {backend};
  a.reference = baseline;
  a.precisions = {precision};
  for (const auto& b : {backend, baseline}) a.settings[b] = validate_settings(registry.info(b), {});
  a.threads = threads;
  a.out = file;
  run_accuracy(registry, a, nullptr);
}

}  // namespace

bool Tuner::agreement_ok(const std::string& backend, const std::string& precision) {
  if (precision == "fp32" || o_.limits.min_top1_agreement <= 0) return true;
  const std::string key = backend + " " + precision;
  const fs::path file = fs::path(o_.out).replace_extension(".accuracy.jsonl");
  auto read = [&]() -> bool {
    if (!fs::exists(file)) return false;
    for (const AccuracyRow& r : read_accuracy({file})) {
      if (r.backend != backend || r.precision != precision || r.model != template_.model.path)
        continue;
      if (r.ok() && r.top1_agreement)
        agreement_[key] = *r.top1_agreement;
      else
        refused_[key] = "agreement not measured: " + (r.message.empty() ? r.status : r.message);
      return true;
    }
    return false;
  };
  if (!read()) {
    progress("agreement", key + " against " + baseline_ + " fp32 on " + o_.images);
    try {
      measure_agreement(template_.model.path, o_.images, backend, precision, baseline_, o_.threads,
                        file);
      if (!read()) refused_[key] = "agreement could not be measured";
    } catch (const Error& e) {
      refused_[key] = std::string("agreement could not be measured: ") + e.what();
    }
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
