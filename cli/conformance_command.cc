// infermark conformance: the options of verify/conformance.h.
#include <algorithm>
#include <cstdio>
#include <map>

#include "cli/commands.h"
#include "cli/model_options.h"
#include "core/error.h"
#include "verify/conformance.h"

namespace infermark::cli {
namespace {

struct ConformanceArgs {
  std::vector<std::string> models;
  std::string backends = "all";
  std::vector<std::string> sets;
  std::string out;
  std::string prepare = "simplify";
  double tolerance = 1e-3;
  double timeout_s = 1800;
  int threads = 0;
};

int conformance(const ConformanceArgs& a) {
  if (a.tolerance < 0) throw Error("--tolerance must be >= 0");
  if (a.timeout_s < 0) throw Error("--timeout must be >= 0 (0: no limit)");
  BackendRegistry registry;
  ConformanceOptions o;
  o.models = conformance_models(a.models);
  o.backends = backends_named(registry, a.backends);
  if (o.backends.empty()) throw Error("--backends '" + a.backends + "' names no framework");
  for (const auto& b : o.backends) o.settings[b] = settings_for(registry, b, a.sets, o.backends);
  o.out = a.out;
  o.prepare = a.prepare;
  o.tolerance = a.tolerance;
  o.timeout_s = a.timeout_s;
  o.threads = a.threads;
  bool interrupted = false;
  const std::vector<ConformanceRow> rows = run_conformance(registry, o, &interrupted);
  std::map<std::string, int> verdicts;
  for (const auto& r : rows) ++verdicts[r.verdict];
  std::printf("%zu pairs run now:", rows.size());
  for (const auto& [v, n] : verdicts) std::printf(" %d %s", n, v.c_str());
  std::printf("; rows in %s (infermark report %s --out DIR draws the matrix)\n", a.out.c_str(),
              a.out.c_str());
  return interrupted ? 130 : 0;
}

}  // namespace

void add_conformance_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "conformance",
      "Every model of a set on every framework, each pair in its own process, against the "
      "exporter's outputs; resumable, one row per pair");
  auto args = std::make_shared<ConformanceArgs>();
  cmd->add_option("--models", args->models,
                  "FILE.onnx files or folders of them, each with FILE.input.npy and "
                  "FILE.expected.npy beside it")
      ->required()
      ->delimiter(',');
  cmd->add_option("--backends", args->backends,
                  "Comma-separated frameworks, or all (default: every one available)");
  cmd->add_option("--set", args->sets, "BACKEND.KEY=VALUE, a framework setting (repeatable)");
  cmd->add_option("--out", args->out, "Conformance rows, appended (JSON lines)")->required();
  cmd->add_option("--prepare", args->prepare, "Model preparation: simplify (default) or none");
  cmd->add_option("--tolerance", args->tolerance,
                  "Max relative difference max|out-ref|/max|ref| for 'runs' (default 1e-3)");
  cmd->add_option("--timeout", args->timeout_s,
                  "Seconds each pair may take to prepare, load and run (default 1800; 0: none)");
  cmd->add_option("--threads", args->threads,
                  "Threads (default 0: every core this process may use)");
  cmd->callback([args] {
    if (const int code = conformance(*args); code != 0) throw ExitCode(code);
  });
}

}  // namespace infermark::cli
