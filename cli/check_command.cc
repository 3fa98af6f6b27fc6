#include <cstdio>

#include "cli/commands.h"
#include "cli/model_options.h"
#include "core/error.h"
#include "core/npy.h"
#include "verify/check.h"

namespace infermark::cli {
namespace {

struct CheckArgs {
  ModelArgs model;
  std::string backends;
  std::string reference;
  std::string input;     // .npy; default: seeded N(0, 1)
  ImageArgs images;      // real images instead
  std::string expected;  // .npy of the outputs every framework is checked against
  std::string prepare = "simplify";
  double tolerance = -1;
  int64_t batch = 2;
  int threads = 0;
  std::string precision = "fp32";
  double timeout_s = 0;
};

Tensor make_input(const CheckArgs& a, const std::filesystem::path& file) {
  if (a.images.given()) {
    if (!a.input.empty()) throw Error("--images and --input are two inputs: give one");
    std::vector<std::filesystem::path> files;
    return a.images.load(file, files);
  }
  if (a.batch < 1) throw Error("--batch " + std::to_string(a.batch) + " is invalid: must be >= 1");
  std::vector<int64_t> shape = {a.batch};
  for (int64_t d : image_shape(file)) shape.push_back(d);
  if (a.input.empty()) return random_input(shape, a.model.zoo.seed);
  Tensor t = load_npy(a.input);
  shape[0] = t.shape.empty() ? 0 : t.shape[0];
  if (t.shape != shape)
    throw Error("input '" + a.input + "' has shape " + shape_string(t.shape) + "; model '" +
                file.string() + "' takes " + shape_string(shape));
  return t;
}

int check(const CheckArgs& a) {
  BackendRegistry registry;
  CheckOptions o;
  o.backends = backends_named(registry, a.backends);
  if (!a.expected.empty()) {
    o.expected_label = a.expected;
    o.expected = load_npy(a.expected);
  }
  if (a.timeout_s < 0) throw Error("--timeout " + std::to_string(a.timeout_s) + " is negative");
  for (const auto& n : o.backends)
    o.settings[n] = settings_for(registry, n, a.model.sets, o.backends);
  o.model = a.model.file();
  o.model_label = a.model.model;
  o.reference = a.reference;
  o.prepare = a.prepare;
  o.tolerance = a.tolerance;
  o.threads = a.threads;
  o.precision = a.precision;
  o.timeout_s = a.timeout_s;
  const Tensor input = make_input(a, o.model);
  const CheckReport report = run_check(registry, o, input);
  print_check(o, report, stdout);
  if (report.interrupted) return 130;
  return report.all_run() ? 0 : 1;
}

}  // namespace

void add_check_command(CLI::App& app) {
  auto* cmd =
      app.add_subcommand("check", "Run one input through several frameworks and compare outputs");
  auto args = std::make_shared<CheckArgs>();
  args->model.add_to(*cmd);
  cmd->add_option("--backends", args->backends,
                  "Comma-separated frameworks, or all (every one available)")
      ->required();
  cmd->add_option("--reference", args->reference,
                  "Reference framework (default: the first; --expected replaces it)");
  cmd->add_option("--input", args->input, "Input .npy (default: seeded N(0,1) values)");
  args->images.add_to(*cmd);
  cmd->add_option("--expected", args->expected,
                  "Outputs .npy to check every framework against (e.g. the exporter's)");
  cmd->add_option("--prepare", args->prepare,
                  "Model preparation: simplify (default) or none (the file as exported)");
  cmd->add_option(
      "--tolerance", args->tolerance,
      "Max relative difference, max|out-ref|/max|ref| (default 1e-3 fp32, 5e-2 bf16 and int8)");
  cmd->add_option("--precision", args->precision,
                  "Precision of every framework but the reference (which runs fp32): fp32 "
                  "(default), bf16, int8; a framework that does not offer it is refused");
  cmd->add_option("--batch", args->batch, "Batch size (default 2)");
  cmd->add_option("--threads", args->threads,
                  "Threads (default 0: every core this process may use)");
  cmd->add_option("--timeout", args->timeout_s,
                  "Seconds each framework may take to load and run, in its own process (default "
                  "0: no limit); past it, its row says timeout");
  cmd->callback([args] {
    if (const int code = check(*args); code != 0) throw ExitCode(code);
  });
}

}  // namespace infermark::cli
