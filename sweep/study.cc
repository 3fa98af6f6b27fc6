// infermark bench's study (sweep/study.h): the checks of its options, the expansion of the
// matrix into cells in run order, the entry point that runs them (run_study; the cell loop is
// in run_cells.cc).
#include "sweep/study.h"

#include <algorithm>
#include <cstdio>
#include <random>
#include <set>

#include "backends/registry.h"
#include "backends/settings.h"
#include "core/error.h"
#include "core/machine.h"
#include "prepare/prepare.h"
#include "sweep/study_internal.h"

namespace infermark {
namespace fs = std::filesystem;
using study_internal::describe_model;
namespace {

// Every combination of the swept settings of one backend.
std::vector<Settings> combinations(const std::map<std::string, std::vector<std::string>>& axes) {
  std::vector<Settings> out = {{}};
  for (const auto& [key, values] : axes) {
    std::vector<Settings> next;
    for (const auto& partial : out)
      for (const auto& v : values) {
        Settings s = partial;
        s[key] = v;
        next.push_back(s);
      }
    out = std::move(next);
  }
  return out;
}

}  // namespace

// The most cells a study may have (Study::validate). A fuzzing build (libFuzzer's convention)
// takes fewer, so that one input stays within its time limit under the sanitizers.
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
constexpr double kMaxStudyCells = 1000;
#else
constexpr double kMaxStudyCells = 100000;
#endif

int64_t fixed_batch(const ModelRef& m) {
  if (!m.stats.is_object()) return 0;
  const int64_t b = m.stats.value("input", nlohmann::json::object()).value("fixed_batch", 0);
  static std::set<std::string> said;
  if (b > 0 && said.insert(m.name).second)
    std::fprintf(stderr, "note: model %s fixes its batch to %lld: it runs at batch %lld only\n",
                 m.name.c_str(), static_cast<long long>(b), static_cast<long long>(b));
  return b;
}

void Study::validate() const {
  if (models.empty()) throw Error("--models is empty: name at least one zoo model or ONNX file");
  if (backends.empty()) throw Error("--backends is empty: name at least one framework");
  // A typo stops the study here; a file that exists but is no model becomes error cells.
  for (const auto& m : models) {
    // Result rows are UTF-8 JSON: a path that is not cannot be recorded as it is.
    if (valid_utf8(m) != m)
      throw Error("model path '" + valid_utf8(m) +
                  "' is not valid UTF-8 (\uFFFD marks the bytes): result files are UTF-8 JSON, "
                  "rename the file");
    zoo::check_model_source(m);
  }
  for (int64_t b : batches)
    if (b < 1 || b > 4096) throw Error("batch " + std::to_string(b) + " is invalid (1 to 4096)");
  for (const auto& s : scenarios)
    if (std::find(kScenarios.begin(), kScenarios.end(), s) == kScenarios.end())
      throw Error("unknown scenario '" + s +
                  "' (valid: offline, single-stream, server, ensemble, load)");
  for (const auto& [flag, v] : {std::pair{"--warmup", limits.warmup_s},
                                {"--min-duration", limits.min_duration_s},
                                {"--max-duration", limits.max_duration_s}})
    if (!(v >= 0))
      throw Error(std::string(flag) + " " + std::to_string(v) + " is invalid: must be >= 0");
  if (limits.min_iterations < 1) throw Error("--min-iterations must be >= 1");
  if (limits.max_duration_s < limits.min_duration_s)
    throw Error("--max-duration is below --min-duration");
  for (double r : rates)
    if (!(r > 0)) throw Error("--rate " + std::to_string(r) + " is invalid: must be > 0");
  if (max_batch < 1)
    throw Error("--max-batch " + std::to_string(max_batch) + " is invalid: must be >= 1");
  if (max_queue_delay_ms < 0) throw Error("--max-queue-delay-ms must be >= 0");
  if (cell_timeout_s <= 0) throw Error("--cell-timeout must be > 0 seconds");
  if (memory_limit_bytes < 0) throw Error("--memory-limit must be >= 0");
  if (repeat < 1) throw Error("--repeat " + std::to_string(repeat) + " is invalid: must be >= 1");
  if (rounds < 1) throw Error("--rounds " + std::to_string(rounds) + " is invalid: must be >= 1");
  // Labels and setting values enter every result row as they are: UTF-8 JSON.
  auto utf8 = [](const std::string& what, const std::string& text) {
    if (valid_utf8(text) != text)
      throw Error(what + " '" + valid_utf8(text) +
                  "' is not valid UTF-8 (\uFFFD marks the bytes): result files are UTF-8 JSON");
  };
  for (size_t i = 0; i < arms.size(); ++i) {
    if (arms[i].empty()) throw Error("--arms has an empty label");
    utf8("--arms label", arms[i]);
    if (std::find(arms.begin(), arms.begin() + i, arms[i]) != arms.begin() + i)
      throw Error("--arms names '" + arms[i] + "' twice: each arm needs its own label");
  }
  if (transports.empty())
    throw Error("--transport needs at least one of in-process, http-json, http-binary, grpc");
  for (const auto& t : transports)
    if (std::find(kTransports.begin(), kTransports.end(), t) == kTransports.end())
      throw Error("unknown transport '" + t +
                  "' (valid: in-process, http-json, http-binary, grpc)");
  if (transports != std::vector<std::string>{"in-process"} &&
      std::none_of(scenarios.begin(), scenarios.end(), [](const std::string& s) {
        return s == scenario::kServer || s == scenario::kSingleStream;
      }))
    throw Error("--transport applies to the server and single-stream scenarios: add one of them");
  if (precisions.empty()) throw Error("--precision needs at least one of fp32, bf16, int8");
  for (const auto& p : precisions) check_precision_name(p);
  if (concurrencies.empty()) throw Error("--concurrency needs at least one value");
  for (int n : concurrencies)
    if (n < 1 || n > 256)
      throw Error("--concurrency " + std::to_string(n) + " is invalid (1 to 256)");
  if (preparations.empty()) throw Error("--prepare needs at least one of simplify, none");
  for (const auto& p : preparations) preparation_options(p);  // throws naming a bad value
  if (threads < 0)
    throw Error("--threads " + std::to_string(threads) + " is invalid: must be >= 0");
  zoo.validate();
  BackendRegistry registry;
  for (const auto& b : backends) {
    const BackendInfo& info = registry.info(b);  // throws: unknown or not available
    for (const auto& [key, values] :
         settings.count(b) ? settings.at(b) : decltype(settings)::mapped_type{})
      for (const auto& v : values) {
        utf8("--set " + b + "." + key + " value", v);
        validate_settings(info, {{key, v}});
      }
  }
  for (const auto& [b, _] : settings)
    if (std::find(backends.begin(), backends.end(), b) == backends.end())
      throw Error("--set names backend '" + b + "', which is not in --backends");
  // The matrix's size, bounded before it is expanded: a few numbers (--rounds 100000000) or
  // short lists crossed with each other would otherwise make more cells than memory holds.
  // An upper bound: a server counted twice (with and without batching), a model's fixed batch
  // as --batches.
  auto n = [](size_t size) { return std::max(1.0, static_cast<double>(size)); };
  double combinations = 0;
  for (const auto& b : backends) {
    double c = 1;
    if (settings.count(b))
      for (const auto& [key, values] : settings.at(b)) c *= n(values.size());
    combinations += c;
  }
  double per_model = 0;  // cells of one model, setting, arm and repeat in a round
  for (const auto& s : scenarios)
    per_model += s == scenario::kOffline || s == scenario::kEnsemble
                     ? n(batches.size()) * n(concurrencies.size())
                 : s == scenario::kServer
                     ? 2 * n(transports.size()) * (find_peak ? 1 : n(rates.size()))
                 : s == scenario::kSingleStream ? n(transports.size())
                                                : 1;
  const double cells = n(models.size()) * combinations * n(arms.size()) * repeat *
                       std::max(1.0, per_model) * n(preparations.size()) * n(precisions.size()) *
                       rounds;
  if (cells > kMaxStudyCells)
    throw Error("the study has up to " + fixed(cells, 0) + " cells, more than the " +
                fixed(kMaxStudyCells, 0) + " a study may have: split it into smaller studies");
}

std::vector<CellSpec> expand(const Study& study) {
  std::vector<CellSpec> cells;
  std::map<std::string, ModelRef> described;
  auto model = [&](const std::string& name) -> const ModelRef& {
    if (!described.count(name)) described[name] = describe_model(name, study.zoo);
    return described[name];
  };
  // Ensembles: zoo ensembles named in --models, else all the models listed as one.
  std::vector<ModelRef> ensembles;
  std::vector<std::string> singles;
  for (const auto& name : study.models) {
    const bool is_ensemble =
        std::any_of(zoo::entries().begin(), zoo::entries().end(),
                    [&](const zoo::Entry& e) { return e.name == name && !e.members.empty(); });
    if (is_ensemble) {
      ModelRef e;
      e.name = name;
      for (const auto& m : zoo::find(name).members) e.members.push_back(model(m));
      e.input_shape = e.members.front().input_shape;
      ensembles.push_back(e);
    } else {
      singles.push_back(name);
    }
  }
  const bool wants_ensemble =
      std::count(study.scenarios.begin(), study.scenarios.end(), "ensemble");
  if (wants_ensemble && ensembles.empty() && singles.size() > 1) {
    ModelRef e;
    for (const auto& m : singles) {
      e.members.push_back(model(m));
      e.name += (e.name.empty() ? "" : "+") + m;
    }
    e.input_shape = e.members.front().input_shape;
    ensembles.push_back(e);
  }

  const std::vector<std::string> arms =
      study.arms.empty() ? std::vector<std::string>{""} : study.arms;
  std::vector<CellSpec> round;
  for (const auto& backend : study.backends) {
    const auto axes = study.settings.count(backend)
                          ? study.settings.at(backend)
                          : std::map<std::string, std::vector<std::string>>{};
    for (const auto& settings : combinations(axes))
      for (const auto& arm : arms)
        for (int rep = 0; rep < study.repeat; ++rep)
          for (const auto& scenario : study.scenarios) {
            CellSpec base;
            base.backend = backend;
            base.settings = settings;
            base.scenario = scenario;
            base.threads = study.threads;
            base.arm = arm;
            base.repeat = rep;
            base.seed = study.zoo.seed;
            base.limits = study.limits;
            if (scenario == scenario::kEnsemble) {
              for (const auto& e : ensembles)
                for (int64_t b : study.batches) {
                  CellSpec c = base;
                  c.model = e;
                  c.batch = b;
                  round.push_back(c);
                }
              continue;
            }
            for (const auto& name : singles) {
              CellSpec c = base;
              c.model = model(name);
              const int64_t fixed = fixed_batch(c.model);
              if (scenario == scenario::kOffline) {
                for (int64_t b : fixed ? std::vector<int64_t>{fixed} : study.batches)
                  for (int n : study.concurrencies) {
                    c.batch = b;
                    c.concurrency = n;
                    round.push_back(c);
                  }
              } else if (scenario == scenario::kLoad) {
                round.push_back(c);
              } else if (scenario == scenario::kSingleStream) {
                for (const auto& t : study.transports) {
                  c.transport = t == "in-process" ? "" : t;
                  round.push_back(c);
                }
              } else if (scenario == scenario::kServer) {
                for (int64_t max_batch : {fixed ? fixed : study.max_batch, int64_t{1}}) {
                  ServerConfig server;
                  server.max_batch = max_batch;
                  server.max_queue_delay_ms = max_batch > 1 ? study.max_queue_delay_ms : 0.0;
                  server.duration_s = study.server_duration_s;
                  server.min_queries = study.server_min_queries;
                  server.seed = study.zoo.seed;
                  for (const auto& t : study.transports) {
                    c.transport = t == "in-process" ? "" : t;
                    if (study.find_peak) {
                      c.peak_slo_p99_ms = study.slo_p99_ms;
                      server.rate_qps = study.rates.front();
                      c.server = server;
                      round.push_back(c);
                    } else {
                      for (double rate : study.rates) {
                        server.rate_qps = rate;
                        c.server = server;
                        round.push_back(c);
                      }
                    }
                  }
                  if (study.max_batch == 1 || fixed == 1) break;
                }
              }
            }
          }
  }
  std::vector<CellSpec> prepared;
  for (const auto& c : round)
    for (const auto& preparation : study.preparations)
      for (const auto& precision : study.precisions) {
        prepared.push_back(c);
        prepared.back().preparation = preparation;
        prepared.back().precision = precision;
      }
  round = std::move(prepared);
  for (int r = 0; r < study.rounds; ++r) {
    std::vector<CellSpec> visit = round;
    for (auto& c : visit) c.round = r;
    if (study.rounds > 1) {
      std::mt19937_64 rng(study.shuffle_seed * 1000003u + static_cast<uint64_t>(r));
      std::shuffle(visit.begin(), visit.end(), rng);
    }
    cells.insert(cells.end(), visit.begin(), visit.end());
  }
  return cells;
}

int run_study(const Study& study) {
  study.validate();
  std::error_code ec;  // an --out that cannot be looked at fails when it is written
  if (!study.resume && fs::exists(study.out, ec) && fs::file_size(study.out, ec) > 0 && !ec)
    throw Error("result file '" + study.out.string() +
                "' already has results: pass --resume to continue it, or choose another --out");
  std::fprintf(stderr, "preparing models...\n");
  return run_cells(expand(study), runner_of(study));
}

CellRunner runner_of(const Study& study) {
  CellRunner r;
  r.out = study.out;
  r.cell_timeout_s = study.cell_timeout_s;
  r.memory_limit_bytes = study.memory_limit_bytes;
  r.threads = study.threads;
  r.rounds = study.rounds;
  r.resume = study.resume;
  return r;
}

}  // namespace infermark
