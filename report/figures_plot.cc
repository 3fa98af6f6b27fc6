// The drawing machinery of the figures: colours, data blocks and scripts, and one gnuplot
// process per figure.
#include "report/figures_plot.h"

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

#include "core/error.h"

extern char** environ;

namespace infermark::figures {

std::string fmt(double v, const char* f) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

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

std::string join_names(const std::set<std::string>& s) {
  std::string out;
  for (const auto& x : s) out += (out.empty() ? "" : ", ") + x;
  return out;
}

std::string log_tics(const std::string& axis, double lo, double hi) {
  std::vector<double> tics;
  for (const std::vector<int>& steps : {std::vector<int>{1, 2, 5}, {1, 2, 3, 4, 5, 6, 7, 8, 9}}) {
    tics.clear();
    for (double decade = std::pow(10, std::floor(std::log10(lo))); decade <= hi; decade *= 10)
      for (int m : steps)
        if (const double t = m * decade; t >= lo && t <= hi) tics.push_back(t);
    if (tics.size() >= 3) break;
  }
  std::string s = "set " + axis + "tics (";
  for (size_t i = 0; i < tics.size(); ++i)
    s += std::string(i ? ", " : "") + quote(fmt(tics[i], "%g")) + " " + fmt(tics[i]);
  return s + ")";
}

// ---------------------------------------------------------------------------------------
// Colours

namespace {

// Okabe-Ito, colour-blind safe, reordered so that the first frameworks get the most distinct
// hues; its yellow darkened to be visible on white, its black replaced by grey because black
// draws the reference marks (whiskers, quantile keys).
const char* const kHues[] = {"#0072B2", "#E69F00", "#009E73", "#D55E00",
                             "#CC79A7", "#56B4E9", "#B59B00", "#606060"};
constexpr size_t kHueCount = sizeof kHues / sizeof kHues[0];

// Shades of a hue for the configurations of one framework: mixing with black (< 0) or white
// (> 0) keeps the hue, so a configuration stays recognisably its framework's.
constexpr double kShades[] = {0, -0.4, 0.45, -0.65, 0.7};
constexpr size_t kShadeCount = sizeof kShades / sizeof kShades[0];

// Filled markers: circle, square, triangle, inverted triangle, diamond.
constexpr int kPoints[] = {7, 5, 9, 11, 13};

std::string mix(const std::string& hex, double t) {
  unsigned r = 0, g = 0, b = 0;
  std::sscanf(hex.c_str(), "#%02x%02x%02x", &r, &g, &b);
  auto f = [t](unsigned c) {
    const double v = t < 0 ? c * (1 + t) : c + (255 - c) * t;
    return static_cast<unsigned>(std::clamp(v + 0.5, 0.0, 255.0));
  };
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02X%02X%02X", f(r), f(g), f(b));
  return buf;
}

}  // namespace

Palette Palette::of(const std::vector<ResultRow>& rows) {
  std::map<std::string, std::set<std::string>> labels;  // framework -> its series labels
  for (const ResultRow& r : rows) labels[r.cell.backend].insert(r.label());
  Palette p;
  size_t hue = 0;
  for (const auto& [framework, mine] : labels) {
    // The plain framework name (default configuration) first, then the others sorted.
    std::vector<std::string> order(mine.begin(), mine.end());
    const std::string& plain = framework;  // clang 14 cannot capture a structured binding
    std::stable_partition(order.begin(), order.end(),
                          [&](const std::string& l) { return l == plain; });
    for (size_t v = 0; v < order.size(); ++v)
      p.by_label_[order[v]] = {framework, mix(kHues[hue % kHueCount], kShades[v % kShadeCount]),
                               static_cast<int>(v)};
    ++hue;
  }
  return p;
}

std::string Palette::colour(const std::string& label) const {
  const auto it = by_label_.find(label);
  return it == by_label_.end() ? "#808080" : it->second.colour;
}

std::string Palette::faint(const std::string& label) const { return mix(colour(label), 0.55); }

int Palette::variant(const std::string& label) const {
  const auto it = by_label_.find(label);
  return it == by_label_.end() ? 0 : it->second.variant;
}

int Palette::point_type(const std::string& label) const {
  return kPoints[static_cast<size_t>(variant(label)) % (sizeof kPoints / sizeof kPoints[0])];
}

std::string Palette::framework(const std::string& label) const {
  const auto it = by_label_.find(label);
  return it == by_label_.end() ? label : it->second.framework;
}

// ---------------------------------------------------------------------------------------
// Plot

int Plot::block(const std::string& comment) {
  end_block();
  data << "# [" << blocks_ << "] " << comment << "\n";
  return blocks_++;
}

// gnuplot does not count a block of comments only: such a block gets an undefined point.
void Plot::end_block() {
  if (blocks_ == 0 || static_cast<int>(finished_.size()) == blocks_) return;
  std::string b = data.str();
  bool has_record = false;
  std::istringstream in(b);
  for (std::string line; std::getline(in, line);)
    has_record = has_record || (!line.empty() && line[0] != '#');
  if (!has_record) b += "NaN NaN \"-\"\n";
  finished_.push_back(b);
  data.str("");
}

std::string Plot::source(int index) const {
  return quote(name + ".dat") + " index " + std::to_string(index);
}

void Plot::label(const std::string& what, const std::string& where, const std::string& style) {
  panel().settings.push_back("set label " + std::to_string(++labels_) + " " + quote(what) + " at " +
                             where + " " + style);
}

std::string Plot::data_file() {
  end_block();
  std::string out;
  for (size_t i = 0; i < finished_.size(); ++i) out += (i ? "\n\n" : "") + finished_[i];
  return out;
}

std::string legend_only(const std::string& style, const std::string& title) {
  return "NaN with " + style + " title " + quote(title);
}

// ---------------------------------------------------------------------------------------
// gnuplot

namespace {

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

void write_file(const fs::path& file, const std::string& text, const std::string& figure) {
  std::ofstream out(file);
  out << text;
  if (!out.flush()) throw Error("figure " + figure + ": cannot write " + file.string());
}

}  // namespace

void render(const fs::path& dir, Plot& p) {
  write_file(dir / (p.name + ".dat"),
             "# infermark figure " + p.name + ": " + p.title + "\n" + p.data_file(), p.name);
  const std::string size = "size " + std::to_string(p.width) + "," + std::to_string(p.height) +
                           " font 'DejaVu Sans,10' noenhanced";
  std::ostringstream gp;
  // One body drawn twice, for the PNG and the SVG: a multiplot cannot be replotted.
  gp << "# infermark figure " << p.name << ": " << p.title << "\n"
     << "# Reproduce: cd to this folder and run: gnuplot " << p.name << ".gp\n"
     << "do for [out in 'png svg'] {\n"
     << "reset\n"
     << "set encoding utf8\n"
     << "if (out eq 'png') {\n"
     << "  set terminal pngcairo " << size << "\n"
     << "} else {\n"
     << "  set terminal svg " << size << " background rgb 'white'\n"
     << "}\n"
     << "set output " << quote(p.name + ".") << ".out\n"
     << "set xlabel " << quote(p.xlabel) << "\n"
     << "set ylabel " << quote(p.ylabel) << "\n"
     << "set grid ytics lc rgb '#d0d0d0'\n"
     << "set border 3\nset tics nomirror\n"
     // No blank disc around the median on a whisker (gnuplot leaves one by default).
     << "set pointintervalbox 0.0001\n"
     // Labels over lines stay readable.
     << "set style textbox opaque fillcolor 'white' noborder margins 1,1\n";
  for (const auto& s : p.settings) gp << s << "\n";
  if (p.multiplot)
    gp << "set multiplot title " << quote(p.title) << " font ',12'\n";
  else
    gp << "set title " << quote(p.title) << " font ',12'\n";
  for (size_t i = 0; i < p.panels.size(); ++i) {
    const Panel& panel = p.panels[i];
    if (i > 0) gp << "unset label\nunset arrow\n";
    for (const auto& s : panel.settings) gp << s << "\n";
    gp << "plot ";
    if (panel.elements.empty()) gp << "NaN notitle";  // gnuplot refuses an empty plot
    for (size_t e = 0; e < panel.elements.size(); ++e)
      gp << (e ? ", \\\n     " : "") << panel.elements[e];
    gp << "\n";
  }
  if (p.multiplot) gp << "unset multiplot\n";
  gp << "unset output\n}\n";
  write_file(dir / (p.name + ".gp"), gp.str(), p.name);
  run_gnuplot(dir, p.name);
}

}  // namespace infermark::figures
