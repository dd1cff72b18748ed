#pragma once
// Search planning: turns FHIR search parameters (already split and percent-decoded) into a
// storage::SearchQuery over the blind index, plus what the API applies around it (includes,
// paging, totals, summaries). Implements the R4 search rules Hygie supports:
//   - parameter types string (starts-with, case- and accent-insensitive; :exact), token
//     (code, system|code, |code, system|; :not), reference (Type/id, id, absolute URL, :Type,
//     one level of chaining: subject:Patient.identifier=..., subject.name=...), date (prefixes
//     eq ne gt lt ge le sa eb ap, precision ranges), number, quantity (number|system|code), uri;
//     :missing on all; AND by repeating a parameter, OR by commas (\, escapes a comma);
//   - _id, _lastUpdated, _tag, _profile, _security, _type (system level);
//   - _count, _sort (with -; _id, _lastUpdated, date, number and quantity parameters), _total,
//     _summary (count, data, text, false), _elements, _include and _revinclude (with :iterate),
//     paging parameters _cursor and _offset written by the server into `next` links.
// Unknown parameters are ignored with a warning (lenient handling, the default) or refused
// (strict). Known parameters this server cannot honour (composite, :contains, :text, :in, ...)
// are refused: ignoring them would return data the client did not ask for.
// Stateless; thread-safe.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "crypto/keyed_hash.h"
#include "fhir/outcome.h"
#include "storage/store.h"

namespace hygie::fhir::search {

struct IncludeSpec {
  std::string source_type;  // the type whose reference parameter is followed
  std::string param;        // a reference parameter of source_type; "*" for all of them
  std::string target_type;  // optional restriction of the target type
  bool iterate = false;     // also applied (once) to the included resources
};

// A string parameter whose value (or one of whose OR values) is not of an indexed prefix length
// (index_keys.h), or any :exact one: the candidates found by the longest indexed prefix must be
// checked against the resource (one of its normalized values starts with one of `normalized`).
struct StringCheck {
  std::string type;
  std::string param;
  std::vector<std::string> normalized;  // OR
  // :exact: `normalized` holds the values as written, and one of the resource's values must
  // equal one of them (the index keeps only normalized prefixes).
  bool exact = false;
};

enum class TotalMode { kNone, kEstimate, kAccurate };

struct SearchPlan {
  storage::SearchQuery query;  // paging and limit filled from _cursor/_offset/_count
  size_t count = 0;            // page size asked (0: only the total, as _summary=count)
  TotalMode total = TotalMode::kNone;
  bool summary_count = false;
  std::string summary;                // "", "data", "text", "false"
  std::vector<std::string> elements;  // _elements (top-level names)
  std::vector<IncludeSpec> includes;
  std::vector<IncludeSpec> revincludes;
  std::vector<StringCheck> checks;
  std::vector<Issue> warnings;  // unknown parameters ignored
  // The parameters that define the search (no paging), as given, to rebuild self/next links.
  std::vector<std::pair<std::string, std::string>> link_params;
};

// Resolves one chained step: the ids of current resources of `type` matching `query` and passing
// `checks` (string values longer than the indexed prefixes, checked on the resources), at most
// `limit` + 1, so the planner can tell when there are too many.
using ChainResolver = std::function<Result<std::vector<std::string>>(
    const storage::SearchQuery& query, const std::vector<StringCheck>& checks)>;

struct PlanInput {
  std::string type;  // empty: system-level search
  std::vector<std::pair<std::string, std::string>> params;
  std::string tenant;
  const crypto::KeyedHasher* hasher = nullptr;
  bool strict = false;  // Prefer: handling=strict
  // Patient compartment search (GET Patient/{id}/{type}): the patient's id.
  std::string compartment_patient;
  ChainResolver resolve_chain;
  size_t default_count = 50;
  size_t max_count = 1000;
  size_t max_chain_ids = 1000;
  int64_t now_us = 0;  // for ap on dates
};

// kInvalidArgument (400) with a message naming the parameter for any refused input.
Result<SearchPlan> PlanSearch(const PlanInput& input);

// Splits a parameter value on unescaped commas and unescapes \, \| \$ \\ .
std::vector<std::string> SplitOr(std::string_view value);

}  // namespace hygie::fhir::search
