// infermark tune: the best framework and settings for one model and scenario under the user's
// constraints, found within a time budget and confirmed in interleaved rounds (docs/tuning.md).
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "advise/advise.h"
#include "zoo/zoo.h"

namespace infermark {

struct TuneOptions {
  std::string model;  // a zoo name or an ONNX file
  zoo::Options zoo;
  std::string scenario = "offline";   // offline, single-stream, server
  std::vector<std::string> backends;  // empty: every available framework
  std::string objective;              // empty: the scenario's own (advise.h objective_for)
  Limits limits;
  std::string images;  // photos for the agreement check of reduced precisions
  double budget_s = 1200;
  std::filesystem::path out = "tune.jsonl";
  // backend -> key -> the values to try, replacing the framework's declared SettingSpec::tune
  // (tune --set: widens or narrows the search)
  std::map<std::string, std::map<std::string, std::vector<std::string>>> search;
  // backend -> key -> the one value every candidate uses (tune --fix)
  std::map<std::string, std::map<std::string, std::string>> fixed;
  std::vector<int64_t> batches = {1, 2, 4, 8, 16, 32};  // offline
  std::vector<std::string> precisions = {"fp32", "bf16", "int8"};
  std::vector<int> concurrencies;                       // offline; empty: 1 to the cores
  std::vector<int64_t> max_batches = {1, 2, 4, 8, 16};  // server's batcher
  std::vector<double> queue_delays_ms = {2, 5, 10};     // server's batcher
  int threads = 0;
  int confirm_rounds = 5;
  // Timed seconds of a halving or confirmation cell; screening cells take 0.4 of it.
  double cell_seconds = 2.0;
  int finalists = 3;  // configurations confirmed besides the defaults
  double cell_timeout_s = 600;
  std::string baseline = "onnxruntime";  // whose defaults the winner is measured against
  std::filesystem::path study_file;      // default: out with the extension .toml
  // Draws the Pareto figure (all, front, objective, title, folder, name), when set: the
  // command gives report/tune_figure.h's, so that the tuner itself draws nothing.
  std::function<void(const std::vector<Standing>&, const std::vector<Standing>&, const Objective&,
                     const std::string&, const std::filesystem::path&, const std::string&)>
      pareto_figure;

  // Throws Error naming the first bad value.
  void validate() const;
};

// Runs (or continues: the cells already in `out` are not run again) a tuning run and prints the
// answer; writes the study file. Returns 0, or 130 when interrupted.
int run_tune(const TuneOptions& options);

}  // namespace infermark
