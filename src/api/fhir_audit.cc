// The audit trail of the FHIR API: one record per interaction (bundle entries included) and per
// refused request, durable before the answer leaves; and the read-only AuditEvent endpoint that
// serves a tenant's trail from its journal.

#include <boost/asio/use_awaitable.hpp>
#include <cctype>
#include <cstdio>
#include <limits>

#include "api/admin_access.h"
#include "api/admin_auth.h"
#include "api/admin_issuers.h"
#include "api/fhir_internal.h"
#include "audit/audit_event.h"
#include "audit/checkpoint.h"
#include "audit/proof_json.h"
#include "core/clock.h"
#include "core/log.h"
#include "crypto/primitives.h"
#include "fhir/r4/definitions.h"
#include "fhir/resource.h"
#include "tenancy/tenant.h"

#include <unordered_set>

namespace hygie::api {

namespace asio = boost::asio;
using http::Response;

namespace {

// Result-control parameters carry no health data: kept in clear in records.
bool IsClearParam(std::string_view name) {
  static constexpr std::string_view kClear[] = {"_count",   "_sort",       "_total",
                                                "_summary", "_format",     "_elements",
                                                "_include", "_revinclude", "_snapshot"};
  for (std::string_view c : kClear) {
    if (name == c) return true;
  }
  return false;
}

// Whether a parameter name is made only of FHIR's own words (search parameter codes, resource
// types, modifiers), as "subject:Patient.family" is. Other names may carry anything a client
// typed, health data included: they are hashed like values.
bool IsKnownParamName(std::string_view name) {
  static const std::unordered_set<std::string_view> kWords = [] {
    std::unordered_set<std::string_view> words = {
        "_count",      "_sort",     "_total",  "_summary", "_format",    "_elements", "_include",
        "_revinclude", "_snapshot", "_cursor", "_offset",  "_type",      "_has",      "_pretty",
        "_before",     "exact",     "missing", "not",      "text",       "contains",  "above",
        "below",       "in",        "not-in",  "of-type",  "identifier", "iterate"};
    for (std::string_view type : fhir::ResourceTypes()) {
      words.insert(type);
      for (const fhir::r4::SearchParamDef* def : fhir::r4::SearchParamsFor(type)) {
        words.insert(def->code);
      }
    }
    return words;
  }();
  if (name.empty() || name.size() > 128) return false;
  size_t start = 0;
  for (size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == ':' || name[i] == '.') {
      if (!kWords.contains(name.substr(start, i - start))) return false;
      start = i + 1;
    }
  }
  return true;
}

// A result-control value kept in clear: a short number or word ("50", "accurate"), or a list of
// FHIR's own words ("-date,name", "Observation:subject").
bool IsClearValue(std::string_view value) {
  if (value.empty() || value.size() > 256) return false;
  if (value.size() <= 20 && value.find_first_not_of("0123456789") == std::string_view::npos) {
    return true;
  }
  if (value == "true" || value == "false" || value == "accurate" || value == "estimate" ||
      value == "none" || value == "count" || value == "data" || value == "json") {
    return true;
  }
  size_t start = 0;
  for (size_t i = 0; i <= value.size(); ++i) {
    if (i == value.size() || value[i] == ',') {
      std::string_view part = value.substr(start, i - start);
      if (!part.empty() && part[0] == '-') part.remove_prefix(1);
      if (part == "*" || !IsKnownParamName(part)) {
        if (part != "*") return false;
      }
      start = i + 1;
    }
  }
  return true;
}

// A short printable-ASCII copy of a header value (purpose of use), or "".
std::string CleanToken(std::string_view v, size_t max) {
  std::string out;
  for (char c : v.substr(0, max)) {
    if (c < 0x21 || c > 0x7e) return "";
  }
  out.assign(v.substr(0, max));
  return out;
}

struct What {
  std::string interaction;
  char action = 'R';
  std::string operation;
};

// The FHIR interaction a call stands for, from its method and path.
What Classify(bhttp::verb method, const std::vector<std::string>& seg) {
  // PUT, PATCH and DELETE on a type (conditional) or an instance.
  auto write = [method]() -> std::optional<What> {
    switch (method) {
      case bhttp::verb::put:
        return What{"update", 'U', ""};
      case bhttp::verb::patch:
        return What{"patch", 'U', ""};
      case bhttp::verb::delete_:
        return What{"delete", 'D', ""};
      default:
        return std::nullopt;
    }
  };
  auto op = [](const std::string& s) -> std::optional<What> {
    if (!s.empty() && s[0] == '$') return What{"operation", 'E', s};
    return std::nullopt;
  };
  if (seg.empty()) {
    if (method == bhttp::verb::post) return {"batch", 'E', ""};
    return {"search-system", 'E', ""};
  }
  if (seg[0] == "metadata") return {"capabilities", 'R', ""};
  if (seg[0] == "_search") return {"search-system", 'E', ""};
  if (seg[0] == "_history") return {"history-system", 'R', ""};
  if (auto o = op(seg[0])) return *o;
  if (seg.size() == 1) {
    if (method == bhttp::verb::post) return {"create", 'C', ""};
    if (auto w = write()) return *w;
    return {"search-type", 'E', ""};
  }
  if (seg[1] == "_search") return {"search-type", 'E', ""};
  if (seg[1] == "_history") return {"history-type", 'R', ""};
  if (auto o = op(seg[1])) return *o;
  if (seg.size() == 2) {
    if (auto w = write()) return *w;
    return {"read", 'R', ""};
  }
  if (seg[2] == "_history") return {seg.size() == 3 ? "history-instance" : "vread", 'R', ""};
  if (auto o = op(seg[2])) return *o;
  return {"search-type", 'E', ""};  // compartment search (GET only)
}

// "W/\"3\"" -> 3.
uint64_t VersionFromETag(std::string_view etag) {
  size_t q = etag.find('"');
  if (q == std::string_view::npos) return 0;
  uint64_t v = 0;
  for (size_t i = q + 1; i < etag.size() && std::isdigit(static_cast<unsigned char>(etag[i]));
       ++i) {
    v = v * 10 + static_cast<uint64_t>(etag[i] - '0');
    if (v > (1ull << 50)) return 0;
  }
  return v;
}

}  // namespace

