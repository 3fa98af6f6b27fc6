#include "sweep/cell.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <new>

#include "backends/plugin.h"
#include "backends/registry.h"
#include "backends/settings.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/metrics.h"
#include "core/npy.h"
#include "core/statistics.h"
#include "load/load.h"
#include "meters/energy.h"
#include "meters/memory.h"
#include "prepare/prepare.h"
#include "scenarios/scenario.h"
#include "serve/grpc.h"
#include "serve/http.h"
#include "serve/model_server.h"

namespace infermark {
namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// Reads the whole file once, so that load times compare frameworks, not the disk: the
// operating system's file cache is warm for every load (recorded as such).
void warm_file_cache(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> buf(1 << 20);
  while (in.read(buf.data(), buf.size()) || in.gcount() > 0) {
  }
}

// The cell's engine as a served model's, not owned (the cell keeps it).
class BorrowedEngine final : public Engine {
 public:
  explicit BorrowedEngine(Engine& engine) : engine_(engine) {}
  void run(const TensorView& input, Tensor& output) override { engine_.run(input, output); }
  nlohmann::json settings_in_effect() const override { return engine_.settings_in_effect(); }

 private:
  Engine& engine_;
};

// What the transport adds per request, measured paired inside the cell. Blocks of requests
// sent through the transport alternate with blocks run on the engine directly: the same
// engine, input, process and moment, the order switching every pair so that a drift favours
// neither. Each pair gives the difference of its blocks' medians. Between cells (rounds, each
// in a process of its own, seconds apart) the same difference drowns in how much a process's
// speed varies from one start to the next (10 to 20% on a VM).
nlohmann::json paired_overhead(Engine& engine, const Tensor& one, load::Client& client,
                               const serve::InferRequest& request) {
  constexpr int kPairs = 10, kBlock = 20;
  const auto block_median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return percentile(v, 0.5);
  };
  std::vector<double> differences, direct_all, transport_all;
  Tensor out;
  for (int pair = 0; pair < kPairs; ++pair) {
    std::vector<double> direct, transport;
    for (int side = 0; side < 2; ++side) {
      const bool through = (side == 0) == (pair % 2 == 1);
      for (int i = 0; i < kBlock; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        if (through) {
          client.infer(request);
        } else {
          engine.run(view(one), out);
        }
        (through ? transport : direct).push_back(ms_since(t0));
      }
    }
    differences.push_back(block_median(transport) - block_median(direct));
    direct_all.insert(direct_all.end(), direct.begin(), direct.end());
    transport_all.insert(transport_all.end(), transport.begin(), transport.end());
  }
  const MeanInterval d = mean_interval_95(differences);
  return {{"mean", d.mean},
          {"ci95_low", d.low},
          {"ci95_high", d.high},
          {"pairs", kPairs},
          {"block", kBlock},
          {"in_process_p50_ms", block_median(direct_all)},
          {"transport_p50_ms", block_median(transport_all)},
          {"how",
           "blocks of requests through the transport alternating with blocks on the "
           "engine directly, in this cell; mean of the blocks' median differences"}};
}

