#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "api/fhir_api.h"

#include <boost/asio/use_awaitable.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/parse_query.hpp>
#include <boost/url/rfc/pchars.hpp>
#include <boost/url/url_view.hpp>
#include <charconv>
#include <optional>
#include <vector>

#include "api/codec.h"
#include "api/fhir_internal.h"
#include "api/reindex.h"
#include "auth/scopes.h"
#include "core/log.h"
#include "crypto/primitives.h"
#include "fhir/json_patch.h"
#include "fhir/outcome.h"
#include "fhir/parse_errors.h"
#include "fhir/search/indexer.h"
#include "fhir/search/normalize.h"
#include "fhir/validator.h"
#include "tenancy/tenant.h"

namespace hygie::api {

namespace asio = boost::asio;
using http::Request;
using http::Response;

namespace {

// What may stand as is in a path or a query: RFC 3986 pchars, '/' and '?'.
constexpr auto kKeptAsIs = boost::urls::pchars + '/' + '?';

bool IsHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Percent-encodes what a strict URL parser refuses but FHIR clients and the specification's own
// examples write as is ("identifier=http://x|123", spaces, non-ASCII bytes), so that the parser
// sees the URL the client meant. Escapes already there are kept; a '%' not followed by two hex
// digits stays an error (nullopt).
std::optional<std::string> EncodeLenient(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i < text.size() && text[i] != '%') continue;
    out += boost::urls::encode(text.substr(start, i - start), kKeptAsIs);
    if (i == text.size()) break;
    if (i + 2 >= text.size() || !IsHex(text[i + 1]) || !IsHex(text[i + 2])) return std::nullopt;
    out.append(text.substr(i, 3));
    i += 2;
    start = i + 1;
  }
  return out;
}

}  // namespace

bool ParseTarget(std::string_view raw_target, std::vector<std::string>* segments,
                 std::vector<std::pair<std::string, std::string>>* params) {
  std::optional<std::string> target = EncodeLenient(raw_target);
  if (!target) return false;
  auto parsed = boost::urls::parse_origin_form(*target);
  if (!parsed) return false;
  boost::urls::url_view url = *parsed;
  for (auto seg : url.segments()) segments->emplace_back(seg);
  for (auto p : url.params()) {
    params->emplace_back(std::string(p.key), p.has_value ? std::string(p.value) : "");
  }
  return true;
}

bool ParseForm(std::string_view raw_form,
               std::vector<std::pair<std::string, std::string>>* params) {
  if (raw_form.empty()) return true;
  std::optional<std::string> form = EncodeLenient(raw_form);
  if (!form) return false;
  auto parsed = boost::urls::parse_query(*form);
  if (!parsed) return false;
  for (auto p : *parsed) {
    // Form encoding writes spaces as '+'.
    boost::urls::encoding_opts opts;
    opts.space_as_plus = true;
    params->emplace_back(p.key.decode(opts), p.has_value ? p.value.decode(opts) : "");
  }
  return true;
}

Response MakeResponse(int status, std::string body, std::string_view content_type) {
  Response res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::server, "Hygie");
  if (!body.empty() || status != 204) res.set(bhttp::field::content_type, content_type);
  res.body() = std::move(body);
  return res;
}

Response Outcome(int status, std::string_view issue_code, std::string_view diagnostics,
                 std::string_view details_code, std::string_view severity) {
  return MakeResponse(
      status, fhir::OperationOutcomeJson(severity, issue_code, diagnostics, {}, details_code));
}

Response FromStatus(const Status& status, std::string_view details_code) {
  fhir::HttpError e = fhir::MapStatus(status);
  std::string message = status.message();
  if (e.http_status >= 500) {
    // Internal details go to the log, the client gets a stable sentence.
    log::Error("request failed: {}", status.ToString());
    if (status.code() == Code::kDataLoss) {
      message = "stored data failed its integrity check";
    } else if (status.code() == Code::kUnavailable) {
      message = "storage is unavailable; retry later";
    } else {
      message = "internal error";
    }
  }
  return Outcome(e.http_status, e.issue_code, message, details_code);
}

std::string WeakETag(uint64_t version) { return "W/\"" + std::to_string(version) + "\""; }

namespace {

constexpr int64_t kKeyringReloadIntervalUs = 1000000;

// Parses If-Match: W/"n" or "n". nullopt when absent; error when malformed.
Result<std::optional<uint64_t>> ParseIfMatch(const Request& req) {
  auto it = req.find(bhttp::field::if_match);
  if (it == req.end()) return std::optional<uint64_t>();
  std::string_view v = it->value();
  if (v.starts_with("W/")) v.remove_prefix(2);
  if (v.size() < 3 || v.front() != '"' || v.back() != '"') {
    return InvalidArgument("If-Match must be a version ETag such as W/\"3\"");
  }
  v = v.substr(1, v.size() - 2);
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size() || n == 0) {
    return InvalidArgument("If-Match must be a version ETag such as W/\"3\"");
  }
  return std::optional<uint64_t>(n);
}

bool ParseVersion(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && *out > 0;
}

bool IsJsonContentType(std::string_view ct) {
  auto semi = ct.find(';');
  std::string_view mime = ct.substr(0, semi);
  while (!mime.empty() && mime.back() == ' ') mime.remove_suffix(1);
  return mime == "application/fhir+json" || mime == "application/json";
}

enum class PreferReturn { kRepresentation, kMinimal, kOperationOutcome };

PreferReturn ParsePreferReturn(const Request& req) {
  auto it = req.find("Prefer");
  if (it == req.end()) return PreferReturn::kRepresentation;
  std::string_view v = it->value();
  if (v.find("return=minimal") != std::string_view::npos) return PreferReturn::kMinimal;
  if (v.find("return=OperationOutcome") != std::string_view::npos) {
    return PreferReturn::kOperationOutcome;
  }
  return PreferReturn::kRepresentation;
}

}  // namespace

FhirApi::FhirApi(ApiOptions options, crypto::Keyring& keyring, storage::Store& store,
                 const auth::TokenVerifier& verifier, audit::Journal& journal, const Clock& clock)
    : options_(std::move(options)),
      keyring_(keyring),
      store_(store),
      verifier_(verifier),
      address_limiter_(options_.auth_limit, clock),
      client_limiter_(options_.auth_limit, clock),
      journal_(journal),
      clock_(clock) {
  fhir::CapabilityOptions cap;
  cap.software_version = HYGIE_VERSION;
  cap.implementation_url = options_.public_base_url;
  cap.date = FormatInstant(clock_.NowMicros());
  capability_json_ = fhir::CapabilityStatementJson(cap);
  // Compile the search parameter expressions now rather than on the first write.
  const auto& unsupported = fhir::search::Indexer::Get().Unsupported();
  if (!unsupported.empty()) {
    log::Info(
        "{} search parameters have expressions outside the supported FHIRPath subset "
        "and are not indexed",
        unsupported.size());
  }
}

