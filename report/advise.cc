// The advice as a table (report/advise.h).
#include "report/advise.h"

#include <string>

#include "core/text.h"

namespace infermark {

Table advice_table(const std::vector<Recommendation>& recs) {
  Table t;
  t.name = "advice";
  t.title = "Which framework and settings, per model and scenario";
  t.columns = {"model",
               "scenario",
               "recommended",
               "figure",
               "runner-up (another framework)",
               "winner / runner-up",
               "configurations"};
  bool machines = false;
  for (const auto& r : recs) machines = machines || !r.machine.empty();
  if (machines) t.columns.insert(t.columns.begin(), "machine");
  for (const auto& r : recs) {
    std::vector<std::string> row;
    if (machines) row.push_back(r.machine);
    const ResultRow& w = r.winner.row;
    std::string what = w.label();
    if (w.cell.scenario == scenario::kOffline || w.cell.scenario == scenario::kEnsemble)
      what += ", batch " + std::to_string(w.cell.batch);
    if (w.cell.precision != "fp32" && what.find(w.cell.precision) == std::string::npos)
      what += ", " + w.cell.precision;
    if (w.cell.server && w.cell.peak_slo_p99_ms)
      what += w.cell.server->max_batch > 1
                  ? ", batching up to " + std::to_string(w.cell.server->max_batch)
                  : ", no batching";
    std::string figure = value_text(r.winner.value.median, r.objective);
    if (r.winner.value.has_interval())
      figure += " [" + fixed(r.winner.value.low, 1) + ", " + fixed(r.winner.value.high, 1) + "]";
    row.insert(row.end(), {r.model, r.scenario, what, figure});
    if (r.runner_up) {
      row.push_back(r.runner_up->row.label() + " (" +
                    value_text(r.runner_up->value.median, r.objective) + ")");
      row.push_back(ratio_text(r.vs_runner_up));
    } else {
      row.insert(row.end(), {"none (one framework ran)", "-"});
    }
    row.push_back(std::to_string(r.configurations));
    t.rows.push_back(row);
  }
  t.note =
      "The best configuration (median over its rounds) of each model and scenario among those "
      "that ran and kept the limits; the ratio is the winner against the best configuration of "
      "another framework, oriented so that above 1 favours the winner, with a 95% interval "
      "(paired over rounds when both ran the same rounds, else from the cells' own spread). An "
      "interval that contains 1 does not separate them.";
  return t;
}

}  // namespace infermark
