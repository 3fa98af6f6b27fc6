#include "sweep/cell.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <new>

#include "backends/registry.h"
#include "backends/settings.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/npy.h"
#include "meters/energy.h"
#include "meters/memory.h"
#include "scenarios/scenario.h"

namespace infermark {
namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

RunLimits limits_of(const nlohmann::json& j) {
  RunLimits l;
  l.warmup_s = j.value("warmup_s", l.warmup_s);
  l.warmup_iterations = j.value("warmup_iterations", l.warmup_iterations);
  l.min_duration_s = j.value("min_duration_s", l.min_duration_s);
  l.min_iterations = j.value("min_iterations", l.min_iterations);
  l.max_duration_s = j.value("max_duration_s", l.max_duration_s);
  return l;
}

ServerConfig server_of(const nlohmann::json& j) {
  ServerConfig c;
  c.rate_qps = j.value("rate_qps", c.rate_qps);
  c.max_batch = j.value("max_batch", c.max_batch);
  c.max_queue_delay_ms = j.value("max_queue_delay_ms", c.max_queue_delay_ms);
  c.duration_s = j.value("duration_s", c.duration_s);
  c.min_queries = j.value("min_queries", c.min_queries);
  c.seed = j.value("seed", c.seed);
  return c;
}

// Reads the whole file once, so that load times compare frameworks, not the disk: the
// operating system's file cache is warm for every load (recorded as such).
void warm_file_cache(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> buf(1 << 20);
  while (in.read(buf.data(), buf.size()) || in.gcount() > 0) {
  }
}

std::vector<int64_t> image_dims(const nlohmann::json& model) {
  return model.at("input_shape").get<std::vector<int64_t>>();  // C, H, W
}

void run_scenario(const CellSpec& spec, Backend& backend, const Settings& settings,
                  nlohmann::json& result) {
  const std::string scenario = spec.at("scenario");
  const int64_t batch = spec.value("batch", int64_t{1});
  const int threads = spec.value("threads", 0);
  nlohmann::json& metrics = result["metrics"];
  SteadyClock clock;

  std::vector<nlohmann::json> models;
  if (spec["model"].contains("members")) {
    for (const auto& m : spec["model"]["members"]) models.push_back(m);
  } else {
    models.push_back(spec["model"]);
  }
  for (const auto& m : models) warm_file_cache(m.at("path"));
  metrics["os_file_cache"] = "warm";

  // What the engine is compiled for: the batch it will run (static shapes where the
  // framework benefits), or any batch for the server's dynamic batcher.
  int64_t load_batch = batch;
  if (scenario == "single-stream") load_batch = 1;
  if (scenario == "server") load_batch = 0;

  MemoryMeter memory;
  memory.start();
  std::vector<std::unique_ptr<Engine>> engines;
  std::vector<Engine*> raw;
  const auto t_load = std::chrono::steady_clock::now();
  for (const auto& m : models) {
    engines.push_back(backend.load({m.at("path").get<std::string>(), settings, threads, load_batch}));
    raw.push_back(engines.back().get());
  }
  metrics["load_ms"] = ms_since(t_load);
  nlohmann::json load_memory;
  memory.stop(load_memory);
  metrics["rss_after_load_bytes"] = load_memory["rss_after_bytes"];
  metrics["rss_before_load_bytes"] = load_memory["rss_before_bytes"];

  std::vector<int64_t> shape = {scenario == "single-stream" ? 1 : batch};
  if (scenario == "server") shape[0] = spec.at("server").value("max_batch", int64_t{8});
  for (int64_t d : image_dims(models.front())) shape.push_back(d);
  const Tensor input = random_input(shape, spec.value("seed", uint64_t{1}));

  if (scenario == "load") {
    Tensor out;
    const auto t0 = std::chrono::steady_clock::now();
    raw.front()->run(view(input), out);
    metrics["first_inference_ms"] = ms_since(t0);
    result["backend"]["settings_in_effect"] = raw.front()->settings_in_effect();
    return;
  }

  auto energy = make_energy_meters();
  MemoryMeter run_memory;
  run_memory.start();
  for (auto& m : energy) m->start();
  ScenarioResult r;
  const RunLimits limits = limits_of(spec.value("limits", nlohmann::json::object()));
  if (scenario == "offline") {
    r = run_offline(*raw.front(), input, limits, clock);
  } else if (scenario == "single-stream") {
    r = run_single_stream(*raw.front(), input, limits, clock);
  } else if (scenario == "server") {
    const ServerConfig config = server_of(spec.at("server"));
    if (spec.contains("peak")) {
      PeakSearch search;
      search.slo_p99_ms = spec["peak"].value("slo_p99_ms", search.slo_p99_ms);
      // Bracket the search around what one request after another achieves, so that no
      // probe crawls at a rate far below the engine's (each probe serves min_queries).
      RunLimits quick;
      quick.warmup_s = 0;
      quick.min_duration_s = 0.5;
      quick.min_iterations = 3;
      quick.max_duration_s = 5;
      const double single =
          run_single_stream(*raw.front(), input, quick, clock).metrics["throughput_ips"].get<double>();
      search.lo_qps = std::max(0.1, 0.25 * single);
      search.hi_qps = std::max(2 * search.lo_qps, 2 * single);
      const PeakResult peak = find_peak(*raw.front(), input, config, search, clock);
      metrics["peak_qps"] = peak.peak_qps;
      metrics["slo_p99_ms"] = search.slo_p99_ms;
      metrics["probes"] = peak.probes;
      ServerConfig at_peak = config;
      at_peak.rate_qps = peak.peak_qps > 0 ? peak.peak_qps : search.lo_qps;
      r = run_server(*raw.front(), input, at_peak, clock);
    } else {
      r = run_server(*raw.front(), input, config, clock);
    }
  } else if (scenario == "ensemble") {
    r = run_ensemble(raw, input, limits, clock);
  } else {
    throw Error("unknown scenario '" + scenario + "'");
  }
  for (auto& m : energy) m->stop(metrics);
  run_memory.stop(metrics);
  for (const auto& [k, v] : r.metrics.items()) metrics[k] = v;
  result["latency_ms"] = to_json(r.latency_ms);
  if (!r.latency_ms.stable) result["warning"] = r.latency_ms.warning;

  const double images = metrics.value("images", 0.0);
  if (metrics.contains("energy_j") && metrics["energy_j"].is_number() && images > 0)
    metrics["energy_per_image_j"] = metrics["energy_j"].get<double>() / images;
  const double flops = spec["model"].value("flops_per_image", 0.0);
  const double peak = spec.value("peak_fp32_flops", 0.0);
  if (metrics.contains("throughput_ips") && flops > 0 && peak > 0)
    metrics["share_of_peak"] = metrics["throughput_ips"].get<double>() * flops / peak;
  result["backend"]["settings_in_effect"] = raw.front()->settings_in_effect();
}

}  // namespace

