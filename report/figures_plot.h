// Internal to the figures (report/figures*.cc): a gnuplot figure being written (data blocks,
// panels, labels), the colours of a report, text helpers, and running gnuplot.
#pragma once

#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/result.h"

namespace infermark::figures {

namespace fs = std::filesystem;

std::string fmt(double v, const char* f = "%.9g");
// A gnuplot string literal: single quotes, no escapes but '' for a quote.
std::string quote(const std::string& s);
// A file stem from a model name: letters, digits, '-', '_' and '.'.
std::string stem(const std::string& s);
std::string join_names(const std::set<std::string>& s);
// "set AXISics (...)" for a log axis from lo to hi: 1-2-5 steps (every digit on a short range),
// as gnuplot labels only whole decades, which a range inside one decade does not reach.
std::string log_tics(const std::string& axis, double lo, double hi);

// The colours of one report, assigned once from every row so that a framework has one colour
// in every figure: a hue per framework name (sorted), whatever configurations it ran in; its
// configurations (series labels that differ in settings, threads, precision, arm...) get shades
// of that hue and their own marker, the default configuration the pure hue.
class Palette {
 public:
  static Palette of(const std::vector<ResultRow>& rows);
  // By series label (ResultRow::label()); a label not seen in the rows gets grey.
  std::string colour(const std::string& label) const;
  // A pale version of the colour, for what is drawn in the background (find-peak probes).
  std::string faint(const std::string& label) const;
  // 0 for the framework's first configuration, 1, 2... for the others.
  int variant(const std::string& label) const;
  // A filled marker (gnuplot point type) per configuration of a framework.
  int point_type(const std::string& label) const;
  std::string framework(const std::string& label) const;

 private:
  struct Entry {
    std::string framework, colour;
    int variant = 0;
  };
  std::map<std::string, Entry> by_label_;
};

// One panel of a figure: its own settings (title, margins, labels) and plot elements.
struct Panel {
  std::vector<std::string> settings;
  std::vector<std::string> elements;  // joined by ", "
};

// One figure being written: its data blocks (gnuplot "index" N, one NAME.dat), the settings
// every panel shares, and its panels (one plot, or a multiplot with one plot per panel).
class Plot {
 public:
  std::string name, title, xlabel, ylabel;
  int width = 900, height = 500;      // pixels (SVG: points)
  bool multiplot = false;             // title over the panels, each panel titled by its settings
  std::vector<std::string> settings;  // "set ..." lines before every panel
  std::vector<Panel> panels{1};
  std::ostringstream data;  // the data block being written

  Panel& panel() { return panels.back(); }
  // Starts a data block, returns its index.
  int block(const std::string& comment);
  // `DAT index N` for a plot element.
  std::string source(int index) const;
  // A plot element of the current panel.
  void element(const std::string& e) { panel().elements.push_back(e); }
  // A "set label" in the current panel.
  void label(const std::string& what, const std::string& where, const std::string& style);
  // NAME.dat: every block, separated by two blank lines.
  std::string data_file();

 private:
  void end_block();
  std::vector<std::string> finished_;
  int blocks_ = 0;
  int labels_ = 0;
};

// A legend entry with nothing drawn (a framework whose every cell failed).
std::string legend_only(const std::string& style, const std::string& title);

// Writes NAME.dat and NAME.gp into dir and runs gnuplot once for NAME.png and NAME.svg.
// Throws Error naming the figure when gnuplot is missing or fails.
void render(const fs::path& dir, Plot& p);

}  // namespace infermark::figures
