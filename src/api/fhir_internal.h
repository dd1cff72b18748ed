#pragma once
// Pieces shared by the FHIR handlers (fhir_api.cc, fhir_search.cc, fhir_bundle.cc,
// fhir_access.cc): the state of one call, what its scopes reach, response builders and the
// group-commit awaitable. Internal to api/.

#include <boost/asio/async_result.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/verb.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "api/fhir_api.h"
#include "audit/journal.h"
#include "audit/record.h"
#include "auth/scopes.h"
#include "fhir/outcome.h"
#include "fhir/search/query.h"
#include "http/inbox.h"

#include <rapidjson/document.h>

namespace hygie::api {

namespace bhttp = boost::beast::http;

inline constexpr std::string_view kFhirJson = "application/fhir+json; charset=utf-8";

// The audit state of one HTTP request: the part of the record common to every entry (when,
// who, from where, why) and the records not yet handed to the journal.
struct AuditContext {
  audit::Record base;
  std::string tree;  // the tenant's tree, or the system tree when the tenant is unknown
  audit::EncodedRecords pending;                // records not yet handed to the journal
  std::shared_ptr<const audit::TreeKeys> keys;  // of `tree`: query values are hashed under them
  bool failed = false;  // a flush failed: the request must not answer with data
  // The grant that allowed the request (e.g. "break-glass grant <id>"), noted in its records.
  std::string grant;
};

// What a call's scopes reach of one resource type for one interaction, as search clauses over the
// blind index: every resource (all), or the union of `filters`, each a conjunction of clauses
// (the patient compartment, a scope's query). No filter and not all: nothing.
struct ReachClauses {
  bool all = false;
  std::vector<std::vector<storage::SearchClause>> filters;
  // checks[i]: the string checks of filters[i] (values of a scope's query that are not of an
  // indexed prefix length), decided on the resource itself.
  std::vector<std::vector<fhir::search::StringCheck>> checks;
  bool has_checks = false;
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
  // ReachFor's answers, by type and permission.
  std::unordered_map<std::string, std::shared_ptr<const ReachClauses>> reach_cache;

