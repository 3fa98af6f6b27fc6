// The sweep as a user runs it: every cell ends as a recorded result, whatever the framework
// does (crash, hang, memory exhaustion, error), the other cells go on, and --resume skips
// what is done. The fake backend lives in build/tests/plugins.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "backends/cache.h"
#include "tests/command.h"

namespace {
namespace fs = std::filesystem;

using BenchRun = infermark::CommandRun;
using infermark::CommandRun;
using infermark::result_lines;

BenchRun bench(const std::string& args) {
  return infermark::run_command(std::string("INFERMARK_PLUGIN_PATH=") + FAKE_PLUGIN_DIR + " " +
                                INFERMARK_BINARY + " bench " + args + " 2>&1 </dev/null");
}

class Sweep : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("infermark_sweep_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    setenv("INFERMARK_CACHE_DIR", (dir_ / "cache").c_str(), 1);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string small() const {
    return "--models resnet50 --input-size 64 --width 0.25 --min-duration 0.05 --min-iterations 3 "
           "--warmup 0 --out " +
           (dir_ / "r.jsonl").string();
  }
  fs::path dir_;
};

TEST_F(Sweep, EveryFailureIsARecordedResultAndTheSweepGoesOn) {
  // The timeout leaves room for a cell that prepares the model (a Python process) on a machine
  // busy with other tests: 5 s timed the sound cell out beside a TVM compile under ctest -j.
  const BenchRun r = bench(small() +
                           " --backends fake --set fake.fail=none,crash,hang,oom,error,unsupported"
                           " --cell-timeout 15 --memory-limit 300M");
  ASSERT_EQ(r.code, 0) << r.output;
  std::map<std::string, std::string> status;  // fail setting -> status
  for (const auto& l : result_lines(dir_ / "r.jsonl"))
    status[l["backend"]["settings_asked"]["fail"]] = l["status"];
  EXPECT_EQ(status["none"], "ok");
  EXPECT_EQ(status["crash"], "crash");
  EXPECT_EQ(status["hang"], "timeout");
  EXPECT_EQ(status["oom"], "oom");
  EXPECT_EQ(status["error"], "error");
  EXPECT_EQ(status["unsupported"], "unsupported");
  EXPECT_EQ(status.size(), 6u);
}

TEST_F(Sweep, ResultLinesCarryTheSchema) {
  const BenchRun r =
      bench(small() + " --backends fake --batches 1,4 --csv " + (dir_ / "r.csv").string());
  ASSERT_EQ(r.code, 0) << r.output;
  const auto ls = result_lines(dir_ / "r.jsonl");
  ASSERT_EQ(ls.size(), 2u);
  for (const auto& l : ls) {
    EXPECT_EQ(l["schema"], "infermark.result/2");
    EXPECT_EQ(l["status"], "ok") << l.dump();
    for (const char* k :
         {"cell_key", "model", "backend", "scenario", "batch", "metrics", "env", "latency_ms",
          "time_utc", "round", "arm", "precision", "concurrency", "preparation", "node", "limits"})
      EXPECT_TRUE(l.contains(k)) << k;
    EXPECT_TRUE(l["model"].contains("hash"));
    EXPECT_GT(l["metrics"]["throughput_ips"].get<double>(), 0);
    EXPECT_TRUE(l["backend"].contains("settings_in_effect"));
  }
  std::ifstream csv(dir_ / "r.csv");
  std::string header, row;
  std::getline(csv, header);
  EXPECT_EQ(header.rfind("model,backend,", 0), 0u);
  int rows = 0;
  while (std::getline(csv, row)) ++rows;
  EXPECT_EQ(rows, 2);
}

