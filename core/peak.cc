#include "core/peak.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <exception>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <system_error>
#include <thread>

#include "core/cache_dir.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/text.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define INFERMARK_X86 1
#endif

namespace infermark {
namespace {

namespace fs = std::filesystem;

// Each kernel runs chains of dependent steps, acc = acc * a + b (or acc += a . b for bf16),
// with more independent chains than FMA latency x FMA units (4 x 2 on current x86 cores), so
// the units never wait for a result. The empty asm statements make each step's result opaque
// to the optimizer: chains are neither merged, vectorized (the scalar kernel must stay
// scalar) nor removed. They act on a local, not on the array element: on an element they
// would keep the array in memory, a load and a store per step. a < 1 keeps the fp32 values near b /
// (1 - a) = 1, far from denormals and overflow.
constexpr float kA = 0.9999f;
constexpr float kB = 1e-4f;
// Steps per chain between two reads of the clock: tens of microseconds on any kernel.
constexpr uint64_t kChunkIterations = 4096;

constexpr int kScalarChains = 12;  // 12 accumulators + a and b fit the 16 SSE registers
float scalar_chains(uint64_t iterations, float init) {
  float acc[kScalarChains];
  for (int c = 0; c < kScalarChains; ++c) acc[c] = init + 0.01f * c;
  for (uint64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 16
    for (int c = 0; c < kScalarChains; ++c) {
      float next = acc[c] * kA + kB;
#if defined(INFERMARK_X86)
      asm volatile("" : "+x"(next));
#elif defined(__aarch64__)
      asm volatile("" : "+w"(next));
#endif
      acc[c] = next;
    }
  }
  float sum = 0;
  for (float v : acc) sum += v;
  return sum;
}

#ifdef INFERMARK_X86

constexpr int kAvx2Chains = 12;  // 12 accumulators + a and b fit the 16 ymm registers
__attribute__((target("avx2,fma"))) float avx2_chains(uint64_t iterations, float init) {
  __m256 acc[kAvx2Chains];
  for (int c = 0; c < kAvx2Chains; ++c) acc[c] = _mm256_set1_ps(init + 0.01f * c);
  const __m256 a = _mm256_set1_ps(kA), b = _mm256_set1_ps(kB);
  for (uint64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 16
    for (int c = 0; c < kAvx2Chains; ++c) {
      __m256 next = _mm256_fmadd_ps(acc[c], a, b);
      asm volatile("" : "+x"(next));
      acc[c] = next;
    }
  }
  __m256 sum = acc[0];
  for (int c = 1; c < kAvx2Chains; ++c) sum = _mm256_add_ps(sum, acc[c]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, sum);
  float total = 0;
  for (float v : lanes) total += v;
  return total;
}

// Not _mm512_reduce_add_ps: GCC 12's version of it warns of an uninitialized variable.
__attribute__((target("avx512f"))) float horizontal_sum(__m512 v) {
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, v);
  float total = 0;
  for (float x : lanes) total += x;
  return total;
}

constexpr int kAvx512Chains = 16;  // of the 32 zmm registers
__attribute__((target("avx512f"))) float avx512_chains(uint64_t iterations, float init) {
  __m512 acc[kAvx512Chains];
  for (int c = 0; c < kAvx512Chains; ++c) acc[c] = _mm512_set1_ps(init + 0.01f * c);
  const __m512 a = _mm512_set1_ps(kA), b = _mm512_set1_ps(kB);
  for (uint64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 16
    for (int c = 0; c < kAvx512Chains; ++c) {
      __m512 next = _mm512_fmadd_ps(acc[c], a, b);
      asm volatile("" : "+v"(next));
      acc[c] = next;
    }
  }
  __m512 sum = acc[0];
  for (int c = 1; c < kAvx512Chains; ++c) sum = _mm512_add_ps(sum, acc[c]);
  return horizontal_sum(sum);
}

// acc += a[2i] * b[2i] + a[2i+1] * b[2i+1] per fp32 lane: 32 bf16 pairs, 64 FLOPs per
// instruction. The sums grow by about 2e-4 a step: no overflow in any window.
constexpr int kBf16Chains = 16;
__attribute__((target("avx512f,avx512bf16"))) float avx512_bf16_chains(uint64_t iterations,
                                                                       float init) {
  __m512 acc[kBf16Chains];
  for (int c = 0; c < kBf16Chains; ++c) acc[c] = _mm512_set1_ps(init + 0.01f * c);
  const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(kA), _mm512_set1_ps(kA));
  const __m512bh b = _mm512_cvtne2ps_pbh(_mm512_set1_ps(kB), _mm512_set1_ps(kB));
  for (uint64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 16
    for (int c = 0; c < kBf16Chains; ++c) {
      __m512 next = _mm512_dpbf16_ps(acc[c], a, b);
      asm volatile("" : "+v"(next));
      acc[c] = next;
    }
  }
  __m512 sum = acc[0];
  for (int c = 1; c < kBf16Chains; ++c) sum = _mm512_add_ps(sum, acc[c]);
  return horizontal_sum(sum);
}

