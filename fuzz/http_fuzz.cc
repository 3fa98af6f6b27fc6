// libFuzzer target for serve's HTTP front (serve/http.cc): the input is the byte stream of one
// client connection, sent whole to a server on loopback (a model server with one small model
// of a tiny engine, a 64 KiB body limit, a 1 s deadline per request), whose answers are read
// until the server closes the connection. Every request line, header, Content-Length,
// chunked encoding, Expect: 100-continue, pipelined request and JSON or binary body goes
// through the same code as `infermark serve`'s.
//
// A finding is a crash or a sanitizer report in the server, an answer that is not HTTP, a
// connection the server keeps open past its deadline (a hang), or a server that stops
// answering its health probe.

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "core/backend.h"
#include "serve/http.h"
#include "serve/model_server.h"

namespace {

using namespace infermark;

[[noreturn]] void finding(const std::string& what) {
  std::fprintf(stderr, "http_fuzz: %s\n", what.c_str());
  std::abort();
}

// Scores [n, 2]: the first value of each image and its negation; no framework.
class TinyEngine final : public Engine {
 public:
  void run(const TensorView& input, Tensor& output) override {
    const int64_t n = input.shape[0];
    output.resize({n, 2});
    const int64_t per = n > 0 ? input.numel() / n : 0;
    for (int64_t i = 0; i < n; ++i) {
      output.data[static_cast<size_t>(2 * i)] = input.data[i * per];
      output.data[static_cast<size_t>(2 * i + 1)] = -input.data[i * per];
    }
  }
  nlohmann::json settings_in_effect() const override { return nlohmann::json::object(); }
};

struct Server {
  serve::ModelServer models;
  std::unique_ptr<serve::HttpServer> http;
  Server() {
    std::vector<std::unique_ptr<Engine>> engines;
    engines.push_back(std::make_unique<TinyEngine>());
    serve::ModelSignature sig;
    sig.image_shape = {1, 2, 2};
    sig.classes = 2;
    serve::BatchPolicy policy;
    policy.max_batch = 4;
    policy.max_queue_delay_ms = 0.5;
    policy.max_queue = 8;
    models.add(std::make_unique<serve::ServedModel>("m", std::move(engines), sig, policy));
    serve::HttpOptions o;
    o.port = 0;
    o.threads = 4;
    o.max_body_bytes = 64 * 1024;
    o.request_timeout_s = 1;
    http = std::make_unique<serve::HttpServer>(models, o);
  }
};

// A connection to the server; a connect interrupted by a signal (libFuzzer's timer) is tried
// again on a fresh socket.
int connect_to(int port) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) finding(std::string("socket: ") + std::strerror(errno));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return fd;
    const int error = errno;
    ::close(fd);
    if (error != EINTR) finding(std::string("connect: ") + std::strerror(error));
  }
  finding("connect: interrupted 100 times");
}

// Sends `bytes` (as much as the server takes: it may close early, after a 413), closes the
// sending side, and reads until the server closes; returns what it answered.
std::string exchange(int port, const uint8_t* data, size_t size) {
  const int fd = connect_to(port);
  size_t sent = 0;
  while (sent < size) {
    const ssize_t n = ::send(fd, data + sent, size - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  std::string answer;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  char buffer[16384];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) finding("the server kept the connection open past 10 s (its deadline is 1 s)");
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // closed (or reset, after a refused body)
    if (answer.size() < (size_t{1} << 20)) answer.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return answer;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Server server;
  static uint64_t inputs = 0;
  const std::string answer = exchange(server.http->port(), data, size);
  if (!answer.empty() && answer.rfind("HTTP/1.", 0) != 0)
    finding("an answer that is not HTTP: " + answer.substr(0, 80));
  // Every 256 inputs, the server still answers its health probe.
  if (++inputs % 256 == 0) {
    static const char probe[] =
        "GET /v2/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    const std::string live =
        exchange(server.http->port(), reinterpret_cast<const uint8_t*>(probe), sizeof probe - 1);
    if (live.rfind("HTTP/1.1 200", 0) != 0) finding("the health probe got: " + live.substr(0, 80));
  }
  return 0;
}
