#include "meters/summary.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"

namespace infermark {
namespace {

// Two-sided 95% (one-sided 0.975) Student t quantiles for 1..30 degrees of freedom,
// as scipy.stats.t.ppf(0.975, dof) gives them.
constexpr double kT975[31] = {
    0,                   // dof 0: unused
    12.706204736174698,  // 1
    4.302652729749464,   // 2
    3.182446305284263,   // 3
    2.7764451051977934,  // 4
    2.570581835636314,   // 5
    2.4469118511449692,  // 6
    2.3646242515927844,  // 7
    2.306004135204166,   // 8
    2.2621571628540993,  // 9
    2.2281388519649385,  // 10
    2.200985160082949,   // 11
    2.1788128296634177,  // 12
    2.1603686564610127,  // 13
    2.1447866879169273,  // 14
    2.131449545559323,   // 15
    2.1199052992210112,  // 16
    2.1098155778331806,  // 17
    2.10092204024096,    // 18
    2.093024054408263,   // 19
    2.0859634472658364,  // 20
    2.079613844727662,   // 21
    2.0738730679040147,  // 22
    2.0686576104190406,  // 23
    2.0638985616280205,  // 24
    2.059538552753294,   // 25
    2.055529438642871,   // 26
    2.0518305164802833,  // 27
    2.048407141795244,   // 28
    2.045229642132703,   // 29
    2.0422724563012373,  // 30
};

constexpr double kZ975 = 1.959963984540054;  // standard normal 0.975 quantile

// Cornish-Fisher expansion of the t quantile in powers of 1/dof (Abramowitz & Stegun
// 26.7.5); beyond 30 degrees of freedom its error is below 3e-8.
double t_cornish_fisher(double dof) {
  const double z = kZ975, z2 = z * z;
  const double z3 = z2 * z, z5 = z3 * z2, z7 = z5 * z2, z9 = z7 * z2;
  const double g1 = (z3 + z) / 4;
  const double g2 = (5 * z5 + 16 * z3 + 3 * z) / 96;
  const double g3 = (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / 384;
  const double g4 = (79 * z9 + 776 * z7 + 1482 * z5 - 1920 * z3 - 945 * z) / 92160;
  return z + g1 / dof + g2 / (dof * dof) + g3 / (dof * dof * dof) + g4 / (dof * dof * dof * dof);
}

// numpy's _lerp: exact at both ends, monotone in t.
double lerp(double a, double b, double t) {
  const double d = b - a;
  return t >= 0.5 ? b - d * (1 - t) : a + d * t;
}

std::string format(const char* fmt, double a, long long b, double c) {
  char buf[512];
  std::snprintf(buf, sizeof buf, fmt, a, b, c);
  return buf;
}

}  // namespace

double mean(const std::vector<double>& x) {
  if (x.empty()) return 0;
  double s = 0;
  for (double v : x) s += v;
  return s / static_cast<double>(x.size());
}

double sample_stddev(const std::vector<double>& x) {
  if (x.size() < 2) return 0;
  const double m = mean(x);
  double ss = 0;
  for (double v : x) ss += (v - m) * (v - m);
  return std::sqrt(ss / static_cast<double>(x.size() - 1));
}

double percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) throw Error("percentile: no samples");
  if (!(q >= 0 && q <= 1))
    throw Error("percentile: q = " + std::to_string(q) + " is outside [0, 1]");
  const double h = static_cast<double>(sorted.size() - 1) * q;
  const double lo = std::floor(h);
  const auto i = static_cast<size_t>(lo);
  if (i + 1 >= sorted.size()) return sorted.back();
  return lerp(sorted[i], sorted[i + 1], h - lo);
}

double t_quantile_95(int64_t dof) {
  if (dof < 1) throw Error("t_quantile_95: degrees of freedom " + std::to_string(dof) + " < 1");
  if (dof <= 30) return kT975[dof];
  return t_cornish_fisher(static_cast<double>(dof));
}

Summary summarize(std::vector<double> samples, double cv_threshold) {
  if (samples.empty()) throw Error("summarize: no samples (the cell ran no timed iteration)");
  if (!(cv_threshold >= 0))
    throw Error("summarize: coefficient-of-variation threshold " + std::to_string(cv_threshold) +
                " is not a non-negative number");
  for (size_t i = 0; i < samples.size(); ++i)
    if (!std::isfinite(samples[i]))
      throw Error("summarize: sample " + std::to_string(i) + " is not finite (" +
                  std::to_string(samples[i]) + ")");

  std::sort(samples.begin(), samples.end());
  Summary s;
  s.count = static_cast<int64_t>(samples.size());
  s.mean = mean(samples);
  s.stddev = sample_stddev(samples);
  s.min = samples.front();
  s.max = samples.back();
  s.p50 = percentile(samples, 0.50);
  s.median = s.p50;
  s.p90 = percentile(samples, 0.90);
  s.p95 = percentile(samples, 0.95);
  s.p99 = percentile(samples, 0.99);
  s.p999 = percentile(samples, 0.999);
  if (s.mean != 0)
    s.cv = s.stddev / std::fabs(s.mean);
  else
    s.cv = s.stddev == 0 ? 0 : INFINITY;

  if (s.count >= 2) {
    const double half =
        t_quantile_95(s.count - 1) * s.stddev / std::sqrt(static_cast<double>(s.count));
    s.ci95_low = s.mean - half;
    s.ci95_high = s.mean + half;
    s.stable = s.cv <= cv_threshold;
    if (!s.stable)
      s.warning = format(
          "unstable: coefficient of variation %.1f%% over %lld iterations (threshold %g%%): the "
          "machine was busy or the cell too short; close other programs, pin threads, or raise "
          "--min-duration",
          s.cv * 100, static_cast<long long>(s.count), cv_threshold * 100);
  } else {
    // One sample: no spread and no interval can be estimated; say so rather than claim 0%.
    s.ci95_low = s.ci95_high = s.mean;
    s.stable = false;
    s.warning =
        "unstable: only 1 iteration, so no spread or confidence interval can be estimated; "
        "raise --min-duration";
  }
  return s;
}

nlohmann::json to_json(const Summary& s) {
  nlohmann::json j = {{"count", s.count},       {"mean", s.mean},
                      {"median", s.median},     {"std", s.stddev},
                      {"min", s.min},           {"max", s.max},
                      {"p50", s.p50},           {"p90", s.p90},
                      {"p95", s.p95},           {"p99", s.p99},
                      {"p999", s.p999},         {"cv", s.cv},
                      {"ci95_low", s.ci95_low}, {"ci95_high", s.ci95_high},
                      {"stable", s.stable}};
  if (!s.stable) j["warning"] = s.warning;
  return j;
}

}  // namespace infermark
