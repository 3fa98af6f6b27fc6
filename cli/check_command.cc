#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "cli/model_options.h"
#include "cli/run_model.h"
#include "core/error.h"
#include "core/npy.h"

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
  double tolerance = -1;  // < 0: the default for each backend's precision
  int64_t batch = 2;
  int threads = 0;
};

struct Row {
  std::string backend;
  std::string error;
  double max_abs = 0, max_rel = 0, top1 = 0, tolerance = 0;
  bool ok = false;
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

void compare(const Tensor& out, const Tensor& ref, Row& row) {
  if (out.shape != ref.shape) {
    row.error = "output shape " + shape_string(out.shape) + " differs from the reference's " +
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
  row.ok = row.max_rel <= row.tolerance;
}

int check(const CheckArgs& a) {
  const std::vector<std::string> names = split(a.backends);
  if (names.size() < 2) throw Error("--backends '" + a.backends + "' needs at least two backends");
  const std::string ref_name = a.reference.empty() ? names.front() : a.reference;
  if (std::find(names.begin(), names.end(), ref_name) == names.end())
    throw Error("--reference '" + ref_name + "' is not one of --backends " + a.backends);
  if (a.batch < 1) throw Error("--batch " + std::to_string(a.batch) + " is invalid: must be >= 1");

  BackendRegistry registry;
  std::map<std::string, Settings> settings;
  for (const auto& n : names) settings[n] = settings_for(registry, n, a.model.sets, names);
  const std::filesystem::path file = a.model.file();
  std::vector<int64_t> shape = {a.batch};
  for (int64_t d : image_shape(file)) shape.push_back(d);
  const Tensor input = random_input(shape, a.model.zoo.seed);

  std::map<std::string, Tensor> outputs;
  std::vector<Row> rows;
  for (const auto& n : names) {
    Row row;
    row.backend = n;
    bool bf16 = false;
    for (const auto& [k, v] : settings[n]) bf16 = bf16 || v == "bf16";
    row.tolerance = a.tolerance >= 0 ? a.tolerance : (bf16 ? kToleranceBf16 : kToleranceF32);
    try {
      outputs[n] = run_once(registry.get(n), {file, settings[n], a.threads, a.batch}, input).output;
    } catch (const std::exception& e) {
      row.error = e.what();
    }
    rows.push_back(row);
  }
  if (!outputs.count(ref_name))
    throw Error("reference backend '" + ref_name +
                "' failed: " + std::find_if(rows.begin(), rows.end(), [&](const Row& r) {
                                 return r.backend == ref_name;
                               })->error);

  std::printf("check %s, batch %lld, reference %s\n", a.model.model.c_str(),
              static_cast<long long>(a.batch), ref_name.c_str());
  std::printf("%-14s %12s %12s %10s %10s  %s\n", "backend", "max_abs", "max_rel", "top1_agree",
              "tolerance", "verdict");
  bool all_ok = true;
  for (auto& row : rows) {
    if (row.error.empty() && row.backend != ref_name)
      compare(outputs[row.backend], outputs[ref_name], row);
    if (row.backend == ref_name) {
      row.ok = true;
      row.top1 = 1;
    }
    if (!row.error.empty()) {
      std::printf("%-14s %12s %12s %10s %10.0e  FAIL: %s\n", row.backend.c_str(), "-", "-", "-",
                  row.tolerance, row.error.c_str());
      all_ok = false;
      continue;
    }
    std::printf("%-14s %12.3e %12.3e %10.2f %10.0e  %s\n", row.backend.c_str(), row.max_abs,
                row.max_rel, row.top1, row.tolerance,
                row.backend == ref_name ? "reference" : (row.ok ? "ok" : "FAIL: beyond tolerance"));
    all_ok = all_ok && row.ok;
  }
  return all_ok ? 0 : 1;
}

}  // namespace

void add_check_command(CLI::App& app) {
  auto* cmd =
      app.add_subcommand("check", "Run one input through several frameworks and compare outputs");
  auto args = std::make_shared<CheckArgs>();
  args->model.add_to(*cmd);
  cmd->add_option("--backends", args->backends, "Comma-separated frameworks")->required();
  cmd->add_option("--reference", args->reference, "Reference framework (default: the first)");
  cmd->add_option("--tolerance", args->tolerance,
                  "Max relative difference, max|out-ref|/max|ref| (default 1e-3 fp32, 5e-2 bf16)");
  cmd->add_option("--batch", args->batch, "Batch size (default 2)");
  cmd->add_option("--threads", args->threads,
                  "Threads (default 0: every core this process may use)");
  cmd->callback([args] {
    if (check(*args) != 0) throw ExitCode(1);
  });
}

}  // namespace infermark::cli
