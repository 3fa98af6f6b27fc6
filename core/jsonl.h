#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>
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

// Whether `v` converts to T without undefined behaviour: nlohmann::json casts a floating-point
// value to an integer, which is undefined outside the integer's range (1e300 as a batch), so a
// row's parser refuses such a value as one of the wrong type. Vectors are checked element by
// element; any other T converts (or throws json::exception).
template <class T>
bool converts_to(const nlohmann::json& v) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    if (!v.is_number_float()) return true;
    const double d = v.get<double>();
    const double end = std::ldexp(1.0, std::numeric_limits<T>::digits);  // 2^63 for int64_t
    return d >= (std::is_signed_v<T> ? -end : 0.0) && d < end;
  } else if constexpr (requires { typename T::value_type; } && !std::is_same_v<T, std::string>) {
    if (!v.is_array()) return true;
    return std::all_of(v.begin(), v.end(), [](const nlohmann::json& e) {
      return converts_to<typename T::value_type>(e);
    });
  } else {
    return true;
  }
}

// Every complete line of the files through `parse(json) -> Row` (Error when it is not a row),
// a torn last line left out with its warning on stderr. Throws Error naming the file and line
// that is not a row: "<kind> file 'F' line N is not a line of infermark <kind>: why".
// The deepest nesting a row's JSON may have (a result row's deepest is about 6).
inline constexpr int kMaxRowDepth = 64;
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
      // JSON nested deeper than any row is refused: the parse is iterative, but the copies
      // and comparisons after it recurse, and a line of [[[[... overflows their stack.
      bool too_deep = false;
      const nlohmann::json j = nlohmann::json::parse(
          line,
          [&too_deep](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
            too_deep = too_deep || depth > kMaxRowDepth;
            return true;
          },
          false);
      try {
        if (j.is_discarded()) throw Error("not JSON");
        if (too_deep) throw Error("nested deeper than " + std::to_string(kMaxRowDepth) + " levels");
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
