// Search (type, system, compartment), _include/_revinclude, and Patient/$everything.

#include <algorithm>
#include <boost/url/encode.hpp>
#include <boost/url/grammar/lut_chars.hpp>
#include <boost/url/rfc/pchars.hpp>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "api/codec.h"
#include "api/fhir_internal.h"
#include "crypto/primitives.h"
#include "fhir/r4/definitions.h"
#include "fhir/resource.h"
#include "fhir/search/index_keys.h"
#include "fhir/search/indexer.h"
#include "fhir/search/normalize.h"
#include "fhir/search/query.h"

namespace hygie::api {

using http::Response;

namespace {

constexpr std::string_view kSubsetted = "SUBSETTED";
constexpr std::string_view kObservationValue =
    "http://terminology.hl7.org/CodeSystem/v3-ObservationValue";

bool PreferStrict(const http::Request& req) {
  auto it = req.find("Prefer");
  return it != req.end() && it->value().find("handling=strict") != std::string_view::npos;
}

}  // namespace

std::string Link(const std::string& path,
                 const std::vector<std::pair<std::string, std::string>>& params,
                 std::string_view extra_key, std::string_view extra_value) {
  // What stands as is in a parameter's name or value: the query's characters less those that
  // delimit parameters and '+', which ParseTarget (as any form reader) reads as a space. (Boost
  // 1.81's params().append leaves '+' as it is, so a value's '+', a time zone's for one, came
  // back as a space from the link.)
  static constexpr auto kKept =
      boost::urls::pchars + '/' + '?' - boost::urls::grammar::lut_chars("&=+");
  std::string query;
  auto add = [&query](std::string_view key, std::string_view value) {
    if (!query.empty()) query += '&';
    query += boost::urls::encode(key, kKept);
    query += '=';
    query += boost::urls::encode(value, kKept);
  };
  for (const auto& [k, v] : params) add(k, v);
  if (!extra_key.empty()) add(extra_key, extra_value);
  return query.empty() ? path : path + "?" + query;
}

namespace {

// Marks a resource as a subset of itself (FHIR: meta.tag SUBSETTED).
void TagSubsetted(rapidjson::Document& doc) {
  auto& a = doc.GetAllocator();
  auto meta = doc.FindMember("meta");
  if (meta == doc.MemberEnd() || !meta->value.IsObject()) {
    rapidjson::Value m(rapidjson::kObjectType);
    doc.AddMember("meta", m, a);
    meta = doc.FindMember("meta");
  }
  auto tag = meta->value.FindMember("tag");
  if (tag == meta->value.MemberEnd() || !tag->value.IsArray()) {
    rapidjson::Value arr(rapidjson::kArrayType);
    meta->value.AddMember("tag", arr, a);
    tag = meta->value.FindMember("tag");
  }
  rapidjson::Value coding(rapidjson::kObjectType);
  coding.AddMember("system", rapidjson::Value(kObservationValue.data(), a), a);
  coding.AddMember("code", rapidjson::Value(kSubsetted.data(), a), a);
  tag->value.PushBack(coding, a);
}

// Applies _elements or _summary=text|data to a serialized resource.
std::string Subset(const std::string& json, const fhir::search::SearchPlan& plan) {
  if (plan.elements.empty() && (plan.summary.empty() || plan.summary == "false")) return json;
  auto parsed = fhir::Resource::Parse(json);
  if (!parsed.ok()) return json;
  rapidjson::Document& doc = parsed->doc();
  auto keep = [&](std::string_view name) {
    if (name == "resourceType" || name == "id" || name == "meta") return true;
    if (plan.summary == "text") return name == "text";
    if (plan.summary == "data") return name != "text";
    return std::find(plan.elements.begin(), plan.elements.end(), name) != plan.elements.end();
  };
  for (auto it = doc.MemberBegin(); it != doc.MemberEnd();) {
    if (keep(std::string_view(it->name.GetString(), it->name.GetStringLength()))) {
      ++it;
    } else {
      it = doc.EraseMember(it);
    }
  }
  TagSubsetted(doc);
  return parsed->Serialize();
}

// Every local reference ("Type/id") anywhere in a resource.
void CollectReferences(const rapidjson::Value& v, std::string_view tenant,
                       std::vector<std::string>* out) {
  if (v.IsObject()) {
    for (const auto& m : v.GetObject()) {
      if (std::string_view(m.name.GetString()) == "reference" && fhir::IsJsonString(m.value)) {
        if (auto local = fhir::search::LocalReference(m.value.GetString(), tenant)) {
          out->push_back(std::move(*local));
        }
      } else {
        CollectReferences(m.value, tenant, out);
      }
    }
  } else if (v.IsArray()) {
    for (const auto& e : v.GetArray()) CollectReferences(e, tenant, out);
  }
}

// A resource of the result, opened.
struct Found {
  std::string type;
  std::string id;
  std::string json;
  std::unique_ptr<rapidjson::Document> parsed;  // on demand, see ParseStored
};

}  // namespace

// Numbers stay native (only strings and references are read from it).
std::unique_ptr<rapidjson::Document> ParseStored(const std::string& json) {
  auto doc = std::make_unique<rapidjson::Document>();
  doc->Parse(json.data(), json.size());
  if (doc->HasParseError() || !doc->IsObject()) return nullptr;
  return doc;
}

bool PassesChecks(const rapidjson::Value& doc, std::string_view type,
                  const std::vector<fhir::search::StringCheck>& checks) {
  const auto& indexer = fhir::search::Indexer::Get();
  for (const fhir::search::StringCheck& check : checks) {
    if (check.type != type) continue;
    bool any = false;
    for (const std::string& v : indexer.StringValues(doc, type, check.param, !check.exact)) {
      for (const std::string& want : check.normalized) {
        any = any || (check.exact ? v == want : v.starts_with(want));
      }
      if (any) break;
    }
    if (!any) return false;
  }
  return true;
}

std::function<Result<bool>(const storage::SearchHit&)> StringCheckFilter(
    FhirApi::Call& call, std::vector<fhir::search::StringCheck> checks) {
  if (checks.empty()) return nullptr;
  return [&call, checks = std::move(checks)](const storage::SearchHit& h) -> Result<bool> {
    const storage::VersionRecord& r = h.record;
    HYGIE_ASSIGN_OR_RETURN(std::string json,
                           OpenResource(*call.keys, r.type, r.id, r.version, r.key_id, r.body));
    auto parsed = ParseStored(json);
    if (!parsed) return DataLoss("a stored resource is not valid JSON");
    return PassesChecks(*parsed, r.type, checks);
  };
}

Result<std::vector<std::string>> FhirApi::MatchIds(Call& call, std::string_view type,
                                                   std::string_view query, size_t limit) {
  fhir::search::PlanInput in;
  in.type = std::string(type);
  if (!ParseForm(query, &in.params)) return InvalidArgument("the condition is not a valid query");
  for (const auto& [k, v] : in.params) {
    if (!fhir::search::IsValidUtf8(k) || !fhir::search::IsValidUtf8(v)) {
      return InvalidArgument("the condition must be valid UTF-8");
    }
  }
  in.tenant = call.tenant;
  in.hasher = call.hasher.get();
  in.strict = true;  // an ignored parameter would widen the match
  in.now_us = clock_.NowMicros();
  in.resolve_chain = [&call](const storage::SearchQuery& chained,
                             const std::vector<fhir::search::StringCheck>& checks)
      -> Result<std::vector<std::string>> {
    storage::SearchQuery q = chained;
    q.filter = StringCheckFilter(call, checks);
    HYGIE_ASSIGN_OR_RETURN(auto hits, call.store->Search(q));
    std::vector<std::string> ids;
    for (auto& h : hits) ids.push_back(std::move(h.record.id));
    return ids;
  };
  HYGIE_ASSIGN_OR_RETURN(fhir::search::SearchPlan plan, fhir::search::PlanSearch(in));
  if (plan.query.clauses.empty()) return InvalidArgument("the condition has no search criteria");
  plan.query.limit = limit + 1;
  plan.query.offset = 0;
  plan.query.after_rowid = 0;
  plan.query.with_bodies = false;
  plan.query.filter = StringCheckFilter(call, plan.checks);
  // A condition sees only what the token may search: under patient/ or narrowed scopes, other
  // resources neither match nor reveal that they exist.
  plan.query.types = {std::string(type)};
  HYGIE_RETURN_IF_ERROR(RestrictQuery(call, plan.query, auth::Permission::kSearch, in.now_us));
  HYGIE_ASSIGN_OR_RETURN(auto hits, call.store->Search(plan.query));
  std::vector<std::string> ids;
  for (auto& h : hits) ids.push_back(std::move(h.record.id));
  return ids;
}

Response FhirApi::Search(Call& call, const std::string& compartment_patient) {
  std::vector<std::pair<std::string, std::string>> params = call.params;
  if (call.req.method() == bhttp::verb::post) {
    auto ct = call.req.find(bhttp::field::content_type);
    std::string_view mime = ct == call.req.end() ? "" : ct->value();
    mime = mime.substr(0, mime.find(';'));
    if (!call.req.body().empty() && mime != "application/x-www-form-urlencoded") {
      return Outcome(415, "not-supported",
                     "POST _search takes application/x-www-form-urlencoded parameters",
                     "HYGIE-MEDIA-TYPE");
    }
    if (!ParseForm(call.req.body(), &params)) {
      return Outcome(400, "structure", "the search form is malformed", "HYGIE-PARAM");
    }
    for (const auto& [k, v] : params) {
      if (!fhir::search::IsValidUtf8(k) || !fhir::search::IsValidUtf8(v)) {
        return Outcome(400, "value", "search parameters must be valid UTF-8", "HYGIE-PARAM");
      }
    }
  }

  fhir::search::PlanInput in;
  in.type = call.type;
  in.params = std::move(params);
  in.tenant = call.tenant;
  in.hasher = call.hasher.get();
  in.strict = PreferStrict(call.req);
  in.compartment_patient = compartment_patient;
  in.default_count = options_.search_default_count;
  in.max_count = options_.search_max_count;
  in.now_us = clock_.NowMicros();
  const int64_t now_us = in.now_us;
  in.resolve_chain = [&call, now_us](const storage::SearchQuery& chained,
                                     const std::vector<fhir::search::StringCheck>& checks)
      -> Result<std::vector<std::string>> {
    for (const std::string& t : chained.types) {
      if (!call.scopes.Allows(t, auth::Permission::kSearch)) {
        return PermissionDenied("the token's scopes do not allow search on " + t);
      }
    }
    // The chained targets are searched within what the token reaches of their type.
    storage::SearchQuery q = chained;
    q.filter = StringCheckFilter(call, checks);
    HYGIE_RETURN_IF_ERROR(RestrictQuery(call, q, auth::Permission::kSearch, now_us));
    HYGIE_ASSIGN_OR_RETURN(auto hits, call.store->Search(q));
    std::vector<std::string> ids;
    for (auto& h : hits) ids.push_back(std::move(h.record.id));
    return ids;
  };
  auto planned = fhir::search::PlanSearch(in);
  if (!planned.ok()) {
    if (planned.status().code() == Code::kInvalidArgument) {
      return Outcome(400, "invalid", planned.status().message(), "HYGIE-SEARCH-PARAM");
    }
    return FromStatus(planned.status());
  }
  fhir::search::SearchPlan& plan = *planned;

  // System-level search: every type searched must be allowed.
  if (call.type.empty()) {
    if (plan.query.types.empty()) {
      if (!call.scopes.Allows("*", auth::Permission::kSearch)) {
        return Outcome(403, "forbidden", "a search across all types needs a scope such as user/*.s",
                       "HYGIE-SCOPE-DENIED");
      }
    } else {
      for (const std::string& t : plan.query.types) {
        if (!call.scopes.Allows(t, auth::Permission::kSearch)) {
          return Outcome(403, "forbidden", "the token's scopes do not allow search on " + t,
                         "HYGIE-SCOPE-DENIED");
        }
      }
    }
  }

  const size_t count = plan.count;
  const bool first_page = plan.query.after_rowid == 0 && plan.query.offset == 0;
  // A sorted search pages by offset: its first page fixes a snapshot bound (the largest row id
  // now) that its next links carry, so that resources created meanwhile do not shift the pages.
  if (!plan.query.sort.empty() && plan.query.max_rowid == 0) {
    auto max = call.store->MaxRowid();
    if (!max.ok()) return FromStatus(max.status());
    plan.query.max_rowid = std::max<uint64_t>(*max, 1);
  }
  // Values the index cannot decide are checked on the candidates, inside the store's paging, so
  // that pages, cursors and totals count results only.
  plan.query.filter = StringCheckFilter(call, plan.checks);
  // What the token reaches (patient compartment, scope queries) joins the query; across types,
  // this may take several queries, merged in row id order.
  auto restricted = RestrictSearch(call, plan.query, auth::Permission::kSearch, now_us);
  if (!restricted.ok()) return FromStatus(restricted.status());
  std::vector<storage::SearchQuery>& queries = *restricted;
  if (queries.size() > 1 && !plan.query.sort.empty()) {
    return Outcome(400, "not-supported",
                   "with these scopes, a sorted search must name one resource type",
                   "HYGIE-SEARCH-PARAM");
  }
  std::vector<storage::SearchHit> hits;
  bool more = false;
  if (count > 0) {
    for (storage::SearchQuery& q : queries) {
      q.limit = count + 1;
      q.with_bodies = true;
      auto result = call.store->Search(q);
      if (!result.ok()) return FromStatus(result.status());
      for (storage::SearchHit& h : *result) hits.push_back(std::move(h));
    }
    if (queries.size() > 1) {
      std::sort(hits.begin(), hits.end(),
                [](const storage::SearchHit& a, const storage::SearchHit& b) {
                  return a.rowid < b.rowid;
                });
    }
    more = hits.size() > count;
    if (more) hits.resize(count);
  }

  // Open the matches (the store already dropped the candidates failing a string check).
  const auto& indexer = fhir::search::Indexer::Get();
  std::vector<Found> matches;
  for (const storage::SearchHit& h : hits) {
    const storage::VersionRecord& r = h.record;
    auto json = OpenResource(*call.keys, r.type, r.id, r.version, r.key_id, r.body);
    if (!json.ok()) return FromStatus(json.status());
    matches.push_back(Found{r.type, r.id, std::move(json).value(), nullptr});
  }

  std::optional<uint64_t> total;
  if (plan.total != fhir::search::TotalMode::kNone || plan.summary_count) {
    uint64_t sum = 0;
    for (const storage::SearchQuery& q : queries) {
      auto n = call.store->SearchCount(q);
      if (!n.ok()) return FromStatus(n.status());
      sum += *n;
    }
    total = sum;
  } else if (first_page && !more) {
    total = matches.size();
  }

  // Included resources.
  std::vector<Found> included;
  std::unordered_set<std::string> seen;
  for (const Found& f : matches) seen.insert(f.type + "/" + f.id);
  auto parsed_of = [](Found& f) -> const rapidjson::Value* {
    if (!f.parsed) {
      f.parsed = ParseStored(f.json);
      if (!f.parsed) return nullptr;
    }
    return f.parsed.get();
  };
  auto add_included = [&](const std::string& ref) -> Status {
    if (included.size() >= options_.max_included) return Status::Ok();
    if (!seen.insert(ref).second) return Status::Ok();
    size_t slash = ref.find('/');
    std::string type = ref.substr(0, slash);
    std::string id = ref.substr(slash + 1);
    if (!call.scopes.Allows(type, auth::Permission::kRead)) return Status::Ok();
    HYGIE_ASSIGN_OR_RETURN(auto rec, call.store->ReadCurrent(type, id));
    if (!rec.has_value() || rec->deleted) return Status::Ok();
    // Under patient/ or narrowed scopes, only what the token reaches is included.
    HYGIE_ASSIGN_OR_RETURN(bool reached,
                           ReachesRecord(call, *rec, auth::Permission::kRead, now_us));
    if (!reached) return Status::Ok();
    HYGIE_ASSIGN_OR_RETURN(std::string json, OpenResource(*call.keys, rec->type, rec->id,
                                                          rec->version, rec->key_id, rec->body));
    included.push_back(Found{type, id, std::move(json), nullptr});
    return Status::Ok();
  };
  auto follow = [&](std::vector<Found>& from, size_t begin, size_t end, bool iterate) -> Status {
    for (const fhir::search::IncludeSpec& spec : plan.includes) {
      if (spec.iterate != iterate && iterate) continue;
      for (size_t i = begin; i < end; ++i) {
        Found& f = from[i];
        if (f.type != spec.source_type) continue;
        const rapidjson::Value* doc = parsed_of(f);
        if (doc == nullptr) continue;
        std::vector<std::string> refs;
        if (spec.param == "*") {
          for (const auto* def : fhir::r4::SearchParamsFor(f.type)) {
            if (def->type != fhir::r4::SearchParamType::kReference) continue;
            for (auto& r : indexer.References(*doc, f.type, def->code, call.tenant)) {
              refs.push_back(std::move(r));
            }
          }
        } else {
          refs = indexer.References(*doc, f.type, spec.param, call.tenant);
        }
        for (const std::string& ref : refs) {
          if (!spec.target_type.empty() && !ref.starts_with(spec.target_type + "/")) continue;
          HYGIE_RETURN_IF_ERROR(add_included(ref));
        }
      }
    }
    return Status::Ok();
  };
  Status inc = follow(matches, 0, matches.size(), false);
  if (inc.ok()) {
    // _revinclude: resources of the source type that point at a match.
    for (const fhir::search::IncludeSpec& spec : plan.revincludes) {
      if (matches.empty()) break;
      if (!call.scopes.Allows(spec.source_type, auth::Permission::kSearch)) continue;
      storage::SearchQuery q;
      q.types = {spec.source_type};
      storage::SearchTerm t;
      t.kind = storage::SearchTerm::kHash;
      for (const Found& f : matches) {
        t.hashes.push_back(fhir::search::IndexHash(*call.hasher, spec.source_type, spec.param,
                                                   fhir::search::HashKind::kReference,
                                                   f.type + "/" + f.id));
      }
      q.clauses.push_back({std::move(t)});
      q.limit = options_.max_included + 1;
      Status restrict = RestrictQuery(call, q, auth::Permission::kSearch, now_us);
      if (!restrict.ok()) return FromStatus(restrict);
      auto rev = call.store->Search(q);
      if (!rev.ok()) return FromStatus(rev.status());
      for (const storage::SearchHit& h : *rev) {
        if (included.size() >= options_.max_included) break;
        const auto& r = h.record;
        if (!seen.insert(r.type + "/" + r.id).second) continue;
        auto json = OpenResource(*call.keys, r.type, r.id, r.version, r.key_id, r.body);
        if (!json.ok()) return FromStatus(json.status());
        included.push_back(Found{r.type, r.id, std::move(json).value(), nullptr});
      }
    }
    // :iterate, one level: the iterate includes applied to what was included.
    size_t end = included.size();
    inc = follow(included, 0, end, true);
  }
  if (!inc.ok()) return FromStatus(inc);

  // The bundle.
  std::string path = call.base;
  if (!compartment_patient.empty()) path += "/Patient/" + compartment_patient;
  if (!call.type.empty()) path += "/" + call.type;
  fhir::BundleWriter bundle("searchset", crypto::RandomId(), FormatInstant(clock_.NowMicros()));
  if (total) bundle.SetTotal(*total);
  std::vector<std::pair<std::string, std::string>> link_params = plan.link_params;
  if (!plan.query.sort.empty()) {
    link_params.emplace_back("_snapshot", std::to_string(plan.query.max_rowid));
  }
  if (plan.query.after_rowid != 0) {
    bundle.AddLink("self",
                   Link(path, link_params, "_cursor", std::to_string(plan.query.after_rowid)));
  } else if (plan.query.offset != 0) {
    bundle.AddLink("self", Link(path, link_params, "_offset", std::to_string(plan.query.offset)));
  } else {
    bundle.AddLink("self", Link(path, link_params));
  }
  if (more && !hits.empty()) {
    if (plan.query.sort.empty()) {
      bundle.AddLink("next", Link(path, link_params, "_cursor", std::to_string(hits.back().rowid)));
    } else {
      bundle.AddLink("next",
                     Link(path, link_params, "_offset", std::to_string(plan.query.offset + count)));
    }
  }
  if (!plan.warnings.empty()) {
    fhir::BundleWriter::Entry e;
    e.resource_json = fhir::OperationOutcomeJson(plan.warnings);
    e.search_mode = "outcome";
    bundle.AddEntry(e);
  }
  for (const Found& f : matches) {
    fhir::BundleWriter::Entry e;
    e.full_url = call.base + "/" + f.type + "/" + f.id;
    e.resource_json = Subset(f.json, plan);
    e.search_mode = "match";
    bundle.AddEntry(e);
  }
  for (const Found& f : included) {
    fhir::BundleWriter::Entry e;
    e.full_url = call.base + "/" + f.type + "/" + f.id;
    e.resource_json = f.json;
    e.search_mode = "include";
    bundle.AddEntry(e);
  }
  return MakeResponse(200, bundle.Finish());
}

Response FhirApi::Everything(Call& call) {
  auto patient = call.store->ReadCurrent("Patient", call.id);
  if (!patient.ok()) return FromStatus(patient.status());
  if (!patient->has_value())
    return Outcome(404, "not-found", "no such resource", "HYGIE-NOT-FOUND");
  const int64_t now_us = clock_.NowMicros();
  // A patient/ token reaches its own patient's record only.
  auto reached = ReachesRecord(call, **patient, auth::Permission::kRead, now_us);
  if (!reached.ok()) return FromStatus(reached.status());
  if (!*reached) return NotReached();
  if ((*patient)->deleted) {
    return Outcome(410, "deleted", "the resource was deleted", "HYGIE-DELETED");
  }
  const size_t cap = options_.max_everything;
  std::vector<Found> found;
  std::unordered_set<std::string> seen;
  auto add = [&](const storage::VersionRecord& r) -> Status {
    if (!seen.insert(r.type + "/" + r.id).second) return Status::Ok();
    HYGIE_ASSIGN_OR_RETURN(std::string json,
                           OpenResource(*call.keys, r.type, r.id, r.version, r.key_id, r.body));
    found.push_back(Found{r.type, r.id, std::move(json), nullptr});
    return Status::Ok();
  };
  Status s = add(**patient);
  if (!s.ok()) return FromStatus(s);
  for (std::string_view type : fhir::r4::PatientCompartmentTypes()) {
    if (type == "Patient") continue;
    if (!call.scopes.Allows(type, auth::Permission::kRead)) continue;
    fhir::search::PlanInput in;
    in.type = std::string(type);
    in.tenant = call.tenant;
    in.hasher = call.hasher.get();
    in.compartment_patient = call.id;
    auto plan = fhir::search::PlanSearch(in);
    if (!plan.ok()) continue;  // a type whose compartment parameters are not indexed
    plan->query.limit = cap + 1 - std::min(cap, found.size());
    s = RestrictQuery(call, plan->query, auth::Permission::kRead, now_us);
    if (!s.ok()) return FromStatus(s);
    auto hits = call.store->Search(plan->query);
    if (!hits.ok()) return FromStatus(hits.status());
    for (const storage::SearchHit& h : *hits) {
      s = add(h.record);
      if (!s.ok()) return FromStatus(s);
    }
    if (found.size() > cap) break;
  }
  // Resources outside the compartment that these refer to (practitioners, organizations,
  // medications, locations, ...), one level.
  size_t end = found.size();
  for (size_t i = 0; i < end && found.size() <= cap; ++i) {
    auto parsed = ParseStored(found[i].json);
    if (!parsed) continue;
    std::vector<std::string> refs;
    CollectReferences(*parsed, call.tenant, &refs);
    for (const std::string& ref : refs) {
      if (seen.count(ref) != 0) continue;
      size_t slash = ref.find('/');
      std::string type = ref.substr(0, slash);
      // Other patients (a link, a related person's patient) are not this patient's data.
      if (type == "Patient") continue;
      if (!call.scopes.Allows(type, auth::Permission::kRead)) continue;
      auto rec = call.store->ReadCurrent(type, ref.substr(slash + 1));
      if (!rec.ok()) return FromStatus(rec.status());
      if (!rec->has_value() || (*rec)->deleted) continue;
      // patient/ scopes reach the compartment only: practitioners, organizations, ... are left
      // out unless another scope reaches them.
      auto in_reach = ReachesRecord(call, **rec, auth::Permission::kRead, now_us);
      if (!in_reach.ok()) return FromStatus(in_reach.status());
      if (!*in_reach) continue;
      s = add(**rec);
      if (!s.ok()) return FromStatus(s);
    }
  }
  if (found.size() > cap) {
    return Outcome(400, "too-costly",
                   "this patient has more than " + std::to_string(cap) +
                       " resources; use the compartment searches (Patient/{id}/{type}) with paging",
                   "HYGIE-EVERYTHING-TOO-LARGE");
  }
  fhir::BundleWriter bundle("searchset", crypto::RandomId(), FormatInstant(clock_.NowMicros()));
  bundle.SetTotal(found.size());
  bundle.AddLink("self", call.base + "/Patient/" + call.id + "/$everything");
  for (const Found& f : found) {
    fhir::BundleWriter::Entry e;
    e.full_url = call.base + "/" + f.type + "/" + f.id;
    e.resource_json = f.json;
    e.search_mode = "match";
    bundle.AddEntry(e);
  }
  return MakeResponse(200, bundle.Finish());
}

}  // namespace hygie::api
