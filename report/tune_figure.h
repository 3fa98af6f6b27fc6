#pragma once

// The figure of `infermark tune`: every configuration measured, by p99 latency and the
// objective, the Pareto front marked, drawn with gnuplot.

#include <filesystem>
#include <string>
#include <vector>

#include "advise/advise.h"

namespace infermark {

// Writes <dir>/<name>.png and prints its path, or a line saying why there is none.
void write_tune_figure(const std::vector<Standing>& all, const std::vector<Standing>& front,
                       const Objective& objective, const std::string& title,
                       const std::filesystem::path& dir, const std::string& name);

}  // namespace infermark