Response FhirApi::ParserError(int status, std::string_view reason) const {
  switch (status) {
    case 413:
      return Outcome(413, "too-long", "request body exceeds the configured limit",
                     "HYGIE-BODY-TOO-LARGE");
    case 431:
      return Outcome(431, "too-long", "request headers exceed the configured limit",
                     "HYGIE-HEADERS-TOO-LARGE");
    case 500:
      return Outcome(500, "exception", "internal error");
    default:
      return Outcome(400, "structure", "malformed HTTP request: " + std::string(reason),
                     "HYGIE-HTTP-MALFORMED");
  }
}

void FhirApi::MaybeReloadKeyring() {
  int64_t now = clock_.NowMicros();
  int64_t last = last_reload_us_.load();
  if (now - last < kKeyringReloadIntervalUs) return;
  if (!last_reload_us_.compare_exchange_strong(last, now)) return;
  Status s = keyring_.Reload();
  if (!s.ok()) log::Warn("keyring reload failed: {}", s.ToString());
}

Result<std::shared_ptr<const crypto::TenantKeys>> FhirApi::KeysFor(const std::string& tenant) {
  MaybeReloadKeyring();
  auto keys = keyring_.Tenant(tenant);
  if (keys.ok()) return keys;
  if (keys.status().code() != Code::kNotFound) return keys.status();
  // A tenant created a moment ago by the CLI: look once more, now.
  HYGIE_RETURN_IF_ERROR(keyring_.Reload());
  return keyring_.Tenant(tenant);
}

std::shared_ptr<const crypto::KeyedHasher> FhirApi::HasherFor(const crypto::TenantKeys& keys) {
  std::lock_guard lock(hashers_mu_);
  auto it = hashers_.find(keys.tenant());
  if (it != hashers_.end()) return it->second;
  auto hasher = std::make_shared<const crypto::KeyedHasher>(keys.index_key());
  hashers_.emplace(keys.tenant(), hasher);
  return hasher;
}

Result<std::shared_ptr<storage::TenantStore>> FhirApi::StoreFor(const std::string& tenant,
                                                                const crypto::TenantKeys& keys) {
  {
    std::lock_guard lock(stores_mu_);
    auto it = stores_.find(tenant);
    if (it != stores_.end()) return it->second;
  }
  HYGIE_ASSIGN_OR_RETURN(auto store, store_.OpenTenant(tenant));
  HYGIE_ASSIGN_OR_RETURN(int64_t index_version, store->IndexVersion());
  if (index_version != kIndexVersion) {
    // Opening the same tenant from two requests at once rebuilds twice; both rebuilds write the
    // same entries, so the result is the same.
    HYGIE_RETURN_IF_ERROR(RebuildIndex(*store, keys));
  }
  std::lock_guard lock(stores_mu_);
  stores_.emplace(tenant, store);
  return store;
}

Status FhirApi::RebuildIndex(storage::TenantStore& store, const crypto::TenantKeys& keys) {
  return api::RebuildIndex(store, keys, *HasherFor(keys), clock_);
}

asio::awaitable<Response> FhirApi::Handle(Request& req, const http::RequestContext& ctx) {
  std::vector<std::string> segments;
  std::vector<std::pair<std::string, std::string>> params;
  if (!ParseTarget(req.target(), &segments, &params)) {
    co_return Outcome(400, "structure", "request target is not a valid URL", "HYGIE-URL-MALFORMED");
  }

  if (segments.size() == 1 && (segments[0] == "healthz" || segments[0] == "readyz")) {
    if (req.method() != bhttp::verb::get && req.method() != bhttp::verb::head) {
      co_return Outcome(405, "not-supported", "method not allowed");
    }
    if (segments[0] == "readyz" && !ready_.load()) {
      co_return MakeResponse(503, "{\"status\":\"starting\"}\n", "application/json");
    }
    if (segments[0] == "readyz") {
      // Integrity warnings that need an operator but do not stop the service (the evidence is
      // in the journal already): an altered, removed or replayed spooled record.
      std::vector<audit::SpoolProblem> spool = journal_.SpoolProblems();
      if (!spool.empty()) {
        rapidjson::StringBuffer buf;
        rapidjson::Writer<rapidjson::StringBuffer> w(buf);
        w.StartObject();
        w.Key("status");
        w.String("ok");
        w.Key("warnings");
        w.StartArray();
        for (const audit::SpoolProblem& p : spool) {
          std::string text = "audit spool: " + std::string(audit::SpoolProblemName(p.kind)) + " " +
                             p.file.substr(p.file.rfind('/') + 1) + ": " + p.detail +
                             " (hygie audit verify)";
          w.String(text.c_str(), static_cast<rapidjson::SizeType>(text.size()));
        }
        w.EndArray();
        w.EndObject();
        co_return MakeResponse(200, std::string(buf.GetString(), buf.GetSize()) + "\n",
                               "application/json");
      }
    }
    co_return MakeResponse(200, "{\"status\":\"ok\"}\n", "application/json");
  }
  if (segments.size() >= 3 && segments[0] == "admin" &&
      (segments[1] == "audit" || segments[1] == "access" || segments[1] == "issuers")) {
    Call call{req, ctx, {}, segments[2], {}, std::move(params)};
    call.segments.assign(segments.begin() + 3, segments.end());
    if (!call.segments.empty() && call.segments.back().empty()) call.segments.pop_back();
    AuditContext audit;
    StartAudit(call, audit);
    Response res = Admin(call, segments[1]);
    if (!call.recorded) AddRecord(call, res.result_int());
    Status recorded = co_await FlushAudit(call);
    if (!recorded.ok()) {
      res = Outcome(503, "transient", "the audit journal cannot record this request",
                    "HYGIE-AUDIT-UNAVAILABLE");
    }
    res.set("X-Request-Id", audit.base.request_id);
    co_return res;
  }
  if (segments.size() < 2 || segments[0] != "fhir") {
    co_return Outcome(404, "not-found", "no such endpoint", "HYGIE-NO-ENDPOINT");
  }

  Call call{req, ctx, {}, segments[1], {}, std::move(params)};
  call.segments.assign(segments.begin() + 2, segments.end());
  // A trailing slash gives an empty last segment: /fhir/acme/Patient/ is /fhir/acme/Patient.
  if (!call.segments.empty() && call.segments.back().empty()) call.segments.pop_back();

  std::string base = options_.public_base_url;
  if (base.empty()) {
    auto host = req.find(bhttp::field::host);
    std::string h = host != req.end() ? std::string(host->value()) : "localhost";
    base = (ctx.tls ? "https://" : "http://") + h;
  }
  call.base = base + "/fhir/" + call.tenant;
  AuditContext audit;
  StartAudit(call, audit);
  Response res = co_await HandleFhir(call);
  // The trail: no answer leaves before its record is durable (fail closed).
  if (!call.recorded && !audit.failed) AddRecord(call, res.result_int());
  Status recorded = co_await FlushAudit(call);
  if (!recorded.ok() || audit.failed) {
    res = Outcome(503, "transient",
                  "the audit journal cannot record this request; nothing is answered until it "
                  "can (retry later)",
                  "HYGIE-AUDIT-UNAVAILABLE");
    res.set(bhttp::field::retry_after, "1");
  }
  res.set("X-Request-Id", audit.base.request_id);
  co_return res;
}

