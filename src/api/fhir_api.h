#pragma once
// FhirApi: the HTTP handlers of Hygie: the FHIR R4 REST API at /fhir/{tenant}/ and the ops
// endpoints /healthz and /readyz.
//
// Path of a FHIR request: parse the target (Boost.URL) -> authenticate the bearer token ->
// check the token's tenant against the URL's -> resolve the tenant (keys, index key, store) ->
// route -> check the resource type and the SMART scopes -> parse, validate (R4 base
// definitions) and check the body -> blind-index and seal -> one store transaction,
// group-committed -> respond. Every refusal is an OperationOutcome.
//
// Interactions: create, read, vread, update, patch (JSON Patch), delete, conditional create /
// update / delete / patch, history (instance, type, system), search (GET and POST _search, type
// and system level, Patient compartment), batch and transaction bundles, $validate and
// Patient/$everything, metadata. The FHIR handlers live in fhir_api.cc (routing, reads, writes),
// fhir_search.cc (search, includes, compartments, $everything), fhir_access.cc (what SMART
// scopes reach: patient compartments, narrowing queries), fhir_audit.cc (the audit trail and
// the admin API) and fhir_bundle.cc (batch,
// transaction).
//
// Thread-safety: Handle() is called concurrently from the server's io threads.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "api/reindex.h"
#include "audit/journal.h"
#include "auth/grants.h"
#include "auth/oidc.h"
#include "auth/rate_limit.h"
#include "auth/token.h"
#include "core/clock.h"
#include "crypto/keyed_hash.h"
#include "crypto/keyring.h"
#include "fhir/resource.h"
#include "http/server.h"
#include "storage/store.h"

namespace hygie::api {

struct AuditContext;

struct ApiOptions {
  fhir::ParseLimits parse_limits;
  // Base URL used in Location headers and bundles; empty: derived from the Host header.
  std::string public_base_url;
  int max_update_retries = 16;
  size_t history_default_count = 50;
  size_t history_max_count = 1000;
  size_t search_default_count = 50;
  size_t search_max_count = 1000;
  // Most resources an _include/_revinclude adds to one page, and $everything returns.
  size_t max_included = 1000;
  size_t max_everything = 10000;
  size_t max_bundle_entries = 1000;
  // Failed authentications, limited per client address and per client (429 + Retry-After).
  auth::RateLimitOptions auth_limit;
  // The admin API (/admin/...) needs a client certificate verified by the listener's client CA
  // (admin_mtls: one is configured), or a token whose amr shows multi-factor authentication
  // ("mfa", or two factors of RFC 8176) or whose acr is one of admin_acr_values.
  bool admin_mtls = false;
  std::vector<std::string> admin_acr_values;
  // The data directory (trusted issuers' file, for the admin API).
  std::string data_dir;
};

class FhirApi {
 public:
  FhirApi(ApiOptions options, crypto::Keyring& keyring, storage::Store& store,
          const auth::TokenVerifier& verifier, audit::Journal& journal, const Clock& clock);

  boost::asio::awaitable<http::Response> Handle(http::Request& request,
                                                const http::RequestContext& ctx);
  // The answer to a request refused by the HTTP parser (400, 413, 431).
  http::Response ParserError(int status, std::string_view reason) const;

  // External OpenID Connect issuers trusted by tenants; null (the default): the built-in
  // issuer only. Not owned; set before serving.
  void SetOidcVerifier(const auth::OidcVerifier* oidc) { oidc_ = oidc; }
  // Called after the admin API changed the trusted issuers (to reload the verifier).
  void SetIssuersChanged(std::function<void()> changed) { issuers_changed_ = std::move(changed); }
  // Access rights (roles, grants, break-glass); null: the token's role alone decides. Not
  // owned; set before serving.
  void SetGrantStore(auth::GrantStore* grants) { grants_ = grants; }

  // Marks the service ready (readyz answers 200) or not.
  void SetReady(bool ready) { ready_.store(ready); }

  // The state of one call (defined in fhir_internal.h, used by the handlers' helpers).
  struct Call;

