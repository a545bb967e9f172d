// SPDX-License-Identifier: Apache-2.0
// A fixed-memory latency histogram: log-linear buckets from 1 µs to ~10 min with a relative
// error under 2 %, so p50/p90/p99 come out without keeping samples; plus the exact count, sum,
// min and max. The same buckets feed the Prometheus histogram (cumulative counts at `le` bounds).
#pragma once

#include <cstdint>
#include <vector>

namespace shadowtap::compare {

class LatencyHistogram {
public:
  LatencyHistogram();
  void record(uint64_t ns);
  uint64_t count() const { return count_; }
  uint64_t sumNs() const { return sumNs_; }
  uint64_t minNs() const { return count_ ? minNs_ : 0; }
  uint64_t maxNs() const { return maxNs_; }
  double averageNs() const { return count_ ? double(sumNs_) / double(count_) : 0.0; }
  // q in [0, 1]; 0 when empty. Within the bucket's relative error of the true quantile, and never
  // outside [min, max].
  double quantileNs(double q) const;
  // How many samples were <= boundNs (Prometheus `le` buckets: exact when boundNs is one of
  // prometheusBoundsNs(), which are bucket edges).
  uint64_t countAtMost(uint64_t boundNs) const;
  static const std::vector<uint64_t> &prometheusBoundsNs(); // 1ms, 2.5ms, 5ms, ... 60s

private:
  std::vector<uint32_t> buckets_;
  uint64_t count_ = 0;
  uint64_t sumNs_ = 0;
  uint64_t minNs_ = UINT64_MAX;
  uint64_t maxNs_ = 0;
};

} // namespace shadowtap::compare
