#pragma once
// OperationOutcome, CapabilityStatement and Bundle JSON builders. Stateless or single-owner;
// thread-compatible.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace hygie::fhir {

struct Issue {
  std::string severity = "error";  // fatal | error | warning | information
  std::string code;                // IssueType: invalid, structure, required, value, security,
                                   // login, forbidden, not-found, deleted, conflict, too-long,
                                   // not-supported, processing, exception, throttled, ...
  std::string diagnostics;         // human text (never health data)
  std::string expression;          // FHIRPath of the element at fault, optional
  std::string details_code;        // stable Hygie code (e.g. "HYGIE-JSON-DEPTH"), optional
};

std::string OperationOutcomeJson(const std::vector<Issue>& issues);
// One-issue convenience.
std::string OperationOutcomeJson(std::string_view severity, std::string_view code,
                                 std::string_view diagnostics, std::string_view expression = {},
                                 std::string_view details_code = {});

// The FHIR IssueType code and HTTP status that a Status maps to.
struct HttpError {
  int http_status;
  std::string issue_code;
};
HttpError MapStatus(const Status& status);

struct CapabilityOptions {
  std::string software_version;
  std::string implementation_url;  // the FHIR base URL
  std::string date;                // FHIR dateTime of the build/start
};
// CapabilityStatement (kind "instance", fhirVersion 4.0.1, format json) listing, for every R4
// resource type: interactions read, vread, update, patch, delete, create, search-type,
// history-instance, history-type; versioning "versioned-update"; readHistory true; updateCreate
// true; conditional create, update and delete (single); its search parameters (from the R4
// definitions, composite and special ones left out) and the $validate operation (Patient also
// $everything); system interactions transaction, batch, search-system and history-system.
// Security: SMART-on-FHIR service with bearer tokens.
std::string CapabilityStatementJson(const CapabilityOptions& options);

// Builds a Bundle by streaming already-serialized resources into it (no re-parse). Owns its
// buffer; not copyable.
class BundleWriter {
 public:
  // type: "history" | "searchset" | "batch-response" | "transaction-response"
  BundleWriter(std::string_view type, std::string_view bundle_id,
               std::string_view last_updated_instant);
  BundleWriter(const BundleWriter&) = delete;
  BundleWriter& operator=(const BundleWriter&) = delete;
  ~BundleWriter();
  void SetTotal(uint64_t total);
  void AddLink(std::string_view relation, std::string_view url);
  struct Entry {
    std::string full_url;
    std::string resource_json;   // serialized resource, or empty (deleted in history)
    std::string request_method;  // history: POST | PUT | DELETE; empty: no request member
    std::string request_url;
    std::string response_status;  // e.g. "201 Created"; empty: no response member
    std::string response_etag;
    std::string response_last_modified;
    std::string response_location;      // batch/transaction responses
    std::string response_outcome_json;  // an OperationOutcome (serialized), embedded as is
    std::string search_mode;            // searchset: "match" | "include" | "outcome"; empty: none
  };
  // Links and total must come before the first entry.
  void AddEntry(const Entry& entry);
  std::string Finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hygie::fhir
