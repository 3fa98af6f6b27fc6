// `infermark serve` and `infermark load` in process: the KServe v2 parsers (serve/protocol.h),
// the HTTP (serve/http.h) and gRPC (serve/grpc.h) fronts on loopback in front of a ModelServer
// whose models are FakeEngines (tests/scenarios/fake_engine.h: output row i, column j =
// first value of image i + offset + j, after a fixed busy-wait), and the load generator
// (load/load.h). Every server listens on 127.0.0.1, port 0.

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

namespace infermark {
namespace {

using nlohmann::json;
using serve::Code;
using serve::InferRequest;
using serve::InferResponse;
using serve::ServeError;
using serve::WireTensor;
using testing::FakeEngine;

using Clock = std::chrono::steady_clock;

constexpr int64_t kClasses = 5;
const std::vector<int64_t> kImage = {3, 4, 4};
constexpr int64_t kPerImage = 3 * 4 * 4;

double since_s(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// ---------------------------------------------------------------------------------------------
// Fixtures: engines, requests, a server stack.

std::unique_ptr<Engine> fake(double a_s, float offset = 0) {
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

serve::ModelSignature signature() {
  serve::ModelSignature s;
  s.image_shape = kImage;
  s.classes = kClasses;
  return s;
}

serve::BatchPolicy policy(int64_t max_batch, double delay_ms, int64_t max_queue) {
  serve::BatchPolicy p;
  p.max_batch = max_batch;
  p.max_queue_delay_ms = delay_ms;
  p.max_queue = max_queue;
  return p;
}

// One request of `firsts.size()` images [3, 4, 4], image i's values all firsts[i].
InferRequest request_of(const std::vector<float>& firsts, bool binary = false) {
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

std::string json_body(float first) { return serve::write_infer_request(request_of({first})).body; }

// The response's output is [firsts.size(), kClasses] with row i = firsts[i] + offset + j.
void expect_rows(const InferResponse& r, const std::vector<float>& firsts, float offset = 0) {
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
std::string error_of(const std::string& body) {
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
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // Reads until the server closes the connection (recv gives 0 or an error other than a
  // timeout) or until `within_s` have passed. Returns the seconds it took, or nullopt when the
  // connection was still open at the end; what arrived is appended to *received.
  std::optional<double> wait_closed(double within_s, std::string* received) {
    const auto t0 = Clock::now();
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

std::string request_head(int port, size_t content_length) {
  return "POST /v2/models/fake/infer HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(content_length) +
         "\r\n\r\n";
}

// The value of a Prometheus line `metric{labels} value` in text; NaN when absent.
double metric(const std::string& text, const std::string& series) {
  const auto at = text.find(series + " ");
  if (at == std::string::npos) return std::nan("");
  return std::stod(text.substr(at + series.size() + 1));
}

// ---------------------------------------------------------------------------------------------
// Protocol: the parsers alone.

TEST(Protocol, JsonRequestRoundTrip) {
  InferRequest r = request_of({1.5F, -2.25F});
  r.id = "req-7";
  r.inputs[0].data[5] = 3.125F;
  r.outputs = {"output"};
  const serve::HttpBody body = serve::write_infer_request(r);
  EXPECT_FALSE(body.json_length.has_value());
  EXPECT_TRUE(json::parse(body.body).is_object());
  const InferRequest back = serve::parse_infer_request(body.body, body.json_length, "fake");
  EXPECT_EQ(back.model, "fake");
  EXPECT_EQ(back.id, "req-7");
  ASSERT_EQ(back.inputs.size(), 1u);
  EXPECT_EQ(back.inputs[0].name, "input");
  EXPECT_EQ(back.inputs[0].datatype, "FP32");
  EXPECT_EQ(back.inputs[0].shape, (std::vector<int64_t>{2, 3, 4, 4}));
  EXPECT_FALSE(back.inputs[0].binary);
  EXPECT_EQ(back.inputs[0].data, r.inputs[0].data);
  EXPECT_EQ(back.outputs, (std::vector<std::string>{"output"}));
  EXPECT_FALSE(back.binary_output);
}

TEST(Protocol, BinaryRequestRoundTrip) {
  InferRequest r = request_of({1, 2, 3}, /*binary=*/true);
  // Values JSON text would not carry exactly, bit for bit through the binary part.
  r.inputs[0].data[0] = 1.0F / 3.0F;
  r.inputs[0].data[1] = std::numeric_limits<float>::denorm_min();
  r.inputs[0].data[2] = -0.0F;
  const serve::HttpBody body = serve::write_infer_request(r);
  ASSERT_TRUE(body.json_length.has_value());
  EXPECT_EQ(body.body.size(), *body.json_length + r.inputs[0].data.size() * sizeof(float));
  const json header = json::parse(body.body.substr(0, *body.json_length));
  EXPECT_EQ(header["inputs"][0]["parameters"]["binary_data_size"], 3 * kPerImage * 4);
  const InferRequest back = serve::parse_infer_request(body.body, body.json_length, "fake");
  ASSERT_EQ(back.inputs.size(), 1u);
  EXPECT_TRUE(back.inputs[0].binary);
  EXPECT_TRUE(back.binary_output);
  EXPECT_EQ(back.inputs[0].shape, (std::vector<int64_t>{3, 3, 4, 4}));
  ASSERT_EQ(back.inputs[0].data.size(), r.inputs[0].data.size());
  EXPECT_EQ(std::memcmp(back.inputs[0].data.data(), r.inputs[0].data.data(),
                        r.inputs[0].data.size() * sizeof(float)),
            0);

  // A binary response round trip too.
  InferResponse resp;
  resp.model = "fake";
  resp.id = "x";
  resp.outputs.push_back({"output", "FP32", {1, 2}, {0.5F, -7.0F}, true});
  const serve::HttpBody out = serve::write_infer_response(resp, true);
  ASSERT_TRUE(out.json_length.has_value());
  const InferResponse rb = serve::parse_infer_response(out.body, out.json_length);
  EXPECT_EQ(rb.model, "fake");
  EXPECT_EQ(rb.id, "x");
  ASSERT_EQ(rb.outputs.size(), 1u);
  EXPECT_EQ(rb.outputs[0].data, (std::vector<float>{0.5F, -7.0F}));
}

TEST(Protocol, NestedDataArraysAccepted) {
  const std::string body = R"({"inputs": [{"name": "input", "datatype": "FP32", "shape": [2, 3],
      "data": [[1, 2, 3], [4, [5, 6]]]}]})";
  const InferRequest r = serve::parse_infer_request(body, std::nullopt, "m");
  ASSERT_EQ(r.inputs.size(), 1u);
  EXPECT_EQ(r.inputs[0].data, (std::vector<float>{1, 2, 3, 4, 5, 6}));
  // The count still has to match the shape, nested or flat.
  const std::string short_body = R"({"inputs": [{"name": "input", "datatype": "FP32",
      "shape": [2, 3], "data": [[1, 2, 3], [4, 5]]}]})";
  EXPECT_THROW(serve::parse_infer_request(short_body, std::nullopt, "m"), ServeError);
}

