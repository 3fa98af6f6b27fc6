#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "backends/settings.h"
#include "cli/commands.h"
#include "cli/model_options.h"
#include "cli/run_model.h"
#include "core/error.h"
#include "core/npy.h"
#include "prepare/prepare.h"

namespace infermark::cli {
namespace {

// Default tolerances on the relative difference (max |out - ref| / max |ref|): float32
// frameworks reorder sums and fuse operators, which moves logits by ~1e-6 to 1e-4 of their
// range; bfloat16 keeps 8 bits of mantissa (~4e-3 per operation), which accumulates over a
// deep net to a few percent.
constexpr double kToleranceF32 = 1e-3;
constexpr double kToleranceBf16 = 5e-2;

struct CheckArgs {
  ModelArgs model;
  std::string backends;
  std::string reference;
  std::string input;     // .npy; default: seeded N(0, 1)
  ImageArgs images;      // real images instead
  std::string expected;  // .npy of the outputs every framework is checked against
  std::string prepare = "simplify";
  double tolerance = -1;  // < 0: the default for each backend's precision
  int64_t batch = 2;
  int threads = 0;
  std::string precision = "fp32";  // of every framework but the reference, which runs fp32
};

// One framework's verdict: runs (within tolerance of the reference), wrong (beyond it, or
// another output shape), refused (the framework says it cannot: an operator, a model form),
// error (it failed otherwise).
struct Row {
  std::string backend;
  std::string verdict;
  std::string reason;  // refused or error: why; wrong: what differs
  std::string prepared;
  double max_abs = 0, max_rel = 0, top1 = 0, tolerance = 0, load_ms = 0;
};

void compare(const Tensor& out, const Tensor& ref, Row& row) {
  if (out.shape != ref.shape) {
    row.verdict = "wrong";
    row.reason = "output shape " + shape_string(out.shape) + " differs from the reference's " +
                 shape_string(ref.shape);
    return;
  }
  double ref_max = 0;
  for (float v : ref.data) ref_max = std::max(ref_max, double(std::fabs(v)));
  for (size_t i = 0; i < out.data.size(); ++i) {
    const double d = std::fabs(double(out.data[i]) - ref.data[i]);
    if (!(d <= row.max_abs)) row.max_abs = std::isnan(d) ? INFINITY : std::max(row.max_abs, d);
  }
  row.max_rel = ref_max > 0 ? row.max_abs / ref_max : row.max_abs;
  const int64_t n = ref.shape[0];
  int agree = 0;
  for (int64_t i = 0; i < n; ++i) agree += top_k(out, i, 1)[0] == top_k(ref, i, 1)[0];
  row.top1 = static_cast<double>(agree) / n;
  row.verdict = row.max_rel <= row.tolerance ? "runs" : "wrong";
  if (row.verdict == "wrong") row.reason = "beyond tolerance";
}

// The frameworks named, "all" for every one this build has available.
std::vector<std::string> backends_named(BackendRegistry& registry, const std::string& text) {
  if (text != "all") return split_list(text);
  std::vector<std::string> names;
  for (const auto& b : registry.list())
    if (b.available) names.push_back(b.name);
  return names;
}

Tensor make_input(const CheckArgs& a, const std::filesystem::path& file) {
  if (a.images.given()) {
    if (!a.input.empty()) throw Error("--images and --input are two inputs: give one");
    std::vector<std::filesystem::path> files;
    return a.images.load(file, files);
  }
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
  const std::vector<std::string> names = backends_named(registry, a.backends);
  const bool against_file = !a.expected.empty();
  if (names.size() < (against_file ? 1u : 2u))
    throw Error("--backends '" + a.backends + "' needs at least " +
                (against_file ? "one backend" : "two backends (or --expected FILE)"));
  const std::string ref_name =
      against_file ? "expected" : (a.reference.empty() ? names.front() : a.reference);
  if (!against_file && std::find(names.begin(), names.end(), ref_name) == names.end())
    throw Error("--reference '" + ref_name + "' is not one of --backends " + a.backends);
  if (a.batch < 1) throw Error("--batch " + std::to_string(a.batch) + " is invalid: must be >= 1");
  PrepareOptions prepare = preparation_options(a.prepare);
  check_precision_name(a.precision);

  std::map<std::string, Settings> settings;
  for (const auto& n : names) settings[n] = settings_for(registry, n, a.model.sets, names);
  const std::filesystem::path file = a.model.file();
  const Tensor input = make_input(a, file);

  std::map<std::string, Tensor> outputs;
  if (against_file) {
    outputs[ref_name] = load_npy(a.expected);
    if (outputs[ref_name].shape.empty() || outputs[ref_name].shape[0] != input.shape[0])
      throw Error("expected outputs '" + a.expected + "' have shape " +
                  shape_string(outputs[ref_name].shape) + ", not one row per input image (" +
                  std::to_string(input.shape[0]) + ")");
  }
  std::vector<Row> rows;
  for (const auto& n : names) {
    Row row;
    row.backend = n;
    const std::string precision = n == ref_name ? "fp32" : a.precision;
    row.tolerance =
        a.tolerance >= 0 ? a.tolerance : (precision == "fp32" ? kToleranceF32 : kToleranceBf16);
    try {
      Backend& backend = registry.get(n);
      prepare.opset_at_least = registry.info(n).capabilities.min_opset;
      prepare_for_precision(prepare, precision);
      check_capabilities(registry.info(n), precision, 1);  // before quantizing for it
      const PreparedModel p = prepare_model(file, prepare);
      for (const auto& step : p.steps) row.prepared += (row.prepared.empty() ? "" : "; ") + step;
      const RunResult r =
          run_once(backend, {p.file, settings[n], a.threads, input.shape[0], 1, precision}, input);
      outputs[n] = r.output;
      row.load_ms = r.load_ms;
    } catch (const Unsupported& e) {
      row.verdict = "refused";
      row.reason = e.what();
    } catch (const std::exception& e) {
      row.verdict = "error";
      row.reason = e.what();
    }
    rows.push_back(row);
  }
  if (!outputs.count(ref_name))
    throw Error("reference backend '" + ref_name +
                "' failed: " + std::find_if(rows.begin(), rows.end(), [&](const Row& r) {
                                 return r.backend == ref_name;
                               })->reason);

  std::printf("check %s, batch %lld, precision %s, reference %s%s, preparation %s\n",
              a.model.model.c_str(), static_cast<long long>(input.shape[0]), a.precision.c_str(),
              ref_name.c_str(), against_file ? (" (" + a.expected + ")").c_str() : "",
              a.prepare.c_str());
  std::printf("%-12s %-8s %11s %11s %6s %9s %10s  %s\n", "backend", "verdict", "max_abs", "max_rel",
              "top1", "tolerance", "load_ms", "why / what preparation did");
  bool all_run = true;
  for (auto& row : rows) {
    const bool reference = row.backend == ref_name;
    if (row.verdict.empty() && !reference) compare(outputs[row.backend], outputs[ref_name], row);
    if (reference) {
      row.verdict = "runs";
      row.top1 = 1;
    }
    if (row.verdict == "refused" || row.verdict == "error") {
      std::printf("%-12s %-8s %11s %11s %6s %9.0e %10s  %s\n", row.backend.c_str(),
                  row.verdict.c_str(), "-", "-", "-", row.tolerance, "-", row.reason.c_str());
      all_run = false;
      continue;
    }
    std::string note = reference ? "reference" : row.reason;
    if (!row.prepared.empty()) note += (note.empty() ? "" : "; ") + row.prepared;
    std::printf("%-12s %-8s %11.3e %11.3e %6.2f %9.0e %10.1f  %s\n", row.backend.c_str(),
                row.verdict.c_str(), row.max_abs, row.max_rel, row.top1, row.tolerance, row.load_ms,
                note.c_str());
    all_run = all_run && row.verdict == "runs";
  }
  return all_run ? 0 : 1;
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
  cmd->callback([args] {
    if (check(*args) != 0) throw ExitCode(1);
  });
}

}  // namespace infermark::cli
