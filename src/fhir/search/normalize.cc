#include "fhir/search/normalize.h"

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdlib>

namespace hygie::fhir::search {
namespace {

// Decodes one code point of valid UTF-8 at text[*pos], advancing *pos. Invalid bytes are taken
// as one code point each (U+FFFD), so the function always advances.
char32_t DecodeOne(std::string_view text, size_t* pos) {
  auto b = static_cast<unsigned char>(text[*pos]);
  size_t len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
  if (len == 0 || *pos + len > text.size()) {
    ++*pos;
    return 0xFFFD;
  }
  char32_t cp = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
  for (size_t i = 1; i < len; ++i) {
    cp = (cp << 6) | (static_cast<unsigned char>(text[*pos + i]) & 0x3F);
  }
  *pos += len;
  return cp;
}

void AppendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Base letters of U+00C0..U+017F (Latin-1 Supplement letters and Latin Extended-A), lower case;
// '\0' where the code point is not a letter with a plain base (×, ÷) and a two-letter folding
// is handled apart.
constexpr char kLatinBase[] =
    "aaaaaaaceeeeiiiidnooooo\0ouuuuyts"                                         // U+00C0..U+00DF
    "aaaaaaaceeeeiiiidnooooo\0ouuuuyty"                                         // U+00E0..U+00FF
    "aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiiiiijjkkk"                 // U+0100..U+0138
    "llllllllllnnnnnnnnnoooooooorrrrrrssssssssttttttuuuuuuuuuuuuwwyyyzzzzzzs";  // ..U+017F
static_assert(sizeof(kLatinBase) == 0x180 - 0xC0 + 1);

// Folds one code point into `out`: lower case, accents removed for Latin letters.
void Fold(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp));
    return;
  }
  switch (cp) {
    case 0xC6:
    case 0xE6:
      out->append("ae");
      return;
    case 0x152:
    case 0x153:
      out->append("oe");
      return;
    case 0xDF:
      out->append("ss");
      return;
    case 0x132:
    case 0x133:
      out->append("ij");
      return;
    default:
      break;
  }
  if (cp >= 0xC0 && cp <= 0x17F) {
    char base = kLatinBase[cp - 0xC0];
    if (base != '\0') {
      out->push_back(base);
      return;
    }
  }
  // Greek and Cyrillic capitals to lower case; everything else unchanged.
  if ((cp >= 0x391 && cp <= 0x3A9) || (cp >= 0x410 && cp <= 0x42F)) {
    cp += 0x20;
  } else if (cp >= 0x400 && cp <= 0x40F) {
    cp += 0x50;
  }
  AppendUtf8(cp, out);
}

bool IsSpace(char32_t cp) {
  return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == 0xA0 || cp == 0x202F;
}

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

int64_t DaysFrom(int y, unsigned m, unsigned d) {
  using namespace std::chrono;
  return sys_days(year_month_day(year(y), month(m), day(d))).time_since_epoch().count();
}

}  // namespace

