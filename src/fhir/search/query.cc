#include "fhir/search/query.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "fhir/r4/definitions.h"
#include "fhir/resource.h"
#include "fhir/search/index_keys.h"
#include "fhir/search/indexer.h"
#include "fhir/search/normalize.h"

namespace hygie::fhir::search {
namespace {

using r4::SearchParamDef;
using r4::SearchParamType;
using storage::RangeCmp;
using storage::SearchClause;
using storage::SearchTerm;

constexpr size_t kMaxOrValues = 100;
constexpr size_t kMaxParams = 64;

Status Bad(std::string_view param, std::string_view why) {
  return InvalidArgument("search parameter '" + std::string(param) + "': " + std::string(why));
}

// Splits on the first unescaped '|'; unescapes nothing else (SplitOr already did).
std::vector<std::string> SplitBar(std::string_view v) {
  std::vector<std::string> parts(1);
  for (char c : v) {
    if (c == '|') {
      parts.emplace_back();
    } else {
      parts.back().push_back(c);
    }
  }
  return parts;
}

enum class Prefix { kEq, kNe, kGt, kLt, kGe, kLe, kSa, kEb, kAp };

Prefix TakePrefix(std::string_view* v) {
  static constexpr std::pair<std::string_view, Prefix> kPrefixes[] = {
      {"eq", Prefix::kEq}, {"ne", Prefix::kNe}, {"gt", Prefix::kGt},
      {"lt", Prefix::kLt}, {"ge", Prefix::kGe}, {"le", Prefix::kLe},
      {"sa", Prefix::kSa}, {"eb", Prefix::kEb}, {"ap", Prefix::kAp}};
  if (v->size() > 2) {
    for (const auto& [text, p] : kPrefixes) {
      if (v->substr(0, 2) == text) {
        v->remove_prefix(2);
        return p;
      }
    }
  }
  return Prefix::kEq;
}

RangeCmp Cmp(RangeCmp::Column col, RangeCmp::Op op, int64_t instant, double number) {
  RangeCmp c;
  c.column = col;
  c.op = op;
  c.instant = instant;
  c.number = number;
  return c;
}

// Range conditions of a date prefix; *negate set for ne.
std::vector<std::vector<RangeCmp>> DateConditions(Prefix p, TimeRange q, int64_t now_us,
                                                  bool* negate) {
  using C = RangeCmp;
  auto eq = std::vector<RangeCmp>{Cmp(C::kLo, C::kGe, q.lo, 0), Cmp(C::kHi, C::kLe, q.hi, 0)};
  *negate = false;
  switch (p) {
    case Prefix::kEq:
      return {eq};
    case Prefix::kNe:
      *negate = true;
      return {eq};
    case Prefix::kGt:
      return {{Cmp(C::kHi, C::kGt, q.hi, 0)}};
    case Prefix::kLt:
      return {{Cmp(C::kLo, C::kLt, q.lo, 0)}};
    case Prefix::kGe:
      return {{Cmp(C::kHi, C::kGt, q.hi, 0)}, eq};
    case Prefix::kLe:
      return {{Cmp(C::kLo, C::kLt, q.lo, 0)}, eq};
    case Prefix::kSa:
      return {{Cmp(C::kLo, C::kGt, q.hi, 0)}};
    case Prefix::kEb:
      return {{Cmp(C::kHi, C::kLt, q.lo, 0)}};
    case Prefix::kAp: {
      // Approximately: within 10% of the distance between the value and now, at least a day.
      int64_t distance = q.lo > now_us ? q.lo - now_us : now_us - q.lo;
      int64_t slack = std::max<int64_t>(distance / 10, int64_t{86400} * 1000000);
      int64_t lo = q.lo > std::numeric_limits<int64_t>::min() + slack ? q.lo - slack : q.lo;
      int64_t hi = q.hi < std::numeric_limits<int64_t>::max() - slack ? q.hi + slack : q.hi;
      return {{Cmp(C::kLo, C::kLe, hi, 0), Cmp(C::kHi, C::kGe, lo, 0)}};
    }
  }
  return {eq};
}

// Number entries are points (lo = hi = value).
std::vector<std::vector<RangeCmp>> NumberConditions(Prefix p, const NumberValue& q, bool* negate) {
  using C = RangeCmp;
  auto eq = std::vector<RangeCmp>{Cmp(C::kLo, C::kGe, 0, q.lo), Cmp(C::kHi, C::kLe, 0, q.hi)};
  *negate = false;
  switch (p) {
    case Prefix::kEq:
      return {eq};
    case Prefix::kNe:
      *negate = true;
      return {eq};
    case Prefix::kGt:
    case Prefix::kSa:
      return {{Cmp(C::kLo, C::kGt, 0, q.value)}};
    case Prefix::kLt:
    case Prefix::kEb:
      return {{Cmp(C::kHi, C::kLt, 0, q.value)}};
    case Prefix::kGe:
      return {{Cmp(C::kHi, C::kGe, 0, q.value)}};
    case Prefix::kLe:
      return {{Cmp(C::kLo, C::kLe, 0, q.value)}};
    case Prefix::kAp: {
      double slack = std::fabs(q.value) * 0.1;
      return {{Cmp(C::kLo, C::kGe, 0, q.value - slack), Cmp(C::kHi, C::kLe, 0, q.value + slack)}};
    }
  }
  return {eq};
}

bool IsResultParam(std::string_view name) {
  static constexpr std::string_view kNames[] = {
      "_count",   "_sort",       "_total",  "_summary",   "_elements",
      "_include", "_revinclude", "_format", "_pretty",    "_cursor",
      "_offset",  "_snapshot",   "_type",   "_contained", "_containedType"};
  for (std::string_view n : kNames) {
    if (name == n) return true;
  }
  return name.starts_with("_include:") || name.starts_with("_revinclude:");
}

class Planner {
 public:
  explicit Planner(const PlanInput& in) : in_(in) {}

