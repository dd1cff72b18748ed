#include "core/progress.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace hygie {
namespace {

constexpr double kMb = 1e6;
constexpr double kGb = 1e9;

std::string Printf(const char* format, double value) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), format, value);
  return buf;
}

// Bytes in MB (or GB from 10 GB), the unit chosen by `scale` (the total when there is one).
std::string Bytes(uint64_t bytes, uint64_t scale) {
  if (scale >= 10 * static_cast<uint64_t>(kGb)) return Printf("%.2f", bytes / kGb);
  return Printf("%.1f", bytes / kMb);
}

std::string BytesUnit(uint64_t scale) {
  return scale >= 10 * static_cast<uint64_t>(kGb) ? " GB" : " MB";
}

std::string Rate(double per_second) {
  return Printf(per_second < 100 ? "%.1f" : "%.0f", per_second);
}

}  // namespace

std::string FormatDuration(int64_t micros) {
  const int64_t s = std::max<int64_t>(0, (micros + 500'000) / 1'000'000);
  char buf[48];
  if (s < 60) {
    std::snprintf(buf, sizeof(buf), "%llds", static_cast<long long>(s));
  } else if (s < 3600) {
    std::snprintf(buf, sizeof(buf), "%lldm%02llds", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof(buf), "%lldh%02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>((s % 3600) / 60));
  }
  return buf;
}

Progress::Progress(std::string what, std::optional<uint64_t> total_units,
                   std::optional<uint64_t> total_bytes, const Clock& clock, FILE* out, bool tty,
                   ProgressOptions options)
    : what_(std::move(what)),
      total_units_(total_units),
      total_bytes_(total_bytes),
      clock_(clock),
      out_(out),
      tty_(tty),
      options_(std::move(options)),
      start_us_(clock.NowMicros()) {
  // A terminal shows the line from the first Add(); a log gets its first line one interval in.
  next_line_us_ = tty_ ? start_us_ : start_us_ + options_.plain_interval_us;
}

Progress::~Progress() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!finished_ && tty_ && drawn_width_ > 0) {
    std::fputc('\n', out_);
    std::fflush(out_);
  }
}

void Progress::Add(uint64_t units, uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (finished_) return;
  units_ += units;
  bytes_ += bytes;
  const int64_t now = clock_.NowMicros();
  if (now < next_line_us_) return;
  WriteLocked(LineLocked(now), !tty_);
  if (tty_) {
    next_line_us_ = now + options_.tty_interval_us;
  } else {
    // The next multiple of the interval after now: one line per interval, however often Add()
    // is called and however long a call took.
    const int64_t interval = std::max<int64_t>(1, options_.plain_interval_us);
    const int64_t elapsed = now - start_us_;
    next_line_us_ = start_us_ + (elapsed / interval + 1) * interval;
  }
}

void Progress::Finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (finished_) return;
  finished_ = true;
  WriteLocked(FinalLineLocked(clock_.NowMicros()), true);
}

uint64_t Progress::units_done() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return units_;
}

uint64_t Progress::bytes_done() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return bytes_;
}

std::string Progress::Line() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return LineLocked(clock_.NowMicros());
}

std::string Progress::LineLocked(int64_t now_us) const {
  const int64_t elapsed_us = now_us - start_us_;
  const double seconds = elapsed_us / 1e6;
  std::string line = what_ + ": " + std::to_string(units_);
  if (total_units_) line += "/" + std::to_string(*total_units_);
  line += " " + options_.unit;

  // The fraction done: by bytes when their total is known, else by units.
  std::optional<double> fraction;
  if (total_bytes_) {
    fraction = *total_bytes_ == 0 ? 1.0 : static_cast<double>(bytes_) / *total_bytes_;
  } else if (total_units_) {
    fraction = *total_units_ == 0 ? 1.0 : static_cast<double>(units_) / *total_units_;
  }
  if (fraction) {
    fraction = std::clamp(*fraction, 0.0, 1.0);
    // Rounded down (99.99% is not yet 100%), with a margin for the division's rounding.
    line += " (" + std::to_string(static_cast<int>(std::floor(*fraction * 100 + 1e-9))) + "%)";
  }

  const uint64_t scale = total_bytes_.value_or(bytes_);
  line += ", " + Bytes(bytes_, scale);
  if (total_bytes_) line += "/" + Bytes(*total_bytes_, scale);
  line += BytesUnit(scale);

  if (elapsed_us > 0) {
    line += ", " + Rate(units_ / seconds) + " " + options_.unit + "/s";
    line += ", " + Printf("%.1f", bytes_ / kMb / seconds) + " MB/s";
    if (fraction && *fraction > 0) {
      const double left_us = elapsed_us * (1 - *fraction) / *fraction;
      line += ", " + FormatDuration(static_cast<int64_t>(std::llround(left_us))) + " left";
    }
  }
  return line;
}

std::string Progress::FinalLineLocked(int64_t now_us) const {
  const int64_t elapsed_us = now_us - start_us_;
  const double seconds = elapsed_us / 1e6;
  const uint64_t scale = std::max(bytes_, total_bytes_.value_or(0));
  std::string line = what_ + ": done, " + std::to_string(units_) + " " + options_.unit + ", " +
                     Bytes(bytes_, scale) + BytesUnit(scale) + " in " + FormatDuration(elapsed_us);
  if (elapsed_us > 0) {
    line += " (" + Rate(units_ / seconds) + " " + options_.unit + "/s, " +
            Printf("%.1f", bytes_ / kMb / seconds) + " MB/s)";
  }
  return line;
}

void Progress::WriteLocked(const std::string& line, bool newline) {
  if (tty_) {
    // Spaces over what is left of a longer line drawn before.
    std::string text = "\r" + line;
    if (drawn_width_ > line.size()) text.append(drawn_width_ - line.size(), ' ');
    drawn_width_ = std::max(drawn_width_, line.size());
    if (newline) {
      text += '\n';
      drawn_width_ = 0;
    }
    std::fputs(text.c_str(), out_);
  } else {
    std::fputs((line + "\n").c_str(), out_);
  }
  std::fflush(out_);
}

}  // namespace hygie
