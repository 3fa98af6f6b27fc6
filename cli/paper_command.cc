#include <cstdio>

#include "backends/registry.h"
#include "cli/commands.h"
#include "report/report.h"
#include "sweep/paper.h"
#include "sweep/study.h"

namespace infermark::cli {

void add_paper_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "paper", "Run the paper's study on every available framework and write the report");
  auto quick = std::make_shared<bool>(false);
  auto out = std::make_shared<std::string>("paper");
  auto only = std::make_shared<std::vector<std::string>>();
  cmd->add_flag("--quick", *quick,
                "Short durations, fewer batch sizes, 3 rounds (about fifteen minutes on 2 cores)");
  cmd->add_option("--out", *out, "Folder for results.jsonl and the report (default ./paper)");
  cmd->add_option("--backends", *only,
                  "Frameworks to study, comma-separated (default: every available one)")
      ->delimiter(',');
  cmd->callback([quick, out, only] {
    BackendRegistry registry;
    const std::vector<std::string> backends = paper_backends(registry, *only, stderr);
    const std::filesystem::path dir = *out;
    std::filesystem::create_directories(dir);
    const auto studies = paper_studies(*quick, backends, dir / "results.jsonl");
    double seconds = 0;
    for (const auto& s : studies) seconds += estimate_seconds(s);
    std::fprintf(stderr,
                 "%s study on %zu frameworks: expected about %.0f minutes (rerun to continue)\n",
                 *quick ? "quick" : "full", backends.size(), seconds / 60);
    for (const auto& s : studies) {
      const int code = run_study(s);
      if (code != 0) throw ExitCode(code);
    }
    const auto index = write_report(read_results({dir / "results.jsonl"}), dir / "report");
    std::printf("report: %s\n", index.c_str());
  });
}

}  // namespace infermark::cli
