// What a hostile or broken client sends `serve`, and what the server must still do: a chunked
// body past the limit refused at once with bounded memory, any JSON under the limit parsed in
// linear time and bounded memory, slow clients that hold no thread, TLS on both transports, and
// no unguarded server beyond this machine. Run serially (ctest RUN_SERIAL): the bounds are
// times and memory, with margins for a busy 2-core machine.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/resource.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>

#include "tests/command.h"
#include "tests/serve/stack.h"

namespace infermark {
namespace {

using namespace serve_testing;  // NOLINT(google-build-using-namespace): the fixtures
namespace fs = std::filesystem;

constexpr size_t kMiB = size_t{1} << 20;

// The kernel's count of this process's pages, and its peak since reset_peak().
size_t status_kib(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) return std::stoull(line.substr(std::strlen(key)));
  ADD_FAILURE() << "no " << key << " in /proc/self/status";
  return 0;
}
// The peak resident memory (VmHWM) set back to the current (Linux's clear_refs, value 5).
void reset_peak() {
  std::ofstream("/proc/self/clear_refs") << "5";
  ASSERT_LE(status_kib("VmHWM:"), status_kib("VmRSS:") + 1024)
      << "the kernel did not reset the peak resident memory (/proc/self/clear_refs)";
}
// MiB of peak resident memory above `base_kib` (a VmRSS read before).
double peak_growth_mib(size_t base_kib) {
  const size_t peak = status_kib("VmHWM:");
  return peak > base_kib ? static_cast<double>(peak - base_kib) / 1024 : 0;
}
// CPU seconds of this process (every thread: the server's and the client's).
double cpu_s() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

serve::HttpOptions options(size_t max_body, int threads, double timeout_s = 5) {
  serve::HttpOptions o;
  o.max_body_bytes = max_body;
  o.threads = threads;
  o.request_timeout_s = timeout_s;
  return o;
}

TEST(ServeHostile, ChunkedBodyPastTheLimitIsRefused413AtOnce) {
  Stack s(fake(0), policy(8, 1, 64), "", options(4 * kMiB, 8));
  RawSocket raw(s.http->port());
  // Whatever the server answers, read while the body is being sent.
  std::string received;
  std::thread reader([&] { raw.wait_closed(30, &received); });
  reset_peak();
  const size_t base = status_kib("VmRSS:");
  raw.send(
      "POST /v2/models/fake/infer HTTP/1.1\r\nHost: 127.0.0.1\r\n"
      "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
  const std::string chunk = "10000\r\n" + std::string(0x10000, ' ') + "\r\n";  // 64 KiB
  size_t sent = 0;
  const auto t0 = WallClock::now();
  while (sent < 64 * kMiB) {
    const ssize_t n = ::send(raw.fd(), chunk.data(), chunk.size(), MSG_NOSIGNAL);
    if (n <= 0) break;  // the server closed the connection
    sent += static_cast<size_t>(n);
  }
  reader.join();
  const double growth = peak_growth_mib(base);
  std::cout << "chunked: " << sent / kMiB << " MiB sent before the server closed, after "
            << since_s(t0) << " s; peak memory +" << growth << " MiB\n";
  EXPECT_EQ(received.rfind("HTTP/1.1 413", 0), 0u) << received.substr(0, 200);
  EXPECT_NE(received.find("4194304 bytes"), std::string::npos) << received.substr(0, 400);
  EXPECT_LT(sent, 32 * kMiB) << "the server read far past its 4 MiB limit";
  EXPECT_LT(growth, 16) << "MiB of peak memory for a refused body";
  // The server still answers.
  const auto res = s.post(json_body(3));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

// Bytes that are not UTF-8 where a client can put them (a JSON key, the model's name in the
// URL): a 400 or 404 whose message is valid JSON, and the server goes on. (Found by the fuzz
// target of the HTTP front: nlohmann's dump() threw on the bytes the parser's message quoted,
// out of an I/O thread, which ended the process.)
TEST(ServeHostile, BytesThatAreNotUtf8AreAnsweredNotFatal) {
  Stack s(fake(0), policy(8, 1, 64), "", options(4 * kMiB, 8));
  httplib::Client c = s.client();
  const auto bad_key =
      c.Post("/v2/models/fake/infer", std::string("{\"inputs\":[{\"da\x8d\x9e\xdd\":1}]}"),
             "application/json");
  ASSERT_TRUE(bad_key);
  EXPECT_EQ(bad_key->status, 400);
  EXPECT_TRUE(json::parse(bad_key->body, nullptr, false).is_object()) << bad_key->body;
  const auto bad_name = c.Get("/v2/models/%FF%FE");
  ASSERT_TRUE(bad_name);
  EXPECT_EQ(bad_name->status, 404);
  EXPECT_TRUE(json::parse(bad_name->body, nullptr, false).is_object()) << bad_name->body;
  const auto res = s.post(json_body(2));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

// Bodies of just under 4 MiB, each a shape a client chooses to make a parser slow or large.
std::vector<std::pair<std::string, std::string>> hostile_bodies() {
  const size_t target = 4 * kMiB - 4096;
  auto repeat = [&](const std::string& head, const std::string& item, const std::string& tail) {
    std::string b = head;
    b.reserve(target + item.size());
    while (b.size() + item.size() + tail.size() + 1 < target)
      b += (b.size() > head.size() ? "," : "") + item;
    return b + tail;
  };
  std::vector<std::pair<std::string, std::string>> bodies;
  bodies.emplace_back("empty objects", repeat(R"({"inputs":[)", "{}", "]}"));
  bodies.emplace_back("arrays 14 deep",
                      repeat(R"({"inputs":[{"name":"input","datatype":"FP32","shape":[1],"data":[)",
                             std::string(12, '[') + "0" + std::string(12, ']'), "]}]}"));
  bodies.emplace_back("a long string",
                      R"({"id":")" + std::string(target, 'x') + R"(","inputs":[]})");
  {
    std::string b = "{";
    for (size_t i = 0; b.size() < target; ++i) b += "\"k" + std::to_string(i) + "\":0,";
    b.back() = '}';
    bodies.emplace_back("many keys", b);
  }
  bodies.emplace_back(
      "numbers",
      repeat(R"({"inputs":[{"name":"input","datatype":"FP32","shape":[1],"data":[)", "0", "]}]}"));
  bodies.emplace_back(
      "strings in data",
      repeat(R"({"inputs":[{"name":"input","datatype":"BYTES","shape":[1],"data":[)", R"("")",
             "]}]}"));
  return bodies;
}

TEST(ServeHostile, AnyJsonUnderTheLimitIsAnsweredInLinearTimeAndBoundedMemory) {
  Stack s(fake(0), policy(8, 1, 64), "", options(4 * kMiB, 8));
  httplib::Client c = s.client();
  for (const auto& [what, body] : hostile_bodies()) {
    ASSERT_LT(body.size(), 4 * kMiB) << what;
    reset_peak();
    const size_t base = status_kib("VmRSS:");
    const double cpu0 = cpu_s();
    const auto t0 = WallClock::now();
    const auto res = c.Post("/v2/models/fake/infer", body, "application/json");
    const double wall = since_s(t0), cpu = cpu_s() - cpu0, growth = peak_growth_mib(base);
    std::cout << what << " (" << body.size() / 1024 << " KiB): " << wall << " s, " << cpu
              << " s of CPU, peak memory +" << growth << " MiB\n";
    ASSERT_TRUE(res) << what;
    EXPECT_EQ(res->status, 400) << what << ": " << res->body.substr(0, 300);
    EXPECT_FALSE(error_of(res->body).empty()) << what;
    EXPECT_LT(cpu, 1.0) << what << ": CPU seconds to refuse it";
    EXPECT_LT(growth, 32) << what << ": MiB of peak memory to refuse it";
  }
}

TEST(ServeHostile, SlowClientsHoldNoThread) {
  // 16 clients trickle a byte every 200 ms at a server with 8 handler threads.
  Stack s(fake(0), policy(8, 1, 64), "", options(4 * kMiB, 8, 3));
  std::vector<std::unique_ptr<RawSocket>> slow;
  for (int i = 0; i < 16; ++i) slow.push_back(std::make_unique<RawSocket>(s.http->port()));
  const std::string head = request_head(s.http->port(), 1000);
  std::atomic<bool> stop{false};
  std::thread trickle([&] {
    for (size_t at = 0; !stop && at < head.size(); ++at) {
      for (auto& r : slow) ::send(r->fd(), &head[at], 1, MSG_NOSIGNAL);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  httplib::Client c = s.client();
  for (int i = 0; i < 3; ++i) {
    const auto t0 = WallClock::now();
    const auto ready = c.Get("/v2/health/ready");
    const double health_s = since_s(t0);
    ASSERT_TRUE(ready);
    EXPECT_EQ(ready->status, 200);
    EXPECT_LT(health_s, 1.0) << "s for /v2/health/ready with 16 slow clients connected";
    const auto t1 = WallClock::now();
    const auto res = s.post(json_body(5));
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_LT(since_s(t1), 1.0) << "s for an infer with 16 slow clients connected";
  }
  // The deadline is for the whole request: each slow client is closed after about 3 s, though
  // it never stopped sending.
  std::string got;
  const std::optional<double> closed = slow.front()->wait_closed(6, &got);
  stop = true;
  trickle.join();
  EXPECT_TRUE(closed.has_value()) << "a client trickling its request is still connected";
}

// A certificate for localhost and 127.0.0.1, made by the openssl command in `dir`.
void make_certificate(const fs::path& dir) {
  const CommandRun r = run_command(
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost"
      " -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout '" +
      (dir / "key.pem").string() + "' -out '" + (dir / "cert.pem").string() + "' 2>&1");
  ASSERT_EQ(r.code, 0) << r.output;
}

TEST(ServeHostile, TlsOnHttpAndGrpcWithTheLoadClient) {
  const fs::path dir = fs::path(::testing::TempDir()) / "infermark-tls";
  fs::create_directories(dir);
  make_certificate(dir);
  serve::HttpOptions o;
  o.tls_cert = (dir / "cert.pem").string();
  o.tls_key = (dir / "key.pem").string();
  Stack s(fake(0), policy(8, 1, 64), "", o);
  load::ClientOptions trusted;
  trusted.tls_ca = (dir / "cert.pem").string();
  for (load::Endpoint e : {s.http_endpoint(), s.grpc_endpoint()}) {
    e.tls = true;
    auto client = load::connect(e, trusted);
    EXPECT_TRUE(client->live()) << e.text();
    expect_rows(client->infer(request_of({7, 8})), {7, 8});
    // Without TLS, the same port answers nothing a plain client can read.
    load::Endpoint plain = e;
    plain.tls = false;
    EXPECT_THROW(load::connect(plain, {})->infer(request_of({1})), ServeError) << e.text();
  }
  // A client that trusts another authority refuses the server.
  load::Endpoint e = s.http_endpoint();
  e.tls = true;
  const fs::path other = dir / "other";
  fs::create_directories(other);
  make_certificate(other);
  load::ClientOptions wrong;
  wrong.tls_ca = (other / "cert.pem").string();
  EXPECT_THROW(load::connect(e, wrong)->live(), ServeError);

  // The command: load --tls-ca over https:// against the server.
  const fs::path out = dir / "load.jsonl";
  fs::remove(out);
  const CommandRun r =
      run_command(std::string(INFERMARK_BINARY) + " load --url https://127.0.0.1:" +
                  std::to_string(s.http->port()) + " --tls-ca '" + trusted.tls_ca +
                  "' --model fake --concurrency 1 --duration 0.5 --min-queries 5 --out '" +
                  out.string() + "' 2>&1");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_GE(s.model().stats().succeeded, 7) << r.output;
}

TEST(ServeHostile, ServerBeyondThisMachineNeedsATokenOrInsecure) {
  EXPECT_TRUE(serve::loopback_host("127.0.0.1"));
  EXPECT_TRUE(serve::loopback_host("127.1.2.3"));
  EXPECT_TRUE(serve::loopback_host("localhost"));
  EXPECT_TRUE(serve::loopback_host("::1"));
  EXPECT_FALSE(serve::loopback_host("0.0.0.0"));
  EXPECT_FALSE(serve::loopback_host("10.0.0.1"));
  EXPECT_FALSE(serve::loopback_host("example.org"));
  const std::string serve = std::string("env -u INFERMARK_TOKEN ") + INFERMARK_BINARY +
                            " serve --host 0.0.0.0 --models no-such-model.onnx 2>&1";
  const CommandRun refused = run_command(serve);
  EXPECT_NE(refused.code, 0);
  EXPECT_NE(refused.output.find("--insecure"), std::string::npos) << refused.output;
  EXPECT_NE(refused.output.find("0.0.0.0"), std::string::npos) << refused.output;
  EXPECT_EQ(std::count(refused.output.begin(), refused.output.end(), '\n'), 1) << refused.output;
  // With --insecure, the host passes and the next check speaks: the model that is not there.
  const CommandRun insecure =
      run_command(std::string("env -u INFERMARK_TOKEN ") + INFERMARK_BINARY +
                  " serve --host 0.0.0.0 --insecure --models no-such-model.onnx 2>&1");
  EXPECT_NE(insecure.code, 0);
  EXPECT_EQ(insecure.output.find("--insecure"), std::string::npos) << insecure.output;
  EXPECT_NE(insecure.output.find("no-such-model"), std::string::npos) << insecure.output;
}

}  // namespace
}  // namespace infermark
