#include "report/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "core/error.h"
#include "core/machine.h"
#include "core/metrics.h"
#include "core/peak_rule.h"
#include "core/statistics.h"
#include "core/text.h"
#include "report/figures.h"

namespace infermark {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::string& model(const ResultRow& r) { return r.cell.model.name; }
std::string label(const ResultRow& r) { return r.label(); }
double metric(const ResultRow& r, const char* key) { return r.metric(key); }
double latency(const ResultRow& r, const char* key) { return r.latency(key); }

// A figure with `digits` decimals; empty for NaN (no figure).
std::string fmt(double v, int digits = 2) { return std::isnan(v) ? "" : fixed(v, digits); }

using Group = std::vector<const ResultRow*>;
using Value = std::function<double(const ResultRow&)>;

// Rows of one scenario grouped by identity (rounds and repeats together), in a stable order.
std::map<std::string, Group> groups(const std::vector<ResultRow>& rows,
                                    const std::string& scenario) {
  std::map<std::string, Group> out;
  for (const auto& r : rows)
    if (r.cell.scenario == scenario) out[identity(r)].push_back(&r);
  return out;
}

// The median of a figure over a group's ok rows, with its 95% interval where there were
// enough rounds ("12.3 [11.9, 12.8]"), or the status of the first failure.
std::string cell_value(const Group& g, const Value& f, int digits = 2) {
  std::vector<double> v;
  for (const ResultRow* r : g)
    if (r->ok()) v.push_back(f(*r));
  if (const auto a = aggregate(v)) {
    std::string s = fmt(a->median, digits);
    if (a->has_interval()) s += " [" + fmt(a->low, digits) + ", " + fmt(a->high, digits) + "]";
    return s;
  }
  return g.empty() ? "" : g.front()->status;
}

double median_of(const Group& g, const Value& f) {
  std::vector<double> v;
  for (const ResultRow* r : g)
    if (r->ok()) v.push_back(f(*r));
  return median(v);
}

Table table1(const std::vector<ResultRow>& rows) {
  Table t{"table1_models",
          "Table 1: the models (per image)",
          {"model", "input", "parameters", "buffers", "layers", "jumps", "params/layer", "GMACs",
           "GFLOPs", "weights MB"},
          {},
          "layers: weighted layers on the longest path; jumps: merges of branches "
          "(docs/statistics.md)"};
  std::map<std::string, json> stats;
  for (const auto& r : rows) {
    const ModelRef& m = r.cell.model;
    if (m.stats.is_object()) stats[m.name] = m.stats;
    for (const auto& member : m.members)
      if (member.stats.is_object()) stats[member.name] = member.stats;
  }
  for (const auto& [name, s] : stats) {
    std::string jumps = std::to_string(s["jumps"]["total"].get<int>());
    for (const auto& [op, n] : s["jumps"]["by_type"].items())
      jumps += " " + op + ":" + std::to_string(n.get<int>());
    // The image's dims as the file declares them ("shape"; "shape_chw" in files written before
    // the layout was read from the model), height and width placed by the layout.
    const json& in = s["input"];
    const json shape = in.contains("shape") ? in["shape"] : in.value("shape_chw", json::array());
    const bool nhwc = in.value("layout", "NCHW") == "NHWC";
    const std::string image = shape.is_array() && shape.size() == 3
                                  ? std::to_string(shape[nhwc ? 0 : 1].get<int64_t>()) + "x" +
                                        std::to_string(shape[nhwc ? 1 : 2].get<int64_t>())
                                  : "";
    t.rows.push_back({name, image, std::to_string(s["parameters"].get<int64_t>()),
                      std::to_string(s["buffers"].get<int64_t>()),
                      std::to_string(s["layers"].get<int>()), jumps,
                      fmt(s["parameters_per_layer"].get<double>(), 0),
                      fmt(s["macs_per_image"].get<double>() / 1e9, 3),
                      fmt(s["flops_per_image"].get<double>() / 1e9, 3),
                      fmt(s["weight_bytes"].get<double>() / 1e6, 1)});
  }
  return t;
}

Table table3(const std::vector<ResultRow>& rows) {
  Table t{"table3_loading",
          "Table 3: loading time by framework (device CPU)",
          {"model", "framework", "device", "load cold ms", "load warm ms", "first inference ms",
           "warm/cold", "cache", "framework start-up ms"},
          {},
          "load: from asking the started framework to load the model file to an engine ready to "
          "run (reading, "
          "converting, compiling); cold: the framework's cache empty, in a fresh process; warm: "
          "its cache filled, "
          "in another fresh process; the OS file cache is warm in both; framework start-up "
          "(opening its libraries "
          "and starting its runtime, once per process) is not load time and is shown apart"};
  for (const auto& [id, g] : groups(rows, "load")) {
    const ResultRow& r = *g.front();
    const std::string cold = cell_value(
        g, [](const ResultRow& x) { return metric(x, metric::kLoadColdMs); }, 0);
    const std::string warm = cell_value(
        g, [](const ResultRow& x) { return metric(x, metric::kLoadWarmMs); }, 0);
    const std::string ratio = cell_value(g, [](const ResultRow& x) {
      return metric(x, metric::kLoadWarmMs) / metric(x, metric::kLoadColdMs);
    });
    const std::string first = cell_value(
        g, [](const ResultRow& x) { return metric(x, "first_inference_cold_ms"); }, 1);
    const json& m = r.metrics;
    t.rows.push_back(
        {model(r), label(r), "CPU", cold, warm, first, ratio,
         m.value("cache_cold", std::string()) + "/" + m.value("cache_warm", std::string()),
         cell_value(
             g, [](const ResultRow& x) { return metric(x, "framework_startup_cold_ms"); }, 0)});
  }
  return t;
}

// " at 2 in flight" for a concurrency above one, "" else.
std::string in_flight(int concurrency) {
  return concurrency > 1 ? " at " + std::to_string(concurrency) + " in flight" : "";
}

// Offline throughput per batch size. Each framework's throughput is its best: where a study
// ran several concurrencies (requests in flight), each batch shows the best of them and says
// which, and the last columns give the best over batch and concurrency.
Table offline(const std::vector<ResultRow>& rows) {
  std::set<int64_t> batches;
  for (const auto& r : rows)
    if (r.cell.scenario == scenario::kOffline) batches.insert(r.cell.batch);
  Table t{"offline_throughput",
          "Offline throughput (images/s) by batch size",
          {"model", "framework"},
          {},
          "median over rounds and repeats, with its 95% interval [low, high] where there were at "
          "least 6; with several concurrencies, the best of them (\"at N in flight\"); a failed "
          "cell shows its status"};
  for (int64_t b : batches) t.columns.push_back("batch " + std::to_string(b));
  t.columns.push_back("best");
  t.columns.push_back("best share of peak");
  const Value throughput = [](const ResultRow& x) { return metric(x, metric::kThroughputIps); };
  // (model, framework) -> batch -> concurrency -> rows
  std::map<std::pair<std::string, std::string>, std::map<int64_t, std::map<int, Group>>> by;
  for (const auto& [id, g] : groups(rows, "offline"))
    for (const ResultRow* r : g)
      by[{model(*r), r->label(false)}][r->cell.batch][r->cell.concurrency].push_back(r);
  for (const auto& [key, cells] : by) {
    std::vector<std::string> row = {key.first, key.second};
    double share = NAN, best = NAN;
    std::string best_text;
    for (int64_t b : batches) {
      auto it = cells.find(b);
      if (it == cells.end()) {
        row.push_back("");
        continue;
      }
      // The concurrency with the highest median; the first one's status when none ran.
      const Group* pick = &it->second.begin()->second;
      int pick_n = it->second.begin()->first;
      double pick_x = NAN;
      for (const auto& [n, g] : it->second)
        if (const double x = median_of(g, throughput);
            !std::isnan(x) && (std::isnan(pick_x) || x > pick_x)) {
          pick = &g;
          pick_n = n;
          pick_x = x;
        }
      row.push_back(cell_value(*pick, throughput) + (std::isnan(pick_x) ? "" : in_flight(pick_n)));
      if (!std::isnan(pick_x) && (std::isnan(best) || pick_x > best)) {
        best = pick_x;
        best_text = fmt(pick_x) + " (batch " + std::to_string(b) + in_flight(pick_n) + ")";
      }
      for (const auto& [n, g] : it->second)
        if (const double x =
                median_of(g, [](const ResultRow& r) { return metric(r, metric::kShareOfPeak); });
            !(x <= share))
          share = x;
    }
    row.push_back(best_text);
    row.push_back(fmt(share, 3));
    t.rows.push_back(row);
  }
  return t;
}

Table single_stream(const std::vector<ResultRow>& rows) {
  Table t{"single_stream_latency",
          "Single-stream latency (batch 1, one query after another)",
          {"model", "framework", "p50 ms", "p90 ms", "p99 ms", "images/s"},
          {},
          ""};
  for (const auto& [id, g] : groups(rows, "single-stream")) {
    const ResultRow& r = *g.front();
    t.rows.push_back(
        {model(r), label(r), cell_value(g, [](const ResultRow& x) { return latency(x, "p50"); }),
         cell_value(g, [](const ResultRow& x) { return latency(x, "p90"); }),
         cell_value(g, [](const ResultRow& x) { return latency(x, "p99"); }),
         cell_value(g, [](const ResultRow& x) { return metric(x, metric::kThroughputIps); })});
  }
  return t;
}

// What the server table says of a find-peak cell's peak: the confirmed rate (median over its
// rounds) with the target, "k of n confirmed" where some rounds confirmed none, "none
// confirmed" where none did; empty for a cell without a search.
std::string peak_cell(const Group& g) {
  const ResultRow& r = *g.front();
  int searched = 0, confirmed = 0;
  bool any_ok = false;
  for (const ResultRow* x : g) {
    any_ok = any_ok || x->ok();
    if (x->ok() && x->metrics.is_object() && x->metrics.contains(metric::kPeakQps)) {
      ++searched;
      if (!std::isnan(confirmed_peak_qps(*x))) ++confirmed;
    }
  }
  if (!any_ok) return r.status;  // as the other columns: the first failure's status
  if (searched == 0) return "";
  if (confirmed == 0) return "none confirmed";
  const std::string slo = fmt(metric(r, metric::kSloP99Ms), 0);
  std::string s = cell_value(g, confirmed_peak_qps);
  if (!slo.empty()) s += " (p99 <= " + slo + " ms)";
  if (confirmed < searched)
    s += ", " + std::to_string(confirmed) + " of " + std::to_string(searched) + " confirmed";
  return s;
}

Table server(const std::vector<ResultRow>& rows) {
  Table t{"server",
          "Server: Poisson arrivals, dynamic batching vs none",
          {"model", "framework", "max batch", "queue delay ms", "offered qps", "achieved qps",
           "p50 ms", "p99 ms", "mean batch", "peak qps at p99 target"},
          {},
          "latency from each request's scheduled arrival to its completion; mean batch: requests "
          "per batch the batcher formed, marked where the framework ran each batch as one call "
          "per image; peak: the highest rate whose full-length run, measured again after the "
          "search, met the target (p99 over at least " +
              std::to_string(kMinQueriesForP99) + " answered queries, every query answered, " +
              fixed(100 * kMinAchievedFraction, 0) +
              "% of the offered rate achieved within the arrival window): that run is the "
              "row's, so its offered rate is the peak and its figures meet the target; none "
              "confirmed: no rate down to the search's lowest held"};
  for (const auto& [id, g] : groups(rows, "server")) {
    const ResultRow& r = *g.front();
    const std::string peak = peak_cell(g);
    t.rows.push_back(
        {model(r), label(r), fmt(metric(r, "max_batch"), 0),
         fmt(metric(r, "max_queue_delay_ms"), 1),
         cell_value(g, [](const ResultRow& x) { return metric(x, metric::kOfferedQps); }),
         cell_value(g, [](const ResultRow& x) { return metric(x, metric::kAchievedQps); }),
         cell_value(g, [](const ResultRow& x) { return latency(x, "p50"); }),
         cell_value(g, [](const ResultRow& x) { return latency(x, "p99"); }),
         cell_value(g, [](const ResultRow& x) { return metric(x, "mean_batch"); }) +
             (r.batched == false ? " (run as 1-image calls)" : ""),
         peak});
  }
  return t;
}

Table ensemble(const std::vector<ResultRow>& rows) {
  Table t{"ensemble_memory",
          "Ensemble: memory and throughput of several models in one process",
          {"ensemble", "framework", "batch", "peak RSS MiB", "RSS after load MiB", "images/s"},
          {},
          ""};
  for (const auto& [id, g] : groups(rows, "ensemble")) {
    const ResultRow& r = *g.front();
    t.rows.push_back(
        {model(r), label(r), std::to_string(r.cell.batch),
         cell_value(
             g, [](const ResultRow& x) { return metric(x, metric::kRssPeakBytes) / 1048576.0; }, 0),
         cell_value(
             g, [](const ResultRow& x) { return metric(x, "rss_after_load_bytes") / 1048576.0; },
             0),
         cell_value(g, [](const ResultRow& x) { return metric(x, metric::kThroughputIps); })});
  }
  return t;
}

// For each scenario and model, the framework with the best median figure and how far the
// runner-up is behind: the paper's key takeaways, computed from the data.
Table best(const std::vector<ResultRow>& rows) {
  Table t{"best_framework",
          "Which framework wins where",
          {"question", "model", "best", "figure", "runner-up", "runner-up figure", "advantage"},
          {},
          "medians over rounds and repeats and, for throughput, at each framework's best batch "
          "size and requests in flight (named); with rounds, "
          "the advantage is the geometric mean of the per-round ratios with its 95% interval, and "
          "a tie where it "
          "contains 1"};
  struct Q {
    std::string question, scenario, unit;
    bool higher;
    Value f;
    std::function<bool(const ResultRow&)> use;
  };
  const std::vector<Q> questions = {
      {"highest throughput (batch applications)", "offline", "images/s", true,
       [](const ResultRow& r) { return metric(r, metric::kThroughputIps); },
       [](const ResultRow&) { return true; }},
      {"lowest latency (data-flow applications)", "single-stream", "ms p50", false,
       [](const ResultRow& r) { return latency(r, "p50"); }, [](const ResultRow&) { return true; }},
      {"highest load under the p99 target (web service)", "server", "qps", true,
       [](const ResultRow& r) { return confirmed_peak_qps(r); },
       [](const ResultRow& r) { return !std::isnan(confirmed_peak_qps(r)); }},
      {"least memory (batch 1)", "offline", "MiB peak RSS", false,
       [](const ResultRow& r) { return metric(r, metric::kRssPeakBytes) / 1048576.0; },
       [](const ResultRow& r) { return r.cell.batch == 1; }},
      {"fastest cold load", "load", "ms", false,
       [](const ResultRow& r) { return metric(r, metric::kLoadColdMs); },
       [](const ResultRow&) { return true; }},
  };
  // (result file, round, repeat) -> value: visits pair only within one run of a study.
  using Visits = std::map<std::tuple<std::string, int, int>, double>;
  for (const auto& q : questions) {
    // model -> label -> (batch, concurrency) -> visits; throughput takes each framework's
    // best batch and concurrency.
    const bool best_of_runs = q.scenario == scenario::kOffline && q.higher;
    std::map<std::string, std::map<std::string, std::map<std::pair<int64_t, int>, Visits>>> by;
    for (const auto& [id, g] : groups(rows, q.scenario))
      for (const ResultRow* r : g)
        if (r->ok() && q.use(*r) && !std::isnan(q.f(*r))) {
          const std::pair<int64_t, int> run =
              best_of_runs ? std::pair{r->cell.batch, r->cell.concurrency} : std::pair{0L, 0};
          by[model(*r)][r->label(!best_of_runs)][run][{r->source, r->cell.round, r->cell.repeat}] =
              q.f(*r);
        }
    for (const auto& [m, labels] : by) {
      struct Entry {
        std::string label;
        double median;
        const Visits* visits;
      };
      std::vector<Entry> ranked;
      for (const auto& [l, runs] : labels) {
        std::optional<Entry> best_run;
        for (const auto& [run, visits] : runs) {
          std::vector<double> v;
          for (const auto& [k, x] : visits) v.push_back(x);
          const double x = median(v);
          if (!best_run || (q.higher ? x > best_run->median : x < best_run->median)) {
            const std::string where =
                best_of_runs ? " (batch " + std::to_string(run.first) + in_flight(run.second) + ")"
                             : "";
            best_run = Entry{l + where, x, &visits};
          }
        }
        ranked.push_back(*best_run);
      }
      std::sort(ranked.begin(), ranked.end(), [&](const Entry& a, const Entry& b) {
        return q.higher ? a.median > b.median : a.median < b.median;
      });
      std::vector<std::string> row = {
          q.question, m, ranked[0].label, fmt(ranked[0].median) + " " + q.unit, "", "", ""};
      if (ranked.size() > 1) {
        row[4] = ranked[1].label;
        row[5] = fmt(ranked[1].median) + " " + q.unit;
        // Paired by round: the runner-up's value over the winner's (or the inverse where lower
        // is better), so the advantage is >= 1 and its interval says whether it is real.
        std::vector<std::pair<double, double>> pairs;
        for (const auto& [k, w] : *ranked[0].visits)
          if (auto it = ranked[1].visits->find(k); it != ranked[1].visits->end())
            pairs.push_back(q.higher ? std::pair{it->second, w} : std::pair{w, it->second});
        const Ratio r = paired_ratio(pairs);
        if (r.pairs >= 2) {
          row[6] = fmt(r.ratio, 2) + "x [" + fmt(r.low, 2) + ", " + fmt(r.high, 2) + "]" +
                   (r.low <= 1 ? " same within noise" : "");
        } else {
          const double adv =
              q.higher ? ranked[0].median / ranked[1].median : ranked[1].median / ranked[0].median;
          row[6] = fmt(adv, 2) + "x";
        }
      }
      t.rows.push_back(row);
    }
  }
  return t;
}

Table problems(const std::vector<ResultRow>& rows) {
  Table t{"unstable_or_failed",
          "Cells to read with care: failed or unstable",
          {"model", "framework", "scenario", "batch", "status", "cv", "why"},
          {},
          ""};
  for (const auto& r : rows) {
    const bool unstable = !r.warning.empty();
    if (r.ok() && !unstable) continue;
    std::string why = r.ok() ? r.warning : r.message;
    why.erase(std::remove(why.begin(), why.end(), '\n'), why.end());
    t.rows.push_back({model(r), label(r), r.cell.scenario, std::to_string(r.cell.batch), r.status,
                      fmt(latency(r, "cv"), 3), why});
  }
  return t;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else if (c == '"')
      out += "&quot;";
    else
      out += c;
  }
  return out;
}

