#include "core/statistics.h"

#include <algorithm>
#include <cmath>
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

// The finite values, sorted ascending.
std::vector<double> sorted_finite(const std::vector<double>& values) {
  std::vector<double> v;
  for (double x : values)
    if (std::isfinite(x)) v.push_back(x);
  std::sort(v.begin(), v.end());
  return v;
}

// The middle of sorted values, non-empty: the mean of the middle two for an even count.
double middle(const std::vector<double>& v) {
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// The sample variance (n - 1), as the square of the standard deviation.
double variance_of(const std::vector<double>& v) {
  const double sd = sample_stddev(v);
  return sd * sd;
}

std::vector<double> logs(const std::vector<double>& v) {
  std::vector<double> out;
  out.reserve(v.size());
  for (double x : v) out.push_back(std::log(x));
  return out;
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

MeanInterval mean_interval_95(const std::vector<double>& x) {
  MeanInterval m;
  m.mean = m.low = m.high = mean(x);
  if (x.size() >= 2) {
    const double half = t_quantile_95(static_cast<int64_t>(x.size()) - 1) * sample_stddev(x) /
                        std::sqrt(static_cast<double>(x.size()));
    m.low = m.mean - half;
    m.high = m.mean + half;
  }
  return m;
}

double median(const std::vector<double>& values) {
  const std::vector<double> v = sorted_finite(values);
  return v.empty() ? NAN : middle(v);
}

std::optional<Aggregate> aggregate(const std::vector<double>& values) {
  const std::vector<double> v = sorted_finite(values);
  if (v.empty()) return std::nullopt;
  Aggregate a;
  a.n = static_cast<int>(v.size());
  const size_t n = v.size();
  a.median = middle(v);
  a.low = a.high = a.median;
  // The largest k with P(Binomial(n, 1/2) < k) <= 2.5%: [x_(k), x_(n+1-k)] covers the
  // median with at least 95% whatever the distribution.
  double cdf = 0, term = std::pow(0.5, static_cast<double>(n));  // P(X = 0)
  size_t k = 0;
  for (size_t i = 0; i < n; ++i) {
    if (cdf + term > 0.025) break;
    cdf += term;
    k = i + 1;
    term *= static_cast<double>(n - i) / static_cast<double>(i + 1);
  }
  if (k >= 1) {
    a.low = v[k - 1];
    a.high = v[n - k];
  }
  return a;
}

Ratio paired_ratio(const std::vector<std::pair<double, double>>& a_b) {
  Ratio r;
  std::vector<double> log_ratios;
  log_ratios.reserve(a_b.size());
  for (const auto& [a, b] : a_b) log_ratios.push_back(std::log(b / a));
  r.pairs = static_cast<int>(log_ratios.size());
  if (log_ratios.empty()) return r;
  const double m = mean(log_ratios);
  r.ratio = r.low = r.high = std::exp(m);
  if (log_ratios.size() >= 2) {
    const double se = std::sqrt(variance_of(log_ratios) / static_cast<double>(log_ratios.size()));
    const double t = t_quantile_95(static_cast<int64_t>(log_ratios.size()) - 1);
    r.low = std::exp(m - t * se);
    r.high = std::exp(m + t * se);
  }
  return r;
}

Ratio unpaired_ratio(const std::vector<double>& a, const std::vector<double>& b) {
  Ratio r;
  if (a.empty() || b.empty()) return r;
  const auto la = logs(a), lb = logs(b);
  const double d = mean(lb) - mean(la);
  r.ratio = r.low = r.high = std::exp(d);
  if (la.size() < 2 || lb.size() < 2) return r;
  const double na = static_cast<double>(la.size()), nb = static_cast<double>(lb.size());
  const double sa = variance_of(la) / na, sb = variance_of(lb) / nb;
  const double se = std::sqrt(sa + sb);
  // Welch-Satterthwaite degrees of freedom.
  const double dof =
      se > 0 ? (sa + sb) * (sa + sb) / (sa * sa / (na - 1) + sb * sb / (nb - 1)) : na + nb - 2;
  const double t = t_quantile_95(static_cast<int64_t>(std::max(1.0, std::floor(dof))));
  r.low = std::exp(d - t * se);
  r.high = std::exp(d + t * se);
  return r;
}

Ratio within_cell_ratio(double a, double a_rel_half_ci, double b, double b_rel_half_ci) {
  Ratio r;
  const double rel = std::sqrt(a_rel_half_ci * a_rel_half_ci + b_rel_half_ci * b_rel_half_ci);
  r.ratio = b / a;
  if (a_rel_half_ci > 0 && b_rel_half_ci > 0) {
    r.low = r.ratio * (1 - rel);
    r.high = r.ratio * (1 + rel);
  } else {
    r.low = r.high = r.ratio;  // no interval
  }
  return r;
}

}  // namespace infermark
