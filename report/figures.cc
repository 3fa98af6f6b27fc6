// The report's figures: result rows grouped into cells (repeats folded into their median),
// one data file and one gnuplot script per figure kept in out_dir, gnuplot run once per
// figure for a PNG and an SVG.
#include "report/figures.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "core/error.h"

extern char** environ;

namespace infermark {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// ---------------------------------------------------------------------------------------
// Reading rows

std::optional<double> number(const json& j) {
  if (!j.is_number()) return std::nullopt;
  const double v = j.get<double>();
  if (!std::isfinite(v)) return std::nullopt;
  return v;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::string fmt(double v, const char* f = "%.9g") {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// A benchmark cell: every row (round, repeat) of one configuration, keyed by the cell's
// identity like the tables (core/result.h), so that cells that differ in settings, threads,
// precision or arm are drawn apart. `framework` is the series label: the framework and what
// sets the configuration apart.
struct Cell {
  std::string framework, model, scenario;
  int64_t batch = 1;
  // server
  std::optional<double> max_batch, queue_delay_ms, offered_qps;
  bool find_peak = false;
  std::vector<const ResultRow*> rows;

  std::vector<const ResultRow*> ok_rows() const {
    std::vector<const ResultRow*> out;
    for (const ResultRow* r : rows)
      if (r->ok()) out.push_back(r);
    return out;
  }
  bool ok() const { return !ok_rows().empty(); }
  // The most frequent status among the rows when none is ok (first seen on a tie).
  std::string status() const {
    if (ok()) return "ok";
    std::vector<std::pair<std::string, int>> counts;
    for (const ResultRow* r : rows) {
      const std::string s = r->status.empty() ? "unknown" : r->status;
      auto it =
          std::find_if(counts.begin(), counts.end(), [&](const auto& c) { return c.first == s; });
      if (it == counts.end())
        counts.push_back({s, 1});
      else
        ++it->second;
    }
    return std::max_element(counts.begin(), counts.end(),
                            [](const auto& a, const auto& b) { return a.second < b.second; })
        ->first;
  }
  // Median over the ok rows of a figure; none when no ok row has a number there.
  std::optional<double> median_of(double (ResultRow::*get)(const std::string&) const,
                                  const char* key) const {
    std::vector<double> v;
    for (const ResultRow* r : ok_rows())
      if (const double x = (r->*get)(key); std::isfinite(x)) v.push_back(x);
    if (v.empty()) return std::nullopt;
    return median(v);
  }
  std::optional<double> metric(const char* key) const { return median_of(&ResultRow::metric, key); }
  std::optional<double> latency(const char* key) const { return median_of(&ResultRow::latency, key); }
};

std::vector<Cell> cells_of(const std::vector<ResultRow>& rows) {
  std::map<std::string, Cell> cells;  // ordered by key: deterministic
  for (const ResultRow& row : rows) {
    Cell c;
    c.framework = row.label();
    c.model = row.cell.model.name;
    c.scenario = row.cell.scenario;
    c.batch = row.cell.batch;
    if (c.scenario == "server") {
      auto opt = [](double v) { return std::isfinite(v) ? std::optional<double>(v) : std::nullopt; };
      c.max_batch = opt(row.metric("max_batch"));
      c.queue_delay_ms = opt(row.metric("max_queue_delay_ms"));
      c.offered_qps = opt(row.metric("offered_qps"));
      if (row.cell.server) {
        c.max_batch = static_cast<double>(row.cell.server->max_batch);
        c.queue_delay_ms = row.cell.server->max_queue_delay_ms;
        if (!row.cell.peak_slo_p99_ms || !c.offered_qps) c.offered_qps = row.cell.server->rate_qps;
      }
      c.find_peak = row.cell.peak_slo_p99_ms.has_value() || std::isfinite(row.metric("peak_qps"));
    }
    auto [it, fresh] = cells.try_emplace(identity(row), c);
    it->second.rows.push_back(&row);
  }
  std::vector<Cell> out;
  for (auto& [k, c] : cells) out.push_back(std::move(c));
  return out;
}

// ---------------------------------------------------------------------------------------
// Drawing

// Colour-blind-safe colours (Okabe-Ito), one per framework in sorted name order.
const char* const kPalette[] = {"#0072B2", "#E69F00", "#009E73", "#CC79A7",
                                "#56B4E9", "#D55E00", "#F0E442", "#000000"};

struct Palette {
  std::vector<std::string> frameworks;  // sorted
  std::string colour(const std::string& framework) const {
    const auto it = std::lower_bound(frameworks.begin(), frameworks.end(), framework);
    const size_t i = static_cast<size_t>(it - frameworks.begin());
    return kPalette[i % (sizeof kPalette / sizeof kPalette[0])];
  }
};

// A gnuplot string literal: single quotes, no escapes but '' for a quote.
std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\n' || c == '\r') {
      out += ' ';
      continue;
    }
    out += c;
    if (c == '\'') out += '\'';
  }
  return out + "'";
}

