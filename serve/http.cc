#include "serve/http.h"

#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace infermark::serve {
namespace {

void answer_error(httplib::Response& res, Code code, const std::string& message) {
  res.status = http_status(code);
  res.set_content(error_body(message), "application/json");
}

void answer_json(httplib::Response& res, const nlohmann::json& j) {
  res.status = 200;
  res.set_content(j.dump(), "application/json");
}

bool is_health(const std::string& path) { return path.rfind("/v2/health/", 0) == 0; }

}  // namespace

HttpServer::HttpServer(ModelServer& server, const HttpOptions& options)
    : server_(server), http_(std::make_unique<httplib::Server>()) {
  httplib::Server& h = *http_;
  const int threads = options.threads;
  if (threads < 1) throw Error("--http-threads must be >= 1");
  h.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  h.set_payload_max_length(options.max_body_bytes);
  const auto timeout_us = static_cast<long long>(std::llround(options.read_timeout_s * 1e6));
  h.set_read_timeout(timeout_us / 1000000, timeout_us % 1000000);
  h.set_write_timeout(timeout_us / 1000000, timeout_us % 1000000);
  h.set_keep_alive_max_count(1000000);
  // A connection waiting for its next request (or its first) is held as long as a read: by
  // default httplib waits 5 s there whatever the read timeout, so a client that connects and
  // sends nothing, or stalls mid-body (answered 400, then kept alive), would hold its thread
  // longer than read_timeout_s says. Whole seconds only: rounded up.
  h.set_keep_alive_timeout(
      static_cast<time_t>(std::max<long long>(1, (timeout_us + 999999) / 1000000)));
  // Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm holds
  // the body until the client's delayed ACK (40 ms on Linux).
  h.set_tcp_nodelay(true);

  // The bearer token guards everything but the health probes (orchestrators probe without).
  h.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (is_health(req.path) || server_.authorized(req.get_header_value("Authorization")))
      return httplib::Server::HandlerResponse::Unhandled;
    server_.count_failure(Code::kUnauthenticated);
    answer_error(res, Code::kUnauthenticated, "missing or wrong bearer token (Authorization)");
    res.set_header("WWW-Authenticate", "Bearer");
    return httplib::Server::HandlerResponse::Handled;
  });
  // What httplib answers itself (no route, a body over the limit) gets a JSON error too.
  h.set_error_handler([this, options](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 413) {
      server_.count_failure(Code::kTooLarge);
      res.set_content(error_body("the body is larger than the server's limit of " +
                                 std::to_string(options.max_body_bytes) + " bytes"),
                      "application/json");
    } else if (res.status == 404) {
      res.set_content(error_body("no route " + req.method + " " + req.path), "application/json");
    } else {
      res.set_content(error_body("HTTP " + std::to_string(res.status)), "application/json");
    }
  });
  h.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          answer_error(res, Code::kInternal, e.what());
        } catch (...) {
          answer_error(res, Code::kInternal, "unknown failure");
        }
      });

  h.Get("/v2/health/live", [](const httplib::Request&, httplib::Response& res) {
    answer_json(res, {{"live", true}});
  });
  h.Get("/v2/health/ready", [this](const httplib::Request&, httplib::Response& res) {
    res.status = server_.ready() ? 200 : 503;
    res.set_content(nlohmann::json{{"ready", server_.ready()}}.dump(), "application/json");
  });
  h.Get("/v2", [this](const httplib::Request&, httplib::Response& res) {
    answer_json(res, server_.metadata());
  });
  h.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(server_.metrics(), "text/plain; version=0.0.4");
  });
  const std::string model = "/v2/models/([^/]+)(?:/versions/([^/]+))?";
  h.Get(model, [this](const httplib::Request& req, httplib::Response& res) {
    try {
      answer_json(res, server_.model(req.matches[1]).metadata());
    } catch (const ServeError& e) {
      answer_error(res, e.code(), e.what());
    }
  });
  h.Get(model + "/ready", [this](const httplib::Request& req, httplib::Response& res) {
    try {
      server_.model(req.matches[1]);
      res.status = server_.ready() ? 200 : 503;
      res.set_content(nlohmann::json{{"ready", server_.ready()}}.dump(), "application/json");
    } catch (const ServeError& e) {
      answer_error(res, e.code(), e.what());
    }
  });
  // Infer reads its own body, so that a request the model's queue would refuse anyway is
  // answered 429 before its body is stored and parsed: under a flood, refusing costs reading
  // the bytes off the socket, not allocating and parsing them (which took the goodput down to
  // a third of the peak and left the threads' malloc arenas holding the flood's bodies).
  const size_t max_body = options.max_body_bytes;
  h.Post(model + "/infer", [this, max_body](const httplib::Request& req, httplib::Response& res,
                                            const httplib::ContentReader& reader) {
    std::string body;
    ServedModel* served = nullptr;
    try {
      served = &server_.model(req.matches[1]);
    } catch (const ServeError&) {
      // No such model: answered below, after the body is read.
    }
    const bool keep = served == nullptr || !served->full();
    if (keep) {
      const std::string length = req.get_header_value("Content-Length");
      const unsigned long long n = std::strtoull(length.c_str(), nullptr, 10);
      body.reserve(static_cast<size_t>(std::min<unsigned long long>(n, max_body)));
    }
    // The body is read whole either way, so that the connection stays in step for its next
    // request (a body left unread would be taken for one).
    const bool read = reader([&](const char* data, size_t n) {
      if (keep) body.append(data, n);
      return true;
    });
    if (!read) return;  // httplib answers a body over the limit (413) or a broken one
    if (!keep) {
      // Refused by the queue at once, as submit() would (and counted by it).
      try {
        served->submit_refused();
      } catch (const ServeError& e) {
        answer_error(res, e.code(), e.what());
      }
      return;
    }
    InferRequest request;
    try {
      const std::optional<size_t> json_length =
          parse_json_length(req.get_header_value("Inference-Header-Content-Length"), body.size());
      request = parse_infer_request(body, json_length, req.matches[1]);
    } catch (const ServeError& e) {
      server_.count_failure(e.code());
      answer_error(res, e.code(), e.what());
      return;
    }
    body = std::string();  // the tensor holds the data now
    try {
      const bool binary = request.binary_output;
      const HttpBody out = write_infer_response(server_.infer(std::move(request)), binary);
      res.status = 200;
      if (out.json_length) {
        res.set_header("Inference-Header-Content-Length", std::to_string(*out.json_length));
        res.set_content(out.body, "application/octet-stream");
      } else {
        res.set_content(out.body, "application/json");
      }
    } catch (const ServeError& e) {
      answer_error(res, e.code(), e.what());
    }
  });

  // The listening socket, as httplib creates it: SO_REUSEADDR only. httplib's default also
  // sets SO_REUSEPORT, with which a second server binds a port already served and the kernel
  // splits the connections between the two, instead of "in use" being refused.
  auto listening = std::make_shared<int>(-1);
  h.set_socket_options([listening](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    *listening = sock;
  });

  if (options.port == 0) {
    port_ = h.bind_to_any_port(options.host);
    if (port_ <= 0) throw Error("cannot listen on " + options.host + " (any port)");
  } else {
    if (!h.bind_to_port(options.host, options.port))
      throw Error("cannot listen on " + options.host + ":" + std::to_string(options.port) +
                  " (in use, or not an address of this machine)");
    port_ = options.port;
  }
  // httplib listens with a backlog of 5: a burst of clients connecting at once overflows it,
  // and a connection whose handshake the kernel dropped can lose its request ("Read" error)
  // instead of being answered (or refused 429 by the queue). Listening again sets the backlog.
  if (*listening >= 0 && ::listen(*listening, SOMAXCONN) != 0)
    throw Error("cannot listen on " + options.host + ":" + std::to_string(port_) + ": " +
                std::strerror(errno));
  auto returned = std::make_shared<std::atomic<bool>>(false);
  thread_ = std::thread([this, returned] {
    http_->listen_after_bind();
    *returned = true;
  });
  // httplib's stop() does nothing until listen_after_bind() has begun running: a server
  // stopped right after it was made (a gRPC port that cannot be bound) would never end.
  while (!http_->is_running() && !*returned)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::stop() {
  if (!thread_.joinable()) return;
  http_->stop();
  thread_.join();
}

}  // namespace infermark::serve
