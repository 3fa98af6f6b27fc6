// The typed cell and result row: what a result line holds survives a round trip, files of
// schema 1 still load, and one identity function says which rows are the same configuration.
#include "core/result.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "core/accuracy_row.h"
#include "core/conformance_row.h"
#include "core/error.h"

namespace infermark {
namespace {
using nlohmann::json;

CellSpec cell() {
  CellSpec c;
  c.model.name = "resnet50";
  c.model.path = "/tmp/resnet50.onnx";
  c.model.hash = "fnv1a64:0123";
  c.model.input_shape = {3, 224, 224};
  c.model.flops_per_image = 8.2e9;
  c.backend = "onnxruntime";
  c.settings = {{"graph_optimization_level", "all"}};
  c.scenario = "server";
  c.batch = 1;
  c.threads = 2;
  c.precision = "bf16";
  c.concurrency = 2;
  c.preparation = "simplified";
  c.arm = "b";
  c.round = 3;
  c.repeat = 1;
  c.seed = 7;
  c.limits.min_duration_s = 3;
  c.server = ServerConfig{};
  c.server->rate_qps = 25;
  c.peak_slo_p99_ms = 50;
  return c;
}

TEST(Result, CellSpecRoundTrip) {
  CellSpec c = cell();
  c.load_phase = "warm";
  c.load_cache_dir = "/tmp/cache";
  c.peak_fp32_flops = 1e11;
  const CellSpec back = cell_from_json(json::parse(to_json(c).dump()));
  EXPECT_EQ(to_json(back), to_json(c));
  EXPECT_EQ(back.limits, c.limits);
  EXPECT_EQ(*back.server, *c.server);
  EXPECT_EQ(back.load_phase, "warm");
  EXPECT_THROW(cell_from_json(json{{"scenario", "offline"}}), Error);
  EXPECT_THROW(cell_from_json(json{{"backend", "x"}, {"batch", "eight"}}), Error);
}

TEST(Result, ResultRowRoundTrip) {
  ResultRow r;
  r.cell = cell();
  r.cell_key = cell_key(r.cell);
  r.backend_version = "1.2";
  r.settings_in_effect = {{"threads", 2}};
  r.precision_in_effect = "bf16";
  r.batched = false;
  r.metrics = {{"throughput_ips", 12.5}};
  r.latency_ms = {{"p50", 80.0}};
  r.node = "node-7";
  const json j = to_json(r);
  EXPECT_EQ(j["schema"], kResultSchema);
  for (const char* k : {"round", "arm", "precision", "concurrency", "preparation", "node"})
    EXPECT_TRUE(j.contains(k)) << k;
  const ResultRow back = row_from_json(json::parse(j.dump()));
  EXPECT_EQ(to_json(back), j);
  EXPECT_DOUBLE_EQ(back.metric("throughput_ips"), 12.5);
  EXPECT_TRUE(std::isnan(back.metric("absent")));
  EXPECT_EQ(back.label(), "onnxruntime (graph_optimization_level=all bf16 threads 2 x2 arm b)");
}

// A line of schema 1 (as the first version wrote it) loads with the values it implied.
TEST(Result, SchemaOneLinesStillLoad) {
  const json v1 = json::parse(R"({"schema":"infermark.result/1","cell_key":"abc",
    "model":{"name":"vgg19","flops_per_image":3.9e10},
    "backend":{"name":"openvino","version":"2025.1","settings_asked":{"num_streams":"1"},
               "settings_in_effect":{"precision":"f32"}},
    "scenario":"offline","batch":8,"threads":0,"repeat":2,"status":"ok",
    "metrics":{"throughput_ips":3.5},"latency_ms":{"p50":2000},"wall_s":4.2,
    "env":{"cpu_model":"AMD EPYC"}})");
  const ResultRow r = row_from_json(v1);
  EXPECT_EQ(r.schema, kResultSchemaV1);
  EXPECT_EQ(r.cell.backend, "openvino");
  EXPECT_EQ(r.cell.settings.at("num_streams"), "1");
  EXPECT_EQ(r.cell.batch, 8);
  EXPECT_EQ(r.cell.repeat, 2);
  EXPECT_EQ(r.cell.round, 0);
  EXPECT_EQ(r.cell.precision, "fp32");
  EXPECT_EQ(r.cell.concurrency, 1);
  EXPECT_EQ(r.cell.arm, "");
  EXPECT_DOUBLE_EQ(r.metric("throughput_ips"), 3.5);
  EXPECT_THROW(row_from_json(json{{"status", "ok"}}), Error);
  EXPECT_THROW(
      row_from_json(
          json{{"schema", "infermark.result/9"}, {"status", "ok"}, {"backend", json::object()}}),
      Error);
}

TEST(Result, OneIdentityForEveryReader) {
  const CellSpec a = cell();
  CellSpec later = a;
  later.round = 9;
  later.repeat = 0;
  later.limits.min_duration_s = 10;
  EXPECT_EQ(identity(a), identity(later)) << "rounds, repeats and limits are visits of one cell";
  EXPECT_NE(cell_key(a), cell_key(later)) << "but each visit is its own line for --resume";
  for (auto change : std::vector<std::function<void(CellSpec&)>>{
           [](CellSpec& c) { c.arm = "a"; }, [](CellSpec& c) { c.settings["x"] = "1"; },
           [](CellSpec& c) { c.threads = 1; }, [](CellSpec& c) { c.precision = "int8"; },
           [](CellSpec& c) { c.concurrency = 1; }, [](CellSpec& c) { c.preparation = "none"; },
           [](CellSpec& c) { c.server->rate_qps = 30; }, [](CellSpec& c) { c.batch = 2; }}) {
    CellSpec b = a;
    change(b);
    EXPECT_NE(identity(a), identity(b)) << identity(b);
  }
  CellSpec other_arm = a;
  other_arm.arm = "a";
  EXPECT_EQ(identity(a, {"arm"}), identity(other_arm, {"arm"}));
  EXPECT_THROW(identity(a, {"colour"}), Error);
}

// nlohmann::json casts a floating-point value to an integer, undefined outside the integer's
// range: a row's parsers refuse such a value as of the wrong type (found by
// fuzz/results_fuzz.cc; fuzz/corpus/results/integer-out-of-range).
TEST(Result, ANumberOutsideAnIntegersRangeIsAFieldOfTheWrongType) {
  const json row = {{"status", "ok"}, {"backend", json::object()}};
  for (const auto& [key, value] : std::vector<std::pair<std::string, json>>{
           {"batch", 1e300}, {"seed", -1.0}, {"threads", 3e9}, {"repeat", -1e19}}) {
    json bad = row;
    bad[key] = value;
    try {
      row_from_json(bad);
      ADD_FAILURE() << key;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("field '" + key + "' is "), std::string::npos)
          << e.what();
    }
  }
  json shape = row;
  shape["model"] = {{"name", "m"}, {"input_shape", {3, 1e300, 224}}};
  EXPECT_THROW(row_from_json(shape), Error);
  json fine = row;
  fine["batch"] = 8.0;  // a whole number written as a float is still a number of the range
  EXPECT_EQ(row_from_json(fine).cell.batch, 8);

  const json accuracy = {{"schema", "infermark-accuracy/1"},
                         {"backend", "b"},
                         {"precision", "fp32"},
                         {"status", "ok"}};
  json images = accuracy;
  images["images"] = 1e300;
  EXPECT_THROW(accuracy_row_from_json(images), Error);
  json top5 = accuracy;
  top5["top5_predictions"] = {{1, 2, -1e300}};
  EXPECT_THROW(accuracy_row_from_json(top5), Error);
  const json conformance = {{"schema", "infermark-conformance/1"},
                            {"model", "m"},
                            {"backend", "b"},
                            {"verdict", "runs"},
                            {"opset", 1e10}};
  EXPECT_THROW(conformance_row_from_json(conformance), Error);
  // A schema of another type is not an accuracy or conformance line: Error, not json's own.
  json number_schema = accuracy;
  number_schema["schema"] = 3;
  EXPECT_THROW(accuracy_row_from_json(number_schema), Error);
  EXPECT_THROW(conformance_row_from_json(number_schema), Error);
}

}  // namespace
}  // namespace infermark