TEST(Protocol, NullParametersAndModelVersionAccepted) {
  const std::string body = R"({"id": null, "parameters": null, "model_version": null,
      "inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 2], "parameters": null,
                  "data": [1, 2]}],
      "outputs": [{"name": "output", "parameters": null}]})";
  const InferRequest r = serve::parse_infer_request(body, std::nullopt, "m");
  EXPECT_EQ(r.id, "");
  EXPECT_FALSE(r.binary_output);
  EXPECT_EQ(r.inputs[0].data, (std::vector<float>{1, 2}));
  EXPECT_EQ(r.outputs, (std::vector<std::string>{"output"}));
  // A server's response with null members (as some write them).
  const std::string response = R"({"model_name": "m", "model_version": null, "id": null,
      "parameters": null,
      "outputs": [{"name": "output", "datatype": "FP32", "shape": [1, 2], "parameters": null,
                   "data": [3, 4]}]})";
  const InferResponse rr = serve::parse_infer_response(response, std::nullopt);
  EXPECT_EQ(rr.model, "m");
  EXPECT_EQ(rr.version, "");
  EXPECT_EQ(rr.outputs[0].data, (std::vector<float>{3, 4}));
  // null is not a free pass for a wrongly typed member.
  EXPECT_THROW(serve::parse_infer_request(R"({"id": 5, "inputs": []})", std::nullopt, "m"),
               ServeError);
}

TEST(Protocol, JsonDeeperThanLimitRefused) {
  // Within the limit: data nested to the maximum rank.
  std::string ok_data = "1";
  for (size_t i = 0; i < serve::kMaxRank; ++i) ok_data = "[" + ok_data + "]";
  const std::string ok = R"({"inputs": [{"name": "input", "datatype": "FP32",
      "shape": [1, 1, 1, 1, 1, 1, 1, 1], "data": )" +
                         ok_data + "}]}";
  EXPECT_EQ(serve::parse_infer_request(ok, std::nullopt, "m").inputs[0].data,
            (std::vector<float>{1}));

  const int depth = serve::kMaxJsonDepth + 4;
  const std::string deep = R"({"inputs": )" + std::string(static_cast<size_t>(depth), '[') +
                           std::string(static_cast<size_t>(depth), ']') + "}";
  try {
    serve::parse_infer_request(deep, std::nullopt, "m");
    FAIL() << "a body nested " << depth << " deep was accepted";
  } catch (const ServeError& e) {
    EXPECT_EQ(e.code(), Code::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("nested deeper than"), std::string::npos) << e.what();
  }
  // Far deeper (a stack-exhausting depth for a recursive parser) is refused the same way.
  const std::string very_deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_THROW(serve::parse_infer_request(very_deep, std::nullopt, "m"), ServeError);
}

TEST(Protocol, HeaderLengthLongerThanBodyRefused) {
  InferRequest r = request_of({1}, true);
  const serve::HttpBody body = serve::write_infer_request(r);
  ASSERT_TRUE(body.json_length.has_value());
  EXPECT_EQ(serve::parse_json_length(std::to_string(*body.json_length), body.body.size()),
            body.json_length);
  EXPECT_EQ(serve::parse_json_length("", 10), std::nullopt);
  try {
    serve::parse_json_length(std::to_string(body.body.size() + 1), body.body.size());
    FAIL() << "a JSON length past the body was accepted";
  } catch (const ServeError& e) {
    EXPECT_EQ(e.code(), Code::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("Inference-Header-Content-Length"), std::string::npos);
  }
  EXPECT_THROW(serve::parse_json_length("12x", 100), ServeError);
  EXPECT_THROW(serve::parse_json_length("-1", 100), ServeError);
  EXPECT_THROW(serve::parse_json_length("99999999999999999999999999", 100), ServeError);
  // The parser itself refuses a length past the body.
  EXPECT_THROW(serve::parse_infer_request(body.body, body.body.size() + 1, "fake"), ServeError);
}

