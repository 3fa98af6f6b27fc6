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
#include <set>

#include "backends/registry.h"
#include "backends/settings.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/machine.h"
#include "core/onnx_io.h"
#include "core/stats.h"
#include "sweep/child_process.h"

namespace infermark {
namespace fs = std::filesystem;
namespace {

std::atomic<bool> g_interrupted{false};  // set by SIGINT/SIGTERM only
void on_signal(int) { g_interrupted = true; }

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

std::string fnv_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> buf(1 << 20);
  uint64_t h = fnv1a("");
  while (in.read(buf.data(), buf.size()) || in.gcount() > 0)
    h = fnv1a(std::string_view(buf.data(), static_cast<size_t>(in.gcount())), h);
  return hex64(h);
}

// The parts of a result line that come from the cell's definition alone.
nlohmann::json base_result(const CellSpec& spec) {
  nlohmann::json r = {{"schema", kResultSchema},
          {"model", spec["model"]},
          {"backend", {{"name", spec["backend"]}, {"settings_asked", spec["settings"]}}},
          {"scenario", spec["scenario"]},
          {"batch", spec["batch"]},
          {"threads", spec["threads"]},
          {"repeat", spec["repeat"]},
          {"metrics", nlohmann::json::object()}};
  for (const char* k : {"server", "peak"})  // what identifies a server cell
    if (spec.contains(k)) r[k] = spec[k];
  return r;
}

// What a cell needs to know of a model, computed once in the parent. A model that cannot
// be read becomes {"name", "error"}: its cells are recorded as errors, the others run.
nlohmann::json describe_model(const std::string& name, const zoo::Options& options) try {
  const fs::path path = fs::absolute(zoo::model_file(name, options));
  const ModelStats s = compute_stats(load_onnx(path), name);
  return {{"name", name},
          {"path", path.string()},
          {"hash", "fnv1a64:" + fnv_file(path)},
          {"file_bytes", static_cast<int64_t>(fs::file_size(path))},
          {"input_shape", s.input_shape},
          {"parameters", s.parameters},
          {"flops_per_image", s.flops},
          {"stats", to_json(s)}};
} catch (const Error& e) {
  return {{"name", name}, {"error", e.what()}};
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
  std::string s = c["model"]["name"].get<std::string>() + " " + c["backend"].get<std::string>() +
                  " " + c["scenario"].get<std::string>();
  const std::string scenario = c["scenario"];
  if (scenario == "offline" || scenario == "ensemble") s += " batch " + std::to_string(c["batch"].get<int64_t>());
  if (scenario == "server") {
    const auto& sv = c["server"];
    s += c.contains("peak") ? " find-peak" : " " + std::to_string(sv["rate_qps"].get<double>()).substr(0, 6) + " qps";
    s += sv["max_batch"].get<int64_t>() > 1 ? " batching" : " no batching";
  }
  for (const auto& [k, v] : c["settings"].items()) s += " " + k + "=" + v.get<std::string>();
  if (c["repeat"].get<int>() > 0) s += " #" + std::to_string(c["repeat"].get<int>());
  return s;
}

std::string duration(double s) {
  char buf[32];
  if (s < 60) std::snprintf(buf, sizeof buf, "%.0fs", s);
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%dm%02ds", int(s) / 60, int(s) % 60);
  else std::snprintf(buf, sizeof buf, "%dh%02dm", int(s) / 3600, int(s) % 3600 / 60);
  return buf;
}

// Appends one whole line and flushes it to disk before the next cell starts.
void append_line(const fs::path& file, const nlohmann::json& j) {
  const std::string line = j.dump() + "\n";
  FILE* f = std::fopen(file.c_str(), "a");
  if (!f) throw Error("cannot append to result file '" + file.string() + "': " + std::strerror(errno));
  const bool ok = std::fwrite(line.data(), 1, line.size(), f) == line.size() && std::fflush(f) == 0 &&
                  fsync(fileno(f)) == 0;
  std::fclose(f);
  if (!ok) throw Error("cannot write result file '" + file.string() + "': " + std::strerror(errno));
}

std::set<std::string> finished_keys(const fs::path& file) {
  std::set<std::string> keys;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.contains("cell_key")) keys.insert(j["cell_key"].get<std::string>());
  }
  return keys;
}