// A file stem from a model name: letters, digits, '-', '_' and '.'.
std::string stem(const std::string& s) {
  std::string out;
  for (char c : s) {
    const bool keep =
        std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    out += keep ? c : '_';
  }
  while (!out.empty() && (out.front() == '.' || out.front() == '_')) out.erase(out.begin());
  return out.empty() ? "unnamed" : out;
}

// One figure being written: its data blocks (gnuplot "index" N), its settings and its plot
// elements.
struct Plot {
  std::string name, title, xlabel, ylabel;
  int width = 900, height = 500;      // pixels (SVG: points)
  std::ostringstream data;            // the data block being written
  std::vector<std::string> finished;  // NAME.dat, block by block
  int blocks = 0;
  std::vector<std::string> settings;  // "set ..." lines before the plot
  std::vector<std::string> elements;  // plot elements, joined by ", "
  int labels = 0;

  // Starts a data block, returns its index.
  int block(const std::string& comment) {
    end_block();
    data << "# [" << blocks << "] " << comment << "\n";
    return blocks++;
  }
  // gnuplot does not count a block of comments only: such a block gets an undefined point.
  void end_block() {
    if (blocks == 0 || static_cast<int>(finished.size()) == blocks) return;
    std::string b = data.str();
    bool has_record = false;
    std::istringstream in(b);
    for (std::string line; std::getline(in, line);)
      has_record = has_record || (!line.empty() && line[0] != '#');
    if (!has_record) b += "NaN NaN \"-\"\n";
    finished.push_back(b);
    data.str("");
  }
  std::string data_file() {
    end_block();
    std::string out;
    for (size_t i = 0; i < finished.size(); ++i) out += (i ? "\n\n" : "") + finished[i];
    return out;
  }
  void label(const std::string& what, const std::string& where, const std::string& style) {
    settings.push_back("set label " + std::to_string(++labels) + " " + quote(what) + " at " +
                       where + " " + style);
  }
};

// The first line of gnuplot's complaint: where it names the script line, else the first
// non-empty one.
std::string first_error_line(const std::string& err) {
  std::istringstream in(err);
  std::string line, first;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty()) continue;
    if (line.find(" line ") != std::string::npos && line.find("warning:") == std::string::npos)
      return line;
    if (first.empty() && line.find("warning:") == std::string::npos &&
        line.find_first_not_of(" ^") != std::string::npos)
      first = line;
  }
  return first;
}