// A binary request with `bytes` declared and `payload` appended.
std::string binary_body(size_t declared, size_t payload, std::optional<size_t>* json_length) {
  const std::string head = R"({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4],
      "parameters": {"binary_data_size": )" +
                           std::to_string(declared) + "}}]}";
  *json_length = head.size();
  return head + std::string(payload, '\0');
}

TEST(Protocol, BinaryDataSizeNotMatchingShapeRefused) {
  std::optional<size_t> len;
  std::string body = binary_body(16, 16, &len);
  EXPECT_EQ(serve::parse_infer_request(body, len, "m").inputs[0].data.size(), 4u);
  body = binary_body(12, 12, &len);
  try {
    serve::parse_infer_request(body, len, "m");
    FAIL() << "12 bytes for FP32 [1, 4] were accepted";
  } catch (const ServeError& e) {
    EXPECT_NE(std::string(e.what()).find("16 bytes of FP32 shape [1, 4]"), std::string::npos)
        << e.what();
  }
  // Declared past what the body holds.
  body = binary_body(16, 8, &len);
  EXPECT_THROW(serve::parse_infer_request(body, len, "m"), ServeError);
}

TEST(Protocol, ExtraTrailingBinaryBytesRefused) {
  std::optional<size_t> len;
  const std::string body = binary_body(16, 20, &len);
  try {
    serve::parse_infer_request(body, len, "m");
    FAIL() << "4 trailing bytes were accepted";
  } catch (const ServeError& e) {
    EXPECT_EQ(e.code(), Code::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("4 bytes of binary data"), std::string::npos) << e.what();
  }
}

