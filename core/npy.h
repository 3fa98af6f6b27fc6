#pragma once

#include <filesystem>

#include "core/tensor.h"

namespace infermark {

// NumPy .npy files, the format this field exchanges tensors in: float32, C order.
// Throws Error naming the file: missing, not .npy, another dtype, Fortran order, truncated.
Tensor load_npy(const std::filesystem::path& path);
void save_npy(const Tensor& tensor, const std::filesystem::path& path);

// Seeded N(0, 1) values (normalized images), the same on every machine for a seed.
Tensor random_input(const std::vector<int64_t>& shape, uint64_t seed);

}  // namespace infermark
