#include "verify/infer.h"

#include "backends/registry.h"
#include "backends/settings.h"
#include "prepare/prepare.h"

namespace infermark {

InferReport run_infer(BackendRegistry& registry, const InferOptions& a, const Tensor& input) {
  check_precision_name(a.precision);
  const BackendInfo& info = registry.info(a.backend);
  PrepareOptions prepare = preparation_options(a.prepare);
  prepare.opset_at_least = info.capabilities.min_opset;
  prepare_for_precision(prepare, a.precision);
  // Known: fixed, so that shape arithmetic on it folds away (where that helps the framework).
  if (info.capabilities.fixed_batch_helps) prepare.batch = input.shape[0];
  check_capabilities(info, a.precision, 1);  // before quantizing for it
  const PreparedModel prepared = prepare_model(a.model, prepare);
  IsolatedJob job;
  job.backend = a.backend;
  job.load = {prepared.file, a.settings, a.threads, input.shape[0], 1, a.precision};
  job.timeout_s = a.timeout_s;
  InferReport report;
  report.outcome = run_isolated(job, input);
  report.prepared = prepared.steps;
  return report;
}

}  // namespace infermark
