#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/machine.h"

namespace infermark::cli {

void add_env_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("env", "Describe this machine as result files record it");
  auto json = std::make_shared<bool>(false);
  auto measure = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json, "Print JSON");
  cmd->add_flag("--measure-peak", *measure,
                "Measure the peak FLOP/s again instead of reading the cached figure, and cache "
                "the new one (0.6 s per instruction set; run it on an idle machine)");
  cmd->callback([json, measure] {
    const Machine m = read_machine(*measure ? PeakCache::kRefresh : PeakCache::kUse);
    if (*json) {
      std::cout << to_json(m).dump(2) << "\n";
    } else {
      std::cout << format_machine(m);
    }
  });
}

}  // namespace infermark::cli