  Result<SearchPlan> Run();

 private:
  Status ResultParam(const std::string& name, const std::string& value);
  Status FilterParam(const std::string& name, const std::string& value);
  // One parameter (possibly chained) over one type: its terms, appended to `clause`.
  Status Terms(std::string_view type, const SearchParamDef& def, std::string_view modifier,
               const std::vector<std::string>& values, std::string_view display,
               SearchClause* clause);
  Status ParseInclude(const std::string& name, const std::string& value, bool reverse);
  uint64_t H(std::string_view type, std::string_view param, HashKind kind, std::string_view a = {},
             std::string_view b = {}) const {
    return IndexHash(*in_.hasher, type, param, kind, a, b);
  }

  const PlanInput& in_;
  SearchPlan plan_;
  std::vector<std::string> types_;  // the types searched
};

Status Planner::ParseInclude(const std::string& name, const std::string& value, bool reverse) {
  IncludeSpec spec;
  spec.iterate = name.ends_with(":iterate") || name.ends_with(":recurse");
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t colon = value.find(':', start);
    parts.push_back(value.substr(start, colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  if (parts.size() < 2 || parts.size() > 3) {
    return Bad(name, "must be SourceType:parameter[:TargetType]");
  }
  spec.source_type = parts[0];
  spec.param = parts[1];
  if (parts.size() == 3) spec.target_type = parts[2];
  if (!IsResourceType(spec.source_type)) return Bad(name, "unknown resource type");
  if (!spec.target_type.empty() && !IsResourceType(spec.target_type)) {
    return Bad(name, "unknown target resource type");
  }
  if (spec.param != "*") {
    const SearchParamDef* def = r4::FindSearchParam(spec.source_type, spec.param);
    if (def == nullptr || def->type != SearchParamType::kReference) {
      return Bad(name, "'" + spec.param + "' is not a reference parameter of " + spec.source_type);
    }
  } else if (reverse) {
    return Bad(name, "_revinclude needs a named parameter");
  }
  if (!reverse && !spec.iterate && !types_.empty() &&
      std::find(types_.begin(), types_.end(), spec.source_type) == types_.end()) {
    return Bad(name, "the source type is not a type being searched");
  }
  (reverse ? plan_.revincludes : plan_.includes).push_back(std::move(spec));
  return Status::Ok();
}

Status Planner::ResultParam(const std::string& name, const std::string& value) {
  auto parse_count = [&](uint64_t* out) -> Status {
    auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), *out);
    if (value.empty() || ec != std::errc() || p != value.data() + value.size()) {
      return Bad(name, "must be a non-negative integer");
    }
    return Status::Ok();
  };
  if (name == "_count") {
    uint64_t n = 0;
    HYGIE_RETURN_IF_ERROR(parse_count(&n));
    plan_.count = std::min<uint64_t>(n, in_.max_count);
  } else if (name == "_offset") {
    HYGIE_RETURN_IF_ERROR(parse_count(&plan_.query.offset));
    return Status::Ok();  // paging: not part of link_params
  } else if (name == "_cursor") {
    HYGIE_RETURN_IF_ERROR(parse_count(&plan_.query.after_rowid));
    return Status::Ok();
  } else if (name == "_snapshot") {
    HYGIE_RETURN_IF_ERROR(parse_count(&plan_.query.max_rowid));
    return Status::Ok();
  } else if (name == "_total") {
    if (value == "none") {
      plan_.total = TotalMode::kNone;
    } else if (value == "estimate") {
      plan_.total = TotalMode::kEstimate;
    } else if (value == "accurate") {
      plan_.total = TotalMode::kAccurate;
    } else {
      return Bad(name, "must be none, estimate or accurate");
    }
  } else if (name == "_summary") {
    if (value == "count") {
      plan_.summary_count = true;
    } else if (value == "data" || value == "text" || value == "false") {
      plan_.summary = value;
    } else if (value == "true") {
      return Bad(name, "_summary=true is not supported; use _elements");
    } else {
      return Bad(name, "must be count, data, text or false");
    }
  } else if (name == "_elements") {
    for (const std::string& e : SplitOr(value)) {
      std::string_view v = e;
      if (size_t dot = v.find('.'); dot != std::string_view::npos) v = v.substr(dot + 1);
      if (v.empty()) return Bad(name, "empty element name");
      plan_.elements.emplace_back(v);
    }
  } else if (name == "_sort") {
    for (std::string key : SplitOr(value)) {
      storage::SortKey sk;
      if (!key.empty() && key[0] == '-') {
        sk.descending = true;
        key.erase(0, 1);
      }
      if (key == "_lastUpdated") {
        sk.kind = storage::SortKey::kLastUpdated;
      } else if (key == "_id") {
        sk.kind = storage::SortKey::kId;
      } else {
        if (types_.size() != 1) return Bad(name, "sorting across types is by _id or _lastUpdated");
        const SearchParamDef* def = r4::FindSearchParam(types_[0], key);
        if (def == nullptr) return Bad(name, "unknown parameter '" + key + "'");
        if (def->type == SearchParamType::kDate) {
          sk.kind = storage::SortKey::kDate;
          sk.key = H(types_[0], def->code, HashKind::kDateKey);
        } else if (def->type == SearchParamType::kNumber ||
                   def->type == SearchParamType::kQuantity) {
          sk.kind = storage::SortKey::kNumber;
          sk.key = H(types_[0], def->code, HashKind::kNumberKey);
        } else {
          return Bad(name,
                     "sorting is supported on _id, _lastUpdated, date, number and "
                     "quantity parameters (the index keeps no clear strings or codes)");
        }
      }
      plan_.query.sort.push_back(sk);
    }
  } else if (name == "_include" || name.starts_with("_include:")) {
    HYGIE_RETURN_IF_ERROR(ParseInclude(name, value, false));
  } else if (name == "_revinclude" || name.starts_with("_revinclude:")) {
    HYGIE_RETURN_IF_ERROR(ParseInclude(name, value, true));
  } else if (name == "_format" || name == "_pretty" || name == "_type") {
    // _format is checked by the API; _pretty changes nothing; _type was read before.
  } else {
    return Bad(name, "is not supported");
  }
  plan_.link_params.emplace_back(name, value);
  return Status::Ok();
}

Status Planner::Terms(std::string_view type, const SearchParamDef& def, std::string_view modifier,
                      const std::vector<std::string>& values, std::string_view display,
                      SearchClause* clause) {
  const std::string_view code = def.code;
  auto hash_term = [&](std::vector<uint64_t> hashes, bool negate) {
    SearchTerm t;
    t.kind = SearchTerm::kHash;
    t.hashes = std::move(hashes);
    t.negate = negate;
    clause->push_back(std::move(t));
  };
  if (modifier == "missing") {
    if (values.size() != 1 || (values[0] != "true" && values[0] != "false")) {
      return Bad(display, ":missing takes true or false");
    }
    if (code == "_id" || code == "_lastUpdated") {
      // Every resource has both.
      if (values[0] == "true")
        clause->push_back(SearchTerm{SearchTerm::kNone});
      else
        clause->push_back(SearchTerm{SearchTerm::kId, true});  // NOT id IN () = all
      return Status::Ok();
    }
    const std::string_view present_code =
        def.type == SearchParamType::kString ? Indexer::Get().IndexedCode(type, code) : code;
    hash_term({H(type, present_code, HashKind::kPresent)}, values[0] == "true");
    return Status::Ok();
  }
  if (code == "_id") {
    if (!modifier.empty() && modifier != "not") return Bad(display, "unsupported modifier");
    SearchTerm t;
    t.kind = SearchTerm::kId;
    t.negate = modifier == "not";
    for (const std::string& v : values) {
      if (!IsValidId(v)) return Bad(display, "not a valid id");
      t.ids.push_back(v);
    }
    clause->push_back(std::move(t));
    return Status::Ok();
  }
  if (code == "_lastUpdated") {
    if (!modifier.empty()) return Bad(display, "unsupported modifier");
    for (const std::string& raw : values) {
      std::string_view v = raw;
      Prefix p = TakePrefix(&v);
      auto r = ParseDateRange(v);
      if (!r.ok()) return Bad(display, "not a valid date");
      SearchTerm t;
      t.kind = SearchTerm::kLastUpdated;
      t.ranges = DateConditions(p, *r, in_.now_us, &t.negate);
      clause->push_back(std::move(t));
    }
    return Status::Ok();
  }
  switch (def.type) {
    case SearchParamType::kToken: {
      if (!modifier.empty() && modifier != "not") {
        return Bad(display, "modifier ':" + std::string(modifier) + "' is not supported on tokens");
      }
      std::vector<uint64_t> hashes;
      for (const std::string& v : values) {
        std::vector<std::string> parts = SplitBar(v);
        if (parts.size() > 2) return Bad(display, "a token is [system|]code");
        if (parts.size() == 1) {
          if (parts[0].empty()) return Bad(display, "empty value");
          hashes.push_back(H(type, code, HashKind::kTokenCode, parts[0]));
        } else if (parts[0].empty()) {
          if (parts[1].empty()) return Bad(display, "empty value");
          hashes.push_back(H(type, code, HashKind::kTokenNoSystem, parts[1]));
        } else if (parts[1].empty()) {
          hashes.push_back(H(type, code, HashKind::kTokenSystem, parts[0]));
        } else {
          hashes.push_back(H(type, code, HashKind::kTokenSystemCode, parts[0], parts[1]));
        }
      }
      hash_term(std::move(hashes), modifier == "not");
      return Status::Ok();
    }
    case SearchParamType::kString: {
      if (modifier == "contains") {
        return Bad(display,
                   ":contains is not supported: the blind index holds keyed hashes of prefixes "
                   "only (see SECURITY.md)");
      }
      if (!modifier.empty() && modifier != "exact") {
        return Bad(display, "modifier ':" + std::string(modifier) + "' is not supported");
      }
      std::vector<uint64_t> hashes;
      // The values may be indexed under another parameter: one with the same expression, or
      // one whose values include them (then every candidate is checked).
      bool covered = false;
      const std::string_view hcode = Indexer::Get().HashedCode(type, code, &covered);
      StringCheck check{std::string(type), std::string(code), {}};
      bool needs_check = covered;
      check.exact = modifier == "exact";
      for (const std::string& v : values) {
        if (v.empty()) return Bad(display, "empty value");
        std::string norm = NormalizeString(v);
        if (check.exact) {
          // Candidates by the normalized prefix, then compared as written.
          needs_check = true;
          check.normalized.push_back(v);
          if (norm.empty()) {
            hashes.push_back(H(type, hcode, HashKind::kPresent));
            continue;
          }
        } else if (norm.empty()) {
          return Bad(display, "empty value");
        }
        // The longest indexed prefix drives; a longer value is checked on the candidates.
        std::vector<size_t> lengths = PrefixLengths(norm, kIndexedPrefixChars.back());
        const size_t chars = IndexedPrefixChars(lengths.size());
        hashes.push_back(H(type, hcode, HashKind::kStringPrefix,
                           std::string_view(norm).substr(0, lengths[chars - 1])));
        if (!check.exact) {
          needs_check |= CodePointCount(norm) != chars;
          check.normalized.push_back(std::move(norm));
        }
      }
      // One value of the OR checked means all of them are: a candidate found by another value
      // must pass the check too (for a value of an indexed length the check is what the hash
      // already ensured, up to collisions).
      if (needs_check) plan_.checks.push_back(std::move(check));
      hash_term(std::move(hashes), false);
      return Status::Ok();
    }
    case SearchParamType::kReference: {
      std::string target = std::string(modifier);
      if (!target.empty() && !IsResourceType(target)) {
        return Bad(display, "modifier ':" + target + "' is not supported on references");
      }
      std::vector<uint64_t> hashes;
      for (const std::string& v : values) {
        if (v.empty()) return Bad(display, "empty value");
        if (auto local = LocalReference(v, in_.tenant)) {
          if (!target.empty() && !local->starts_with(target + "/")) {
            return Bad(display, "the reference's type differs from the modifier's");
          }
          hashes.push_back(H(type, code, HashKind::kReference, *local));
        } else if (v.find(':') != std::string::npos) {
          hashes.push_back(H(type, code, HashKind::kUri, v));
        } else if (IsValidId(v)) {
          // A bare id: Type/id for the modifier's type, or for each target type.
          if (!target.empty()) {
            hashes.push_back(H(type, code, HashKind::kReference, target + "/" + v));
          } else {
            for (std::string_view t : def.targets) {
              hashes.push_back(H(type, code, HashKind::kReference, std::string(t) + "/" + v));
            }
            if (def.targets.empty()) {
              for (std::string_view t : ResourceTypes()) {
                hashes.push_back(H(type, code, HashKind::kReference, std::string(t) + "/" + v));
              }
            }
          }
        } else {
          return Bad(display, "not a reference (Type/id, id or URL)");
        }
      }
      hash_term(std::move(hashes), false);
      return Status::Ok();
    }
    case SearchParamType::kUri: {
      if (!modifier.empty()) {
        return Bad(display, "modifier ':" + std::string(modifier) + "' is not supported on uri");
      }
      std::vector<uint64_t> hashes;
      for (const std::string& v : values) {
        if (v.empty()) return Bad(display, "empty value");
        hashes.push_back(H(type, code, HashKind::kUri, v));
      }
      hash_term(std::move(hashes), false);
      return Status::Ok();
    }
    case SearchParamType::kDate: {
      if (!modifier.empty()) return Bad(display, "modifiers are not supported on dates");
      uint64_t key = H(type, code, HashKind::kDateKey);
      for (const std::string& raw : values) {
        std::string_view v = raw;
        Prefix p = TakePrefix(&v);
        auto r = ParseDateRange(v);
        if (!r.ok()) return Bad(display, "not a valid date");
        SearchTerm t;
        t.kind = SearchTerm::kDate;
        t.key = key;
        t.ranges = DateConditions(p, *r, in_.now_us, &t.negate);
        clause->push_back(std::move(t));
      }
      return Status::Ok();
    }
    case SearchParamType::kNumber:
    case SearchParamType::kQuantity: {
      if (!modifier.empty()) return Bad(display, "modifiers are not supported on numbers");
      for (const std::string& raw : values) {
        std::vector<std::string> parts = SplitBar(raw);
        if (parts.size() != 1 && (parts.size() != 3 || def.type == SearchParamType::kNumber)) {
          return Bad(display, def.type == SearchParamType::kNumber
                                  ? "not a number"
                                  : "a quantity is [prefix]number[|system|code]");
        }
        std::string_view v = parts[0];
        Prefix p = TakePrefix(&v);
        auto n = ParseNumber(v);
        if (!n.ok()) return Bad(display, "not a number");
        SearchTerm t;
        t.kind = SearchTerm::kNumber;
        t.key = parts.size() == 3 ? H(type, code, HashKind::kNumberKey, parts[1], parts[2])
                                  : H(type, code, HashKind::kNumberKey);
        t.ranges = NumberConditions(p, *n, &t.negate);
        clause->push_back(std::move(t));
      }
      return Status::Ok();
    }
    case SearchParamType::kComposite:
      return Bad(display, "composite parameters are not supported");
    case SearchParamType::kSpecial:
      return Bad(display, "special parameters are not supported");
  }
  return Bad(display, "unsupported parameter type");
}

Status Planner::FilterParam(const std::string& name, const std::string& value) {
  // name = code[:modifier][.chained[:modifier]]
  std::string_view full = name;
  std::string_view head = full;
  std::string_view chained;
  if (size_t dot = full.find('.'); dot != std::string_view::npos) {
    head = full.substr(0, dot);
    chained = full.substr(dot + 1);
  }
  std::string_view code = head;
  std::string_view modifier;
  if (size_t colon = head.find(':'); colon != std::string_view::npos) {
    code = head.substr(0, colon);
    modifier = head.substr(colon + 1);
  }
  std::vector<std::string> values = SplitOr(value);
  if (values.empty()) return Bad(name, "empty value");
  if (values.size() > kMaxOrValues) return Bad(name, "too many values");

  SearchClause clause;
  bool known_somewhere = false;
  for (const std::string& type : types_) {
    const SearchParamDef* def = r4::FindSearchParam(type, code);
    if (def == nullptr) continue;
    known_somewhere = true;
    if (def->code != "_id" && def->code != "_lastUpdated" &&
        Indexer::Get().ExpressionFor(type, def->code) == nullptr) {
      return Bad(name, "is not supported by this server");
    }
    if (chained.empty()) {
      HYGIE_RETURN_IF_ERROR(Terms(type, *def, modifier, values, name, &clause));
      continue;
    }
    // One level of chaining: find the targets, then match references to them.
    if (def->type != SearchParamType::kReference) {
      return Bad(name, "only reference parameters can be chained");
    }
    if (chained.find('.') != std::string_view::npos) {
      return Bad(name, "one level of chaining is supported");
    }
    std::vector<std::string_view> targets;
    if (!modifier.empty()) {
      if (std::find(def->targets.begin(), def->targets.end(), modifier) == def->targets.end()) {
        return Bad(name,
                   "'" + std::string(modifier) + "' is not a target type of " + std::string(code));
      }
      targets.push_back(modifier);
    } else {
      for (std::string_view t : def->targets) {
        std::string_view chained_code = chained.substr(0, chained.find(':'));
        if (r4::FindSearchParam(t, chained_code) != nullptr) targets.push_back(t);
      }
      if (targets.size() != 1) {
        return Bad(name, "name the target type, e.g. " + std::string(code) + ":Patient." +
                             std::string(chained));
      }
    }
    std::vector<uint64_t> hashes;
    for (std::string_view target : targets) {
      PlanInput sub;
      sub.type = std::string(target);
      sub.params = {{std::string(chained), value}};
      sub.tenant = in_.tenant;
      sub.hasher = in_.hasher;
      sub.strict = true;
      sub.now_us = in_.now_us;
      HYGIE_ASSIGN_OR_RETURN(SearchPlan sub_plan, PlanSearch(sub));
      sub_plan.query.limit = in_.max_chain_ids + 1;
      sub_plan.query.with_bodies = false;
      if (!in_.resolve_chain) return Bad(name, "chaining is not available here");
      HYGIE_ASSIGN_OR_RETURN(std::vector<std::string> ids,
                             in_.resolve_chain(sub_plan.query, sub_plan.checks));
      if (ids.size() > in_.max_chain_ids) {
        return Bad(name, "the chained search matches more than " +
                             std::to_string(in_.max_chain_ids) + " resources; narrow it");
      }
      for (const std::string& id : ids) {
        hashes.push_back(H(type, code, HashKind::kReference, std::string(target) + "/" + id));
      }
    }
    if (hashes.empty()) {
      clause.push_back(SearchTerm{SearchTerm::kNone});
    } else {
      SearchTerm t;
      t.kind = SearchTerm::kHash;
      t.hashes = std::move(hashes);
      clause.push_back(std::move(t));
    }
  }
  if (!known_somewhere) {
    std::string msg = "unknown search parameter '" + std::string(code) + "' was ignored";
    if (in_.strict) return Bad(name, "unknown parameter (refused under strict handling)");
    Issue issue;
    issue.severity = "warning";
    issue.code = "not-supported";
    issue.diagnostics = msg;
    issue.details_code = "HYGIE-SEARCH-PARAM-UNKNOWN";
    plan_.warnings.push_back(std::move(issue));
    return Status::Ok();
  }
  plan_.query.clauses.push_back(std::move(clause));
  plan_.link_params.emplace_back(name, value);
  return Status::Ok();
}

Result<SearchPlan> Planner::Run() {
  if (in_.hasher == nullptr) return Internal("search planner without index key");
  if (in_.params.size() > kMaxParams) {
    return InvalidArgument("too many search parameters (at most " + std::to_string(kMaxParams) +
                           ")");
  }
  plan_.count = in_.default_count;
  // The types searched.
  if (!in_.type.empty()) {
    types_.push_back(in_.type);
  } else {
    for (const auto& [k, v] : in_.params) {
      if (k != "_type") continue;
      for (const std::string& t : SplitOr(v)) {
        if (!IsResourceType(t)) return Bad("_type", "unknown resource type '" + t + "'");
        if (std::find(types_.begin(), types_.end(), t) == types_.end()) types_.push_back(t);
      }
    }
    if (types_.empty()) {
      for (std::string_view t : ResourceTypes()) types_.emplace_back(t);
    }
  }
  plan_.query.types = in_.type.empty() && types_.size() == ResourceTypes().size()
                          ? std::vector<std::string>{}
                          : types_;
  for (const auto& [name, value] : in_.params) {
    if (name.empty()) continue;
    if (IsResultParam(name)) {
      HYGIE_RETURN_IF_ERROR(ResultParam(name, value));
    } else if (name == "_has" || name.starts_with("_has:") || name == "_filter" ||
               name == "_query" || name == "_list") {
      return Bad(name, "is not supported by this server");
    } else {
      HYGIE_RETURN_IF_ERROR(FilterParam(name, value));
    }
  }
  if (!in_.compartment_patient.empty()) {
    if (types_.size() != 1) return InvalidArgument("a compartment search names one type");
    const std::string& type = types_[0];
    std::string ref = "Patient/" + in_.compartment_patient;
    SearchClause clause;
    if (type == "Patient") {
      SearchTerm t;
      t.kind = SearchTerm::kId;
      t.ids.push_back(in_.compartment_patient);
      clause.push_back(std::move(t));
    }
    for (std::string_view param : r4::PatientCompartmentParams(type)) {
      SearchTerm t;
      t.kind = SearchTerm::kHash;
      t.hashes.push_back(H(type, param, HashKind::kReference, ref));
      clause.push_back(std::move(t));
    }
    if (clause.empty()) {
      return InvalidArgument(type + " is not in the Patient compartment");
    }
    plan_.query.clauses.push_back(std::move(clause));
  }
  if (plan_.summary_count) plan_.count = 0;
  plan_.query.limit = plan_.count;
  return std::move(plan_);
}

}  // namespace

std::vector<std::string> SplitOr(std::string_view value) {
  std::vector<std::string> out(1);
  for (size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (c == '\\' && i + 1 < value.size() &&
        (value[i + 1] == ',' || value[i + 1] == '$' || value[i + 1] == '\\')) {
      out.back().push_back(value[++i]);
    } else if (c == ',') {
      out.emplace_back();
    } else {
      out.back().push_back(c);
    }
  }
  if (out.size() == 1 && out[0].empty()) out.clear();
  return out;
}

Result<SearchPlan> PlanSearch(const PlanInput& input) { return Planner(input).Run(); }

}  // namespace hygie::fhir::search