// Rounds: every round visits every cell once (arms are cells of their own), each round in a
// freshly shuffled order, rounds one after the other; --resume finds every visit done.
TEST_F(Sweep, RoundsVisitEveryCellOncePerRoundInShuffledOrder) {
  const std::string args = small() + " --backends fake --batches 1,2,3,4 --arms a,b --rounds 3";
  const BenchRun r = bench(args);
  ASSERT_EQ(r.code, 0) << r.output;
  const auto ls = result_lines(dir_ / "r.jsonl");
  ASSERT_EQ(ls.size(), 24u);
  std::map<int, std::vector<std::string>> order;  // round -> cells in run order
  int last_round = 0;
  for (const auto& l : ls) {
    const int round = l["round"];
    EXPECT_GE(round, last_round) << "rounds run one after the other";
    last_round = round;
    order[round].push_back(l["arm"].get<std::string>() + std::to_string(l["batch"].get<int>()));
  }
  ASSERT_EQ(order.size(), 3u);
  for (auto& [round, cells] : order) {
    std::set<std::string> distinct(cells.begin(), cells.end());
    EXPECT_EQ(distinct.size(), 8u) << "round " << round << " visits each cell once";
  }
  EXPECT_FALSE(order[0] == order[1] && order[1] == order[2]) << "each round is shuffled anew";
  const BenchRun again = bench(args + " --resume");
  ASSERT_EQ(again.code, 0) << again.output;
  EXPECT_EQ(result_lines(dir_ / "r.jsonl").size(), 24u);
}

// A child that ends with one of the cell protocol's exit codes without leaving a result is
// classified by that code, not as a crash.
TEST_F(Sweep, TheChildsExitCodeClassifiesACellWithoutResult) {
  const BenchRun r = bench(small() + " --backends fake --set fake.fail=exit_oom");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto ls = result_lines(dir_ / "r.jsonl");
  ASSERT_EQ(ls.size(), 1u);
  EXPECT_EQ(ls[0]["status"], "oom") << ls[0].dump();
  EXPECT_NE(ls[0]["message"].get<std::string>().find("code 12"), std::string::npos) << ls[0].dump();
}

// Load time is the model's: the framework's start-up (its runtime, started before the first
// load) is its own figure, in every cell and in both phases of a load cell.
TEST_F(Sweep, FrameworkStartUpIsNotLoadTime) {
  setenv("FAKE_START_MS", "300", 1);
  const BenchRun r = bench(small() + " --backends fake --scenario offline,load");
  unsetenv("FAKE_START_MS");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto ls = result_lines(dir_ / "r.jsonl");
  ASSERT_EQ(ls.size(), 2u);
  for (const auto& l : ls) {
    const auto& m = l["metrics"];
    if (l["scenario"] == "load") {
      EXPECT_GE(m["framework_startup_cold_ms"].get<double>(), 300) << m.dump();
      EXPECT_GE(m["framework_startup_warm_ms"].get<double>(), 300) << m.dump();
      EXPECT_LT(m["load_cold_ms"].get<double>(), 300) << m.dump();
    } else {
      EXPECT_GE(m["framework_startup_ms"].get<double>(), 300) << m.dump();
      EXPECT_LT(m["load_ms"].get<double>(), 300) << m.dump();
    }
  }
}

// What a framework declares it cannot do is planned with, not discovered: a server cell on a
// framework that compiles one batch size gets an engine for one image, and its batches are
// recorded as split; the dynamic one runs them in one call.
TEST_F(Sweep, TheServerScenarioPlansWithTheDeclaredBatchCapability) {
  const std::string args = small() + " --backends fake --scenario server --rate 50" +
                           " --server-duration 0.5 --max-batch 4";
  setenv("FAKE_STATIC_BATCH", "1", 1);
  const BenchRun fixed = bench(args);
  unsetenv("FAKE_STATIC_BATCH");
  ASSERT_EQ(fixed.code, 0) << fixed.output;
  fs::rename(dir_ / "r.jsonl", dir_ / "fixed.jsonl");
  const BenchRun dynamic = bench(args);
  ASSERT_EQ(dynamic.code, 0) << dynamic.output;
  for (const auto& [file, batched] :
       std::vector<std::pair<std::string, bool>>{{"fixed.jsonl", false}, {"r.jsonl", true}}) {
    for (const auto& l : result_lines(dir_ / file)) {
      ASSERT_EQ(l["status"], "ok") << l.dump();
      if (l["server"]["max_batch"] != 4) continue;  // the baseline without batching
      EXPECT_EQ(l["batched"], batched) << file << ": " << l.dump();
      EXPECT_EQ(l["metrics"]["framework_calls_per_batch"], batched ? 1 : 4) << l.dump();
    }
  }
}

