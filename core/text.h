#pragma once

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>
#include <vector>

namespace infermark {

// Text from outside (paths, a framework's messages and output) as valid UTF-8: each byte that
// does not start or continue a well-formed sequence becomes U+FFFD, so that the text can enter
// a JSON result without the writer throwing.
std::string valid_utf8(std::string_view text);

// The last `max_bytes` bytes of `text` at most, starting on a character boundary (and on a
// line boundary where there is one), valid UTF-8.
std::string utf8_tail(std::string_view text, size_t max_bytes);

// A signal's name: "SIGSEGV", or "signal 42" for one without a name.
std::string signal_name(int signal);

// ASCII letters in lower case, other bytes as they are: "ReLU.ONNX" -> "relu.onnx". Inline,
// so that a framework's plugin, which links no infermark library, uses it too.
inline std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// "a,b,,c" -> {"a", "b", "c"}: comma-separated lists (the command line's, the build's lists of
// frameworks). Inline, so that a test that links no infermark library uses it too.
inline std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> out;
  for (size_t at = 0; at <= text.size();) {
    const size_t comma = std::min(text.find(',', at), text.size());
    if (comma > at) out.emplace_back(text.substr(at, comma - at));
    at = comma + 1;
  }
  return out;
}

// `v` with `digits` decimals (printf's "%.*f"): fixed(3.14159, 2) == "3.14".
std::string fixed(double v, int digits);

// `v` through a printf format for one double, where a figure is not fixed-point:
// formatted(0.000123, "%.2e") == "1.23e-04", formatted(12.34, "%.4g") == "12.34".
std::string formatted(double v, const char* format);

// The time now as ISO 8601 UTC, "2026-12-07T17:15:20Z": result rows' time_utc.
std::string utc_now();

// Seconds in "20m", "90s", "1h", "1h30m" or a plain number of seconds; throws Error naming
// `what` (the option) for anything else or a duration that is not positive.
double parse_duration(const std::string& text, const std::string& what);

// `value` as a quoted string of a study file (TOML) that CLI11 2.1's config reader gives back
// unchanged (it reads no escapes): in double quotes, or in single quotes when it holds a
// double quote. Throws Error naming `what` when neither can hold it: both quotes, a '#'
// (where CLI11 cuts the line), a line break or another control character.
std::string toml_quoted(std::string_view value, const std::string& what);

}  // namespace infermark
