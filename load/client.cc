#include "load/client.h"

#include <grpcpp/grpcpp.h>
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/error.h"
#include "serve/grpc.h"
#include "serve/grpc_convert.h"
#include "serve/kserve_v2.grpc.pb.h"

namespace infermark::load {
namespace {

using serve::Code;
using serve::ServeError;

Code code_of_http(int status) {
  switch (status) {
    case 400:
      return Code::kInvalidArgument;
    case 401:
      return Code::kUnauthenticated;
    case 404:
      return Code::kNotFound;
    case 413:
      return Code::kTooLarge;
    case 429:
      return Code::kOverloaded;
    case 503:
      return Code::kUnavailable;
    default:
      return Code::kInternal;
  }
}

Code code_of_grpc(grpc::StatusCode status) {
  switch (status) {
    case grpc::StatusCode::INVALID_ARGUMENT:
      return Code::kInvalidArgument;
    case grpc::StatusCode::UNAUTHENTICATED:
      return Code::kUnauthenticated;
    case grpc::StatusCode::NOT_FOUND:
      return Code::kNotFound;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return Code::kOverloaded;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return Code::kUnavailable;
    default:
      return Code::kInternal;
  }
}

// The "error" of a JSON error body, or the body's start.
std::string error_message(const std::string& body) {
  const auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_string())
    return j["error"].get<std::string>();
  return body.substr(0, 200);
}

// A certificate authority's PEM file whole; throws Error naming it.
std::string read_pem(const std::string& path) {
  std::string text;
  try {
    text = serve::read_pem_file(path);
  } catch (const Error& e) {
    throw Error(std::string("--tls-ca ") + e.what());
  }
  if (text.find("-----BEGIN CERTIFICATE-----") == std::string::npos)
    throw Error("--tls-ca " + path + ": no PEM certificate in it");
  return text;
}

class HttpClient final : public Client {
 public:
  HttpClient(const Endpoint& e, const ClientOptions& o)
      : endpoint_(e),
        options_(o),
        http_((e.tls ? "https://" : "http://") + e.host + ":" + std::to_string(e.port)) {
    if (e.tls) {
      if (!o.tls_ca.empty()) http_.set_ca_cert_path(o.tls_ca.c_str());
      http_.enable_server_certificate_verification(true);
    }
    http_.set_keep_alive(true);
    http_.set_tcp_nodelay(true);  // as the server: no Nagle delay between headers and body
    const auto us = static_cast<long long>(std::llround(o.timeout_s * 1e6));
    http_.set_read_timeout(us / 1000000, us % 1000000);
    http_.set_write_timeout(us / 1000000, us % 1000000);
    http_.set_connection_timeout(5, 0);
    if (!o.token.empty()) http_.set_bearer_token_auth(o.token.c_str());
  }
  bool live() override { return status_of("/v2/health/live") == 200; }
  bool ready() override { return status_of("/v2/health/ready") == 200; }
  nlohmann::json server_metadata() override { return get_json("/v2"); }
  nlohmann::json model_metadata(const std::string& model) override {
    return get_json("/v2/models/" + model);
  }
  serve::InferResponse infer(const serve::InferRequest& request) override {
    // The tensors go from the request to the socket: the body is written in parts (JSON,
    // then each tensor's bytes), not joined into one string that httplib would copy again.
    const serve::HttpBodyParts body = serve::write_infer_request_parts(request);
    httplib::Headers headers;
    if (body.json_length)
      headers.emplace("Inference-Header-Content-Length", std::to_string(*body.json_length));
    const size_t length = body.size();
    auto res = http_.Post(
        "/v2/models/" + request.model + "/infer", headers, length,
        [&body](size_t offset, size_t, httplib::DataSink& sink) {
          // Called once (offset 0): every part is written whole, or the write failed.
          if (offset != 0) return false;
          if (!sink.write(body.json.data(), body.json.size())) return false;
          for (std::string_view b : body.binary)
            if (!sink.write(b.data(), b.size())) return false;
          return true;
        },
        body.json_length ? "application/octet-stream" : "application/json");
    if (!res) unreachable(res.error());
    if (res->status != 200) throw ServeError(code_of_http(res->status), error_message(res->body));
    return serve::parse_infer_response(
        res->body, serve::parse_json_length(
                       res->get_header_value("Inference-Header-Content-Length"), res->body.size()));
  }

