// What `infermark tune` prints at the end (Tuner::answer, sweep/tune_internal.h): the winner
// against each framework's defaults, the confirmed configurations, the Pareto front and why the
// others lost; and the study file it writes (Tuner::write_study_file), which measures the
// winner against the baseline's defaults again with `infermark --config FILE bench`.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>

#include "core/error.h"
#include "core/metrics.h"
#include "core/text.h"
#include "sweep/tune_internal.h"

namespace infermark::tune_internal {
namespace fs = std::filesystem;

void Tuner::write_study_file(const ResultRow& w, const ResultRow* base) {
  const fs::path file =
      o_.study_file.empty() ? fs::path(o_.out).replace_extension(".toml") : o_.study_file;
  std::ofstream f(file);
  if (!f) throw Error("cannot write the study file '" + file.string() + "'");
  auto list = [](const std::vector<std::string>& v, bool quoted) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i)
      s += (i ? ", " : "") + (quoted ? toml_quoted(v[i], "the value") : v[i]);
    return s + "]";
  };
  auto both = [](const std::string& a, const std::string& b) {
    return a == b ? std::vector<std::string>{a} : std::vector<std::string>{a, b};
  };
  const CellSpec& a = w.cell;
  const CellSpec b = base ? base->cell : w.cell;
  // A setting of the winner's that differs from its framework's default sweeps both values.
  std::vector<std::string> sets;
  const BackendInfo& info = registry_.info(a.backend);
  for (const auto& [k, v] : a.settings) {
    std::string def = v;
    const bool held = o_.fixed.count(a.backend) && o_.fixed.at(a.backend).count(k);
    for (const auto& s : info.settings)
      if (s.key == k && !held) def = s.default_value;
    sets.push_back(a.backend + "." + k + "=" + v + (def != v ? "," + def : ""));
  }
  f << "# The winner of `infermark tune` and " << (base ? base->cell.backend : a.backend)
    << "'s defaults side by side, in interleaved rounds:\n"
    << "#   infermark --config " << file.filename().string() << " bench\n"
    << "# The matrix crosses the dimensions in which the two differ, so it holds other\n"
    << "# combinations of them too.\n"
    << "# winner: " << w.label() << "\n[bench]\n"
    << "models = " << list({o_.model}, true) << "\n"
    << "backends = " << list(both(a.backend, b.backend), true) << "\n"
    << "scenario = " << list({o_.scenario}, true) << "\n"
    << "precision = " << list(both(a.precision, b.precision), true) << "\n";
  if (o_.scenario == scenario::kOffline) {
    f << "batches = " << list(both(std::to_string(a.batch), std::to_string(b.batch)), false) << "\n"
      << "concurrency = "
      << list(both(std::to_string(a.concurrency), std::to_string(b.concurrency)), false) << "\n";
  }
  if (o_.scenario == scenario::kServer && a.server) {
    f << "find-peak = true\nslo-p99-ms = " << *a.peak_slo_p99_ms << "\n"
      << "max-batch = " << a.server->max_batch << "\n"
      << "max-queue-delay-ms = " << a.server->max_queue_delay_ms << "\n";
  }
  if (!sets.empty()) f << "set = " << list(sets, true) << "\n";
  if (o_.threads > 0) f << "threads = " << o_.threads << "\n";
  f << "input-size = " << o_.zoo.input_size << "\nwidth = " << o_.zoo.width
    << "\nseed = " << o_.zoo.seed << "\nrounds = " << o_.confirm_rounds
    << "\nwarmup = " << long_limits(o_.cell_seconds).warmup_s
    << "\nmin-duration = " << long_limits(o_.cell_seconds).min_duration_s << "\nout = "
    << toml_quoted(fs::path(o_.out).replace_extension("").string() + "-rerun.jsonl", "--out")
    << "\n";
  std::printf("study file: %s (infermark --config %s bench)\n", file.c_str(), file.c_str());
}

