#pragma once
// Progress: what a long operation (a restore, a backup verification) tells the operator while it
// runs: units done (records, files...) out of how many, bytes, rates, percentage and time left.
//
// On a terminal (tty) it keeps one line up to date, rewritten in place with '\r' at most once per
// tty interval (200 ms); otherwise (a log, a pipe) it writes a plain line once per plain interval
// (5 s) and one at the end. Lines are written only from Add() and Finish(): an operation stuck in
// one call shows nothing new until it returns (Add(0, 0) refreshes without progress).
//
//   restore: 1200/5000 records (24%), 12.0/50.0 MB, 240 records/s, 2.4 MB/s, 16s left
//   restore: done, 5000 records, 50.0 MB in 20s (250 records/s, 2.5 MB/s)
//
// Rates are averages since the reporter was made, and the time left assumes that average holds;
// both come from the Clock, so tests move a FakeClock instead of sleeping. The percentage and the
// time left follow bytes when the total bytes are known (bytes are what take time), else units;
// without either total, neither is shown.
//
// Thread-safety: thread-safe; Add() may be called from several threads.

#include <cstdint>
#include <cstdio>
#include <mutex>
#include <optional>
#include <string>

#include "core/clock.h"

namespace hygie {

struct ProgressOptions {
  std::string unit = "units";             // what is counted, in the plural ("records", "files")
  int64_t tty_interval_us = 200'000;      // a terminal's line is redrawn at most this often
  int64_t plain_interval_us = 5'000'000;  // elsewhere, one line per this interval
};

class Progress {
 public:
  // `what` names the operation ("restore"); a total that is not known is nullopt. `out` must
  // outlive the reporter; `tty` is whether `out` is a terminal (isatty(fileno(out))).
  Progress(std::string what, std::optional<uint64_t> total_units,
           std::optional<uint64_t> total_bytes, const Clock& clock, FILE* out, bool tty,
           ProgressOptions options = {});
  // Without Finish() (the operation failed), ends a terminal's line so that the next message
  // starts on its own line; claims nothing about the outcome.
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Counts `units` and `bytes` more as done, and writes a line when one is due.
  void Add(uint64_t units, uint64_t bytes);
  // Writes the final line (on a terminal, the last state of the line, then a newline). Later
  // calls to Add() and Finish() write nothing.
  void Finish();

  uint64_t units_done() const;
  uint64_t bytes_done() const;
  // The status line as it would be written now (without '\r' or '\n').
  std::string Line() const;

 private:
  std::string LineLocked(int64_t now_us) const;
  std::string FinalLineLocked(int64_t now_us) const;
  void WriteLocked(const std::string& line, bool newline);

  const std::string what_;
  const std::optional<uint64_t> total_units_;
  const std::optional<uint64_t> total_bytes_;
  const Clock& clock_;
  FILE* const out_;
  const bool tty_;
  const ProgressOptions options_;
  const int64_t start_us_;

  mutable std::mutex mutex_;
  uint64_t units_ = 0;        // GUARDED_BY(mutex_)
  uint64_t bytes_ = 0;        // GUARDED_BY(mutex_)
  int64_t next_line_us_ = 0;  // GUARDED_BY(mutex_): when the next line is due
  size_t drawn_width_ = 0;    // GUARDED_BY(mutex_): length of the terminal line on screen
  bool finished_ = false;     // GUARDED_BY(mutex_)
};

// "8s", "2m05s", "1h02m" (seconds rounded to the nearest).
std::string FormatDuration(int64_t micros);

}  // namespace hygie
