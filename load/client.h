#pragma once

// A client of any KServe v2 (Open Inference) server, over HTTP/REST (JSON tensors or the
// binary tensor data extension) or gRPC: what `infermark load` sends its requests with.

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "serve/protocol.h"

namespace infermark::load {

// http://HOST:PORT or grpc://HOST:PORT (the transport is the scheme); https:// and grpcs://
// for the same over TLS.
struct Endpoint {
  std::string scheme;  // http or grpc
  std::string host;
  int port = 0;
  bool tls = false;
  std::string text() const {
    return scheme + (tls ? "s" : "") + "://" + host + ":" + std::to_string(port);
  }
};
// Throws Error naming the URL and what is wrong with it.
Endpoint parse_url(const std::string& url);

struct ClientOptions {
  std::string token;      // sent as "Authorization: Bearer TOKEN" when not empty
  double timeout_s = 60;  // per request
  bool binary = false;    // HTTP: binary tensor data extension (gRPC always sends raw bytes)
  // TLS: the PEM file of the certificate authority the server's certificate is checked
  // against (empty: the system's).
  std::string tls_ca;
};

// "http-json", "http-binary" or "grpc": how a request travels, as results name it.
std::string transport_name(const Endpoint& endpoint, const ClientOptions& options);

// One connection, used from one thread at a time.
class Client {
 public:
  virtual ~Client() = default;
  virtual bool live() = 0;
  virtual bool ready() = 0;
  // As the HTTP/REST protocol's JSON ({name, version, extensions}; {name, platform, inputs,
  // outputs, parameters?}), whichever the transport.
  virtual nlohmann::json server_metadata() = 0;
  virtual nlohmann::json model_metadata(const std::string& model) = 0;
  // Throws ServeError with the code of the server's answer (kOverloaded for HTTP 429 and gRPC
  // RESOURCE_EXHAUSTED), or kUnavailable when the server cannot be reached.
  virtual serve::InferResponse infer(const serve::InferRequest& request) = 0;
};

std::unique_ptr<Client> connect(const Endpoint& endpoint, const ClientOptions& options);

}  // namespace infermark::load