// The peak the shares of peak were computed with, and how it was measured.
std::string peak_text(const Machine& m) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%.1f GFLOP/s", m.peak_fp32_flops / 1e9);
  std::string out = m.peak_fp32_flops > 0 ? buf : "not measured";
  if (m.peak_bf16_flops > 0) {
    std::snprintf(buf, sizeof buf, " (bf16: %.1f GFLOP/s)", m.peak_bf16_flops / 1e9);
    out += buf;
  }
  if (m.peak_int8_ops > 0) {
    std::snprintf(buf, sizeof buf, " (int8: %.1f GOP/s)", m.peak_int8_ops / 1e9);
    out += buf;
  }
  if (!m.peak_method.empty()) out += "; " + m.peak_method;
  return html_escape(out);
}

std::string html_table(const Table& t) {
  std::ostringstream o;
  o << "<h3 id=\"" << t.name << "\">" << html_escape(t.title) << "</h3>\n<table>\n<tr>";
  for (const auto& c : t.columns) o << "<th>" << html_escape(c) << "</th>";
  o << "</tr>\n";
  for (const auto& row : t.rows) {
    o << "<tr>";
    for (const auto& cell : row) {
      const bool failed = cell == "oom" || cell == "crash" || cell == "timeout" ||
                          cell == "error" || cell == "unsupported";
      o << (failed ? "<td class=\"failed\">" : "<td>") << html_escape(cell) << "</td>";
    }
    o << "</tr>\n";
  }
  o << "</table>\n";
  if (!t.note.empty()) o << "<p class=\"note\">" << html_escape(t.note) << "</p>\n";
  if (t.rows.empty()) o << "<p class=\"note\">no cells of this kind in the results</p>\n";
  return o.str();
}

}  // namespace