namespace {

// 429 for a client that failed to authenticate too often.
Response Throttled(int64_t retry_after_seconds) {
  Response res = Outcome(429, "throttled",
                         "too many failed authentications from this client; retry after " +
                             std::to_string(retry_after_seconds) + " s",
                         "HYGIE-AUTH-THROTTLED");
  res.set(bhttp::field::retry_after, std::to_string(retry_after_seconds));
  return res;
}

}  // namespace

std::optional<Response> FhirApi::Authenticate(Call& call) {
  // 1. Failed authentications are limited per address (checked before any token work, so a
  // guessing client costs no signature checks) and per client the token names.
  const std::string& peer = call.ctx.peer_address;
  if (int64_t wait = address_limiter_.RetryAfter(peer); wait > 0) return Throttled(wait);
  auto refuse = [this, &peer](std::string_view token, Response res) {
    address_limiter_.RecordFailure(peer);
    if (auto client = auth::UnverifiedClient(token)) {
      if (int64_t wait = client_limiter_.RetryAfter(*client); wait > 0) return Throttled(wait);
      client_limiter_.RecordFailure(*client);
    }
    res.set(bhttp::field::www_authenticate, "Bearer realm=\"hygie\", error=\"invalid_token\"");
    return res;
  };
  auto auth = call.req.find(bhttp::field::authorization);
  if (auth == call.req.end()) {
    address_limiter_.RecordFailure(peer);
    Response res = Outcome(401, "login", "a bearer token is required", "HYGIE-AUTH-MISSING");
    res.set(bhttp::field::www_authenticate, "Bearer realm=\"hygie\"");
    return res;
  }
  std::string_view value = auth->value();
  if (value.size() < 7 || !(value.substr(0, 7) == "Bearer " || value.substr(0, 7) == "bearer ")) {
    return refuse({}, Outcome(401, "login", "the Authorization header must be 'Bearer <token>'",
                              "HYGIE-AUTH-SCHEME"));
  }
  const std::string_view token = value.substr(7);
  // The built-in issuer's tokens, or those of an OpenID Connect issuer the URL's tenant trusts.
  std::optional<std::string> external;
  if (oidc_ != nullptr && oidc_->TrustsAnyIssuer(call.tenant)) {
    external = auth::UnverifiedIssuer(token);
    if (external && *external == verifier_.issuer()) external.reset();
  }
  auto claims = external ? oidc_->Verify(token, call.tenant) : verifier_.Verify(token);
  if (!claims.ok()) {
    if (claims.status().code() == Code::kUnavailable) {
      Response res = Outcome(503, "transient",
                             "the token's issuer cannot be reached to fetch its keys; retry later",
                             "HYGIE-AUTH-ISSUER-UNAVAILABLE");
      res.set(bhttp::field::retry_after, "5");
      return res;
    }
    return refuse(token, Outcome(401, "login", claims.status().message(), "HYGIE-AUTH-INVALID"));
  }
  call.claims = std::move(claims).value();
  call.audit->base.subject = call.claims->subject;
  call.audit->base.client_id = call.claims->client_id;
  call.audit->base.issuer = call.claims->issuer;
  call.audit->base.role = call.claims->role;
  call.audit->base.professional_id = call.claims->professional_id;
  call.audit->base.staff = call.claims->role == "host-operator";
  if (call.audit->base.purpose.empty()) call.audit->base.purpose = call.claims->purpose_of_use;

  // 2. The tenant wall: a token serves its own tenant only. Checked before anything about the
  // URL's tenant or resource is looked at, so the answer cannot depend on what exists there.
  if (call.claims->tenant != call.tenant) {
    return Outcome(403, "forbidden", "the token is not valid for this tenant",
                   "HYGIE-TENANT-MISMATCH");
  }
  if (!tenancy::IsValidTenantName(call.tenant)) {
    return Outcome(404, "not-found", "unknown tenant", "HYGIE-TENANT-UNKNOWN");
  }
  auto scopes = auth::ScopeSet::Parse(call.claims->scope, call.claims->patient.value_or(""));
  if (!scopes.ok()) {
    return Outcome(403, "forbidden", "the token's scopes are malformed", "HYGIE-SCOPE-BAD");
  }
  call.scopes = std::move(scopes).value();
  return std::nullopt;
}

asio::awaitable<Response> FhirApi::HandleFhir(Call& call) {
  const bhttp::verb method = call.req.method();
  const auto& seg = call.segments;

  if (const std::string* format = call.Param("_format")) {
    if (*format != "json" && *format != "application/fhir+json" && *format != "application/json") {
      co_return Outcome(406, "not-supported", "only JSON is supported (_format=json)",
                        "HYGIE-FORMAT");
    }
  }

  // The CapabilityStatement is public, as SMART on FHIR requires: clients read it before they
  // have a token. It is the same for every tenant name and says nothing about tenants.
  if (seg.size() == 1 && seg[0] == "metadata") {
    if (method != bhttp::verb::get) co_return Outcome(405, "not-supported", "method not allowed");
    co_return Metadata(call);
  }

  if (auto refused = Authenticate(call)) co_return *refused;
  auto keys = KeysFor(call.tenant);
  if (!keys.ok()) {
    if (keys.status().code() == Code::kNotFound) {
      co_return Outcome(404, "not-found", "unknown tenant", "HYGIE-TENANT-UNKNOWN");
    }
    co_return FromStatus(keys.status());
  }
  call.keys = std::move(keys).value();
  call.hasher = HasherFor(*call.keys);
  auto store = StoreFor(call.tenant, *call.keys);
  if (!store.ok()) co_return FromStatus(store.status());
  call.store = std::move(store).value();
  if (auto refused = CheckScopeQueries(call, clock_.NowMicros())) co_return *refused;
  co_return co_await Route(call);
}

asio::awaitable<Response> FhirApi::Route(Call& call) {
  Response res = co_await RouteInner(call);
  int status = res.result_int();
  if (!call.recorded) {
    AddRecord(call, status);
  } else if (call.recorded_status != status) {
    // A write recorded before it committed, whose commit then failed: the outcome follows.
    AddRecord(call, status, "the write recorded above did not complete");
  }
  call.recorded = true;
  call.recorded_status = status;
  co_return res;
}

