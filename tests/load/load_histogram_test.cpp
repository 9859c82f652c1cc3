// The log-linear latency histogram of smsgate-load (load/histogram.hpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <cstdint>
#include <random>
#include <vector>

#include "load/histogram.hpp"

namespace smsgate::load {
namespace {

// The exact percentile of sorted samples, by the same rank rule.
uint64_t exact(const std::vector<uint64_t>& sorted, double p) {
  auto rank = static_cast<std::size_t>(p / 100.0 * static_cast<double>(sorted.size()) + 0.5);
  return sorted[std::max<std::size_t>(rank, 1) - 1];
}

void expect_within_precision(const Histogram& h, std::vector<uint64_t> samples) {
  std::sort(samples.begin(), samples.end());
  for (double p : {1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99}) {
    uint64_t want = exact(samples, p);
    uint64_t got = h.percentile(p);
    EXPECT_GE(got, want) << "p" << p;  // a slice's highest value: never below
    EXPECT_LE(static_cast<double>(got), static_cast<double>(want) * (1 + Histogram::kPrecision) + 1) << "p" << p;
    EXPECT_LE(static_cast<double>(got) / static_cast<double>(want) - 1, 0.01) << "p" << p;
  }
  EXPECT_EQ(h.max(), samples.back());
  EXPECT_EQ(h.min(), samples.front());
  EXPECT_EQ(h.count(), samples.size());
}

TEST(LoadHistogram, EmptyReportsZero) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.percentile(50), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.mean(), 0.0);
}

TEST(LoadHistogram, SmallValuesAreExact) {
  Histogram h;
  for (uint64_t v = 0; v < 256; ++v) h.record(v);
  EXPECT_EQ(h.percentile(50), 127u);
  EXPECT_EQ(h.percentile(100), 255u);
  EXPECT_EQ(h.percentile(0), 0u);
  EXPECT_DOUBLE_EQ(h.mean(), 127.5);
}

TEST(LoadHistogram, BucketsTileTheRangeWithoutGaps) {
  for (std::size_t i = 0; i + 1 < Histogram::kCounters; ++i) {
    ASSERT_EQ(Histogram::highest_in(i) + 1, Histogram::lowest_in(i + 1)) << i;
    ASSERT_EQ(Histogram::index_of(Histogram::lowest_in(i)), i);
    ASSERT_EQ(Histogram::index_of(Histogram::highest_in(i)), i);
    double width = static_cast<double>(Histogram::highest_in(i) - Histogram::lowest_in(i));
    ASSERT_LE(width, static_cast<double>(Histogram::lowest_in(i)) * Histogram::kPrecision) << i;
  }
  EXPECT_EQ(Histogram::highest_in(Histogram::kCounters - 1), Histogram::kHighestTrackable);
}

TEST(LoadHistogram, UniformMicrosecondsToSeconds) {
  std::mt19937_64 rng(1);
  std::uniform_int_distribution<uint64_t> dist(1'000, 2'000'000'000);  // 1 us .. 2 s in ns
  Histogram h;
  std::vector<uint64_t> samples;
  for (int i = 0; i < 200'000; ++i) {
    samples.push_back(dist(rng));
    h.record(samples.back());
  }
  expect_within_precision(h, samples);
}

TEST(LoadHistogram, LogNormalLatencies) {
  std::mt19937_64 rng(2);
  std::lognormal_distribution<double> dist(std::log(300'000.0), 1.0);  // ~300 us median, long tail
  Histogram h;
  std::vector<uint64_t> samples;
  for (int i = 0; i < 200'000; ++i) {
    samples.push_back(static_cast<uint64_t>(dist(rng)) + 1);
    h.record(samples.back());
  }
  expect_within_precision(h, samples);
}

TEST(LoadHistogram, BimodalTailIsSeen) {
  Histogram h;
  std::vector<uint64_t> samples;
  for (int i = 0; i < 9'990; ++i) samples.push_back(100'000);         // 100 us
  for (int i = 0; i < 10; ++i) samples.push_back(5'000'000'000ull);    // 5 s
  for (uint64_t v : samples) h.record(v);
  expect_within_precision(h, samples);
  EXPECT_LT(h.percentile(99.9), 102'000u);
  EXPECT_GE(h.percentile(99.95), 5'000'000'000ull);
  EXPECT_EQ(h.max(), 5'000'000'000ull);
}

TEST(LoadHistogram, MaxIsExactAndHugeValuesAreClamped) {
  Histogram h;
  h.record(123'456'789);
  EXPECT_EQ(h.max(), 123'456'789u);
  EXPECT_EQ(h.percentile(100), 123'456'789u);
  EXPECT_EQ(h.percentile(50), 123'456'789u);  // clamped to [min, max]
  h.record(Histogram::kHighestTrackable * 4);  // beyond the range: counted, max exact
  EXPECT_EQ(h.count(), 2u);
  EXPECT_EQ(h.max(), Histogram::kHighestTrackable * 4);
  EXPECT_EQ(h.percentile(100), Histogram::kHighestTrackable * 4);
}

TEST(LoadHistogram, MergeEqualsRecordingEverything) {
  std::mt19937_64 rng(3);
  std::uniform_int_distribution<uint64_t> dist(1, 10'000'000);
  Histogram a, b, all;
  for (int i = 0; i < 50'000; ++i) {
    uint64_t v = dist(rng);
    (i % 3 ? a : b).record(v);
    all.record(v);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.max(), all.max());
  EXPECT_EQ(a.min(), all.min());
  EXPECT_DOUBLE_EQ(a.mean(), all.mean());
  for (double p : {50.0, 90.0, 99.0, 99.9}) EXPECT_EQ(a.percentile(p), all.percentile(p));
}

TEST(LoadHistogram, MemoryIsFixed) {
  // Fixed-size storage: nothing grows with the number of samples.
  static_assert(sizeof(Histogram) < 40 * 1024);
  static_assert(std::is_trivially_copyable_v<Histogram>);
  auto h = std::make_unique<Histogram>();
  for (uint64_t i = 0; i < 1'000'000; ++i) h->record(i * 7919 % 60'000'000'000ull);
  EXPECT_EQ(h->count(), 1'000'000u);
  h->record(5, 1'000'000'000);  // many at once
  EXPECT_EQ(h->count(), 1'001'000'000u);
  EXPECT_EQ(h->percentile(50), 5u);
}

}  // namespace
}  // namespace smsgate::load
