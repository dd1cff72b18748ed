#pragma once
// LatencyHistogram: a fixed-size log-linear histogram of durations in nanoseconds, in the
// spirit of HdrHistogram. Values below 128 ns are exact; above, each power of two is split in
// 64 equal buckets, so a reported quantile is within 1/128 (0.8%) of a recorded value.
// Record() is O(1) and never allocates; Merge() adds another histogram's counts.
//
// Thread-safety: none (thread-compatible). Give each thread its own and Merge() at the end.

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>

namespace hygie::bench {

class LatencyHistogram {
 public:
  static constexpr int kSubBits = 7;                    // 128 sub-buckets below 2^7
  static constexpr uint64_t kExact = 1ull << kSubBits;  // values below are exact
  static constexpr uint64_t kHalf = kExact / 2;         // buckets per power of two above
  static constexpr size_t kBuckets = kExact + (64 - kSubBits) * kHalf;

  void Record(uint64_t ns) {
    ++counts_[Index(ns)];
    ++count_;
    sum_ += ns;
    min_ = std::min(min_, ns);
    max_ = std::max(max_, ns);
  }

  void Merge(const LatencyHistogram& other) {
    for (size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    sum_ += other.sum_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
  }

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  uint64_t max() const { return max_; }
  double mean() const { return count_ == 0 ? 0.0 : static_cast<double>(sum_) / count_; }

  // The value at quantile q in [0, 1] (0.99 = p99): the midpoint of the bucket holding the
  // ceil(q * count)-th smallest value, clamped to [min, max]; the max itself for the largest
  // rank. 0 when empty.
  uint64_t Quantile(double q) const {
    if (count_ == 0) return 0;
    q = std::clamp(q, 0.0, 1.0);
    uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(count_) + 0.999999999);
    rank = std::clamp<uint64_t>(rank, 1, count_);
    if (rank == count_) return max_;
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::clamp(Midpoint(i), min(), max_);
    }
    return max_;
  }

  // Bucket of a value; exposed for tests.
  static size_t Index(uint64_t v) {
    if (v < kExact) return static_cast<size_t>(v);
    const int e = std::bit_width(v) - 1;  // >= kSubBits
    const int shift = e - (kSubBits - 1);
    const uint64_t top = v >> shift;  // in [kHalf, kExact)
    return static_cast<size_t>(kExact + (e - kSubBits) * kHalf + (top - kHalf));
  }

  // Smallest and largest value of bucket i; exposed for tests.
  static uint64_t Lowest(size_t i) {
    if (i < kExact) return i;
    const uint64_t j = i - kExact;
    const int shift = static_cast<int>(j / kHalf) + 1;
    return (kHalf + j % kHalf) << shift;
  }
  static uint64_t Highest(size_t i) {
    if (i < kExact) return i;
    const int shift = static_cast<int>((i - kExact) / kHalf) + 1;
    return Lowest(i) + ((1ull << shift) - 1);
  }

 private:
  static uint64_t Midpoint(size_t i) { return Lowest(i) + (Highest(i) - Lowest(i)) / 2; }

  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t min_ = std::numeric_limits<uint64_t>::max();
  uint64_t max_ = 0;
};

}  // namespace hygie::bench