asio::awaitable<Response> FhirApi::RouteInner(Call& call) {
  const bhttp::verb method = call.req.method();
  const auto& seg = call.segments;

  // Query parameters must be valid UTF-8 (they are hashed and compared as text).
  for (const auto& [k, v] : call.params) {
    if (!fhir::search::IsValidUtf8(k) || !fhir::search::IsValidUtf8(v)) {
      co_return Outcome(400, "value", "query parameters must be valid UTF-8", "HYGIE-PARAM");
    }
  }

  // Access rights: the token's role and the tenant's grants (host staff need a break-glass
  // grant). A bundle is decided entry by entry.
  if (!(seg.empty() && method == bhttp::verb::post)) {
    auth::Intent intent = auth::Intent::kWriteHealthData;
    const bool query = method == bhttp::verb::get || method == bhttp::verb::head ||
                       (method == bhttp::verb::post && !seg.empty() &&
                        (seg.back() == "_search" || seg.back() == "$validate"));
    if (!seg.empty() && seg[0] == "AuditEvent") {
      intent = auth::Intent::kReadAudit;
    } else if (query) {
      intent = auth::Intent::kReadHealthData;
    }
    if (auto refused = Authorize(call, intent)) co_return *refused;
  }

  if (seg.empty()) {
    if (method == bhttp::verb::post) {
      if (call.collect != nullptr) {
        co_return Outcome(400, "not-supported", "a bundle cannot be nested in a transaction",
                          "HYGIE-BUNDLE-NESTED");
      }
      co_return co_await Bundle(call);
    }
    if (method == bhttp::verb::get) co_return Search(call, "");
    co_return Outcome(405, "not-supported", "method not allowed");
  }
  if (seg.size() == 1 && seg[0] == "_search" && method == bhttp::verb::post) {
    co_return Search(call, "");
  }
  if (seg.size() == 1 && seg[0] == "_history") {
    if (method != bhttp::verb::get) co_return Outcome(405, "not-supported", "method not allowed");
    // History pages are not searches: a token reaching part of the data (patient/ or narrowed
    // scopes) cannot page through every version of everything.
    if (!call.scopes.AllowsAll("*", auth::Permission::kSearch)) {
      co_return Outcome(403, "forbidden", "system history needs a scope such as user/*.s",
                        "HYGIE-SCOPE-DENIED");
    }
    co_return History(call);
  }
  call.type = seg[0];
  // The audit trail is read-only and served from the journal, not the store.
  if (call.type == "AuditEvent") co_return AuditEvents(call);
  if (!fhir::IsResourceType(call.type)) {
    co_return Outcome(404, "not-supported", "unknown resource type", "HYGIE-TYPE-UNKNOWN");
  }
  auto require = [&](auth::Permission p, std::string_view what) -> std::optional<Response> {
    if (call.scopes.Allows(call.type, p)) return std::nullopt;
    return Outcome(403, "forbidden",
                   "the token's scopes do not allow " + std::string(what) + " on " + call.type,
                   "HYGIE-SCOPE-DENIED");
  };

  if (seg.size() == 1) {
    switch (method) {
      case bhttp::verb::post:
        if (auto denied = require(auth::Permission::kCreate, "create")) co_return *denied;
        co_return co_await Create(call);
      case bhttp::verb::get:
        if (auto denied = require(auth::Permission::kSearch, "search")) co_return *denied;
        co_return Search(call, "");
      case bhttp::verb::put:
      case bhttp::verb::delete_:
      case bhttp::verb::patch:
        co_return co_await Conditional(call);
      default:
        co_return Outcome(405, "not-supported", "method not allowed");
    }
  }
  if (seg.size() == 2 && seg[1] == "_search") {
    if (method != bhttp::verb::post) co_return Outcome(405, "not-supported", "method not allowed");
    if (auto denied = require(auth::Permission::kSearch, "search")) co_return *denied;
    co_return Search(call, "");
  }
  if (seg.size() == 2 && seg[1] == "_history") {
    if (method != bhttp::verb::get) co_return Outcome(405, "not-supported", "method not allowed");
    if (auto denied = require(auth::Permission::kSearch, "type history")) co_return *denied;
    if (!call.scopes.AllowsAll(call.type, auth::Permission::kSearch)) {
      co_return Outcome(403, "forbidden",
                        "type history needs scopes that reach every " + call.type +
                            " (not patient/ or narrowed scopes); use a search",
                        "HYGIE-SCOPE-DENIED");
    }
    co_return History(call);
  }
  if (seg.size() == 2 && seg[1] == "$validate") {
    if (method != bhttp::verb::post) co_return Outcome(405, "not-supported", "method not allowed");
    co_return Validate(call);
  }
  call.id = seg[1];
  if (!fhir::IsValidId(call.id)) {
    co_return Outcome(400, "value", "resource id must match [A-Za-z0-9-.]{1,64}",
                      "HYGIE-ID-INVALID");
  }
  if (seg.size() == 2) {
    switch (method) {
      case bhttp::verb::get:
        if (auto denied = require(auth::Permission::kRead, "read")) co_return *denied;
        co_return Read(call);
      case bhttp::verb::put:
        if (auto denied = require(auth::Permission::kUpdate, "update")) co_return *denied;
        co_return co_await Update(call);
      case bhttp::verb::patch:
        if (auto denied = require(auth::Permission::kUpdate, "patch")) co_return *denied;
        co_return co_await Patch(call);
      case bhttp::verb::delete_:
        if (auto denied = require(auth::Permission::kDelete, "delete")) co_return *denied;
        co_return co_await Delete(call);
      default:
        co_return Outcome(405, "not-supported", "method not allowed");
    }
  }
  if (seg[2] == "_history" && (seg.size() == 3 || seg.size() == 4)) {
    if (method != bhttp::verb::get) co_return Outcome(405, "not-supported", "method not allowed");
    if (auto denied = require(auth::Permission::kRead, "read")) co_return *denied;
    co_return seg.size() == 3 ? History(call) : VRead(call);
  }
  if (seg.size() == 3 && seg[2] == "$validate") {
    if (method != bhttp::verb::post) co_return Outcome(405, "not-supported", "method not allowed");
    co_return Validate(call);
  }
  if (seg.size() == 3 && seg[2] == "$everything" && call.type == "Patient") {
    if (method != bhttp::verb::get) co_return Outcome(405, "not-supported", "method not allowed");
    if (auto denied = require(auth::Permission::kRead, "read")) co_return *denied;
    co_return Everything(call);
  }
  if (seg.size() == 3 && call.type == "Patient" && fhir::IsResourceType(seg[2])) {
    // Compartment search: GET Patient/{id}/{type}.
    if (method != bhttp::verb::get) co_return Outcome(405, "not-supported", "method not allowed");
    std::string patient = call.id;
    call.type = seg[2];
    call.id.clear();
    if (auto denied = require(auth::Permission::kSearch, "search")) co_return *denied;
    co_return Search(call, patient);
  }
  co_return Outcome(404, "not-found", "no such endpoint", "HYGIE-NO-ENDPOINT");
}

Response FhirApi::Metadata(Call& call) const {
  (void)call;
  return MakeResponse(200, capability_json_);
}

