#include "core/text.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>

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

TEST(Text, SignalNames) {
  EXPECT_EQ(signal_name(SIGSEGV), "SIGSEGV");
  EXPECT_EQ(signal_name(SIGFPE), "SIGFPE");
}

}  // namespace
}  // namespace infermark