// The server or single-stream scenario with its requests through `infermark serve`'s
// protocol stack (HTTP or gRPC, on 127.0.0.1 and a free port, in this process) from `infermark
// load`'s generator: the same engine, the same batcher policy, the same seeded arrivals as
// in process, so that the difference is what the protocol and the network stack add.
// search: the peak search of a find-peak cell (its bracket measured as in process); the row's
// figures are then those of the run that confirmed the peak (load::find_peak_load).
ScenarioResult run_over_transport(const CellSpec& spec, Engine& engine, const Tensor& input,
                                  const PeakSearch* search, nlohmann::json& metrics) {
  serve::ModelSignature sig;
  sig.image_shape.assign(input.shape.begin() + 1, input.shape.end());
  const Tensor one = [&] {
    Tensor t;
    std::vector<int64_t> shape = {1};
    shape.insert(shape.end(), sig.image_shape.begin(), sig.image_shape.end());
    t.resize(shape);
    std::copy(input.data.begin(), input.data.begin() + t.numel(), t.data.begin());
    return t;
  }();
  Tensor out;
  engine.run(view(one), out);
  sig.classes = out.shape.back();
  serve::BatchPolicy policy;
  const bool server_scenario = spec.scenario == scenario::kServer;
  const ServerConfig config = spec.server.value_or(ServerConfig{});
  policy.max_batch = server_scenario ? config.max_batch : 1;
  policy.max_queue_delay_ms = server_scenario ? config.max_queue_delay_ms : 0;
  // The in-process scenario refuses nothing: neither does the queue here.
  policy.max_queue = int64_t{1} << 30;
  serve::ModelServer server;
  std::vector<std::unique_ptr<Engine>> engines;
  engines.push_back(std::make_unique<BorrowedEngine>(engine));
  server.add(
      std::make_unique<serve::ServedModel>(spec.model.name, std::move(engines), sig, policy));

  load::Endpoint endpoint{spec.transport == "grpc" ? "grpc" : "http", "127.0.0.1", 0};
  load::ClientOptions options;
  options.binary = spec.transport == "http-binary";
  std::unique_ptr<serve::HttpServer> http;
  std::unique_ptr<serve::GrpcServer> grpc;
  if (endpoint.scheme == "grpc") {
    serve::GrpcOptions options;
    options.port = 0;
    grpc = std::make_unique<serve::GrpcServer>(server, options);
    endpoint.port = grpc->port();
  } else {
    serve::HttpOptions options;
    options.port = 0;
    http = std::make_unique<serve::HttpServer>(server, options);
    endpoint.port = http->port();
  }
  serve::InferRequest request;
  request.model = spec.model.name;
  request.binary_output = options.binary;
  serve::WireTensor in{sig.input_name, "FP32", one.shape, one.data, options.binary};
  request.inputs.push_back(std::move(in));
  const load::Connect connect = [&] { return load::connect(endpoint, options); };

  load::LoadConfig lc;
  lc.seed = config.seed;
  if (server_scenario) {
    lc.rate_qps = config.rate_qps;
    lc.duration_s = config.duration_s;
    lc.min_queries = config.min_queries;
  } else {
    // Warm-up as in process (untimed), then one request after another.
    lc.concurrency = 1;
    lc.duration_s = std::max(spec.limits.warmup_s, 0.05);
    lc.min_queries = spec.limits.warmup_iterations;
    load::run_load(connect, request, lc);
    lc.duration_s = std::max(spec.limits.min_duration_s, 0.05);
    lc.min_queries = spec.limits.min_iterations;
  }
  ScenarioResult r;
  serve::ModelStats before, after;
  if (search != nullptr) {
    // The server's counters around each confirming run: the last one is the row's run.
    PeakResult peak =
        load::find_peak_load(connect, request, lc, *search, [&](const load::LoadConfig& c) {
          before = server.model(spec.model.name).stats();
          ScenarioResult run = load::run_load(connect, request, c);
          after = server.model(spec.model.name).stats();
          return run;
        });
    add_peak_metrics(peak, search->slo_p99_ms, metrics);
    r = std::move(peak.run);
  } else {
    before = server.model(spec.model.name).stats();
    r = load::run_load(connect, request, lc);
    after = server.model(spec.model.name).stats();
  }
  if (!server_scenario) {
    auto client = connect();
    client->live();
    r.metrics["paired_overhead_ms"] = paired_overhead(engine, one, *client, request);
  }
  server.shut_down();
  if (http) http->stop();
  if (grpc) grpc->stop();
  const int64_t batches = after.batches - before.batches;
  const int64_t images = after.images - before.images;
  r.metrics["transport"] = spec.transport;
  r.metrics["batches"] = batches;
  r.metrics["mean_batch"] =
      batches > 0 ? static_cast<double>(images) / static_cast<double>(batches) : 0.0;
  nlohmann::json hist = nlohmann::json::object();
  for (size_t b = 1; b < after.batch_sizes.size(); ++b)
    if (after.batch_sizes[b] > before.batch_sizes[b])
      hist[std::to_string(b)] = after.batch_sizes[b] - before.batch_sizes[b];
  r.metrics["batch_histogram"] = hist;
  // Where a request's time went on the server: waiting for its batch, and the batch's call.
  const int64_t ok = after.succeeded - before.succeeded;
  if (ok > 0) {
    r.metrics["server_queue_ms_mean"] =
        (after.queue_s - before.queue_s) * 1e3 / static_cast<double>(ok);
    r.metrics["server_compute_ms_mean"] =
        (after.request_compute_s - before.request_compute_s) * 1e3 / static_cast<double>(ok);
  }
  if (!server_scenario) r.metrics["iterations"] = r.metrics[metric::kQueries];
  return r;
}

