// infermark accuracy: the options of verify/accuracy.h.
#include <algorithm>
#include <cstdio>

#include "cli/commands.h"
#include "cli/model_options.h"
#include "core/error.h"
#include "verify/accuracy.h"

namespace infermark::cli {
namespace {

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
  double timeout_s = 0;
  std::string out;
};

int accuracy(const AccuracyArgs& a) {
  if (a.batch < 1) throw Error("--batch " + std::to_string(a.batch) + " is invalid: must be >= 1");
  if (a.timeout_s < 0) throw Error("--timeout " + std::to_string(a.timeout_s) + " is negative");
  BackendRegistry registry;
  AccuracyOptions o;
  o.backends = split_list(a.backends);
  o.reference = a.reference;
  o.precisions = split_list(a.precisions);
  std::vector<std::string> all = o.backends;  // every framework the command runs
  if (std::find(all.begin(), all.end(), a.reference) == all.end()) all.push_back(a.reference);
  for (const auto& n : all) o.settings[n] = settings_for(registry, n, a.model.sets, all);
  o.model = a.model.file();
  o.model_label = a.model.model;
  std::vector<std::filesystem::path> files;
  o.images = a.images.load(o.model, files);
  for (const auto& f : files) o.image_files.push_back(f.filename().string());
  o.preprocess = a.images.describe();
  o.preprocessing = a.images.preprocessing();
  if (!a.labels.empty()) o.labels = read_labels(a.labels);
  o.calibration = a.calibration;
  o.prepare = a.prepare;
  o.batch = a.batch;
  o.threads = a.threads;
  o.timeout_s = a.timeout_s;
  o.out = a.out;
  const std::vector<AccuracyRow> rows = run_accuracy(registry, o, stdout);
  if (!rows.empty() && rows.back().status == "interrupted") return 130;
  // A framework that refused a precision is an answer; any other failure is not.
  const bool failed = std::any_of(rows.begin(), rows.end(), [](const AccuracyRow& r) {
    return !r.ok() && r.status != "unsupported";
  });
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
  cmd->add_option("--timeout", args->timeout_s,
                  "Seconds each framework may take to load and run, in its own process (default "
                  "0: no limit)");
  cmd->add_option("--out", args->out, "Append one JSON line per framework and precision");
  cmd->callback([args] {
    if (const int code = accuracy(*args); code != 0) throw ExitCode(code);
  });
}

}  // namespace infermark::cli
