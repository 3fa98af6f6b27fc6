#pragma once

// The fixtures of the serve, load and hostile-client tests: FakeEngine models behind a
// ModelServer, requests and their expected rows, a server stack (HTTP and gRPC on loopback,
// ephemeral ports) and a raw socket for what a well-behaved client never sends.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <future>
#include <iostream>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "load/client.h"
#include "load/load.h"
#include "serve/grpc.h"
#include "serve/http.h"
#include "serve/model_server.h"
#include "serve/protocol.h"
#include "tests/scenarios/fake_engine.h"

namespace infermark::serve_testing {

using nlohmann::json;
using serve::Code;
using serve::InferRequest;
using serve::InferResponse;
using serve::ServeError;
using serve::WireTensor;
using testing::FakeEngine;

using WallClock = std::chrono::steady_clock;

inline constexpr int64_t kClasses = 5;
inline const std::vector<int64_t> kImage = {3, 4, 4};
inline constexpr int64_t kPerImage = 3 * 4 * 4;

inline double since_s(WallClock::time_point t0) {
  return std::chrono::duration<double>(WallClock::now() - t0).count();
}

// ---------------------------------------------------------------------------------------------
// Fixtures: engines, requests, a server stack.

inline std::unique_ptr<Engine> fake(double a_s, float offset = 0) {
  auto e = std::make_unique<FakeEngine>(nullptr, a_s, 0);
  e->classes = kClasses;
  e->offset = offset;
  return e;
}

// An engine that holds its calls until the gate opens, then runs the FakeEngine inside.
class GatedEngine final : public Engine {
 public:
  GatedEngine(std::unique_ptr<Engine> inner, const std::atomic<bool>& gate)
      : inner_(std::move(inner)), gate_(gate) {}
  void run(const TensorView& input, Tensor& output) override {
    while (!gate_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    inner_->run(input, output);
  }
  json settings_in_effect() const override { return inner_->settings_in_effect(); }

 private:
  std::unique_ptr<Engine> inner_;
  const std::atomic<bool>& gate_;
};

inline serve::ModelSignature signature() {
  serve::ModelSignature s;
  s.image_shape = kImage;
  s.classes = kClasses;
  return s;
}

inline serve::BatchPolicy policy(int64_t max_batch, double delay_ms, int64_t max_queue) {
  serve::BatchPolicy p;
  p.max_batch = max_batch;
  p.max_queue_delay_ms = delay_ms;
  p.max_queue = max_queue;
  return p;
}

// One request of `firsts.size()` images [3, 4, 4], image i's values all firsts[i].
inline InferRequest request_of(const std::vector<float>& firsts, bool binary = false) {
  InferRequest r;
  r.model = "fake";
  WireTensor t;
  t.name = "input";
  t.datatype = "FP32";
  t.shape = {static_cast<int64_t>(firsts.size()), 3, 4, 4};
  for (float v : firsts) t.data.insert(t.data.end(), kPerImage, v);
  t.binary = binary;
  r.inputs.push_back(std::move(t));
  r.binary_output = binary;
  return r;
}

inline std::string json_body(float first) {
  return serve::write_infer_request(request_of({first})).body;
}

// The response's output is [firsts.size(), kClasses] with row i = firsts[i] + offset + j.
inline void expect_rows(const InferResponse& r, const std::vector<float>& firsts,
                        float offset = 0) {
  ASSERT_EQ(r.outputs.size(), 1u);
  const WireTensor& out = r.outputs[0];
  EXPECT_EQ(out.name, "output");
  EXPECT_EQ(out.datatype, "FP32");
  ASSERT_EQ(out.shape, (std::vector<int64_t>{static_cast<int64_t>(firsts.size()), kClasses}));
  ASSERT_EQ(out.data.size(), firsts.size() * kClasses);
  for (size_t i = 0; i < firsts.size(); ++i)
    for (int64_t j = 0; j < kClasses; ++j)
      EXPECT_FLOAT_EQ(out.data[i * kClasses + static_cast<size_t>(j)],
                      firsts[i] + offset + static_cast<float>(j))
          << "row " << i << " column " << j;
}

// An HTTP response body's {"error": ...}; fails the test when the body is no such JSON.
inline std::string error_of(const std::string& body) {
  const json j = json::parse(body, nullptr, false);
  EXPECT_TRUE(j.is_object() && j.contains("error") && j["error"].is_string()) << body;
  return j.is_object() && j.contains("error") && j["error"].is_string()
             ? j["error"].get<std::string>()
             : std::string();
}

// A ModelServer with one model "fake", in front of it HTTP and gRPC on ephemeral ports.
struct Stack {
  explicit Stack(std::vector<std::unique_ptr<Engine>> engines,
                 serve::BatchPolicy batch = policy(8, 1, 64), std::string token = "",
                 serve::HttpOptions http_options = {})
      : server(std::move(token)) {
    server.add(std::make_unique<serve::ServedModel>("fake", std::move(engines), signature(), batch,
                                                    json{{"framework", "fake"}}));
    http_options.host = "127.0.0.1";
    http_options.port = 0;
    http = std::make_unique<serve::HttpServer>(server, http_options);
    serve::GrpcOptions grpc_options;
    grpc_options.host = "127.0.0.1";
    grpc_options.port = 0;
    grpc_options.tls_cert = http_options.tls_cert;
    grpc_options.tls_key = http_options.tls_key;
    grpc = std::make_unique<serve::GrpcServer>(server, grpc_options);
  }
  explicit Stack(std::unique_ptr<Engine> engine, serve::BatchPolicy batch = policy(8, 1, 64),
                 std::string token = "", serve::HttpOptions http_options = {})
      : Stack(one(std::move(engine)), batch, std::move(token), std::move(http_options)) {}