std::string to_markdown(const Table& t) {
  std::ostringstream o;
  o << "## " << t.title << "\n\n|";
  for (const auto& c : t.columns) o << " " << c << " |";
  o << "\n|";
  for (size_t i = 0; i < t.columns.size(); ++i) o << "---|";
  o << "\n";
  for (const auto& row : t.rows) {
    o << "|";
    for (const auto& cell : row) o << " " << cell << " |";
    o << "\n";
  }
  if (!t.note.empty()) o << "\n" << t.note << "\n";
  return o.str();
}

std::string to_csv(const Table& t) {
  auto field = [](const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  std::ostringstream o;
  for (size_t i = 0; i < t.columns.size(); ++i) o << (i ? "," : "") << field(t.columns[i]);
  o << "\n";
  for (const auto& row : t.rows) {
    for (size_t i = 0; i < row.size(); ++i) o << (i ? "," : "") << field(row[i]);
    o << "\n";
  }
  return o.str();
}

std::vector<Table> make_tables(const std::vector<ResultRow>& rows) {
  return {table1(rows), table3(rows),   offline(rows), single_stream(rows),
          server(rows), ensemble(rows), best(rows),    problems(rows)};
}

fs::path write_report(const std::vector<ResultRow>& rows, const fs::path& dir,
                      const std::vector<AccuracyRow>& accuracy,
                      const std::vector<ConformanceRow>& conformance,
                      const std::vector<ExplainReport>& explain) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error("cannot create report folder '" + dir.string() + "': " + ec.message());
  std::vector<Table> tables = make_tables(rows);
  if (!accuracy.empty()) tables.push_back(speed_accuracy_table(rows, accuracy));
  for (auto& t : conformance_tables(conformance)) tables.push_back(std::move(t));
  for (auto& t : explain_tables(explain)) tables.push_back(std::move(t));
  for (const auto& t : tables) {
    std::ofstream(dir / (t.name + ".md")) << to_markdown(t);
    std::ofstream(dir / (t.name + ".csv")) << to_csv(t);
  }
  std::vector<Figure> figures = draw_figures(rows, dir);
  if (!accuracy.empty())
    if (auto f = speed_accuracy_figure(rows, accuracy, dir)) figures.push_back(*f);
  if (auto f = conformance_figure(conformance, dir)) figures.push_back(*f);
  for (auto& f : explain_figures(explain, dir)) figures.push_back(std::move(f));

  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>infermark report</title>\n"
       "<style>body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}"
       "table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
       "text-align:right}th{background:#eee}td:first-child,td:nth-child(2){text-align:left}"
       "td.failed{color:#b00;font-weight:bold}.note{color:#555;font-size:90%}"
       "figure{margin:1em 0}figcaption{color:#555;font-size:90%}</style></head><body>\n"
       "<h1>infermark report</h1>\n";
  if (!rows.empty() && !rows.front().env.empty()) {
    const Machine m = machine_from_json(rows.front().env);
    h << "<p>Machine: " << html_escape(m.cpu_model) << ", " << m.cores_used << " cores used, "
      << html_escape(m.os) << "; peak FP32: " << peak_text(m) << "; infermark "
      << html_escape(m.tool_version) << " (" << html_escape(m.git_revision) << "). " << rows.size()
      << " cells.</p>\n";
  }
  h << "<h2>Which framework wins where</h2>\n";
  for (const auto& t : tables)
    if (t.name == "best_framework") h << html_table(t);
  h << "<h2>Figures</h2>\n";
  for (const auto& f : figures) {
    std::ifstream svg(dir / (f.name + ".svg"));
    std::string content((std::istreambuf_iterator<char>(svg)), {});
    const auto start = content.find("<svg");
    h << "<figure id=\"" << f.name << "\">"
      << (start == std::string::npos ? "" : content.substr(start)) << "<figcaption><b>"
      << html_escape(f.title) << "</b> " << html_escape(f.caption) << " (<a href=\"" << f.name
      << ".png\">PNG</a>, <a href=\"" << f.name << ".svg\">SVG</a>)</figcaption></figure>\n";
  }
  h << "<h2>Tables</h2>\n";
  for (const auto& t : tables)
    if (t.name != "best_framework") h << html_table(t);
  h << "</body></html>\n";
  fs::path index = dir / "index.html";
  std::ofstream(index) << h.str();
  return index;
}

}  // namespace infermark