TEST(Protocol, ValueOutsideFp32RangeRefused) {
  auto body = [](const std::string& value) {
    return R"({"inputs": [{"name": "input", "datatype": "FP32", "shape": [2],
        "data": [1, )" +
           value + "]}]}";
  };
  EXPECT_FLOAT_EQ(serve::parse_infer_request(body("3.4e38"), std::nullopt, "m").inputs[0].data[1],
                  3.4e38F);
  for (const char* v : {"3.5e38", "-1e39", "1e308"}) {
    try {
      serve::parse_infer_request(body(v), std::nullopt, "m");
      FAIL() << v << " was accepted as FP32";
    } catch (const ServeError& e) {
      EXPECT_NE(std::string(e.what()).find("outside the FP32 range"), std::string::npos)
          << e.what();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Serve: the HTTP front.

TEST(Serve, MalformedJson400ThenGoodRequest200) {
  Stack s(fake(0));
  auto res = s.post(R"({"inputs": [{"name": "input", )");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(error_of(res->body).find("malformed JSON"), std::string::npos) << res->body;

  res = s.post(json_body(7));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  expect_rows(serve::parse_infer_response(res->body, std::nullopt), {7});

  // The same through load's clients: JSON, the binary extension, and gRPC.
  for (const auto& [endpoint, binary] : {std::pair{s.http_endpoint(), false},
                                         {s.http_endpoint(), true},
                                         {s.grpc_endpoint(), false}}) {
    load::ClientOptions o;
    o.binary = binary;
    auto client = load::connect(endpoint, o);
    expect_rows(client->infer(request_of({0.25F, -3}, binary)), {0.25F, -3});
  }
  EXPECT_EQ(s.model().stats().succeeded, 4);
}

TEST(Serve, WrongDatatype400NamesIt) {
  Stack s(fake(0));
  const json j = {{"inputs",
                   {{{"name", "input"},
                     {"datatype", "INT64"},
                     {"shape", {1, 3, 4, 4}},
                     {"data", std::vector<int64_t>(kPerImage, 1)}}}}};
  const auto res = s.post(j.dump());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  const std::string e = error_of(res->body);
  EXPECT_NE(e.find("INT64"), std::string::npos) << e;
  EXPECT_NE(e.find("FP32"), std::string::npos) << e;
  EXPECT_EQ(s.model().stats().batches, 0);
}

TEST(Serve, WrongShape400NamesIt) {
  Stack s(fake(0));
  InferRequest r = request_of({1});
  r.inputs[0].shape = {1, 3, 5, 5};
  r.inputs[0].data.assign(75, 1.0F);
  const auto res = s.post(serve::write_infer_request(r).body);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  const std::string e = error_of(res->body);
  EXPECT_NE(e.find("[1, 3, 5, 5]"), std::string::npos) << e;
  EXPECT_NE(e.find("[N, 3, 4, 4]"), std::string::npos) << e;

  // More images than --max-batch is the client's fault too.
  const auto big = s.post(serve::write_infer_request(request_of(std::vector<float>(9, 1))).body);
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 400);
  EXPECT_NE(error_of(big->body).find("at most 8"), std::string::npos) << big->body;
  EXPECT_EQ(s.model().stats().batches, 0);
}

TEST(Serve, UnknownModel404) {
  Stack s(fake(0));
  auto res = s.post(json_body(1), "nosuch");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_NE(error_of(res->body).find("nosuch"), std::string::npos) << res->body;
  res = s.client().Get("/v2/models/nosuch");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  res = s.client().Get("/v2/models/fake");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  const json m = json::parse(res->body);
  EXPECT_EQ(m["name"], "fake");
  EXPECT_EQ(m["inputs"][0]["shape"], (json{-1, 3, 4, 4}));
  EXPECT_EQ(m["outputs"][0]["shape"], (json{-1, kClasses}));
  // No route at all: 404 with a JSON error too.
  res = s.client().Get("/v3/nothing");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_NE(error_of(res->body).find("/v3/nothing"), std::string::npos);
}

TEST(Serve, BodyOverLimit413) {
  serve::HttpOptions o;
  o.max_body_bytes = 4096;
  Stack s(fake(0), policy(8, 1, 64), "", o);
  InferRequest r = request_of({2});
  r.id = std::string(8000, 'x');
  const std::string body = serve::write_infer_request(r).body;
  ASSERT_GT(body.size(), 4096u);
  auto res = s.post(body);
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 413);
  EXPECT_NE(error_of(res->body).find("4096"), std::string::npos) << res->body;
  EXPECT_EQ(s.model().stats().batches, 0);
  // A body under the limit still goes through.
  res = s.post(json_body(2));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(metric(s.server.metrics(), R"(infermark_requests_total{model="",result="too_large"})"),
            1);
}

TEST(Serve, BearerTokenGuardsAllButHealth) {
  Stack s(fake(0), policy(8, 1, 64), "secret");
  const std::string body = json_body(3);
  auto c = s.client();
  // No token, wrong token, a token that only starts right.
  for (const char* auth : {"", "Bearer wrong", "Bearer secre", "Bearer secretX", "secret"}) {
    httplib::Headers h;
    if (*auth != 0) h.emplace("Authorization", auth);
    auto res = c.Post("/v2/models/fake/infer", h, body, "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 401) << "Authorization: '" << auth << "'";
    EXPECT_FALSE(error_of(res->body).empty());
    res = c.Get("/v2/models/fake", h);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 401) << "Authorization: '" << auth << "'";
    res = c.Get("/metrics", h);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 401) << "Authorization: '" << auth << "'";
  }
  for (const char* path : {"/v2/health/live", "/v2/health/ready"}) {
    auto res = c.Get(path);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << path;
  }
  EXPECT_EQ(s.model().stats().batches, 0);

  httplib::Headers h = {{"Authorization", "Bearer secret"}};
  auto res = c.Post("/v2/models/fake/infer", h, body, "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  expect_rows(serve::parse_infer_response(res->body, std::nullopt), {3});
  res = c.Get("/v2/models/fake", h);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);

  // gRPC too, through load's client.
  EXPECT_THROW(
      {
        try {
          load::connect(s.grpc_endpoint(), {})->infer(request_of({3}));
        } catch (const ServeError& e) {
          EXPECT_EQ(e.code(), Code::kUnauthenticated) << e.what();
          throw;
        }
      },
      ServeError);
  load::ClientOptions o;
  o.token = "secret";
  expect_rows(load::connect(s.grpc_endpoint(), o)->infer(request_of({4})), {4});
  expect_rows(load::connect(s.http_endpoint(), o)->infer(request_of({5})), {5});
}

// A server stopped right after it was made (as `infermark serve` does when its gRPC port
// cannot be bound after the HTTP one was) ends at once.
TEST(Serve, HttpServerStoppedAtOnceEnds) {
  serve::ModelServer server;
  auto done = std::async(std::launch::async, [&] {
    for (int i = 0; i < 50; ++i) {
      serve::HttpOptions o;
      o.port = 0;
      o.threads = 2;
      serve::HttpServer http(server, o);
    }
  });
  if (done.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    std::cerr << "Serve.HttpServerStoppedAtOnceEnds: HttpServer's destructor hangs\n";
    std::_Exit(1);  // the hung thread cannot be joined
  }
  done.get();
}

