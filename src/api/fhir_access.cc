// What a token's SMART scopes reach: the patient compartment of patient/ scopes and the queries
// of narrowed scopes (auth/scopes.h for the rules), turned into search clauses of the blind index.
// Searches add those clauses to their query (so results, totals and pages see only what the token
// reaches); single resources (reads, includes, writes) are matched against the same clauses in
// memory, on the index entries of the version concerned.

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "api/codec.h"
#include "api/fhir_internal.h"
#include "fhir/r4/definitions.h"
#include "fhir/resource.h"
#include "fhir/search/index_keys.h"
#include "fhir/search/indexer.h"
#include "fhir/search/normalize.h"
#include "fhir/search/query.h"

namespace hygie::api {

using http::Response;
using storage::SearchClause;
using storage::SearchTerm;

namespace {

// Most clauses a restriction may add to a query (the union of several restrictions multiplies
// their clauses: (a AND b) OR (c AND d) = (a OR c) AND (a OR d) AND (b OR c) AND (b OR d)).
constexpr size_t kMaxRestrictionClauses = 64;

// Parameters a scope query may use besides the type's own: the filters common to every type.
bool IsAllowedCommonParam(std::string_view name) {
  std::string_view code = name.substr(0, name.find_first_of(":."));
  return code == "_id" || code == "_lastUpdated" || code == "_tag" || code == "_profile" ||
         code == "_security";
}

// The patient compartment of `type` for `patient`, as one clause (empty: the type is not in the
// compartment, the clause matches nothing). Mirrors the planner's compartment search.
SearchClause CompartmentClause(const crypto::KeyedHasher& hasher, const std::string& type,
                               const std::string& patient) {
  SearchClause clause;
  if (type == "Patient") {
    SearchTerm t;
    t.kind = SearchTerm::kId;
    t.ids.push_back(patient);
    clause.push_back(std::move(t));
  }
  const std::string ref = "Patient/" + patient;
  for (std::string_view param : fhir::r4::PatientCompartmentParams(type)) {
    SearchTerm t;
    t.kind = SearchTerm::kHash;
    t.hashes.push_back(
        fhir::search::IndexHash(hasher, type, param, fhir::search::HashKind::kReference, ref));
    clause.push_back(std::move(t));
  }
  return clause;
}

// Plans the query of a scope over `type` (empty: across types, to check a "*" scope). Strict: a
// parameter unknown for the type is an error, never ignored (that would widen the scope).
Result<fhir::search::SearchPlan> PlanScopeQuery(FhirApi::Call& call, const std::string& type,
                                                const std::string& query, int64_t now_us,
                                                bool resolve) {
  fhir::search::PlanInput in;
  in.type = type;
  if (!ParseForm(query, &in.params)) return InvalidArgument("the scope's query is malformed");
  for (const auto& [k, v] : in.params) {
    if (!fhir::search::IsValidUtf8(k) || !fhir::search::IsValidUtf8(v)) {
      return InvalidArgument("the scope's query is not valid UTF-8");
    }
    if (k.starts_with("_") && !IsAllowedCommonParam(k)) {
      return InvalidArgument("the scope's query uses '" + k + "', which does not select resources");
    }
  }
  in.tenant = call.tenant;
  in.hasher = call.hasher.get();
  in.strict = true;
  in.now_us = now_us;
  // Chained parameters: the targets are resolved without the token's own restrictions (the ids
  // only become hashes of the scope's clauses; nothing of them reaches the client).
  in.resolve_chain = [&call, resolve](const storage::SearchQuery& chained,
                                      const std::vector<fhir::search::StringCheck>& checks)
      -> Result<std::vector<std::string>> {
    std::vector<std::string> ids;
    if (!resolve) return ids;
    storage::SearchQuery q = chained;
    q.filter = StringCheckFilter(call, checks);
    HYGIE_ASSIGN_OR_RETURN(auto hits, call.store->Search(q));
    for (auto& h : hits) ids.push_back(std::move(h.record.id));
    return ids;
  };
  HYGIE_ASSIGN_OR_RETURN(fhir::search::SearchPlan plan, fhir::search::PlanSearch(in));
  if (plan.query.clauses.empty()) return InvalidArgument("the scope's query selects nothing");
  return plan;
}

bool CompareRange(const storage::RangeCmp& c, double lo, double hi, bool number) {
  const double value = c.column == storage::RangeCmp::kLo ? lo : hi;
  const double bound = number ? c.number : static_cast<double>(c.instant);
  switch (c.op) {
    case storage::RangeCmp::kLt:
      return value < bound;
    case storage::RangeCmp::kLe:
      return value <= bound;
    case storage::RangeCmp::kGt:
      return value > bound;
    case storage::RangeCmp::kGe:
      return value >= bound;
  }
  return false;
}

bool CompareInstant(const storage::RangeCmp& c, int64_t lo, int64_t hi) {
  const int64_t value = c.column == storage::RangeCmp::kLo ? lo : hi;
  switch (c.op) {
    case storage::RangeCmp::kLt:
      return value < c.instant;
    case storage::RangeCmp::kLe:
      return value <= c.instant;
    case storage::RangeCmp::kGt:
      return value > c.instant;
    case storage::RangeCmp::kGe:
      return value >= c.instant;
  }
  return false;
}

// One of `ranges` (each a conjunction) holds for [lo, hi]. Empty: false, as in the store.
template <typename Cmp>
bool AnyRange(const std::vector<std::vector<storage::RangeCmp>>& ranges, Cmp cmp) {
  for (const auto& conjunction : ranges) {
    bool all = true;
    for (const storage::RangeCmp& c : conjunction) all = all && cmp(c);
    if (all) return true;
  }
  return false;
}

// The store's semantics of one term (storage/store.h), on one resource's entries.
bool TermMatches(const SearchTerm& t, const storage::IndexEntries& index,
                 const std::vector<uint64_t>& sorted_hashes, std::string_view id,
                 int64_t last_updated_us) {
  bool m = false;
  switch (t.kind) {
    case SearchTerm::kHash:
      for (uint64_t h : t.hashes) {
        if (std::binary_search(sorted_hashes.begin(), sorted_hashes.end(), h)) {
          m = true;
          break;
        }
      }
      break;
    case SearchTerm::kDate:
      for (const storage::DateEntry& d : index.dates) {
        if (d.key != t.key) continue;
        if (AnyRange(t.ranges,
                     [&](const storage::RangeCmp& c) { return CompareInstant(c, d.lo, d.hi); })) {
          m = true;
          break;
        }
      }
      break;
    case SearchTerm::kNumber:
      for (const storage::NumberEntry& n : index.numbers) {
        if (n.key != t.key) continue;
        if (AnyRange(t.ranges, [&](const storage::RangeCmp& c) {
              return CompareRange(c, n.lo, n.hi, true);
            })) {
          m = true;
          break;
        }
      }
      break;
    case SearchTerm::kId:
      m = std::find(t.ids.begin(), t.ids.end(), id) != t.ids.end();
      break;
    case SearchTerm::kLastUpdated:
      m = AnyRange(t.ranges, [&](const storage::RangeCmp& c) {
        return CompareInstant(c, last_updated_us, last_updated_us);
      });
      break;
    case SearchTerm::kNone:
      m = false;
      break;
  }
  return t.negate ? !m : m;
}

// A clause whose every term can only select resources of the type it was planned for (positive
// terms on keyed hashes, which fold in the type). A filter with such a clause never selects a
// resource of another type, so filters of several types can share one query.
bool IsAnchored(const SearchClause& clause) {
  if (clause.empty()) return false;
  for (const SearchTerm& t : clause) {
    if (t.negate) return false;
    if (t.kind == SearchTerm::kHash && !t.hashes.empty()) continue;
    if (t.kind == SearchTerm::kDate || t.kind == SearchTerm::kNumber) continue;
    return false;
  }
  return true;
}

bool IsAnchored(const std::vector<SearchClause>& filter) {
  return std::any_of(filter.begin(), filter.end(),
                     [](const SearchClause& c) { return IsAnchored(c); });
}

// The conjunctive form of a union of conjunctions (see kMaxRestrictionClauses).
Result<std::vector<SearchClause>> UnionClauses(
    const std::vector<std::vector<SearchClause>>& filters) {
  if (filters.empty())
    return std::vector<SearchClause>{SearchClause{SearchTerm{SearchTerm::kNone}}};
  std::vector<SearchClause> cnf = filters[0];
  for (size_t f = 1; f < filters.size(); ++f) {
    const std::vector<SearchClause>& next = filters[f];
    if (cnf.empty() || next.empty()) return std::vector<SearchClause>{};  // one side is "true"
    if (cnf.size() * next.size() > kMaxRestrictionClauses) {
      return PermissionDenied("the token's scopes combine too many narrowing queries to apply");
    }
    std::vector<SearchClause> product;
    for (const SearchClause& a : cnf) {
      for (const SearchClause& b : next) {
        SearchClause c = a;
        c.insert(c.end(), b.begin(), b.end());
        product.push_back(std::move(c));
      }
    }
    cnf = std::move(product);
  }
  return cnf;
}

}  // namespace

Result<std::shared_ptr<const ReachClauses>> ReachFor(FhirApi::Call& call, const std::string& type,
                                                     auth::Permission permission, int64_t now_us) {
  std::string key = type;
  key += '\0';
  key += static_cast<char>(permission);
  auto it = call.reach_cache.find(key);
  if (it != call.reach_cache.end()) return it->second;

  auto out = std::make_shared<ReachClauses>();
  const auth::Reach reach = call.scopes.ReachOf(type, permission);
  out->all = reach.all;
  for (const auth::Restriction& r : reach.restrictions) {
    if (out->all) break;
    std::vector<SearchClause> filter;
    std::vector<fhir::search::StringCheck> checks;
    if (r.compartment) {
      SearchClause clause = CompartmentClause(*call.hasher, type, call.scopes.patient());
      if (clause.empty()) continue;  // not in the compartment: this scope reaches nothing here
      filter.push_back(std::move(clause));
    }
    if (!r.query.empty()) {
      auto plan = PlanScopeQuery(call, type, r.query, now_us, true);
      if (!plan.ok()) {
        // A "*" scope whose parameters are not defined for this type reaches nothing of it;
        // anything else (a store failure) is an error.
        if (plan.status().code() == Code::kInvalidArgument) continue;
        return plan.status();
      }
      for (SearchClause& c : plan->query.clauses) filter.push_back(std::move(c));
      checks = std::move(plan->checks);
    }
    out->has_checks = out->has_checks || !checks.empty();
    out->filters.push_back(std::move(filter));
    out->checks.push_back(std::move(checks));
  }
  std::shared_ptr<const ReachClauses> shared = std::move(out);
  call.reach_cache.emplace(std::move(key), shared);
  return shared;
}

bool Matches(const ReachClauses& reach, const storage::IndexEntries& index, std::string_view id,
             int64_t last_updated_us, const rapidjson::Value* doc) {
  if (reach.all) return true;
  std::vector<uint64_t> hashes = index.hashes;
  std::sort(hashes.begin(), hashes.end());
  for (size_t f = 0; f < reach.filters.size(); ++f) {
    const std::vector<SearchClause>& filter = reach.filters[f];
    const std::vector<fhir::search::StringCheck>& checks = reach.checks[f];
    if (!checks.empty()) {
      // Checks name their type; a filter is planned for one type, so any check's will do.
      if (doc == nullptr || !PassesChecks(*doc, checks.front().type, checks)) continue;
    }
    bool all = true;
    for (const SearchClause& clause : filter) {
      bool any = false;
      for (const SearchTerm& t : clause) {
        if (TermMatches(t, index, hashes, id, last_updated_us)) {
          any = true;
          break;
        }
      }
      if (!any) {
        all = false;
        break;
      }
    }
    if (all) return true;
  }
  return false;
}

Result<bool> ReachesResource(FhirApi::Call& call, const std::string& type, const std::string& id,
                             int64_t last_updated_us, const rapidjson::Value& resource,
                             auth::Permission permission, int64_t now_us) {
  HYGIE_ASSIGN_OR_RETURN(auto reach, ReachFor(call, type, permission, now_us));
  if (reach->all) return true;
  if (reach->filters.empty()) return false;
  storage::IndexEntries index =
      fhir::search::Indexer::Get().Index(resource, type, *call.hasher, call.tenant);
  return Matches(*reach, index, id, last_updated_us, &resource);
}

Result<bool> ReachesRecord(FhirApi::Call& call, const storage::VersionRecord& record,
                           auth::Permission permission, int64_t now_us) {
  HYGIE_ASSIGN_OR_RETURN(auto reach, ReachFor(call, record.type, permission, now_us));
  if (reach->all) return true;
  if (reach->filters.empty()) return false;
  const storage::VersionRecord* content = &record;
  std::optional<storage::VersionRecord> previous;
  if (record.deleted) {
    // A tombstone has no content: the version it deleted decides.
    if (record.version <= 1) return false;
    HYGIE_ASSIGN_OR_RETURN(previous,
                           call.store->ReadVersion(record.type, record.id, record.version - 1));
    if (!previous || previous->deleted) return false;
    content = &*previous;
  }
  HYGIE_ASSIGN_OR_RETURN(std::string json,
                         OpenResource(*call.keys, content->type, content->id, content->version,
                                      content->key_id, content->body));
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return DataLoss("a stored resource is not valid JSON");
  }
  storage::IndexEntries index =
      fhir::search::Indexer::Get().Index(doc, content->type, *call.hasher, call.tenant);
  return Matches(*reach, index, content->id, content->last_updated_us, &doc);
}

