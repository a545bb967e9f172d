// SPDX-License-Identifier: Apache-2.0
#include "compare/latency_histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace shadowtap::compare {
namespace {

constexpr double kTolerance = 0.02; // the documented relative error

// The exact quantile of sorted samples, interpolating linearly between the two closest ranks
// (rank q*(n-1), "type 7").
double exactQuantile(const std::vector<uint64_t> &sorted, double q) {
  double rank = q * double(sorted.size() - 1);
  auto k = size_t(rank);
  size_t k1 = std::min(k + 1, sorted.size() - 1);
  return double(sorted[k]) + (double(sorted[k1]) - double(sorted[k])) * (rank - double(k));
}

void expectQuantilesMatch(std::vector<uint64_t> samples, const char *what) {
  LatencyHistogram h;
  for (uint64_t s : samples)
    h.record(s);
  std::sort(samples.begin(), samples.end());
  for (double q : {0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0}) {
    double want = exactQuantile(samples, q), got = h.quantileNs(q);
    EXPECT_NEAR(got, want, want * kTolerance) << what << " q=" << q;
    EXPECT_GE(got, double(samples.front())) << what << " q=" << q;
    EXPECT_LE(got, double(samples.back())) << what << " q=" << q;
  }
  EXPECT_EQ(h.count(), samples.size());
  EXPECT_EQ(h.minNs(), samples.front());
  EXPECT_EQ(h.maxNs(), samples.back());
}

TEST(LatencyHistogram, Empty) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.sumNs(), 0u);
  EXPECT_EQ(h.minNs(), 0u);
  EXPECT_EQ(h.maxNs(), 0u);
  EXPECT_EQ(h.averageNs(), 0.0);
  EXPECT_EQ(h.quantileNs(0.5), 0.0);
  EXPECT_EQ(h.quantileNs(0.0), 0.0);
  EXPECT_EQ(h.quantileNs(1.0), 0.0);
  for (uint64_t bound : LatencyHistogram::prometheusBoundsNs())
    EXPECT_EQ(h.countAtMost(bound), 0u);
}

TEST(LatencyHistogram, OneSampleIsExactEverywhere) {
  LatencyHistogram h;
  h.record(1'234'567);
  for (double q : {0.0, 0.5, 0.9, 0.99, 1.0})
    EXPECT_EQ(h.quantileNs(q), 1'234'567.0) << q;
  EXPECT_EQ(h.averageNs(), 1'234'567.0);
  EXPECT_EQ(h.countAtMost(1'000'000), 0u);
  EXPECT_EQ(h.countAtMost(1'234'567), 1u);
  EXPECT_EQ(h.countAtMost(2'500'000), 1u);
}

TEST(LatencyHistogram, Zero) {
  LatencyHistogram h;
  h.record(0);
  h.record(0);
  EXPECT_EQ(h.minNs(), 0u);
  EXPECT_EQ(h.maxNs(), 0u);
  EXPECT_EQ(h.quantileNs(0.5), 0.0);
  EXPECT_EQ(h.countAtMost(0), 2u);
  EXPECT_EQ(h.countAtMost(1'000'000), 2u);
}