// Classifies a cell from the child's result file and how the child ended.
nlohmann::json classify(const CellSpec& spec, const ChildOutcome& child, const fs::path& result_file,
                        const Study& study) {
  nlohmann::json r;
  std::ifstream in(result_file);
  if (in) r = nlohmann::json::parse(in, nullptr, false);
  const bool have = r.is_object() && r.contains("status");
  if (!have) r = base_result(spec);
  using K = ChildOutcome::Kind;
  switch (child.kind) {
    case K::kTimedOut:
      r["status"] = "timeout";
      r["message"] = "no result after --cell-timeout " + std::to_string(int(study.cell_timeout_s)) + " s";
      break;
    case K::kMemoryExceeded:
      r["status"] = "oom";
      r["message"] = "resident memory passed --memory-limit (" +
                     std::to_string(study.memory_limit_bytes >> 20) + " MiB)";
      break;
    case K::kSignaled:
      if (child.signal == SIGKILL) {
        r["status"] = "oom";
        r["message"] = "killed by SIGKILL, most likely by the kernel's out-of-memory killer";
      } else {
        r["status"] = "crash";
        r["message"] = std::string("killed by signal ") + std::to_string(child.signal) + " (" +
                       strsignal(child.signal) + ")";
      }
      break;
    case K::kExited:
      if (!have) {
        r["status"] = "crash";
        r["message"] = "exited with code " + std::to_string(child.exit_code) + " without a result";
      }
      break;
    case K::kInterrupted:
      break;
  }
  r["wall_s"] = child.wall_s;
  r["metrics"]["child_peak_rss_bytes"] = child.peak_rss_bytes;
  if (r["status"] != "ok") r["output_tail"] = child.output_tail;
  return r;
}

void print_summary(const std::vector<nlohmann::json>& rows) {
  if (rows.empty()) return;
  std::printf("\n%-16s %-12s %-14s %6s %-11s %12s %10s %10s\n", "model", "backend", "scenario",
              "batch", "status", "images/s", "p50_ms", "p99_ms");
  for (const auto& r : rows) {
    const auto& m = r["metrics"];
    auto num = [&](const nlohmann::json& j, const char* k) {
      return j.contains(k) && j[k].is_number() ? j[k].get<double>() : NAN;
    };
    const nlohmann::json lat = r.value("latency_ms", nlohmann::json::object());
    std::printf("%-16s %-12s %-14s %6lld %-11s %12.2f %10.2f %10.2f%s\n",
                r["model"]["name"].get<std::string>().c_str(),
                r["backend"]["name"].get<std::string>().c_str(),
                r["scenario"].get<std::string>().c_str(), static_cast<long long>(r.value("batch", 0)),
                r["status"].get<std::string>().c_str(), num(m, "throughput_ips"), num(lat, "p50"),
                num(lat, "p99"), r.contains("warning") ? "  (unstable)" : "");
  }
}

}  // namespace

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
  for (const char* k : {"warmup_s", "min_duration_s", "max_duration_s"})
    if (limits.contains(k) && limits[k].get<double>() < 0)
      throw Error(std::string("--") + k + " " + limits[k].dump() + " is invalid: must be >= 0");
  if (limits.value("min_iterations", 1) < 1) throw Error("--min-iterations must be >= 1");
  if (limits.contains("max_duration_s") && limits.contains("min_duration_s") &&
      limits["max_duration_s"].get<double>() < limits["min_duration_s"].get<double>())
    throw Error("--max-duration is below --min-duration");
  for (double r : rates)
    if (!(r > 0)) throw Error("--rate " + std::to_string(r) + " is invalid: must be > 0");
  if (max_batch < 1) throw Error("--max-batch " + std::to_string(max_batch) + " is invalid: must be >= 1");
  if (max_queue_delay_ms < 0) throw Error("--max-queue-delay-ms must be >= 0");
  if (cell_timeout_s <= 0) throw Error("--cell-timeout must be > 0 seconds");
  if (memory_limit_bytes < 0) throw Error("--memory-limit must be >= 0");
  if (repeat < 1) throw Error("--repeat " + std::to_string(repeat) + " is invalid: must be >= 1");
  if (threads < 0) throw Error("--threads " + std::to_string(threads) + " is invalid: must be >= 0");
  zoo.validate();
  BackendRegistry registry;
  for (const auto& b : backends) {
    const BackendInfo& info = registry.info(b);  // throws: unknown or not available
    for (const auto& [key, values] : settings.count(b) ? settings.at(b) : decltype(settings)::mapped_type{})
      for (const auto& v : values) validate_settings(info, {{key, v}});
  }
  for (const auto& [b, _] : settings)
    if (std::find(backends.begin(), backends.end(), b) == backends.end())
      throw Error("--set names backend '" + b + "', which is not in --backends");
}