// acc += a[4i] * b[4i] + ... + a[4i+3] * b[4i+3] per int32 lane, unsigned by signed bytes (the
// instruction int8 convolutions run on: oneDNN's and ONNX Runtime's u8 x s8 kernels): 64
// multiply-adds, 128 operations per instruction. Each step adds 4 to a lane: 4096 steps stay
// far below int32's range.
constexpr int kInt8Chains = 16;
__attribute__((target("avx512f,avx512vnni"))) float avx512_vnni_chains(uint64_t iterations,
                                                                       float init) {
  __m512i acc[kInt8Chains];
  for (int c = 0; c < kInt8Chains; ++c)
    acc[c] = _mm512_set1_epi32(static_cast<int>(init * 100) + c);
  const __m512i a = _mm512_set1_epi8(1), b = _mm512_set1_epi8(1);
  for (uint64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 16
    for (int c = 0; c < kInt8Chains; ++c) {
      __m512i next = _mm512_dpbusd_epi32(acc[c], a, b);
      asm volatile("" : "+v"(next));
      acc[c] = next;
    }
  }
  __m512i sum = acc[0];
  for (int c = 1; c < kInt8Chains; ++c) sum = _mm512_add_epi32(sum, acc[c]);
  // Not _mm512_cvtepi32_ps: GCC 12's version of it warns of an uninitialized variable.
  alignas(64) int32_t lanes[16];
  _mm512_store_si512(lanes, sum);
  float total = 0;
  for (int32_t x : lanes) total += static_cast<float>(x);
  return total;
}

// __builtin_cpu_supports checks that the OS saves the wide registers too (XGETBV); AVX512_BF16
// is CPUID leaf 7, subleaf 1, EAX bit 5, which GCC before 12 and older clang do not name.
bool has_avx512_bf16() {
  if (!__builtin_cpu_supports("avx512f")) return false;
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) return false;
  return (eax >> 5) & 1;
}

#endif  // INFERMARK_X86

struct Kernel {
  const char* isa;
  const char* dtype;
  const char* instruction;
  int chains;
  double flops_per_iteration;  // all chains, one step each
  float (*run)(uint64_t iterations, float init);
  bool (*supported)();
};

