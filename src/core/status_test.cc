#include "core/status.h"

#include <gtest/gtest.h>

#include "core/bytes.h"
#include "core/clock.h"

namespace hygie {
namespace {

Result<int> Half(int v) {
  if (v % 2 != 0) return InvalidArgument("odd");
  return v / 2;
}

Result<int> Quarter(int v) {
  HYGIE_ASSIGN_OR_RETURN(int h, Half(v));
  return Half(h);
}

TEST(StatusTest, ResultCarriesValueOrError) {
  EXPECT_EQ(*Quarter(8), 2);
  Result<int> r = Quarter(6);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().ToString(), "invalid-argument: odd");
}

TEST(StatusTest, ResultFromOkStatusIsInternalError) {
  Result<int> r{Status::Ok()};
  EXPECT_EQ(r.status().code(), Code::kInternal);
}

TEST(BytesTest, HexRoundTrip) {
  Bytes b = {0x00, 0x7f, 0xff, 0x10};
  EXPECT_EQ(HexEncode(b), "007fff10");
  EXPECT_EQ(*HexDecode("007FFF10"), b);
  EXPECT_FALSE(HexDecode("0").ok());
  EXPECT_FALSE(HexDecode("zz").ok());
}

TEST(ClockTest, FormatsAndParsesInstants) {
  EXPECT_EQ(FormatInstant(0), "1970-01-01T00:00:00.000Z");
  int64_t t = *ParseInstant("2026-11-25T04:05:29.123Z");
  EXPECT_EQ(FormatInstant(t), "2026-11-25T04:05:29.123Z");
  EXPECT_EQ(*ParseInstant("2026-11-25T05:05:29.123+01:00"), t);
  EXPECT_EQ(*ParseInstant("2024-02-29"), *ParseInstant("2024-02-29T00:00:00Z"));
  EXPECT_EQ(FormatHttpDate(t), "Wed, 25 Nov 2026 04:05:29 GMT");
  EXPECT_FALSE(ParseInstant("2023-02-29").ok());
  EXPECT_FALSE(ParseInstant("2026-11-25T04:05:29").ok());
  EXPECT_FALSE(ParseInstant("2026-13-01").ok());
  EXPECT_FALSE(ParseInstant("2026-11-25T04:05:29Zjunk").ok());
}

TEST(ClockTest, FakeClockMoves) {
  FakeClock c(1000);
  c.Advance(500);
  EXPECT_EQ(c.NowMicros(), 1500);
}

}  // namespace
}  // namespace hygie