 private:
  boost::asio::awaitable<http::Response> HandleFhir(Call& call);
  // Everything after authentication: routes to the interaction (also used for bundle entries),
  // then adds the call's audit record.
  boost::asio::awaitable<http::Response> Route(Call& call);
  boost::asio::awaitable<http::Response> RouteInner(Call& call);
  // fhir_audit.cc: the audit trail of requests, and AuditEvent reads.
  void StartAudit(Call& call, AuditContext& audit);
  // Encodes the call's record (`version`: the version written, when the path does not name it).
  void AddRecord(Call& call, int status, std::string_view detail = {}, uint64_t version = 0);
  // Hands the pending records to the journal and waits until they are durable. kUnavailable
  // (and audit->failed) when they could not be written.
  boost::asio::awaitable<Status> FlushAudit(Call& call);
  http::Response AuditEvents(Call& call);
  // GET /admin/audit/{tenant}/{checkpoint|key|proof/inclusion|proof/consistency}.
  http::Response AdminAudit(Call& call);
  // /admin/{audit|access|issuers}/{tenant}/...: authentication, the second factor (mutual TLS
  // or a multi-factor token), then the area's handler.
  http::Response Admin(Call& call, const std::string& area);
  // The access decision of the token's role and the tenant's grants for this call (403 when
  // refused); marks staff access in the call's records.
  std::optional<http::Response> Authorize(Call& call, auth::Intent intent);
  // Checks the bearer token and the tenant wall, fills call.claims and call.scopes; the
  // refusal otherwise.
  std::optional<http::Response> Authenticate(Call& call);
  http::Response Metadata(Call& call) const;
  boost::asio::awaitable<http::Response> Create(Call& call);
  boost::asio::awaitable<http::Response> Update(Call& call);
  boost::asio::awaitable<http::Response> Patch(Call& call);
  boost::asio::awaitable<http::Response> Delete(Call& call);
  boost::asio::awaitable<http::Response> Conditional(Call& call);
  // Commits one version (or adds it to the transaction being built).
  boost::asio::awaitable<Status> Write(Call& call, storage::VersionWrite write);
  http::Response Read(Call& call);
  http::Response VRead(Call& call);
  http::Response History(Call& call);
  http::Response Validate(Call& call);
  // fhir_search.cc
  http::Response Search(Call& call, const std::string& compartment_patient);
  http::Response Everything(Call& call);
  // Ids of the resources matching a search (limit + 1 at most); for conditional interactions.
  Result<std::vector<std::string>> MatchIds(Call& call, std::string_view type,
                                            std::string_view query, size_t limit);
  // fhir_bundle.cc
  boost::asio::awaitable<http::Response> Bundle(Call& call);

  Result<std::shared_ptr<storage::TenantStore>> StoreFor(const std::string& tenant,
                                                         const crypto::TenantKeys& keys);
  Result<std::shared_ptr<const crypto::TenantKeys>> KeysFor(const std::string& tenant);
  std::shared_ptr<const crypto::KeyedHasher> HasherFor(const crypto::TenantKeys& keys);
  // Rebuilds the blind index of a tenant whose index version differs from the current one.
  Status RebuildIndex(storage::TenantStore& store, const crypto::TenantKeys& keys);
  void MaybeReloadKeyring();

  ApiOptions options_;
  crypto::Keyring& keyring_;
  storage::Store& store_;
  const auth::TokenVerifier& verifier_;
  const auth::OidcVerifier* oidc_ = nullptr;
  std::function<void()> issuers_changed_;
  auth::GrantStore* grants_ = nullptr;
  // Failed authentications per client address and per (unverified) client.
  auth::FailureLimiter address_limiter_;
  auth::FailureLimiter client_limiter_;
  audit::Journal& journal_;
  const Clock& clock_;
  std::string capability_json_;
  std::atomic<bool> ready_{false};
  std::atomic<int64_t> last_reload_us_{0};
  std::mutex stores_mu_;
  std::unordered_map<std::string, std::shared_ptr<storage::TenantStore>> stores_;  // GUARDED_BY
  std::mutex hashers_mu_;
  std::unordered_map<std::string, std::shared_ptr<const crypto::KeyedHasher>>
      hashers_;  // GUARDED_BY(hashers_mu_)
};

}  // namespace hygie::api
