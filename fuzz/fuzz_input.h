#pragma once

// What the targets over files share: the input written to a file of this process (the
// parsers read paths), and how a finding stops the run.

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace infermark::fuzz {

[[noreturn]] inline void finding(const char* what, const std::string& detail) {
  std::fprintf(stderr, "FINDING: %s: %s\n", what, detail.c_str());
  std::abort();
}

// A folder of this process under $TMPDIR (or /tmp), removed at exit.
inline const std::filesystem::path& work_dir() {
  static const std::filesystem::path dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::filesystem::path d = std::filesystem::path(tmp && *tmp ? tmp : "/tmp") /
                              ("infermark-fuzz-" + std::to_string(getpid()));
    std::filesystem::create_directories(d);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(work_dir(), ec);
    });
    return d;
  }();
  return dir;
}

// The bytes as the file `name` of the work folder, rewritten for each input.
inline std::filesystem::path write_input(const char* name, const uint8_t* data, size_t size) {
  const std::filesystem::path file = work_dir() / name;
  FILE* f = std::fopen(file.c_str(), "wb");
  if (!f) finding("cannot write the input file", file.string());
  if (size > 0 && std::fwrite(data, 1, size, f) != size) finding("cannot write", file.string());
  std::fclose(f);
  return file;
}

}  // namespace infermark::fuzz
