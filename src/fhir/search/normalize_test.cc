#include "fhir/search/normalize.h"

#include <gtest/gtest.h>

namespace hygie::fhir::search {
namespace {

TEST(NormalizeStringTest, FoldsCaseAccentsAndSpaces) {
  EXPECT_EQ(NormalizeString("Léa"), "lea");
  EXPECT_EQ(NormalizeString("  ÉLOÏSE   Dupont-Müller "), "eloise dupont-muller");
  EXPECT_EQ(NormalizeString("Œuvre Straße Æsir"), "oeuvre strasse aesir");
  EXPECT_EQ(NormalizeString("Çà ñ ÿ Ž ł"), "ca n y z l");
  EXPECT_EQ(NormalizeString("ΑΒΓ Жук"), "αβγ жук");
  EXPECT_EQ(NormalizeString("×"), "×");  // not a letter: kept
  EXPECT_EQ(NormalizeString(""), "");
}

TEST(NormalizeStringTest, SurvivesInvalidUtf8) {
  std::string bad = "a\xff\xc3";
  EXPECT_FALSE(IsValidUtf8(bad));
  EXPECT_FALSE(NormalizeString(bad).empty());
}

TEST(Utf8Test, Validity) {
  EXPECT_TRUE(IsValidUtf8("héllo 😀"));
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_EQ(CodePointCount("héllo"), 5u);
  std::vector<size_t> p = PrefixLengths("hé!", 2);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0], 1u);
  EXPECT_EQ(p[1], 3u);
}

int64_t Us(int64_t seconds) { return seconds * 1000000; }

TEST(DateRangeTest, PrecisionGivesTheRange) {
  auto year = ParseDateRange("2020");
  ASSERT_TRUE(year.ok());
  EXPECT_EQ(year->lo, Us(1577836800));      // 2020-01-01T00:00:00Z
  EXPECT_EQ(year->hi, Us(1609459200) - 1);  // up to 2021-01-01 excluded
  auto month = ParseDateRange("2020-02");
  ASSERT_TRUE(month.ok());
  EXPECT_EQ(month->hi - month->lo + 1, Us(29 * 86400));  // leap February
  auto dec = ParseDateRange("2019-12");
  ASSERT_TRUE(dec.ok());
  EXPECT_EQ(dec->hi + 1, year->lo);
  auto day = ParseDateRange("2020-03-05");
  ASSERT_TRUE(day.ok());
  EXPECT_EQ(day->hi - day->lo + 1, Us(86400));
  auto sec = ParseDateRange("2020-03-05T10:00:00+01:00");
  ASSERT_TRUE(sec.ok());
  EXPECT_EQ(sec->lo, day->lo + Us(9 * 3600));
  EXPECT_EQ(sec->hi - sec->lo + 1, Us(1));
  auto minute = ParseDateRange("2020-03-05T10:00");
  ASSERT_TRUE(minute.ok());
  EXPECT_EQ(minute->hi - minute->lo + 1, Us(60));
  auto ms = ParseDateRange("2020-03-05T10:00:00.250Z");
  ASSERT_TRUE(ms.ok());
  EXPECT_EQ(ms->lo, day->lo + Us(10 * 3600) + 250000);
  EXPECT_EQ(ms->hi - ms->lo + 1, 1000);
}

TEST(DateRangeTest, RefusesMalformed) {
  for (const char* bad : {"", "20", "2020-13", "2020-02-30", "2020-01-01T25:00", "2020-01-01X",
                          "2020-01-01T10:00:00+1", "abcd", "2020-1-01", "2020-01-01T10:00:00.Z"}) {
    EXPECT_FALSE(ParseDateRange(bad).ok()) << bad;
  }
}

TEST(NumberTest, ImplicitPrecision) {
  auto n = ParseNumber("100");
  ASSERT_TRUE(n.ok());
  EXPECT_DOUBLE_EQ(n->lo, 99.5);
  EXPECT_DOUBLE_EQ(n->hi, 100.5);
  auto d = ParseNumber("1.50");
  ASSERT_TRUE(d.ok());
  EXPECT_NEAR(d->lo, 1.495, 1e-12);
  EXPECT_NEAR(d->hi, 1.505, 1e-12);
  auto e = ParseNumber("1e2");
  ASSERT_TRUE(e.ok());
  EXPECT_DOUBLE_EQ(e->value, 100);
  EXPECT_DOUBLE_EQ(e->lo, 50);
  EXPECT_DOUBLE_EQ(e->hi, 150);
  EXPECT_TRUE(ParseNumber("-0.5").ok());
  for (const char* bad : {"", "abc", "1.2.3", "1e", "nan", "inf", "1,5"}) {
    EXPECT_FALSE(ParseNumber(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace hygie::fhir::search
