#pragma once

#include <CLI/CLI.hpp>

#include "sweep/slurm.h"

namespace infermark::cli {

// --slurm and the sbatch options that need it, as bench and paper take them.
void add_slurm_options(CLI::App* cmd, bool& slurm, SlurmOptions& options);

}  // namespace infermark::cli