void FhirApi::StartAudit(Call& call, AuditContext& audit) {
  call.audit = &audit;
  audit.base.time_us = clock_.NowMicros();
  audit.base.request_id = crypto::RandomId();
  audit.base.peer = call.ctx.peer_address;
  auto purpose = call.req.find("X-Purpose-Of-Use");
  if (purpose != call.req.end()) audit.base.purpose = CleanToken(purpose->value(), 64);
  // A request for a tenant that exists goes to that tenant's trail (refusals included: the
  // customer sees who knocked); anything else to the installation's trail.
  bool known = tenancy::IsValidTenantName(call.tenant) && keyring_.HasTenant(call.tenant);
  audit.tree = known ? call.tenant : std::string(audit::kSystemTree);
  audit.base.tenant = known ? call.tenant : "";
}

void FhirApi::AddRecord(Call& call, int status, std::string_view detail, uint64_t version) {
#ifdef HYGIE_BENCH_NO_AUDIT
  (void)call, (void)status, (void)detail, (void)version;
  return;
#endif
  AuditContext& audit = *call.audit;
  // The record is the request's common part with this act's members: they are filled in place,
  // encoded, then cleared again (no copy of the common part per record).
  audit::Record& r = audit.base;
  const int64_t request_time_us = r.time_us;
  r.time_us = clock_.NowMicros();
  What what = Classify(call.req.method(), call.segments);
  r.interaction = !call.interaction.empty() ? call.interaction : what.interaction;
  r.action = what.action;
  r.operation = what.operation;
  const auto& seg = call.segments;
  auto special = [](const std::string& s) { return s.empty() || s[0] == '_' || s[0] == '$'; };
  if (!seg.empty() && seg[0] != "metadata" && !special(seg[0]) && seg[0].size() <= 64) {
    r.resource_type = seg[0];
    if (seg.size() >= 2 && !special(seg[1]) && seg[1].size() <= 64) {
      r.resource_id = seg[1];
    }
    if (seg.size() >= 4 && seg[2] == "_history") {
      r.version = VersionFromETag("\"" + seg[3]);
    }
  }
  if (!call.id.empty() && r.resource_id.empty()) r.resource_id = call.id;
  // Only names and types that are FHIR's own reach the record (a hostile path stays out).
  if (!r.resource_type.empty() && !fhir::IsResourceType(r.resource_type) &&
      r.resource_type != "AuditEvent") {
    r.resource_type = "-";
    r.resource_id.clear();
  }
  if (!r.resource_id.empty() && !fhir::IsValidId(r.resource_id)) r.resource_id = "-";
  // The tree of the request is keyed; its query values are hashed under the tree's key.
  if (!audit.keys && !call.params.empty()) {
    auto keys = journal_.Keys(audit.tree);
    if (keys.ok()) audit.keys = *keys;
  }
  const audit::TreeKeys* keys = audit.keys.get();
  auto hashed = [keys](std::string_view text) -> std::string {
    if (keys == nullptr) return "-";
    uint64_t h = keys->query->Hash64(text);
    char hex[32];
    std::snprintf(hex, sizeof hex, "hmac-sha256:%016llx", static_cast<unsigned long long>(h));
    return hex;
  };
  for (const auto& [name, value] : call.params) {
    std::string clean_name = IsKnownParamName(name) ? name : hashed(name);
    if (IsClearParam(name) && IsClearValue(value)) {
      r.query.emplace_back(clean_name, value);
    } else {
      r.query.emplace_back(clean_name, hashed(value));
    }
  }
  if (version != 0) r.version = version;
  r.status = status;
  r.detail.assign(detail.substr(0, 200));
  if (r.detail.empty()) r.detail = audit.grant;
  audit.pending.Add(r);
  r.time_us = request_time_us;
  audit::ClearAct(r);
}

