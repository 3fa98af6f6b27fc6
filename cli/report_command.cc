#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "core/error.h"
#include "report/report.h"

namespace infermark::cli {

void add_report_commands(CLI::App& app) {
  auto* report = app.add_subcommand("report", "Tables, figures and an HTML page from result files");
  auto files = std::make_shared<std::vector<std::string>>();
  auto out = std::make_shared<std::string>("report");
  report
      ->add_option(
          "results", *files,
          "Result files (.jsonl), the files of infermark accuracy (speed against "
          "accuracy), of infermark conformance (the matrix) and of infermark explain (where "
          "the time goes), each recognized by its lines")
      ->required();
  report->add_option("--out", *out, "Report folder (default ./report)");
  report->callback([files, out] {
    std::vector<std::filesystem::path> results, accuracy, conformance, explained;
    for (const auto& f : *files) {
      if (is_accuracy_file(f)) {
        accuracy.emplace_back(f);
      } else if (is_conformance_file(f)) {
        conformance.emplace_back(f);
      } else if (is_explain_file(f)) {
        explained.emplace_back(f);
      } else {
        results.emplace_back(f);
      }
    }
    const auto rows = read_results(results);
    const auto conf = read_conformance(conformance);
    const auto explain = read_explain(explained);
    const auto index = write_report(rows, *out, read_accuracy(accuracy), conf, explain);
    std::printf(
        "report of %zu cells%s%s%s: %s\n", rows.size(),
        accuracy.empty() ? "" : " and their accuracy",
        conf.empty() ? "" : (" and " + std::to_string(conf.size()) + " conformance pairs").c_str(),
        explain.empty() ? "" : (" and " + std::to_string(explain.size()) + " explained").c_str(),
        index.c_str());
  });

  auto* cmp = app.add_subcommand("compare",
                                 "Compare two result files cell by cell, or two configurations of "
                                 "one file (--by) round by round");
  auto inputs = std::make_shared<std::vector<std::string>>();
  auto by = std::make_shared<std::string>();
  auto va = std::make_shared<std::string>();
  auto vb = std::make_shared<std::string>();
  cmp->add_option("results", *inputs,
                  "A B (two files: B against baseline A), or one file with --by")
      ->required();
  cmp->add_option(
      "--by", *by,
      "Compare inside one file along this dimension: backend, arm, settings, precision, "
      "threads, ...");
  cmp->add_option("--a", *va, "With --by: the baseline value (default: the first of two)");
  cmp->add_option("--b", *vb, "With --by: the value compared with the baseline");
  cmp->callback([inputs, by, va, vb] {
    std::vector<Comparison> rows;
    std::string a_name, b_name;
    if (!by->empty()) {
      if (inputs->size() != 1)
        throw Error("compare --by takes one result file, not " + std::to_string(inputs->size()));
      if (va->empty() != vb->empty())
        throw Error("compare --by: give both --a and --b, or neither");
      rows = compare_within(read_results({inputs->front()}), *by, *va, *vb);
      if (!rows.empty()) {
        a_name = *by + " " + rows.front().a_label;
        b_name = *by + " " + rows.front().b_label;
      }
    } else {
      if (inputs->size() != 2)
        throw Error("compare takes two result files (or one with --by), not " +
                    std::to_string(inputs->size()));
      rows = compare(read_results({(*inputs)[0]}), read_results({(*inputs)[1]}));
      a_name = (*inputs)[0];
      b_name = (*inputs)[1];
    }
    if (rows.empty()) {
      std::printf("no matching cells to compare\n");
      return;
    }
    std::printf("a: %s\nb: %s\n", a_name.c_str(), b_name.c_str());
    std::printf("%-52s %-15s %11s %11s %8s %19s %5s  %s\n", "cell", "figure", "a", "b", "b/a",
                "95% interval", "pairs", "verdict (b vs a)");
    for (const auto& c : rows) {
      if (!c.a.ok || !c.b.ok) {
        std::printf("%-52s %-15s %11s %11s %8s %19s %5s  %s\n", c.cell.c_str(), "", "", "", "", "",
                    "", c.verdict.c_str());
        continue;
      }
      std::printf("%-52s %-15s %11.3f %11.3f %8.3f [%7.3f, %7.3f] %5d  %s\n", c.cell.c_str(),
                  c.a.metric.c_str(), c.a.value, c.b.value, c.ratio, c.ratio_low, c.ratio_high,
                  c.pairs, c.verdict.c_str());
    }
  });
}

}  // namespace infermark::cli
