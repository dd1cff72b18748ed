#pragma once
// Normalization of search values, shared by the indexer (values in resources) and the query
// planner (values in URLs), so that both sides hash and compare the same forms.
// Stateless free functions; thread-safe.

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace hygie::fhir::search {

// String search form: lower case, accents removed from Latin letters (é -> e, Ç -> c, œ -> oe,
// ß -> ss), runs of white space folded to one space, trimmed. Other characters are kept as they
// are. Input must be valid UTF-8 (parsed resources and decoded URLs are checked for it).
std::string NormalizeString(std::string_view text);

// The byte lengths of the first 1..max_chars code-point prefixes of a UTF-8 string (the last one
// is the whole string when it has at most max_chars code points).
std::vector<size_t> PrefixLengths(std::string_view utf8, size_t max_chars);
// True for well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
bool IsValidUtf8(std::string_view text);
// Number of code points of a UTF-8 string.
size_t CodePointCount(std::string_view utf8);

// Inclusive range of instants, microseconds since the epoch.
struct TimeRange {
  int64_t lo = std::numeric_limits<int64_t>::min();
  int64_t hi = std::numeric_limits<int64_t>::max();
};

// The range a FHIR date, dateTime or instant covers, from its precision: "2020" is the whole
// year, "2020-03-05" the day, "2020-03-05T10:00:00Z" the second, "...:00.250Z" the millisecond.
// A time without a zone is taken as UTC. Search values may omit seconds ("2020-03-05T10:00").
// kInvalidArgument for anything else.
Result<TimeRange> ParseDateRange(std::string_view text);

// A decimal search or index value: its value and the range its precision implies ("100" is
// [99.5, 100.5], "1.50" is [1.495, 1.505], "1e2" is [50, 150]).
struct NumberValue {
  double value = 0;
  double lo = 0;
  double hi = 0;
};
Result<NumberValue> ParseNumber(std::string_view text);

}  // namespace hygie::fhir::search