// Issue 28, item 1: the peak of a find-peak cell must hold when measured again. After the
// search the cell runs at the peak with the full length; the row is that run (its offered
// rate is the peak, its own p99 and achieved share meet the rule), or, where no rate down to
// the search's lowest held, the last run tried with peak 0 and the reason. In process and
// through a transport alike. Whatever the machine measured, the row agrees with its runs.
TEST_F(Sweep, AFindPeakCellReportsTheRunThatConfirmedItsPeak) {
  const BenchRun r = bench(small() +
                           " --backends fake --set fake.service_ms=5 --scenario server"
                           " --find-peak --slo-p99-ms 100 --max-batch 4 --server-duration 0.2"
                           " --transport in-process,http-binary");
  ASSERT_EQ(r.code, 0) << r.output;
  int rows = 0;
  for (const auto& l : result_lines(dir_ / "r.jsonl")) {
    ASSERT_EQ(l["status"], "ok") << l.dump();
    ++rows;
    const nlohmann::json& m = l["metrics"];
    ASSERT_TRUE(m.contains("peak_confirmations") && m.contains("peak_confirmed")) << m.dump();
    const nlohmann::json& runs = m["peak_confirmations"];
    ASSERT_GE(runs.size(), 1u) << m.dump();
    const nlohmann::json& last = runs.back();
    // The row's own figures are those of the last confirming run.
    EXPECT_EQ(m["offered_qps"], last["rate_qps"]) << m.dump();
    EXPECT_EQ(l["latency_ms"]["p99"], last["p99_ms"]) << l.dump();
    EXPECT_EQ(m["achieved_fraction"], last["achieved_fraction"]) << m.dump();
    EXPECT_EQ(m["peak_confirmed"], last["meets"]) << m.dump();
    // The first run is at the search's peak: the highest rate a probe met at (or the lowest
    // tried, where none met); the runs before the last failed, each at a lower rate.
    double searched = 0;
    for (const auto& p : m["probes"])
      if (p["meets"].get<bool>()) searched = std::max(searched, p["rate_qps"].get<double>());
    if (searched == 0) searched = m["probes"][0]["rate_qps"].get<double>();
    EXPECT_EQ(runs[0]["rate_qps"].get<double>(), searched) << m.dump();
    for (size_t i = 0; i + 1 < runs.size(); ++i) {
      EXPECT_FALSE(runs[i]["meets"].get<bool>()) << runs.dump();
      EXPECT_GT(runs[i]["rate_qps"].get<double>(), runs[i + 1]["rate_qps"].get<double>());
    }
    for (const auto& run : runs) EXPECT_GE(run["queries"].get<int64_t>(), 100) << run.dump();
    if (m["peak_confirmed"].get<bool>()) {
      EXPECT_EQ(m["peak_qps"], m["offered_qps"]) << m.dump();
      EXPECT_LE(l["latency_ms"]["p99"].get<double>(), 100) << l.dump();
      EXPECT_GE(m["achieved_fraction"].get<double>(), 0.95) << m.dump();
      EXPECT_FALSE(m.contains("peak_reason")) << m.dump();
    } else {
      EXPECT_EQ(m["peak_qps"], 0) << m.dump();
      EXPECT_FALSE(m["peak_reason"].get<std::string>().empty()) << m.dump();
    }
  }
  EXPECT_EQ(rows, 4) << "batching and none, in process and over HTTP";
}

