#include "verify/check.h"

#include <algorithm>

#include "backends/registry.h"
#include "backends/settings.h"
#include "core/error.h"
#include "prepare/prepare.h"
#include "verify/compare.h"
#include "verify/isolated.h"

namespace infermark {

bool CheckReport::all_run() const {
  return !interrupted && std::all_of(rows.begin(), rows.end(),
                                     [](const CheckRow& r) { return r.verdict == "runs"; });
}

namespace {

// The verdict of a framework that did not answer, from its process's outcome.
std::string verdict_of(const IsolatedOutcome& o) {
  if (o.status == "unsupported") return "refused";
  if (o.status == "crash") return "crashed";
  return o.status;  // error, timeout, oom, interrupted
}

}  // namespace

PreparedModel prepare_for_one_batch(const BackendInfo& info, const std::filesystem::path& model,
                                    const std::string& preparation, const std::string& precision,
                                    int64_t batch) {
  PrepareOptions prepare = preparation_options(preparation);
  prepare.opset_at_least = info.capabilities.min_opset;
  prepare_for_precision(prepare, precision);
  // The batch is known: fixed in the prepared file, so that shape arithmetic on it folds away
  // (a flatten written against the dynamic batch, x.view(x.size(0), -1)).
  if (info.capabilities.fixed_batch_helps) prepare.batch = batch;
  check_capabilities(info, precision, 1);  // before quantizing for it
  return prepare_model(model, prepare);
}

CheckRow run_framework(BackendRegistry& registry, const FrameworkRun& run, const Tensor& input,
                       Tensor& output) {
  CheckRow row;
  row.backend = run.backend;
  row.tolerance = run.tolerance >= 0
                      ? run.tolerance
                      : (run.precision == "fp32" ? kToleranceF32 : kToleranceReduced);
  try {
    const PreparedModel p = prepare_for_one_batch(registry.info(run.backend), run.model,
                                                  run.prepare, run.precision, input.shape[0]);
    for (const auto& step : p.steps) row.prepared += (row.prepared.empty() ? "" : "; ") + step;
    IsolatedJob job;
    job.backend = run.backend;
    job.load = {p.file, run.settings, run.threads, input.shape[0], 1, run.precision};
    job.timeout_s = run.timeout_s;
    IsolatedOutcome o = run_isolated(job, input);
    row.load_ms = o.load_ms;
    if (o.ok()) {
      output = std::move(o.output);
    } else {
      row.verdict = verdict_of(o);
      row.reason = o.reason;
      row.output_tail = o.output_tail;
    }
  } catch (const Unsupported& e) {
    row.verdict = "refused";
    row.reason = e.what();
  } catch (const Error& e) {
    row.verdict = "error";
    row.reason = e.what();
  }
  return row;
}

void judge(CheckRow& row, const Tensor& output, const Tensor& reference) {
  const OutputDifference d = compare_outputs(output, reference);
  row.max_abs = d.max_abs;
  row.max_rel = d.max_rel;
  row.top1 = d.top1_agreement;
  if (!d.same_shape) {
    row.verdict = "wrong";
    row.reason = d.shape_note;
  } else if (d.max_rel <= row.tolerance) {
    row.verdict = "runs";
  } else {
    row.verdict = "wrong";
    row.reason = d.non_finite > 0 ? std::to_string(d.non_finite) + " outputs NaN or infinite"
                                  : "beyond tolerance";
  }
}

CheckReport run_check(BackendRegistry& registry, const CheckOptions& a, const Tensor& input) {
  const bool against_file = !a.expected_label.empty();
  if (a.backends.size() < (against_file ? 1u : 2u))
    throw Error(std::string("--backends needs at least ") +
                (against_file ? "one backend" : "two backends (or --expected FILE)"));
  CheckReport report;
  report.reference =
      against_file ? "expected" : (a.reference.empty() ? a.backends.front() : a.reference);
  if (!against_file &&
      std::find(a.backends.begin(), a.backends.end(), report.reference) == a.backends.end())
    throw Error("--reference '" + report.reference + "' is not one of --backends");
  if (against_file && (a.expected.shape.empty() || a.expected.shape[0] != input.shape[0]))
    throw Error("expected outputs '" + a.expected_label + "' have shape " +
                shape_string(a.expected.shape) + ", not one row per input image (" +
                std::to_string(input.shape[0]) + ")");
  preparation_options(a.prepare);  // a bad --prepare is refused before anything runs
  check_precision_name(a.precision);
  report.batch = input.shape[0];

  std::map<std::string, Tensor> outputs;
  if (against_file) outputs["expected"] = a.expected;
  for (const auto& name : a.backends) {
    const bool reference = name == report.reference;
    FrameworkRun run{
        a.model,   name,        a.settings.at(name), a.prepare, reference ? "fp32" : a.precision,
        a.threads, a.timeout_s, a.tolerance};
    CheckRow row;
    if (report.interrupted) {
      row.backend = name;
      row.verdict = "interrupted";
      row.reason = "not run: interrupted";
    } else {
      row = run_framework(registry, run, input, outputs[name]);
      if (!row.verdict.empty()) outputs.erase(name);
      report.interrupted = row.verdict == "interrupted";
    }
    row.reference = reference;
    report.rows.push_back(row);
  }

  const auto ref = outputs.find(report.reference);
  for (auto& row : report.rows) {
    if (!row.verdict.empty()) continue;
    if (row.reference) {
      row.verdict = "runs";
      row.top1 = 1;
    } else if (ref == outputs.end()) {
      row.verdict = "unchecked";
      row.reason = "ran; the reference " + report.reference + " did not";
    } else {
      judge(row, outputs[row.backend], ref->second);
    }
  }
  return report;
}

void print_check(const CheckOptions& a, const CheckReport& report, std::FILE* out) {
  const bool against_file = !a.expected_label.empty();
  std::fprintf(out, "check %s, batch %lld, precision %s, reference %s%s, preparation %s\n",
               a.model_label.c_str(), static_cast<long long>(report.batch), a.precision.c_str(),
               report.reference.c_str(),
               against_file ? (" (" + a.expected_label + ")").c_str() : "", a.prepare.c_str());
  std::fprintf(out, "%-12s %-11s %11s %11s %6s %9s %10s  %s\n", "backend", "verdict", "max_abs",
               "max_rel", "top1", "tolerance", "load_ms", "why / what preparation did");
  for (const auto& row : report.rows) {
    const bool compared = row.verdict == "runs" || row.verdict == "wrong";
    std::string note = row.reference && compared ? "reference" : row.reason;
    if (compared && !row.prepared.empty()) note += (note.empty() ? "" : "; ") + row.prepared;
    if (!compared) {
      std::fprintf(out, "%-12s %-11s %11s %11s %6s %9.0e %10s  %s\n", row.backend.c_str(),
                   row.verdict.c_str(), "-", "-", "-", row.tolerance, "-", note.c_str());
      continue;
    }
    std::fprintf(out, "%-12s %-11s %11.3e %11.3e %6.2f %9.0e %10.1f  %s\n", row.backend.c_str(),
                 row.verdict.c_str(), row.max_abs, row.max_rel, row.top1, row.tolerance,
                 row.load_ms, note.c_str());
  }
}

}  // namespace infermark