// A port another server listens on is refused, not shared (SO_REUSEPORT would let a second
// `infermark serve` take half of the first one's connections).
TEST(Serve, PortInUseIsRefused) {
  Stack s(fake(0));
  serve::HttpOptions h;
  h.port = s.http->port();
  EXPECT_THROW(serve::HttpServer(s.server, h), Error);
  serve::GrpcOptions g;
  g.port = s.grpc->port();
  EXPECT_THROW(serve::GrpcServer(s.server, g), Error);
  const auto res = s.post(json_body(1));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST(Serve, StalledClientIsDisconnectedWhileOthersAreServed) {
  serve::HttpOptions o;
  o.request_timeout_s = 1;
  Stack s(fake(0), policy(8, 1, 64), "", o);
  // Headers promising 100000 bytes, then 10 of them, then nothing.
  RawSocket stalled(s.http->port());
  stalled.send(request_head(s.http->port(), 100000) + R"({"inputs":)");
  // A connection that sends nothing at all.
  RawSocket silent(s.http->port());
  const auto t0 = Clock::now();

  const auto res = s.post(json_body(9));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_LT(since_s(t0), 0.5);

  std::string got;
  const std::optional<double> closed = stalled.wait_closed(3.0, &got);
  EXPECT_TRUE(closed.has_value()) << "the stalled connection is still open after 3 s; it got: '"
                                  << got << "'";
  std::string silent_got;
  const std::optional<double> silent_closed = silent.wait_closed(3.0 - since_s(t0), &silent_got);
  EXPECT_TRUE(silent_closed.has_value())
      << "a connection that sent nothing is still open 3 s after it connected";
  EXPECT_EQ(s.model().stats().batches, 1);

  const auto again = s.post(json_body(10));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
  expect_rows(serve::parse_infer_response(again->body, std::nullopt), {10});
}

TEST(Serve, ClientDisconnectingMidRequestLeavesServerWorking) {
  Stack s(fake(0.2));
  const std::string body = json_body(4);
  {
    // Half a body, then gone.
    RawSocket half(s.http->port());
    half.send(request_head(s.http->port(), body.size()) + body.substr(0, body.size() / 2));
  }
  {
    // A whole request to the slow engine, gone before the answer.
    RawSocket gone(s.http->port());
    gone.send(request_head(s.http->port(), body.size()) + body);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // The server finishes the abandoned request (and writes to a closed socket without dying).
  const auto t0 = Clock::now();
  while (s.model().stats().succeeded < 1 && since_s(t0) < 5)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));

  const auto res = s.post(json_body(6));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  expect_rows(serve::parse_infer_response(res->body, std::nullopt), {6});
  const auto m = s.client().Get("/metrics");
  ASSERT_TRUE(m);
  ASSERT_EQ(m->status, 200);
  EXPECT_EQ(metric(m->body, R"(infermark_requests_total{model="fake",result="ok"})"), 2) << m->body;
  EXPECT_EQ(metric(m->body, R"(infermark_images_total{model="fake"})"), 2);
  EXPECT_EQ(metric(m->body, R"(infermark_requests_total{model="fake",result="internal"})"), 0);
}

// 48 clients, 4 requests each back to back, all at once, at a model that queues 4.
constexpr int kFloodThreads = 48, kFloodEach = 4;

TEST(Serve, FloodPastQueueBoundAnswered200Or429) {
  Stack s(fake(0.02), policy(1, 0, 4));
  std::atomic<int> ok{0}, overloaded{0}, other{0}, lost{0};
  std::atomic<bool> go{false};
  std::string overload_message, lost_message;
  std::mutex mutex;
  std::vector<std::thread> threads;
  for (int t = 0; t < kFloodThreads; ++t)
    threads.emplace_back([&, t] {
      httplib::Client c = s.client();
      while (!go) std::this_thread::yield();
      for (int k = 0; k < kFloodEach; ++k) {
        const float v = static_cast<float>(t * kFloodEach + k);
        const auto res = c.Post("/v2/models/fake/infer", json_body(v), "application/json");
        if (!res) {
          ++lost;
          std::lock_guard lock(mutex);
          if (lost_message.empty()) lost_message = httplib::to_string(res.error());
        } else if (res->status == 200) {
          const InferResponse r = serve::parse_infer_response(res->body, std::nullopt);
          if (r.outputs.size() == 1 && r.outputs[0].data.size() == kClasses &&
              r.outputs[0].data[0] == v)
            ++ok;
          else
            ++other;
        } else if (res->status == 429) {
          ++overloaded;
          std::lock_guard lock(mutex);
          if (overload_message.empty()) overload_message = error_of(res->body);
        } else {
          ++other;
        }
      }
    });
  go = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(lost, 0) << "the first unanswered request: " << lost_message;
  EXPECT_EQ(other, 0);
  EXPECT_EQ(ok + overloaded, kFloodThreads * kFloodEach);
  EXPECT_GE(overloaded, 1);
  EXPECT_GE(ok, 4);
  EXPECT_NE(overload_message.find("--max-queue"), std::string::npos) << overload_message;
  const serve::ModelStats st = s.model().stats();
  EXPECT_EQ(st.succeeded, ok);
  EXPECT_EQ(st.batch_sizes[1], ok);
  EXPECT_EQ(
      metric(s.server.metrics(), R"(infermark_requests_total{model="fake",result="overloaded"})"),
      overloaded);
  std::cout << "HTTP flood: " << ok << " answered, " << overloaded << " refused (429)\n";
}

