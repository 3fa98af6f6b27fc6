#pragma once

#include <string>

#include "backends/registry.h"
#include "core/tensor.h"

namespace infermark::cli {

// One batch through one framework, with the times a user wants to see.
// Its implicit default constructor does not throw: clang-tidy 14 follows nlohmann::json's
// noexcept default constructor to a throw that a null value never reaches (json.hpp silences
// the same finding on that constructor).
// NOLINTNEXTLINE(bugprone-exception-escape)
struct RunResult {
  Tensor output;
  double load_ms = 0;
  double first_run_ms = 0;   // includes any lazy compilation the framework defers
  double second_run_ms = 0;  // steady state
  nlohmann::json settings_in_effect;
};

RunResult run_once(Backend& backend, const LoadRequest& request, const Tensor& input);

// Indices of the k largest values of row `row` of a [N, classes] tensor, largest first.
std::vector<int64_t> top_k(const Tensor& t, int64_t row, int k);

}  // namespace infermark::cli