  const std::string* Param(std::string_view name) const {
    for (const auto& [k, v] : params) {
      if (k == name) return &v;
    }
    return nullptr;
  }
};

// --- fhir_search.cc ---

// The store filter (storage::SearchQuery::filter) that keeps the candidates passing `checks`:
// string values not of an indexed prefix length, checked on the decrypted resource. Empty when
// there is no check. The filter refers to `call`, which must outlive the query.
std::function<Result<bool>(const storage::SearchHit&)> StringCheckFilter(
    FhirApi::Call& call, std::vector<fhir::search::StringCheck> checks);
// Whether a resource of `type` passes every check of its type.
bool PassesChecks(const rapidjson::Value& doc, std::string_view type,
                  const std::vector<fhir::search::StringCheck>& checks);
// Parses a resource body read back from the store: the server wrote it (Resource::Serialize) and
// it opened under its AEAD key, so it is trusted JSON, parsed without the checks of client input.
// nullptr if it is not a JSON object.
std::unique_ptr<rapidjson::Document> ParseStored(const std::string& json);

// --- fhir_access.cc: what the token's scopes reach (auth/scopes.h for the rules) ---

// The clauses of what the call's scopes reach of `type` for `permission` (cached in the call).
Result<std::shared_ptr<const ReachClauses>> ReachFor(FhirApi::Call& call, const std::string& type,
                                                     auth::Permission permission, int64_t now_us);
// Whether one resource version, given its index entries and its document (for the string checks
// of scope queries; without it, a filter with checks does not match), is among what `reach`
// reaches.
bool Matches(const ReachClauses& reach, const storage::IndexEntries& index, std::string_view id,
             int64_t last_updated_us, const rapidjson::Value* doc);
// Whether a resource about to be written (parsed) is reached for `permission`.
Result<bool> ReachesResource(FhirApi::Call& call, const std::string& type, const std::string& id,
                             int64_t last_updated_us, const rapidjson::Value& resource,
                             auth::Permission permission, int64_t now_us);
// Whether a stored version is reached for `permission` (a tombstone: the version it deleted).
Result<bool> ReachesRecord(FhirApi::Call& call, const storage::VersionRecord& record,
                           auth::Permission permission, int64_t now_us);
// Adds to a query over one type the clauses that keep it to what the scopes reach.
Status RestrictQuery(FhirApi::Call& call, storage::SearchQuery& query, auth::Permission permission,
                     int64_t now_us);
// The same for a query over any number of types: the queries (one or more, to be merged by row
// id) whose results together are exactly what the original query finds within reach.
Result<std::vector<storage::SearchQuery>> RestrictSearch(FhirApi::Call& call,
                                                         const storage::SearchQuery& query,
                                                         auth::Permission permission,
                                                         int64_t now_us);
// Checks the queries of the token's narrowed scopes against the search parameters of their
// types: a 403 (HYGIE-SCOPE-BAD) for an unknown or unusable parameter (fail closed).
std::optional<http::Response> CheckScopeQueries(FhirApi::Call& call, int64_t now_us);
// The answer for a resource the scopes do not reach: the same 404 as for a missing id.
http::Response NotReached(std::string_view diagnostics = "no such resource");

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

// Awaits an operation that reports its Status once, from any thread, through a callback:
// start(done) begins it. The coroutine resumes on its own executor: at once when `done` runs on
// its thread; from another thread, through the I/O context's inbox, so that the completions of
// one group commit wake each I/O thread once. One allocation per wait: `done` holds a plain
// pointer (small enough for a std::function to keep inline).
template <typename Token, typename Start>
auto AsyncStatus(Start start, Token&& token) {
  namespace asio = boost::asio;
  return asio::async_initiate<Token, void(Status)>(
      [](auto handler, Start start) {
        using Handler = decltype(handler);
        using Executor = asio::associated_executor_t<Handler>;
        struct Waiter : http::InboxItem {
          Waiter(Handler h, Executor ex) : h(std::move(h)), ex(std::move(ex)) {}
          void Run() override {
            std::unique_ptr<Waiter> own(this);
            std::move(h)(std::move(status));
          }
          Handler h;
          Executor ex;
          http::Inbox* inbox = nullptr;  // the inbox of ex's io_context, if ex is one
          Status status;
        };
        Executor ex = asio::get_associated_executor(handler);
        auto* waiter = new Waiter(std::move(handler), std::move(ex));
        // Looked up here, on the coroutine's thread, not on the thread that completes.
        if (asio::io_context* context = http::IoContextOf(waiter->ex)) {
          waiter->inbox = &http::Inbox::Of(*context);
        }
        std::move(start)([waiter](Status status) {
          std::unique_ptr<Waiter> own(waiter);
          own->status = std::move(status);
          // A coroutine on an io_context (not a strand) resumes through that context's inbox.
          if (http::Inbox* inbox = own->inbox) {
            inbox->Push(std::move(own));
            return;
          }
          auto ex = own->ex;
          asio::dispatch(ex, [own = std::move(own)]() mutable { own.release()->Run(); });
        });
      },
      token, std::move(start));
}

// Awaits a group commit of the store (it calls back on its writer thread).
template <typename Token>
auto AsyncCommit(storage::TenantStore& store, storage::WriteBatch batch, Token&& token) {
  return AsyncStatus([&store, batch = std::move(batch)](
                         auto done) mutable { store.Commit(std::move(batch), std::move(done)); },
                     std::forward<Token>(token));
}

}  // namespace hygie::api

namespace hygie::api {

// Awaits the journal: the callback runs on the tree's writer thread and the coroutine resumes on
// its own I/O thread (through that thread's inbox). `records` must stay alive and unchanged until
// the coroutine resumes.
template <typename Token>
auto AsyncAppend(audit::Journal& journal, const std::string& tree,
                 const audit::EncodedRecords& records, Token&& token) {
  return AsyncStatus(
      [&journal, &tree, &records](auto done) { journal.Append(tree, records, std::move(done)); },
      std::forward<Token>(token));
}

}  // namespace hygie::api
