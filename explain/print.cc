// The tables `infermark explain` prints (explain/explain.h).

#include <algorithm>
#include <cstdio>
#include <string>

#include "explain/explain.h"

namespace infermark {
namespace {

// Achieved GFLOP/s and its share of the peak; the roofline's bound for the node's intensity.
std::string rate(const NodeTime& n, const MachineLimits& m) {
  if (n.flops <= 0 || n.ms <= 0) return "";
  const double achieved = n.flops / (n.ms / 1e3);
  char s[96];
  if (m.peak_flops > 0 && m.bandwidth_bytes_s > 0 && n.bytes > 0) {
    const double intensity = n.flops / n.bytes;
    const double roof = std::min(m.peak_flops, intensity * m.bandwidth_bytes_s);
    std::snprintf(s, sizeof s, "%7.1f %5.0f%% %6.1f %5.0f%%", achieved / 1e9,
                  100 * achieved / m.peak_flops, intensity, 100 * achieved / roof);
  } else {
    std::snprintf(s, sizeof s, "%7.1f", achieved / 1e9);
  }
  return s;
}

const FrameworkExplain* find(const ExplainReport& r, const std::string& name) {
  for (const auto& f : r.frameworks)
    if (f.backend == name && f.status == "ok") return &f;
  return nullptr;
}

}  // namespace

void print_explain(const ExplainReport& r, int top, const std::string& a, const std::string& b,
                   std::FILE* out) {
  const double per_image = 1.0 / static_cast<double>(std::max<int64_t>(1, r.batch));
  std::fprintf(out,
               "explain %s, batch %lld, %s: each framework's own profiler, %s %.0f GFLOP/s, "
               "triad bandwidth %.1f GB/s\n",
               r.model.c_str(), static_cast<long long>(r.batch), r.precision.c_str(),
               r.limits.peak_what.c_str(), r.limits.peak_flops / 1e9,
               r.limits.bandwidth_bytes_s / 1e9);
  for (const auto& f : r.frameworks) {
    std::fprintf(out, "\n== %s", f.backend.c_str());
    if (f.status != "ok") {
      std::fprintf(out, ": no profile (%s): %s\n", f.status.c_str(), f.reason.c_str());
      continue;
    }
    std::fprintf(out, " (%s, %lld profiled runs)\n", f.profiler.c_str(),
                 static_cast<long long>(f.runs));
    std::fprintf(out,
                 "latency %.3f ms [%.3f, %.3f] unprofiled, %.3f ms profiled (%+.1f%%); kernels "
                 "%.3f ms (%.0f%% of the latency), outside kernels %.3f ms; %lld records, "
                 "%lld unmapped\n",
                 f.latency_ms, f.latency_low_ms, f.latency_high_ms, f.profiled_ms,
                 f.latency_ms > 0 ? 100 * (f.profiled_ms / f.latency_ms - 1) : 0.0, f.kernel_ms,
                 f.latency_ms > 0 ? 100 * f.kernel_ms / f.latency_ms : 0.0, f.overhead_ms,
                 static_cast<long long>(f.kernels), static_cast<long long>(f.unmapped));
    if (!f.costs_note.empty()) std::fprintf(out, "%s\n", f.costs_note.c_str());
    std::fprintf(out, "  %-44s %-20s %-14s %9s %6s %7s %6s %6s %6s\n", "node", "op", "class",
                 "ms/image", "share", "GFLOP/s", "%peak", "FLOP/B", "%roof");
    int shown = 0;
    for (const auto& n : f.nodes) {
      if (shown++ >= top) break;
      std::string name = n.node.size() > 44 ? "..." + n.node.substr(n.node.size() - 41) : n.node;
      std::fprintf(out, "  %-44s %-20.20s %-14s %9.4f %5.1f%% %s\n", name.c_str(),
                   n.op_type.c_str(), n.cls.c_str(), n.ms * per_image,
                   f.latency_ms > 0 ? 100 * n.ms / f.latency_ms : 0.0, rate(n, r.limits).c_str());
    }
    if (static_cast<int>(f.nodes.size()) > top)
      std::fprintf(out, "  ... %zu more nodes (--top)\n",
                   f.nodes.size() - static_cast<size_t>(top));
  }

  // The classes side by side, ms per image.
  std::vector<const FrameworkExplain*> ok;
  for (const auto& f : r.frameworks)
    if (f.status == "ok") ok.push_back(&f);
  if (ok.empty()) return;
  std::fprintf(out, "\nms per image by operator class\n  %-16s", "class");
  for (const auto* f : ok) std::fprintf(out, " %12s", f->backend.c_str());
  std::fprintf(out, "\n");
  for (const char* cls : kOperatorClasses) {
    std::fprintf(out, "  %-16s", cls);
    for (const auto* f : ok) {
      const auto it = f->classes.find(cls);
      std::fprintf(out, " %12.4f", it == f->classes.end() ? 0.0 : it->second * per_image);
    }
    std::fprintf(out, "\n");
  }
  std::fprintf(out, "  %-16s", "outside kernels");
  for (const auto* f : ok) std::fprintf(out, " %12.4f", f->overhead_ms * per_image);
  std::fprintf(out, "\n  %-16s", "profiled run");
  for (const auto* f : ok) std::fprintf(out, " %12.4f", f->profiled_ms * per_image);
  std::fprintf(out, "\n  %-16s", "unprofiled run");
  for (const auto* f : ok) std::fprintf(out, " %12.4f", f->latency_ms * per_image);
  std::fprintf(out, "\n");

  if (a.empty() || b.empty()) return;
  const FrameworkExplain* fa = find(r, a);
  const FrameworkExplain* fb = find(r, b);
  if (!fa || !fb) {
    std::fprintf(out, "\nno difference of %s and %s: %s has no profile\n", a.c_str(), b.c_str(),
                 fa ? b.c_str() : a.c_str());
    return;
  }
  std::fprintf(out, "\nwhere %s and %s differ: %.3f ms against %.3f ms per image (unprofiled)\n",
               b.c_str(), a.c_str(), fb->latency_ms * per_image, fa->latency_ms * per_image);
  std::fprintf(out, "  %-44s %-14s %10s %10s %10s %8s\n", "node", "class", a.c_str(), b.c_str(),
               "diff", "cumul.");
  int shown = 0;
  for (const auto& d : explain_difference(*fa, *fb)) {
    if (shown++ >= top) break;
    std::string name = d.node.size() > 44 ? "..." + d.node.substr(d.node.size() - 41) : d.node;
    std::fprintf(out, "  %-44s %-14s %10.4f %10.4f %+10.4f %7.1f%%\n", name.c_str(), d.cls.c_str(),
                 d.a_ms * per_image, d.b_ms * per_image, (d.b_ms - d.a_ms) * per_image,
                 100 * d.cumulative_share);
  }
  // By class: the classes behind the difference, largest first.
  std::vector<std::pair<std::string, double>> by_class;
  for (const char* cls : kOperatorClasses) {
    const auto get = [&](const FrameworkExplain* f) {
      const auto it = f->classes.find(cls);
      return it == f->classes.end() ? 0.0 : it->second;
    };
    by_class.emplace_back(cls, get(fb) - get(fa));
  }
  by_class.emplace_back("outside kernels", fb->overhead_ms - fa->overhead_ms);
  const double total = fb->latency_ms - fa->latency_ms;
  std::sort(by_class.begin(), by_class.end(), [&](const auto& x, const auto& y) {
    return (total >= 0 ? 1 : -1) * x.second > (total >= 0 ? 1 : -1) * y.second;
  });
  std::fprintf(out, "  by class:");
  for (const auto& [cls, d] : by_class)
    if (total != 0 && std::abs(d / total) >= 0.02)
      std::fprintf(out, " %s %+.4f ms (%.0f%%);", cls.c_str(), d * per_image, 100 * d / total);
  std::fprintf(out, "\n");
}

}  // namespace infermark