std::string cell_key(const CellSpec& spec) { return hex64(fnv1a(spec.dump())); }

nlohmann::json run_cell(const CellSpec& spec) {
  nlohmann::json result = {{"schema", kResultSchema},
                           {"cell_key", cell_key(spec)},
                           {"model", spec.value("model", nlohmann::json::object())},
                           {"backend", {{"name", spec.value("backend", "")}}},
                           {"scenario", spec.value("scenario", "")},
                           {"batch", spec.value("batch", 1)},
                           {"threads", spec.value("threads", 0)},
                           {"repeat", spec.value("repeat", 0)},
                           {"metrics", nlohmann::json::object()}};
  for (const char* k : {"server", "peak"})
    if (spec.contains(k)) result[k] = spec[k];
  try {
    // The framework's banners and warnings belong to the cell's output, which the sweep keeps.
    BackendRegistry registry(BackendRegistry::default_plugin_dirs(),
                             BackendRegistry::FrameworkOutput::kPassThrough);
    Backend& backend = registry.get(spec.at("backend"));
    const BackendInfo info = backend.info();
    result["backend"]["version"] = info.version;
    Settings asked = spec.value("settings", Settings{});
    result["backend"]["settings_asked"] = asked;
    // A framework without a model cache still has a load time: its warm load is a second
    // cold one (it reports cache "none").
    const bool has_cache = std::any_of(info.settings.begin(), info.settings.end(),
                                       [](const SettingSpec& s) { return s.key == "cache_dir"; });
    if (spec.contains("load") && spec["load"].contains("cache_dir") && has_cache)
      asked["cache_dir"] = spec["load"]["cache_dir"];
    const Settings settings = validate_settings(info, asked);
    run_scenario(spec, backend, settings, result);
    result["status"] = "ok";
  } catch (const Unsupported& e) {
    result["status"] = "unsupported";
    result["message"] = e.what();
  } catch (const std::bad_alloc&) {
    result["status"] = "oom";
    result["message"] = "out of memory (std::bad_alloc)";
  } catch (const std::exception& e) {
    result["status"] = "error";
    result["message"] = e.what();
  }
  return result;
}

}  // namespace infermark
