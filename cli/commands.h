#pragma once

#include <CLI/CLI.hpp>

namespace infermark::cli {

// Each subcommand registers itself on the application; its callback does the work and
// throws infermark::Error for anything the user must fix.
void add_env_command(CLI::App& app);
void add_zoo_command(CLI::App& app);

}  // namespace infermark::cli
