#pragma once
// FhirApi: the HTTP handlers of Hygie: the FHIR R4 REST API at /fhir/{tenant}/ and the ops
// endpoints /healthz and /readyz.
//
// Path of a FHIR request: parse the target (Boost.URL) -> authenticate the bearer token ->
// check the token's tenant against the URL's -> resolve the tenant (keys, store) -> check the
// resource type and the SMART scopes -> parse and check the body -> seal -> one store
// transaction, group-committed -> respond. Every refusal is an OperationOutcome.
//
// Thread-safety: Handle() is called concurrently from the server's io threads.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include <boost/asio/awaitable.hpp>

#include "auth/token.h"
#include "core/clock.h"
#include "crypto/keyring.h"
#include "fhir/resource.h"
#include "http/server.h"
#include "storage/store.h"

namespace hygie::api {

struct ApiOptions {
  fhir::ParseLimits parse_limits;
  // Base URL used in Location headers and bundles; empty: derived from the Host header.
  std::string public_base_url;
  int max_update_retries = 16;
  size_t history_default_count = 50;
  size_t history_max_count = 1000;
};

class FhirApi {
 public:
  FhirApi(ApiOptions options, crypto::Keyring& keyring, storage::Store& store,
          const auth::TokenVerifier& verifier, const Clock& clock);

  boost::asio::awaitable<http::Response> Handle(http::Request& request,
                                                const http::RequestContext& ctx);
  // The answer to a request refused by the HTTP parser (400, 413, 431).
  http::Response ParserError(int status, std::string_view reason) const;

  // Marks the service ready (readyz answers 200) or not.
  void SetReady(bool ready) { ready_.store(ready); }

 private:
  struct Call;
  boost::asio::awaitable<http::Response> HandleFhir(Call& call);
  http::Response Metadata(Call& call) const;
  boost::asio::awaitable<http::Response> Create(Call& call);
  boost::asio::awaitable<http::Response> Update(Call& call);
  boost::asio::awaitable<http::Response> Delete(Call& call);
  http::Response Read(Call& call);
  http::Response VRead(Call& call);
  http::Response History(Call& call);

  Result<std::shared_ptr<storage::TenantStore>> StoreFor(const std::string& tenant);
  Result<std::shared_ptr<const crypto::TenantKeys>> KeysFor(const std::string& tenant);
  void MaybeReloadKeyring();

  ApiOptions options_;
  crypto::Keyring& keyring_;
  storage::Store& store_;
  const auth::TokenVerifier& verifier_;
  const Clock& clock_;
  std::string capability_json_;
  std::atomic<bool> ready_{false};
  std::atomic<int64_t> last_reload_us_{0};
  std::mutex stores_mu_;
  std::unordered_map<std::string, std::shared_ptr<storage::TenantStore>> stores_;  // GUARDED_BY
};

}  // namespace hygie::api