namespace {

// When the scopes' queries have string checks, the clauses of `reach` only select candidates:
// the query's filter then also decides, on each candidate, whether it is within reach.
void AddReachFilter(FhirApi::Call& call, storage::SearchQuery& query,
                    std::shared_ptr<const ReachClauses> reach) {
  if (!reach->has_checks) return;
  query.filter = [&call, reach = std::move(reach),
                  inner = std::move(query.filter)](const storage::SearchHit& h) -> Result<bool> {
    if (inner) {
      HYGIE_ASSIGN_OR_RETURN(bool keep, inner(h));
      if (!keep) return false;
    }
    const storage::VersionRecord& r = h.record;
    HYGIE_ASSIGN_OR_RETURN(std::string json,
                           OpenResource(*call.keys, r.type, r.id, r.version, r.key_id, r.body));
    auto doc = ParseStored(json);
    if (!doc) return DataLoss("a stored resource is not valid JSON");
    storage::IndexEntries index =
        fhir::search::Indexer::Get().Index(*doc, r.type, *call.hasher, call.tenant);
    return Matches(*reach, index, r.id, r.last_updated_us, doc.get());
  };
}

}  // namespace

Status RestrictQuery(FhirApi::Call& call, storage::SearchQuery& query, auth::Permission permission,
                     int64_t now_us) {
  if (query.types.size() != 1) return Internal("a restricted query names one type");
  HYGIE_ASSIGN_OR_RETURN(auto reach, ReachFor(call, query.types[0], permission, now_us));
  if (reach->all) return Status::Ok();
  HYGIE_ASSIGN_OR_RETURN(std::vector<SearchClause> clauses, UnionClauses(reach->filters));
  for (SearchClause& c : clauses) query.clauses.push_back(std::move(c));
  AddReachFilter(call, query, reach);
  return Status::Ok();
}

