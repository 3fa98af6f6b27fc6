#pragma once

// The KServe v2 protocol over HTTP/REST (Boost.Beast on Boost.Asio, Debian's libboost-dev):
// health, server and model metadata, infer with JSON tensors or Triton's binary tensor data
// extension, and Prometheus /metrics, in front of a ModelServer; HTTPS when given a
// certificate.
//
// Reading and writing are event-driven, so that a slow or stalled client holds no thread: one
// of `threads` threads is held only while a request read whole is handled (infer waits there
// for its batch). Every bound holds whatever a client sends: the body limit
// for every transfer encoding (413 as soon as it is passed), a deadline for the whole request,
// a bound on open connections, and a request parser linear in the body (serve/protocol.h).

#include <memory>
#include <string>

#include "serve/model_server.h"

namespace infermark::serve {

struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 8000;  // 0: any free port (port() says which)
  size_t max_body_bytes = size_t{64} << 20;
  // Requests handled at once (infer holds its thread while it waits for its batch), and the
  // threads that read and write every connection between: more than a model's queue, so that
  // overload is answered 429 by the queue instead of waiting for a thread.
  int threads = 128;
  // A request must arrive whole (headers and body) within this many seconds of the server
  // starting to wait for it, and its response must be taken within as long; past it the
  // connection is closed. An idle keep-alive connection is closed after it too.
  double request_timeout_s = 5;
  // Connections open at once; one more is closed as soon as it is accepted.
  int max_connections = 1024;
  // PEM files: HTTPS (TLS 1.2 or later) when both are given.
  std::string tls_cert, tls_key;
};

// Whether a --host value listens on this machine only (127.0.0.0/8, ::1, localhost).
bool loopback_host(const std::string& host);

class HttpServer {
 public:
  // Binds the port (and reads the certificate); throws Error when it cannot.
  HttpServer(ModelServer& server, const HttpOptions& options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  int port() const;
  // Stops accepting connections, closes those waiting for a request, and waits for the
  // requests being read or served to be answered.
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace infermark::serve
