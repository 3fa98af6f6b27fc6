#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/machine.h"

namespace infermark::cli {

void add_env_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("env", "Describe this machine as result files record it");
  auto json = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json, "Print JSON");
  cmd->callback([json] {
    const Machine m = read_machine();
    if (*json) {
      std::cout << to_json(m).dump(2) << "\n";
    } else {
      std::cout << format_machine(m);
    }
  });
}

}  // namespace infermark::cli
