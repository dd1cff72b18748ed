#pragma once
// Record: one entry of the audit journal, the trace of one access or administrative act.
//
// A record says when, who (token subject, client, issuer, tenant, role, professional id),
// from where (peer address), what (interaction, resource type, id, version, the query's
// parameter names with keyed hashes of their values), why (purpose of use) and the outcome
// (HTTP status). It never holds health data in clear: query values are replaced by keyed
// hashes before a record is made (see QueryHasher), and bodies are never recorded.
//
// On disk a record is its JSON text (EncodeRecord); the Merkle leaf is that exact byte string,
// so a record is hashed as written and never re-serialized before hashing.
//
// Thread-safety: plain values.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace hygie::audit {

// The name of the tree that holds system acts (tenants, keys, rights). Tenant names cannot
// take it: they are [a-z0-9-] only.
inline constexpr std::string_view kSystemTree = "_system";

struct Record {
  // Position in its tree, from 0; set by the journal when the record is appended.
  uint64_t index = 0;
  int64_t time_us = 0;  // when the act happened, microseconds since the epoch (UTC); >= 0
  // A random id of the HTTP request (or CLI act); entries of one bundle share it.
  std::string request_id;
  std::string tenant;  // the tenant acted on; empty for acts on the installation itself

  // Who.
  std::string subject;          // token "sub"; "" when no valid token was presented
  std::string client_id;        // token "client_id"
  std::string issuer;           // token "iss"
  std::string role;             // e.g. "practitioner", "host-operator", "cli"
  std::string professional_id;  // e.g. the RPPS / IDNPS of a health professional
  bool staff = false;           // an access by the host's own staff
  // From where.
  std::string peer;  // IP address of the client, or "local" for the command line
  // Why.
  std::string purpose;  // purpose of use (token claim or X-Purpose-Of-Use header)

  // What. interaction is a FHIR restful interaction ("read", "vread", "update", "patch",
  // "delete", "history-instance", "history-type", "history-system", "create",
  // "search-type", "search-system", "batch", "transaction", "operation", "capabilities")
  // or an administrative act ("tenant-create", "key-rotate", "token-issue", "audit-prune",
  // ...), or "login" for a refused authentication.
  std::string interaction;
  char action = 'E';  // DICOM/FHIR AuditEventAction: C, R, U, D or E (execute)
  std::string resource_type;
  std::string resource_id;
  uint64_t version = 0;   // 0: none
  std::string operation;  // e.g. "$everything", "$validate"
  // The query's parameters: names in clear, values as "hmac-sha256:<16 hex>" keyed hashes,
  // except a few result-control parameters (_count, _sort, _total, _summary, _format,
  // _elements, _include, _revinclude) kept in clear.
  std::vector<std::pair<std::string, std::string>> query;

  // Outcome.
  int status = 0;      // HTTP status answered, in [0, 999]
  std::string detail;  // short reason for a refusal ("expired token"); never health data
};

// Resets what a record says of one act (time is left alone): interaction, action, resource
// type, id and version, operation, query, status and detail. What it says of the request (who,
// from where, why, its id) stays, so that one record can be reused for a request's acts.
void ClearAct(Record& record);

// The JSON text of a record: compact, members in a fixed order, short member names ("i", "t",
// "rid", "ten", "sub", "cid", "iss", "role", "pro", "staff", "peer", "pou", "int", "act", "type",
// "id", "ver", "op", "q" as [[name, value], ...], "st", "det"). Empty strings, version 0 and
// staff false are omitted; i, t, int, act and st are always written. Byte sequences that are
// not UTF-8 are replaced by U+FFFD. The same record always gives the same bytes.
std::string EncodeRecord(const Record& record);
// EncodeRecord's text appended to `out` (no allocation beyond out's growth).
void AppendEncodedRecord(const Record& record, std::string& out);
// Parses EncodeRecord's output (members in any order). kDataLoss when the text is not a
// well-formed record: not JSON or not UTF-8, an unknown, repeated or missing member, a member of
// the wrong type, an action other than C, R, U, D, E, a negative number, a status above 999.
Result<Record> DecodeRecord(std::string_view text);

}  // namespace hygie::audit
