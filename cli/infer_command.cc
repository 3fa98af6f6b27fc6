#include <cstdio>

#include "cli/commands.h"
#include "cli/model_options.h"
#include "core/error.h"
#include "core/npy.h"
#include "verify/compare.h"
#include "verify/infer.h"

namespace infermark::cli {
namespace {

struct InferArgs {
  ModelArgs model;
  std::string backend;
  std::string input, output, save_input;
  ImageArgs images;
  std::string prepare = "simplify";
  int64_t batch = 1;
  CLI::Option* batch_option = nullptr;
  int threads = 0;
  std::string precision = "fp32";
  double timeout_s = 0;
};

// The input tensor: the .npy given (checked against the model) or seeded N(0, 1) values.
Tensor make_input(const InferArgs& a, const std::filesystem::path& file,
                  std::vector<std::filesystem::path>& images) {
  if (a.batch < 1) throw Error("--batch " + std::to_string(a.batch) + " is invalid: must be >= 1");
  if (a.images.given()) {
    if (!a.input.empty()) throw Error("--images and --input are two inputs: give one");
    if (a.batch_option->count() > 0)
      throw Error("--batch is the number of images with --images: leave it out");
    return a.images.load(file, images);
  }
  if (a.input.empty()) {
    std::vector<int64_t> shape = {a.batch};
    for (int64_t d : image_shape(file)) shape.push_back(d);
    return random_input(shape, a.model.zoo.seed);
  }
  Tensor t = load_npy(a.input);
  std::vector<int64_t> want = {t.shape.empty() ? 0 : t.shape[0]};
  for (int64_t d : image_shape(file)) want.push_back(d);
  if (t.shape != want)
    throw Error("input '" + a.input + "' has shape " + shape_string(t.shape) + "; model '" +
                a.model.model + "' expects [N, " + std::to_string(want[1]) + ", " +
                std::to_string(want[2]) + ", " + std::to_string(want[3]) + "]");
  if (a.batch_option->count() > 0 && a.batch != t.shape[0])
    throw Error("--batch " + std::to_string(a.batch) + " disagrees with input '" + a.input +
                "' (batch " + std::to_string(t.shape[0]) + ")");
  return t;
}

void print_top5(const Tensor& output, int64_t row) {
  const int64_t classes = output.shape.back();
  for (int64_t c : top_k(output, row, 5))
    std::printf(" %lld (%.4f)", static_cast<long long>(c), output.data[row * classes + c]);
  std::printf("\n");
}

void infer(const InferArgs& a) {
  if (a.timeout_s < 0) throw Error("--timeout " + std::to_string(a.timeout_s) + " is negative");
  BackendRegistry registry;
  InferOptions o;
  o.backend = a.backend;
  o.settings = settings_for(registry, a.backend, a.model.sets, {a.backend});
  o.model = a.model.file();
  o.prepare = a.prepare;
  o.precision = a.precision;
  o.threads = a.threads;
  o.timeout_s = a.timeout_s;
  std::vector<std::filesystem::path> images;
  const Tensor input = make_input(a, o.model, images);
  const InferReport report = run_infer(registry, o, input);
  const IsolatedOutcome& r = report.outcome;
  if (r.status == "interrupted") throw ExitCode(130);
  if (r.status == "unsupported") throw Unsupported(r.reason);
  if (!r.ok()) throw Error(a.backend + ": " + r.reason);
  if (!a.output.empty()) save_npy(r.output, a.output);
  if (!a.save_input.empty()) save_npy(input, a.save_input);

  std::printf("model %s on %s (%s), batch %lld: output %s\n", a.model.model.c_str(),
              a.backend.c_str(), a.precision.c_str(), static_cast<long long>(input.shape[0]),
              shape_string(r.output.shape).c_str());
  if (images.empty()) {
    std::printf("top-5 classes of image 0:");
    print_top5(r.output, 0);
  } else {
    std::printf("images preprocessed: %s\n", a.images.describe().c_str());
    for (size_t i = 0; i < images.size(); ++i) {
      std::printf("%s: top-5", images[i].filename().c_str());
      print_top5(r.output, static_cast<int64_t>(i));
    }
  }
  std::printf("load %.1f ms, first inference %.2f ms, second inference %.2f ms\n", r.load_ms,
              r.first_run_ms, r.second_run_ms);
  for (const auto& step : report.prepared) std::printf("prepared: %s\n", step.c_str());
  if (!a.output.empty()) std::printf("wrote %s\n", a.output.c_str());
  if (!a.save_input.empty()) std::printf("wrote %s\n", a.save_input.c_str());
}

}  // namespace

void add_infer_command(CLI::App& app) {
  auto* cmd =
      app.add_subcommand("infer", "Run one batch through one framework and write the outputs");
  auto args = std::make_shared<InferArgs>();
  args->model.add_to(*cmd);
  cmd->add_option("--backend", args->backend, "Framework (see infermark backends)")->required();
  cmd->add_option("--input", args->input, "Input .npy (float32, NCHW); default: seeded N(0,1)");
  args->images.add_to(*cmd);
  cmd->add_option("--output", args->output, "Write the outputs to this .npy");
  cmd->add_option("--save-input", args->save_input,
                  "Write the input (the preprocessed --images) to this .npy, to send the same "
                  "tensor elsewhere");
  cmd->add_option("--precision", args->precision,
                  "Precision to compute in: fp32 (default), bf16, int8, where the framework "
                  "offers it here (infermark backends)");
  cmd->add_option("--prepare", args->prepare,
                  "Model preparation: simplify (default) or none (the file as exported)");
  args->batch_option = cmd->add_option("--batch", args->batch, "Batch size (default 1)");
  cmd->add_option("--threads", args->threads,
                  "Threads (default 0: every core this process may use)");
  cmd->add_option("--timeout", args->timeout_s,
                  "Seconds the framework may take to load and run, in its own process (default "
                  "0: no limit)");
  cmd->callback([args] { infer(*args); });
}

}  // namespace infermark::cli