void Tuner::answer() {
  const std::vector<Standing> confirmed = rank(rows_, objective_, o_.limits, {kConfirm});
  std::printf("\n== tune: %s, %s, objective %s%s ==\n", template_.model.name.c_str(),
              o_.scenario.c_str(), objective_.name.c_str(),
              o_.scenario == scenario::kServer
                  ? (" (p99 <= " + fixed(*template_.peak_slo_p99_ms, 1) + " ms)").c_str()
                  : "");
  double spent = 0;
  for (const auto& r : rows_) spent += r.wall_s;
  std::printf("%zu cells (%d run now), %s of cells in all; budget %s\n", rows_.size(), cells_run_,
              minutes(spent).c_str(), minutes(o_.budget_s).c_str());
  if (confirmed.empty()) {
    std::printf("no configuration was confirmed%s\n",
                out_of_budget_ ? ": the budget ran out before the confirmation rounds (give more "
                                 "--budget; a rerun continues)"
                               : "");
  }
  // The winner: the best configuration confirmed in at least 2 rounds (an interval), else the
  // best confirmed at all, said to be unconfirmed.
  const Standing* winner = confirmed.empty() ? nullptr : &confirmed.front();
  for (const auto& s : confirmed)
    if (s.value.n >= 2) {
      winner = &s;
      break;
    }
  auto defaults_of = [&](const std::string& backend) -> const Standing* {
    for (const auto& s : confirmed)
      if (s.row.cell.backend == backend && s.row.cell.precision == "fp32" &&
          s.row.cell.batch == 1 && s.row.cell.concurrency == 1 &&
          (!s.row.cell.server || s.row.cell.server->max_batch == 1)) {
        const CellSpec d = [&] {
          Candidate c;
          c.backend = backend;
          return cell(c, kConfirm);
        }();
        if (identity(s.row.cell, {"arm"}) == identity(d, {"arm"})) return &s;
      }
    return nullptr;
  };
  auto oriented = [&](const Standing& a, const Standing& b) {
    Ratio r = ratio_of(a, b);
    if (!objective_.higher_is_better) r = {1 / r.ratio, 1 / r.high, 1 / r.low, r.pairs};
    return r;
  };
  if (winner) {
    const ResultRow& w = winner->row;
    std::string what = w.label();
    if (o_.scenario == scenario::kOffline) what += ", batch " + std::to_string(w.cell.batch);
    if (w.cell.precision != "fp32" && what.find(w.cell.precision) == std::string::npos)
      what += ", " + w.cell.precision;
    if (w.cell.server)
      what += w.cell.server->max_batch > 1
                  ? ", dynamic batching up to " + std::to_string(w.cell.server->max_batch) +
                        " within " + fixed(w.cell.server->max_queue_delay_ms, 0) + " ms"
                  : ", no batching";
    if (winner->value.n < 2)
      std::printf(
          "(not confirmed: the budget ran out after one round; rerun with more --budget "
          "to continue)\n");
    std::printf("winner: %s: %s%s, median of %d rounds\n", what.c_str(),
                value_text(winner->value.median, objective_).c_str(),
                winner->value.has_interval() ? (" [" + fixed(winner->value.low, 2) + ", " +
                                                fixed(winner->value.high, 2) + "]")
                                                   .c_str()
                                             : "",
                winner->value.n);
    if (!w.precision_in_effect.empty() && w.precision_in_effect != w.cell.precision)
      std::printf("  (precision in effect: %s)\n", w.precision_in_effect.c_str());
    if (w.cell.precision != "fp32") {
      const std::string key = w.cell.backend + " " + w.cell.precision;
      if (agreement_.count(key))
        std::printf("  top-1 agreement with %s fp32 on %s: %s\n", baseline_.c_str(),
                    o_.images.c_str(), fixed(agreement_[key], 3).c_str());
      else
        std::printf("  top-1 agreement not measured (give --images and --min-top1-agreement)\n");
    }
    std::printf(
        "against each framework's defaults (%s, fp32, %s; ratio above 1 favours the "
        "winner, 95%% interval over paired rounds):\n",
        objective_.name.c_str(), o_.scenario == scenario::kServer ? "no batching" : "batch 1");
    for (const auto& b : backends_) {
      const Standing* d = defaults_of(b);
      if (!d) continue;
      std::printf("  %-12s %-22s winner / defaults %s%s\n", b.c_str(),
                  value_text(d->value.median, objective_).c_str(),
                  ratio_text(oriented(*d, *winner)).c_str(),
                  b == baseline_ ? "   <- baseline" : "");
    }
    std::printf("confirmed configurations (median over the rounds, lowest to highest):\n");
    for (const auto& s : confirmed) {
      double lo = INFINITY, hi = -INFINITY;
      for (const auto& [source, round, v] : s.rounds) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
      const std::string name = describe(s.row);
      std::printf("  %-60s %s (%s to %s)\n", name.c_str(),
                  value_text(s.value.median, objective_).c_str(), fixed(lo, 2).c_str(),
                  fixed(hi, 2).c_str());
    }
    const Standing* base = defaults_of(baseline_);
    write_study_file(w, base ? &base->row : nullptr);
  }

  // The Pareto front over every configuration measured (all phases).
  const std::vector<Standing> all = rank(rows_, objective_, o_.limits);
  const std::vector<Standing> front = pareto_front(all, objective_);
  std::printf("Pareto front (%s, p99 latency, peak memory; %zu of %zu configurations):\n",
              objective_.name.c_str(), front.size(), all.size());
  for (const auto& s : front)
    std::printf("  %-60s %-20s p99 %8.2f ms  %6.0f MiB\n", describe(s.row).c_str(),
                value_text(s.value.median, objective_).c_str(), s.row.latency("p99"),
                s.row.metric(metric::kChildPeakRssBytes) / (1 << 20));
  if (!all.empty() && o_.pareto_figure)
    o_.pareto_figure(all, front, objective_, "tune: " + template_.model.name + " " + o_.scenario,
                     fs::absolute(o_.out).parent_path(),
                     fs::path(o_.out).stem().string() + "_pareto");

  // Why the others lost.
  std::printf("why the others lost:%s\n",
              refused_.empty() && all.size() < 2 ? " nothing else ran" : "");
  for (const auto& [key, why] : refused_) std::printf("  %-22s %s\n", key.c_str(), why.c_str());
  if (winner) {
    std::map<std::string, const Standing*> best_of;  // framework -> its best configuration
    for (const auto& s : all)
      if (!best_of.count(s.row.cell.backend)) best_of[s.row.cell.backend] = &s;
    for (const auto& [backend, s] : best_of) {
      if (backend == winner->row.cell.backend) continue;
      const double r = objective_.higher_is_better ? winner->value.median / s->value.median
                                                   : s->value.median / winner->value.median;
      std::printf("  %-22s best %s (%s): the winner is %sx better%s\n", backend.c_str(),
                  value_text(s->value.median, objective_).c_str(), describe(s->row).c_str(),
                  fixed(r, 2).c_str(), s->value.n > 1 ? "" : " (short cells)");
    }
  }
}

}  // namespace infermark::tune_internal
