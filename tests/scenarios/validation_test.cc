#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>

#include "core/error.h"
#include "scenarios/scenario.h"
#include "tests/scenarios/fake_engine.h"

namespace infermark {
namespace {

using testing::FakeEngine;
using testing::make_images;

// f must throw Error whose message names `what`.
void expect_error(const std::function<void()>& f, const std::string& what) {
  try {
    f();
    ADD_FAILURE() << "no Error for " << what;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
  }
}

TEST(Validation, BadInputsThrow) {
  VirtualClock clock;
  FakeEngine engine(&clock, 0.001, 0);
  const RunLimits ok;
  Tensor rank3;
  rank3.resize({2, 3, 4});
  expect_error([&] { run_offline(engine, rank3, ok, clock); }, "rank 4");
  Tensor empty;
  empty.resize({0, 3, 4, 4});
  expect_error([&] { run_offline(engine, empty, ok, clock); }, "batch must be >= 1, got 0");
  expect_error([&] { run_single_stream(engine, empty, ok, clock); }, "single-stream image");
  Tensor short_data = make_images(2);
  short_data.data.pop_back();
  expect_error([&] { run_offline(engine, short_data, ok, clock); }, "holds 95 floats");
  EXPECT_EQ(engine.calls, 0);
}

TEST(Validation, BadLimitsThrow) {
  VirtualClock clock;
  FakeEngine engine(&clock, 0.001, 0);
  const Tensor input = make_images(1);
  auto with = [&](const std::function<void(RunLimits&)>& edit, const std::string& what) {
    RunLimits l;
    edit(l);
    expect_error([&] { run_offline(engine, input, l, clock); }, what);
    expect_error([&] { run_ensemble({&engine}, input, l, clock); }, what);
  };
  with([](RunLimits& l) { l.min_duration_s = -1; }, "min_duration_s");
  with([](RunLimits& l) { l.min_duration_s = NAN; }, "min_duration_s");
  with([](RunLimits& l) { l.max_duration_s = 1; }, "max_duration_s");  // < min 2
  with([](RunLimits& l) { l.min_iterations = 0; }, "min_iterations");
  with([](RunLimits& l) { l.warmup_s = -0.1; }, "warmup_s");
  with([](RunLimits& l) { l.warmup_iterations = -1; }, "warmup_iterations");
  with([](RunLimits& l) { l.cv_threshold = -1; }, "cv_threshold");
  EXPECT_EQ(engine.calls, 0);
}

TEST(Validation, BadServerConfigThrows) {
  VirtualClock clock;
  FakeEngine engine(&clock, 0.001, 0);
  const Tensor images = make_images(4);
  auto with = [&](const std::function<void(ServerConfig&)>& edit, const std::string& what) {
    ServerConfig c;
    c.max_batch = 4;
    edit(c);
    expect_error([&] { run_server(engine, images, c, clock); }, what);
  };
  with([](ServerConfig& c) { c.rate_qps = 0; }, "rate_qps");
  with([](ServerConfig& c) { c.rate_qps = -5; }, "rate_qps");
  with([](ServerConfig& c) { c.rate_qps = INFINITY; }, "rate_qps");
  with([](ServerConfig& c) { c.max_batch = 0; }, "max_batch");
  with([](ServerConfig& c) { c.max_batch = 5; }, "max_batch 5 exceeds the 4 images");
  with([](ServerConfig& c) { c.max_queue_delay_ms = -1; }, "max_queue_delay_ms");
  with([](ServerConfig& c) { c.duration_s = -1; }, "duration_s");
  with([](ServerConfig& c) { c.min_queries = 0; }, "min_queries");
  with(
      [](ServerConfig& c) {
        c.rate_qps = 1e9;
        c.duration_s = 1e3;
      },
      "rate_qps * duration_s");
  Tensor rank2;
  rank2.resize({4, 3});
  expect_error([&] { run_server(engine, rank2, ServerConfig{}, clock); }, "server images");
  EXPECT_EQ(engine.calls, 0);
}

TEST(Validation, BadPeakSearchThrows) {
  VirtualClock clock;
  FakeEngine engine(&clock, 0.001, 0);
  const Tensor images = make_images(8);
  auto with = [&](const std::function<void(PeakSearch&)>& edit, const std::string& what) {
    PeakSearch s;
    edit(s);
    expect_error([&] { find_peak(engine, images, ServerConfig{}, s, clock); }, what);
  };
  with([](PeakSearch& s) { s.slo_p99_ms = 0; }, "slo_p99_ms");
  with([](PeakSearch& s) { s.lo_qps = 0; }, "lo_qps");
  with([](PeakSearch& s) { s.hi_qps = 0.5; }, "hi_qps");
  with([](PeakSearch& s) { s.max_probes = 0; }, "max_probes");
  with([](PeakSearch& s) { s.tolerance = 0; }, "tolerance");
  ServerConfig too_big;
  too_big.max_batch = 9;
  expect_error([&] { find_peak(engine, images, too_big, PeakSearch{}, clock); }, "max_batch");
  EXPECT_EQ(engine.calls, 0);
}

}  // namespace
}  // namespace infermark
