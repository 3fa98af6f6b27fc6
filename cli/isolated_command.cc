// `infermark _run DIR`: the child process of verify/isolated.h, one framework's load and runs.
#include "cli/commands.h"
#include "verify/isolated.h"

namespace infermark::cli {

void add_isolated_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("_run", "")->group("");
  auto dir = std::make_shared<std::string>();
  cmd->add_option("dir", *dir)->required();
  cmd->callback([dir] {
    if (const int code = run_isolated_child(*dir); code != 0) throw ExitCode(code);
  });
}

}  // namespace infermark::cli
