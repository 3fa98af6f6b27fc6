#include "core/jsonl.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace infermark {
namespace {
namespace fs = std::filesystem;

fs::path temp_file(const std::string& name) {
  return fs::temp_directory_path() / ("infermark_jsonl_" + std::to_string(getpid()) + "_" + name);
}

std::string contents(const fs::path& f) {
  std::ifstream in(f, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

TEST(JsonLines, ATornLastLineIsLeftOutWithAWarning) {
  const fs::path f = temp_file("torn.jsonl");
  std::ofstream(f) << "{\"a\": 1}\n{\"b\": 2}\n{\"c\": [1, 2";
  const JsonLines r = read_json_lines(f);
  ASSERT_EQ(r.lines.size(), 2u);
  EXPECT_EQ(r.torn_line, 3);
  EXPECT_NE(r.warning.find(f.string() + "' line 3"), std::string::npos) << r.warning;
  fs::remove(f);
}

TEST(JsonLines, AWholeLastLineWithoutItsNewlineIsKept) {
  const fs::path f = temp_file("whole.jsonl");
  std::ofstream(f) << "{\"a\": 1}\n{\"b\": 2}";
  EXPECT_EQ(read_json_lines(f).lines.size(), 2u);
  EXPECT_EQ(read_json_lines(f).torn_line, 0);
  append_line(f, "{\"c\": 3}");  // the newline is added, nothing is lost
  EXPECT_EQ(contents(f), "{\"a\": 1}\n{\"b\": 2}\n{\"c\": 3}\n");
  fs::remove(f);
}

TEST(JsonLines, AnAppendNeverGluesOntoAFragment) {
  const fs::path f = temp_file("append.jsonl");
  std::ofstream(f) << "{\"a\": 1}\n{\"b\": ";
  append_line(f, "{\"c\": 3}");
  EXPECT_EQ(contents(f), "{\"a\": 1}\n{\"c\": 3}\n");
  std::ofstream(f, std::ios::app) << "{\"d\"";
  EXPECT_EQ(cut_torn_line(f), 3);
  EXPECT_EQ(contents(f), "{\"a\": 1}\n{\"c\": 3}\n");
  EXPECT_EQ(cut_torn_line(f), 0);
  fs::remove(f);
}

// Writers in several processes at once: every line whole, none lost (each is one write()
// under the lock, longer than a pipe's atomic 4 KiB).
TEST(JsonLines, ConcurrentWritersNeverInterleave) {
  const fs::path f = temp_file("concurrent.jsonl");
  constexpr int kWriters = 4, kLines = 50;
  const std::string pad(20000, 'x');
  std::vector<pid_t> children;
  for (int w = 0; w < kWriters; ++w) {
    const pid_t pid = fork();
    if (pid == 0) {
      for (int i = 0; i < kLines; ++i)
        append_line(f, nlohmann::json{{"w", w}, {"i", i}, {"pad", pad}}.dump());
      _exit(0);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  const JsonLines r = read_json_lines(f);
  ASSERT_EQ(r.lines.size(), static_cast<size_t>(kWriters * kLines));
  for (const auto& line : r.lines) EXPECT_TRUE(nlohmann::json::accept(line));
  fs::remove(f);
}

// A first line whose "schema" is not a string is another kind of file, not an exception
// (found by fuzz/results_fuzz.cc; fuzz/corpus/results/not-rows).
TEST(JsonLines, ASchemaOfAnotherTypeIsAnotherKindOfFile) {
  const fs::path f = temp_file("schema.jsonl");
  std::ofstream(f) << "{\"schema\": 3}\n";
  EXPECT_FALSE(first_line_has_schema(f, "infermark-accuracy/"));
  std::ofstream(f) << "{\"schema\": \"infermark-accuracy/1\"}\n";
  EXPECT_TRUE(first_line_has_schema(f, "infermark-accuracy/"));
  fs::remove(f);
}

// A line nested deeper than any row is one error: the copies after the parse recurse, and a
// line of a hundred thousand brackets overflowed their stack.
TEST(JsonLines, ALineNestedDeeperThanAnyRowIsOneError) {
  const fs::path f = temp_file("deep.jsonl");
  const int depth = 100000;
  std::ofstream(f) << "{\"prepared\": " << std::string(depth, '[') << std::string(depth, ']')
                   << "}\n{\"a\": [[1]]}\n";
  auto parse = [](const nlohmann::json& j) { return j.dump().size(); };
  try {
    read_rows<size_t>({f}, "result", parse);
    ADD_FAILURE() << "a line nested " << depth << " deep was read";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("deep.jsonl' line 1 is not a line of infermark result: "
                                         "nested deeper than 64 levels"),
              std::string::npos)
        << e.what();
  }
  std::ofstream(f) << "{\"a\": [[{\"b\": [1]}]]}\n";
  EXPECT_EQ(read_rows<size_t>({f}, "result", parse).size(), 1u);
  fs::remove(f);
}

}  // namespace
}  // namespace infermark
