#include "verify/conformance.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <set>

#include "backends/registry.h"
#include "core/error.h"
#include "core/jsonl.h"
#include "core/npy.h"
#include "core/onnx_io.h"
#include "core/text.h"
#include "verify/check.h"

namespace infermark {
namespace fs = std::filesystem;

namespace {

fs::path beside(const fs::path& model, const char* suffix) {
  fs::path p = model;
  p.replace_extension(suffix);
  return p;
}

int default_opset(const fs::path& model) {
  const onnx::ModelProto m = load_onnx(model);
  for (const auto& o : m.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") return static_cast<int>(o.version());
  return 0;
}

std::string duration(double s) {
  char buf[32];
  if (s < 90) {
    std::snprintf(buf, sizeof buf, "%.0f s", s);
  } else if (s < 5400) {
    std::snprintf(buf, sizeof buf, "%.0f min", s / 60);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f h", s / 3600);
  }
  return buf;
}

}  // namespace

std::vector<fs::path> conformance_models(const std::vector<std::string>& paths) {
  std::vector<fs::path> models;
  for (const auto& text : paths) {
    const fs::path p = valid_utf8(text);
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<fs::path> found;
      for (const auto& e : fs::directory_iterator(p, ec))
        if (e.path().extension() == ".onnx") found.push_back(e.path());
      if (found.empty()) throw Error("--models '" + text + "': a folder without .onnx files");
      std::sort(found.begin(), found.end());
      models.insert(models.end(), found.begin(), found.end());
    } else if (fs::is_regular_file(p, ec) && p.extension() == ".onnx") {
      models.push_back(p);
    } else {
      throw Error("--models '" + text + "': neither an .onnx file nor a folder of them");
    }
  }
  for (const auto& m : models)
    for (const char* suffix : {".input.npy", ".expected.npy"})
      if (!fs::exists(beside(m, suffix)))
        throw Error("model '" + m.string() + "' has no " + beside(m, suffix).filename().string() +
                    " beside it (scripts/conformance/export_torchvision.py writes both)");
  return models;
}

std::vector<ConformanceRow> run_conformance(BackendRegistry& registry, const ConformanceOptions& o,
                                            bool* interrupted) {
  std::set<std::pair<std::string, std::string>> done;
  if (fs::exists(o.out)) {
    cut_torn_line(o.out);
    for (const auto& r : read_conformance({o.out})) done.insert({r.file, r.backend});
  }
  size_t todo = 0;
  for (const auto& m : o.models)
    for (const auto& b : o.backends) todo += !done.count({m.string(), b});
  std::fprintf(stderr, "%zu pairs (%zu models x %zu frameworks), %zu already in %s\n",
               o.models.size() * o.backends.size(), o.models.size(), o.backends.size(),
               o.models.size() * o.backends.size() - todo, o.out.c_str());
  std::vector<ConformanceRow> rows;
  const auto t0 = std::chrono::steady_clock::now();
  for (const auto& m : o.models) {
    bool loaded = false;
    Tensor input, expected;
    int opset = 0;
    for (const auto& b : o.backends) {
      if (done.count({m.string(), b})) continue;
      if (!loaded) {
        input = load_npy(beside(m, ".input.npy"));
        expected = load_npy(beside(m, ".expected.npy"));
        opset = default_opset(m);
        loaded = true;
      }
      const double elapsed =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::fprintf(
          stderr, "[%zu/%zu] %s on %s (%s elapsed%s)\n", rows.size() + 1, todo,
          m.filename().c_str(), b.c_str(), duration(elapsed).c_str(),
          rows.empty()
              ? ""
              : (", ~" + duration(elapsed / rows.size() * (todo - rows.size())) + " left").c_str());
      const auto pair_t0 = std::chrono::steady_clock::now();
      FrameworkRun run{m,      b,         o.settings.at(b), o.prepare,
                       "fp32", o.threads, o.timeout_s,      o.tolerance};
      Tensor output;
      CheckRow check = run_framework(registry, run, input, output);
      if (check.verdict == "interrupted") {
        if (interrupted) *interrupted = true;
        std::fprintf(stderr, "interrupted: %zu pairs kept in %s; run again to go on\n", rows.size(),
                     o.out.c_str());
        return rows;
      }
      if (check.verdict.empty()) judge(check, output, expected);
      ConformanceRow r;
      r.model = m.stem().string();
      r.file = m.string();
      r.opset = opset;
      r.backend = b;
      r.verdict = check.verdict;
      r.reason = valid_utf8(check.reason);
      if (check.verdict == "runs" || check.verdict == "wrong") {
        r.max_rel = check.max_rel;
        r.top1 = check.top1;
      }
      r.tolerance = check.tolerance;
      r.load_ms = check.load_ms;
      r.prepared = check.prepared;
      r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - pair_t0).count();
      r.time_utc = utc_now();
      r.output_tail = check.output_tail;
      append_line(o.out, to_json(r).dump());
      std::fprintf(stderr, "    %s%s%s\n", r.verdict.c_str(), r.reason.empty() ? "" : ": ",
                   r.reason.c_str());
      rows.push_back(std::move(r));
    }
  }
  return rows;
}

}  // namespace infermark
