#pragma once

// `infermark load`'s measurement as a library: requests to a KServe v2 server (ours or
// another) at each offered rate (open loop) or from a number of clients (closed loop), or a
// search of the peak rate under a p99 target, each run one result row appended to a file.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/result.h"
#include "load/client.h"
#include "load/load.h"

namespace infermark::load {

struct MeasureOptions {
  std::string url, model;
  std::vector<double> rates;  // open loop; empty with concurrency > 0
  int concurrency = 0;        // closed loop
  LoadConfig config;
  bool find_peak = false;
  double slo_p99_ms = 0;
  std::string input;       // .npy, or image files; empty: seeded N(0, 1) values
  std::string preprocess;  // of image files
  int64_t batch = 1;
  bool binary = false;
  std::string token;
  std::string tls_ca;
  double timeout_s = 60;
  std::string arm;  // empty: the transport
  int round = 0;
  std::string out = "results.jsonl";
};

// Runs each rate (or the closed loop once), appends its row to options.out and hands it to
// `each` with the rate it offered. Throws Error for what the options get wrong or a server
// that is not live; a run that fails is a row with status error. Returns how many failed.
size_t measure(const MeasureOptions& options,
               const std::function<void(const ResultRow& row, double rate)>& each);

}  // namespace infermark::load