void run_scenario(const CellSpec& spec, Backend& backend, const Capabilities& caps,
                  const Settings& settings, ResultRow& result) {
  const std::string& scenario = spec.scenario;
  nlohmann::json& metrics = result.metrics;
  SteadyClock clock;

  std::vector<ModelRef> models = spec.model.members;
  if (models.empty()) models.push_back(spec.model);

  // The model preparation (prepare/prepare.h) before any framework sees the file: the cell's
  // own (simplify or none), plus what this framework needs to load it at all. Its time is
  // neither start-up nor load time.
  PrepareOptions prepare = preparation_options(spec.preparation);
  prepare.opset_at_least = caps.min_opset;
  prepare_for_precision(prepare, spec.precision);
  const auto t_prepare = std::chrono::steady_clock::now();
  std::vector<std::string> files;
  nlohmann::json prepared = nlohmann::json::array();
  for (const auto& m : models) {
    // The image size the model was described at fills the dimensions the file leaves free.
    const nlohmann::json in = m.stats.is_object() ? m.stats.value("input", nlohmann::json::object())
                                                  : nlohmann::json::object();
    prepare.height = prepare.width = 0;
    if (m.input_shape.size() == 3 && in.value("free_image", false)) {
      const bool nhwc = in.value("layout", "NCHW") == "NHWC";
      prepare.height = m.input_shape[nhwc ? 0 : 1];
      prepare.width = m.input_shape[nhwc ? 1 : 2];
    }
    const PreparedModel p = prepare_model(m.path, prepare);
    files.push_back(p.file.string());
    prepared.push_back(to_json(p));
  }
  metrics["preparation_ms"] = ms_since(t_prepare);
  result.prepared =
      prepared.size() == 1 ? prepared[0] : nlohmann::json{{"members", std::move(prepared)}};

  for (const auto& f : files) warm_file_cache(f);
  metrics["os_file_cache"] = "warm";

  // What the engine is compiled for: the batch it will run (static shapes where the
  // framework benefits), or any batch for the server's dynamic batcher where the framework
  // has dynamic batches (else one image, and the batcher's batches are split).
  int64_t load_batch = spec.batch;
  if (scenario == scenario::kSingleStream) load_batch = 1;
  if (scenario == scenario::kServer) load_batch = caps.dynamic_batch ? 0 : 1;

  // Requests in flight (offline --concurrency): each gets its share of the cores, and the
  // framework is told how many there will be.
  const int concurrency = spec.concurrency;
  if (concurrency > 1 && scenario != scenario::kOffline)
    throw Error("concurrency " + std::to_string(concurrency) +
                " applies to the offline scenario only, not to " + scenario);
  int threads = spec.threads;
  if (concurrency > 1) {
    const int total = spec.threads > 0 ? spec.threads : cores_available();
    threads = std::max(1, total / concurrency);
    metrics["threads_per_request"] = threads;
  }

  MemoryMeter memory;
  memory.start();
  std::vector<std::unique_ptr<Engine>> engines;
  std::vector<Engine*> raw;
  const auto t_load = std::chrono::steady_clock::now();
  for (const auto& f : files) {
    engines.push_back(
        backend.load({f, settings, threads, load_batch, concurrency, spec.precision}));
    raw.push_back(engines.back().get());
  }
  // The other requests: on the loaded model where the framework has requests of its own,
  // else one engine each (their load counts in load_ms).
  std::vector<Engine*> requests = {raw.front()};
  std::string how = "one request";
  for (int i = 1; i < concurrency; ++i) {
    std::unique_ptr<Engine> request = raw.front()->new_request();
    how = request ? "requests on one loaded model" : "one engine per request";
    if (!request)
      request =
          backend.load({files.front(), settings, threads, load_batch, concurrency, spec.precision});
    requests.push_back(request.get());
    engines.push_back(std::move(request));
  }
  if (concurrency > 1) metrics["concurrency_how"] = how;
  metrics["load_ms"] = ms_since(t_load);
  nlohmann::json load_memory;
  memory.stop(load_memory);
  metrics["rss_after_load_bytes"] = load_memory["rss_after_bytes"];
  metrics["rss_before_load_bytes"] = load_memory["rss_before_bytes"];

  std::vector<int64_t> shape = {scenario == scenario::kSingleStream ? 1 : spec.batch};
  if (scenario == scenario::kServer) shape[0] = spec.server.value_or(ServerConfig{}).max_batch;
  for (int64_t d : models.front().input_shape) shape.push_back(d);
  const Tensor input = random_input(shape, spec.seed);

  if (scenario == scenario::kLoad) {
    Tensor out;
    const auto t0 = std::chrono::steady_clock::now();
    raw.front()->run(view(input), out);
    metrics["first_inference_ms"] = ms_since(t0);
    result.settings_in_effect = raw.front()->settings_in_effect();
    return;
  }

  // Energy is metered over the timed window of each run (after warm-up), so that it divides
  // by exactly the images counted; memory over the whole run.
  auto energy = make_energy_meters();
  WindowMeters window;
  for (auto& m : energy) window.push_back(m.get());
  MemoryMeter run_memory;
  run_memory.start();
  ScenarioResult r;
  if (scenario == scenario::kOffline) {
    r = run_offline_concurrent(requests, input, spec.limits, clock, window);
  } else if (scenario == scenario::kSingleStream && !spec.transport.empty()) {
    r = run_over_transport(spec, *raw.front(), input, nullptr, metrics);
  } else if (scenario == scenario::kSingleStream) {
    r = run_single_stream(*raw.front(), input, spec.limits, clock, window);
  } else if (scenario == scenario::kServer) {
    const ServerConfig config = spec.server.value_or(ServerConfig{});
    if (spec.peak_slo_p99_ms) {
      PeakSearch search;
      search.slo_p99_ms = *spec.peak_slo_p99_ms;
      // Bracket the search around what one request after another achieves, so that no
      // probe crawls at a rate far below the engine's (each probe serves min_queries).
      RunLimits quick;
      quick.warmup_s = 0;
      quick.min_duration_s = 0.5;
      quick.min_iterations = 3;
      quick.max_duration_s = 5;
      const double single = run_single_stream(*raw.front(), input, quick, clock)
                                .metrics[metric::kThroughputIps]
                                .get<double>();
      search.lo_qps = std::max(0.1, 0.25 * single);
      search.hi_qps = std::max(2 * search.lo_qps, 2 * single);
      search.start_qps = single;
      if (!spec.transport.empty()) {
        r = run_over_transport(spec, *raw.front(), input, &search, metrics);
      } else {
        // The row's figures are those of the full-length run that confirmed the peak (or,
        // where none did, of the last one tried, at lo_qps).
        PeakResult peak = find_peak(*raw.front(), input, config, search, clock, window);
        add_peak_metrics(peak, search.slo_p99_ms, metrics);
        r = std::move(peak.run);
      }
    } else if (!spec.transport.empty()) {
      r = run_over_transport(spec, *raw.front(), input, nullptr, metrics);
    } else {
      r = run_server(*raw.front(), input, config, clock, window);
    }
  } else if (scenario == scenario::kEnsemble) {
    r = run_ensemble(raw, input, spec.limits, clock, nullptr, window);
  } else {
    throw Error("unknown scenario '" + scenario + "'");
  }
  run_memory.stop(metrics);
  for (const auto& [k, v] : r.metrics.items()) metrics[k] = v;
  result.latency_ms = to_json(r.latency_ms);
  if (!r.latency_ms.stable) result.warning = r.latency_ms.warning;

  add_energy_per_image(metrics);
  // Whether the framework ran each batch as one call: a scenario's batch (or the server's
  // largest) that the engine splits into several calls was not batched by the framework.
  const int64_t largest = scenario == scenario::kServer
                              ? shape[0]
                              : (scenario == scenario::kSingleStream ? 1 : spec.batch);
  const int64_t calls = raw.front()->framework_calls_per_batch(largest);
  metrics["framework_calls_per_batch"] = calls;
  result.batched = caps.batches_natively && calls == 1;
  const double flops = spec.model.total_flops_per_image();
  if (metrics.contains(metric::kThroughputIps) && flops > 0 && spec.peak_fp32_flops > 0)
    metrics[metric::kShareOfPeak] =
        metrics[metric::kThroughputIps].get<double>() * flops / spec.peak_fp32_flops;
  result.settings_in_effect = raw.front()->settings_in_effect();
}

}  // namespace

