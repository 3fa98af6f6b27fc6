#include "cli/slurm_options.h"

namespace infermark::cli {

void add_slurm_options(CLI::App* cmd, bool& slurm, SlurmOptions& so) {
  auto* flag = cmd->add_flag("--slurm", slurm,
                             "Submit the study to Slurm as one array job instead of running it "
                             "here (infermark collect merges the results; docs/slurm.md)");
  cmd->add_option("--partition", so.partition, "Slurm: the partition (sbatch --partition)")
      ->needs(flag);
  cmd->add_option("--time", so.time, "Slurm: each array task's time limit (sbatch --time)")
      ->needs(flag);
  cmd->add_option("--account", so.account, "Slurm: the account (sbatch --account)")->needs(flag);
  cmd->add_option("--sbatch-arg", so.sbatch_args,
                  "Slurm: one more sbatch argument, as --sbatch-arg=--constraint=avx512 "
                  "(repeatable)")
      ->needs(flag)
      ->allow_extra_args(false);
  cmd->add_option("--cells-per-task", so.cells_per_task,
                  "Slurm: cells each array task runs, one after another (default 1)")
      ->needs(flag);
  cmd->add_flag("--exclusive,!--no-exclusive", so.exclusive,
                "Slurm: each array task has its node alone (default; --no-exclusive shares it)")
      ->needs(flag);
}

}  // namespace infermark::cli
