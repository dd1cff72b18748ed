#include "core/progress.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace hygie {
namespace {

constexpr int64_t kStart = 1'780'000'000'000'000;  // 2026-05-28
constexpr int64_t kMs = 1000;
constexpr int64_t kSecond = 1'000'000;

// A FILE* writing to memory, read back with Text().
class MemoryFile {
 public:
  MemoryFile() : file_(open_memstream(&data_, &size_)) {}
  ~MemoryFile() {
    std::fclose(file_);
    std::free(data_);
  }
  FILE* get() { return file_; }
  std::string Text() {
    std::fflush(file_);
    return std::string(data_, size_);
  }
  std::vector<std::string> Lines() {
    std::vector<std::string> lines;
    std::istringstream in(Text());
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }

 private:
  char* data_ = nullptr;
  size_t size_ = 0;
  FILE* file_;
};

TEST(ProgressTest, FormatDuration) {
  EXPECT_EQ(FormatDuration(0), "0s");
  EXPECT_EQ(FormatDuration(8 * kSecond), "8s");
  EXPECT_EQ(FormatDuration(8 * kSecond + 600 * kMs), "9s");
  EXPECT_EQ(FormatDuration(125 * kSecond), "2m05s");
  EXPECT_EQ(FormatDuration(3600 * kSecond + 125 * kSecond), "1h02m");
  EXPECT_EQ(FormatDuration(-5 * kSecond), "0s");
}

TEST(ProgressTest, PlainModeWritesOneLinePerIntervalAndOneAtTheEnd) {
  FakeClock clock(kStart);
  MemoryFile out;
  ProgressOptions options;
  options.unit = "records";
  {
    Progress p("restore", 5000, 50'000'000, clock, out.get(), false, options);
    // 250 records and 2.5 MB per second, in 10 calls a second, for 20 s.
    for (int tick = 1; tick <= 200; ++tick) {
      clock.Advance(100 * kMs);
      p.Add(25, 250'000);
    }
    EXPECT_EQ(p.units_done(), 5000u);
    EXPECT_EQ(p.bytes_done(), 50'000'000u);
    p.Finish();
    p.Add(1, 1);  // after Finish: counted nowhere, written nowhere
    p.Finish();
  }
  const std::vector<std::string> lines = out.Lines();
  ASSERT_EQ(lines.size(), 5u) << out.Text();  // at 5, 10, 15, 20 s, and the end
  EXPECT_EQ(lines[0],
            "restore: 1250/5000 records (25%), 12.5/50.0 MB, 250 records/s, 2.5 MB/s, 15s left");
  EXPECT_EQ(lines[1],
            "restore: 2500/5000 records (50%), 25.0/50.0 MB, 250 records/s, 2.5 MB/s, 10s left");
  EXPECT_EQ(lines[2],
            "restore: 3750/5000 records (75%), 37.5/50.0 MB, 250 records/s, 2.5 MB/s, 5s left");
  EXPECT_EQ(lines[3],
            "restore: 5000/5000 records (100%), 50.0/50.0 MB, 250 records/s, 2.5 MB/s, 0s left");
  EXPECT_EQ(lines[4], "restore: done, 5000 records, 50.0 MB in 20s (250 records/s, 2.5 MB/s)");
  EXPECT_EQ(out.Text().find('\r'), std::string::npos);
}

TEST(ProgressTest, PlainModeIntervalIsConfigurableAndSkipsNothingOnAGap) {
  FakeClock clock(kStart);
  MemoryFile out;
  ProgressOptions options;
  options.plain_interval_us = 2 * kSecond;
  Progress p("verify", std::nullopt, std::nullopt, clock, out.get(), false, options);
  clock.Advance(1 * kSecond);
  p.Add(1, 0);  // before the first interval: nothing
  EXPECT_TRUE(out.Text().empty());
  clock.Advance(1 * kSecond);
  p.Add(1, 0);  // 2 s
  p.Add(1, 0);  // 2 s again: already written for this interval
  clock.Advance(7 * kSecond);
  p.Add(1, 0);  // 9 s: one line for the long call, not one per missed interval
  clock.Advance(500 * kMs);
  p.Add(1, 0);  // 9.5 s: the next is due at 10 s
  clock.Advance(500 * kMs);
  p.Add(1, 0);  // 10 s
  const std::vector<std::string> lines = out.Lines();
  ASSERT_EQ(lines.size(), 3u) << out.Text();
  // No totals: neither percentage nor time left.
  EXPECT_EQ(lines[0], "verify: 2 units, 0.0 MB, 1.0 units/s, 0.0 MB/s");
  EXPECT_EQ(lines[1], "verify: 4 units, 0.0 MB, 0.4 units/s, 0.0 MB/s");
  EXPECT_EQ(lines[2], "verify: 6 units, 0.0 MB, 0.6 units/s, 0.0 MB/s");
}

TEST(ProgressTest, EtaForAConstantRate) {
  FakeClock clock(kStart);
  MemoryFile out;
  // Units only: 40 units a second, 10000 to do: 250 s in all.
  Progress p("restore", 10000, std::nullopt, clock, out.get(), false);
  for (int s = 1; s <= 50; ++s) {
    clock.Advance(kSecond);
    p.Add(40, 0);
  }
  EXPECT_EQ(p.Line(),
            "restore: 2000/10000 units (20%), 0.0 MB, 40.0 units/s, 0.0 MB/s, 3m20s left");
  // Bytes known: the time left follows bytes even when units run ahead.
  FakeClock clock2(kStart);
  Progress q("verify", 100, 3'000'000'000, clock2, out.get(), false);
  clock2.Advance(60 * kSecond);
  q.Add(90, 1'000'000'000);  // 1 GB a minute: 2 minutes left
  EXPECT_EQ(q.Line(),
            "verify: 90/100 units (33%), 1000.0/3000.0 MB, 1.5 units/s, 16.7 MB/s, 2m00s left");
  // Past a total that was an estimate: 100%, nothing left.
  q.Add(20, 3'000'000'000);
  EXPECT_NE(q.Line().find("(100%)"), std::string::npos) << q.Line();
  EXPECT_NE(q.Line().find("0s left"), std::string::npos) << q.Line();
}

TEST(ProgressTest, LargeTotalsInGigabytes) {
  FakeClock clock(kStart);
  MemoryFile out;
  Progress p("restore", std::nullopt, 20'000'000'000, clock, out.get(), false);
  clock.Advance(100 * kSecond);
  p.Add(7, 5'000'000'000);
  EXPECT_EQ(p.Line(), "restore: 7 units (25%), 5.00/20.00 GB, 0.1 units/s, 50.0 MB/s, 5m00s left");
}

TEST(ProgressTest, TerminalRewritesOneLineAtMostEvery200Ms) {
  FakeClock clock(kStart);
  MemoryFile out;
  ProgressOptions options;
  options.unit = "files";
  {
    Progress p("restore", 100, std::nullopt, clock, out.get(), true, options);
    p.Add(0, 0);                    // drawn at once (no time has passed: no rate yet)
    for (int i = 0; i < 10; ++i) {  // one file each 50 ms for 500 ms: redrawn at 200 and 400
      clock.Advance(50 * kMs);
      p.Add(1, 0);
    }
    clock.Advance(500 * kMs);
    p.Finish();
  }
  const std::string text = out.Text();
  std::vector<std::string> draws;
  for (size_t at = text.find('\r'); at != std::string::npos;) {
    const size_t next = text.find('\r', at + 1);
    draws.push_back(text.substr(at + 1, next == std::string::npos ? next : next - at - 1));
    at = next;
  }
  ASSERT_EQ(draws.size(), 4u) << text;
  EXPECT_EQ(draws[0], "restore: 0/100 files (0%), 0.0 MB");
  // 4.8 s and 4.6 s left, rounded.
  EXPECT_EQ(draws[1], "restore: 4/100 files (4%), 0.0 MB, 20.0 files/s, 0.0 MB/s, 5s left");
  EXPECT_EQ(draws[2], "restore: 8/100 files (8%), 0.0 MB, 20.0 files/s, 0.0 MB/s, 5s left");
  // The final line, padded over the longer one before it, then the only newline.
  const std::string final_line = "restore: done, 10 files, 0.0 MB in 1s (10.0 files/s, 0.0 MB/s)";
  ASSERT_LT(final_line.size(), draws[2].size());
  EXPECT_EQ(draws[3], final_line + std::string(draws[2].size() - final_line.size(), ' ') + "\n");
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1);
}

TEST(ProgressTest, AbandonedTerminalLineIsEnded) {
  FakeClock clock(kStart);
  MemoryFile out;
  {
    Progress p("restore", 10, std::nullopt, clock, out.get(), true);
    p.Add(1, 0);
  }
  EXPECT_EQ(out.Text(), "\rrestore: 1/10 units (10%), 0.0 MB\n");
  MemoryFile quiet;
  { Progress p("restore", 10, std::nullopt, clock, quiet.get(), false); }
  EXPECT_EQ(quiet.Text(), "");
}

TEST(ProgressTest, ZeroTotalsAndConcurrentAdds) {
  FakeClock clock(kStart);
  MemoryFile out;
  Progress empty("verify", 0, 0, clock, out.get(), false);
  EXPECT_EQ(empty.Line(), "verify: 0/0 units (100%), 0.0/0.0 MB");

  Progress p("verify", 4000, std::nullopt, clock, out.get(), false);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) p.Add(1, 10);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(p.units_done(), 4000u);
  EXPECT_EQ(p.bytes_done(), 40000u);
}

}  // namespace
}  // namespace hygie
