#include <malloc.h>
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <thread>

#include "cli/commands.h"
#include "cli/model_options.h"
#include "core/error.h"
#include "core/text.h"
#include "serve/grpc.h"
#include "serve/http.h"
#include "serve/launch.h"
#include "serve/model_server.h"

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
  std::vector<serve::ModelPlan> plans;
  if (!a.repository.empty()) {
    plans = serve::repository_plans(a.repository, a.policy);
  } else {
    for (const std::string& m : a.models) {
      zoo::check_model_source(m);
      const fs::path file = zoo::model_file(m, a.zoo);
      const std::string name = fs::exists(m) ? fs::path(m).stem().string() : m;
      plans.push_back({name, {file}, a.policy});
    }
  }
  for (const std::string& e : a.ensembles)
    plans.push_back(serve::ensemble_plan(e, plans, a.policy));

  BackendRegistry registry;
  serve::ModelServer server(token);
  const serve::LoadOptions load{a.backend, settings_for(registry, a.backend, a.sets, {a.backend}),
                                a.threads, a.precision, a.prepare};
  if (!serve::load_models(server, plans, load, registry)) throw ExitCode(130);

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

  // Memory back to the system once a burst is over (serve/launch.h).
  std::optional<serve::IdleTrimmer> trimmer;
  trimmer.emplace(server, a.release_idle_s);

  int sig = 0;
  sigwait(&signals, &sig);
  trimmer.reset();
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
