#include "sweep/study.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <optional>
#include <random>
#include <set>

#include "backends/registry.h"
#include "backends/settings.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/machine.h"
#include "core/onnx_io.h"
#include "core/stats.h"
#include "prepare/prepare.h"
#include "core/child_process.h"

namespace infermark {
namespace fs = std::filesystem;
namespace {

std::atomic<bool> g_interrupted{false};  // set by SIGINT/SIGTERM only
void on_signal(int) { g_interrupted = true; }

std::string fnv_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> buf(1 << 20);
  uint64_t h = fnv1a("");
  while (in.read(buf.data(), buf.size()) || in.gcount() > 0)
    h = fnv1a(std::string_view(buf.data(), static_cast<size_t>(in.gcount())), h);
  return hex64(h);
}

// A result row of a cell that did not run (or whose child left no result).
ResultRow unrun_row(const CellSpec& spec) {
  ResultRow r;
  r.cell = spec;
  r.cell_key = cell_key(spec);
  return r;
}

// What a cell needs to know of a model, computed once in the parent. A model that cannot
// be read becomes {"name", "error"}: its cells are recorded as errors, the others run.
// The image side a model is described (and prepared) at: --input-size where the file leaves
// its image's height or width free, else the file's own (nullopt).
std::optional<int64_t> free_image_side(const onnx::ModelProto& model, int64_t input_size) {
  std::set<std::string> initializers;
  for (const auto& t : model.graph().initializer()) initializers.insert(t.name());
  for (const auto& in : model.graph().input()) {
    if (initializers.count(in.name())) continue;
    const auto& dims = in.type().tensor_type().shape().dim();
    for (int i = 1; i < dims.size(); ++i)
      if (!dims[i].has_dim_value()) return input_size;
    return std::nullopt;
  }
  return std::nullopt;
}

ModelRef describe_model(const std::string& name, const zoo::Options& options) {
  ModelRef m;
  m.name = name;
  try {
    const fs::path path = fs::absolute(zoo::model_file(name, options));
    ModelStats s;
    const onnx::ModelProto model = load_onnx(path);
    const std::optional<int64_t> side = free_image_side(model, options.input_size);
    try {
      s = compute_stats(model, name, side);
    } catch (const Error& raw) {
      // A graph that computes at run time what the input's shape fixes (pads from Shape and
      // arithmetic) is described once folded at its image size, as the frameworks will see it
      // by default.
      // A graph that also computes from its batch (a flatten through Shape, as PyTorch's
      // exporter writes it for a free batch) is described at batch 1: the statistics are per
      // image, and the file's batch stays free.
      auto folded_stats = [&](int64_t batch) {
        PrepareOptions folded;
        if (side) folded.height = folded.width = *side;
        folded.batch = batch;
        ModelStats f = compute_stats(load_onnx(prepare_model(path, folded).file), name);
        f.free_image = side.has_value();
        if (batch > 0) f.fixed_batch = 0;
        return f;
      };
      try {
        s = folded_stats(0);
      } catch (const Error&) {
        try {
          s = folded_stats(1);
        } catch (const Error&) {
          throw raw;
        }
      }
    }
    m.path = path.string();
    m.hash = "fnv1a64:" + fnv_file(path);
    m.file_bytes = static_cast<int64_t>(fs::file_size(path));
    m.input_shape = s.input_shape;
    m.parameters = s.parameters;
    m.flops_per_image = s.flops;
    m.stats = to_json(s);
  } catch (const Error& e) {
    m.error = e.what();
  }
  return m;
}

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

std::string describe(const CellSpec& c) {
  std::string s = c.model.name + " " + c.backend + " " + c.scenario;
  if (c.scenario == "offline" || c.scenario == "ensemble") s += " batch " + std::to_string(c.batch);
  if (c.scenario == "server" && c.server) {
    s += c.peak_slo_p99_ms ? " find-peak"
                           : " " + std::to_string(c.server->rate_qps).substr(0, 6) + " qps";
    s += c.server->max_batch > 1 ? " batching" : " no batching";
  }
  for (const auto& [k, v] : c.settings) s.append(" ").append(k).append("=").append(v);
  if (!c.arm.empty()) s += " arm " + c.arm;
  if (!c.transport.empty()) s += " over " + c.transport;
  if (c.round > 0) s += " round " + std::to_string(c.round + 1);
  if (c.repeat > 0) s += " #" + std::to_string(c.repeat);
  return s;
}

std::string duration(double s) {
  char buf[32];
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%.0fs", s);
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%dm%02ds", int(s) / 60, int(s) % 60);
  else
    std::snprintf(buf, sizeof buf, "%dh%02dm", int(s) / 3600, int(s) % 3600 / 60);
  return buf;
}

// Classifies a cell from the child's result file and how the child ended. The exit code
// says what the child concluded when it could not leave a result file.
ResultRow classify(const CellSpec& spec, const ChildOutcome& child, const fs::path& result_file,
                   const CellRunner& study) {
  ResultRow r;
  bool have = false;
  std::ifstream in(result_file);
  if (in) {
    const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
    try {
      if (!j.is_discarded()) {
        r = row_from_json(j);
        have = true;
      }
    } catch (const Error&) {
      have = false;  // a torn or foreign file: classified from how the child ended
    }
  }
  if (!have) r = unrun_row(spec);
  using K = ChildOutcome::Kind;
  switch (child.kind) {
    case K::kTimedOut:
      r.status = "timeout";
      r.message =
          "no result after --cell-timeout " + std::to_string(int(study.cell_timeout_s)) + " s";
      break;
    case K::kMemoryExceeded:
      r.status = "oom";
      r.message = "resident memory passed --memory-limit (" +
                  std::to_string(study.memory_limit_bytes >> 20) + " MiB)";
      break;
    case K::kSignaled:
      if (child.signal == SIGKILL) {
        r.status = "oom";
        r.message = "killed by SIGKILL, most likely by the kernel's out-of-memory killer";
      } else {
        r.status = "crash";
        r.message = std::string("killed by signal ") + std::to_string(child.signal) + " (" +
                    strsignal(child.signal) + ")";
      }
      break;
    case K::kExited:
      if (!have) {
        const std::string said = status_of_exit_code(child.exit_code);
        r.status = said.empty() || said == "ok" ? "crash" : said;
        r.message = "exited with code " + std::to_string(child.exit_code) +
                    (said.empty() ? "" : " (" + said + ")") + " without a result";
      }
      break;
    case K::kInterrupted:
      break;
  }
  r.wall_s = child.wall_s;
  r.metrics["child_peak_rss_bytes"] = child.peak_rss_bytes;
  if (!r.ok()) r.output_tail = child.output_tail;
  return r;
}

void print_summary(const std::vector<ResultRow>& rows) {
  if (rows.empty()) return;
  std::printf("\n%-16s %-12s %-14s %6s %-11s %12s %10s %10s\n", "model", "backend", "scenario",
              "batch", "status", "images/s", "p50_ms", "p99_ms");
  for (const auto& r : rows) {
    std::printf("%-16s %-12s %-14s %6lld %-11s %12.2f %10.2f %10.2f%s\n", r.cell.model.name.c_str(),
                r.cell.backend.c_str(), r.cell.scenario.c_str(),
                static_cast<long long>(r.cell.batch), r.status.c_str(), r.metric("throughput_ips"),
                r.latency("p50"), r.latency("p99"), r.warning.empty() ? "" : "  (unstable)");
  }
}

}  // namespace

