#include "verify/infer.h"

#include "backends/registry.h"
#include "backends/settings.h"
#include "prepare/prepare.h"
#include "verify/check.h"

namespace infermark {

InferReport run_infer(BackendRegistry& registry, const InferOptions& a, const Tensor& input) {
  check_precision_name(a.precision);
  const PreparedModel prepared = prepare_for_one_batch(registry.info(a.backend), a.model, a.prepare,
                                                       a.precision, input.shape[0]);
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
