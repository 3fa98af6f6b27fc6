#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "report/report.h"

namespace infermark::cli {

void add_report_commands(CLI::App& app) {
  auto* report = app.add_subcommand("report", "Tables, figures and an HTML page from result files");
  auto files = std::make_shared<std::vector<std::string>>();
  auto out = std::make_shared<std::string>("report");
  report->add_option("results", *files, "Result files (.jsonl)")->required();
  report->add_option("--out", *out, "Report folder (default ./report)");
  report->callback([files, out] {
    const auto rows = read_results({files->begin(), files->end()});
    const auto index = write_report(rows, *out);
    std::printf("report of %zu cells: %s\n", rows.size(), index.c_str());
  });

  auto* cmp = app.add_subcommand("compare", "Matching cells of two result files side by side");
  auto a = std::make_shared<std::string>();
  auto b = std::make_shared<std::string>();
  cmp->add_option("a", *a, "Baseline result file")->required();
  cmp->add_option("b", *b, "Result file compared with the baseline")->required();
  cmp->callback([a, b] {
    const auto rows = compare(read_results({*a}), read_results({*b}));
    if (rows.empty()) {
      std::printf("no matching cells between %s and %s\n", a->c_str(), b->c_str());
      return;
    }
    std::printf("%-48s %-16s %12s %12s %8s %19s  %s\n", "cell", "figure", "a", "b", "b/a",
                "95% interval", "verdict (b vs a)");
    for (const auto& c : rows) {
      if (!c.a.ok || !c.b.ok) {
        std::printf("%-48s %-16s %12s %12s %8s %19s  %s\n", c.cell.c_str(), "", "", "", "", "",
                    c.verdict.c_str());
        continue;
      }
      std::printf("%-48s %-16s %12.3f %12.3f %8.3f [%7.3f, %7.3f]  %s\n", c.cell.c_str(),
                  c.a.metric.c_str(), c.a.value, c.b.value, c.ratio, c.ratio_low, c.ratio_high,
                  c.verdict.c_str());
    }
  });
}

}  // namespace infermark::cli
