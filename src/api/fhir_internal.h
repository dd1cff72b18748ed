#pragma once
// Pieces shared by the FHIR handlers (fhir_api.cc, fhir_search.cc, fhir_bundle.cc): the state
// of one call, response builders and the group-commit awaitable. Internal to api/.

#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/verb.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/fhir_api.h"
#include "audit/record.h"
#include "auth/scopes.h"
#include "fhir/outcome.h"

#include <rapidjson/document.h>

namespace hygie::api {

namespace bhttp = boost::beast::http;

inline constexpr std::string_view kFhirJson = "application/fhir+json; charset=utf-8";

// The audit state of one HTTP request: the part of the record common to every entry (when,
// who, from where, why) and the records not yet handed to the journal.
struct AuditContext {
  audit::Record base;
  std::string tree;  // the tenant's tree, or the system tree when the tenant is unknown
  std::vector<audit::Record> pending;
  std::shared_ptr<const audit::TreeKeys> keys;  // of `tree`: query values are hashed under them
  bool failed = false;  // a flush failed: the request must not answer with data
};

// Everything known about one request (or one bundle entry) as it moves down the path.
struct FhirApi::Call {
  http::Request& req;
  const http::RequestContext& ctx;
  std::string base;  // e.g. http://host:port/fhir/acme
  std::string tenant;
  std::vector<std::string> segments;                        // after /fhir/{tenant}/
  std::vector<std::pair<std::string, std::string>> params;  // decoded
  std::shared_ptr<const auth::Claims> claims;
  auth::ScopeSet scopes;
  std::shared_ptr<const crypto::TenantKeys> keys;
  std::shared_ptr<const crypto::KeyedHasher> hasher;
  std::shared_ptr<storage::TenantStore> store;
  std::string type;
  std::string id;
  // Inside a transaction: writes are added here instead of being committed, and a create takes
  // assigned_id (chosen before, so that urn:uuid references can be rewritten).
  storage::WriteBatch* collect = nullptr;
  std::string assigned_id;
  // A bundle entry's resource, already parsed with the bundle: used instead of req.body().
  const rapidjson::Value* body_value = nullptr;
  // The request's audit state (shared by the entries of a bundle), and whether this call's
  // record was already made (a write records itself before it commits).
  AuditContext* audit = nullptr;
  bool recorded = false;
  int recorded_status = 0;
  std::string interaction;  // set by handlers that know better than the URL (batch, transaction)

  const std::string* Param(std::string_view name) const {
    for (const auto& [k, v] : params) {
      if (k == name) return &v;
    }
    return nullptr;
  }
};

// Fills segments and params of `call` from an origin-form target ("/fhir/t/Patient?x=y").
// False when the target is not a valid URL.
bool ParseTarget(std::string_view target, std::vector<std::string>* segments,
                 std::vector<std::pair<std::string, std::string>>* params);
// Decodes an application/x-www-form-urlencoded string ("a=1&b=2"). False when malformed.
bool ParseForm(std::string_view form, std::vector<std::pair<std::string, std::string>>* params);

// path?k=v&... with the parameters percent-encoded (Boost.URL), plus one extra parameter.
std::string Link(const std::string& path,
                 const std::vector<std::pair<std::string, std::string>>& params,
                 std::string_view extra_key = {}, std::string_view extra_value = {});

http::Response MakeResponse(int status, std::string body,
                            std::string_view content_type = kFhirJson);
http::Response Outcome(int status, std::string_view issue_code, std::string_view diagnostics,
                       std::string_view details_code = {}, std::string_view severity = "error");
http::Response FromStatus(const Status& status, std::string_view details_code = {});
std::string WeakETag(uint64_t version);

// Awaits a group commit: the store calls back on its writer thread; the coroutine resumes on
// its own executor.
template <typename Token>
auto AsyncCommit(storage::TenantStore& store, storage::WriteBatch batch, Token&& token) {
  namespace asio = boost::asio;
  return asio::async_initiate<Token, void(Status)>(
      [&store](auto handler, storage::WriteBatch batch) {
        auto ex = asio::get_associated_executor(handler);
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        store.Commit(std::move(batch), [shared, ex](Status status) {
          asio::post(
              ex, [shared, status = std::move(status)]() mutable { (*shared)(std::move(status)); });
        });
      },
      token, std::move(batch));
}

}  // namespace hygie::api

namespace hygie::api {

// Awaits the journal: the callback runs on the tree's writer thread; the coroutine resumes on
// its own executor.
template <typename Token>
auto AsyncAppend(audit::Journal& journal, const std::string& tree,
                 std::vector<audit::Record> records, Token&& token) {
  namespace asio = boost::asio;
  return asio::async_initiate<Token, void(Status)>(
      [&journal, &tree](auto handler, std::vector<audit::Record> records) {
        auto ex = asio::get_associated_executor(handler);
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        journal.Append(tree, std::move(records), [shared, ex](Status status) {
          asio::post(
              ex, [shared, status = std::move(status)]() mutable { (*shared)(std::move(status)); });
        });
      },
      token, std::move(records));
}

}  // namespace hygie::api
