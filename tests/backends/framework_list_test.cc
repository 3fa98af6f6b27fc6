// backends/frameworks.cmake is the one list of frameworks: the registry's known names, CMake's
// options and tests, the Makefile's lists and scripts/bootstrap.sh's install steps all follow
// from it. This checks that the registry and the list agree, and that each entry has what the
// list promises (its folder, its install step, its slow suite).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "backends/registry.h"
#include "core/text.h"

namespace infermark {
namespace {
namespace fs = std::filesystem;

struct Entry {
  std::string name, deps, slow;
};

// The entries as the Makefile and scripts/bootstrap.sh read them: each line that starts with
// "infermark_framework(", split on what cannot be part of a name (their awk's field separator).
std::vector<Entry> listed() {
  std::ifstream in(fs::path(INFERMARK_SOURCE_DIR) / "backends/frameworks.cmake");
  EXPECT_TRUE(in) << "cannot read backends/frameworks.cmake";
  const auto name_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  };
  std::vector<Entry> entries;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("infermark_framework(", 0) != 0) continue;
    std::vector<std::string> fields(1);
    for (char c : line) {
      if (name_char(c)) {
        fields.back() += c;
      } else if (!fields.back().empty()) {
        fields.emplace_back();
      }
    }
    EXPECT_GE(fields.size(), 4u) << "name, deps and slow on the entry's first line: " << line;
    if (fields.size() >= 4) entries.push_back({fields[1], fields[2], fields[3]});
  }
  return entries;
}

std::vector<std::string> names(const std::vector<Entry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(e.name);
  return out;
}

TEST(FrameworkList, RegistryKnowsExactlyTheListedFrameworksInTheirOrder) {
  const std::vector<Entry> entries = listed();
  ASSERT_FALSE(entries.empty());
  // No plugin folder: only the study's frameworks, none found beside them.
  EXPECT_EQ(BackendRegistry(std::vector<fs::path>{}).known(), names(entries));
}

TEST(FrameworkList, CMakeReadsTheSameEntries) {
  EXPECT_EQ(split_list(INFERMARK_LISTED_FRAMEWORKS), names(listed()));
}

TEST(FrameworkList, EachFrameworkHasItsFolderAndInstallStep) {
  const fs::path root = INFERMARK_SOURCE_DIR;
  for (const Entry& e : listed()) {
    SCOPED_TRACE(e.name);
    const fs::path folder = root / "backends" / e.name;
    if (e.deps == "-") {  // a framework of the study that cannot be installed here
      EXPECT_FALSE(fs::exists(folder)) << folder << " exists but the list gives no install step";
      EXPECT_EQ(e.slow, "-");
      continue;
    }
    EXPECT_TRUE(fs::exists(folder / "CMakeLists.txt")) << folder / "CMakeLists.txt";
    const fs::path step = root / "scripts/deps" / e.deps;
    struct stat st {};
    EXPECT_TRUE(stat(step.c_str(), &st) == 0 && (st.st_mode & S_IXUSR))
        << step << " is not executable";
    if (e.slow != "-") {  // make test-fast leaves this suite out: it must be the framework's
      std::ifstream test(root / "tests/backends" / (e.name + "_test.cc"));
      std::stringstream text;
      text << test.rdbuf();
      EXPECT_NE(text.str().find("(" + e.slow + ","), std::string::npos)
          << "no test suite " << e.slow << " in tests/backends/" << e.name << "_test.cc";
    }
  }
}

TEST(FrameworkList, EveryFrameworkNotBuiltSaysWhy) {
  BackendRegistry registry{std::vector<fs::path>{}};
  for (const BackendInfo& info : registry.list()) {
    SCOPED_TRACE(info.name);
    EXPECT_FALSE(info.available);
    EXPECT_EQ(info.reason.rfind("not built: ", 0), 0u) << info.reason;
    EXPECT_EQ(info.reason.find("its plugin is missing"), std::string::npos) << info.reason;
  }
}

}  // namespace
}  // namespace infermark