Result<std::vector<storage::SearchQuery>> RestrictSearch(FhirApi::Call& call,
                                                         const storage::SearchQuery& query,
                                                         auth::Permission permission,
                                                         int64_t now_us) {
  std::vector<std::string> types = query.types;
  if (types.empty()) {
    for (std::string_view t : fhir::ResourceTypes()) types.emplace_back(t);
  }
  if (types.size() == 1) {
    storage::SearchQuery q = query;
    q.types = types;
    HYGIE_RETURN_IF_ERROR(RestrictQuery(call, q, permission, now_us));
    return std::vector<storage::SearchQuery>{std::move(q)};
  }
  // Several types: those reached whole, those whose filters keep to their type (one query for
  // all of them), and each of the others on its own.
  std::vector<std::string> whole;
  std::vector<std::string> anchored;
  std::vector<std::vector<SearchClause>> anchored_filters;
  std::vector<storage::SearchQuery> out;
  for (const std::string& type : types) {
    HYGIE_ASSIGN_OR_RETURN(auto reach, ReachFor(call, type, permission, now_us));
    if (reach->all) {
      whole.push_back(type);
      continue;
    }
    if (reach->filters.empty()) continue;
    // Filters with string checks need the type's own query (its filter decides on each type).
    bool all_anchored =
        !reach->has_checks && std::all_of(reach->filters.begin(), reach->filters.end(),
                                          [](const auto& f) { return IsAnchored(f); });
    if (all_anchored) {
      anchored.push_back(type);
      for (const auto& f : reach->filters) anchored_filters.push_back(f);
      continue;
    }
    storage::SearchQuery q = query;
    q.types = {type};
    HYGIE_ASSIGN_OR_RETURN(std::vector<SearchClause> clauses, UnionClauses(reach->filters));
    for (SearchClause& c : clauses) q.clauses.push_back(std::move(c));
    AddReachFilter(call, q, reach);
    out.push_back(std::move(q));
  }
  if (!anchored.empty()) {
    storage::SearchQuery q = query;
    q.types = anchored;
    HYGIE_ASSIGN_OR_RETURN(std::vector<SearchClause> clauses, UnionClauses(anchored_filters));
    for (SearchClause& c : clauses) q.clauses.push_back(std::move(c));
    out.insert(out.begin(), std::move(q));
  }
  if (!whole.empty()) {
    storage::SearchQuery q = query;
    // Every type whole: the query as it was (no type list means every type).
    if (whole.size() != types.size() || !query.types.empty()) q.types = whole;
    out.insert(out.begin(), std::move(q));
  }
  if (out.empty()) {
    storage::SearchQuery q = query;
    q.clauses.push_back(SearchClause{SearchTerm{SearchTerm::kNone}});
    out.push_back(std::move(q));
  }
  return out;
}

std::optional<Response> CheckScopeQueries(FhirApi::Call& call, int64_t now_us) {
  for (const auth::Scope& scope : call.scopes.scopes()) {
    if (scope.query.empty()) continue;
    if (scope.type != "*" && !fhir::IsResourceType(scope.type)) continue;  // reaches nothing
    const std::string type = scope.type == "*" ? std::string() : scope.type;
    auto plan = PlanScopeQuery(call, type, scope.query, now_us, false);
    if (!plan.ok()) {
      return Outcome(403, "forbidden",
                     "the token's scopes are malformed: " + plan.status().message(),
                     "HYGIE-SCOPE-BAD");
    }
  }
  return std::nullopt;
}

Response NotReached(std::string_view diagnostics) {
  return Outcome(404, "not-found", diagnostics, "HYGIE-NOT-FOUND");
}

}  // namespace hygie::api