namespace {

// Headers of a response that carries one resource version.
void SetVersionHeaders(Response& res, const std::string& base, const std::string& type,
                       const std::string& id, uint64_t version, int64_t last_updated_us,
                       bool location) {
  res.set(bhttp::field::etag, WeakETag(version));
  res.set(bhttp::field::last_modified, FormatHttpDate(last_updated_us));
  if (location) {
    res.set(bhttp::field::location,
            base + "/" + type + "/" + id + "/_history/" + std::to_string(version));
  }
}

Response WriteResponse(int status, PreferReturn prefer, std::string json) {
  switch (prefer) {
    case PreferReturn::kMinimal:
      return MakeResponse(status, "");
    case PreferReturn::kOperationOutcome:
      return MakeResponse(status, fhir::OperationOutcomeJson("information", "informational",
                                                             "the write was stored"));
    case PreferReturn::kRepresentation:
      break;
  }
  return MakeResponse(status, std::move(json));
}

// The answer to a body that failed ParseBody, with the parser's stable details code.
Response BodyError(const Status& status) {
  std::string_view code = fhir::ParseErrorDetailsCode(status);
  return Outcome(400, code.empty() ? "invalid" : "structure", status.message(),
                 code.empty() ? "HYGIE-BODY-INVALID" : code);
}

// 415 unless the body is declared as FHIR JSON (or undeclared).
std::optional<Response> CheckContentType(const Request& req) {
  auto ct = req.find(bhttp::field::content_type);
  if (ct == req.end() || IsJsonContentType(ct->value())) return std::nullopt;
  return Outcome(415, "not-supported", "content type must be application/fhir+json",
                 "HYGIE-MEDIA-TYPE");
}

Response VersionConflict(const std::string& detail) {
  return Outcome(412, "conflict", "version conflict: " + detail, "HYGIE-VERSION-CONFLICT");
}

Response CurrentVersionConflict(uint64_t current) {
  return VersionConflict("the resource's current version is " + std::to_string(current));
}

// Parses and checks a write's body (or takes the bundle entry's resource): JSON, resourceType
// matching the URL.
Result<fhir::Resource> ParseBody(const FhirApi::Call& call, const fhir::ParseLimits& limits) {
  Result<fhir::Resource> parsed = call.body_value != nullptr
                                      ? fhir::Resource::FromValue(*call.body_value)
                                      : fhir::Resource::Parse(call.req.body(), limits);
  HYGIE_ASSIGN_OR_RETURN(fhir::Resource resource, std::move(parsed));
  if (resource.resource_type() != call.type) {
    return InvalidArgument("resourceType '" + std::string(resource.resource_type()) +
                           "' does not match the URL's type '" + call.type + "'");
  }
  return resource;
}

// 400 with every error the validator found; nullopt when the resource is valid (warnings are
// not reasons to refuse).
std::optional<Response> CheckValid(const fhir::Resource& resource) {
  std::vector<fhir::Issue> issues = fhir::ValidateResource(resource.doc());
  bool error = false;
  for (const fhir::Issue& i : issues) error |= i.severity == "error" || i.severity == "fatal";
  if (!error) return std::nullopt;
  return MakeResponse(400, fhir::OperationOutcomeJson(issues));
}

// The new version of a resource, indexed and sealed, ready to commit.
struct Prepared {
  storage::VersionWrite write;
  std::string json;
};

Result<Prepared> PrepareVersion(const crypto::TenantKeys& keys, const crypto::KeyedHasher& hasher,
                                fhir::Resource& resource, const std::string& type,
                                const std::string& id, uint64_t version, uint64_t expected,
                                int64_t now) {
  resource.SetId(id);
  resource.SetVersionMeta(version, FormatInstant(now));
  Prepared p;
  p.json = resource.Serialize();
  HYGIE_ASSIGN_OR_RETURN(SealedBody sealed, SealResource(keys, type, id, version, p.json));
  p.write.record = storage::VersionRecord{
      type, id, version, now, false, sealed.key_id, std::move(sealed.sealed)};
  p.write.expected_current = expected;
  p.write.index = fhir::search::Indexer::Get().Index(resource.doc(), type, hasher, keys.tenant());
  return p;
}

}  // namespace

namespace {

// 403 unless the version about to be written is within what the scopes reach for `permission`
// (patient/ scopes: the token's patient compartment; narrowed scopes: their query).
std::optional<Response> CheckWritten(FhirApi::Call& call, const storage::VersionWrite& write,
                                     const rapidjson::Value& doc, auth::Permission permission,
                                     int64_t now) {
  auto reach = ReachFor(call, call.type, permission, now);
  if (!reach.ok()) return FromStatus(reach.status());
  if (Matches(**reach, write.index, write.record.id, write.record.last_updated_us, &doc)) {
    return std::nullopt;
  }
  return Outcome(403, "forbidden",
                 "the token's scopes do not allow writing this " + call.type +
                     ": it is outside the patient compartment or the scope's query",
                 "HYGIE-SCOPE-DENIED");
}

}  // namespace

asio::awaitable<Status> FhirApi::Write(Call& call, storage::VersionWrite write) {
  if (call.collect != nullptr) {
    // In a transaction: the entries' records are flushed before the one commit.
    call.collect->versions.push_back(std::move(write));
    co_return Status::Ok();
  }
  // The record goes to the journal before the data is committed, with the status the write
  // answers when it succeeds; Route records the real outcome if it differs.
  int planned = write.record.deleted ? 204 : write.record.version == 1 ? 201 : 200;
  call.id = write.record.id;
  AddRecord(call, planned, {}, write.record.version);
  call.recorded = true;
  call.recorded_status = planned;
  Status recorded = co_await FlushAudit(call);
  if (!recorded.ok()) co_return recorded;
  storage::WriteBatch batch;
  batch.versions.push_back(std::move(write));
  co_return co_await AsyncCommit(*call.store, std::move(batch), asio::use_awaitable);
}

asio::awaitable<Response> FhirApi::Create(Call& call) {
  if (auto refused = CheckContentType(call.req)) co_return *refused;
  auto parsed = ParseBody(call, options_.parse_limits);
  if (!parsed.ok()) co_return BodyError(parsed.status());
  fhir::Resource resource = std::move(parsed).value();
  if (auto invalid = CheckValid(resource)) co_return *invalid;

  // Conditional create: If-None-Exist holds a search; a match is returned instead.
  auto if_none_exist = call.req.find("If-None-Exist");
  if (if_none_exist != call.req.end() && call.assigned_id.empty()) {
    std::string_view query = if_none_exist->value();
    if (query.starts_with("?")) query.remove_prefix(1);
    if (size_t q = query.find('?'); q != std::string_view::npos) query = query.substr(q + 1);
    auto ids = MatchIds(call, call.type, query, 1);
    if (!ids.ok()) co_return FromStatus(ids.status(), "HYGIE-CONDITION");
    if (ids->size() > 1) {
      co_return Outcome(412, "duplicate", "If-None-Exist matches more than one resource",
                        "HYGIE-CONDITION-MULTIPLE");
    }
    if (ids->size() == 1) {
      call.id = (*ids)[0];
      co_return Read(call);
    }
  }

  // The server assigns the id; an id in the body is ignored, as FHIR says.
  std::string id =
      call.assigned_id.empty() ? crypto::TimeOrderedId(clock_.NowMicros()) : call.assigned_id;
  int64_t now = clock_.NowMicros();
  auto prepared = PrepareVersion(*call.keys, *call.hasher, resource, call.type, id, 1, 0, now);
  if (!prepared.ok()) co_return FromStatus(prepared.status());
  if (auto denied =
          CheckWritten(call, prepared->write, resource.doc(), auth::Permission::kCreate, now)) {
    co_return *denied;
  }
  std::string json = std::move(prepared->json);
  Status s = co_await Write(call, std::move(prepared->write));
  if (!s.ok()) co_return FromStatus(s);

  Response res = WriteResponse(201, ParsePreferReturn(call.req), std::move(json));
  SetVersionHeaders(res, call.base, call.type, id, 1, now, true);
  co_return res;
}

