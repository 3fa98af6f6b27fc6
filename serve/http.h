#pragma once

// The KServe v2 protocol over HTTP/REST (cpp-httplib, Debian's libcpp-httplib-dev): health,
// server and model metadata, infer with JSON tensors or Triton's binary tensor data
// extension, and Prometheus /metrics, in front of a ModelServer.

#include <memory>
#include <string>
#include <thread>

#include "serve/model_server.h"

namespace httplib {
class Server;
}

namespace infermark::serve {

struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 8000;  // 0: any free port (port() says which)
  size_t max_body_bytes = size_t{64} << 20;
  // Connections served at once, each on its own thread (a keep-alive connection holds one
  // between its requests): more than a model's queue, so that overload is answered 429 by the
  // queue instead of waiting for a thread.
  int threads = 128;
  // A client that sends nothing for this long is disconnected (a slow or stalled client
  // holds a thread no longer).
  double read_timeout_s = 5;
};

class HttpServer {
 public:
  // Binds the port; throws Error when it cannot.
  HttpServer(ModelServer& server, const HttpOptions& options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  int port() const { return port_; }
  // Stops accepting connections and waits for the requests being served to be answered.
  void stop();

 private:
  ModelServer& server_;
  std::unique_ptr<httplib::Server> http_;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace infermark::serve
