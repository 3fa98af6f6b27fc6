#include <google/protobuf/stubs/logging.h>

#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>

#include "cli/commands.h"
#include "core/error.h"
#include "infermark/version.h"

namespace {

int run(int argc, char** argv) {
  CLI::App app{"infermark: measure, compare and choose computer-vision inference frameworks",
               "infermark"};
  app.set_version_flag("--version", std::string("infermark ") + infermark::kVersion + " (" +
                                        infermark::kGitRevision + ")");
  app.require_subcommand(1);
  // A study as a file: `infermark --config study.toml bench`, keys "bench.models" etc.
  app.set_config("--config", "", "Read options from a TOML file (keys: COMMAND.OPTION)");
  infermark::cli::add_env_command(app);
  infermark::cli::add_zoo_command(app);
  infermark::cli::add_backends_command(app);
  infermark::cli::add_infer_command(app);
  infermark::cli::add_check_command(app);
  infermark::cli::add_conformance_command(app);
  infermark::cli::add_accuracy_command(app);
  infermark::cli::add_bench_command(app);
  infermark::cli::add_report_commands(app);
  infermark::cli::add_paper_command(app);
  infermark::cli::add_tune_commands(app);
  infermark::cli::add_serve_command(app);
  infermark::cli::add_load_command(app);
  infermark::cli::add_explain_command(app);
  infermark::cli::add_isolated_command(app);

  try {
    if (argc > 1 && argv[1][0] != '-') {
      std::string commands;
      bool known = false;
      for (const CLI::App* sub : app.get_subcommands({})) {
        known = known || sub->get_name() == argv[1];
        commands += (commands.empty() ? "" : ", ") + sub->get_name();
      }
      if (!known)
        throw infermark::Error(std::string("unknown command '") + argv[1] +
                               "' (commands: " + commands + ")");
    }
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "infermark: error: " << e.what() << " (see --help)\n";
    return 2;
  } catch (const infermark::cli::ExitCode& e) {
    return e.code;
  } catch (const infermark::Error& e) {
    std::cerr << "infermark: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "infermark: internal error: " << e.what() << "\n";
    return 3;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Protobuf logs parse failures on its own; we report them once, in our own words.
  google::protobuf::SetLogHandler(nullptr);
  // What run() throws outside its own handlers: building the command line, or printing help.
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "infermark: internal error: " << e.what() << "\n";
    return 3;
  }
}
