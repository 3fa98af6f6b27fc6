// infermark tune (sweep/tune.h): screen every framework and precision at its defaults, climb
// each promising one's batch, concurrency and settings one coordinate at a time with short
// cells, measure the best again with longer cells (a halving rung), and confirm the finalists
// against every framework's defaults in interleaved rounds. Every cell is a result line of the
// tuning run's file, labelled by its phase (arm "tune:screen", ...), so that a rerun continues
// where a killed one stopped and `report` and `compare` read a tuning run like any study.
// This file holds the search, its budget and the checks of the options; the accuracy gate is in
// tune_agreement.cc, the printed answer and the study file in tune_answer.cc (the Tuner class:
// sweep/tune_internal.h); the command draws the figure (report/tune_figure.h).
#include "sweep/tune.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <set>

#include "backends/registry.h"
#include "backends/settings.h"
#include "core/error.h"
#include "core/machine.h"
#include "sweep/study.h"
#include "sweep/tune_internal.h"

namespace infermark {
namespace fs = std::filesystem;
namespace tune_internal {

std::string minutes(double s) {
  char buf[32];
  if (s < 0) s = 0;
  std::snprintf(buf, sizeof buf, "%dm%02ds", int(s) / 60, int(s) % 60);
  return buf;
}

// How long each phase measures a cell: screening and exploring cells take 0.4 of
// `seconds`, the halving rung and the confirmation `seconds`.
RunLimits short_limits(double seconds) {
  RunLimits l;
  l.warmup_s = 0.15 * seconds;
  l.warmup_iterations = 1;
  l.min_duration_s = 0.4 * seconds;
  l.min_iterations = 3;
  l.max_duration_s = 5 * seconds;
  return l;
}
RunLimits long_limits(double seconds) {
  RunLimits l;
  l.warmup_s = 0.25 * seconds;
  l.warmup_iterations = 1;
  l.min_duration_s = seconds;
  l.min_iterations = 5;
  l.max_duration_s = 10 * seconds;
  return l;
}

namespace {

std::string name_of(const Candidate& c) {
  std::string s = c.backend + " " + c.precision;
  if (c.batch > 1) s += " batch " + std::to_string(c.batch);
  if (c.concurrency > 1) s += " x" + std::to_string(c.concurrency);
  if (c.max_batch > 1)
    s += " batching " + std::to_string(c.max_batch) + "/" + fixed(c.delay_ms, 0) + "ms";
  for (const auto& [k, v] : c.settings) s += " " + k + "=" + v;
  return s;
}

}  // namespace

CellSpec Tuner::cell(const Candidate& c, const std::string& arm, int round) const {
  CellSpec s = template_;
  s.backend = c.backend;
  s.settings = c.settings;
  for (const auto& [k, v] :
       o_.fixed.count(c.backend) ? o_.fixed.at(c.backend) : std::map<std::string, std::string>{})
    s.settings[k] = v;
  s.precision = c.precision;
  s.arm = arm;
  s.round = round;
  s.limits = arm == kScreen || arm == kExplore ? short_limits(o_.cell_seconds)
                                               : long_limits(o_.cell_seconds);
  if (o_.scenario == scenario::kOffline) {
    s.batch = c.batch;
    s.concurrency = c.concurrency;
  }
  if (o_.scenario == scenario::kServer) {
    ServerConfig server;
    server.max_batch = c.max_batch;
    server.max_queue_delay_ms = c.max_batch > 1 ? c.delay_ms : 0.0;
    server.duration_s = (arm == kScreen || arm == kExplore ? 1.5 : 2.5) * o_.cell_seconds;
    server.min_queries = arm == kScreen || arm == kExplore ? 50 : 100;
    server.seed = o_.zoo.seed;
    s.server = server;
  }
  return s;
}

void Tuner::reload() {
  rows_ = fs::exists(o_.out) ? read_results({o_.out}) : std::vector<ResultRow>{};
  by_key_.clear();
  for (const auto& r : rows_) by_key_[r.cell_key] = r;
}

const ResultRow* Tuner::find(const CellSpec& spec) const {
  auto it = by_key_.find(cell_key(spec));
  return it == by_key_.end() ? nullptr : &it->second;
}

void Tuner::progress(const std::string& phase, const std::string& what) const {
  // The best so far: the best value any candidate reached in any phase.
  double best = NAN;
  std::string best_label;
  for (const auto& r : rows_) {
    const double v = value(&r);
    if (better(v, best)) {
      best = v;
      best_label = describe(r);
    }
  }
  std::fprintf(
      stderr, "[tune] %s | %zu candidates measured | best so far %s | budget left %s | %s\n",
      phase.c_str(), rows_.size(),
      std::isnan(best) ? "none" : (value_text(best, objective_) + " (" + best_label + ")").c_str(),
      minutes(time_left()).c_str(), what.c_str());
}

double Tuner::cost_of(const Candidate& c) const {
  // A confirmation cell costs what the candidate's own short cell cost (its framework's screen
  // cell when it has none), less the short cell's measuring time and most of its load
  // (compiled models are cached by then), plus the longer measuring time. A peak search's
  // probes all lengthen alike.
  const RunLimits s = short_limits(o_.cell_seconds), l = long_limits(o_.cell_seconds);
  const ResultRow* r = find(cell(c, kExplore));
  if (!r) r = find(cell(c, kScreen));
  if (!r) {
    Candidate family;
    family.backend = c.backend;
    family.precision = c.precision;
    r = find(cell(family, kScreen));
  }
  if (!r) return 5.0;
  if (o_.scenario == scenario::kServer) return r->wall_s * 2.5 / 1.5;
  const double load_s = std::isfinite(r->metric("load_ms")) ? r->metric("load_ms") / 1000 : 0;
  return std::max(0.5, r->wall_s - load_s - s.warmup_s - s.min_duration_s) + std::min(load_s, 5.0) +
         l.warmup_s + l.min_duration_s;
}

double Tuner::confirm_cost() const {
  double per_round = 0, top = 0;
  for (const auto& d : defaults_) {
    per_round += cost_of(d);
    top = std::max(top, cost_of(d));
  }
  for (const auto& [c, v] : families_) top = std::max(top, cost_of(c));
  per_round += o_.finalists * top;
  return per_round * o_.confirm_rounds;
}

std::string Tuner::describe(const ResultRow& r) const {
  ResultRow unlabelled = r;
  unlabelled.cell.arm.clear();
  std::string s = unlabelled.label();
  if (r.cell.scenario == scenario::kOffline) s += " batch " + std::to_string(r.cell.batch);
  if (r.cell.server)
    s += r.cell.server->max_batch > 1 ? " batching " + std::to_string(r.cell.server->max_batch) +
                                            "/" + fixed(r.cell.server->max_queue_delay_ms, 0) + "ms"
                                      : " no batching";
  return s;
}

const ResultRow* Tuner::measure(const Candidate& c, const std::string& arm, int round) {
  const CellSpec spec = cell(c, arm, round);
  if (arm == kScreen || arm == kExplore) tried_.push_back(c);
  if (const ResultRow* r = find(spec)) return r;
  if (interrupted_) return nullptr;
  // What the confirmation will need is held back, but never more than half the budget: a
  // confirmation too long for the budget runs fewer rounds rather than starving the search.
  const double reserve = arm == kConfirm ? 0 : std::min(confirm_cost(), 0.5 * o_.budget_s);
  // The confirmation may overrun the budget by a tenth rather than stop between rounds.
  const double left = time_left() - reserve + (arm == kConfirm ? 0.1 * o_.budget_s : 0);
  if (left <= 1) {
    out_of_budget_ = true;
    return nullptr;
  }
  CellRunner runner;
  runner.out = o_.out;
  runner.threads = o_.threads;
  runner.memory_limit_bytes = o_.limits.memory_bytes;
  // A cell may not outlive the budget by much (a compile that would is stopped as timeout).
  runner.cell_timeout_s = std::min(o_.cell_timeout_s, std::max(30.0, left + 30));
  runner.resume = true;
  runner.quiet = true;
  progress(arm.substr(5), name_of(c) + (round > 0 ? " round " + std::to_string(round + 1) : ""));
  const int code = run_cells({spec}, runner);
  ++cells_run_;
  if (code == 130) interrupted_ = true;
  reload();
  return find(spec);
}

void Tuner::screen() {
  // Every framework's defaults in fp32 first: they are the confirmation's references.
  std::vector<std::string> order = o_.precisions;
  std::stable_partition(order.begin(), order.end(),
                        [](const std::string& p) { return p == "fp32"; });
  for (const auto& precision : order)
    for (const auto& b : backends_) {
      Candidate c;
      c.backend = b;
      c.precision = precision;
      const ResultRow* r = measure(c, kScreen);
      if (!r) continue;
      const std::string key = b + " " + precision;
      if (!r->ok()) {
        refused_[key] = r->status + ": " + r->message;
        continue;
      }
      std::string why;
      if (!within(*r, o_.limits, &why)) {
        refused_[key] = "at its defaults: " + why;
      }
      if (precision == "fp32") defaults_.push_back(c);
      if (!agreement_ok(b, precision)) continue;
      families_.emplace_back(c, value(r));
    }
  std::stable_sort(families_.begin(), families_.end(),
                   [&](const auto& a, const auto& b) { return better(a.second, b.second); });
}

void Tuner::explore(Candidate best, double best_value) {
  auto attempt = [&](const Candidate& c) {
    const ResultRow* r = measure(c, kExplore);
    const double v = value(r);
    if (better(v, best_value, 0.02)) {
      best = c;
      best_value = v;
      return true;
    }
    return false;
  };
  const BackendInfo& info = registry_.info(best.backend);
  if (o_.scenario == scenario::kOffline) {
    if (fixed_batch(template_.model) == 0) {
      int misses = 0;
      for (int64_t b : o_.batches) {
        if (b <= best.batch || misses >= 2) continue;
        Candidate c = best;
        c.batch = b;
        misses = attempt(c) ? 0 : misses + 1;
      }
    }
    const Candidate at = best;
    for (int n : o_.concurrencies) {
      if (n <= 1) continue;
      Candidate c = at;
      c.concurrency = n;
      attempt(c);
    }
  }
  if (o_.scenario == scenario::kServer) {
    const Candidate at = best;
    for (int64_t mb : o_.max_batches) {
      if (mb <= 1) continue;
      Candidate c = at;
      c.max_batch = mb;
      c.delay_ms = 5;
      attempt(c);
    }
    if (best.max_batch > 1) {
      const Candidate with = best;
      for (double d : o_.queue_delays_ms) {
        if (d == with.delay_ms) continue;
        Candidate c = with;
        c.delay_ms = d;
        attempt(c);
      }
    }
  }
  // The framework's own settings, one at a time from the best so far (coordinate ascent).
  const auto widened = o_.search.count(best.backend)
                           ? o_.search.at(best.backend)
                           : std::map<std::string, std::vector<std::string>>{};
  for (const auto& spec : info.settings) {
    if (o_.fixed.count(best.backend) && o_.fixed.at(best.backend).count(spec.key)) continue;
    const std::vector<std::string> values =
        widened.count(spec.key) ? widened.at(spec.key) : spec.tune;
    const Candidate from = best;
    for (const auto& v : values) {
      const std::string current =
          from.settings.count(spec.key) ? from.settings.at(spec.key) : spec.default_value;
      if (v == current) continue;
      Candidate c = from;
      if (v == spec.default_value)
        c.settings.erase(spec.key);
      else
        c.settings[spec.key] = v;
      attempt(c);
    }
  }
}

std::vector<Candidate> Tuner::halving() {
  // The configurations measured so far, best first (one entry per configuration).
  std::vector<std::pair<Candidate, double>> ranked;
  std::set<std::string> seen;
  for (const auto& c : tried_) {
    const CellSpec s = cell(c, kExplore);
    const ResultRow* r = find(s);
    if (!r) r = find(cell(c, kScreen));
    const double v = value(r);
    if (std::isnan(v) || !seen.insert(identity(s, {"arm"})).second) continue;
    if (!agreement_ok(c.backend, c.precision)) continue;
    ranked.emplace_back(c, v);
  }
  std::stable_sort(ranked.begin(), ranked.end(),
                   [&](const auto& a, const auto& b) { return better(a.second, b.second); });
  const size_t rung = std::min<size_t>(ranked.size(), 2 * o_.finalists);
  std::vector<std::pair<Candidate, double>> second;
  for (size_t i = 0; i < rung; ++i) {
    const double v = value(measure(ranked[i].first, kRung));
    second.emplace_back(ranked[i].first, std::isnan(v) ? ranked[i].second : v);
  }
  std::stable_sort(second.begin(), second.end(),
                   [&](const auto& a, const auto& b) { return better(a.second, b.second); });
  std::vector<Candidate> out;
  for (size_t i = 0; i < second.size() && out.size() < static_cast<size_t>(o_.finalists); ++i)
    out.push_back(second[i].first);
  return out;
}

void Tuner::confirm(const std::vector<Candidate>& finalists) {
  std::vector<Candidate> set = finalists;
  auto same = [&](const Candidate& a, const Candidate& b) {
    return identity(cell(a, kConfirm), {"arm"}) == identity(cell(b, kConfirm), {"arm"});
  };
  for (const auto& d : defaults_)
    if (std::none_of(set.begin(), set.end(), [&](const Candidate& c) { return same(c, d); }))
      set.push_back(d);
  // As many rounds as the budget holds; fewer than 2 give no interval, so then only the
  // finalists and the baseline's defaults are confirmed.
  auto rounds_for = [&](const std::vector<Candidate>& configs) {
    double per_round = 0;
    for (const auto& c : configs) per_round += cost_of(c);
    return std::min(o_.confirm_rounds,
                    static_cast<int>((time_left() + 0.1 * o_.budget_s) / std::max(1.0, per_round)));
  };
  int rounds = rounds_for(set);
  if (rounds < 2) {
    std::vector<Candidate> fewer = finalists;
    for (const auto& d : defaults_)
      if (d.backend == baseline_ &&
          std::none_of(fewer.begin(), fewer.end(), [&](const Candidate& c) { return same(c, d); }))
        fewer.push_back(d);
    if (fewer.size() < set.size())
      std::fprintf(stderr,
                   "[tune] the budget holds no two rounds of every framework's defaults: "
                   "confirming the finalists and %s's defaults only\n",
                   baseline_.c_str());
    set = fewer;
    rounds = std::max(2, rounds_for(set));
  }
  std::fprintf(stderr, "[tune] confirming %zu configurations in %d interleaved rounds\n",
               set.size(), rounds);
  for (int round = 0; round < rounds; ++round) {
    std::vector<Candidate> visit = set;
    std::mt19937_64 rng(1000003u * (o_.zoo.seed + 1) + static_cast<uint64_t>(round));
    std::shuffle(visit.begin(), visit.end(), rng);
    for (const auto& c : visit) {
      measure(c, kConfirm, round);
      if (interrupted_) return;
    }
  }
}

int Tuner::run() {
  o_.validate();
  for (const auto& b : o_.backends.empty() ? registry_.known() : o_.backends) {
    if (o_.backends.empty()) {
      bool available = false;
      try {
        available = registry_.info(b).available;
      } catch (const Error&) {
      }
      if (!available) continue;
    } else {
      registry_.info(b);  // throws: unknown or not available
    }
    backends_.push_back(b);
  }
  if (backends_.empty()) throw Error("no framework is available to tune");
  baseline_ = std::find(backends_.begin(), backends_.end(), o_.baseline) != backends_.end()
                  ? o_.baseline
                  : backends_.front();
  for (const auto& [b, keys] : o_.search) {
    if (std::find(backends_.begin(), backends_.end(), b) == backends_.end())
      throw Error("--set names backend '" + b + "', which is not among the tuned frameworks");
    for (const auto& [k, values] : keys)
      for (const auto& v : values) validate_settings(registry_.info(b), {{k, v}});
  }
  for (const auto& [b, keys] : o_.fixed) {
    if (std::find(backends_.begin(), backends_.end(), b) == backends_.end())
      throw Error("--fix names backend '" + b + "', which is not among the tuned frameworks");
    for (const auto& [k, v] : keys) validate_settings(registry_.info(b), {{k, v}});
  }
  // The model, described and written once (a zoo model becomes a file).
  Study study;
  study.models = {o_.model};
  study.backends = {backends_.front()};
  study.scenarios = {o_.scenario == scenario::kServer ? "single-stream" : o_.scenario};
  study.zoo = o_.zoo;
  study.threads = o_.threads;
  std::fprintf(stderr, "[tune] preparing %s...\n", o_.model.c_str());
  template_ = expand(study).front();
  if (!template_.model.error.empty()) throw Error(template_.model.error);
  template_.scenario = o_.scenario;
  template_.preparation = "simplify";
  if (o_.scenario == scenario::kServer) {
    for (const auto& c : o_.limits.latency)
      if (c.what == "p99") template_.peak_slo_p99_ms = c.limit_ms;
  }

  reload();
  for (const auto& r : rows_) {
    if (r.cell.model.hash != template_.model.hash || r.cell.scenario != o_.scenario ||
        r.cell.arm.rfind("tune:", 0) != 0)
      throw Error("'" + o_.out.string() + "' holds results of another run (" + r.cell.model.name +
                  " " + r.cell.scenario + (r.cell.arm.empty() ? "" : ", " + r.cell.arm) +
                  "): choose another --out");
    spent_before_ += r.wall_s;
  }
  if (!rows_.empty())
    std::fprintf(stderr, "[tune] continuing %s: %zu cells already measured (%s of the budget)\n",
                 o_.out.c_str(), rows_.size(), minutes(spent_before_).c_str());

  screen();
  if (!interrupted_) {
    const size_t keep = std::min<size_t>(families_.size(), static_cast<size_t>(o_.finalists));
    for (size_t i = 0; i < keep && !interrupted_; ++i) {
      std::fprintf(stderr, "[tune] exploring %s (screened %s)\n",
                   name_of(families_[i].first).c_str(),
                   value_text(families_[i].second, objective_).c_str());
      explore(families_[i].first, families_[i].second);
    }
  }
  std::vector<Candidate> finalists;
  if (!interrupted_) finalists = halving();
  if (!interrupted_) confirm(finalists);
  if (interrupted_) {
    std::fprintf(stderr,
                 "[tune] interrupted: the cells measured are kept in %s; rerun the same "
                 "command to continue\n",
                 o_.out.c_str());
    return 130;
  }
  answer();
  return 0;
}

}  // namespace tune_internal

void TuneOptions::validate() const {
  if (model.empty()) throw Error("--model is required");
  zoo::check_model_source(model);
  if (scenario != scenario::kOffline && scenario != scenario::kSingleStream &&
      scenario != scenario::kServer)
    throw Error("--scenario '" + scenario + "' cannot be tuned (offline, single-stream, server)");
  objective_for(objective, scenario);
  if (!(budget_s > 0)) throw Error("--budget must be positive");
  if (scenario == scenario::kServer &&
      std::none_of(limits.latency.begin(), limits.latency.end(),
                   [](const Constraint& c) { return c.what == "p99"; }))
    throw Error("--scenario server needs --constraint p99<=MS: the rate is judged against it");
  if (limits.min_top1_agreement < 0 || limits.min_top1_agreement > 1)
    throw Error("--min-top1-agreement must be between 0 and 1");
  if (limits.min_top1_agreement > 0 && images.empty())
    throw Error("--min-top1-agreement needs --images: the photos the agreement is measured on");
  for (int64_t b : batches)
    if (b < 1 || b > 4096)
      throw Error("--batches " + std::to_string(b) + " is invalid (1 to 4096)");
  for (int n : concurrencies)
    if (n < 1 || n > 256)
      throw Error("--concurrency " + std::to_string(n) + " is invalid (1 to 256)");
  if (precisions.empty()) throw Error("--precision needs at least one precision");
  for (const auto& p : precisions) check_precision_name(p);
  if (!(cell_seconds > 0)) throw Error("--cell-seconds must be positive");
  if (confirm_rounds < 2) throw Error("--confirm-rounds must be at least 2 (for an interval)");
  if (finalists < 1) throw Error("--finalists must be at least 1");
  zoo.validate();
}

int run_tune(const TuneOptions& options) {
  TuneOptions o = options;
  if (o.concurrencies.empty()) {
    const int cores = std::max(1, read_machine().cores_used);
    for (int n = 1; n <= std::min(cores, 4); ++n) o.concurrencies.push_back(n);
  }
  std::sort(o.batches.begin(), o.batches.end());
  tune_internal::Tuner t(o);
  return t.run();
}

}  // namespace infermark
