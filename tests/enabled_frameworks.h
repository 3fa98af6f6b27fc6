#pragma once

// The frameworks the build enabled (INFERMARK_WITH_<NAME>), from the comma-separated
// INFERMARK_ENABLED_BACKENDS that tests/CMakeLists.txt defines for the tests that need it.
#include <string>
#include <vector>

#include "core/text.h"

namespace infermark {

inline std::vector<std::string> enabled_frameworks() {
  return split_list(INFERMARK_ENABLED_BACKENDS);
}

}  // namespace infermark