std::vector<CellSpec> expand(const Study& study) {
  std::vector<CellSpec> cells;
  std::map<std::string, nlohmann::json> described;
  auto model = [&](const std::string& name) -> const nlohmann::json& {
    if (!described.count(name)) described[name] = describe_model(name, study.zoo);
    return described[name];
  };
  // Ensembles: zoo ensembles named in --models, else all the models listed as one.
  std::vector<nlohmann::json> ensembles;
  std::vector<std::string> singles;
  for (const auto& name : study.models) {
    const bool is_ensemble = std::any_of(zoo::entries().begin(), zoo::entries().end(),
                                         [&](const zoo::Entry& e) { return e.name == name && !e.members.empty(); });
    if (is_ensemble) {
      nlohmann::json e = {{"name", name}, {"members", nlohmann::json::array()}};
      for (const auto& m : zoo::find(name).members) e["members"].push_back(model(m));
      e["input_shape"] = e["members"][0]["input_shape"];
      ensembles.push_back(e);
    } else {
      singles.push_back(name);
    }
  }
  const bool wants_ensemble = std::count(study.scenarios.begin(), study.scenarios.end(), "ensemble");
  if (wants_ensemble && ensembles.empty() && singles.size() > 1) {
    nlohmann::json e = {{"name", ""}, {"members", nlohmann::json::array()}};
    std::string name;
    for (const auto& m : singles) {
      e["members"].push_back(model(m));
      name += (name.empty() ? "" : "+") + m;
    }
    e["name"] = name;
    e["input_shape"] = e["members"][0]["input_shape"];
    ensembles.push_back(e);
  }

  for (const auto& backend : study.backends) {
    const auto axes = study.settings.count(backend) ? study.settings.at(backend)
                                                    : std::map<std::string, std::vector<std::string>>{};
    for (const auto& settings : combinations(axes))
      for (int rep = 0; rep < study.repeat; ++rep)
        for (const auto& scenario : study.scenarios) {
          CellSpec base = {{"backend", backend}, {"settings", settings}, {"scenario", scenario},
                           {"threads", study.threads}, {"repeat", rep}, {"seed", study.zoo.seed},
                           {"limits", study.limits}, {"batch", 1}};
          if (scenario == "ensemble") {
            for (const auto& e : ensembles)
              for (int64_t b : study.batches) {
                CellSpec c = base;
                c["model"] = e;
                c["batch"] = b;
                cells.push_back(c);
              }
            continue;
          }
          for (const auto& name : singles) {
            CellSpec c = base;
            c["model"] = model(name);
            if (scenario == "offline") {
              for (int64_t b : study.batches) {
                c["batch"] = b;
                cells.push_back(c);
              }
            } else if (scenario == "single-stream") {
              cells.push_back(c);
            } else if (scenario == "load") {
              c["load"] = {{"phases", {"cold", "warm"}}};
              cells.push_back(c);
            } else if (scenario == "server") {
              for (int64_t max_batch : {study.max_batch, int64_t{1}}) {
                c["server"] = {{"max_batch", max_batch},
                               {"max_queue_delay_ms", max_batch > 1 ? study.max_queue_delay_ms : 0.0},
                               {"duration_s", study.server_duration_s},
                               {"min_queries", study.server_min_queries},
                               {"seed", study.zoo.seed}};
                if (study.find_peak) {
                  c["peak"] = {{"slo_p99_ms", study.slo_p99_ms}};
                  c["server"]["rate_qps"] = study.rates.front();
                  cells.push_back(c);
                } else {
                  for (double rate : study.rates) {
                    c["server"]["rate_qps"] = rate;
                    cells.push_back(c);
                  }
                }
                if (study.max_batch == 1) break;
              }
            }
          }
        }
  }
  return cells;
}

