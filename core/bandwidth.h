#pragma once

// The machine's sustained memory bandwidth, the roof of `infermark explain`'s roofline: STREAM's
// triad (a[i] = b[i] + s * c[i]) over arrays far larger than the caches, one thread per usable
// CPU on its share, the best of a few trials. Bytes counted as STREAM counts them: 24 per
// element (two reads, one write; the write's cache-line fill is not counted).

namespace infermark {

struct BandwidthOptions {
  long long elements = 1LL << 24;  // per array: 3 arrays of 128 MiB of doubles
  int trials = 4;
};

// Bytes per second; 0 if no trial could run (never throws).
double measure_bandwidth(const BandwidthOptions& options = {});

}  // namespace infermark
