#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "cli/commands.h"
#include "cli/model_options.h"
#include "core/error.h"
#include "core/image.h"
#include "core/machine.h"
#include "core/metrics.h"
#include "core/npy.h"
#include "core/result.h"
#include "core/text.h"
#include "load/client.h"
#include "load/load.h"
#include "scenarios/peak_rule.h"
#include "sweep/study.h"

namespace infermark::cli {
namespace {

namespace fs = std::filesystem;

struct LoadArgs {
  std::string url, model;
  std::vector<double> rates;
  int concurrency = 0;
  load::LoadConfig config;
  bool find_peak = false;
  double slo_p99_ms = 0;
  std::string input;
  std::string preprocess;
  int64_t batch = 1;
  bool binary = false;
  std::string token_env = "INFERMARK_TOKEN";
  std::string tls_ca;
  double timeout_s = 60;
  std::string arm;
  int round = 0;
  std::string out = "results.jsonl";
};

// The request's images: an .npy, image files (preprocessed), or seeded N(0, 1) values, checked
// against the input the model's metadata declares.
Tensor request_images(const LoadArgs& a, const std::vector<int64_t>& image) {
  std::vector<int64_t> want = {a.batch};
  want.insert(want.end(), image.begin(), image.end());
  if (a.input.empty()) return random_input(want, a.config.seed);
  Tensor t;
  if (fs::path(a.input).extension() == ".npy") {
    t = load_npy(a.input);
  } else {
    t = load_images(image_files(a.input), parse_image_preprocess(a.preprocess));
  }
  std::vector<int64_t> got(t.shape.begin() + (t.shape.empty() ? 0 : 1), t.shape.end());
  if (got != image)
    throw Error("input '" + a.input + "' holds images " + shape_string(got) + "; model '" +
                a.model + "' takes " + shape_string(image) +
                (fs::path(a.input).extension() == ".npy" ? "" : " (set --preprocess)"));
  return t;
}

// The model's image [C, H, W] and its input's name, from its metadata.
void read_input(const nlohmann::json& meta, const std::string& model, std::string& name,
                std::vector<int64_t>& image) {
  try {
    const auto& in = meta.at("inputs").at(0);
    name = in.at("name").get<std::string>();
    const auto shape = in.at("shape").get<std::vector<int64_t>>();
    if (in.at("datatype").get<std::string>() != "FP32" || shape.size() != 4)
      throw Error("input '" + name + "' is " + in.at("datatype").get<std::string>() + " " +
                  shape_string(shape) + ", not FP32 [N, C, H, W]");
    image.assign(shape.begin() + 1, shape.end());
    for (int64_t d : image)
      if (d < 1) throw Error("input '" + name + "' leaves an image dimension free");
  } catch (const nlohmann::json::exception& e) {
    throw Error("model '" + model + "': its metadata declares no input: " + e.what());
  }
}

ResultRow row_of(const LoadArgs& a, const load::Endpoint& endpoint,
                 const load::ClientOptions& options, const nlohmann::json& server_meta,
                 const nlohmann::json& model_meta, const std::vector<int64_t>& image) {
  ResultRow row;
  CellSpec& c = row.cell;
  c.model.name = a.model;
  c.model.input_shape = image;
  // What our own server says it runs; another server is named by its metadata.
  const nlohmann::json p = model_meta.value("parameters", nlohmann::json::object());
  c.backend = p.value("framework", "kserve:" + server_meta.value("name", std::string("?")));
  if (p.contains("settings") && p["settings"].is_object())
    for (const auto& [k, v] : p["settings"].items())
      if (v.is_string()) c.settings[k] = v.get<std::string>();
  c.threads = p.value("threads", 0);
  c.precision = p.value("precision", std::string("fp32"));
  c.preparation = p.value("preparation", std::string("none"));
  c.scenario = "server";
  c.batch = a.batch;
  c.arm = a.arm.empty() ? load::transport_name(endpoint, options) : a.arm;
  c.round = a.round;
  c.seed = a.config.seed;
  if (a.concurrency > 0) c.concurrency = a.concurrency;
  ServerConfig s;
  s.rate_qps = a.config.rate_qps;
  s.max_batch = p.value("max_batch", int64_t{0});
  s.max_queue_delay_ms = p.value("max_queue_delay_ms", 0.0);
  s.duration_s = a.config.duration_s;
  s.min_queries = a.config.min_queries;
  s.seed = a.config.seed;
  c.server = s;
  if (a.find_peak) c.peak_slo_p99_ms = a.slo_p99_ms;
  row.backend_version = p.value("framework_version", server_meta.value("version", std::string()));
  if (p.contains("settings_in_effect")) row.settings_in_effect = p["settings_in_effect"];
  row.precision_in_effect = c.precision;
  row.node = this_node();
  row.env = to_json(read_machine());
  row.metrics["transport"] = load::transport_name(endpoint, options);
  row.metrics["url"] = endpoint.text();
  row.metrics["server"] =
      server_meta.value("name", std::string()) + " " + server_meta.value("version", std::string());
  row.cell_key = cell_key(c);
  return row;
}

// What the printed line says of a find-peak row's peak: the confirmed rate, or why none was.
std::string peak_text(const ResultRow& row) {
  if (!row.metrics.contains(metric::kPeakQps)) return "";
  if (row.metrics.value("peak_confirmed", false))
    return ", peak " + formatted(row.metric(metric::kPeakQps), "%.4g") + "/s (confirmed)";
  return ", no peak confirmed: " + row.metrics.value("peak_reason", std::string());
}

void run(const LoadArgs& a) {
  const load::Endpoint endpoint = load::parse_url(a.url);
  load::ClientOptions options;
  if (const char* t = std::getenv(a.token_env.c_str())) options.token = t;
  options.tls_ca = a.tls_ca;
  if (!a.tls_ca.empty() && !endpoint.tls)
    throw Error("--tls-ca goes with an https:// or grpcs:// --url, not " + a.url);
  options.binary = a.binary;
  options.timeout_s = a.timeout_s;
  if (a.binary && endpoint.scheme == "grpc")
    throw Error("--binary is HTTP's binary extension; gRPC always sends raw bytes");
  if (a.batch < 1) throw Error("--batch must be >= 1");
  if ((a.rates.empty()) == (a.concurrency <= 0))
    throw Error("give either --rate (open loop) or --concurrency (closed loop)");
  if (a.find_peak && !(a.slo_p99_ms > 0)) throw Error("--find-peak needs --slo-p99-ms");
  if (a.find_peak && a.rates.size() != 1)
    throw Error("--find-peak starts from one --rate (where the search begins)");

  auto probe = load::connect(endpoint, options);
  if (!probe->live()) throw Error(endpoint.text() + " is not live (/v2/health/live)");
  const nlohmann::json server_meta = probe->server_metadata();
  const nlohmann::json model_meta = probe->model_metadata(a.model);
  std::string input_name;
  std::vector<int64_t> image;
  read_input(model_meta, a.model, input_name, image);
  const Tensor images = request_images(a, image);

  serve::InferRequest request;
  request.model = a.model;
  serve::WireTensor in;
  in.name = input_name;
  in.datatype = "FP32";
  in.shape = images.shape;
  in.data = images.data;
  in.binary = a.binary;
  request.inputs.push_back(std::move(in));
  request.binary_output = a.binary;
  const load::Connect connect = [&] { return load::connect(endpoint, options); };

  std::vector<double> rates = a.rates;
  if (rates.empty()) rates = {0};
  size_t failed = 0;
  for (double rate : rates) {
    LoadArgs one = a;
    one.config.rate_qps = rate;
    one.config.concurrency = a.concurrency;
    ResultRow row = row_of(one, endpoint, options, server_meta, model_meta, image);
    row.time_utc = utc_now();
    const auto t0 = std::chrono::steady_clock::now();
    try {
      ScenarioResult r;
      if (a.find_peak) {
        PeakSearch search;
        search.slo_p99_ms = a.slo_p99_ms;
        search.lo_qps = rate;
        // The row's figures are those of the run that confirmed the peak (or, where none did,
        // of the last one tried, at --rate).
        PeakResult peak = load::find_peak_load(connect, request, one.config, search);
        add_peak_metrics(peak, a.slo_p99_ms, row.metrics);
        one.config.rate_qps = peak.confirmations.back()["rate_qps"].get<double>();
        r = std::move(peak.run);
      } else {
        r = load::run_load(connect, request, one.config);
      }
      for (const auto& [k, v] : r.metrics.items()) row.metrics[k] = v;
      row.latency_ms = to_json(r.latency_ms);
      if (r.metrics["dropped"].get<int64_t>() > 0)
        row.warning = std::to_string(r.metrics["dropped"].get<int64_t>()) +
                      " requests got no result (rejected or failed)";
    } catch (const std::exception& e) {
      row.status = "error";
      row.message = e.what();
      ++failed;
    }
    row.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    append_result(a.out, row);
    if (row.ok())
      std::printf(
          "%s %s %s: %lld queries, %lld ok, %lld rejected, %lld failed, %.1f/s, p50 %.2f "
          "ms, p99 %.2f ms%s\n",
          row.cell.arm.c_str(), a.model.c_str(),
          a.concurrency > 0 ? ("x" + std::to_string(a.concurrency)).c_str()
                            : (formatted(one.config.rate_qps, "%.4g") + "/s").c_str(),
          static_cast<long long>(row.metrics[metric::kQueries].get<int64_t>()),
          static_cast<long long>(row.metrics["ok"].get<int64_t>()),
          static_cast<long long>(row.metrics["rejected"].get<int64_t>()),
          static_cast<long long>(row.metrics["failed"].get<int64_t>()),
          row.metric(metric::kAchievedQps), row.latency("p50"), row.latency("p99"),
          peak_text(row).c_str());
    else
      std::printf("%s %s: %s\n", row.cell.arm.c_str(), a.model.c_str(), row.message.c_str());
    std::fflush(stdout);
  }
  std::printf("wrote %s\n", a.out.c_str());
  if (failed > 0)
    throw Error(std::to_string(failed) + " of " + std::to_string(rates.size()) +
                " runs ended in error (in " + a.out + ")");
}

}  // namespace

void add_load_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "load", "Send requests to a KServe v2 server (ours or another) and measure its latency");
  auto a = std::make_shared<LoadArgs>();
  cmd->add_option("--url", a->url,
                  "http://HOST:PORT or grpc://HOST:PORT; https:// or grpcs:// over TLS")
      ->required();
  cmd->add_option("--tls-ca", a->tls_ca,
                  "PEM certificate of the authority that signed the server's (https:// and "
                  "grpcs://; default: the system's)");
  cmd->add_option("--model", a->model, "The model's name on the server")->required();
  cmd->add_option("--rate", a->rates, "Open loop: offered rates, requests/s, comma-separated")
      ->delimiter(',');
  cmd->add_option("--concurrency", a->concurrency,
                  "Closed loop: this many clients, each sending when answered");
  cmd->add_option("--distribution", a->config.distribution,
                  "Open loop arrivals: poisson (default, seeded) or constant");
  cmd->add_option("--duration", a->config.duration_s, "Seconds of requests (default 10)");
  cmd->add_option("--min-queries", a->config.min_queries,
                  "At least this many requests (default 100)");
  cmd->add_option("--connections", a->config.connections,
                  "Open loop: requests in flight at most (default 64)");
  cmd->add_flag("--find-peak", a->find_peak,
                "Search, from --rate up, the highest rate whose p99 meets --slo-p99-ms over at "
                "least " +
                    std::to_string(kMinQueriesForP99) + " requests, every one answered and " +
                    formatted(100 * kMinAchievedFraction, "%g") +
                    "% of the rate achieved; the row is the run of the same length that "
                    "confirms it");
  cmd->add_option("--slo-p99-ms", a->slo_p99_ms, "p99 latency target of --find-peak, ms");
  cmd->add_option("--input", a->input,
                  "Images to send: an .npy [N, C, H, W], or a JPEG/PNG file or folder "
                  "(default: seeded N(0,1) values)");
  cmd->add_option("--preprocess", a->preprocess, "Preprocessing of --input images (as infer's)");
  cmd->add_option("--batch", a->batch, "Images per request without --input (default 1)");
  cmd->add_flag("--binary", a->binary, "HTTP: the binary tensor data extension (Triton's)");
  cmd->add_option("--token-env", a->token_env,
                  "Environment variable holding the bearer token (default INFERMARK_TOKEN)");
  cmd->add_option("--timeout", a->timeout_s, "Seconds a request may take (default 60)");
  cmd->add_option("--seed", a->config.seed, "Seed of the arrivals and inputs (default 1)");
  cmd->add_option("--arm", a->arm, "The result's arm (default: the transport)");
  cmd->add_option("--round", a->round, "The result's round (to pair with a bench round)");
  cmd->add_option("--out", a->out, "Result file, one JSON line per rate (default results.jsonl)");
  cmd->callback([a] { run(*a); });
}

}  // namespace infermark::cli
