#pragma once

// How long cells take, estimated before they run (`paper` says it before it starts, and
// `paper --budget` fits the study to a time with it). A rough model, stated so that its errors
// can be found: a cell's iteration takes its FLOPs at half the measured peak of the cores it
// uses; a cell process starts and loads in 2 s; a framework that compiles ahead of time
// (Capabilities::compile_s) compiles each engine once per study (its cache serves the later
// rounds) and again in every load cell (whose cold phase starts from an empty cache); the
// server's peak search is its probes and confirming runs at their minimum length.

#include <map>
#include <string>
#include <vector>

#include "core/machine.h"
#include "core/result.h"

namespace infermark {

// What preparing an engine costs a framework before its first run: fixed seconds plus seconds
// per GFLOP of one image (Capabilities::compile_s, compile_s_per_gflop).
struct CompileCost {
  double fixed_s = 0;
  double per_gflop_s = 0;
};

struct Estimate {
  double seconds = 0;          // everything, compiles included
  double compile_seconds = 0;  // of which compiles
  size_t cells = 0;
  size_t compiles = 0;
};

class CellEstimator {
 public:
  // compile: per framework; a framework not in it compiles nothing worth counting.
  CellEstimator(const Machine& machine, std::map<std::string, CompileCost> compile);
  // The cells in run order (a compile is charged to the first cell that needs its engine).
  Estimate estimate(const std::vector<CellSpec>& cells) const;
  // One cell alone, its compile included where it has one.
  double cell_seconds(const CellSpec& cell) const;

 private:
  double run_seconds(const CellSpec& cell) const;
  double compile_seconds(const CellSpec& cell) const;
  Machine machine_;
  std::map<std::string, CompileCost> compile_;
};

}  // namespace infermark