std::string NormalizeString(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  bool pending_space = false;
  while (pos < text.size()) {
    char32_t cp = DecodeOne(text, &pos);
    if (IsSpace(cp)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    Fold(cp, &out);
  }
  return out;
}

std::vector<size_t> PrefixLengths(std::string_view utf8, size_t max_chars) {
  std::vector<size_t> lengths;
  size_t pos = 0;
  while (pos < utf8.size() && lengths.size() < max_chars) {
    DecodeOne(utf8, &pos);
    lengths.push_back(pos);
  }
  return lengths;
}

bool IsValidUtf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    auto b = static_cast<unsigned char>(text[i]);
    if (b < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    char32_t cp = 0;
    char32_t min = 0;
    if ((b >> 5) == 6) {
      len = 2, cp = b & 0x1F, min = 0x80;
    } else if ((b >> 4) == 14) {
      len = 3, cp = b & 0x0F, min = 0x800;
    } else if ((b >> 3) == 30) {
      len = 4, cp = b & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (i + len > text.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      auto c = static_cast<unsigned char>(text[i + k]);
      if ((c >> 6) != 2) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

size_t CodePointCount(std::string_view utf8) {
  size_t n = 0;
  size_t pos = 0;
  while (pos < utf8.size()) {
    DecodeOne(utf8, &pos);
    ++n;
  }
  return n;
}

Result<TimeRange> ParseDateRange(std::string_view s) {
  auto bad = [] { return InvalidArgument("not a FHIR date, dateTime or instant"); };
  int y = 0, mo = 1, d = 1, h = 0, mi = 0, sec = 0;
  if (!Digits(s, 0, 4, &y)) return bad();
  // Precision, as the length of the unit the value covers, in microseconds (months and years
  // are computed from the calendar).
  enum { kYear, kMonth, kDay, kMinute, kSecond, kFraction } precision = kYear;
  size_t pos = 4;
  if (pos < s.size()) {
    if (s[pos] != '-' || !Digits(s, pos + 1, 2, &mo) || mo < 1 || mo > 12) return bad();
    pos += 3;
    precision = kMonth;
  }
  if (pos < s.size()) {
    if (s[pos] != '-' || !Digits(s, pos + 1, 2, &d) || d < 1) return bad();
    using namespace std::chrono;
    if (!year_month_day(year(y), month(static_cast<unsigned>(mo)), day(static_cast<unsigned>(d)))
             .ok()) {
      return bad();
    }
    pos += 3;
    precision = kDay;
  }
  int64_t frac_us = 0;
  int64_t frac_unit = 1;
  int64_t offset_s = 0;
  if (pos < s.size()) {
    if (s[pos] != 'T' || !Digits(s, pos + 1, 2, &h) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !Digits(s, pos + 4, 2, &mi) || h > 24 || mi > 59) {
      return bad();
    }
    pos += 6;
    precision = kMinute;
    if (pos < s.size() && s[pos] == ':') {
      if (!Digits(s, pos + 1, 2, &sec) || sec > 60) return bad();
      pos += 3;
      precision = kSecond;
      if (pos < s.size() && s[pos] == '.') {
        ++pos;
        size_t start = pos;
        int64_t scale = 100000;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
          if (scale > 0) {
            frac_us += (s[pos] - '0') * scale;
            frac_unit = scale;
          }
          scale /= 10;
          ++pos;
        }
        if (pos == start) return bad();
        precision = kFraction;
      }
    }
    if (pos < s.size()) {
      if (s[pos] == 'Z') {
        ++pos;
      } else if (s[pos] == '+' || s[pos] == '-') {
        int oh = 0, om = 0;
        if (!Digits(s, pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
            !Digits(s, pos + 4, 2, &om) || oh > 14 || om > 59) {
          return bad();
        }
        offset_s = (oh * 3600 + om * 60) * (s[pos] == '+' ? 1 : -1);
        pos += 6;
      } else {
        return bad();
      }
    }
    if (pos != s.size()) return bad();
  }
  constexpr int64_t kUs = 1000000;
  int64_t start_days = DaysFrom(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  int64_t lo = (start_days * 86400 + h * 3600 + mi * 60 + sec - offset_s) * kUs + frac_us;
  int64_t hi = 0;
  switch (precision) {
    case kYear:
      hi = DaysFrom(y + 1, 1, 1) * 86400 * kUs - 1;
      break;
    case kMonth:
      hi = (mo == 12 ? DaysFrom(y + 1, 1, 1) : DaysFrom(y, static_cast<unsigned>(mo + 1), 1)) *
               86400 * kUs -
           1;
      break;
    case kDay:
      hi = lo + 86400 * kUs - 1;
      break;
    case kMinute:
      hi = lo + 60 * kUs - 1;
      break;
    case kSecond:
      hi = lo + kUs - 1;
      break;
    case kFraction:
      hi = lo + frac_unit - 1;
      break;
  }
  return TimeRange{lo, hi};
}

Result<NumberValue> ParseNumber(std::string_view s) {
  auto bad = [] { return InvalidArgument("not a number"); };
  if (s.empty() || s.size() > 64) return bad();
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v)) return bad();
  // Precision: the unit of the last significant digit, times the exponent.
  size_t e = s.find_first_of("eE");
  std::string_view mantissa = s.substr(0, e);
  int exponent = 0;
  if (e != std::string_view::npos) {
    std::string_view ex = s.substr(e + 1);
    if (!ex.empty() && ex[0] == '+') ex.remove_prefix(1);
    auto [q, ec2] = std::from_chars(ex.data(), ex.data() + ex.size(), exponent);
    if (ec2 != std::errc() || q != ex.data() + ex.size()) return bad();
  }
  int decimals = 0;
  size_t dot = mantissa.find('.');
  if (dot != std::string_view::npos) decimals = static_cast<int>(mantissa.size() - dot - 1);
  double half = 0.5 * std::pow(10.0, exponent - decimals);
  return NumberValue{v, v - half, v + half};
}

}  // namespace hygie::fhir::search