// --concurrency keeps that many requests in flight, each from its own thread: requests on one
// loaded model where the framework has them, else one engine each; throughput counts every
// request's images over the window's wall time, so requests that wait (the fake sleeps) in
// parallel double it; each request gets its share of the cores; other scenarios run one.
TEST_F(Sweep, ConcurrencyKeepsRequestsInFlightAndCountsAllTheirImages) {
  const std::string args =
      "--models resnet50 --input-size 64 --width 0.25 --min-duration 0.3 --min-iterations 3 "
      "--warmup 0 --backends fake --set fake.service_ms=20 --threads 2 --concurrency 1,2 "
      "--scenario offline,single-stream --out " +
      (dir_ / "r.jsonl").string();
  for (const bool shared : {false, true}) {
    if (shared) setenv("FAKE_SHARED_REQUESTS", "1", 1);
    const BenchRun r = bench(args);
    unsetenv("FAKE_SHARED_REQUESTS");
    ASSERT_EQ(r.code, 0) << r.output;
    std::map<std::pair<std::string, int>, nlohmann::json> by;
    for (const auto& l : result_lines(dir_ / "r.jsonl")) {
      ASSERT_EQ(l["status"], "ok") << l.dump();
      by[{l["scenario"], l["concurrency"].get<int>()}] = l;
    }
    ASSERT_EQ(by.size(), 3u) << "offline x1, offline x2, single-stream x1";
    const auto& one = by.at({"offline", 1})["metrics"];
    const auto& two = by.at({"offline", 2})["metrics"];
    EXPECT_EQ(two["concurrency"], 2) << two.dump();
    EXPECT_EQ(two["concurrency_how"],
              shared ? "requests on one loaded model" : "one engine per request");
    EXPECT_EQ(two["threads_per_request"], 1) << two.dump();
    EXPECT_EQ(by.at({"offline", 2})["backend"]["settings_in_effect"]["threads"], 1);
    EXPECT_EQ(by.at({"offline", 1})["backend"]["settings_in_effect"]["threads"], 2);
    ASSERT_EQ(two["iterations_per_request"].size(), 2u) << two.dump();
    for (const auto& n : two["iterations_per_request"]) EXPECT_GE(n.get<int>(), 3) << two.dump();
    EXPECT_GT(two["throughput_ips"].get<double>(), 1.6 * one["throughput_ips"].get<double>())
        << one.dump() << "\n"
        << two.dump();
    fs::remove(dir_ / "r.jsonl");
  }
}

// --precision sweeps the precision: each cell records the precision asked and the one in
// effect; one the framework does not offer here is an unsupported cell naming what it offers.
TEST_F(Sweep, PrecisionIsADimensionAndAnUnofferedOneIsUnsupportedWithTheReason) {
  const BenchRun r = bench(small() + " --backends fake --precision fp32,bf16,int8");
  ASSERT_EQ(r.code, 0) << r.output;
  std::map<std::string, nlohmann::json> by;
  for (const auto& l : result_lines(dir_ / "r.jsonl")) by[l["precision"]] = l;
  ASSERT_EQ(by.size(), 3u);
  EXPECT_EQ(by["fp32"]["status"], "ok") << by["fp32"].dump();
  EXPECT_EQ(by["fp32"]["precision_in_effect"], "fp32") << by["fp32"].dump();
  for (const std::string p : {"bf16", "int8"}) {
    EXPECT_EQ(by[p]["status"], "unsupported") << by[p].dump();
    // Where the CPU itself cannot compute bf16, the reason says so.
    const std::string why = p == "bf16" && !infermark::cpu_has_bf16()
                                ? "; this CPU has neither AVX512_BF16 nor AMX, and bf16 is not "
                                  "run as an emulation"
                                : "";
    EXPECT_EQ(by[p]["message"],
              "fake: precision " + p + " is not offered on this machine (offered: fp32)" + why);
  }
}

// A precision the framework does not offer here is unsupported before anything loads: the
// fake, told to crash when it loads, is never asked to.
TEST_F(Sweep, APrecisionTheFrameworkDoesNotOfferIsUnsupportedWithoutLoading) {
  ASSERT_EQ(bench(small() + " --backends fake").code, 0);
  // The cell of that result, as the sweep hands one to its child, asking int4.
  nlohmann::json spec = result_lines(dir_ / "r.jsonl").at(0);
  spec["backend"] = "fake";
  spec["settings"] = {{"fail", "crash"}, {"fail_at", "load"}};
  spec["precision"] = "int4";
  std::ofstream(dir_ / "spec.json") << spec.dump();
  const std::string cmd = std::string("INFERMARK_PLUGIN_PATH=") + FAKE_PLUGIN_DIR + " " +
                          INFERMARK_BINARY + " _cell --spec " + (dir_ / "spec.json").string() +
                          " --result " + (dir_ / "out.json").string() + " >/dev/null 2>&1";
  const int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status)) << "the cell died: it loaded the model";
  std::ifstream in(dir_ / "out.json");
  const nlohmann::json out = nlohmann::json::parse(in);
  EXPECT_EQ(out["status"], "unsupported") << out.dump();
  EXPECT_NE(out["message"].get<std::string>().find("precision int4"), std::string::npos)
      << out.dump();
  EXPECT_NE(out["message"].get<std::string>().find("offered: fp32"), std::string::npos)
      << out.dump();
}