int run_study(const Study& study) {
  study.validate();
  if (!study.resume && fs::exists(study.out) && fs::file_size(study.out) > 0)
    throw Error("result file '" + study.out.string() +
                "' already has results: pass --resume to continue it, or choose another --out");
  std::fprintf(stderr, "preparing models...\n");
  const std::vector<CellSpec> cells = expand(study);
  const std::set<std::string> done = study.resume ? finished_keys(study.out) : std::set<std::string>{};

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
  std::fprintf(stderr, "%zu cells (%zu already in %s), results to %s\n", cells.size(),
               cells.size() - todo, study.out.c_str(), study.out.c_str());

  std::vector<nlohmann::json> rows;
  const auto t0 = std::chrono::steady_clock::now();
  size_t finished = 0;
  for (const auto& spec : cells) {
    const std::string key = cell_key(spec);
    if (done.count(key)) continue;
    if (g_interrupted) break;
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const std::string left = finished > 0 ? "~" + duration(elapsed / finished * (todo - finished)) + " left" : "time left unknown";
    if (tty)
      std::fprintf(stderr, "\r\033[K[%zu/%zu] %s elapsed, %s | %s", finished + 1, todo,
                   duration(elapsed).c_str(), left.c_str(), describe(spec).c_str());

    std::string model_error = spec["model"].value("error", "");
    if (spec["model"].contains("members"))
      for (const auto& m : spec["model"]["members"])
        if (model_error.empty()) model_error = m.value("error", "");

    std::vector<std::string> phases = {""};
    if (!model_error.empty()) phases.clear();
    if (spec.contains("load")) phases = spec["load"]["phases"].get<std::vector<std::string>>();
    const fs::path cache = work / ("cache-" + key);
    nlohmann::json result;
    for (const auto& phase : phases) {
      CellSpec run = spec;
      run["peak_fp32_flops"] = peak;
      if (!phase.empty()) run["load"] = {{"phase", phase}, {"cache_dir", cache.string()}};
      const fs::path spec_file = work / "spec.json", result_file = work / "result.json";
      std::ofstream(spec_file) << run.dump();
      fs::remove(result_file);
      const ChildOutcome child = run_child({program.string(), "_cell", "--spec", spec_file.string(),
                                            "--result", result_file.string()},
                                           study.cell_timeout_s, study.memory_limit_bytes, g_interrupted);
      if (child.kind == ChildOutcome::Kind::kInterrupted) break;
      nlohmann::json r = classify(run, child, result_file, study);
      if (phase.empty()) {
        result = r;
      } else if (phase == phases.front()) {
        result = r;
        auto& m = result["metrics"];
        m["load_" + phase + "_ms"] = m.value("load_ms", 0.0);
        m["first_inference_" + phase + "_ms"] = m.value("first_inference_ms", 0.0);
        m["cache_" + phase] = r["backend"].value("settings_in_effect", nlohmann::json::object()).value("cache", "");
      } else {
        auto& m = result["metrics"];
        m["load_" + phase + "_ms"] = r["metrics"].value("load_ms", 0.0);
        m["first_inference_" + phase + "_ms"] = r["metrics"].value("first_inference_ms", 0.0);
        m["cache_" + phase] = r["backend"].value("settings_in_effect", nlohmann::json::object()).value("cache", "");
        if (r["status"] != "ok" && result["status"] == "ok") {
          result["status"] = r["status"];
          result["message"] = phase + " load: " + r.value("message", "");
        }
      }
      if (result["status"] != "ok") break;
    }
    fs::remove_all(cache);
    if (g_interrupted) break;
    if (!model_error.empty()) {
      result = base_result(spec);
      result["status"] = "error";
      result["message"] = model_error;
    }
    result["cell_key"] = key;
    result["time_utc"] = utc_now();
    result["env"] = env;
    append_line(study.out, result);
    rows.push_back(result);
    ++finished;
    const auto& m = result["metrics"];
    std::string figure;
    if (m.contains("throughput_ips")) figure = ": " + std::to_string(m["throughput_ips"].get<double>()).substr(0, 7) + " images/s";
    if (m.contains("load_cold_ms")) figure = ": load cold " + std::to_string(m["load_cold_ms"].get<double>()).substr(0, 7) + " ms";
    if (result["status"] != "ok") figure = ": " + result.value("message", "");
    if (tty) std::fprintf(stderr, "\r\033[K");
    std::fprintf(stderr, "[%zu/%zu] %s %s%s\n", finished, todo, result["status"].get<std::string>().c_str(),
                 describe(spec).c_str(), figure.c_str());
  }
  fs::remove_all(work);
  print_summary(rows);
  if (!study.csv.empty()) write_csv(study.out, study.csv);
  if (g_interrupted) {
    std::fprintf(stderr, "interrupted: %zu finished cells kept in %s; --resume continues\n", finished,
                 study.out.c_str());
    return 130;
  }
  return 0;
}