TEST(LatencyHistogram, HugeValuesSaturateTheSumAndStayInRange) {
  LatencyHistogram h;
  h.record(UINT64_MAX);
  h.record(UINT64_MAX - 1);
  h.record(3'600'000'000'000ULL); // 1 h: above the last bucket edge
  EXPECT_EQ(h.count(), 3u);
  EXPECT_EQ(h.sumNs(), UINT64_MAX);
  EXPECT_EQ(h.maxNs(), UINT64_MAX);
  EXPECT_EQ(h.quantileNs(1.0), double(UINT64_MAX));
  EXPECT_EQ(h.quantileNs(0.0), 3'600'000'000'000.0);
  double p50 = h.quantileNs(0.5);
  EXPECT_GE(p50, 3'600'000'000'000.0);
  EXPECT_LE(p50, double(UINT64_MAX));
  EXPECT_EQ(h.countAtMost(60'000'000'000ULL), 0u);
  EXPECT_EQ(h.countAtMost(UINT64_MAX), 3u);
}

TEST(LatencyHistogram, OutOfRangeQuantileArgumentsClamp) {
  LatencyHistogram h;
  for (uint64_t v : {1'000'000ULL, 2'000'000ULL, 3'000'000ULL})
    h.record(v);
  EXPECT_EQ(h.quantileNs(-1.0), 1'000'000.0);
  EXPECT_EQ(h.quantileNs(2.0), 3'000'000.0);
  EXPECT_EQ(h.quantileNs(std::nan("")), 1'000'000.0);
}

TEST(LatencyHistogram, UniformMatchesExactQuantiles) {
  std::mt19937_64 rng(1);
  std::uniform_int_distribution<uint64_t> d(100'000, 50'000'000); // 0.1 ms .. 50 ms
  std::vector<uint64_t> samples(20'000);
  for (auto &s : samples)
    s = d(rng);
  expectQuantilesMatch(samples, "uniform");
}

TEST(LatencyHistogram, ExponentialMatchesExactQuantiles) {
  std::mt19937_64 rng(2);
  std::exponential_distribution<double> d(1.0 / 5e6); // mean 5 ms
  std::vector<uint64_t> samples(20'000);
  for (auto &s : samples)
    s = uint64_t(d(rng)) + 1'000; // >= 1 µs, the documented range
  expectQuantilesMatch(samples, "exponential");
}

TEST(LatencyHistogram, BimodalMatchesExactQuantiles) {
  // A cache: 80 % hits around 0.3 ms, 20 % misses around 40 ms.
  std::mt19937_64 rng(3);
  std::normal_distribution<double> hit(300'000, 30'000), miss(40'000'000, 4'000'000);
  std::bernoulli_distribution isHit(0.8);
  std::vector<uint64_t> samples(20'000);
  for (auto &s : samples)
    s = uint64_t(std::max(1'000.0, isHit(rng) ? hit(rng) : miss(rng)));
  expectQuantilesMatch(samples, "bimodal");
}

TEST(LatencyHistogram, WideRangeRelativeErrorPerSample) {
  // Log-uniform from 1 µs to 10 min: every decade is held to the same relative error.
  std::mt19937_64 rng(4);
  std::uniform_real_distribution<double> exponent(3.0, std::log10(6e11));
  std::vector<uint64_t> samples(50'000);
  for (auto &s : samples)
    s = uint64_t(std::pow(10.0, exponent(rng)));
  expectQuantilesMatch(samples, "log-uniform");
}

TEST(LatencyHistogram, SmallSetsInterpolateBetweenSamples) {
  LatencyHistogram h;
  h.record(10'000'000);
  h.record(20'000'000);
  EXPECT_EQ(h.quantileNs(0.0), 10'000'000.0);
  EXPECT_EQ(h.quantileNs(1.0), 20'000'000.0);
  EXPECT_NEAR(h.quantileNs(0.5), 15'000'000.0, 1.0);
  EXPECT_NEAR(h.quantileNs(0.25), 12'500'000.0, 1.0);
}

TEST(LatencyHistogram, CountAtMostIsExactAtPrometheusBounds) {
  const auto &bounds = LatencyHistogram::prometheusBoundsNs();
  ASSERT_EQ(bounds.size(), 15u);
  EXPECT_EQ(bounds.front(), 1'000'000u);
  EXPECT_EQ(bounds.back(), 60'000'000'000u);
  EXPECT_TRUE(std::is_sorted(bounds.begin(), bounds.end()));

  // Samples exactly at, one below and one above every bound: `le` includes the bound itself.
  LatencyHistogram h;
  std::vector<uint64_t> samples;
  for (uint64_t b : bounds)
    for (uint64_t v : {b - 1, b, b + 1})
      samples.push_back(v);
  std::mt19937_64 rng(5);
  std::uniform_int_distribution<uint64_t> d(0, 120'000'000'000ULL);
  for (int i = 0; i < 5'000; i++)
    samples.push_back(d(rng));
  for (uint64_t v : samples)
    h.record(v);
  for (uint64_t b : bounds) {
    auto exact = uint64_t(std::count_if(samples.begin(), samples.end(), [&](uint64_t v) { return v <= b; }));
    EXPECT_EQ(h.countAtMost(b), exact) << "le=" << b;
  }
  EXPECT_EQ(h.countAtMost(UINT64_MAX), samples.size());
}

TEST(LatencyHistogram, CountAtMostIsMonotonic) {
  LatencyHistogram h;
  std::mt19937_64 rng(6);
  std::exponential_distribution<double> d(1.0 / 2e7);
  for (int i = 0; i < 10'000; i++)
    h.record(uint64_t(d(rng)));
  uint64_t previous = 0;
  for (uint64_t bound = 0; bound < 1'000'000'000; bound += 997'001) {
    uint64_t n = h.countAtMost(bound);
    EXPECT_GE(n, previous) << bound;
    previous = n;
  }
  EXPECT_LE(previous, h.count());
}

TEST(LatencyHistogram, SumAndAverage) {
  LatencyHistogram h;
  h.record(1'000);
  h.record(2'000);
  h.record(6'000);
  EXPECT_EQ(h.sumNs(), 9'000u);
  EXPECT_EQ(h.averageNs(), 3'000.0);
}

TEST(LatencyHistogram, QuantilesNeverLeaveMinMax) {
  // Samples clustered inside one bucket: interpolation must not stretch to the bucket's edges.
  LatencyHistogram h;
  for (uint64_t v = 5'000'100; v <= 5'000'200; v++)
    h.record(v);
  for (double q = 0.0; q <= 1.0; q += 0.01) {
    EXPECT_GE(h.quantileNs(q), 5'000'100.0);
    EXPECT_LE(h.quantileNs(q), 5'000'200.0);
  }
}

} // namespace
} // namespace shadowtap::compare