asio::awaitable<Status> FhirApi::FlushAudit(Call& call) {
  AuditContext& audit = *call.audit;
#ifdef HYGIE_BENCH_NO_AUDIT
  audit.pending = {};
  co_return Status::Ok();
#endif
  if (audit.failed) co_return Unavailable("the audit journal failed earlier in this request");
  if (audit.pending.empty()) co_return Status::Ok();
  // The journal reads the records from audit.pending until this coroutine resumes.
  Status s = co_await AsyncAppend(journal_, audit.tree, audit.pending, asio::use_awaitable);
  audit.pending = {};
  if (!s.ok()) {
    audit.failed = true;
    log::Error("audit journal refused a record of request {}: {}", audit.base.request_id,
               s.message());
    co_return Unavailable("audit journal: " + s.message());
  }
  co_return Status::Ok();
}

Response FhirApi::AuditEvents(Call& call) {
  const auto& seg = call.segments;
  const bhttp::verb method = call.req.method();
  bool search = seg.size() == 1 || (seg.size() == 2 && seg[1] == "_search");
  bool read = seg.size() == 2 && !search;
  if (!(search || read) || (read && method != bhttp::verb::get) ||
      (search && method != bhttp::verb::get && !(method == bhttp::verb::post && seg.size() == 2))) {
    return Outcome(405, "not-supported",
                   "the audit trail is read-only: AuditEvent can only be read and searched",
                   "HYGIE-AUDIT-READ-ONLY");
  }
  // A wildcard scope does not open the trail: the token must name AuditEvent.
  if (!call.scopes.AllowsNamed("AuditEvent",
                               read ? auth::Permission::kRead : auth::Permission::kSearch)) {
    return Outcome(403, "forbidden",
                   "reading the audit trail needs a scope naming AuditEvent, e.g. "
                   "user/AuditEvent.rs",
                   "HYGIE-SCOPE-DENIED");
  }
  const std::string& tree = call.tenant;
  if (read) {
    const std::string& id = seg[1];
    uint64_t index = 0;
    bool ok = id.size() >= 2 && id.size() <= 21 && id[0] == 'a';
    for (size_t i = 1; ok && i < id.size(); ++i) {
      ok = std::isdigit(static_cast<unsigned char>(id[i])) != 0;
      if (ok) index = index * 10 + static_cast<uint64_t>(id[i] - '0');
    }
    if (!ok || index >= journal_.Size(tree)) {
      return Outcome(404, "not-found", "no such audit event", "HYGIE-NOT-FOUND");
    }
    std::vector<std::string> out;
    uint64_t next = 0;
    Status s = journal_.Read(tree, index, 1, &out, &next);
    if (!s.ok()) return FromStatus(s);
    if (out.empty()) {
      return Outcome(410, "deleted", "this audit event is past its retention; its hash remains",
                     "HYGIE-AUDIT-PRUNED");
    }
    auto record = audit::DecodeRecord(out[0]);
    if (!record.ok()) return FromStatus(record.status());
    return MakeResponse(200, audit::RenderAuditEvent(*record));
  }

  std::vector<std::pair<std::string, std::string>> params;
  std::optional<uint64_t> before;
  for (const auto& [k, v] : call.params) {
    if (k == "_format") continue;
    if (k == "_before") {
      if (v.empty() || v.size() > 19 || v.find_first_not_of("0123456789") != std::string::npos) {
        return Outcome(400, "value", "_before must be a record index", "HYGIE-PARAM");
      }
      before = std::stoull(v);
      continue;
    }
    params.emplace_back(k, v);
  }
  auto query = audit::AuditQuery::Parse(params);
  if (!query.ok()) return Outcome(400, "not-supported", query.status().message(), "HYGIE-PARAM");
  const size_t count =
      std::min<size_t>(query->count() == 0 ? options_.search_default_count : query->count(),
                       options_.search_max_count);
  const uint64_t size = journal_.Size(tree);
  // Newest first (the default): walk back from the end in chunks. Records are appended in time
  // order (within the clock's jitter), so a walk stops a minute past the query's lower bound.
  constexpr uint64_t kChunk = 512;
  constexpr int64_t kSlackUs = 60LL * 1000000;
  std::vector<audit::Record> hits;
  std::optional<uint64_t> next_before;
  uint64_t end = before ? std::min(*before, size) : size;
  bool done = false;
  while (!done && end > 0) {
    uint64_t from = end > kChunk ? end - kChunk : 0;
    std::vector<std::string> texts;
    uint64_t next = 0;
    Status s = journal_.Read(tree, from, end - from, &texts, &next);
    if (!s.ok()) return FromStatus(s);
    for (auto it = texts.rbegin(); it != texts.rend(); ++it) {
      auto r = audit::DecodeRecord(*it);
      if (!r.ok()) return FromStatus(r.status());
      if (query->min_time_us() > std::numeric_limits<int64_t>::min() + kSlackUs &&
          r->time_us < query->min_time_us() - kSlackUs) {
        done = true;
        break;
      }
      if (!query->Matches(*r)) continue;
      if (hits.size() == count) {
        next_before = hits.back().index;
        done = true;
        break;
      }
      hits.push_back(std::move(r).value());
    }
    end = from;
  }
  if (!query->newest_first()) std::reverse(hits.begin(), hits.end());

  fhir::BundleWriter bundle("searchset", crypto::RandomId(), FormatInstant(clock_.NowMicros()));
  std::string self = call.base + "/AuditEvent";
  bundle.AddLink("self", Link(self, params));
  if (next_before)
    bundle.AddLink("next", Link(self, params, "_before", std::to_string(*next_before)));
  for (const audit::Record& r : hits) {
    fhir::BundleWriter::Entry e;
    e.full_url = call.base + "/AuditEvent/a" + std::to_string(r.index);
    e.resource_json = audit::RenderAuditEvent(r);
    e.search_mode = "match";
    bundle.AddEntry(e);
  }
  return MakeResponse(200, bundle.Finish());
}

