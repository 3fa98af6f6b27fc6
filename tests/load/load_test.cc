// The load generator (load/load.h) against the server of tests/serve/stack.h.
#include "load/load.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include "core/peak_rule.h"
#include "tests/serve/stack.h"

namespace infermark {
namespace {

using namespace serve_testing;  // NOLINT(google-build-using-namespace): the fixtures

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
  // Within the arrival window (0.49 s) it answers at most 10 of the 50: the drain excluded.
  EXPECT_LE(r.metrics["window_answered"].get<int64_t>(), 10);
  EXPECT_LT(r.metrics["achieved_fraction"].get<double>(), 0.21);
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

// load --find-peak (load::find_peak_load) judges every run by the rule of
// core/peak_rule.h and reports the run that confirmed the peak: a probe whose requests
// were refused does not meet however low the p99 of those answered, a short configuration still
// sends at least 100 requests per run, and the result's run (the row) is the last confirming
// one. Nothing here depends on how fast the machine is: the flood is ten times what the server
// can take, and the rest is checked for consistency with the rule, whatever it measured.
TEST(Load, FindPeakAppliesThePeakRuleAndReportsTheConfirmingRun) {
  Stack s(fake(0.005), policy(1, 0, 16));  // one request per 5 ms; 16 may wait, more refused
  const load::Connect connect = [&] { return load::connect(s.http_endpoint(), {}); };
  load::LoadConfig c;
  c.rate_qps = 50;
  c.duration_s = 0.05;
  c.min_queries = 10;  // too few for a p99: every run sends kMinQueriesForP99
  PeakSearch search;
  search.slo_p99_ms = 2000;  // loose: refusals, not latency, decide here
  search.lo_qps = 50;
  search.hi_qps = 2000;  // ten times what the server does
  search.max_probes = 3;
  search.tolerance = 0.5;
  const PeakResult peak = load::find_peak_load(connect, request_of({1}), c, search);
  std::cout << "probes " << peak.probes.dump() << "\nconfirmations " << peak.confirmations.dump()
            << "\n";

  auto rule = [&](const json& p) {
    RateFigures f;
    f.p99_ms = p["p99_ms"].get<double>();
    f.queries = p["queries"].get<int64_t>();
    f.answered = p["answered"].get<int64_t>();
    f.achieved_fraction = p["achieved_fraction"].get<double>();
    return meets_rate_rule(f, search.slo_p99_ms).meets;
  };
  for (const json& p : peak.probes) {
    EXPECT_GE(p["queries"].get<int64_t>(), kMinQueriesForP99) << p.dump();
    EXPECT_EQ(p["meets"].get<bool>(), rule(p)) << p.dump();
    if (p["rejected"].get<int64_t>() > 0) {
      EXPECT_FALSE(p["meets"].get<bool>()) << p.dump();
    }
  }
  // The flood: many refused, those answered quickly (p99 far under the target), no meet.
  ASSERT_GE(peak.probes.size(), 2u);
  const json& flood = peak.probes[1];
  EXPECT_EQ(flood["rate_qps"].get<double>(), 2000);
  EXPECT_GT(flood["rejected"].get<int64_t>(), 0);
  EXPECT_LT(flood["p99_ms"].get<double>(), search.slo_p99_ms);
  EXPECT_FALSE(flood["meets"].get<bool>());
  EXPECT_NE(flood["reason"].get<std::string>().find("got no result"), std::string::npos);

  // The result's run is the last confirming run; a peak only where it met the rule.
  ASSERT_FALSE(peak.confirmations.empty());
  for (const json& p : peak.confirmations) {
    EXPECT_GE(p["queries"].get<int64_t>(), kMinQueriesForP99) << p.dump();
    EXPECT_EQ(p["meets"].get<bool>(), rule(p)) << p.dump();
  }
  const json& last = peak.confirmations.back();
  EXPECT_EQ(peak.run.metrics["offered_qps"].get<double>(), last["rate_qps"].get<double>());
  EXPECT_EQ(peak.run.latency_ms.p99, last["p99_ms"].get<double>());
  EXPECT_EQ(peak.confirmed, last["meets"].get<bool>());
  if (peak.confirmed) {
    EXPECT_EQ(peak.peak_qps, last["rate_qps"].get<double>());
    EXPECT_TRUE(meets_target(peak.run, search.slo_p99_ms).meets);
    EXPECT_EQ(peak.run.metrics["rejected"], 0);
  } else {
    EXPECT_EQ(peak.peak_qps, 0);
    EXPECT_EQ(last["rate_qps"].get<double>(), search.lo_qps);
    EXPECT_FALSE(peak.reason.empty());
  }
}

}  // namespace
}  // namespace infermark