 private:
  [[noreturn]] void unreachable(httplib::Error e) const {
    throw ServeError(Code::kUnavailable,
                     "cannot reach " + endpoint_.text() + ": " + httplib::to_string(e));
  }
  int status_of(const std::string& path) {
    auto res = http_.Get(path);
    if (!res) unreachable(res.error());
    return res->status;
  }
  nlohmann::json get_json(const std::string& path) {
    auto res = http_.Get(path);
    if (!res) unreachable(res.error());
    if (res->status != 200)
      throw ServeError(code_of_http(res->status),
                       endpoint_.text() + path + ": " + error_message(res->body));
    auto j = nlohmann::json::parse(res->body, nullptr, false);
    if (j.is_discarded())
      throw ServeError(Code::kInternal, endpoint_.text() + path + " answered no JSON");
    return j;
  }
  Endpoint endpoint_;
  ClientOptions options_;
  httplib::Client http_;
};

class GrpcClient final : public Client {
 public:
  GrpcClient(const Endpoint& e, const ClientOptions& o) : endpoint_(e), options_(o) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(256 << 20);
    args.SetMaxSendMessageSize(256 << 20);
    // A connection of its own per client, as each HTTP client has (not one shared subchannel).
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
    if (e.tls) {
      grpc::SslCredentialsOptions tls;
      if (!o.tls_ca.empty()) tls.pem_root_certs = read_pem(o.tls_ca);
      credentials = grpc::SslCredentials(tls);
    }
    stub_ = inference::GRPCInferenceService::NewStub(
        grpc::CreateCustomChannel(e.host + ":" + std::to_string(e.port), credentials, args));
  }
  bool live() override {
    inference::ServerLiveRequest in;
    inference::ServerLiveResponse out;
    call(&Stub::ServerLive, in, out, /*opening=*/true);
    return out.live();
  }
  bool ready() override {
    inference::ServerReadyRequest in;
    inference::ServerReadyResponse out;
    call(&Stub::ServerReady, in, out);
    return out.ready();
  }
  nlohmann::json server_metadata() override {
    inference::ServerMetadataRequest in;
    inference::ServerMetadataResponse out;
    call(&Stub::ServerMetadata, in, out);
    return {
        {"name", out.name()},
        {"version", out.version()},
        {"extensions", std::vector<std::string>(out.extensions().begin(), out.extensions().end())}};
  }
  nlohmann::json model_metadata(const std::string& model) override {
    inference::ModelMetadataRequest in;
    in.set_name(model);
    inference::ModelMetadataResponse out;
    call(&Stub::ModelMetadata, in, out);
    nlohmann::json j = {{"name", out.name()}, {"platform", out.platform()}};
    for (const char* side : {"inputs", "outputs"}) {
      j[side] = nlohmann::json::array();
      const auto& list = std::string(side) == "inputs" ? out.inputs() : out.outputs();
      for (const auto& t : list)
        j[side].push_back({{"name", t.name()},
                           {"datatype", t.datatype()},
                           {"shape", std::vector<int64_t>(t.shape().begin(), t.shape().end())}});
    }
    return j;
  }
  serve::InferResponse infer(const serve::InferRequest& request) override {
    inference::ModelInferRequest in;
    serve::to_proto(request, in);
    inference::ModelInferResponse out;
    call(&Stub::ModelInfer, in, out);
    return serve::from_proto(out);
  }

 private:
  using Stub = inference::GRPCInferenceService::Stub;
  template <typename In, typename Out>
  void call(grpc::Status (Stub::*method)(grpc::ClientContext*, const In&, Out*), const In& in,
            Out& out, bool opening = false) {
    grpc::ClientContext ctx;
    double timeout_s = options_.timeout_s;
    if (opening) {
      // The liveness check that opens a connection waits for it, up to 5 s (the HTTP client's
      // connection timeout): a connection attempt that fails once, as some do when dozens of
      // clients connect at the same moment, is tried again instead of failing the call at
      // once, as gRPC does by default.
      ctx.set_wait_for_ready(true);
      timeout_s = std::min(timeout_s, 5.0);
    }
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::microseconds(std::llround(timeout_s * 1e6)));
    if (!options_.token.empty()) ctx.AddMetadata("authorization", "Bearer " + options_.token);
    const grpc::Status s = (stub_.get()->*method)(&ctx, in, &out);
    if (!s.ok()) {
      const Code code = code_of_grpc(s.error_code());
      throw ServeError(code, code == Code::kUnavailable
                                 ? "cannot reach " + endpoint_.text() + ": " + s.error_message()
                                 : s.error_message());
    }
  }
  Endpoint endpoint_;
  ClientOptions options_;
  std::unique_ptr<Stub> stub_;
};

}  // namespace

Endpoint parse_url(const std::string& url) {
  const auto sep = url.find("://");
  if (sep == std::string::npos)
    throw Error("--url '" + url + "' is not http://HOST:PORT or grpc://HOST:PORT");
  Endpoint e;
  e.scheme = url.substr(0, sep);
  if (e.scheme == "https" || e.scheme == "grpcs") {
    e.scheme.pop_back();
    e.tls = true;
  }
  if (e.scheme != "http" && e.scheme != "grpc")
    throw Error("--url '" + url + "': scheme '" + url.substr(0, sep) +
                "' is none of http, https, grpc, grpcs");
  std::string rest = url.substr(sep + 3);
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  const auto colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0 || rest.find('/') != std::string::npos)
    throw Error("--url '" + url + "' has no HOST:PORT");
  e.host = rest.substr(0, colon);
  const std::string port = rest.substr(colon + 1);
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) < 1 ||
      std::stoi(port) > 65535)
    throw Error("--url '" + url + "': port '" + port + "' is not a number from 1 to 65535");
  e.port = std::stoi(port);
  return e;
}

std::string transport_name(const Endpoint& endpoint, const ClientOptions& options) {
  if (endpoint.scheme == "grpc") return "grpc";
  return options.binary ? "http-binary" : "http-json";
}

std::unique_ptr<Client> connect(const Endpoint& endpoint, const ClientOptions& options) {
  if (endpoint.scheme == "grpc") return std::make_unique<GrpcClient>(endpoint, options);
  return std::make_unique<HttpClient>(endpoint, options);
}

}  // namespace infermark::load