namespace {

std::optional<uint64_t> UintParam(const FhirApi::Call& call, std::string_view name) {
  const std::string* v = call.Param(name);
  if (v == nullptr || v->empty() || v->size() > 19 ||
      v->find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  return std::stoull(*v);
}

}  // namespace

Response FhirApi::Admin(Call& call, const std::string& area) {
  const std::string method(call.req.method_string());
  // The access API's path after /admin/access/: the tenant, then the rest.
  std::vector<std::string> access_path;
  if (area == "access") {
    access_path.push_back(call.tenant);
    access_path.insert(access_path.end(), call.segments.begin(), call.segments.end());
  }
  if (area == "audit") {
    call.interaction = "audit-" + (call.segments.empty() ? std::string("admin") : call.segments[0]);
    if (call.interaction.size() > 32) call.interaction = "audit-admin";
  } else if (area == "access") {
    call.interaction = AccessAdminInteraction(method, access_path);
  } else {
    call.interaction = call.req.method() == bhttp::verb::post      ? "issuer-add"
                       : call.req.method() == bhttp::verb::delete_ ? "issuer-remove"
                                                                   : "issuer-list";
  }
  if (auto refused = Authenticate(call)) return *refused;
  std::string second = AdminSecondFactorRefusal(options_.admin_mtls, call.ctx, *call.claims,
                                                options_.admin_acr_values);
  if (!second.empty()) return Outcome(403, "security", second, "HYGIE-ADMIN-SECOND-FACTOR");
  // (KeysFor also notices a tenant created a moment ago by the command line.)
  if (auto keys = KeysFor(call.tenant); !keys.ok()) {
    if (keys.status().code() == Code::kNotFound) {
      return Outcome(404, "not-found", "unknown tenant", "HYGIE-TENANT-UNKNOWN");
    }
    return FromStatus(keys.status());
  }
  // The tenant's trail, through the journal's synchronous path (it does not wait on the I/O
  // threads).
  auto record_in_tenant_tree = [this](const std::string& tenant, audit::Record record) {
    if (record.time_us == 0) record.time_us = clock_.NowMicros();
    return journal_.AppendSync(tenant, {std::move(record)});
  };
  if (area == "audit") {
    if (auto refused = Authorize(call, auth::Intent::kReadAudit)) return *refused;
    return AdminAudit(call);
  }
  if (area == "access") {
    if (grants_ == nullptr) {
      return Outcome(404, "not-found", "access rights are not served here", "HYGIE-NO-ENDPOINT");
    }
    AdminCaller caller;
    caller.subject = call.claims->subject;
    caller.role = call.claims->role;
    caller.professional_id = call.claims->professional_id;
    caller.tenant = call.claims->tenant;
    caller.client_id = call.claims->client_id;
    caller.peer = call.ctx.peer_address;
    AccessAdminHooks hooks;
    hooks.record_in_tenant_tree = record_in_tenant_tree;
    hooks.tenant_exists = [this](const std::string& t) { return keyring_.HasTenant(t); };
    return HandleAccessAdmin(*grants_, method, access_path, call.req.body(), caller,
                             clock_.NowMicros() / 1000000, hooks);
  }
  IssuerAdminHooks hooks;
  hooks.data_dir = options_.data_dir;
  hooks.record_in_tenant_tree = record_in_tenant_tree;
  hooks.reload = issuers_changed_;
  audit::Record base = call.audit->base;
  base.request_id = call.audit->base.request_id;
  return HandleIssuerAdmin(method, call.tenant, call.segments, call.params, call.req.body(),
                           call.claims->role, base, hooks);
}

std::optional<Response> FhirApi::Authorize(Call& call, auth::Intent intent) {
  if (grants_ == nullptr) {
    // Without a grant store the token's role alone decides: host staff never read data.
    if (call.claims->role == "host-operator" && intent != auth::Intent::kAdministerHost) {
      return Outcome(403, "forbidden", "host staff need a break-glass grant of this tenant",
                     "HYGIE-ACCESS-NO-BREAK-GLASS");
    }
    return std::nullopt;
  }
  auth::Accessor who{call.claims->subject, call.claims->role, call.claims->professional_id};
  auth::AccessDecision d = grants_->Decide(who, call.tenant, clock_.NowMicros() / 1000000, intent);
  if (!d.allowed) return Outcome(403, "forbidden", d.reason, d.code);
  if (d.staff) call.audit->base.staff = true;
  if (!d.grant_id.empty()) {
    call.audit->grant =
        (d.break_glass ? (d.emergency ? "emergency break-glass grant " : "break-glass grant ")
                       : "grant ") +
        d.grant_id;
  }
  return std::nullopt;
}

Response FhirApi::AdminAudit(Call& call) {
  const auto& seg = call.segments;
  std::string what;
  for (const std::string& s : seg) what += (what.empty() ? "" : "/") + s;
  if (call.req.method() != bhttp::verb::get) {
    return Outcome(405, "not-supported", "method not allowed");
  }
  if (!call.scopes.AllowsNamed("AuditEvent", auth::Permission::kRead)) {
    return Outcome(403, "forbidden",
                   "the audit journal's proofs need a scope naming AuditEvent, e.g. "
                   "system/AuditEvent.rs",
                   "HYGIE-SCOPE-DENIED");
  }
  if (!keyring_.HasTenant(call.tenant)) {
    return Outcome(404, "not-found", "unknown tenant", "HYGIE-TENANT-UNKNOWN");
  }
  const std::string& tree = call.tenant;
  if (what == "key") {
    auto key = journal_.VerifierKey(tree);
    if (!key.ok()) return FromStatus(key.status());
    return MakeResponse(200, *key + "\n", "text/plain; charset=utf-8");
  }
  auto note = journal_.LatestCheckpoint(tree);
  if (!note.ok()) {
    if (note.status().code() == Code::kNotFound) {
      return Outcome(404, "not-found", "no checkpoint yet: the trail is empty",
                     "HYGIE-AUDIT-EMPTY");
    }
    return FromStatus(note.status());
  }
  if (what == "checkpoint") return MakeResponse(200, *note, "text/plain; charset=utf-8");
  auto vkey = journal_.VerifierKey(tree);
  if (!vkey.ok()) return FromStatus(vkey.status());
  auto verifier = audit::NoteVerifier::Parse(*vkey);
  if (!verifier.ok()) return FromStatus(verifier.status());
  auto cp = verifier->Open(*note);
  if (!cp.ok()) return FromStatus(cp.status());
  audit::ProofJson doc;
  if (what == "proof/inclusion") {
    auto index = UintParam(call, "index");
    auto size = call.Param("size") ? UintParam(call, "size") : std::optional<uint64_t>(cp->size);
    if (!index || !size || *size == 0 || *index >= *size || *size > journal_.Size(tree)) {
      return Outcome(400, "value",
                     "need index < size <= the journal's size (size defaults to the newest "
                     "checkpoint's)",
                     "HYGIE-PARAM");
    }
    auto proof = journal_.InclusionProof(tree, *index, *size);
    if (!proof.ok()) return FromStatus(proof.status());
    auto leaf = journal_.LeafHash(tree, *index);
    if (!leaf.ok()) return FromStatus(leaf.status());
    doc.index = *index;
    doc.size = *size;
    doc.leaf_hash = *leaf;
    doc.proof = std::move(proof).value();
  } else if (what == "proof/consistency") {
    auto size1 = UintParam(call, "size1");
    auto size2 = call.Param("size2") ? UintParam(call, "size2") : std::optional<uint64_t>(cp->size);
    if (!size1 || !size2 || *size1 == 0 || *size1 > *size2 || *size2 > journal_.Size(tree)) {
      return Outcome(400, "value", "need 0 < size1 <= size2 <= the journal's size", "HYGIE-PARAM");
    }
    auto proof = journal_.ConsistencyProof(tree, *size1, *size2);
    if (!proof.ok()) return FromStatus(proof.status());
    doc.size1 = *size1;
    doc.size2 = *size2;
    doc.proof = std::move(proof).value();
  } else {
    return Outcome(404, "not-found",
                   "no such endpoint (checkpoint, key, proof/inclusion, proof/consistency)",
                   "HYGIE-NO-ENDPOINT");
  }
  // The checkpoint the proof leads to, when the proof is for the newest checkpoint's size.
  if (doc.size == cp->size || doc.size2 == cp->size) doc.checkpoint = *note;
  doc.verifier_key = *vkey;
  return MakeResponse(200, audit::WriteProofJson(doc), "application/json");
}

}  // namespace hygie::api
