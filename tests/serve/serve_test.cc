// `infermark serve` in process: the HTTP (serve/http.h) and gRPC (serve/grpc.h) fronts on
// loopback in front of a ModelServer whose models are FakeEngines (tests/scenarios/fake_engine.h:
// output row i, column j = first value of image i + offset + j, after a fixed busy-wait).
#include <gtest/gtest.h>
#include <httplib.h>

#include "tests/serve/stack.h"

namespace infermark {
namespace {

using namespace serve_testing;  // NOLINT(google-build-using-namespace): the fixtures

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
  const auto t0 = WallClock::now();

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
  const auto t0 = WallClock::now();
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
  const auto t0 = WallClock::now();
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

}  // namespace
}  // namespace infermark
