#pragma once

// What the tests that run the program share: a shell command's exit code and standard output,
// and the lines of a JSON-lines file (results, accuracy, cells).
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace infermark {

struct CommandRun {
  int code = -1;  // the exit code; 128 when a signal ended it
  std::string output;
};

// Runs a shell command, its standard output read whole (redirect stderr in `cmd` to keep it).
inline CommandRun run_command(const std::string& cmd) {
  CommandRun r;
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  return r;
}

// Every line of a JSON-lines file, parsed.
inline std::vector<nlohmann::json> result_lines(const std::filesystem::path& file) {
  std::vector<nlohmann::json> rows;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

}  // namespace infermark