void append_result(const fs::path& file, const ResultRow& row) {
  const std::string line = to_json(row).dump() + "\n";
  FILE* f = std::fopen(file.c_str(), "a");
  if (!f)
    throw Error("cannot append to result file '" + file.string() + "': " + std::strerror(errno));
  const bool ok = std::fwrite(line.data(), 1, line.size(), f) == line.size() &&
                  std::fflush(f) == 0 && fsync(fileno(f)) == 0;
  std::fclose(f);
  if (!ok) throw Error("cannot write result file '" + file.string() + "': " + std::strerror(errno));
}

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
  for (const auto& m : models) zoo::check_model_source(m);
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
  for (size_t i = 0; i < arms.size(); ++i) {
    if (arms[i].empty()) throw Error("--arms has an empty label");
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
      std::none_of(scenarios.begin(), scenarios.end(),
                   [](const std::string& s) { return s == "server" || s == "single-stream"; }))
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
      for (const auto& v : values) validate_settings(info, {{key, v}});
  }
  for (const auto& [b, _] : settings)
    if (std::find(backends.begin(), backends.end(), b) == backends.end())
      throw Error("--set names backend '" + b + "', which is not in --backends");
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
            if (scenario == "ensemble") {
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
              if (scenario == "offline") {
                for (int64_t b : fixed ? std::vector<int64_t>{fixed} : study.batches)
                  for (int n : study.concurrencies) {
                    c.batch = b;
                    c.concurrency = n;
                    round.push_back(c);
                  }
              } else if (scenario == "load") {
                round.push_back(c);
              } else if (scenario == "single-stream") {
                for (const auto& t : study.transports) {
                  c.transport = t == "in-process" ? "" : t;
                  round.push_back(c);
                }
              } else if (scenario == "server") {
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
  if (!study.resume && fs::exists(study.out) && fs::file_size(study.out) > 0)
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

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

bool counts_as_run(const std::string& status) { return status.rfind("slurm_", 0) != 0; }

std::set<std::string> finished_keys(const fs::path& file) {
  std::set<std::string> keys;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.contains("cell_key") &&
        counts_as_run(j.value("status", std::string())))
      keys.insert(j["cell_key"].get<std::string>());
  }
  return keys;
}

