#include <malloc.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "backends/settings.h"
#include "cli/commands.h"
#include "cli/model_options.h"
#include "core/error.h"
#include "core/text.h"
#include "prepare/prepare.h"
#include "serve/grpc.h"
#include "serve/http.h"
#include "serve/model_server.h"
#include "verify/isolated.h"

namespace infermark::cli {
namespace {

namespace fs = std::filesystem;

struct ServeArgs {
  std::vector<std::string> models;
  std::string repository;
  std::vector<std::string> ensembles;  // NAME=A+B
  zoo::Options zoo;
  std::vector<std::string> sets;
  std::string backend = "onnxruntime";
  int threads = 0;
  std::string precision = "fp32";
  std::string prepare = "simplify";
  serve::BatchPolicy policy;
  double max_body_mib = 64;
  std::string host = "127.0.0.1";
  int http_port = 8000, grpc_port = 8001;
  int http_threads = 128;
  int max_connections = 1024;
  double request_timeout_s = 5;
  std::string tls_cert, tls_key;
  bool insecure = false;
  double release_idle_s = 5;
  std::string token_env = "INFERMARK_TOKEN";
  std::string port_file;
};

// A model to serve: its name and file(s), and its batcher's policy.
// The model loaded and run once in a process of its own before this one loads it: a framework
// that crashes on the model costs a clear refusal, not the server.
void probe(const std::string& backend, const LoadRequest& load, const fs::path& model,
           int64_t batch, const std::vector<int64_t>& image) {
  IsolatedJob job;
  job.backend = backend;
  job.load = load;
  std::vector<int64_t> shape = {batch};
  shape.insert(shape.end(), image.begin(), image.end());
  Tensor x;
  x.resize(shape);
  const IsolatedOutcome o = run_isolated(job, x);
  if (o.status == "interrupted") throw ExitCode(130);
  if (!o.ok())
    throw Error("model '" + model.string() + "' on " + backend + ": " + o.reason +
                " (tried in a process of its own before serving)");
}

struct ModelPlan {
  std::string name;
  std::vector<fs::path> files;
  serve::BatchPolicy policy;
};

// name=A+B: an ensemble of models already planned.
ModelPlan ensemble_plan(const std::string& text, const std::vector<ModelPlan>& plans,
                        const serve::BatchPolicy& policy) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    throw Error("--ensemble '" + text + "' is not NAME=MODEL+MODEL");
  ModelPlan e{text.substr(0, eq), {}, policy};
  std::string rest = text.substr(eq + 1) + "+";
  for (size_t at = 0, plus; (plus = rest.find('+', at)) != std::string::npos; at = plus + 1) {
    const std::string member = rest.substr(at, plus - at);
    auto it = std::find_if(plans.begin(), plans.end(),
                           [&](const ModelPlan& p) { return p.name == member; });
    if (it == plans.end())
      throw Error("--ensemble '" + text + "': '" + member + "' is not one of the models served");
    e.files.insert(e.files.end(), it->files.begin(), it->files.end());
  }
  if (e.files.size() < 2) throw Error("--ensemble '" + text + "' needs two models or more");
  return e;
}

// A model repository: NAME.onnx, NAME/model.onnx or NAME/1/model.onnx (Triton's layout), with
// an optional NAME/config.json of max_batch, max_queue_delay_ms, max_queue.
std::vector<ModelPlan> repository_plans(const fs::path& dir, const serve::BatchPolicy& policy) {
  if (!fs::is_directory(dir))
    throw Error("--model-repository '" + dir.string() + "' is not a folder");
  std::vector<ModelPlan> plans;
  std::vector<fs::directory_entry> entries(fs::directory_iterator(dir), {});
  std::sort(entries.begin(), entries.end());
  for (const auto& e : entries) {
    ModelPlan p{e.path().stem().string(), {}, policy};
    if (e.is_regular_file() && e.path().extension() == ".onnx") {
      p.files = {e.path()};
    } else if (e.is_directory()) {
      p.name = e.path().filename().string();
      for (const fs::path& f : {e.path() / "model.onnx", e.path() / "1" / "model.onnx"})
        if (fs::exists(f)) {
          p.files = {f};
          break;
        }
      const fs::path config = e.path() / "config.json";
      if (fs::exists(config)) {
        std::ifstream in(config);
        const auto j = nlohmann::json::parse(in, nullptr, false);
        if (!j.is_object()) throw Error("'" + config.string() + "' is not a JSON object");
        try {
          p.policy.max_batch = j.value("max_batch", p.policy.max_batch);
          p.policy.max_queue_delay_ms = j.value("max_queue_delay_ms", p.policy.max_queue_delay_ms);
          p.policy.max_queue = j.value("max_queue", p.policy.max_queue);
        } catch (const nlohmann::json::exception& ex) {
          throw Error("'" + config.string() + "': " + ex.what());
        }
      }
    }
    if (!p.files.empty()) plans.push_back(std::move(p));
  }
  if (plans.empty())
    throw Error("--model-repository '" + dir.string() +
                "' holds no NAME.onnx, NAME/model.onnx or NAME/1/model.onnx");
  return plans;
}

void serve_models(const ServeArgs& a) {
  // SIGTERM and SIGINT are waited for by this thread; every thread started from here on
  // inherits them blocked.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  if (a.release_idle_s < 0) throw Error("--release-idle-s must be >= 0");
  // gRPC takes its message limit as an int: 2 GiB is past what it can hold.
  if (!(a.max_body_mib > 0) || !(a.max_body_mib < 2048))
    throw Error("--max-body-mib " + formatted(a.max_body_mib, "%g") +
                " is out of range: more than 0 and less than 2048");
  // As many malloc arenas as cores, not glibc's eight per core. Each connection's thread
  // allocates its request's body (600 KB for a 224 px image) in an arena, and what an arena
  // holds after a flood (the threads' cached chunks, fragments) stays: fewer arenas, less
  // held (docs/serve.md, Memory). MALLOC_ARENA_MAX in the environment, when set, decides.
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr)
    mallopt(M_ARENA_MAX, static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));

  // Refused before any model is loaded: what would expose the server.
  std::string token;
  if (const char* t = std::getenv(a.token_env.c_str())) token = t;
  if (!serve::loopback_host(a.host) && token.empty() && !a.insecure)
    throw Error("--host " + a.host +
                " serves beyond this machine, and no bearer token is set: put one in $" +
                a.token_env +
                " (--token-env), or pass --insecure to serve anyone who can reach it");
  if (a.tls_cert.empty() != a.tls_key.empty()) throw Error("--tls-cert and --tls-key go together");
  for (const std::string& f : {a.tls_cert, a.tls_key})
    if (!f.empty() && !std::ifstream(f)) throw Error(f + ": cannot be read");
  if (!(a.request_timeout_s > 0 && a.request_timeout_s <= 86400))
    throw Error("--request-timeout " + formatted(a.request_timeout_s, "%g") +
                " is out of range: more than 0, at most 86400 seconds");
  if (a.max_connections < 1) throw Error("--max-connections must be >= 1");

  if (a.models.empty() == a.repository.empty())
    throw Error("give the models to serve: --models or --model-repository (one of them)");
  std::vector<ModelPlan> plans;
  if (!a.repository.empty()) {
    plans = repository_plans(a.repository, a.policy);
  } else {
    for (const std::string& m : a.models) {
      zoo::check_model_source(m);
      const fs::path file = zoo::model_file(m, a.zoo);
      const std::string name = fs::exists(m) ? fs::path(m).stem().string() : m;
      plans.push_back({name, {file}, a.policy});
    }
  }
  for (const std::string& e : a.ensembles) plans.push_back(ensemble_plan(e, plans, a.policy));

  BackendRegistry registry;
  Backend& backend = registry.get(a.backend);
  const BackendInfo& info = registry.info(a.backend);
  const Settings settings = settings_for(registry, a.backend, a.sets, {a.backend});
  check_precision_name(a.precision);
  check_capabilities(info, a.precision, 1);
  backend.start();
  PrepareOptions prepare = preparation_options(a.prepare);
  prepare.opset_at_least = info.capabilities.min_opset;
  prepare_for_precision(prepare, a.precision);
  // Engines for any batch where the framework has dynamic batches; else for one image, and
  // the batcher's batches are split (as the in-process server scenario does).
  const int64_t load_batch = info.capabilities.dynamic_batch ? 0 : 1;

  serve::ModelServer server(token);
  for (const ModelPlan& p : plans) {
    std::vector<std::unique_ptr<Engine>> engines;
    serve::ModelSignature sig;
    nlohmann::json prepared = nlohmann::json::array();
    for (const fs::path& f : p.files) {
      const PreparedModel pm = prepare_model(f, prepare);
      const auto& in = pm.after.input_dims;
      if (in.size() != 4 || in[1] < 1 || in[2] < 1 || in[3] < 1)
        throw Error("model '" + f.string() + "' has input " + shape_string(in) +
                    "; serve takes images [N, C, H, W] with C, H, W fixed");
      if (in[0] > 0 && in[0] != 1)
        throw Error("model '" + f.string() + "' fixes its batch at " + std::to_string(in[0]));
      const std::vector<int64_t> image(in.begin() + 1, in.end());
      if (!sig.image_shape.empty() && sig.image_shape != image)
        throw Error("ensemble '" + p.name + "': its models take different images");
      sig.image_shape = image;
      sig.input_name = pm.after.input;
      sig.output_name = pm.after.output;
      const LoadRequest load{pm.file, settings,   a.threads, in[0] == 1 ? 1 : load_batch,
                             1,       a.precision};
      probe(a.backend, load, f, in[0] == 1 ? 1 : p.policy.max_batch, image);
      engines.push_back(backend.load(load));
      prepared.push_back(to_json(pm));
      // Warm-up: every batch size the batcher can form, the largest first, down to one
      // image (which also says how many scores the model gives). A framework's memory
      // (ONNX Runtime's arena, its per-shape plans) then reaches the size serving needs before
      // the first client, rather than growing during a burst.
      const int64_t largest = in[0] == 1 ? 1 : p.policy.max_batch;
      std::vector<int64_t> shape = {largest};
      shape.insert(shape.end(), image.begin(), image.end());
      Tensor x, y;
      x.resize(shape);
      for (int64_t b = largest; b >= 1; --b) engines.back()->run(view(x, b), y);
      if (y.shape.size() != 2 || (sig.classes != 0 && sig.classes != y.shape[1]))
        throw Error("model '" + f.string() + "' gives output " + shape_string(y.shape) +
                    (sig.classes != 0 ? ", unlike the ensemble's other models" : "") +
                    "; serve answers scores [N, classes]");
      sig.classes = y.shape[1];
      if (in[0] == 1 && p.policy.max_batch > 1)
        throw Error("model '" + f.string() + "' fixes its batch at 1: serve it with --max-batch 1");
    }
    nlohmann::json settings_json = nlohmann::json::object();
    for (const auto& [k, v] : settings) settings_json[k] = v;
    nlohmann::json description = {{"framework", a.backend},
                                  {"framework_version", info.version},
                                  {"settings", settings_json},
                                  {"threads", a.threads},
                                  {"precision", a.precision},
                                  {"preparation", a.prepare},
                                  {"settings_in_effect", engines.front()->settings_in_effect()}};
    if (engines.size() > 1) description["members"] = engines.size();
    server.add(std::make_unique<serve::ServedModel>(p.name, std::move(engines), sig, p.policy,
                                                    description));
    std::printf("model %s: %s on %s, max batch %lld, queue delay %.3g ms, queue %lld\n",
                p.name.c_str(), p.files.size() > 1 ? "ensemble" : p.files.front().c_str(),
                a.backend.c_str(), static_cast<long long>(p.policy.max_batch),
                p.policy.max_queue_delay_ms, static_cast<long long>(p.policy.max_queue));
  }

  const auto max_body = static_cast<size_t>(a.max_body_mib * 1024 * 1024);
  serve::HttpOptions http{
      a.host,     a.http_port, max_body, a.http_threads, a.request_timeout_s, a.max_connections,
      a.tls_cert, a.tls_key};
  serve::GrpcOptions grpc{a.host, a.grpc_port, max_body, a.http_threads, a.tls_cert, a.tls_key};
  serve::HttpServer http_server(server, http);
  serve::GrpcServer grpc_server(server, grpc);
  if (!a.port_file.empty()) {
    const fs::path tmp = a.port_file + ".tmp";
    std::ofstream(tmp)
        << nlohmann::json{{"http", http_server.port()}, {"grpc", grpc_server.port()}}.dump()
        << "\n";
    fs::rename(tmp, a.port_file);
  }
  std::printf("serving on %s://%s:%d and grpc://%s:%d%s%s; SIGTERM or Ctrl-C stops\n",
              a.tls_cert.empty() ? "http" : "https", a.host.c_str(), http_server.port(),
              a.host.c_str(), grpc_server.port(), a.tls_cert.empty() ? "" : " (TLS)",
              token.empty() ? "" : " (bearer token required)");
  std::fflush(stdout);

  // Memory back to the system once a burst is over, so that a flood leaves the server as
  // large as it found it:
  // - after a second without a request, malloc_trim: glibc keeps what the connections' arenas
  //   freed (the requests' bodies);
  // - after --release-idle-s, each framework gives back what it keeps between runs
  //   (Engine::release_cached_memory: ONNX Runtime's arena, grown by the burst's batches),
  //   then malloc_trim again.
  // Both once per burst, so that a busy server never pays for them.
  std::atomic<bool> stopping{false};
  std::thread trimmer([&] {
    int64_t last = server.requests_seen(), trimmed_at = last, released_at = last;
    auto quiet_since = std::chrono::steady_clock::now();
    while (!stopping) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      const int64_t now = server.requests_seen();
      const auto t = std::chrono::steady_clock::now();
      if (now != last) {
        last = now;
        quiet_since = t;
        continue;
      }
      const double quiet_s = std::chrono::duration<double>(t - quiet_since).count();
      if (quiet_s >= 1 && now != trimmed_at) {
        malloc_trim(0);
        trimmed_at = now;
      }
      if (a.release_idle_s > 0 && quiet_s >= a.release_idle_s && now != released_at) {
        try {
          server.release_cached_memory();
        } catch (const std::exception& e) {
          std::fprintf(stderr, "infermark serve: %s\n", e.what());
        }
        malloc_trim(0);
        released_at = now;
      }
    }
  });

  int sig = 0;
  sigwait(&signals, &sig);
  stopping = true;
  trimmer.join();
  std::printf("%s: answering the requests accepted, then stopping\n",
              sig == SIGTERM ? "SIGTERM" : "SIGINT");
  std::fflush(stdout);
  server.shut_down();  // not ready; queued requests run to their answers
  http_server.stop();
  grpc_server.stop();
  std::printf("stopped\n");
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "serve",
      "Serve models over the KServe v2 protocol (HTTP/REST and gRPC) with dynamic batching");
  auto a = std::make_shared<ServeArgs>();
  cmd->add_option("--models", a->models, "Zoo names or ONNX files, comma-separated")
      ->delimiter(',');
  cmd->add_option("--model-repository", a->repository,
                  "A folder of NAME.onnx or NAME/model.onnx (with NAME/config.json: max_batch, "
                  "max_queue_delay_ms, max_queue)");
  cmd->add_option("--ensemble", a->ensembles,
                  "NAME=A+B: a model answering the average of models A and B (repeatable)");
  cmd->add_option("--backend", a->backend, "Framework (default onnxruntime)");
  cmd->add_option("--set", a->sets, "Framework setting BACKEND.KEY=VALUE (repeatable)");
  cmd->add_option("--threads", a->threads, "Framework threads (default 0: every core)");
  cmd->add_option("--precision", a->precision, "fp32 (default), bf16, int8 where offered");
  cmd->add_option("--prepare", a->prepare, "Model preparation: simplify (default) or none");
  cmd->add_option("--input-size", a->zoo.input_size, "Image side of zoo models (default 224)");
  cmd->add_option("--width", a->zoo.width, "Channel width multiplier of zoo models (default 1.0)");
  cmd->add_option("--seed", a->zoo.seed, "Seed of zoo weights (default 1)");
  cmd->add_option("--max-batch", a->policy.max_batch,
                  "Images per framework call and per request (default 8; 1: no batching)");
  cmd->add_option("--max-queue-delay-ms", a->policy.max_queue_delay_ms,
                  "How long the oldest request waits for a batch to fill (default 2)");
  cmd->add_option("--max-queue", a->policy.max_queue,
                  "Requests waiting per model; more are refused at once, HTTP 429 / gRPC "
                  "RESOURCE_EXHAUSTED (default 64)");
  cmd->add_option("--max-body-mib", a->max_body_mib,
                  "Largest request body or message, MiB (default 64); larger: HTTP 413");
  cmd->add_option("--host", a->host, "Address to listen on (default 127.0.0.1: this machine)");
  cmd->add_option("--http-port", a->http_port, "HTTP port (default 8000; 0: any free one)");
  cmd->add_option("--grpc-port", a->grpc_port, "gRPC port (default 8001; 0: any free one)");
  cmd->add_option("--http-threads", a->http_threads,
                  "HTTP requests handled and gRPC RPCs served at once (default 128); reading "
                  "and writing HTTP holds no thread");
  cmd->add_option("--max-connections", a->max_connections,
                  "HTTP connections open at once; one more is closed when accepted (default "
                  "1024)");
  cmd->add_option("--request-timeout", a->request_timeout_s,
                  "Seconds an HTTP request has to arrive whole, headers and body, and its "
                  "answer to be taken; an idle connection is closed after as long (default 5)");
  cmd->add_option("--tls-cert", a->tls_cert,
                  "PEM certificate chain: HTTPS and gRPC over TLS (with --tls-key)");
  cmd->add_option("--tls-key", a->tls_key, "PEM private key of --tls-cert");
  cmd->add_flag("--insecure", a->insecure,
                "Allow a --host beyond this machine without a bearer token");
  cmd->add_option("--release-idle-s", a->release_idle_s,
                  "After this many seconds without a request, the frameworks give back the "
                  "memory a burst made them keep (ONNX Runtime's arena); the next request "
                  "pays for taking it again (default 5; 0: never)");
  cmd->add_option("--token-env", a->token_env,
                  "Environment variable holding a bearer token to require (default "
                  "INFERMARK_TOKEN; unset: none)");
  cmd->add_option("--port-file", a->port_file,
                  "Write {\"http\": PORT, \"grpc\": PORT} here once listening");
  cmd->callback([a] { serve_models(*a); });
}

}  // namespace infermark::cli