ResultRow run_cell(const CellSpec& spec) {
  ResultRow result;
  result.cell = spec;
  result.cell_key = cell_key(spec);
  result.node = this_node();
  try {
    // The framework's banners and warnings belong to the cell's output, which the sweep keeps.
    // Framework start-up (opening its libraries, starting its runtime) is timed apart from
    // load time, the same way for every framework (docs/results.md, "Load time").
    const auto t_start = std::chrono::steady_clock::now();
    BackendRegistry registry(BackendRegistry::default_plugin_dirs(),
                             BackendRegistry::FrameworkOutput::kPassThrough);
    Backend& backend = registry.get(spec.backend);
    const BackendInfo info = backend.info();
    backend.start();
    result.metrics["framework_startup_ms"] = ms_since(t_start);
    result.backend_version = info.version;
    Settings asked = spec.settings;
    // A framework without a model cache still has a load time: its warm load is a second
    // cold one (it reports cache "none").
    const bool has_cache = std::any_of(info.settings.begin(), info.settings.end(),
                                       [](const SettingSpec& s) { return s.key == "cache_dir"; });
    if (!spec.load_cache_dir.empty() && has_cache) asked["cache_dir"] = spec.load_cache_dir;
    const Settings settings = validate_settings(info, asked);
    check_capabilities(info, spec.precision, spec.concurrency);
    run_scenario(spec, backend, info.capabilities, settings, result);
    // What the framework computed in, as it reads it back; a framework that offers fp32 only
    // computes in it.
    const nlohmann::json& in_effect = result.settings_in_effect;
    if (in_effect.is_object() && in_effect.contains("precision_in_effect"))
      result.precision_in_effect = in_effect["precision_in_effect"].get<std::string>();
    else if (info.capabilities.precisions == std::vector<std::string>{"fp32"})
      result.precision_in_effect = "fp32";
    result.status = "ok";
  } catch (const Unsupported& e) {
    result.status = "unsupported";
    result.message = e.what();
  } catch (const std::bad_alloc&) {
    result.status = "oom";
    result.message = "out of memory (std::bad_alloc)";
  } catch (const std::exception& e) {
    result.status = "error";
    result.message = e.what();
  }
  return result;
}

int run_cell_process(const std::filesystem::path& spec_file,
                     const std::filesystem::path& result_file) {
  std::ifstream in(spec_file);
  if (!in) throw Error("cell spec '" + spec_file.string() + "' cannot be read");
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded()) throw Error("cell spec '" + spec_file.string() + "' is not JSON");
  const ResultRow r = run_cell(cell_from_json(j));
  const std::filesystem::path tmp = result_file.string() + ".partial";
  std::ofstream(tmp) << to_json(r).dump();
  std::filesystem::rename(tmp, result_file);
  if (r.status == "error") return kExitError;
  if (r.status == "unsupported") return kExitUnsupported;
  if (r.status == "oom") return kExitOom;
  return kExitOk;
}

std::string status_of_exit_code(int code) {
  switch (code) {
    case kExitOk:
      return "ok";
    case kExitError:
      return "error";
    case kExitUnsupported:
      return "unsupported";
    case kExitOom:
      return "oom";
    default:
      return "";
  }
}

}  // namespace infermark