asio::awaitable<Response> FhirApi::Update(Call& call) {
  if (auto refused = CheckContentType(call.req)) co_return *refused;
  auto if_match = ParseIfMatch(call.req);
  if (!if_match.ok()) co_return Outcome(400, "invalid", if_match.status().message(), "HYGIE-ETAG");
  auto parsed = ParseBody(call, options_.parse_limits);
  if (!parsed.ok()) co_return BodyError(parsed.status());
  fhir::Resource resource = std::move(parsed).value();
  auto body_id = resource.id();
  if (!body_id) {
    co_return Outcome(400, "required", "the resource in an update must carry its id",
                      "HYGIE-ID-MISSING");
  }
  if (*body_id != call.id) {
    co_return Outcome(400, "invalid", "the resource id does not match the URL's id",
                      "HYGIE-ID-MISMATCH");
  }
  if (auto invalid = CheckValid(resource)) co_return *invalid;

  const int attempts = call.collect != nullptr ? 1 : options_.max_update_retries;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    auto current = call.store->ReadCurrent(call.type, call.id);
    if (!current.ok()) co_return FromStatus(current.status());
    uint64_t cur_version = current->has_value() ? (*current)->version : 0;
    bool creates = !current->has_value() || (*current)->deleted;
    if (creates && !call.scopes.Allows(call.type, auth::Permission::kCreate)) {
      co_return Outcome(403, "forbidden",
                        "this update would create the resource; the token's scopes do not "
                        "allow create on " +
                            call.type,
                        "HYGIE-SCOPE-DENIED");
    }
    if (!creates) {
      // Under patient/ or narrowed scopes, a resource out of reach is not there.
      auto reached = ReachesRecord(call, **current, auth::Permission::kUpdate, clock_.NowMicros());
      if (!reached.ok()) co_return FromStatus(reached.status());
      if (!*reached) co_return NotReached();
    }
    if (if_match->has_value() && **if_match != cur_version) {
      co_return CurrentVersionConflict(cur_version);
    }
    uint64_t version = cur_version + 1;
    int64_t now = clock_.NowMicros();
    auto prepared = PrepareVersion(*call.keys, *call.hasher, resource, call.type, call.id, version,
                                   cur_version, now);
    if (!prepared.ok()) co_return FromStatus(prepared.status());
    if (auto denied =
            CheckWritten(call, prepared->write, resource.doc(),
                         creates ? auth::Permission::kCreate : auth::Permission::kUpdate, now)) {
      co_return *denied;
    }
    std::string json = std::move(prepared->json);
    Status s = co_await Write(call, std::move(prepared->write));
    if (s.code() == Code::kConflict) {
      if (if_match->has_value()) {
        co_return VersionConflict("the resource changed meanwhile");
      }
      continue;  // someone else wrote first: read again and retry
    }
    if (!s.ok()) co_return FromStatus(s);
    Response res = WriteResponse(creates ? 201 : 200, ParsePreferReturn(call.req), std::move(json));
    SetVersionHeaders(res, call.base, call.type, call.id, version, now, creates);
    co_return res;
  }
  co_return Outcome(409, "conflict", "too many concurrent updates of this resource; retry",
                    "HYGIE-VERSION-CONFLICT");
}

asio::awaitable<Response> FhirApi::Patch(Call& call) {
  auto ct = call.req.find(bhttp::field::content_type);
  std::string_view mime = ct == call.req.end() ? "" : ct->value();
  mime = mime.substr(0, mime.find(';'));
  if (mime != "application/json-patch+json") {
    co_return Outcome(
        415, "not-supported",
        "PATCH takes a JSON Patch document (Content-Type: application/json-patch+json)",
        "HYGIE-MEDIA-TYPE");
  }
  auto if_match = ParseIfMatch(call.req);
  if (!if_match.ok()) co_return Outcome(400, "invalid", if_match.status().message(), "HYGIE-ETAG");
  auto patch = fhir::ParseJson(call.req.body(), options_.parse_limits);
  if (!patch.ok()) co_return BodyError(patch.status());
  if (!(*patch)->IsArray()) {
    co_return Outcome(400, "structure", "a JSON Patch document is an array of operations",
                      "HYGIE-PATCH-INVALID");
  }
  const int attempts = call.collect != nullptr ? 1 : options_.max_update_retries;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    auto current = call.store->ReadCurrent(call.type, call.id);
    if (!current.ok()) co_return FromStatus(current.status());
    if (!current->has_value()) {
      co_return Outcome(404, "not-found", "no such resource", "HYGIE-NOT-FOUND");
    }
    const storage::VersionRecord& cur = **current;
    {
      auto reached = ReachesRecord(call, cur, auth::Permission::kUpdate, clock_.NowMicros());
      if (!reached.ok()) co_return FromStatus(reached.status());
      if (!*reached) co_return NotReached();
    }
    if (cur.deleted) co_return Outcome(410, "deleted", "the resource was deleted", "HYGIE-DELETED");
    if (if_match->has_value() && **if_match != cur.version) {
      co_return CurrentVersionConflict(cur.version);
    }
    auto json = OpenResource(*call.keys, cur.type, cur.id, cur.version, cur.key_id, cur.body);
    if (!json.ok()) co_return FromStatus(json.status());
    auto resource = fhir::Resource::Parse(*json, options_.parse_limits);
    if (!resource.ok()) co_return FromStatus(resource.status());
    Status applied = fhir::ApplyJsonPatch(**patch, resource->doc());
    if (!applied.ok()) {
      co_return Outcome(400, "processing", applied.message(), "HYGIE-PATCH-FAILED");
    }
    // The patched document must still be this resource.
    std::string patched = resource->Serialize();
    auto reparsed = fhir::Resource::Parse(patched, options_.parse_limits);
    if (!reparsed.ok()) co_return BodyError(reparsed.status());
    if (reparsed->resource_type() != call.type ||
        reparsed->id() != std::optional(std::string_view(call.id))) {
      co_return Outcome(422, "processing", "a patch may not change resourceType or id",
                        "HYGIE-PATCH-FAILED");
    }
    if (auto invalid = CheckValid(*reparsed)) co_return *invalid;
    uint64_t version = cur.version + 1;
    int64_t now = clock_.NowMicros();
    auto prepared = PrepareVersion(*call.keys, *call.hasher, *reparsed, call.type, call.id, version,
                                   cur.version, now);
    if (!prepared.ok()) co_return FromStatus(prepared.status());
    if (auto denied =
            CheckWritten(call, prepared->write, reparsed->doc(), auth::Permission::kUpdate, now)) {
      co_return *denied;
    }
    std::string out = std::move(prepared->json);
    Status s = co_await Write(call, std::move(prepared->write));
    if (s.code() == Code::kConflict) {
      if (if_match->has_value()) co_return VersionConflict("the resource changed meanwhile");
      continue;
    }
    if (!s.ok()) co_return FromStatus(s);
    Response res = WriteResponse(200, ParsePreferReturn(call.req), std::move(out));
    SetVersionHeaders(res, call.base, call.type, call.id, version, now, false);
    co_return res;
  }
  co_return Outcome(409, "conflict", "too many concurrent updates of this resource; retry",
                    "HYGIE-VERSION-CONFLICT");
}