// Runs "gnuplot NAME.gp" in dir (no shell), stderr captured.
void run_gnuplot(const fs::path& dir, const std::string& name) {
  const std::string script = name + ".gp";
  int err_pipe[2];
  if (pipe2(err_pipe, O_CLOEXEC) != 0)
    throw Error("figure " + name + ": cannot create a pipe for gnuplot: " + std::strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addchdir_np(&actions, dir.c_str());
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  std::string arg0 = "gnuplot", arg1 = script;
  char* argv[] = {arg0.data(), arg1.data(), nullptr};
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, "gnuplot", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  close(err_pipe[1]);
  if (rc != 0) {
    close(err_pipe[0]);
    throw Error("figure " + name + ": cannot run gnuplot: " +
                (rc == ENOENT ? std::string("not found on PATH (install gnuplot-nox)")
                              : std::string(std::strerror(rc))));
  }
  std::string err;
  char buf[4096];
  for (;;) {
    const ssize_t n = read(err_pipe[0], buf, sizeof buf);
    if (n > 0) {
      err.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  close(err_pipe[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!ok) {
    std::string why = first_error_line(err);
    if (why.empty())
      why = WIFEXITED(status) ? "exit code " + std::to_string(WEXITSTATUS(status))
                              : "killed by signal " + std::to_string(WTERMSIG(status));
    throw Error("figure " + name + ": gnuplot failed (" + (dir / script).string() + "): " + why);
  }
  for (const char* ext : {".png", ".svg"}) {
    const fs::path out = dir / (name + ext);
    std::error_code ec;
    if (!fs::exists(out, ec) || fs::file_size(out, ec) == 0)
      throw Error("figure " + name + ": gnuplot wrote no " + out.string());
  }
}

std::string terminal_options(const Plot& p) {
  return "size " + std::to_string(p.width) + "," + std::to_string(p.height) +
         " font 'DejaVu Sans,10' noenhanced";
}

// Writes NAME.dat and NAME.gp and runs gnuplot.
void render(const fs::path& dir, Plot& p) {
  {
    std::ofstream dat(dir / (p.name + ".dat"));
    dat << "# infermark figure " << p.name << ": " << p.title << "\n" << p.data_file();
    if (!dat.flush())
      throw Error("figure " + p.name + ": cannot write " + (dir / (p.name + ".dat")).string());
  }
  std::ostringstream gp;
  gp << "# infermark figure " << p.name << ": " << p.title << "\n"
     << "# Reproduce: cd to this folder and run: gnuplot " << p.name << ".gp\n"
     << "set encoding utf8\n"
     << "set terminal pngcairo " << terminal_options(p) << "\n"
     << "set output " << quote(p.name + ".png") << "\n"
     << "set title " << quote(p.title) << " font ',12'\n"
     << "set xlabel " << quote(p.xlabel) << "\n"
     << "set ylabel " << quote(p.ylabel) << "\n"
     << "set grid ytics lc rgb '#d0d0d0'\n"
     << "set border 3\nset tics nomirror\n";
  for (const auto& s : p.settings) gp << s << "\n";
  gp << "plot ";
  for (size_t i = 0; i < p.elements.size(); ++i) gp << (i ? ", \\\n     " : "") << p.elements[i];
  gp << "\n"
     << "set terminal svg " << terminal_options(p) << " background rgb 'white'\n"
     << "set output " << quote(p.name + ".svg") << "\n"
     << "replot\n"
     << "unset output\n";
  {
    std::ofstream script(dir / (p.name + ".gp"));
    script << gp.str();
    if (!script.flush())
      throw Error("figure " + p.name + ": cannot write " + (dir / (p.name + ".gp")).string());
  }
  run_gnuplot(dir, p.name);
}

std::string dat(const Plot& p) { return quote(p.name + ".dat"); }

// A legend entry with nothing drawn (a framework whose every cell failed).
std::string legend_only(const std::string& style, const std::string& title) {
  return "NaN with " + style + " title " + quote(title);
}

// ---------------------------------------------------------------------------------------
// Grouped bars: groups along x (batch sizes on a log2 axis, or models), one bar per framework
// in each group; a failed cell is its status written upright at its slot.

struct BarValue {
  std::optional<double> value;  // none: failed (status) or not measured
  std::string status = "ok";
  std::string text;  // optional value label above the bar
};

struct Bars {
  std::vector<double> group_x;                          // centre of each group
  std::vector<std::string> frameworks;                  // bars in each group, in order
  std::map<std::pair<size_t, size_t>, BarValue> cells;  // (group, framework) -> value
  double scale = 1;                                     // value shown = value * scale
};

// Draws bars into p; returns the series drawn (framework names).
std::vector<std::string> draw_bars(Plot& p, const Bars& b, const Palette& palette) {
  std::vector<double> xs = b.group_x;
  std::sort(xs.begin(), xs.end());
  double gap = 1;
  for (size_t i = 1; i < xs.size(); ++i)
    if (xs[i] - xs[i - 1] > 1e-9) gap = std::min(gap, xs[i] - xs[i - 1]);
  const double group_width = 0.8 * gap;
  const size_t nf = std::max<size_t>(1, b.frameworks.size());
  const double w = group_width / static_cast<double>(nf);
  auto slot = [&](size_t g, size_t f) {
    return b.group_x[g] + (static_cast<double>(f) - 0.5 * static_cast<double>(nf - 1)) * w;
  };
  p.settings.push_back("set boxwidth " + fmt(w * 0.95) + " absolute");
  p.settings.push_back("set style fill solid 0.85 border rgb '#404040'");
  p.settings.push_back("set xrange [" + fmt(xs.front() - 0.5 * gap - 0.1) + ":" +
                       fmt(xs.back() + 0.5 * gap + 0.1) + "]");
  bool any = false;
  bool any_text = false;
  for (const auto& [k, v] : b.cells) {
    any = any || v.value.has_value();
    any_text = any_text || !v.text.empty();
  }
  p.settings.push_back(any ? "set yrange [0:*]" : "set yrange [0:1]");
  // Headroom above the highest bar for the legend (and the value labels).
  p.settings.push_back(std::string("set offsets 0, 0, graph ") + (any_text ? "0.2" : "0.12") +
                       ", 0");
  p.settings.push_back("set key inside top right horizontal");
  std::vector<std::string> series;
  for (size_t f = 0; f < b.frameworks.size(); ++f) {
    const std::string& fw = b.frameworks[f];
    const std::string colour = palette.colour(fw);
    const int idx = p.block("framework " + fw + ": x value label (failed cells as comments)");
    bool has = false;
    for (size_t g = 0; g < b.group_x.size(); ++g) {
      const auto it = b.cells.find({g, f});
      if (it == b.cells.end()) continue;
      const BarValue& v = it->second;
      if (v.value) {
        p.data << fmt(slot(g, f)) << " " << fmt(*v.value * b.scale) << " "
               << "\"" << (v.text.empty() ? "-" : v.text) << "\"\n";
        has = true;
      } else if (v.status != "ok") {
        p.data << "# " << fmt(slot(g, f)) << " status " << v.status << "\n";
        p.label(v.status, "first " + fmt(slot(g, f)) + ", graph 0.015",
                "rotate by 90 left front font ',10' tc rgb '" + colour + "'");
      }
    }
    const std::string style = "boxes lc rgb '" + colour + "'";
    if (has) {
      p.elements.push_back(dat(p) + " index " + std::to_string(idx) + " using 1:2 with " + style +
                           " title " + quote(fw));
      if (any_text)
        p.elements.push_back(
            dat(p) + " index " + std::to_string(idx) +
            " using 1:2:(stringcolumn(3) eq '-' ? '' : stringcolumn(3)) with labels"
            " offset 0,0.7 font ',8' notitle");
    } else {
      p.data << "# (no bar)\n";
      p.elements.push_back(legend_only(style, fw));
    }
    series.push_back(fw);
  }
  return series;
}

// x tics at every power of two from the smallest to the largest batch, plus any other batch.
std::string log2_tics(const std::set<int64_t>& batches) {
  std::set<int64_t> tics = batches;
  const int64_t lo = std::max<int64_t>(1, *batches.begin()), hi = *batches.rbegin();
  int64_t t = 1;
  while (t < lo) t *= 2;
  for (; t <= hi; t *= 2) tics.insert(t);
  std::string s = "set xtics (";
  bool first = true;
  for (int64_t b : tics) {
    if (b < 1) continue;
    s +=
        std::string(first ? "" : ", ") + "'" + std::to_string(b) + "' " + fmt(std::log2(double(b)));
    first = false;
  }
  return s + ")";
}

std::vector<std::string> sorted_frameworks(const std::vector<const Cell*>& cells) {
  std::set<std::string> s;
  for (const Cell* c : cells) s.insert(c->framework);
  return {s.begin(), s.end()};
}

// Bars against batch size (log2) for the cells given: value(cell) per framework.
template <class Value>
std::vector<std::string> batch_bars(Plot& p, const std::vector<const Cell*>& cells,
                                    const Palette& palette, Value value) {
  std::set<int64_t> batches;
  for (const Cell* c : cells) batches.insert(std::max<int64_t>(1, c->batch));
  Bars b;
  b.frameworks = sorted_frameworks(cells);
  std::vector<int64_t> order(batches.begin(), batches.end());
  for (int64_t batch : order) b.group_x.push_back(std::log2(static_cast<double>(batch)));
  for (const Cell* c : cells) {
    const size_t g = static_cast<size_t>(
        std::find(order.begin(), order.end(), std::max<int64_t>(1, c->batch)) - order.begin());
    const size_t f = static_cast<size_t>(
        std::find(b.frameworks.begin(), b.frameworks.end(), c->framework) - b.frameworks.begin());
    BarValue v;
    v.status = c->status();
    if (c->ok()) {
      v.value = value(*c);
      if (!v.value) v.status = "n/a";
    }
    b.cells[{g, f}] = v;
  }
  p.settings.push_back(log2_tics(batches));
  return draw_bars(p, b, palette);
}

std::string join_names(const std::set<std::string>& s) {
  std::string out;
  for (const auto& x : s) out += (out.empty() ? "" : ", ") + x;
  return out;
}

// ---------------------------------------------------------------------------------------
// The figures

std::vector<const Cell*> select(const std::vector<Cell>& cells, const std::string& scenario,
                                const std::string& model = "") {
  std::vector<const Cell*> out;
  for (const Cell& c : cells)
    if (c.scenario == scenario && (model.empty() || c.model == model)) out.push_back(&c);
  return out;
}

std::set<std::string> models_in(const std::vector<const Cell*>& cells) {
  std::set<std::string> s;
  for (const Cell* c : cells) s.insert(c->model);
  return s;
}

const char* kFailedNote =
    "A cell that did not run to the end has no bar: its status (oom, error, "
    "timeout, crash, unsupported) is written upright at its place.";

void throughput_figures(const std::vector<Cell>& cells, const Palette& palette, const fs::path& dir,
                        std::vector<Figure>& out) {
  for (const std::string& model : models_in(select(cells, "offline"))) {
    const auto mine = select(cells, "offline", model);
    Plot p;
    p.name = "fig1_throughput_" + stem(model);
    p.title = "Offline throughput of " + model + " against batch size";
    p.xlabel = "batch size (images, log2 scale)";
    p.ylabel = "throughput (images/s)";
    const auto series =
        batch_bars(p, mine, palette, [](const Cell& c) { return c.metric("throughput_ips"); });
    render(dir, p);
    out.push_back({p.name, p.title,
                   "Bars: median throughput over repeats, grouped by batch size, one colour per "
                   "framework. " +
                       std::string(kFailedNote),
                   series});
  }
}

void memory_figures(const std::vector<Cell>& cells, const Palette& palette, const fs::path& dir,
                    std::vector<Figure>& out) {
  for (const std::string& model : models_in(select(cells, "ensemble"))) {
    const auto mine = select(cells, "ensemble", model);
    Plot p;
    p.name = "fig3_memory_" + stem(model);
    p.title = "Peak resident memory of the ensemble " + model + " against batch size";
    p.xlabel = "batch size (images, log2 scale)";
    p.ylabel = "peak resident memory (MiB)";
    const auto series = batch_bars(p, mine, palette, [](const Cell& c) -> std::optional<double> {
      if (auto v = c.metric("rss_peak_bytes")) return *v / (1024.0 * 1024.0);
      return std::nullopt;
    });
    render(dir, p);
    out.push_back(
        {p.name, p.title,
         "Bars: median peak resident set size (rss_peak_bytes) of the process running all "
         "members, grouped by batch size, one colour per framework. " +
             std::string(kFailedNote),
         series});
  }
}

// Bars per model (groups) and framework.
std::vector<std::string> model_bars(
    Plot& p, const std::vector<std::string>& models, const std::vector<std::string>& frameworks,
    const std::map<std::pair<std::string, std::string>, BarValue>& values, const Palette& palette,
    double scale) {
  Bars b;
  b.frameworks = frameworks;
  b.scale = scale;
  std::string tics = "set xtics (";
  for (size_t g = 0; g < models.size(); ++g) {
    b.group_x.push_back(static_cast<double>(g));
    tics += std::string(g ? ", " : "") + quote(models[g]) + " " + std::to_string(g);
    for (size_t f = 0; f < frameworks.size(); ++f) {
      const auto it = values.find({models[g], frameworks[f]});
      if (it != values.end()) b.cells[{g, f}] = it->second;
    }
  }
  p.settings.push_back(tics + ")");
  return draw_bars(p, b, palette);
}

void single_stream_figure(const std::vector<Cell>& cells, const Palette& palette,
                          const fs::path& dir, std::vector<Figure>& out) {
  const auto mine = select(cells, "single-stream");
  if (mine.empty()) return;
  const std::set<std::string> model_set = models_in(mine);
  const std::vector<std::string> models(model_set.begin(), model_set.end());
  const auto frameworks = sorted_frameworks(mine);
  std::map<std::pair<std::string, std::string>, BarValue> values;
  struct Marks {
    double x, width;
    std::optional<double> p90, p99;
  };
  double lo = INFINITY, hi = 0;
  for (const Cell* c : mine) {
    BarValue v;
    v.status = c->status();
    if (c->ok()) {
      v.value = c->latency("p50");
      if (!v.value) v.status = "n/a";
    }
    if (v.value && *v.value > 0) {
      lo = std::min(lo, *v.value);
      hi = std::max(hi, c->latency("p99").value_or(*v.value));
    }
    values[{c->model, c->framework}] = v;
  }
  Plot p;
  p.name = "fig_latency_single_stream";
  p.title = "Single-stream latency per model and framework";
  p.xlabel = "model";
  p.ylabel = "latency per image (ms)";
  auto series = model_bars(p, models, frameworks, values, palette, 1);
  // p90 and p99 as short horizontal marks across each bar.
  const size_t nf = std::max<size_t>(1, frameworks.size());
  const double w = 0.8 / static_cast<double>(nf);
  const bool log = hi > 0 && lo > 0 && hi / lo > 30;
  if (log) {
    // Bars on a log axis: start them at the bottom of the range.
    for (auto& s : p.settings)
      if (s.rfind("set yrange", 0) == 0)
        s = "set yrange [" + fmt(std::pow(10, std::floor(std::log10(lo)))) + ":*]";
    p.settings.push_back("set logscale y");
    p.settings.push_back("set grid mytics");
  }
  for (const char* q : {"p90", "p99"}) {
    const int idx = p.block(std::string(q) + " marks: x_left y width");
    bool has = false;
    for (const Cell* c : mine) {
      const auto v = c->latency(q);
      if (!c->ok() || !v) continue;
      const size_t g =
          static_cast<size_t>(std::find(models.begin(), models.end(), c->model) - models.begin());
      const size_t f = static_cast<size_t>(
          std::find(frameworks.begin(), frameworks.end(), c->framework) - frameworks.begin());
      const double x =
          static_cast<double>(g) + (static_cast<double>(f) - 0.5 * static_cast<double>(nf - 1)) * w;
      p.data << fmt(x - 0.5 * w * 0.95) << " " << fmt(*v) << " " << fmt(w * 0.95) << "\n";
      has = true;
    }
    const std::string style = std::string("vectors nohead lw 2 lc rgb 'black' dt ") +
                              (std::string(q) == "p90" ? "2" : "1");
    if (has)
      p.elements.push_back(dat(p) + " index " + std::to_string(idx) + " using 1:2:3:(0) with " +
                           style + " title " + quote(std::string(q) + " mark"));
    else
      p.data << "# (none)\n";
    if (has) series.push_back(q);
  }
  render(dir, p);
  out.push_back(
      {p.name, p.title,
       "Bars: median p50 latency of one image after another; dashed mark: p90, solid mark: "
       "p99 (medians over repeats)" +
           std::string(log ? "; logarithmic latency axis. " : ". ") + kFailedNote,
       series});
}

std::string mode_of(const Cell& c) {
  if (!c.max_batch) return "batching unknown";
  if (*c.max_batch <= 1) return "no batching";
  return "batching (max " + fmt(*c.max_batch, "%g") + ", " +
         fmt(c.queue_delay_ms.value_or(0), "%g") + " ms)";
}

void server_figures(const std::vector<Cell>& cells, const Palette& palette, const fs::path& dir,
                    std::vector<Figure>& out) {
  for (const std::string& model : models_in(select(cells, "server"))) {
    const auto mine = select(cells, "server", model);
    Plot p;
    p.name = "fig_server_latency_" + stem(model);
    p.title = "Server latency of " + model + " against offered rate";
    p.xlabel = "offered rate (queries/s)";
    p.ylabel = "latency (ms)";
    // Lines: (framework, mode) -> rate -> cell.
    std::map<std::pair<std::string, std::string>, std::vector<const Cell*>> lines;
    std::set<double> targets;
    std::vector<std::string> unplaced, unplaced_colour;  // failed cells with no known rate
    double lo_y = INFINITY, hi_y = 0, lo_x = INFINITY, hi_x = 0;
    for (const Cell* c : mine) {
      if (c->offered_qps) {
        lines[{c->framework, mode_of(*c)}].push_back(c);
      } else if (!c->ok()) {
        unplaced.push_back(c->framework + " (" + mode_of(*c) + "): " + c->status());
        unplaced_colour.push_back(palette.colour(c->framework));
      }
      if (c->ok())
        if (auto t = c->metric("slo_p99_ms")) targets.insert(*t);
    }
    std::set<std::string> fws, quantiles, drawn;
    bool probes = false;
    std::vector<std::string> series;
    std::set<std::string> modes;
    for (const auto& [k, v] : lines) modes.insert(k.second);
    const std::vector<std::string> mode_list(modes.begin(), modes.end());
    for (auto& [k, v] : lines) {
      std::sort(v.begin(), v.end(),
                [](const Cell* a, const Cell* b) { return *a->offered_qps < *b->offered_qps; });
      const auto& [fw, mode] = k;
      fws.insert(fw);
      const std::string colour = palette.colour(fw);
      const int pt = 7 + 2 * static_cast<int>(std::find(mode_list.begin(), mode_list.end(), mode) -
                                              mode_list.begin());
      bool titled = false;
      for (const char* q : {"p50", "p99"}) {
        const int idx = p.block(fw + ", " + mode + ", " + q + ": offered_qps latency_ms");
        bool has = false;
        for (const Cell* c : v) {
          const auto y = c->latency(q);
          if (!c->ok() || !y) continue;
          p.data << fmt(*c->offered_qps) << " " << fmt(*y) << "\n";
          lo_y = std::min(lo_y, *y);
          hi_y = std::max(hi_y, *y);
          lo_x = std::min(lo_x, *c->offered_qps);
          hi_x = std::max(hi_x, *c->offered_qps);
          has = true;
        }
        if (!has) {
          p.data << "# (none)\n";
          continue;
        }
        // One legend entry per framework and mode; p50 solid, p99 dashed (a legend entry).
        const std::string title = fw + ", " + mode;
        p.elements.push_back(dat(p) + " index " + std::to_string(idx) +
                             " using 1:2 with linespoints lc rgb '" + colour + "' pt " +
                             std::to_string(q[1] == '5' ? pt : pt - 1) + " ps 1.2 dt " +
                             (q[1] == '5' ? "1" : "2") + " lw 1.5 " +
                             (titled ? "notitle" : "title " + quote(title)));
        if (!titled) series.push_back(title);
        drawn.insert(fw);
        titled = true;
        quantiles.insert(q);
      }
      // The probes of a find-peak run: p99 at each rate tried.
      const int idx = p.block(fw + ", " + mode + ", find-peak probes: rate_qps p99_ms");
      bool has = false;
      for (const Cell* c : v)
        for (const ResultRow* r : c->ok_rows()) {
          const json& m = r->metrics;
          if (!m.contains("probes") || !m["probes"].is_array()) continue;
          for (const json& probe : m["probes"]) {
            const auto x = number(probe.value("rate_qps", json())),
                       y = number(probe.value("p99_ms", json()));
            if (!x || !y || *y <= 0) continue;
            p.data << fmt(*x) << " " << fmt(*y) << "\n";
            lo_y = std::min(lo_y, *y);
            hi_y = std::max(hi_y, *y);
            lo_x = std::min(lo_x, *x);
            hi_x = std::max(hi_x, *x);
            has = true;
          }
        }
      if (has) {
        p.elements.push_back(dat(p) + " index " + std::to_string(idx) +
                             " using 1:2 with points lc rgb '" + colour + "' pt 3 ps 1 notitle");
        probes = true;
      } else {
        p.data << "# (none)\n";
      }
      // The peak rate found, and failed cells at their rate.
      for (const Cell* c : v) {
        if (c->ok()) {
          if (auto peak = c->metric("peak_qps"); peak && *peak > 0)
            p.label("peak " + fmt(*peak, "%.3g") + " q/s", "first " + fmt(*peak) + ", graph 0.97",
                    "rotate by 90 right front font ',9' tc rgb '" + colour + "'");
        } else {
          p.label(c->status(), "first " + fmt(*c->offered_qps) + ", graph 0.03",
                  "rotate by 90 left front tc rgb '" + colour + "'");
          lo_x = std::min(lo_x, *c->offered_qps);
          hi_x = std::max(hi_x, *c->offered_qps);
        }
      }
    }
    for (const Cell* c : mine) fws.insert(c->framework);
    for (const auto& q : quantiles) {
      p.elements.push_back("keyentry with lines lc rgb 'black' lw 1.5 dt " +
                           std::string(q == "p50" ? "1" : "2") + " title " +
                           quote(q + (q == "p50" ? " (solid)" : " (dashed)")));
      series.push_back(q);
    }
    if (probes) {
      p.elements.push_back(
          "keyentry with points lc rgb 'black' pt 3 title 'find-peak probes (p99)'");
      series.push_back("find-peak probes (p99)");
    }
    for (double t : targets) {
      p.block("p99 latency target (ms), drawn as a constant: " + fmt(t));
      const std::string title = "p99 target " + fmt(t, "%g") + " ms";
      p.elements.push_back(fmt(t) + " with lines lc rgb '#B00000' dt 4 lw 1.5 title " +
                           quote(title));
      lo_y = std::min(lo_y, t);
      hi_y = std::max(hi_y, t);
      series.push_back(title);
    }
    for (size_t i = 0; i < unplaced.size(); ++i)
      p.label(unplaced[i], "graph 0.98, graph " + fmt(0.05 + 0.05 * static_cast<double>(i)),
              "right front tc rgb '" + unplaced_colour[i] + "'");
    const bool any = hi_y > 0;
    if (lo_x < INFINITY) {
      const double pad = std::max(0.05 * (hi_x - lo_x), 0.05 * std::max(hi_x, 1e-9));
      p.settings.push_back("set xrange [" + fmt(std::max(0.0, lo_x - pad)) + ":" + fmt(hi_x + pad) +
                           "]");
    } else {
      p.settings.push_back("set xrange [0:1]");
    }
    if (!any) {
      p.settings.push_back("set yrange [0:1]");
    } else if (lo_y > 0 && hi_y / lo_y > 30) {
      p.settings.push_back("set logscale y");
    } else {
      p.settings.push_back("set yrange [0:*]");
    }
    p.settings.push_back("set key outside right top vertical Left reverse font ',9'");
    p.width = 1000;
    // A framework with no line (every cell failed) still gets its colour in the legend.
    const bool empty = p.elements.empty();
    for (const auto& fw : fws) {
      if (drawn.count(fw)) continue;
      const std::string style = "lines lc rgb '" + palette.colour(fw) + "'";
      p.elements.push_back(empty ? legend_only(style, fw)
                                 : "keyentry with " + style + " title " + quote(fw));
      series.push_back(fw);
    }
    render(dir, p);
    out.push_back(
        {p.name, p.title,
         "Median p50 (solid) and p99 (dashed) latency from each request's scheduled arrival, "
         "against the offered Poisson rate, one colour per framework, one marker per batching "
         "mode; crosses: p99 at each rate a find-peak search tried, with the p99 target as a "
         "horizontal line and the peak rate found marked. Failed cells are written as their "
         "status at their rate.",
         series});
  }
}

void energy_figure(const std::vector<Cell>& cells, const Palette& palette, const fs::path& dir,
                   std::vector<Figure>& out) {
  std::map<std::string, std::vector<std::pair<double, double>>> points;  // framework -> (x, y)
  std::vector<double> all_x, all_y;
  for (const Cell& c : cells) {
    if (!c.ok()) continue;
    const auto x = c.metric("throughput_ips"), y = c.metric("energy_per_image_j");
    if (!x || !y || *x <= 0 || *y <= 0) continue;
    points[c.framework].push_back({*x, *y});
    all_x.push_back(*x);
    all_y.push_back(*y);
  }
  if (points.empty()) return;
  Plot p;
  p.name = "fig4_energy";
  p.title = "Energy per image against throughput";
  p.xlabel = "throughput (images/s, log scale)";
  p.ylabel = "energy per image (J, log scale)";
  p.settings.push_back("set logscale xy");
  p.settings.push_back("set grid xtics mxtics mytics");
  p.settings.push_back("set key top right");
  std::vector<std::string> series;
  for (auto& [fw, v] : points) {
    std::sort(v.begin(), v.end());
    const int idx = p.block("framework " + fw + ": throughput_ips energy_per_image_j");
    for (const auto& [x, y] : v) p.data << fmt(x) << " " << fmt(y) << "\n";
    p.elements.push_back(dat(p) + " index " + std::to_string(idx) +
                         " using 1:2 with points pt 7 ps 1.3 lc rgb '" + palette.colour(fw) +
                         "' title " + quote(fw));
    series.push_back(fw);
  }
  const PowerLawFit fit = fit_power_law(all_x, all_y);
  std::string caption =
      "Points: median energy per image and throughput of each cell, one colour per "
      "framework, log-log axes.";
  if (fit.points >= 2) {
    const double lo = *std::min_element(all_x.begin(), all_x.end());
    const double hi = *std::max_element(all_x.begin(), all_x.end());
    const int idx =
        p.block("power-law fit y = a x^b, a = " + fmt(fit.a) + ", b = " + fmt(fit.b) +
                ", R^2 = " + fmt(fit.r2) + ", " + std::to_string(fit.points) + " points");
    for (int i = 0; i <= 48; ++i) {
      const double x = hi > lo ? lo * std::pow(hi / lo, i / 48.0) : lo;
      p.data << fmt(x) << " " << fmt(fit.a * std::pow(x, fit.b)) << "\n";
    }
    const std::string fit_text = "fit y = " + fmt(fit.a, "%.3g") + " x^" + fmt(fit.b, "%.3f") +
                                 ", R^2 = " + fmt(fit.r2, "%.3f");
    p.elements.push_back(dat(p) + " index " + std::to_string(idx) +
                         " using 1:2 with lines lc rgb '#404040' dt 2 lw 1.5 title " +
                         quote(fit_text));
    p.label(fit_text + " (" + std::to_string(fit.points) + " cells)", "graph 0.02, graph 0.05",
            "left front");
    series.push_back("fit");
    caption += " Dashed line: least-squares fit of ln(energy) on ln(throughput) over all cells, " +
               fit_text + "; b < 0 means faster configurations spend less energy per image.";
  }
  render(dir, p);
  out.push_back({p.name, p.title, caption, series});
}

void share_figure(const std::vector<Cell>& cells, const Palette& palette, const fs::path& dir,
                  std::vector<Figure>& out) {
  // The best share over the offline batch sizes; single-stream where a model has no offline cell.
  std::map<std::pair<std::string, std::string>, BarValue> values;  // (model, framework)
  std::set<std::string> models, fws, used;
  for (const char* scenario : {"offline", "single-stream"}) {
    std::map<std::pair<std::string, std::string>, BarValue> here;
    for (const Cell* c : select(cells, scenario)) {
      const std::pair<std::string, std::string> k{c->model, c->framework};
      if (values.count(k)) continue;
      BarValue& v = here[k];
      if (c->ok()) {
        if (auto s = c->metric("share_of_peak"); s && (!v.value || *s > *v.value)) {
          v.value = *s;
          v.status = "ok";
        }
      } else if (!v.value && v.status == "ok") {
        v.status = c->status();
      }
    }
    for (auto& [k, v] : here) {
      if (!v.value && v.status == "ok") v.status = "n/a";
      if (v.value) v.text = fmt(*v.value * 100, "%.0f") + "%";
      values[k] = v;
      models.insert(k.first);
      fws.insert(k.second);
      used.insert(scenario);
    }
  }
  if (std::none_of(values.begin(), values.end(),
                   [](const auto& kv) { return kv.second.value.has_value(); }))
    return;  // nothing measured it
  Plot p;
  p.name = "fig_share_of_peak";
  p.title = "Share of the machine's peak FP32 rate reached";
  p.xlabel = "model";
  p.ylabel = "share of peak FP32 FLOP/s (%)";
  const auto series =
      model_bars(p, {models.begin(), models.end()}, {fws.begin(), fws.end()}, values, palette, 100);
  render(dir, p);
  out.push_back(
      {p.name, p.title,
       "Bars: throughput x FLOPs per image / peak FP32 FLOP/s of the cores used, the best "
       "over batch sizes (medians over repeats; scenarios: " +
           join_names(used) + "). " + kFailedNote,
       series});
}

}  // namespace

PowerLawFit fit_power_law(const std::vector<double>& x, const std::vector<double>& y) {
  std::vector<double> lx, ly;
  const size_t n = std::min(x.size(), y.size());
  for (size_t i = 0; i < n; ++i)
    if (x[i] > 0 && y[i] > 0 && std::isfinite(x[i]) && std::isfinite(y[i])) {
      lx.push_back(std::log(x[i]));
      ly.push_back(std::log(y[i]));
    }
  PowerLawFit fit;
  fit.points = static_cast<int>(lx.size());
  if (lx.size() < 2) {
    fit.points = static_cast<int>(lx.size());
    return fit;
  }
  const double m = static_cast<double>(lx.size());
  double mx = 0, my = 0;
  for (size_t i = 0; i < lx.size(); ++i) {
    mx += lx[i];
    my += ly[i];
  }
  mx /= m;
  my /= m;
  double sxx = 0, sxy = 0, syy = 0;
  for (size_t i = 0; i < lx.size(); ++i) {
    sxx += (lx[i] - mx) * (lx[i] - mx);
    sxy += (lx[i] - mx) * (ly[i] - my);
    syy += (ly[i] - my) * (ly[i] - my);
  }
  if (sxx <= 0) return {0, 0, 0, fit.points};  // all x equal: no slope to fit
  fit.b = sxy / sxx;
  fit.a = std::exp(my - fit.b * mx);
  double ss_res = 0;
  for (size_t i = 0; i < lx.size(); ++i) {
    const double r = ly[i] - (my + fit.b * (lx[i] - mx));
    ss_res += r * r;
  }
  fit.r2 = syy > 0 ? 1 - ss_res / syy : 1;
  return fit;
}

std::vector<Figure> draw_figures(const std::vector<ResultRow>& rows,
                                 const std::filesystem::path& out_dir) {
  const std::vector<Cell> cells = cells_of(rows);
  std::vector<Figure> figures;
  if (cells.empty()) return figures;
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec)
    throw Error("cannot create the figure folder '" + out_dir.string() + "': " + ec.message());
  Palette palette;
  {
    std::set<std::string> fws;
    for (const Cell& c : cells) fws.insert(c.framework);
    palette.frameworks.assign(fws.begin(), fws.end());
  }
  throughput_figures(cells, palette, out_dir, figures);
  single_stream_figure(cells, palette, out_dir, figures);
  server_figures(cells, palette, out_dir, figures);
  memory_figures(cells, palette, out_dir, figures);
  energy_figure(cells, palette, out_dir, figures);
  share_figure(cells, palette, out_dir, figures);
  return figures;
}

}  // namespace infermark