double estimate_seconds(const Study& study) {
  const Machine machine = read_machine();
  const int threads = study.threads > 0 ? study.threads : machine.cores_used;
  const double effective = 0.5 * machine.peak_fp32_flops * threads / std::max(1, machine.cores_used);
  const double warmup = study.limits.value("warmup_s", 0.5);
  const double min_s = study.limits.value("min_duration_s", 2.0);
  const int64_t min_it = study.limits.value("min_iterations", int64_t{10});
  double total = 0;
  for (const auto& c : expand(study)) {
    double flops = 0;
    if (c["model"].contains("members")) {
      for (const auto& m : c["model"]["members"]) flops += m.value("flops_per_image", 0.0);
    } else {
      flops = c["model"].value("flops_per_image", 0.0);
    }
    const double iteration = c["batch"].get<int64_t>() * flops / effective;
    const std::string scenario = c["scenario"];
    double cell = 2.0;  // process start and load
    if (scenario == "load") cell = 2 * (2.0 + iteration);
    else if (scenario == "server")
      cell += (c.contains("peak") ? 10 : 1) * std::max(study.server_duration_s, study.server_min_queries * iteration);
    else cell += std::max(warmup, iteration) + std::max(min_s, min_it * iteration);
    total += cell;
  }
  return total;
}

void write_csv(const fs::path& jsonl, const fs::path& csv) {
  std::ifstream in(jsonl);
  if (!in) throw Error("cannot read result file '" + jsonl.string() + "'");
  std::ofstream out(csv);
  if (!out) throw Error("cannot write '" + csv.string() + "'");
  auto field = [](std::string s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  auto num = [](const nlohmann::json& j, const char* k) -> std::string {
    return j.is_object() && j.contains(k) && j[k].is_number() ? j[k].dump() : "";
  };
  out << "model,backend,backend_version,settings,scenario,batch,threads,repeat,status,"
         "throughput_ips,latency_mean_ms,latency_p50_ms,latency_p99_ms,latency_cv,stable,load_ms,"
         "load_cold_ms,load_warm_ms,rss_peak_bytes,energy_j,share_of_peak,message\n";
  std::string line;
  while (std::getline(in, line)) {
    const auto r = nlohmann::json::parse(line, nullptr, false);
    if (r.is_discarded()) continue;
    std::string settings;
    // Named: value() returns a copy, which must outlive the loop over its items.
    const auto asked = r["backend"].value("settings_asked", nlohmann::json::object());
    for (const auto& [k, v] : asked.items())
      settings += (settings.empty() ? "" : ";") + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
    const auto& m = r["metrics"];
    const auto lat = r.value("latency_ms", nlohmann::json::object());
    out << field(r["model"].value("name", "")) << "," << field(r["backend"].value("name", "")) << ","
        << field(r["backend"].value("version", "")) << "," << field(settings) << ","
        << r.value("scenario", "") << "," << r.value("batch", 0) << "," << r.value("threads", 0) << ","
        << r.value("repeat", 0) << "," << r.value("status", "") << "," << num(m, "throughput_ips") << ","
        << num(lat, "mean") << "," << num(lat, "p50") << "," << num(lat, "p99") << "," << num(lat, "cv")
        << "," << (lat.contains("stable") ? lat["stable"].dump() : "") << "," << num(m, "load_ms") << ","
        << num(m, "load_cold_ms") << "," << num(m, "load_warm_ms") << "," << num(m, "rss_peak_bytes")
        << "," << num(m, "energy_j") << "," << num(m, "share_of_peak") << ","
        << field(r.value("message", "")) << "\n";
  }
}

}  // namespace infermark
