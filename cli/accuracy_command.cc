// infermark accuracy: real images through each framework and precision, against the fp32
// reference framework (top-1 agreement, largest relative difference of the outputs) and,
// where labels are given, against the labels (top-1 and top-5 accuracy).
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "backends/settings.h"
#include "cli/commands.h"
#include "cli/model_options.h"
#include "cli/run_model.h"
#include "core/error.h"
#include "core/image.h"
#include "prepare/prepare.h"

namespace infermark::cli {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

struct AccuracyArgs {
  ModelArgs model;
  ImageArgs images;
  std::string labels;       // FILE CLASS per line
  std::string calibration;  // images int8 is calibrated on; empty: seeded random values
  std::string backends;
  std::string reference = "onnxruntime";
  std::string precisions = "fp32";
  std::string prepare = "simplify";
  int64_t batch = 8;
  int threads = 0;
  std::string out;
};

// "FILE CLASS" (or "FILE,CLASS") per line, FILE an image's name; '#' starts a comment.
std::map<std::string, int64_t> read_labels(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error("labels '" + path + "': cannot be read");
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
      throw Error("labels '" + path + "' line " + std::to_string(n) +
                  ": expected FILE CLASS, got '" + line + "'");
    try {
      size_t used = 0;
      const long long c = std::stoll(cls, &used);
      if (used != cls.size() || c < 0) throw std::invalid_argument(cls);
      labels[fs::path(file).filename().string()] = c;
    } catch (const std::exception&) {
      throw Error("labels '" + path + "' line " + std::to_string(n) + ": class '" + cls +
                  "' is not a class index (0, 1, ...)");
    }
  }
  return labels;
}

// The images through one engine in batches of `batch` (a last, shorter batch is filled up
// with copies of its first image, whose outputs are dropped: engines compiled for one batch
// size run only that one).
Tensor run_all(Engine& engine, const Tensor& images, int64_t batch) {
  const int64_t n = images.shape[0];
  const int64_t per_image = images.numel() / n;
  Tensor all;
  Tensor chunk;
  chunk.resize([&] {
    std::vector<int64_t> s = images.shape;
    s[0] = batch;
    return s;
  }());
  Tensor out;
  for (int64_t first = 0; first < n; first += batch) {
    const int64_t count = std::min(batch, n - first);
    for (int64_t i = 0; i < batch; ++i) {
      const int64_t src = first + (i < count ? i : 0);
      std::copy_n(images.data.begin() + src * per_image, per_image,
                  chunk.data.begin() + i * per_image);
    }
    engine.run(view(chunk), out);
    const int64_t classes = out.numel() / batch;
    if (all.shape.empty()) all.resize({n, classes});
    std::copy_n(out.data.begin(), count * classes, all.data.begin() + first * classes);
  }
  return all;
}