asio::awaitable<Response> FhirApi::Delete(Call& call) {
  auto if_match = ParseIfMatch(call.req);
  if (!if_match.ok()) co_return Outcome(400, "invalid", if_match.status().message(), "HYGIE-ETAG");
  const int attempts = call.collect != nullptr ? 1 : options_.max_update_retries;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    auto current = call.store->ReadCurrent(call.type, call.id);
    if (!current.ok()) co_return FromStatus(current.status());
    if (!current->has_value()) {
      co_return Outcome(404, "not-found", "no such resource", "HYGIE-NOT-FOUND");
    }
    const storage::VersionRecord& cur = **current;
    {
      auto reached = ReachesRecord(call, cur, auth::Permission::kDelete, clock_.NowMicros());
      if (!reached.ok()) co_return FromStatus(reached.status());
      if (!*reached) co_return NotReached();
    }
    if (if_match->has_value() && **if_match != cur.version) {
      co_return CurrentVersionConflict(cur.version);
    }
    if (cur.deleted) {
      Response res = MakeResponse(204, "");
      res.set(bhttp::field::etag, WeakETag(cur.version));
      co_return res;  // deleting a deleted resource changes nothing
    }
    uint64_t version = cur.version + 1;
    int64_t now = clock_.NowMicros();
    storage::VersionWrite write;
    write.record = storage::VersionRecord{call.type, call.id, version, now, true, 0, {}};
    write.expected_current = cur.version;
    Status s = co_await Write(call, std::move(write));
    if (s.code() == Code::kConflict) {
      if (if_match->has_value()) {
        co_return VersionConflict("the resource changed meanwhile");
      }
      continue;
    }
    if (!s.ok()) co_return FromStatus(s);
    Response res = MakeResponse(204, "");
    res.set(bhttp::field::etag, WeakETag(version));
    co_return res;
  }
  co_return Outcome(409, "conflict", "too many concurrent updates of this resource; retry",
                    "HYGIE-VERSION-CONFLICT");
}

// PUT, DELETE and PATCH on a type with a search: the search picks the resource.
asio::awaitable<Response> FhirApi::Conditional(Call& call) {
  const bhttp::verb method = call.req.method();
  auto permission =
      method == bhttp::verb::delete_ ? auth::Permission::kDelete : auth::Permission::kUpdate;
  if (!call.scopes.Allows(call.type, permission) ||
      !call.scopes.Allows(call.type, auth::Permission::kSearch)) {
    co_return Outcome(403, "forbidden",
                      "a conditional " + std::string(bhttp::to_string(method)) +
                          " needs the search and write permissions on " + call.type,
                      "HYGIE-SCOPE-DENIED");
  }
  if (call.params.empty()) {
    co_return Outcome(400, "required",
                      "a conditional interaction on a type needs search parameters",
                      "HYGIE-CONDITION");
  }
  std::string_view target = call.req.target();
  std::string_view query = target.substr(target.find('?') + 1);
  auto ids = MatchIds(call, call.type, query, 1);
  if (!ids.ok()) co_return FromStatus(ids.status(), "HYGIE-CONDITION");
  if (ids->size() > 1) {
    co_return Outcome(412, "multiple-matches", "the condition matches more than one resource",
                      "HYGIE-CONDITION-MULTIPLE");
  }
  if (method == bhttp::verb::delete_) {
    if (ids->empty()) {
      co_return MakeResponse(200,
                             fhir::OperationOutcomeJson("information", "not-found",
                                                        "no resource matched; nothing deleted"));
    }
    call.id = (*ids)[0];
    co_return co_await Delete(call);
  }
  if (method == bhttp::verb::patch) {
    if (ids->empty()) co_return Outcome(404, "not-found", "no resource matched", "HYGIE-NOT-FOUND");
    call.id = (*ids)[0];
    co_return co_await Patch(call);
  }
  // PUT: one match is updated; none creates (with the body's id if it has one).
  if (auto refused = CheckContentType(call.req)) co_return *refused;
  auto parsed = ParseBody(call, options_.parse_limits);
  if (!parsed.ok()) co_return BodyError(parsed.status());
  auto body_id = parsed->id();
  if (ids->size() == 1) {
    if (body_id && *body_id != (*ids)[0]) {
      co_return Outcome(400, "invalid", "the resource id differs from the matched resource's",
                        "HYGIE-ID-MISMATCH");
    }
    call.id = (*ids)[0];
    if (!body_id) {
      parsed->SetId(call.id);
      call.req.body() = parsed->Serialize();
      call.body_value = nullptr;
    }
  } else if (body_id) {
    call.id = std::string(*body_id);
    auto existing = call.store->ReadCurrent(call.type, call.id);
    if (!existing.ok()) co_return FromStatus(existing.status());
    if (existing->has_value() && !(*existing)->deleted) {
      co_return Outcome(
          409, "conflict",
          "the body's id names an existing resource that the condition does not match",
          "HYGIE-CONDITION");
    }
  } else {
    call.id =
        call.assigned_id.empty() ? crypto::TimeOrderedId(clock_.NowMicros()) : call.assigned_id;
    parsed->SetId(call.id);
    call.req.body() = parsed->Serialize();
    call.body_value = nullptr;
  }
  co_return co_await Update(call);
}

namespace {

Response VersionResponse(const storage::VersionRecord& rec, const crypto::TenantKeys& keys,
                         const std::string& base) {
  if (rec.deleted) {
    Response res = Outcome(410, "deleted", "the resource was deleted", "HYGIE-DELETED");
    res.set(bhttp::field::etag, WeakETag(rec.version));
    res.set(bhttp::field::last_modified, FormatHttpDate(rec.last_updated_us));
    return res;
  }
  auto json = OpenResource(keys, rec.type, rec.id, rec.version, rec.key_id, rec.body);
  if (!json.ok()) return FromStatus(json.status());
  Response res = MakeResponse(200, std::move(json).value());
  SetVersionHeaders(res, base, rec.type, rec.id, rec.version, rec.last_updated_us, false);
  return res;
}

}  // namespace

Response FhirApi::Read(Call& call) {
  auto current = call.store->ReadCurrent(call.type, call.id);
  if (!current.ok()) return FromStatus(current.status());
  if (!current->has_value())
    return Outcome(404, "not-found", "no such resource", "HYGIE-NOT-FOUND");
  auto reached = ReachesRecord(call, **current, auth::Permission::kRead, clock_.NowMicros());
  if (!reached.ok()) return FromStatus(reached.status());
  if (!*reached) return NotReached();
  return VersionResponse(**current, *call.keys, call.base);
}