// The model preparation is a dimension of the study: both forms in one run, each row saying
// what was done to the file before the framework saw it, its time apart from load time.
TEST_F(Sweep, EveryRowRecordsTheModelPreparation) {
  const BenchRun r = bench(small() + " --backends fake --prepare simplify,none");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto ls = result_lines(dir_ / "r.jsonl");
  ASSERT_EQ(ls.size(), 2u);
  std::map<std::string, nlohmann::json> by;
  for (const auto& l : ls) by[l["preparation"]] = l;
  ASSERT_TRUE(by.count("simplify") && by.count("none")) << ls[0].dump();
  const auto& simplified = by["simplify"]["prepared"];
  ASSERT_EQ(simplified["steps"].size(), 1u) << simplified.dump();
  EXPECT_EQ(simplified["steps"][0].get<std::string>().rfind("simplify", 0), 0u);
  EXPECT_EQ(simplified["sha256"].get<std::string>().size(), 16u);
  EXPECT_TRUE(simplified["tools"].contains("onnxsim"));
  EXPECT_TRUE(by["none"]["prepared"]["steps"].empty()) << by["none"].dump();
  for (const auto& l : ls) EXPECT_TRUE(l["metrics"].contains("preparation_ms")) << l.dump();
  EXPECT_NE(bench(small() + " --backends fake --prepare fold").code, 0);
}

TEST_F(Sweep, ResumeSkipsFinishedCellsAndRefusesToOverwrite) {
  ASSERT_EQ(bench(small() + " --backends fake --batches 1,2").code, 0);
  ASSERT_EQ(result_lines(dir_ / "r.jsonl").size(), 2u);
  const BenchRun again = bench(small() + " --backends fake --batches 1,2");
  EXPECT_NE(again.code, 0);
  EXPECT_NE(again.output.find("--resume"), std::string::npos) << again.output;
  const BenchRun more = bench(small() + " --backends fake --batches 1,2,4 --resume");
  ASSERT_EQ(more.code, 0) << more.output;
  const auto ls = result_lines(dir_ / "r.jsonl");
  ASSERT_EQ(ls.size(), 3u);
  EXPECT_EQ(ls[2]["batch"], 4);
}