int accuracy(const AccuracyArgs& a) {
  if (a.batch < 1) throw Error("--batch " + std::to_string(a.batch) + " is invalid: must be >= 1");
  BackendRegistry registry;
  std::vector<std::string> names = split_list(a.backends);
  if (names.empty()) throw Error("--backends names no framework");
  const std::vector<std::string> precisions = split_list(a.precisions);
  if (precisions.empty()) throw Error("--precision names no precision");
  for (const auto& p : precisions) check_precision_name(p);
  // The reference runs first, in fp32.
  names.erase(std::remove(names.begin(), names.end(), a.reference), names.end());
  std::vector<std::string> all = names;  // every framework the command runs
  all.push_back(a.reference);
  std::map<std::string, Settings> settings;
  for (const auto& n : all) settings[n] = settings_for(registry, n, a.model.sets, all);

  const fs::path file = a.model.file();
  std::vector<fs::path> files;
  const Tensor images = a.images.load(file, files);
  const int64_t n = images.shape[0];
  std::map<std::string, int64_t> labels;
  if (!a.labels.empty()) {
    labels = read_labels(a.labels);
    for (const auto& f : files)
      if (!labels.count(f.filename().string()))
        throw Error("labels '" + a.labels + "' have no class for image '" + f.filename().string() +
                    "'");
  }

  std::vector<std::pair<std::string, std::string>> runs = {{a.reference, "fp32"}};
  for (const auto& p : precisions) {
    if (p != "fp32") runs.emplace_back(a.reference, p);
    for (const auto& b : names) runs.emplace_back(b, p);
  }

  std::ofstream out;
  if (!a.out.empty()) {
    out.open(a.out, std::ios::app);
    if (!out) throw Error("cannot write '" + a.out + "'");
  }
  std::printf("accuracy of %s on %lld images (%s), batch %lld, reference %s fp32\n",
              a.model.model.c_str(), static_cast<long long>(n), a.images.describe().c_str(),
              static_cast<long long>(a.batch), a.reference.c_str());
  std::printf("%-12s %-9s %-11s %6s %6s %10s %11s  %s\n", "backend", "precision", "status", "top1",
              "top5", "agreement", "max_rel", "disagreements / why");
  Tensor ref;
  bool failed = false;
  for (const auto& [backend_name, precision] : runs) {
    json row = {{"schema", "infermark-accuracy/1"},
                {"model", a.model.model},
                {"images", n},
                {"image_files", json::array()},
                {"preprocess", a.images.describe()},
                {"backend", backend_name},
                {"precision", precision},
                {"reference", a.reference}};
    for (const auto& f : files) row["image_files"].push_back(f.filename().string());
    try {
      Backend& backend = registry.get(backend_name);
      check_capabilities(registry.info(backend_name), precision, 1);
      PrepareOptions prepare = preparation_options(a.prepare);
      prepare.opset_at_least = registry.info(backend_name).capabilities.min_opset;
      prepare_for_precision(prepare, precision);
      if (!prepare.quantize.empty() && !a.calibration.empty())
        use_calibration_images(prepare, a.calibration, a.images.preprocessing());
      // The batch is known: fixed in the file, so that what depends on it folds away.
      prepare.batch = std::min(a.batch, n);
      const PreparedModel p = prepare_model(file, prepare);
      row["prepared"] = to_json(p);
      auto engine = backend.load(
          {p.file, settings[backend_name], a.threads, std::min(a.batch, n), 1, precision});
      const Tensor logits = run_all(*engine, images, std::min(a.batch, n));
      const json effect = engine->settings_in_effect();
      row["precision_in_effect"] = effect.value("precision_in_effect", json(nullptr));
      if (ref.shape.empty()) ref = logits;
      if (logits.shape != ref.shape)
        throw Error("output shape " + shape_string(logits.shape) +
                    " differs from the reference's " + shape_string(ref.shape));
      int64_t top1 = 0, top5 = 0, agree = 0;
      std::vector<std::string> differ;
      json predictions = json::array();
      double ref_max = 0, diff = 0;
      for (size_t i = 0; i < ref.data.size(); ++i) {
        ref_max = std::max(ref_max, double(std::fabs(ref.data[i])));
        diff = std::max(diff, std::fabs(double(logits.data[i]) - ref.data[i]));
      }
      for (int64_t i = 0; i < n; ++i) {
        const std::vector<int64_t> best = top_k(logits, i, 5);
        const int64_t ref_top = top_k(ref, i, 1)[0];
        predictions.push_back(best);
        if (best[0] == ref_top) {
          ++agree;
        } else {
          differ.push_back(files[i].filename().string() + " " + std::to_string(best[0]) +
                           " (reference " + std::to_string(ref_top) + ")");
        }
        if (!labels.empty()) {
          const int64_t want = labels[files[i].filename().string()];
          top1 += best[0] == want;
          top5 += std::find(best.begin(), best.end(), want) != best.end();
        }
      }
      row["status"] = "ok";
      row["top5_predictions"] = predictions;
      row["top1_agreement"] = static_cast<double>(agree) / n;
      row["max_rel_diff"] = ref_max > 0 ? diff / ref_max : diff;
      row["disagreements"] = differ;
      if (!labels.empty()) {
        row["top1_accuracy"] = static_cast<double>(top1) / n;
        row["top5_accuracy"] = static_cast<double>(top5) / n;
      }
      std::string note;
      for (const auto& d : differ) note += (note.empty() ? "" : "; ") + d;
      char acc1[16] = "-", acc5[16] = "-";
      if (!labels.empty()) {
        std::snprintf(acc1, sizeof acc1, "%.3f", row["top1_accuracy"].get<double>());
        std::snprintf(acc5, sizeof acc5, "%.3f", row["top5_accuracy"].get<double>());
      }
      std::printf("%-12s %-9s %-11s %6s %6s %10.3f %11.3e  %s\n", backend_name.c_str(),
                  precision.c_str(), "ok", acc1, acc5, row["top1_agreement"].get<double>(),
                  row["max_rel_diff"].get<double>(), note.c_str());
    } catch (const Unsupported& e) {
      row["status"] = "unsupported";
      row["message"] = e.what();
      std::printf("%-12s %-9s %-11s %6s %6s %10s %11s  %s\n", backend_name.c_str(),
                  precision.c_str(), "unsupported", "-", "-", "-", "-", e.what());
    } catch (const std::exception& e) {
      row["status"] = "error";
      row["message"] = e.what();
      failed = true;
      std::printf("%-12s %-9s %-11s %6s %6s %10s %11s  %s\n", backend_name.c_str(),
                  precision.c_str(), "error", "-", "-", "-", "-", e.what());
      if (ref.shape.empty())
        throw Error("reference " + a.reference + " failed: " + std::string(e.what()));
    }
    if (out) out << row.dump() << "\n" << std::flush;
  }
  if (!a.out.empty()) std::printf("wrote %s\n", a.out.c_str());
  return failed ? 1 : 0;
}

}  // namespace

void add_accuracy_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "accuracy",
      "Real images through frameworks and precisions: top-1/top-5 against labels, top-1 "
      "agreement and output difference against the fp32 reference");
  auto args = std::make_shared<AccuracyArgs>();
  args->model.add_to(*cmd);
  args->images.add_to(*cmd);
  cmd->get_option("--images")->required();
  cmd->add_option("--labels", args->labels,
                  "Class of each image: lines 'FILE CLASS' (FILE: the image's name, CLASS: "
                  "the class index); without it, agreement with the reference only");
  cmd->add_option("--calibration", args->calibration,
                  "int8: a folder of images (preprocessed as --preprocess says) to calibrate "
                  "on, not the evaluated ones; default: seeded random values (speed only)");
  cmd->add_option("--backends", args->backends, "Comma-separated frameworks")->required();
  cmd->add_option("--reference", args->reference,
                  "Reference framework, run in fp32 (default onnxruntime)");
  cmd->add_option("--precision", args->precisions,
                  "Comma-separated precisions: fp32 (default), bf16, int8; a framework that "
                  "does not offer one is recorded as unsupported");
  cmd->add_option("--prepare", args->prepare, "Model preparation: simplify (default) or none");
  cmd->add_option("--batch", args->batch, "Images per run (default 8)");
  cmd->add_option("--threads", args->threads,
                  "Threads (default 0: every core this process may use)");
  cmd->add_option("--out", args->out, "Append one JSON line per framework and precision");
  cmd->callback([args] {
    if (accuracy(*args) != 0) throw ExitCode(1);
  });
}

}  // namespace infermark::cli