TEST(Serve, BatcherGroupsConcurrentRequestsEachGetsItsRow) {
  Stack s(fake(0.01), policy(4, 50, 64));
  constexpr int kRequests = 8;
  std::vector<std::unique_ptr<load::Client>> clients;
  for (int i = 0; i < kRequests; ++i) {
    clients.push_back(load::connect(i % 2 ? s.grpc_endpoint() : s.http_endpoint(), {}));
    clients.back()->live();
  }
  std::vector<std::optional<InferResponse>> answers(kRequests);
  std::vector<std::thread> threads;
  for (int i = 0; i < kRequests; ++i)
    threads.emplace_back([&, i] { answers[i] = clients[i]->infer(request_of({100.0F + i})); });
  for (auto& t : threads) t.join();
  for (int i = 0; i < kRequests; ++i) {
    ASSERT_TRUE(answers[i].has_value());
    expect_rows(*answers[i], {100.0F + static_cast<float>(i)});
  }
  const serve::ModelStats st = s.model().stats();
  EXPECT_EQ(st.succeeded, kRequests);
  EXPECT_EQ(st.images, kRequests);
  int64_t batched = 0;
  for (size_t b = 2; b < st.batch_sizes.size(); ++b) batched += st.batch_sizes[b];
  EXPECT_GE(batched, 1) << "no batch of more than one image";
  EXPECT_LT(st.batches, kRequests);
  std::cout << "batches of 1..4 images:";
  for (size_t b = 1; b < st.batch_sizes.size(); ++b) std::cout << " " << st.batch_sizes[b];
  std::cout << "\n";

  // A request of several images gets its rows in order.
  expect_rows(clients[0]->infer(request_of({1, 2, 3})), {1, 2, 3});
}

TEST(Serve, EnsembleAveragesItsMembers) {
  std::vector<std::unique_ptr<Engine>> members;
  members.push_back(fake(0, 0));
  members.push_back(fake(0, 10));
  Stack s(std::move(members));
  expect_rows(load::connect(s.http_endpoint(), {})->infer(request_of({2, -1})), {2, -1}, 5);
  expect_rows(load::connect(s.grpc_endpoint(), {})->infer(request_of({7})), {7}, 5);
}

// An engine that counts the times it was asked to give its cached memory back.
class CountingEngine final : public Engine {
 public:
  CountingEngine(std::unique_ptr<Engine> inner, std::atomic<int>& released)
      : inner_(std::move(inner)), released_(released) {}
  void run(const TensorView& input, Tensor& output) override { inner_->run(input, output); }
  json settings_in_effect() const override { return inner_->settings_in_effect(); }
  void release_cached_memory() override { ++released_; }

 private:
  std::unique_ptr<Engine> inner_;
  std::atomic<int>& released_;
};

TEST(Serve, ReleasingMemoryAsksEveryMemberOfEveryModel) {
  std::atomic<int> released{0};
  serve::ModelServer server;
  for (const char* name : {"single", "pair"}) {
    std::vector<std::unique_ptr<Engine>> members;
    members.push_back(std::make_unique<CountingEngine>(fake(0), released));
    if (std::string(name) == "pair")
      members.push_back(std::make_unique<CountingEngine>(fake(0, 10), released));
    server.add(std::make_unique<serve::ServedModel>(name, std::move(members), signature(),
                                                    policy(4, 1, 8)));
  }
  server.release_cached_memory();
  EXPECT_EQ(released.load(), 3);
  // The models still answer afterwards.
  InferRequest r = request_of({1, 2});
  r.model = "pair";
  expect_rows(server.infer(std::move(r)), {1, 2}, 5);
  server.shut_down();
}

TEST(Serve, ShutDownDrainsWhatWaits) {
  std::atomic<bool> gate{false};
  Stack s(std::make_unique<GatedEngine>(fake(0.05), gate), policy(1, 0, 64));
  constexpr int kWaiting = 6;
  std::vector<int> status(kWaiting, 0);
  std::vector<std::string> bodies(kWaiting);
  std::vector<std::thread> threads;
  for (int i = 0; i < kWaiting; ++i)
    threads.emplace_back([&, i] {
      const auto res = s.post(json_body(static_cast<float>(i)));
      if (res) {
        status[i] = res->status;
        bodies[i] = res->body;
      }
    });
  // One in the engine (held at the gate), five queued.
  const auto t0 = Clock::now();
  while (s.model().queued() < kWaiting - 1 && since_s(t0) < 5)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_EQ(s.model().queued(), kWaiting - 1);

  std::thread stopper([&] { s.server.shut_down(); });
  while (s.server.ready() && since_s(t0) < 5)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_FALSE(s.server.ready());
  // While it drains: new requests are refused, not queued.
  auto late = s.post(json_body(99));
  ASSERT_TRUE(late);
  EXPECT_EQ(late->status, 503);
  auto ready = s.client().Get("/v2/health/ready");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 503);
  gate = true;
  stopper.join();
  for (auto& t : threads) t.join();
  for (int i = 0; i < kWaiting; ++i) {
    ASSERT_EQ(status[i], 200) << "request " << i << ": " << bodies[i];
    expect_rows(serve::parse_infer_response(bodies[i], std::nullopt), {static_cast<float>(i)});
  }
  EXPECT_EQ(s.model().stats().succeeded, kWaiting);

  // After the drain: HTTP 503, gRPC UNAVAILABLE, ModelServer::infer kUnavailable.
  late = s.post(json_body(100));
  ASSERT_TRUE(late);
  EXPECT_EQ(late->status, 503);
  EXPECT_FALSE(error_of(late->body).empty());
  try {
    s.server.infer(request_of({1}));
    ADD_FAILURE() << "inferred after shut_down";
  } catch (const ServeError& e) {
    EXPECT_EQ(e.code(), Code::kUnavailable);
  }
  try {
    load::connect(s.grpc_endpoint(), {})->infer(request_of({1}));
    ADD_FAILURE() << "inferred over gRPC after shut_down";
  } catch (const ServeError& e) {
    EXPECT_EQ(e.code(), Code::kUnavailable) << e.what();
  }
  EXPECT_EQ(s.model().stats().succeeded, kWaiting);
}