const std::vector<Kernel>& kernels() {
  static const std::vector<Kernel> all = {
#ifdef INFERMARK_X86
      {"avx512f", "fp32", "zmm fma", kAvx512Chains, kAvx512Chains * 16 * 2.0, avx512_chains,
       [] { return bool(__builtin_cpu_supports("avx512f")); }},
      {"avx2+fma", "fp32", "ymm fma", kAvx2Chains, kAvx2Chains * 8 * 2.0, avx2_chains,
       [] { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }},
#endif
      {"scalar", "fp32", "mul + add", kScalarChains, kScalarChains * 2.0, scalar_chains,
       [] { return true; }},
#ifdef INFERMARK_X86
      {"avx512_bf16", "bf16", "zmm bf16 dot product", kBf16Chains, kBf16Chains * 64.0,
       avx512_bf16_chains, has_avx512_bf16},
      {"avx512_vnni", "int8", "zmm u8 x s8 dot product", kInt8Chains, kInt8Chains * 128.0,
       avx512_vnni_chains,
       [] { return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vnni"); }},
#endif
  };
  return all;
}

const Kernel& find_kernel(const std::string& isa) {
  for (const Kernel& k : kernels())
    if (isa == k.isa) return k;
  std::string known;
  for (const Kernel& k : kernels()) known += (known.empty() ? "" : ", ") + std::string(k.isa);
  throw Error("peak: unknown kernel '" + isa + "' (kernels: " + known + ")");
}

// Keeps a result alive without costing anything (google/benchmark's DoNotOptimize).
void escape(float v) { asm volatile("" : : "r,m"(v) : "memory"); }

// FLOP/s of this thread running the kernel for the window.
double run_window(const Kernel& k, double window_s) {
  using Clock = std::chrono::steady_clock;
  // Read at run time, so the compiler cannot specialize the kernel on a known start value.
  volatile float init = 0.5f;
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration<double>(window_s);
  uint64_t chunks = 0;
  float sum = 0;
  auto now = start;
  do {
    sum += k.run(kChunkIterations, init);
    ++chunks;
    now = Clock::now();
  } while (now < deadline);
  escape(sum);
  const double elapsed_s = std::chrono::duration<double>(now - start).count();
  return static_cast<double>(chunks) * kChunkIterations * k.flops_per_iteration / elapsed_s;
}

// One thread per CPU, each pinned to its CPU and released together once all are pinned: the
// sum of the threads' FLOP/s. Sets *pinned to whether every pin held.
double run_trial(const Kernel& k, const std::vector<int>& cpus, double window_s, bool* pinned) {
  const size_t n = cpus.size();
  std::vector<double> flops(n, 0.0);
  std::vector<char> pin_ok(n, 0);
  std::atomic<size_t> ready{0};
  std::atomic<int> go{0};  // 0: wait, 1: run, 2: abort (a thread could not be started)
  std::vector<std::thread> threads;
  threads.reserve(n);
  try {
    for (size_t i = 0; i < n; ++i)
      threads.emplace_back([&, i] {
        cpu_set_t set;
        CPU_ZERO(&set);
        if (cpus[i] >= 0 && cpus[i] < CPU_SETSIZE) {
          CPU_SET(cpus[i], &set);
          pin_ok[i] = pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
        }
        ready.fetch_add(1);
        ready.notify_one();
        go.wait(0);
        if (go.load() == 1) flops[i] = run_window(k, window_s);
      });
  } catch (...) {
    go.store(2);
    go.notify_all();
    for (auto& t : threads) t.join();
    throw;
  }
  for (size_t r = ready.load(); r < n; r = ready.load()) ready.wait(r);
  go.store(1);
  go.notify_all();
  for (auto& t : threads) t.join();
  *pinned = std::all_of(pin_ok.begin(), pin_ok.end(), [](char ok) { return ok != 0; });
  double total = 0;
  for (double f : flops) total += f;
  return total;
}

// "0-3,6,8-9"
std::string cpu_list(const std::vector<int>& cpus) {
  std::string out;
  for (size_t i = 0; i < cpus.size();) {
    size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    // Appended piece by piece: GCC 12 warns (-Wrestrict) of a false overlap in "," + string.
    if (!out.empty()) out += ',';
    out += std::to_string(cpus[i]);
    if (j > i) {
      out += '-';
      out += std::to_string(cpus[j]);
    }
    i = j + 1;
  }
  return out;
}

std::string gflops(double flops) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", flops / 1e9);
  return buf;
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one_minute;
  in >> one_minute;
  return one_minute;
}

std::string describe(const Peak& p, const std::vector<int>& cpus, const PeakOptions& o,
                     const std::string& load) {
  std::ostringstream out;
  char window[32];
  std::snprintf(window, sizeof window, "%.2f", o.window_s);
  out << "measured: infermark's kernels (version " << kPeakKernelVersion << "), " << cpus.size()
      << " threads, one pinned to each usable CPU (" << cpu_list(cpus)
      << "), started together, best of " << o.trials << " windows of " << window << " s";
  if (!load.empty()) out << ", load average " << load << " before";
  if (std::any_of(p.runs.begin(), p.runs.end(), [](const PeakRun& r) { return !r.pinned; }))
    out << " (some threads could not be pinned)";
  out << ";";
  for (const PeakRun& r : p.runs)
    out << " " << r.dtype << " " << r.isa << " (" << r.instruction << ", " << r.chains
        << " chains) " << gflops(r.flops) << (r.dtype == "int8" ? " GOP/s" : " GFLOP/s")
        << (&r == &p.runs.back() ? "" : ",");
  return out.str();
}

std::optional<Peak> peak_from_json(const nlohmann::json& j) {
  Peak p;
  p.fp32_flops = j.at("fp32_flops").get<double>();
  p.bf16_flops = j.at("bf16_flops").get<double>();
  p.int8_ops = j.at("int8_ops").get<double>();
  p.method = j.at("method").get<std::string>();
  for (const auto& r : j.at("runs")) {
    PeakRun run;
    run.isa = r.at("isa").get<std::string>();
    run.dtype = r.at("dtype").get<std::string>();
    run.instruction = r.at("instruction").get<std::string>();
    run.chains = r.at("chains").get<int>();
    run.threads = r.at("threads").get<int>();
    run.pinned = r.at("pinned").get<bool>();
    run.window_s = r.at("window_s").get<double>();
    run.trials = r.at("trials").get<int>();
    run.flops = r.at("flops").get<double>();
    p.runs.push_back(run);
  }
  if (!std::isfinite(p.fp32_flops) || p.fp32_flops <= 0 || !std::isfinite(p.bf16_flops) ||
      p.bf16_flops < 0 || !std::isfinite(p.int8_ops) || p.int8_ops < 0)
    return std::nullopt;
  return p;
}

// The stored peak, if the file holds one for this key; anything else is a miss.
std::optional<Peak> read_cache(const fs::path& file, const nlohmann::json& key) {
  std::ifstream in(file);
  if (!in) return std::nullopt;
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("key") || j["key"] != key) return std::nullopt;
  try {
    return peak_from_json(j);
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

// Temporary file and rename, so that a reader never sees half a file. Failures are ignored:
// the figure is still right, only the next call measures again.
void write_cache(const fs::path& file, const nlohmann::json& key, const Peak& p) {
  nlohmann::json j = to_json(p);
  j["key"] = key;
  j["measured_at"] = utc_now();
  const fs::path tmp = file.string() + ".tmp." + std::to_string(getpid());
  {
    std::ofstream out(tmp);
    out << j.dump(2) << "\n";
    if (!out.flush()) {
      std::error_code ec;
      fs::remove(tmp, ec);
      return;
    }
  }
  std::error_code ec;
  fs::rename(tmp, file, ec);
  if (ec) fs::remove(tmp, ec);
}

// An exclusive flock on <file>.lock for the lifetime of the object; none if it cannot be had.
class FileLock {
 public:
  explicit FileLock(const fs::path& path)
      : fd_(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)) {
    if (fd_ >= 0 && ::flock(fd_, LOCK_EX) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  bool held() const { return fd_ >= 0; }

 private:
  int fd_;
};

}  // namespace

const std::vector<std::string>& peak_kernels() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const Kernel& k : kernels()) out.push_back(k.isa);
    return out;
  }();
  return names;
}

