#include "verify/accuracy.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "backends/registry.h"
#include "backends/settings.h"
#include "core/error.h"
#include "core/text.h"
#include "prepare/prepare.h"
#include "verify/compare.h"
#include "verify/isolated.h"

namespace infermark {
namespace fs = std::filesystem;

std::map<std::string, int64_t> read_labels(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw Error("labels '" + path.string() + "': cannot be read");
  std::map<std::string, int64_t> labels;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (const size_t hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    for (char& c : line)
      if (c == ',' || c == '\t') c = ' ';
    std::istringstream words(line);
    std::string file, cls, extra;
    if (!(words >> file)) continue;
    if (!(words >> cls) || (words >> extra))
      throw Error("labels '" + path.string() + "' line " + std::to_string(n) +
                  ": expected FILE CLASS, got '" + line + "'");
    try {
      size_t used = 0;
      const long long c = std::stoll(cls, &used);
      if (used != cls.size() || c < 0) throw std::invalid_argument(cls);
      labels[fs::path(file).filename().string()] = c;
    } catch (const std::exception&) {
      throw Error("labels '" + path.string() + "' line " + std::to_string(n) + ": class '" + cls +
                  "' is not a class index (0, 1, ...)");
    }
  }
  return labels;
}

namespace {

// One framework and precision through the images: the logits, or the row says why not.
Tensor run_one(BackendRegistry& registry, const AccuracyOptions& a, AccuracyRow& row) {
  const int64_t n = a.images.shape[0];
  try {
    const BackendInfo& info = registry.info(row.backend);
    check_capabilities(info, row.precision, 1);
    PrepareOptions prepare = preparation_options(a.prepare);
    prepare.opset_at_least = info.capabilities.min_opset;
    prepare_for_precision(prepare, row.precision);
    if (!prepare.quantize.empty() && !a.calibration.empty())
      use_calibration_images(prepare, a.calibration, a.preprocessing);
    // The batch is known: fixed in the file, so that what depends on it folds away.
    prepare.batch = std::min(a.batch, n);
    const PreparedModel p = prepare_model(a.model, prepare);
    row.prepared = to_json(p);
    IsolatedJob job;
    job.backend = row.backend;
    job.load = {p.file,       a.settings.at(row.backend), a.threads, std::min(a.batch, n), 1,
                row.precision};
    job.mode = IsolatedJob::Mode::kInBatches;
    job.timeout_s = a.timeout_s;
    IsolatedOutcome o = run_isolated(job, a.images);
    if (!o.ok()) {
      row.status = o.status;
      row.message = o.reason;
      row.output_tail = o.output_tail;
      return {};
    }
    const auto effect = o.settings_in_effect.find("precision_in_effect");
    if (effect != o.settings_in_effect.end() && effect->is_string())
      row.precision_in_effect = effect->get<std::string>();
    return std::move(o.output);
  } catch (const Unsupported& e) {
    row.status = "unsupported";
    row.message = e.what();
  } catch (const Error& e) {
    row.status = "error";
    row.message = e.what();
  }
  return {};
}

// The row's figures from its logits, against the reference's (when it ran) and the labels.
void score(const AccuracyOptions& a, const Tensor& logits, const Tensor* ref, AccuracyRow& row) {
  const int64_t n = a.images.shape[0];
  if (ref != nullptr) {
    const OutputDifference d = compare_outputs(logits, *ref);
    if (!d.same_shape) {
      row.status = "error";
      row.message = d.shape_note;
      return;
    }
    row.max_rel_diff = d.max_rel;
  }
  int64_t top1 = 0, top5 = 0, agree = 0;
  for (int64_t i = 0; i < n; ++i) {
    const std::vector<int64_t> best = top_k(logits, i, 5);
    row.top5_predictions.push_back(best);
    if (ref != nullptr) {
      const int64_t ref_top = top_k(*ref, i, 1)[0];
      if (best[0] == ref_top)
        ++agree;
      else
        row.disagreements.push_back(a.image_files[i] + " " + std::to_string(best[0]) +
                                    " (reference " + std::to_string(ref_top) + ")");
    }
    if (!a.labels.empty()) {
      const int64_t want = a.labels.at(a.image_files[i]);
      top1 += best[0] == want;
      top5 += std::find(best.begin(), best.end(), want) != best.end();
    }
  }
  const auto share = [n](int64_t k) { return static_cast<double>(k) / static_cast<double>(n); };
  if (ref != nullptr) row.top1_agreement = share(agree);
  if (!a.labels.empty()) {
    row.top1_accuracy = share(top1);
    row.top5_accuracy = share(top5);
  }
}

void print_row(const AccuracyRow& row, std::FILE* out) {
  if (out == nullptr) return;
  if (!row.ok()) {
    std::fprintf(out, "%-12s %-9s %-11s %6s %6s %10s %11s  %s\n", row.backend.c_str(),
                 row.precision.c_str(), row.status.c_str(), "-", "-", "-", "-",
                 row.message.c_str());
    return;
  }
  const auto figure = [](const std::optional<double>& v, const char* format) {
    return v ? formatted(*v, format) : std::string("-");
  };
  std::string note;
  for (const auto& d : row.disagreements) note += (note.empty() ? "" : "; ") + d;
  if (!row.top1_agreement) note = "no reference to compare with";
  std::fprintf(out, "%-12s %-9s %-11s %6s %6s %10s %11s  %s\n", row.backend.c_str(),
               row.precision.c_str(), "ok", figure(row.top1_accuracy, "%.3f").c_str(),
               figure(row.top5_accuracy, "%.3f").c_str(),
               figure(row.top1_agreement, "%.3f").c_str(), figure(row.max_rel_diff, "%.3e").c_str(),
               note.c_str());
}

}  // namespace

std::vector<AccuracyRow> run_accuracy(BackendRegistry& registry, const AccuracyOptions& a,
                                      std::FILE* out) {
  if (a.batch < 1) throw Error("--batch " + std::to_string(a.batch) + " is invalid: must be >= 1");
  if (a.backends.empty()) throw Error("--backends names no framework");
  if (a.precisions.empty()) throw Error("--precision names no precision");
  for (const auto& p : a.precisions) check_precision_name(p);
  const int64_t n = a.images.shape.empty() ? 0 : a.images.shape[0];
  if (n < 1 || static_cast<int64_t>(a.image_files.size()) != n)
    throw Error("accuracy needs at least one image, and a name for each");
  for (const auto& f : a.image_files)
    if (!a.labels.empty() && !a.labels.count(f))
      throw Error("the labels have no class for image '" + f + "'");

  // The reference first, in fp32; then each precision: the reference in it, the others.
  std::vector<std::pair<std::string, std::string>> runs = {{a.reference, "fp32"}};
  for (const auto& p : a.precisions) {
    if (p != "fp32") runs.emplace_back(a.reference, p);
    for (const auto& b : a.backends)
      if (b != a.reference) runs.emplace_back(b, p);
  }

  std::ofstream file;
  if (!a.out.empty()) {
    file.open(a.out, std::ios::app);
    if (!file) throw Error("cannot write '" + a.out.string() + "'");
  }
  if (out != nullptr) {
    std::fprintf(out, "accuracy of %s on %lld images (%s), batch %lld, reference %s fp32\n",
                 a.model_label.c_str(), static_cast<long long>(n), a.preprocess.c_str(),
                 static_cast<long long>(a.batch), a.reference.c_str());
    std::fprintf(out, "%-12s %-9s %-11s %6s %6s %10s %11s  %s\n", "backend", "precision", "status",
                 "top1", "top5", "agreement", "max_rel", "disagreements / why");
  }
  std::vector<AccuracyRow> rows;
  Tensor ref;
  bool ref_ran = false;
  for (const auto& [backend, precision] : runs) {
    AccuracyRow row;
    row.model = a.model_label;
    row.images = n;
    row.image_files = a.image_files;
    row.preprocess = a.preprocess;
    row.backend = backend;
    row.precision = precision;
    row.reference = a.reference;
    const Tensor logits = run_one(registry, a, row);
    if (row.status == "interrupted") {  // not a result: the user stopped the command
      if (out != nullptr) std::fprintf(out, "interrupted\n");
      rows.push_back(std::move(row));
      break;
    }
    const bool first = rows.empty();
    if (row.ok()) {
      if (first) {
        ref = logits;
        ref_ran = true;
      }
      score(a, logits, ref_ran ? &ref : nullptr, row);
    }
    print_row(row, out);
    if (file)
      file << to_json(row).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n"
           << std::flush;
    rows.push_back(std::move(row));
  }
  if (out != nullptr && !a.out.empty()) std::fprintf(out, "wrote %s\n", a.out.c_str());
  return rows;
}

}  // namespace infermark
