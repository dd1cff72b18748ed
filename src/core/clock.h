#pragma once
// Clock: the source of time, behind an interface so tests can move time at will.
// SystemClock is thread-safe; FakeClock is thread-safe (atomic).

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace hygie {

class Clock {
 public:
  virtual ~Clock() = default;
  // Microseconds since the Unix epoch, UTC.
  virtual int64_t NowMicros() const = 0;
  int64_t NowSeconds() const { return NowMicros() / 1000000; }
};

class SystemClock final : public Clock {
 public:
  int64_t NowMicros() const override;
  static const SystemClock& Get();
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t micros) : now_(micros) {}
  int64_t NowMicros() const override { return now_.load(); }
  void Set(int64_t micros) { now_.store(micros); }
  void Advance(int64_t micros) { now_.fetch_add(micros); }

 private:
  std::atomic<int64_t> now_;
};

// FHIR instant with millisecond precision, e.g. "2026-11-25T04:05:29.123Z".
std::string FormatInstant(int64_t micros);
// RFC 7231 IMF-fixdate, e.g. "Wed, 25 Nov 2026 04:05:29 GMT" (for Last-Modified).
std::string FormatHttpDate(int64_t micros);
// Parses a FHIR instant/dateTime with a time zone ("2026-11-25T04:05:29.123+01:00", "...Z")
// or a bare date ("2026-11-25", taken as 00:00 UTC) into microseconds since the epoch.
Result<int64_t> ParseInstant(std::string_view text);

}  // namespace hygie