bool peak_kernel_supported(const std::string& isa) { return find_kernel(isa).supported(); }

std::vector<int> usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}

PeakRun measure_peak_kernel(const std::string& isa, const PeakOptions& options) {
  const Kernel& k = find_kernel(isa);
  if (!k.supported()) throw Error("peak: this CPU cannot run the " + isa + " kernel");
  const std::vector<int> cpus = options.cpus.empty() ? usable_cpus() : options.cpus;
  if (cpus.empty()) throw Error("peak: no CPU to run on (the affinity mask could not be read)");
  if (!(options.window_s > 0) || options.trials < 1)
    throw Error("peak: the window must be positive and there must be at least one trial");
  PeakRun run{k.isa, k.dtype,          k.instruction,  k.chains, static_cast<int>(cpus.size()),
              true,  options.window_s, options.trials, 0.0};
  for (int t = 0; t < options.trials; ++t) {
    bool pinned = false;
    run.flops = std::max(run.flops, run_trial(k, cpus, options.window_s, &pinned));
    run.pinned = run.pinned && pinned;
  }
  return run;
}

Peak measure_peak(const PeakOptions& options) {
  Peak p;
  try {
    const std::vector<int> cpus = options.cpus.empty() ? usable_cpus() : options.cpus;
    const PeakOptions o{cpus, options.window_s, options.trials};
    const std::string load = load_average();
    for (const Kernel& k : kernels()) {
      if (!k.supported()) continue;
      p.runs.push_back(measure_peak_kernel(k.isa, o));
      const std::string& dtype = p.runs.back().dtype;
      double& best = dtype == "bf16" ? p.bf16_flops : dtype == "int8" ? p.int8_ops : p.fp32_flops;
      best = std::max(best, p.runs.back().flops);
    }
    p.method = describe(p, cpus, o, load);
  } catch (const std::exception& e) {
    Peak failed;
    failed.method = std::string("not measured: ") + e.what();
    return failed;
  }
  return p;
}