// ---------------------------------------------------------------------------------------------
// ServeGrpc: the gRPC front, through load's client.

TEST(ServeGrpc, LiveReadyMetadataAndInfer) {
  Stack s(fake(0, 1.5F));
  auto c = load::connect(s.grpc_endpoint(), {});
  EXPECT_TRUE(c->live());
  EXPECT_TRUE(c->ready());
  const json server = c->server_metadata();
  EXPECT_EQ(server["name"], "infermark");
  EXPECT_EQ(server["extensions"], (json{"binary_tensor_data"}));
  const json m = c->model_metadata("fake");
  EXPECT_EQ(m["name"], "fake");
  EXPECT_EQ(m["platform"], "fake");
  EXPECT_EQ(m["inputs"][0]["name"], "input");
  EXPECT_EQ(m["inputs"][0]["datatype"], "FP32");
  EXPECT_EQ(m["inputs"][0]["shape"], (json{-1, 3, 4, 4}));
  EXPECT_EQ(m["outputs"][0]["shape"], (json{-1, kClasses}));
  // The same metadata as over HTTP.
  EXPECT_EQ(m["inputs"], load::connect(s.http_endpoint(), {})->model_metadata("fake")["inputs"]);
  expect_rows(c->infer(request_of({3, 4})), {3, 4}, 1.5F);
  try {
    c->model_metadata("nosuch");
    ADD_FAILURE() << "metadata of no model";
  } catch (const ServeError& e) {
    EXPECT_EQ(e.code(), Code::kNotFound);
  }
}

TEST(ServeGrpc, WrongShapeInvalidArgument) {
  Stack s(fake(0));
  auto c = load::connect(s.grpc_endpoint(), {});
  InferRequest r = request_of({1});
  r.inputs[0].shape = {1, 3, 5, 5};
  r.inputs[0].data.assign(75, 1.0F);
  try {
    c->infer(r);
    ADD_FAILURE() << "a wrong shape was inferred";
  } catch (const ServeError& e) {
    EXPECT_EQ(e.code(), Code::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("[1, 3, 5, 5]"), std::string::npos) << e.what();
  }
  // Raw bytes not matching the shape.
  r = request_of({1});
  r.inputs[0].data.pop_back();
  try {
    c->infer(r);
    ADD_FAILURE() << "191 bytes for 48 floats were inferred";
  } catch (const ServeError& e) {
    EXPECT_EQ(e.code(), Code::kInvalidArgument) << e.what();
  }
  r = request_of({1});
  r.model = "nosuch";
  try {
    c->infer(r);
    ADD_FAILURE() << "no such model, inferred";
  } catch (const ServeError& e) {
    EXPECT_EQ(e.code(), Code::kNotFound) << e.what();
  }
  EXPECT_EQ(s.model().stats().batches, 0);
  expect_rows(c->infer(request_of({8})), {8});
}

TEST(ServeGrpc, FloodPastQueueBoundResourceExhausted) {
  Stack s(fake(0.02), policy(1, 0, 4));
  std::atomic<int> ok{0}, overloaded{0}, other{0};
  std::atomic<bool> go{false};
  std::string overload_message, other_message;
  std::mutex mutex;
  std::vector<std::thread> threads;
  for (int t = 0; t < kFloodThreads; ++t)
    threads.emplace_back([&, t] {
      auto c = load::connect(s.grpc_endpoint(), {});
      c->live();
      while (!go) std::this_thread::yield();
      for (int k = 0; k < kFloodEach; ++k) {
        const float v = static_cast<float>(t * kFloodEach + k);
        try {
          const InferResponse r = c->infer(request_of({v}));
          if (r.outputs.size() == 1 && r.outputs[0].data.size() == kClasses &&
              r.outputs[0].data[0] == v)
            ++ok;
          else
            ++other;
        } catch (const ServeError& e) {
          std::lock_guard lock(mutex);
          if (e.code() == Code::kOverloaded) {
            ++overloaded;
            if (overload_message.empty()) overload_message = e.what();
          } else {
            ++other;
            if (other_message.empty()) other_message = e.what();
          }
        }
      }
    });
  go = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(other, 0) << other_message;
  EXPECT_EQ(ok + overloaded, kFloodThreads * kFloodEach);
  EXPECT_GE(overloaded, 1);
  EXPECT_GE(ok, 4);
  EXPECT_NE(overload_message.find("--max-queue"), std::string::npos) << overload_message;
  EXPECT_EQ(s.model().stats().succeeded, ok);
  std::cout << "gRPC flood: " << ok << " answered, " << overloaded << " refused\n";
}

// ---------------------------------------------------------------------------------------------
// Load: the generator against the server.

// Open loop at a constant rate for `seconds`, over at most `connections` connections.
load::LoadConfig constant_rate(double qps, double seconds, int connections) {
  load::LoadConfig c;
  c.rate_qps = qps;
  c.distribution = "constant";
  c.duration_s = seconds;
  c.min_queries = 1;
  c.connections = connections;
  return c;
}