// A result file whose last line a crash cut in half: report reads the rest with a warning
// naming the file and line, --resume cuts the fragment off and runs that cell again, and the
// file is whole again for every command.
TEST_F(Sweep, ATornLastLineIsSkippedThenRerunByResume) {
  ASSERT_EQ(bench(small() + " --backends fake --batches 1,2").code, 0);
  const fs::path file = dir_ / "r.jsonl";
  std::string text;
  {
    std::ifstream in(file);
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  const size_t second = text.find('\n') + 1;
  const size_t cut = second + (text.size() - second) / 2;  // half of the second line
  {
    std::ofstream out(file, std::ios::trunc);
    out << text.substr(0, cut);
  }
  const CommandRun rep =
      infermark::run_command(std::string(INFERMARK_BINARY) + " report " + file.string() +
                             " --out " + (dir_ / "report").string() + " 2>&1");
  EXPECT_EQ(rep.code, 0) << rep.output;
  EXPECT_NE(rep.output.find("r.jsonl' line 2 was cut short"), std::string::npos) << rep.output;
  EXPECT_NE(rep.output.find("report of 1 cells"), std::string::npos) << rep.output;

  const BenchRun more = bench(small() + " --backends fake --batches 1,2 --resume");
  ASSERT_EQ(more.code, 0) << more.output;
  EXPECT_NE(more.output.find("line 2 was cut short"), std::string::npos) << more.output;
  const auto ls = result_lines(file);  // throws on a line that is not JSON
  ASSERT_EQ(ls.size(), 2u);
  EXPECT_EQ(ls[0]["batch"], 1);
  EXPECT_EQ(ls[1]["batch"], 2);
}

// A model path that is not UTF-8 cannot enter a result row as it is: one clear line, no cell.
TEST_F(Sweep, AModelPathThatIsNotUtf8IsOneClearLine) {
  const fs::path bad = dir_ / "model\xff\xfe.onnx";
  std::ofstream(bad) << "not a model";
  const BenchRun r =
      bench("--models '" + bad.string() + "' --backends fake --min-duration 0.05 --out " +
            (dir_ / "r.jsonl").string());
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("is not valid UTF-8"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("internal error"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir_ / "r.jsonl"));
}

// Ctrl-C (SIGINT to the sweep) stops it cleanly: finished cells stay, the interrupted one
// is not recorded, and --resume runs only what is left.
TEST_F(Sweep, InterruptKeepsFinishedCellsAndResumeCompletes) {
  const std::string args =
      "--models resnet50 --input-size 64 --width 0.25 --min-duration 1 "
      "--min-iterations 3 --warmup 0 --backends fake --batches 1,2,3 "
      "--set fake.service_ms=200 --out " +
      (dir_ / "r.jsonl").string();
  const std::string cmd = std::string("INFERMARK_PLUGIN_PATH=") + FAKE_PLUGIN_DIR + " " +
                          INFERMARK_BINARY + " bench " + args +
                          " >/dev/null 2>&1 & pid=$!; "
                          "for i in $(seq 1 100); do [ -s " +
                          (dir_ / "r.jsonl").string() +
                          " ] && break; sleep 0.1; done; kill -INT $pid; wait $pid; echo $?";
  FILE* p = popen(cmd.c_str(), "r");
  char buf[64] = {0};
  fgets(buf, sizeof buf, p);
  pclose(p);
  EXPECT_EQ(std::atoi(buf), 130);
  const size_t kept = result_lines(dir_ / "r.jsonl").size();
  EXPECT_GE(kept, 1u);
  EXPECT_LT(kept, 3u);
  const BenchRun more = bench(args + " --resume");
  ASSERT_EQ(more.code, 0) << more.output;
  const auto ls = result_lines(dir_ / "r.jsonl");
  ASSERT_EQ(ls.size(), 3u);
  std::set<int64_t> batches;
  for (const auto& l : ls) batches.insert(l["batch"].get<int64_t>());
  EXPECT_EQ(batches, (std::set<int64_t>{1, 2, 3}));
}

TEST_F(Sweep, ACorruptModelIsAnErrorAndTheOthersRun) {
  const fs::path bad = dir_ / "corrupt.onnx";
  std::ofstream(bad) << "not a model";
  const BenchRun r =
      bench("--models resnet50," + bad.string() +
            " --input-size 64 --width 0.25 --min-duration 0.05 --warmup 0 --backends fake"
            " --out " +
            (dir_ / "r.jsonl").string());
  ASSERT_EQ(r.code, 0) << r.output;
  std::map<std::string, std::string> status, message;
  for (const auto& l : result_lines(dir_ / "r.jsonl")) {
    status[l["model"]["name"]] = l["status"];
    message[l["model"]["name"]] = l.value("message", "");
  }
  EXPECT_EQ(status["resnet50"], "ok");
  EXPECT_EQ(status[bad.string()], "error");
  EXPECT_NE(message[bad.string()].find("not a valid ONNX model"), std::string::npos)
      << message[bad.string()];
}

// A study is a file that can be shared and rerun: the same options, in TOML.
TEST_F(Sweep, AStudyFromAConfigFile) {
  const fs::path study = dir_ / "study.toml";
  std::ofstream(study) << "[bench]\nmodels = [\"resnet50\"]\nbackends = [\"fake\"]\n"
                          "batches = [1, 2]\ninput-size = 64\nwidth = 0.25\nmin-duration = 0.05\n"
                          "warmup = 0\nout = \""
                       << (dir_ / "r.jsonl").string() << "\"\n";
  const std::string cmd = std::string("INFERMARK_PLUGIN_PATH=") + FAKE_PLUGIN_DIR + " " +
                          INFERMARK_BINARY + " --config " + study.string() +
                          " bench >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  EXPECT_EQ(result_lines(dir_ / "r.jsonl").size(), 2u);
}

TEST_F(Sweep, BadMatrixValuesAreRefusedBeforeAnythingRuns) {
  // The last three found by fuzz/study_fuzz.cc: a matrix without end (it was expanded until
  // memory ran out), a label that is not UTF-8 (json's type_error when the cell was written),
  // a model name too long for a path (filesystem_error when it was looked at).
  for (const std::string& bad : std::vector<std::string>{
           "--batches 0", "--min-duration -1", "--scenario offlin", "--repeat 0",
           "--rate -5 --scenario server", "--memory-limit lots", "--rounds 0", "--arms a,a",
           "--rounds 100000000", "--arms \"$(printf 'a\\356')\"",
           "--models " + std::string(300, 'm')}) {
    const BenchRun r = bench(small() + " --backends fake " + bad);
    EXPECT_NE(r.code, 0) << bad;
    EXPECT_FALSE(fs::exists(dir_ / "r.jsonl")) << bad;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << bad << ": " << r.output;
  }
}

TEST_F(Sweep, ScenariosOnTheFakeBackend) {
  const BenchRun r = bench(small() +
                           " --backends fake --scenario single-stream,server,load --rate 50"
                           " --server-duration 1 --set fake.service_ms=2");
  ASSERT_EQ(r.code, 0) << r.output;
  std::map<std::string, int> seen;
  for (const auto& l : result_lines(dir_ / "r.jsonl")) {
    EXPECT_EQ(l["status"], "ok") << l.dump();
    ++seen[l["scenario"]];
    if (l["scenario"] == "load") {
      EXPECT_TRUE(l["metrics"].contains("load_cold_ms"));
      EXPECT_TRUE(l["metrics"].contains("load_warm_ms"));
    }
  }
  EXPECT_EQ(seen["single-stream"], 1);
  EXPECT_EQ(seen["server"], 2);  // dynamic batching, and none as the baseline
  EXPECT_EQ(seen["load"], 1);
}

// --transport runs the single-stream and server cells through serve's HTTP and gRPC stacks
// and load's generator: each row names its transport, the server's own figures come with it,
// and a single-stream cell measures what the transport adds, paired inside the cell.
TEST_F(Sweep, TransportsServeTheCellsEngineAndMeasureWhatTheyAdd) {
  const BenchRun r =
      bench(small() +
            " --backends fake --set fake.service_ms=5 --scenario single-stream,server"
            " --rate 20 --max-batch 1 --server-duration 0.5"
            " --transport in-process,http-binary,grpc,http-json");
  ASSERT_EQ(r.code, 0) << r.output;
  std::map<std::pair<std::string, std::string>, nlohmann::json> by;
  for (const auto& l : result_lines(dir_ / "r.jsonl")) {
    ASSERT_EQ(l["status"], "ok") << l.dump();
    by[{l["scenario"], l.value("transport", "in-process")}] = l;
  }
  ASSERT_EQ(by.size(), 8u) << "two scenarios x four transports";
  for (const auto& [key, l] : by) {
    const auto& [scenario, transport] = key;
    const nlohmann::json& m = l["metrics"];
    // The fake framework sleeps 5 ms per call: no request is answered sooner, however sent.
    EXPECT_GE(l["latency_ms"]["p50"].get<double>(), 4.9) << l.dump();
    if (transport == "in-process") {
      EXPECT_FALSE(m.contains("paired_overhead_ms")) << m.dump();
      continue;
    }
    EXPECT_EQ(m["transport"], transport);
    EXPECT_GE(m["server_compute_ms_mean"].get<double>(), 4.9) << m.dump();
    EXPECT_EQ(m["failed"], 0) << m.dump();
    if (scenario == "server") {
      EXPECT_EQ(m["batch_histogram"].size(), 1u) << "max batch 1: " << m.dump();
      continue;
    }
    const nlohmann::json& o = m["paired_overhead_ms"];
    ASSERT_TRUE(o.is_object()) << m.dump();
    EXPECT_EQ(o["pairs"], 10);
    EXPECT_LE(o["ci95_low"].get<double>(), o["mean"].get<double>());
    EXPECT_LE(o["mean"].get<double>(), o["ci95_high"].get<double>());
    EXPECT_GE(o["in_process_p50_ms"].get<double>(), 4.9) << o.dump();
    EXPECT_GE(o["transport_p50_ms"].get<double>(), 4.9) << o.dump();
  }
  // A 64 px image in binary costs less to send than the 5 ms of the call itself; as JSON text
  // (12,288 numbers printed and parsed) it costs more than in binary.
  const auto overhead = [&](const std::string& t) {
    return by.at({"single-stream", t})["metrics"]["paired_overhead_ms"]["mean"].get<double>();
  };
  EXPECT_LT(overhead("http-binary"), 5.0);
  EXPECT_LT(overhead("grpc"), 5.0);
  EXPECT_GT(overhead("http-json"), overhead("http-binary"));
}

}  // namespace