int run_cells(const std::vector<CellSpec>& cells, const CellRunner& study) {
  const std::set<std::string> done =
      study.resume ? finished_keys(study.out) : std::set<std::string>{};

  const Machine machine = read_machine();
  const nlohmann::json env = to_json(machine);
  const int threads = study.threads > 0 ? study.threads : machine.cores_used;
  const double peak = machine.peak_fp32_flops * threads / std::max(1, machine.cores_used);
  const fs::path program = fs::read_symlink("/proc/self/exe");
  const fs::path work = fs::temp_directory_path() / ("infermark-sweep-" + std::to_string(getpid()));
  fs::create_directories(work);

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  const bool tty = isatty(STDERR_FILENO);
  size_t todo = 0;
  for (const auto& c : cells) todo += !done.count(cell_key(c));
  if (!study.quiet)
    std::fprintf(
        stderr, "%zu cells%s (%zu already in %s), results to %s\n", cells.size(),
        study.rounds > 1 ? (" in " + std::to_string(study.rounds) + " rounds").c_str() : "",
        cells.size() - todo, study.out.c_str(), study.out.c_str());

  std::vector<ResultRow> rows;
  const auto t0 = std::chrono::steady_clock::now();
  size_t finished = 0;
  for (const auto& spec : cells) {
    const std::string key = cell_key(spec);
    if (done.count(key)) continue;
    if (g_interrupted) break;
    if (study.keep_going && !study.keep_going()) break;
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const std::string left = finished > 0
                                 ? "~" + duration(elapsed / finished * (todo - finished)) + " left"
                                 : "time left unknown";
    if (tty)
      std::fprintf(stderr, "\r\033[K[%zu/%zu] %s elapsed, %s | %s", finished + 1, todo,
                   duration(elapsed).c_str(), left.c_str(), describe(spec).c_str());

    const std::string model_error = spec.model.first_error();
    std::vector<std::string> phases = {""};
    if (!model_error.empty()) phases.clear();
    if (spec.scenario == "load") phases = {"cold", "warm"};
    const fs::path cache = work / ("cache-" + key);
    ResultRow result;
    for (const auto& phase : phases) {
      CellSpec run = spec;
      run.peak_fp32_flops = peak;
      run.load_phase = phase;
      if (!phase.empty()) run.load_cache_dir = cache.string();
      const fs::path spec_file = work / "spec.json", result_file = work / "result.json";
      std::ofstream(spec_file) << to_json(run).dump();
      fs::remove(result_file);
      const ChildOutcome child =
          run_child({program.string(), "_cell", "--spec", spec_file.string(), "--result",
                     result_file.string()},
                    study.cell_timeout_s, study.memory_limit_bytes, g_interrupted);
      if (child.kind == ChildOutcome::Kind::kInterrupted) break;
      ResultRow r = classify(run, child, result_file, study);
      if (phase.empty() || phase == phases.front()) result = r;
      if (!phase.empty()) {
        // Both phases land in one row: load_cold_ms, first_inference_cold_ms, cache_cold, ...
        auto& m = result.metrics;
        m["load_" + phase + "_ms"] = r.metrics.value("load_ms", 0.0);
        m["framework_startup_" + phase + "_ms"] = r.metrics.value("framework_startup_ms", 0.0);
        m["first_inference_" + phase + "_ms"] = r.metrics.value("first_inference_ms", 0.0);
        m["cache_" + phase] = r.settings_in_effect.value("cache", "");
        if (!r.ok() && result.ok()) {
          result.status = r.status;
          result.message = phase + " load: " + r.message;
        }
      }
      if (!result.ok()) break;
    }
    fs::remove_all(cache);
    if (g_interrupted) break;
    if (!model_error.empty()) {
      result = unrun_row(spec);
      result.status = "error";
      result.message = model_error;
    }
    result.cell = spec;  // as asked: the child's copy carries the parent's run-time context
    result.cell_key = key;
    result.time_utc = utc_now();
    result.env = env;
    if (result.node.empty()) result.node = this_node();
    append_result(study.out, result);
    rows.push_back(result);
    ++finished;
    std::string figure;
    if (!std::isnan(result.metric("throughput_ips")))
      figure = ": " + std::to_string(result.metric("throughput_ips")).substr(0, 7) + " images/s";
    if (!std::isnan(result.metric("load_cold_ms")))
      figure = ": load cold " + std::to_string(result.metric("load_cold_ms")).substr(0, 7) + " ms";
    if (!result.ok()) figure = ": " + result.message;
    if (tty) std::fprintf(stderr, "\r\033[K");
    std::fprintf(stderr, "[%zu/%zu] %s %s%s\n", finished, todo, result.status.c_str(),
                 describe(spec).c_str(), figure.c_str());
  }
  fs::remove_all(work);
  if (!study.quiet) print_summary(rows);
  if (g_interrupted) {
    std::fprintf(stderr, "interrupted: %zu finished cells kept in %s; --resume continues\n",
                 finished, study.out.c_str());
    return 130;
  }
  return 0;
}

double estimate_seconds(const Study& study) {
  const Machine machine = read_machine();
  const int threads = study.threads > 0 ? study.threads : machine.cores_used;
  const double effective =
      0.5 * machine.peak_fp32_flops * threads / std::max(1, machine.cores_used);
  const RunLimits& l = study.limits;
  double total = 0;
  for (const auto& c : expand(study)) {
    const double iteration = c.batch * c.model.total_flops_per_image() / effective;
    double cell = 2.0;  // process start and load
    if (c.scenario == "load")
      cell = 2 * (2.0 + iteration);
    else if (c.scenario == "server")
      cell += (c.peak_slo_p99_ms ? 10 : 1) *
              std::max(study.server_duration_s, study.server_min_queries * iteration);
    else
      cell += std::max(l.warmup_s, iteration) +
              std::max(l.min_duration_s, l.min_iterations * iteration);
    total += cell;
  }
  return total;
}

}  // namespace infermark
