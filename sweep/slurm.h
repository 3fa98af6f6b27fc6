#pragma once

// A study on Slurm: the cells a local sweep would run, submitted as one `sbatch --array` job
// whose tasks each run their share of cells on their node (each cell still in its own process,
// as locally), each task writing its own result file in the study's folder; `collect` merges
// them into the study's result file and records the cells of tasks that Slurm stopped.
//
// The study folder, next to the result file (results.jsonl -> results.slurm/):
//   study.json            the result file, how cells run, and every submission (job id, the
//                         cells file, which cells each array task runs)
//   cells-N.jsonl         the cells of submission N, one CellSpec per line
//   job-N.sh              the batch script of submission N
//   tasks/N-T.jsonl       results of array task T of submission N; tasks/N-T.done when it ended
//   logs/JOB_T.out        the task's output (progress, framework chatter)

#include <filesystem>
#include <string>
#include <vector>

#include "sweep/study.h"

namespace infermark {

struct SlurmOptions {
  std::string partition, time, account;  // sbatch --partition, --time, --account when given
  std::vector<std::string> sbatch_args;  // passed to sbatch as they are
  int cells_per_task = 1;
  bool exclusive = true;  // --exclusive: a benchmark wants its node alone
};

// results.jsonl -> results.slurm (the folder of a study whose result file is `out`).
std::filesystem::path slurm_study_dir(const std::filesystem::path& out);

// Submits the cells of the study that have no result in its result file (with --resume;
// without, the result file and the study folder must not have results yet) as one array job.
// With --resume, finished task files are merged first, and tasks still pending or running are
// an error. Returns 0; prints the job id and the collect command.
int submit_study(const Study& study, const SlurmOptions& slurm);

// Cells planned by someone else (`paper --slurm`), submitted as submit_study submits a study's.
struct SlurmSubmission {
  std::vector<CellSpec> cells;
  CellRunner runner;          // how each task runs its cells (its out is the task's file)
  std::filesystem::path out;  // the study's result file
  bool resume = false;
  std::filesystem::path report;  // where collect's caller writes the report when all ended
};
int submit_cells(const SlurmSubmission& submission, const SlurmOptions& slurm);

// One array task, run by Slurm on its node: runs its cells of submission `submission`, each
// in its own process, into tasks/N-T.jsonl (a task started again continues where it stopped),
// then marks the task done.
int run_slurm_task(const std::filesystem::path& dir, int submission, int task);

// Merges the task files into the study's result file without duplicates, records the cells
// of tasks that Slurm stopped (scancel, time limit, node failure, preemption) as rows with
// status slurm_<state>, and prints progress; with `wait`, polls every poll_s seconds until no
// task is pending or running.
struct Collected {
  bool active = false;           // a task is still pending or running
  std::filesystem::path out;     // the study's result file
  std::filesystem::path report;  // the report folder the study asked for (paper); empty: none
};
Collected collect_study(const std::filesystem::path& dir, bool wait, double poll_s);

}  // namespace infermark