TEST(Load, OpenLoopMeasuresFromTheSchedule) {
  Stack s(fake(0.05), policy(1, 0, 256));
  const load::Connect connect = [&] { return load::connect(s.http_endpoint(), {}); };
  load::LoadConfig c = constant_rate(100, 0.5, 64);
  const ScenarioResult r = load::run_load(connect, request_of({1}), c);
  // 50 requests 10 ms apart at a server doing one per 50 ms: request i is answered no
  // earlier than 50 (i + 1) ms after the start, 40 i + 50 ms after it was due.
  EXPECT_EQ(r.metrics["queries"], 50);
  EXPECT_EQ(r.metrics["ok"], 50);
  EXPECT_EQ(r.metrics["dropped"], 0);
  EXPECT_EQ(r.latencies_ms.size(), 50u);
  EXPECT_GT(r.latency_ms.p99, 200);
  EXPECT_GT(r.latency_ms.max, 0.95 * (40 * 49 + 50));
  EXPECT_GT(r.latency_ms.p50, 0.9 * (40 * 24 + 50));
  EXPECT_LT(r.metrics["achieved_qps"].get<double>(), 21);
  std::cout << "open loop 100/s at 20/s: p50 " << r.latency_ms.p50 << " ms, p99 "
            << r.latency_ms.p99 << " ms\n";

  // With one connection the requests wait in the client instead: sent late, and their
  // latency still counts from when they were due (no coordinated omission).
  c.connections = 1;
  c.duration_s = 0.3;
  const ScenarioResult one = load::run_load(connect, request_of({1}), c);
  EXPECT_EQ(one.metrics["queries"], 30);
  EXPECT_EQ(one.metrics["ok"], 30);
  EXPECT_EQ(one.metrics["connections"], 1);
  EXPECT_GT(one.latency_ms.max, 0.95 * (40 * 29 + 50));
  EXPECT_GT(one.metrics["send_late_ms_max"].get<double>(), 0.9 * (40 * 29));

  // Closed loop, one client: each request alone in the server.
  load::LoadConfig closed;
  closed.concurrency = 1;
  closed.duration_s = 0.5;
  closed.min_queries = 1;
  const ScenarioResult cl = load::run_load(connect, request_of({1}), closed);
  const auto n = cl.metrics["queries"].get<int64_t>();
  EXPECT_GE(n, 5);
  EXPECT_LE(n, 11);
  EXPECT_EQ(cl.metrics["ok"], n);
  EXPECT_GE(cl.latency_ms.p50, 49);
  EXPECT_LT(cl.latency_ms.p50, 100);
  std::cout << "closed loop: " << n << " requests, p50 " << cl.latency_ms.p50 << " ms\n";
}

// A client that counts its inferences in `counts[index]`.
class CountingClient final : public load::Client {
 public:
  CountingClient(std::unique_ptr<load::Client> inner, std::vector<int>& counts, size_t index)
      : inner_(std::move(inner)), counts_(counts), index_(index) {}
  bool live() override { return inner_->live(); }
  bool ready() override { return inner_->ready(); }
  json server_metadata() override { return inner_->server_metadata(); }
  json model_metadata(const std::string& m) override { return inner_->model_metadata(m); }
  InferResponse infer(const InferRequest& r) override {
    ++counts_[index_];  // each client is used by one thread at a time
    return inner_->infer(r);
  }

 private:
  std::unique_ptr<load::Client> inner_;
  std::vector<int>& counts_;
  size_t index_;
};

// The open loop hands a request to the connection that went idle last: at a low rate one
// connection carries them all (one server thread, warm); under load every connection works.
TEST(Load, OpenLoopReusesTheConnectionIdleLast) {
  Stack s(fake(0.002), policy(1, 0, 256));
  std::vector<int> counts(8, 0);
  size_t made = 0;
  const load::Connect connect = [&] {
    return std::make_unique<CountingClient>(load::connect(s.http_endpoint(), {}), counts, made++);
  };
  load::LoadConfig c = constant_rate(20, 0.5, 8);  // 50 ms apart, each answered in about 2 ms
  const ScenarioResult low = load::run_load(connect, request_of({1}), c);
  ASSERT_EQ(low.metrics["ok"], 10);
  ASSERT_EQ(made, 8u);
  // One untimed inference on the first connection, then the ten timed ones on a single one.
  const auto most = *std::max_element(counts.begin(), counts.end());
  EXPECT_GE(most, 10);
  EXPECT_EQ(std::count_if(counts.begin(), counts.end(), [](int n) { return n > 0; }),
            most == 11 ? 1 : 2);

  // 100/s at a server answering one per 20 ms: requests overlap, and more connections work.
  Stack busy(fake(0.02), policy(1, 0, 256));
  std::fill(counts.begin(), counts.end(), 0);
  made = 0;
  const load::Connect connect_busy = [&] {
    return std::make_unique<CountingClient>(load::connect(busy.http_endpoint(), {}), counts,
                                            made++);
  };
  c.rate_qps = 100;
  const ScenarioResult high = load::run_load(connect_busy, request_of({1}), c);
  ASSERT_EQ(high.metrics["ok"], 50);
  EXPECT_GE(std::count_if(counts.begin(), counts.end(), [](int n) { return n > 0; }), 4);
}

}  // namespace
}  // namespace infermark
