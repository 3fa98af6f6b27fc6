#include "core/text.h"

#include <string.h>  // sigabbrev_np (glibc 2.32)

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "core/error.h"

namespace infermark {
namespace {

// The length of the well-formed UTF-8 sequence at s[i] (RFC 3629: no overlong forms, no
// surrogates, nothing past U+10FFFF), or 0 when there is none.
size_t sequence_length(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k)
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  return n;
}

}  // namespace

std::string valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const size_t n = sequence_length(text, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::string utf8_tail(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return valid_utf8(text);
  text.remove_prefix(text.size() - max_bytes);
  if (const size_t nl = text.find('\n'); nl != std::string_view::npos && nl + 1 < text.size()) {
    text.remove_prefix(nl + 1);
  } else {
    // No line boundary: skip the continuation bytes of a character cut in two.
    size_t skip = 0;
    while (skip < text.size() && skip < 3 &&
           (static_cast<unsigned char>(text[skip]) & 0xC0) == 0x80)
      ++skip;
    text.remove_prefix(skip);
  }
  return valid_utf8(text);
}

std::string signal_name(int signal) {
  const char* abbrev = sigabbrev_np(signal);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(signal);
}

std::string fixed(double v, int digits) {
  char buf[64];
  const int n = std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  if (n < static_cast<int>(sizeof buf)) return n < 0 ? "" : buf;
  std::string out(static_cast<size_t>(n), '\0');  // a figure longer than the buffer: whole
  std::snprintf(out.data(), out.size() + 1, "%.*f", digits, v);
  return out;
}

std::string formatted(double v, const char* format) {
  char buf[64];
  const int n = std::snprintf(buf, sizeof buf, format, v);
  if (n < static_cast<int>(sizeof buf)) return n < 0 ? "" : buf;
  std::string out(static_cast<size_t>(n), '\0');
  std::snprintf(out.data(), out.size() + 1, format, v);
  return out;
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string toml_quoted(std::string_view value, const std::string& what) {
  for (unsigned char c : value)
    if (c < 0x20 || c == 0x7f)
      throw Error(what + " '" + valid_utf8(value) +
                  "' holds a control character: a study file cannot hold it");
  // CLI11 2.1 reads a config line's value up to its first '#', quoted or not.
  if (value.find('#') != std::string_view::npos)
    throw Error(what + " '" + valid_utf8(value) + "' holds a '#': a study file cannot hold it");
  if (value.find('"') == std::string_view::npos) return "\"" + std::string(value) + "\"";
  if (value.find('\'') == std::string_view::npos) return "'" + std::string(value) + "'";
  throw Error(what + " '" + valid_utf8(value) +
              "' holds both quote characters: a study file cannot hold it");
}

double parse_duration(const std::string& text, const std::string& what) {
  const auto bad = [&] {
    return Error(what + " '" + valid_utf8(text) +
                 "' is invalid: give seconds or a duration like 20m, 1h30m");
  };
  // One number with its unit: digits with at most one point.
  const auto number = [&](const std::string& digits) {
    if (digits.empty() || digits == "." || std::count(digits.begin(), digits.end(), '.') > 1)
      throw bad();
    return std::strtod(digits.c_str(), nullptr);
  };
  double total = 0;
  std::string digits;
  bool any = false;
  for (char c : text) {
    if ((c >= '0' && c <= '9') || c == '.') {
      digits += c;
      continue;
    }
    const double scale = c == 'h' ? 3600 : c == 'm' ? 60 : c == 's' ? 1 : -1;
    if (scale < 0) throw bad();
    total += number(digits) * scale;
    digits.clear();
    any = true;
  }
  if (!digits.empty()) {
    total += number(digits);
    any = true;
  }
  if (!any || !(total > 0) || !std::isfinite(total)) throw bad();
  return total;
}

}  // namespace infermark
