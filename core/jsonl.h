#pragma once

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"

namespace infermark {

// JSON-lines files (results, accuracy) as they survive a crash. A line is written by one
// write() on an O_APPEND descriptor under an advisory lock (flock) and synced, so that two
// writers (Slurm tasks, a tune beside a bench) never interleave and a writer that dies leaves at
// most a torn last line: one without its newline. Readers leave a torn last line out with a
// warning; the next append cuts it off first, so that a line is never glued onto a fragment.

// Appends `line` (valid UTF-8, no newline) and a newline. Throws Error naming the file.
void append_line(const std::filesystem::path& file, const std::string& line);

struct JsonLines {
  std::vector<std::string> lines;  // every complete line, in order (empty ones included)
  int torn_line = 0;               // the number (from 1) of a torn last line; 0: none
  std::string warning;             // says so, naming the file and line; empty: none
};

// Reads the complete lines of a file; Error when it cannot be read.
JsonLines read_json_lines(const std::filesystem::path& file);

// Cuts a torn last line off the file (under the lock); returns its number, 0 when none.
int cut_torn_line(const std::filesystem::path& file);

// Whether the file's first non-empty line is a JSON object whose "schema" starts with `prefix`
// ("infermark-accuracy/"): how a command tells the kinds of file it is given apart.
bool first_line_has_schema(const std::filesystem::path& file, const std::string& prefix);

// Every complete line of the files through `parse(json) -> Row` (Error when it is not a row),
// a torn last line left out with its warning on stderr. Throws Error naming the file and line
// that is not a row: "<kind> file 'F' line N is not a line of infermark <kind>: why".
template <class Row, class Parse>
std::vector<Row> read_rows(const std::vector<std::filesystem::path>& files, const std::string& kind,
                           Parse&& parse) {
  std::vector<Row> rows;
  for (const auto& f : files) {
    const JsonLines file = read_json_lines(f);
    if (!file.warning.empty()) std::fprintf(stderr, "%s\n", file.warning.c_str());
    int n = 0;
    for (const std::string& line : file.lines) {
      ++n;
      if (line.empty()) continue;
      const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      try {
        if (j.is_discarded()) throw Error("not JSON");
        rows.push_back(parse(j));
      } catch (const Error& e) {
        throw Error(kind + " file '" + f.string() + "' line " + std::to_string(n) +
                    " is not a line of infermark " + kind + ": " + e.what());
      }
    }
  }
  return rows;
}

}  // namespace infermark
