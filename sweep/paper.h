#pragma once

// The paper's study (`infermark paper`) as studies of sweep/study.h: planned, fitted to a time
// budget where one is given, then run here or submitted to Slurm.

#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "sweep/slurm.h"
#include "sweep/study.h"

namespace infermark {

class BackendRegistry;

struct PaperOptions {
  bool quick = false;
  std::vector<std::string> backends;    // available frameworks (paper_backends)
  std::filesystem::path dir = "paper";  // results.jsonl and report/
  // The parts to run (kPaperParts); empty: all.
  std::vector<std::string> parts;
  int rounds = 0;       // of the comparisons (models and server); 0: 3 quick, 5 full
  zoo::Options zoo;     // the models' input size and width (the paper's: 224, 1.0)
  double budget_s = 0;  // fit the study to this time (0: no budget)
  bool slurm = false;   // submit the study to Slurm instead of running it here
  SlurmOptions slurm_options;
};

// One part of the paper's study.
struct PaperPart {
  std::string name;  // models, loading, ensemble, server
  Study study;
};
inline const std::vector<std::string> kPaperParts = {"models", "loading", "ensemble", "server"};

// The paper's study on the given frameworks: Table 1 models in the batch sweep and single-stream
// (in rounds), their load time, the ensemble's memory and the server's peak (in rounds); energy
// where measurable. Each part is a study appending to dir/results.jsonl, so rerunning continues.
std::vector<PaperPart> paper_parts(const PaperOptions& options);

// A plan that fits a budget: what is kept, what was left out (in the order it was dropped), and
// the estimates of the study before and after.
struct PaperPlan {
  std::vector<PaperPart> parts;
  std::vector<std::string> left_out;
  double full_s = 0;
  double planned_s = 0;
};

// Estimates a plan's parts (their cells without results yet), in seconds.
using PartsEstimate = std::function<double(const std::vector<PaperPart>&)>;

// Leaves parts of the study out until its estimate fits budget_s, in this order: the
// comparisons' rounds down to 2; batch sizes above 8, the largest first; two requests in
// flight; batch sizes between 1 and 8; the ensemble's batches above 1, then the ensemble; the
// server's rounds down to 1, then the server; the load times; batch 8; single-stream; the
// comparisons' rounds down to 1; models, the costliest first, down to one; frameworks, the
// costliest first, down to one. Throws Error with the smallest study's estimate when even that
// does not fit.
PaperPlan fit_to_budget(std::vector<PaperPart> parts, double budget_s,
                        const PartsEstimate& estimate);

// Runs the paper's study (or submits it to Slurm), fitted to options.budget_s when set.
// Returns the exit code: 0 when it ran (or was submitted), 130 when interrupted. The report is
// the caller's (report/ is above sweep/).
int run_paper(const PaperOptions& options, BackendRegistry& registry);

// The frameworks to study: those of `only` (every one when empty) that are available here, the
// others named on `skipped` with why. Throws Error for a name the registry does not know, or
// when none is available.
std::vector<std::string> paper_backends(BackendRegistry& registry,
                                        const std::vector<std::string>& only, std::FILE* skipped);

}  // namespace infermark
