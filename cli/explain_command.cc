#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "backends/registry.h"
#include "cli/commands.h"
#include "cli/model_options.h"
#include "core/error.h"
#include "core/jsonl.h"
#include "explain/explain.h"

namespace infermark::cli {
namespace {

struct ExplainArgs {
  ModelArgs model;
  std::string backends;
  std::string prepare = "simplify";
  std::string precision = "fp32";
  std::string a, b;
  std::string out;
  int64_t batch = 1;
  int threads = 0;
  int runs = 30;
  int warmup = 5;
  int top = 15;
  double timeout_s = 0;
};

int explain(const ExplainArgs& args) {
  if (args.timeout_s < 0)
    throw Error("--timeout " + std::to_string(args.timeout_s) + " is negative");
  if (args.top < 1) throw Error("--top " + std::to_string(args.top) + " is invalid: must be >= 1");
  BackendRegistry registry;
  ExplainOptions o;
  o.backends = backends_named(registry, args.backends);
  for (const auto* side : {&args.a, &args.b})
    if (!side->empty() &&
        std::find(o.backends.begin(), o.backends.end(), *side) == o.backends.end())
      throw Error("--a/--b '" + *side + "' is not among --backends");
  if (args.a.empty() != args.b.empty()) throw Error("--a and --b go together: give both");
  for (const auto& n : o.backends)
    o.settings[n] = settings_for(registry, n, args.model.sets, o.backends);
  o.model = args.model.file();
  o.model_label = args.model.model;
  o.prepare = args.prepare;
  o.precision = args.precision;
  o.batch = args.batch;
  o.threads = args.threads;
  o.runs = args.runs;
  o.warmup = args.warmup;
  o.timeout_s = args.timeout_s;
  const ExplainReport report = run_explain(registry, o, [&](const std::string& backend) {
    std::fprintf(stderr, "explain: profiling %s\n", backend.c_str());
  });
  print_explain(report, args.top, args.a, args.b, stdout);
  if (!args.out.empty()) {
    for (const auto& f : report.frameworks)
      append_line(args.out, to_json(report, f).dump(-1, ' ', false,
                                                    nlohmann::json::error_handler_t::replace));
    std::printf("\nwrote %zu lines to %s\n", report.frameworks.size(), args.out.c_str());
  }
  if (report.interrupted) return 130;
  for (const auto& f : report.frameworks)
    if (f.status != "ok") return 1;
  return 0;
}

}  // namespace

void add_explain_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "explain",
      "Why one framework is slower: each framework's own profiler, its kernels mapped onto the "
      "model's layers and operator classes, with FLOP/s against the machine's peak and memory "
      "bandwidth (docs/explain.md)");
  auto args = std::make_shared<ExplainArgs>();
  args->model.add_to(*cmd);
  cmd->add_option("--backends", args->backends,
                  "Comma-separated frameworks, or all (every one available)")
      ->required();
  cmd->add_option("--a", args->a, "With --b: the nodes behind the difference of b against a");
  cmd->add_option("--b", args->b, "The framework compared with --a");
  cmd->add_option("--batch", args->batch, "Batch size (default 1)");
  cmd->add_option("--precision", args->precision, "fp32 (default), bf16 or int8");
  cmd->add_option("--prepare", args->prepare,
                  "Model preparation: simplify (default) or none (the file as exported)");
  cmd->add_option("--threads", args->threads,
                  "Threads (default 0: every core this process may use)");
  cmd->add_option("--runs", args->runs,
                  "Timed runs of the plain engine, then of the profiled one (default 30)");
  cmd->add_option("--warmup", args->warmup, "Untimed runs of each engine first (default 5)");
  cmd->add_option("--top", args->top, "Nodes shown per table (default 15)");
  cmd->add_option("--out", args->out,
                  "Append the result lines (schema infermark-explain/1) to this file, for "
                  "`infermark report`");
  cmd->add_option("--timeout", args->timeout_s,
                  "Seconds each framework's process may take (default 0: no limit)");
  cmd->callback([args] {
    if (const int code = explain(*args); code != 0) throw ExitCode(code);
  });
}

}  // namespace infermark::cli