Response FhirApi::VRead(Call& call) {
  uint64_t version = 0;
  if (!ParseVersion(call.segments[3], &version)) {
    return Outcome(400, "value", "version id must be a positive integer", "HYGIE-VERSION-INVALID");
  }
  auto rec = call.store->ReadVersion(call.type, call.id, version);
  if (!rec.ok()) return FromStatus(rec.status());
  if (!rec->has_value()) {
    return Outcome(404, "not-found", "no such resource version", "HYGIE-NOT-FOUND");
  }
  auto reached = ReachesRecord(call, **rec, auth::Permission::kRead, clock_.NowMicros());
  if (!reached.ok()) return FromStatus(reached.status());
  if (!*reached) return NotReached("no such resource version");
  return VersionResponse(**rec, *call.keys, call.base);
}

Response FhirApi::Validate(Call& call) {
  if (!call.scopes.Allows(call.type, auth::Permission::kCreate) &&
      !call.scopes.Allows(call.type, auth::Permission::kUpdate)) {
    return Outcome(403, "forbidden",
                   "$validate needs the create or update permission on " + call.type,
                   "HYGIE-SCOPE-DENIED");
  }
  if (auto refused = CheckContentType(call.req)) return *refused;
  auto doc = fhir::ParseJson(call.req.body(), options_.parse_limits);
  if (!doc.ok()) return BodyError(doc.status());
  // The body is the resource, or a Parameters resource with a "resource" parameter.
  const rapidjson::Value* target = doc->get();
  if (target->IsObject()) {
    auto rt = target->FindMember("resourceType");
    if (rt != target->MemberEnd() && rt->value.IsString() &&
        std::string_view(rt->value.GetString()) == "Parameters" && call.type != "Parameters") {
      target = nullptr;
      auto params = doc->get()->FindMember("parameter");
      if (params != doc->get()->MemberEnd() && params->value.IsArray()) {
        for (const auto& p : params->value.GetArray()) {
          if (!p.IsObject()) continue;
          auto name = p.FindMember("name");
          auto res = p.FindMember("resource");
          if (name != p.MemberEnd() && name->value.IsString() &&
              std::string_view(name->value.GetString()) == "resource" && res != p.MemberEnd()) {
            target = &res->value;
          }
        }
      }
      if (target == nullptr) {
        return Outcome(400, "required", "the Parameters carry no 'resource' parameter",
                       "HYGIE-VALIDATE-NO-RESOURCE");
      }
    }
  }
  auto rt = target->IsObject() ? target->FindMember("resourceType") : target->MemberEnd();
  if (!target->IsObject() || rt == target->MemberEnd() || !rt->value.IsString() ||
      std::string_view(rt->value.GetString()) != call.type) {
    return Outcome(400, "invalid", "the resource to validate must be a " + call.type,
                   "HYGIE-VALIDATE-TYPE");
  }
  std::vector<fhir::Issue> issues = fhir::ValidateResource(*target);
  if (issues.empty()) {
    fhir::Issue ok;
    ok.severity = "information";
    ok.code = "informational";
    ok.diagnostics = "the resource is valid against the R4 base definitions";
    issues.push_back(std::move(ok));
  }
  return MakeResponse(200, fhir::OperationOutcomeJson(issues));
}

Response FhirApi::History(Call& call) {
  storage::HistoryQuery q;
  q.type = call.type;
  q.id = call.id;
  q.limit = options_.history_default_count;
  std::string self_query;
  for (const auto& [k, v] : call.params) {
    if (k == "_count") {
      uint64_t n = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc() || p != v.data() + v.size()) {
        return Outcome(400, "value", "_count must be a non-negative integer", "HYGIE-PARAM");
      }
      q.limit = std::min<uint64_t>(n, options_.history_max_count);
    } else if (k == "_since") {
      auto t = ParseInstant(v);
      if (!t.ok()) {
        return Outcome(400, "value", "_since must be a FHIR instant", "HYGIE-PARAM");
      }
      q.since_us = *t;
    } else if (k == "_cursor") {
      uint64_t n = 0;
      if (!ParseVersion(v, &n)) {
        return Outcome(400, "value", "_cursor is not valid", "HYGIE-PARAM");
      }
      q.before_seq = n;
    } else if (k == "_format") {
      // checked earlier
    } else {
      return Outcome(400, "not-supported",
                     "history accepts only _count, _since and paging parameters", "HYGIE-PARAM");
    }
  }
  // Instance history under patient/ or narrowed scopes: the resource must be reached (else the
  // 404 of a missing id), and each version is shown only if it is reached itself.
  bool filtered = false;
  if (!call.id.empty() && !call.scopes.AllowsAll(call.type, auth::Permission::kRead)) {
    filtered = true;
    auto current = call.store->ReadCurrent(call.type, call.id);
    if (!current.ok()) return FromStatus(current.status());
    if (!current->has_value()) return NotReached();
    auto reached = ReachesRecord(call, **current, auth::Permission::kRead, clock_.NowMicros());
    if (!reached.ok()) return FromStatus(reached.status());
    if (!*reached) return NotReached();
  }
  auto count = call.store->HistoryCount(q);
  if (!count.ok()) return FromStatus(count.status());
  // One more than asked tells whether a next page exists.
  size_t asked = q.limit;
  q.limit = asked + 1;
  auto entries = call.store->History(q);
  if (!entries.ok()) return FromStatus(entries.status());
  bool more = entries->size() > asked;
  if (more) entries->resize(asked);

  std::string path = call.base;
  if (!call.type.empty()) path += "/" + call.type;
  if (!call.id.empty()) path += "/" + call.id;
  path += "/_history";
  std::string common = "?_count=" + std::to_string(asked);
  if (q.since_us != 0) common += "&_since=" + FormatInstant(q.since_us);

  fhir::BundleWriter bundle("history", crypto::RandomId(), FormatInstant(clock_.NowMicros()));
  if (!filtered) bundle.SetTotal(*count);
  std::string self = path + common;
  if (q.before_seq != 0) self += "&_cursor=" + std::to_string(q.before_seq);
  bundle.AddLink("self", self);
  if (more && !entries->empty()) {
    bundle.AddLink("next", path + common + "&_cursor=" + std::to_string(entries->back().seq));
  }
  for (const storage::HistoryEntry& e : *entries) {
    const storage::VersionRecord& r = e.record;
    if (filtered) {
      auto reached = ReachesRecord(call, r, auth::Permission::kRead, clock_.NowMicros());
      if (!reached.ok()) return FromStatus(reached.status());
      if (!*reached) continue;
    }
    fhir::BundleWriter::Entry entry;
    entry.full_url = call.base + "/" + r.type + "/" + r.id;
    if (r.deleted) {
      entry.request_method = "DELETE";
      entry.request_url = r.type + "/" + r.id;
      entry.response_status = "204 No Content";
    } else {
      auto json = OpenResource(*call.keys, r.type, r.id, r.version, r.key_id, r.body);
      if (!json.ok()) return FromStatus(json.status());
      entry.resource_json = std::move(json).value();
      entry.request_method = r.version == 1 ? "POST" : "PUT";
      entry.request_url = r.version == 1 ? r.type : r.type + "/" + r.id;
      entry.response_status = r.version == 1 ? "201 Created" : "200 OK";
    }
    entry.response_etag = WeakETag(r.version);
    entry.response_last_modified = FormatInstant(r.last_updated_us);
    bundle.AddEntry(entry);
  }
  return MakeResponse(200, bundle.Finish());
}

}  // namespace hygie::api
