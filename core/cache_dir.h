#pragma once

#include <cstdlib>
#include <filesystem>

namespace infermark {

// Where infermark keeps what it computes once and reuses (zoo models, the machine's measured
// peak): $INFERMARK_CACHE_DIR, else $XDG_CACHE_HOME/infermark, else ~/.cache/infermark, else
// a folder in the temporary directory.
inline std::filesystem::path cache_root() {
  namespace fs = std::filesystem;
  if (const char* d = std::getenv("INFERMARK_CACHE_DIR")) return fs::path(d);
  if (const char* d = std::getenv("XDG_CACHE_HOME")) return fs::path(d) / "infermark";
  if (const char* d = std::getenv("HOME")) return fs::path(d) / ".cache" / "infermark";
  return fs::temp_directory_path() / "infermark";
}

}  // namespace infermark
