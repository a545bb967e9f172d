// SPDX-License-Identifier: Apache-2.0
// Bucket layout: one table of bucket edges (integer ns) shared by every histogram. Anchors are the
// Prometheus bounds extended with the same 1-2.5-5 pattern down to 1 µs and up to 10 min; between
// two anchors the edges are geometric, with as many as needed for every bucket to satisfy
// upper/lower < kMaxRatio after rounding to integer ns. Bucket 0 is [0, 1 µs], bucket i is
// (edge[i-1], edge[i]] (upper-inclusive like Prometheus `le`), the last is (10 min, inf). That is
// 1048 buckets; a histogram's vector only grows (in steps of 64) up to the bucket of its largest
// sample, so it takes at most 4.1 KiB, 3 KiB when every sample is under 1 s, nothing when empty.
//
// Quantiles: the samples of a bucket are taken as spread evenly over the bucket, narrowed to
// [min, max]; the quantile at rank q*(n-1) interpolates linearly between the two neighbouring
// samples' estimates. Each estimate lies in its true sample's bucket, so the result is within the
// bucket ratio (< 2 %) of the exact linearly interpolated sample quantile, and inside [min, max].
//
// Saturation: a bucket count stops at UINT32_MAX, the sum at UINT64_MAX (neither is reachable by
// real traffic in a process lifetime, but neither may wrap).
#include "compare/latency_histogram.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace shadowtap::compare {
namespace {

constexpr double kMaxRatio = 1.0199;

const std::vector<uint64_t> &edges() {
  static const std::vector<uint64_t> table = [] {
    std::vector<uint64_t> anchors;
    for (uint64_t decade = 1000; decade < 10'000'000'000ULL; decade *= 10) // 1 µs .. 5 s
      for (uint64_t m : {2, 5, 10})
        anchors.push_back(decade * m / 2); // 1, 2.5, 5 (x decade)
    for (uint64_t s : {10, 30, 60, 120, 300, 600})
      anchors.push_back(s * 1'000'000'000ULL);
    std::vector<uint64_t> out{anchors.front()};
    for (size_t a = 1; a < anchors.size(); a++) {
      double lo = double(anchors[a - 1]), hi = double(anchors[a]);
      for (auto n = size_t(std::ceil(std::log(hi / lo) / std::log(kMaxRatio)));; n++) {
        std::vector<uint64_t> seg;
        uint64_t prev = anchors[a - 1];
        bool ok = true;
        for (size_t j = 1; j <= n && ok; j++) {
          uint64_t e = j == n ? anchors[a] : uint64_t(std::llround(lo * std::pow(hi / lo, double(j) / double(n))));
          ok = e > prev && double(e) / double(prev) < kMaxRatio;
          seg.push_back(e);
          prev = e;
        }
        if (ok) {
          out.insert(out.end(), seg.begin(), seg.end());
          break;
        }
      }
    }
    return out;
  }();
  return table;
}

size_t bucketOf(uint64_t ns) {
  const auto &e = edges();
  return size_t(std::lower_bound(e.begin(), e.end(), ns) - e.begin());
}

} // namespace

LatencyHistogram::LatencyHistogram() = default;

const std::vector<uint64_t> &LatencyHistogram::prometheusBoundsNs() {
  static const std::vector<uint64_t> bounds{1'000'000ULL,      2'500'000ULL,      5'000'000ULL,     10'000'000ULL,
                                            25'000'000ULL,     50'000'000ULL,     100'000'000ULL,   250'000'000ULL,
                                            500'000'000ULL,    1'000'000'000ULL,  2'500'000'000ULL, 5'000'000'000ULL,
                                            10'000'000'000ULL, 30'000'000'000ULL, 60'000'000'000ULL};
  return bounds;
}

void LatencyHistogram::record(uint64_t ns) {
  size_t b = bucketOf(ns);
  if (b >= buckets_.size()) {
    // Grow in steps of 64 buckets, with an exact capacity (no doubling).
    size_t want = std::min((b / 64 + 1) * 64, edges().size() + 1);
    buckets_.reserve(want);
    buckets_.resize(want, 0);
  }
  if (buckets_[b] != std::numeric_limits<uint32_t>::max())
    buckets_[b]++;
  count_++;
  sumNs_ = sumNs_ > UINT64_MAX - ns ? UINT64_MAX : sumNs_ + ns;
  minNs_ = std::min(minNs_, ns);
  maxNs_ = std::max(maxNs_, ns);
}

double LatencyHistogram::quantileNs(double q) const {
  if (count_ == 0)
    return 0.0;
  const auto &e = edges();
  double lo = double(minNs_), hi = double(maxNs_);
  if (!(q > 0.0)) // also NaN
    return lo;
  if (q >= 1.0)
    return hi;
  uint64_t total = std::accumulate(buckets_.begin(), buckets_.end(), uint64_t(0));
  if (total <= 1)
    return lo;
  double rank = q * double(total - 1);
  auto k0 = uint64_t(rank);
  uint64_t k1 = std::min(k0 + 1, total - 1);
  double frac = rank - double(k0);

  // The estimate of the sample of rank k (0-based): exact for the first and the last.
  auto estimate = [&](uint64_t k, size_t bucket, uint64_t before) {
    if (k == 0)
      return lo;
    if (k == total - 1)
      return hi;
    double bLo = bucket == 0 ? 0.0 : double(e[bucket - 1]);
    double bHi = bucket < e.size() ? double(e[bucket]) : hi;
    bLo = std::max(bLo, lo);
    bHi = std::min(bHi, hi);
    return bLo + (bHi - bLo) * (double(k - before) + 0.5) / double(buckets_[bucket]);
  };
  double v0 = lo, v1 = lo;
  bool have0 = false;
  uint64_t before = 0;
  for (size_t b = 0; b < buckets_.size(); b++) {
    uint64_t c = buckets_[b];
    if (!have0 && k0 < before + c) {
      v0 = estimate(k0, b, before);
      have0 = true;
    }
    if (k1 < before + c) {
      v1 = estimate(k1, b, before);
      break;
    }
    before += c;
  }
  return std::clamp(v0 + (v1 - v0) * frac, lo, hi);
}

uint64_t LatencyHistogram::countAtMost(uint64_t boundNs) const {
  if (count_ == 0 || boundNs < minNs_)
    return 0;
  if (boundNs >= maxNs_)
    return count_;
  // Here min <= bound < max, so the bucket of `bound` is below the last one used.
  const auto &e = edges();
  size_t b = bucketOf(boundNs);
  uint64_t n = std::accumulate(buckets_.begin(), buckets_.begin() + std::min(b, buckets_.size()), uint64_t(0));
  if (b >= buckets_.size())
    return n;
  if (b < e.size() && e[b] == boundNs) // an edge: exact
    return n + buckets_[b];
  // Inside a bucket: its samples taken as spread evenly over it.
  double bLo = b == 0 ? 0.0 : double(e[b - 1]);
  double bHi = b < e.size() ? double(e[b]) : double(maxNs_);
  double part = (double(boundNs) - bLo) / (bHi - bLo);
  return n + uint64_t(std::clamp(part, 0.0, 1.0) * double(buckets_[b]));
}

} // namespace shadowtap::compare
