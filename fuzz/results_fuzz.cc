// libFuzzer target for the files report reads: JSON lines (core/jsonl.h) and the rows in them,
// result rows (core/result.h), accuracy rows (core/accuracy_row.h), conformance rows
// (core/conformance_row.h) and explain lines (core/explain_row.h), with what report asks of a
// row (identity, key, label, machine).
// The input is the file's bytes.
//
// read_json_lines reads the file as it is (a torn last line included). The readers of rows
// then read its complete lines, written to a second file with their newlines (their only
// difference on a torn line is the warning they print, which would flood the run's output):
// the reader of the kind its first line's schema names, as report tells files apart.
//
// Error is the expected answer to a bad file. A finding is a crash, a sanitizer report, an
// allocation past libFuzzer's limit, any other exception, or a reader that breaks what callers
// rely on: every line but a torn last one is kept, and a row that was read, written and read
// again writes the same line.

#include <cstdint>
#include <string>
#include <vector>

#include "core/accuracy_row.h"
#include "core/conformance_row.h"
#include "core/error.h"
#include "core/explain_row.h"
#include "core/jsonl.h"
#include "core/result.h"
#include "fuzz_input.h"

namespace {

namespace fs = std::filesystem;
using infermark::fuzz::finding;
using nlohmann::json;

// Each kind of row read from `file`, written, read and written again: the same line twice.
template <class Row, class Read, class Parse>
std::vector<Row> rows_round_trip(const fs::path& file, const char* kind, Read read, Parse parse) {
  std::vector<Row> rows;
  try {
    rows = read(std::vector<fs::path>{file});
  } catch (const infermark::Error&) {
    return rows;  // the reader's answer to a bad file
  }
  for (const Row& r : rows) {
    const json once = to_json(r);
    json twice;
    try {
      twice = to_json(parse(json::parse(once.dump())));
    } catch (const infermark::Error& e) {
      finding(kind,
              std::string("a written row does not read again: ") + e.what() + ": " + once.dump());
    }
    if (once != twice)
      finding(kind, "a written row reads as another: " + once.dump() + " then " + twice.dump());
  }
  return rows;
}

void check(const fs::path& file, const uint8_t* data, size_t size) {
  const infermark::JsonLines lines = infermark::read_json_lines(file);
  // Every complete line is kept; only a last line without its newline may be left out.
  size_t newlines = 0;
  for (size_t i = 0; i < size; ++i) newlines += data[i] == '\n';
  const size_t want = newlines + (size > 0 && data[size - 1] != '\n' && lines.torn_line == 0);
  if (lines.lines.size() != want)
    finding("read_json_lines",
            std::to_string(lines.lines.size()) + " lines of " + std::to_string(want));
  if ((lines.torn_line != 0) != !lines.warning.empty())
    finding("read_json_lines", "a torn line without its warning, or a warning without one");

  std::string whole;
  for (const std::string& line : lines.lines) whole += line + "\n";
  const fs::path complete = infermark::fuzz::write_input(
      "complete.jsonl", reinterpret_cast<const uint8_t*>(whole.data()), whole.size());

  // Each file to its reader by its first line's schema, as report tells them apart.
  if (infermark::is_accuracy_file(complete)) {
    rows_round_trip<infermark::AccuracyRow>(complete, "accuracy rows", infermark::read_accuracy,
                                            infermark::accuracy_row_from_json);
  } else if (infermark::is_explain_file(complete)) {
    std::vector<infermark::ExplainReport> reports;
    try {
      reports = infermark::read_explain({complete});
    } catch (const infermark::Error&) {
      return;  // the reader's answer to a bad file
    }
    for (const auto& report : reports)
      for (const auto& f : report.frameworks) {
        const json once = to_json(report, f);
        json twice;
        try {
          infermark::ExplainReport again;
          const infermark::FrameworkExplain back =
              infermark::explain_from_json(json::parse(once.dump()), &again);
          twice = to_json(again, back);
        } catch (const infermark::Error& e) {
          finding("explain lines", std::string("a written line does not read again: ") + e.what() +
                                       ": " + once.dump());
        }
        if (once != twice)
          finding("explain lines",
                  "a written line reads as another: " + once.dump() + " then " + twice.dump());
      }
  } else if (infermark::is_conformance_file(complete)) {
    rows_round_trip<infermark::ConformanceRow>(complete, "conformance rows",
                                               infermark::read_conformance,
                                               infermark::conformance_row_from_json);
  } else {
    for (const infermark::ResultRow& r : rows_round_trip<infermark::ResultRow>(
             complete, "result rows", infermark::read_results, infermark::row_from_json)) {
      infermark::identity(r);
      infermark::identity(r, {"arm", "settings"});
      infermark::cell_key(r.cell);
      r.label();
      r.settings_text();
      infermark::machine_of(r);
      r.metric("throughput_ips");
      r.latency("p99");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fs::path file = infermark::fuzz::write_input("input.jsonl", data, size);
  try {
    check(file, data, size);
  } catch (const infermark::Error& e) {
    // read_json_lines reads what the fuzzer wrote: it has no reason to refuse it.
    finding("an Error where none was due", e.what());
  } catch (const std::exception& e) {
    finding("an exception other than Error escaped", e.what());
  }
  return 0;
}