nlohmann::json peak_cache_key(const std::string& cpu_model, const std::string& cpu_flags,
                              const std::vector<int>& cpus) {
  return {{"cpu_model", cpu_model},
          {"cpu_flags_fnv1a", hex64(fnv1a(cpu_flags))},
          {"cpus", cpu_list(cpus)},
          {"kernel_version", kPeakKernelVersion}};
}

fs::path peak_cache_file(const nlohmann::json& key) {
  return peak_cache_file(key, cache_root() / "machine");
}

fs::path peak_cache_file(const nlohmann::json& key, const fs::path& dir) {
  return dir / ("peak-" + hex64(fnv1a(key.dump())) + ".json");
}

Peak cached_peak(const fs::path& file, const nlohmann::json& key,
                 const std::function<Peak()>& measure, PeakCache mode) {
  if (mode == PeakCache::kUse)
    if (auto p = read_cache(file, key)) return *p;
  std::error_code ec;
  fs::create_directories(file.parent_path(), ec);
  const FileLock lock(file.string() + ".lock");
  // Another process may have measured while this one waited for the lock.
  if (mode == PeakCache::kUse && lock.held())
    if (auto p = read_cache(file, key)) return *p;
  Peak p = measure();
  if (p.fp32_flops > 0) write_cache(file, key, p);
  return p;
}

nlohmann::json to_json(const PeakRun& r) {
  return {{"isa", r.isa},           {"dtype", r.dtype},     {"instruction", r.instruction},
          {"chains", r.chains},     {"threads", r.threads}, {"pinned", r.pinned},
          {"window_s", r.window_s}, {"trials", r.trials},   {"flops", r.flops}};
}

nlohmann::json to_json(const Peak& p) {
  nlohmann::json runs = nlohmann::json::array();
  for (const PeakRun& r : p.runs) runs.push_back(to_json(r));
  return {{"fp32_flops", p.fp32_flops},
          {"bf16_flops", p.bf16_flops},
          {"int8_ops", p.int8_ops},
          {"method", p.method},
          {"runs", runs}};
}

}  // namespace infermark