  static std::vector<std::unique_ptr<Engine>> one(std::unique_ptr<Engine> e) {
    std::vector<std::unique_ptr<Engine>> v;
    v.push_back(std::move(e));
    return v;
  }
  serve::ServedModel& model() { return server.model("fake"); }
  load::Endpoint http_endpoint() const { return {"http", "127.0.0.1", http->port()}; }
  load::Endpoint grpc_endpoint() const { return {"grpc", "127.0.0.1", grpc->port()}; }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", http->port());
    c.set_read_timeout(10, 0);
    return c;
  }
  httplib::Result post(const std::string& body, const std::string& model = "fake") const {
    return client().Post(("/v2/models/" + model + "/infer").c_str(), body, "application/json");
  }

  serve::ModelServer server;
  std::unique_ptr<serve::HttpServer> http;
  std::unique_ptr<serve::GrpcServer> grpc;
};

// A raw TCP connection to 127.0.0.1:port (what httplib's client would never send).
class RawSocket {
 public:
  explicit RawSocket(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    EXPECT_GE(fd_, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
  }
  ~RawSocket() { close(); }
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;
  void send(const std::string& bytes) {
    ASSERT_EQ(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }
  int fd() const { return fd_; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // Reads until the server closes the connection (recv gives 0 or an error other than a
  // timeout) or until `within_s` have passed. Returns the seconds it took, or nullopt when the
  // connection was still open at the end; what arrived is appended to *received.
  std::optional<double> wait_closed(double within_s, std::string* received) {
    const auto t0 = WallClock::now();
    timeval tv{0, 50000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[4096];
    while (since_s(t0) < within_s) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        received->append(buf, static_cast<size_t>(n));
      } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        return since_s(t0);
      }
    }
    return std::nullopt;
  }

 private:
  int fd_;
};

inline std::string request_head(int port, size_t content_length) {
  return "POST /v2/models/fake/infer HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(content_length) +
         "\r\n\r\n";
}

// The value of a Prometheus line `metric{labels} value` in text; NaN when absent.
inline double metric(const std::string& text, const std::string& series) {
  const auto at = text.find(series + " ");
  if (at == std::string::npos) return std::nan("");
  return std::stod(text.substr(at + series.size() + 1));
}

}  // namespace infermark::serve_testing
