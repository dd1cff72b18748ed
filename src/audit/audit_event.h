#pragma once
// The audit trail as FHIR: each journal Record rendered as a FHIR R4 AuditEvent, and AuditQuery,
// a search over the trail parsed from FHIR search parameters.
//
// The AuditEvent follows the RESTful activity patterns of IHE Basic Audit Log Patterns (BALP):
//   - type: for FHIR interactions, audit-event-type "rest" with the subtype restful-interaction
//     "<interaction>" (BALP records searches this way too, with the query in an entity, rather
//     than with the DICOM "Query" event type 110112). For other acts, DICOM event types:
//     "login" is 110114 User Authentication / 110122 Login; "audit-*" acts are 110101 Audit Log
//     Used; every other administrative act is 110113 Security Alert with the DICOM subtype that
//     names what changed (110129 Security Configuration for tenants, keys, sites and backups,
//     110136 Security Roles Changed for grants and contacts, 110137 User Security Attributes
//     Changed for tokens, 110127 Emergency Override Started for break-glass, 110132 Use of
//     Restricted Function otherwise), plus the act's own name in the Hygie act code system.
//   - action: the record's action; recorded and meta.lastUpdated: the record's time.
//   - outcome (R4 codes): "0" for HTTP status below 400, "4" minor failure for 4xx, "8" serious
//     failure for 5xx, "12" major failure when no answer was given (status 0 or beyond 599);
//     outcomeDesc: the record's detail.
//   - purposeOfEvent: the purpose of use (a v3-ActReason code when it has the form of one, text
//     otherwise).
//   - agents: the user (who.identifier = {system: issuer, value: subject}, requestor true, role,
//     altId = professional id; type v3-ParticipationType IRCP for reads and searches, AUT for
//     writes, plus the Hygie "staff-access" coding for an access by the host's staff); the client
//     application (who.identifier = client id, network address = peer; type DICOM 110153 Source
//     Role ID when it sends data or a query, 110152 Destination Role ID when it receives a read,
//     110150 Application for a delete); the server ("Hygie", the other role). An agent is written
//     only when the record knows something of it; the client is the requestor when no user is
//     known (a refused login).
//   - source: observer "Hygie", site = the tenant, type 4 Application Server.
//   - entity: the resource (what.reference "Type/id[/_history/v]", or what.type for a type-level
//     act; type 2 System Object, role 4 Domain Resource; an operation's name in detail), the
//     patient too when the resource is a Patient (type 1 Person, role 1 Patient), the query
//     (type 2, role 24 Query, query = base64 of "Type?name=value&..." whose values are the
//     record's keyed hashes, the same text in description) and the request id (BALP XrequestId).
//   - an access by the host's staff carries meta.tag {https://hygie.health/fhir/CodeSystem/audit,
//     staff-access}.
//   - id: "a" followed by the record's index in its tree, in decimal ("a123").
// Strings of the record that a FHIR datatype would refuse (a uri or code with white space) are
// moved to a text or display form, so every rendered AuditEvent passes fhir::ValidateResource.
//
// Thread-safety: free functions are thread-safe; an AuditQuery is immutable after Parse, so const
// methods may be called from any thread.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "audit/record.h"
#include "core/status.h"

namespace hygie::audit {

// Code systems of Hygie used in AuditEvents.
inline constexpr std::string_view kAuditCodeSystem = "https://hygie.health/fhir/CodeSystem/audit";
inline constexpr std::string_view kStaffAccessCode = "staff-access";
inline constexpr std::string_view kActCodeSystem = "https://hygie.health/fhir/CodeSystem/audit-act";
inline constexpr std::string_view kRoleCodeSystem = "https://hygie.health/fhir/CodeSystem/role";

// The R4 AuditEvent.outcome code of an HTTP status: "0", "4", "8" or "12" (see above).
std::string_view OutcomeCode(int http_status);

// Writes the AuditEvent of record into w as one JSON object (so a search Bundle can embed it).
void WriteAuditEvent(const Record& record, rapidjson::Writer<rapidjson::StringBuffer>& w);
// The compact JSON text of the AuditEvent of record.
std::string RenderAuditEvent(const Record& record);

// A search over the trail, from FHIR search parameters of AuditEvent. Supported:
//   date      the record's time; prefixes eq (default), ne, gt, lt, ge, le, sa, eb; partial dates
//             ("2026", "2026-11", "2026-11-25", "2026-11-25T10:00") stand for their whole range;
//             a time without a zone is UTC; repeated for a range ("date=ge2026-11&date=lt2026-12")
//   agent     the user's subject, the client id, or "issuer|subject"
//   entity    "Type/id", or the id alone
//   entity-type  the resource type
//   action    C, R, U, D or E
//   outcome   0, 4, 8 or 12
//   subtype   the interaction or act ("read", "search-type", "tenant-create", "login"), with or
//             without a system ("http://hl7.org/fhir/restful-interaction|read")
//   address   the peer address
//   _count    page size, 0..kMaxCount (larger values are lowered to kMaxCount); kDefaultCount
//   _sort     "-date" (newest first, the default) or "date"
// A comma separates values of which any may match ("action=C,U"; "\," is a literal comma);
// repeated parameters must all match. _format and _pretty are accepted and ignored. Any other
// parameter, modifier or prefix, an empty value or a malformed one is kInvalidArgument with a
// message naming the parameter.
class AuditQuery {
 public:
  static constexpr size_t kDefaultCount = 50;
  static constexpr size_t kMaxCount = 1000;

  static Result<AuditQuery> Parse(const std::vector<std::pair<std::string, std::string>>& params);

  // True when the record satisfies every parameter.
  bool Matches(const Record& r) const;
  // Bounds on time for skipping whole segments: every matching record has its time_us in
  // [min_time_us, max_time_us] (the whole int64 range when no date narrows it; min > max when
  // no record can match).
  int64_t min_time_us() const { return min_time_us_; }
  int64_t max_time_us() const { return max_time_us_; }
  size_t count() const { return count_; }
  bool newest_first() const { return newest_first_; }

 private:
  enum class DatePrefix { kEq, kNe, kGt, kLt, kGe, kLe, kSa, kEb };
  struct DateTest {
    DatePrefix prefix = DatePrefix::kEq;
    int64_t lo = 0;  // the range the date value covers, inclusive
    int64_t hi = 0;
  };
  enum class Field { kAgent, kEntity, kEntityType, kAction, kOutcome, kSubtype, kAddress };
  struct Test {
    Field field;
    std::vector<std::string> any_of;  // the comma-separated values
  };

  AuditQuery() = default;
  static bool MatchesDate(const DateTest& test, int64_t t);
  static bool MatchesValue(Field field, const std::string& value, const Record& r);

  std::vector<std::vector<DateTest>> dates_;  // each inner list: alternatives of one parameter
  std::vector<Test> tests_;
  int64_t min_time_us_ = 0;
  int64_t max_time_us_ = 0;
  size_t count_ = kDefaultCount;
  bool newest_first_ = true;
};

}  // namespace hygie::audit
