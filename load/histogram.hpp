// A log-linear latency histogram in the manner of HdrHistogram: fixed memory,
// constant-time record, bounded relative error.
//
// Values (nanoseconds in smsgate-load) are counted in buckets: values below
// 2^kSubBits are exact; above, each power-of-two range [2^k, 2^(k+1)) is cut
// into 2^(kSubBits-1) equal slices, so a slice is at most 1/2^(kSubBits-1) of
// its lowest value wide. With kSubBits = 8 that is 1/128: a percentile is
// reported as the highest value of its slice, never below the true sample and
// at most 0.79% above it. Values up to 2^kMaxBits - 1 (68.7 s in ns) are
// tracked; larger ones are counted in the last slice. min, max, count and the
// sum (for the mean) are exact.
//
// Memory: (kMaxBits - kSubBits + 2) * 2^(kSubBits-1) counters, 31 KiB,
// whatever is recorded. One writer; merge() adds another histogram into this
// one (per-thread histograms merged at the end).
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>

namespace smsgate::load {

class Histogram {
 public:
  static constexpr unsigned kSubBits = 8;
  static constexpr unsigned kMaxBits = 36;
  static constexpr uint64_t kHalf = uint64_t{1} << (kSubBits - 1);
  static constexpr uint64_t kHighestTrackable = (uint64_t{1} << kMaxBits) - 1;
  static constexpr std::size_t kCounters = (kMaxBits - kSubBits + 2) * kHalf;
  // Largest relative error of a reported percentile (upper bound of a slice).
  static constexpr double kPrecision = 1.0 / static_cast<double>(kHalf);

  void record(uint64_t value, uint64_t times = 1) {
    if (times == 0) return;
    counts_[index_of(std::min(value, kHighestTrackable))] += times;
    count_ += times;
    sum_ += value * times;
    min_ = std::min(min_, value);
    max_ = std::max(max_, value);
  }

  void merge(const Histogram& other) {
    for (std::size_t i = 0; i < kCounters; ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    sum_ += other.sum_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
  }

  void reset() { *this = Histogram{}; }

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ ? min_ : 0; }
  uint64_t max() const { return max_; }
  double mean() const { return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0; }

  // The value at `percentile` (0-100): the highest value of the slice that
  // holds the round(percentile% * count)-th smallest sample, clamped to the
  // exact [min, max]. 100 gives max; 0 with no sample gives 0.
  uint64_t percentile(double percentile) const {
    if (count_ == 0) return 0;
    if (percentile >= 100.0) return max_;
    // Rounded to the nearest rank (as HdrHistogram does), so that p99.9 of
    // 10,000 samples is the 9,990th whatever the floating-point noise.
    double wanted = std::max(0.0, percentile) / 100.0 * static_cast<double>(count_);
    uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(wanted + 0.5));
    uint64_t seen = 0;
    for (std::size_t i = 0; i < kCounters; ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::clamp(highest_in(i), min(), max_);
    }
    return max_;
  }

  // The bucket layout, public for tests.
  static constexpr std::size_t index_of(uint64_t value) {
    unsigned msb = value ? 63u - static_cast<unsigned>(std::countl_zero(value)) : 0u;
    unsigned shift = msb >= kSubBits ? msb - (kSubBits - 1) : 0u;
    return static_cast<std::size_t>(shift * kHalf + (value >> shift));
  }
  static constexpr uint64_t lowest_in(std::size_t index) {
    unsigned shift = index < 2 * kHalf ? 0u : static_cast<unsigned>(index / kHalf) - 1u;
    return (index - shift * kHalf) << shift;
  }
  static constexpr uint64_t highest_in(std::size_t index) {
    unsigned shift = index < 2 * kHalf ? 0u : static_cast<unsigned>(index / kHalf) - 1u;
    return lowest_in(index) + (uint64_t{1} << shift) - 1;
  }

 private:
  std::array<uint64_t, kCounters> counts_{};
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t min_ = std::numeric_limits<uint64_t>::max();
  uint64_t max_ = 0;
};

static_assert(Histogram::index_of(Histogram::kHighestTrackable) == Histogram::kCounters - 1);
static_assert(Histogram::index_of(255) == 255 && Histogram::index_of(256) == 256 && Histogram::index_of(257) == 256);
static_assert(Histogram::lowest_in(Histogram::index_of(1000)) <= 1000 && Histogram::highest_in(Histogram::index_of(1000)) >= 1000);

}  // namespace smsgate::load
