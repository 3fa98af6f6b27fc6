#include <cstdio>

#include "backends/registry.h"
#include "cli/commands.h"
#include "cli/slurm_options.h"
#include "core/text.h"
#include "report/report.h"
#include "sweep/paper.h"

namespace infermark::cli {

void add_paper_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "paper", "Run the paper's study on every available framework and write the report");
  auto o = std::make_shared<PaperOptions>();
  auto out = std::make_shared<std::string>("paper");
  auto only = std::make_shared<std::vector<std::string>>();
  auto budget = std::make_shared<std::string>();
  cmd->add_flag("--quick", o->quick,
                "Short durations, fewer batch sizes, 3 rounds (the plan prints its estimate "
                "before it starts)");
  cmd->add_option("--out", *out, "Folder for results.jsonl and the report (default ./paper)");
  cmd->add_option("--backends", *only,
                  "Frameworks to study, comma-separated (default: every available one)")
      ->delimiter(',');
  auto* budget_opt = cmd->add_option(
      "--budget", *budget,
      "Fit the study to this time (30m, 1h, seconds): it is estimated before it starts, "
      "compiles included, and parts are left out in a stated order (docs/results.md); the "
      "run stops starting cells when the time is up");
  cmd->add_option("--parts", o->parts,
                  "Parts of the study, comma-separated: models, loading, ensemble, server "
                  "(default: all)")
      ->delimiter(',')
      ->check(CLI::IsMember(kPaperParts));
  cmd->add_option("--rounds", o->rounds,
                  "Rounds of the comparisons and the server's peak (default 3 with --quick, 5)")
      ->check(CLI::Range(1, 100));
  cmd->add_option("--input-size", o->zoo.input_size,
                  "Image side of the models (default 224, the paper's)");
  cmd->add_option("--width", o->zoo.width,
                  "Channel width multiplier of the models (default 1.0, the paper's)");
  add_slurm_options(cmd, o->slurm, o->slurm_options);
  cmd->get_option("--slurm")->excludes(budget_opt);
  cmd->callback([o, out, only, budget] {
    o->dir = *out;
    o->zoo.validate();
    if (!budget->empty()) o->budget_s = parse_duration(*budget, "--budget");
    BackendRegistry registry;
    o->backends = paper_backends(registry, *only, stderr);
    const int code = run_paper(*o, registry);
    if (code != 0) throw ExitCode(code);
    if (o->slurm) return;  // collect writes the report when every task has ended
    const auto index = write_report(read_results({o->dir / "results.jsonl"}), o->dir / "report");
    std::printf("report: %s\n", index.c_str());
  });
}

}  // namespace infermark::cli
