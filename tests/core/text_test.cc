#include "core/text.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace infermark {
namespace {

TEST(Text, ValidUtf8KeepsWhatIsValid) {
  EXPECT_EQ(valid_utf8("plain"), "plain");
  EXPECT_EQ(valid_utf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"),
            "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
}

TEST(Text, ValidUtf8ReplacesEveryBadByte) {
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(valid_utf8("a\xFF"
                       "b"),
            "a" + r + "b");
  EXPECT_EQ(valid_utf8("\xC3"), r);                          // cut after its first byte
  EXPECT_EQ(valid_utf8("\xC0\xAF"), r + r);                  // overlong '/'
  EXPECT_EQ(valid_utf8("\xED\xA0\x80"), r + r + r);          // a surrogate
  EXPECT_EQ(valid_utf8("\xF4\x90\x80\x80"), r + r + r + r);  // past U+10FFFF
  // What comes out goes into JSON without the writer throwing.
  EXPECT_NO_THROW(nlohmann::json(valid_utf8("/models/\xFF\xFE.onnx")).dump());
}

TEST(Text, Utf8TailCutsOnABoundary) {
  EXPECT_EQ(utf8_tail("short", 100), "short");
  EXPECT_EQ(utf8_tail("line one\nline two\nend", 12), "end");
  // No newline: a character cut in two loses its continuation bytes, not the text after.
  EXPECT_EQ(utf8_tail("xx\xE2\x82\xAC"
                      "abc",
                      5),
            "abc");
  EXPECT_EQ(utf8_tail("xx\xE2\x82\xAC"
                      "abc",
                      6),
            "\xE2\x82\xAC"
            "abc");
}

TEST(Text, DurationsInUnitsOrSeconds) {
  EXPECT_EQ(parse_duration("30m", "--budget"), 1800);
  EXPECT_EQ(parse_duration("1h30m", "--budget"), 5400);
  EXPECT_EQ(parse_duration("90s", "--budget"), 90);
  EXPECT_EQ(parse_duration("2.5", "--budget"), 2.5);
  for (const char* bad : {"", ".", "1..5m", "m", "30x", "0", "-5m", "1e400", "30m\xff"}) {
    try {
      parse_duration(bad, "--budget");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).rfind("--budget '", 0), 0u) << e.what();
      EXPECT_EQ(valid_utf8(e.what()), e.what());
    }
  }
}

TEST(Text, SignalNames) {
  EXPECT_EQ(signal_name(SIGSEGV), "SIGSEGV");
  EXPECT_EQ(signal_name(SIGFPE), "SIGFPE");
}

TEST(Text, LowerTouchesOnlyAsciiLetters) {
  EXPECT_EQ(lower("ReLU.ONNX"), "relu.onnx");
  EXPECT_EQ(lower("RUNNING_1"), "running_1");
  EXPECT_EQ(lower("\xC3\x89T\xC3\x89"), "\xC3\x89t\xC3\x89");  // U+00C9 kept as its bytes
  EXPECT_EQ(lower(""), "");
}

TEST(Text, FixedAndFormattedNumbers) {
  EXPECT_EQ(fixed(3.14159, 2), "3.14");
  EXPECT_EQ(fixed(1234.5678, 1), "1234.6");
  EXPECT_EQ(fixed(0.4, 0), "0");
  EXPECT_EQ(fixed(-2.25, 3), "-2.250");
  // Longer than any buffer: the whole figure (71 digits of 1e70, then the decimals).
  const std::string big = fixed(1e70, 2);
  EXPECT_EQ(big.size(), 74u);
  EXPECT_EQ(big.substr(0, 2), "10");
  EXPECT_EQ(big.substr(71), ".00");
  EXPECT_EQ(formatted(0.000123, "%.2e"), "1.23e-04");
  EXPECT_EQ(formatted(12.34567, "%.4g"), "12.35");
  EXPECT_EQ(formatted(97.26, "%.1f%%"), "97.3%");
  EXPECT_EQ(formatted(2.5, "%.2f"), fixed(2.5, 2));
}

TEST(Text, TomlQuotedGivesBackTheValueOrRefusesIt) {
  EXPECT_EQ(toml_quoted("a/b c.onnx", "--model"), "\"a/b c.onnx\"");
  EXPECT_EQ(toml_quoted("C:\\x", "--model"), "\"C:\\x\"");  // no escapes are read
  EXPECT_EQ(toml_quoted("say \"hi\".onnx", "--model"), "'say \"hi\".onnx'");
  EXPECT_EQ(toml_quoted("it's.onnx", "--model"), "\"it's.onnx\"");
  for (const char* bad : {"a\"b'c", "a#b", "a\nb", "a\tb"}) {
    try {
      toml_quoted(bad, "--model");
      ADD_FAILURE() << bad << " accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("--model"), std::string::npos) << e.what();
    }
  }
}

TEST(Text, SplitListDropsEmptyItems) {
  EXPECT_EQ(split_list("a,b,,c"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(split_list("onnxruntime"), (std::vector<std::string>{"onnxruntime"}));
  EXPECT_EQ(split_list(",a,"), (std::vector<std::string>{"a"}));
  EXPECT_TRUE(split_list("").empty());
  EXPECT_TRUE(split_list(",,").empty());
}

}  // namespace
}  // namespace infermark
