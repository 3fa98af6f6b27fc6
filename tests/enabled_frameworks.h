#pragma once

// The frameworks the build enabled (INFERMARK_WITH_<NAME>), from the comma-separated
// INFERMARK_ENABLED_BACKENDS that tests/CMakeLists.txt defines for the tests that need it.
#include <sstream>
#include <string>
#include <vector>

namespace infermark {

inline std::vector<std::string> enabled_frameworks() {
  std::vector<std::string> names;
  std::stringstream in(INFERMARK_ENABLED_BACKENDS);
  std::string name;
  while (std::getline(in, name, ','))
    if (!name.empty()) names.push_back(name);
  return names;
}

}  // namespace infermark
