#include "load/measure.h"

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/image.h"
#include "core/machine.h"
#include "core/npy.h"
#include "core/text.h"
#include "scenarios/scenario.h"

namespace infermark::load {
namespace {

namespace fs = std::filesystem;

// The request's images: an .npy, image files (preprocessed), or seeded N(0, 1) values, checked
// against the input the model's metadata declares.
Tensor request_images(const MeasureOptions& a, const std::vector<int64_t>& image) {
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

ResultRow row_of(const MeasureOptions& a, const Endpoint& endpoint, const ClientOptions& options,
                 const nlohmann::json& server_meta, const nlohmann::json& model_meta,
                 const std::vector<int64_t>& image) {
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
  c.arm = a.arm.empty() ? transport_name(endpoint, options) : a.arm;
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
  row.metrics["transport"] = transport_name(endpoint, options);
  row.metrics["url"] = endpoint.text();
  row.metrics["server"] =
      server_meta.value("name", std::string()) + " " + server_meta.value("version", std::string());
  row.cell_key = cell_key(c);
  return row;
}

}  // namespace

size_t measure(const MeasureOptions& a,
               const std::function<void(const ResultRow& row, double rate)>& each) {
  const Endpoint endpoint = parse_url(a.url);
  ClientOptions options;
  options.token = a.token;
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

  auto probe = connect(endpoint, options);
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
  const Connect connect_again = [&] { return connect(endpoint, options); };

  std::vector<double> rates = a.rates;
  if (rates.empty()) rates = {0};
  size_t failed = 0;
  for (double rate : rates) {
    MeasureOptions one = a;
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
        PeakResult peak = find_peak_load(connect_again, request, one.config, search);
        add_peak_metrics(peak, a.slo_p99_ms, row.metrics);
        one.config.rate_qps = peak.confirmations.back()["rate_qps"].get<double>();
        r = std::move(peak.run);
      } else {
        r = run_load(connect_again, request, one.config);
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
    if (each) each(row, one.config.rate_qps);
  }
  return failed;
}

}  // namespace infermark::load
