#pragma once

#include <CLI/CLI.hpp>

#include "core/error.h"

namespace infermark::cli {

// Each subcommand registers itself on the application; its callback does the work and
// throws infermark::Error for anything the user must fix.
void add_env_command(CLI::App& app);
void add_zoo_command(CLI::App& app);
void add_backends_command(CLI::App& app);
void add_infer_command(CLI::App& app);
void add_check_command(CLI::App& app);
void add_conformance_command(CLI::App& app);
void add_accuracy_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_report_commands(CLI::App& app);  // report, compare
void add_paper_command(CLI::App& app);
void add_tune_commands(CLI::App& app);  // tune, advise
void add_serve_command(CLI::App& app);
void add_load_command(CLI::App& app);
void add_explain_command(CLI::App& app);
void add_isolated_command(CLI::App& app);  // _run: verify/isolated.h's child

// A command that ran and said what it had to; the program exits with this code, silently.
class ExitCode : public std::exception {
 public:
  explicit ExitCode(int code) : code(code) {}
  int code;
};

}  // namespace infermark::cli
