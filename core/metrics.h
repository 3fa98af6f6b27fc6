#pragma once

// The keys of a result row's metrics (ResultRow::metrics, docs/results.md) that more than one
// part writes or reads: the scenarios and meters write them, the report, the advice and the
// sweep read them. Named once, so that a misspelt key does not compile.

namespace infermark::metric {

// Images per second (offline, ensemble; server: achieved).
inline constexpr const char* kThroughputIps = "throughput_ips";
// The highest rate whose confirming run met the p99 target (--find-peak).
inline constexpr const char* kPeakQps = "peak_qps";
// Loading with empty caches, ms (load cells).
inline constexpr const char* kLoadColdMs = "load_cold_ms";
// Loading with the framework's caches filled, ms (load cells).
inline constexpr const char* kLoadWarmMs = "load_warm_ms";
// The p99 latency target of a peak search, ms.
inline constexpr const char* kSloP99Ms = "slo_p99_ms";
// Peak resident memory of the cell's process.
inline constexpr const char* kChildPeakRssBytes = "child_peak_rss_bytes";
// The arrival rate offered to a server, queries per second.
inline constexpr const char* kOfferedQps = "offered_qps";
// Queries answered per second.
inline constexpr const char* kAchievedQps = "achieved_qps";
// Achieved FLOP/s over the machine's measured peak.
inline constexpr const char* kShareOfPeak = "share_of_peak";
// Peak resident memory measured during the run.
inline constexpr const char* kRssPeakBytes = "rss_peak_bytes";
// Queries sent in a server run.
inline constexpr const char* kQueries = "queries";
// GPU energy per image, joules (NVML).
inline constexpr const char* kGpuEnergyPerImageJ = "gpu_energy_per_image_j";
// CPU package energy per image, joules (RAPL).
inline constexpr const char* kEnergyPerImageJ = "energy_per_image_j";
// CPU package energy of the run, joules (RAPL).
inline constexpr const char* kEnergyJ = "energy_j";

}  // namespace infermark::metric
