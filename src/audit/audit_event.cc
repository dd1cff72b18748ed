#include "audit/audit_event.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <string>
#include <string_view>

#include "core/bytes.h"
#include "core/clock.h"
#include "crypto/primitives.h"
#include "fhir/search/normalize.h"

namespace hygie::audit {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

constexpr std::string_view kAuditEventType =
    "http://terminology.hl7.org/CodeSystem/audit-event-type";
constexpr std::string_view kRestfulInteraction = "http://hl7.org/fhir/restful-interaction";
constexpr std::string_view kDicom = "http://dicom.nema.org/resources/ontology/DCM";
constexpr std::string_view kParticipationType =
    "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";
constexpr std::string_view kProvenanceParticipant =
    "http://terminology.hl7.org/CodeSystem/provenance-participant-type";
constexpr std::string_view kActReason = "http://terminology.hl7.org/CodeSystem/v3-ActReason";
constexpr std::string_view kEntityType = "http://terminology.hl7.org/CodeSystem/audit-entity-type";
constexpr std::string_view kObjectRole = "http://terminology.hl7.org/CodeSystem/object-role";
constexpr std::string_view kSourceType =
    "http://terminology.hl7.org/CodeSystem/security-source-type";
constexpr std::string_view kBalpEntityType =
    "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType";
constexpr std::string_view kServerName = "Hygie";

struct Coding {
  std::string_view system;
  std::string_view code;
  std::string_view display;
};

// The FHIR restful interactions (http://hl7.org/fhir/restful-interaction).
constexpr std::string_view kRestInteractions[] = {
    "read",           "vread",        "update",           "patch",
    "delete",         "history",      "history-instance", "history-type",
    "history-system", "create",       "search",           "search-type",
    "search-system",  "capabilities", "transaction",      "batch",
    "operation"};

bool IsRestInteraction(std::string_view i) {
  return std::find(std::begin(kRestInteractions), std::end(kRestInteractions), i) !=
         std::end(kRestInteractions);
}

bool IsSearch(std::string_view i) {
  return i == "search" || i == "search-type" || i == "search-system";
}

// Reads: the client receives data (BALP Read pattern).
bool IsRead(std::string_view i) {
  return i == "read" || i == "vread" || i == "capabilities" || i.starts_with("history");
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

// FHIR uri: no white space. Empty text is not written at all.
bool IsUri(std::string_view s) { return !s.empty() && std::none_of(s.begin(), s.end(), IsSpace); }

// FHIR code: [^\s]+(\s[^\s]+)*
bool IsCode(std::string_view s) {
  if (s.empty() || IsSpace(s.front()) || IsSpace(s.back())) return false;
  for (size_t i = 1; i < s.size(); ++i) {
    if (IsSpace(s[i]) && IsSpace(s[i - 1])) return false;
  }
  return true;
}

// A v3-ActReason purpose-of-use code has the form of upper-case letters ("TREAT", "ETREAT",
// "HPAYMT", "PUBHLTH").
bool LooksLikeActReason(std::string_view s) {
  return !s.empty() && s.size() <= 16 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

// An IPv4 or IPv6 address as the peer field holds it.
bool LooksLikeIp(std::string_view s) {
  if (s.empty()) return false;
  const bool v6 = s.find(':') != std::string_view::npos;
  return std::all_of(s.begin(), s.end(), [v6](char c) {
    return (c >= '0' && c <= '9') || c == '.' ||
           (v6 && (c == ':' || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')));
  });
}

void Str(Writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void Member(Writer& w, std::string_view name, std::string_view value) {
  Str(w, name);
  Str(w, value);
}

void WriteCoding(Writer& w, const Coding& c) {
  w.StartObject();
  Member(w, "system", c.system);
  Member(w, "code", c.code);
  if (!c.display.empty()) Member(w, "display", c.display);
  w.EndObject();
}

// The type and subtypes of the event.
struct EventType {
  Coding type;
  std::vector<Coding> subtypes;
};

Coding ActSubtype(std::string_view act) {
  if (act == "break-glass" || act.starts_with("break-glass")) {
    return {kDicom, "110127", "Emergency Override Started"};
  }
  if (act.starts_with("grant") || act.starts_with("contact") || act.starts_with("role")) {
    return {kDicom, "110136", "Security Roles Changed"};
  }
  if (act.starts_with("token")) return {kDicom, "110137", "User security Attributes Changed"};
  if (act.starts_with("tenant") || act.starts_with("key") || act.starts_with("site") ||
      act.starts_with("backup") || act.starts_with("restore") || act.starts_with("retention")) {
    return {kDicom, "110129", "Security Configuration"};
  }
  return {kDicom, "110132", "Use of Restricted Function"};
}

EventType TypeOf(const Record& r) {
  const std::string_view i = r.interaction;
  if (IsRestInteraction(i)) {
    return {{kAuditEventType, "rest", "Restful Operation"}, {{kRestfulInteraction, i, ""}}};
  }
  if (i == "login") {
    return {{kDicom, "110114", "User Authentication"}, {{kDicom, "110122", "Login"}}};
  }
  EventType t;
  if (i.starts_with("audit")) {
    t.type = {kDicom, "110101", "Audit Log Used"};
  } else {
    t.type = {kDicom, "110113", "Security Alert"};
    t.subtypes.push_back(ActSubtype(i));
  }
  if (IsCode(i)) t.subtypes.push_back({kActCodeSystem, i, ""});
  return t;
}

// The query text of a record: "Type?name=value&...", values being the record's (hashed) values.
std::string QueryText(const Record& r) {
  std::string text = r.resource_type;
  if (!r.operation.empty()) {
    if (!text.empty()) text += '/';
    if (!r.resource_id.empty()) text += r.resource_id + '/';
    text += r.operation;
  }
  text += '?';
  for (size_t k = 0; k < r.query.size(); ++k) {
    if (k > 0) text += '&';
    text += r.query[k].first;
    text += '=';
    text += r.query[k].second;
  }
  return text;
}

void WriteCodeableConcept(Writer& w, std::string_view system, std::string_view code) {
  w.StartObject();
  if (IsCode(code)) {
    Str(w, "coding");
    w.StartArray();
    WriteCoding(w, {system, code, ""});
    w.EndArray();
  } else {
    Member(w, "text", code);
  }
  w.EndObject();
}

void WritePurpose(Writer& w, std::string_view purpose) {
  w.StartArray();
  if (LooksLikeActReason(purpose)) {
    w.StartObject();
    Str(w, "coding");
    w.StartArray();
    WriteCoding(w, {kActReason, purpose, ""});
    w.EndArray();
    w.EndObject();
  } else {
    w.StartObject();
    Member(w, "text", purpose);
    w.EndObject();
  }
  w.EndArray();
}

// An Identifier {system, value}; system only when it is a uri.
void WriteIdentifier(Writer& w, std::string_view system, std::string_view value) {
  w.StartObject();
  if (IsUri(system)) Member(w, "system", system);
  Member(w, "value", value);
  w.EndObject();
}

void WriteUserAgent(const Record& r, Writer& w) {
  const bool reads = r.action == 'R' || r.action == 'E';
  w.StartObject();
  Str(w, "type");
  w.StartObject();
  Str(w, "coding");
  w.StartArray();
  if (reads) {
    WriteCoding(w, {kParticipationType, "IRCP", "information recipient"});
  } else {
    WriteCoding(w, {kParticipationType, "AUT", "author (originator)"});
  }
  if (r.staff) WriteCoding(w, {kAuditCodeSystem, kStaffAccessCode, "access by the host's staff"});
  w.EndArray();
  w.EndObject();
  if (!r.role.empty()) {
    Str(w, "role");
    w.StartArray();
    WriteCodeableConcept(w, kRoleCodeSystem, r.role);
    w.EndArray();
  }
  if (!r.subject.empty()) {
    Str(w, "who");
    w.StartObject();
    Str(w, "identifier");
    WriteIdentifier(w, r.issuer, r.subject);
    w.EndObject();
  }
  if (!r.professional_id.empty()) Member(w, "altId", r.professional_id);
  Str(w, "requestor");
  w.Bool(true);
  if (!r.purpose.empty()) {
    Str(w, "purposeOfUse");
    WritePurpose(w, r.purpose);
  }
  w.EndObject();
}

// The codings of the client and server agents: BALP's RESTful patterns.
struct PeerTypes {
  Coding client;
  Coding server;
};

PeerTypes PeerTypesOf(const Record& r) {
  static constexpr Coding kSourceRole{kDicom, "110153", "Source Role ID"};
  static constexpr Coding kDestinationRole{kDicom, "110152", "Destination Role ID"};
  if (r.interaction == "delete") {
    return {{kDicom, "110150", "Application"}, {kProvenanceParticipant, "custodian", "Custodian"}};
  }
  if (IsRead(r.interaction)) return {kDestinationRole, kSourceRole};
  return {kSourceRole, kDestinationRole};
}

void WriteClientAgent(const Record& r, const Coding& type, bool requestor, Writer& w) {
  w.StartObject();
  Str(w, "type");
  w.StartObject();
  Str(w, "coding");
  w.StartArray();
  WriteCoding(w, type);
  w.EndArray();
  w.EndObject();
  if (!r.client_id.empty()) {
    Str(w, "who");
    w.StartObject();
    Str(w, "identifier");
    WriteIdentifier(w, r.issuer, r.client_id);
    w.EndObject();
  }
  Str(w, "requestor");
  w.Bool(requestor);
  if (!r.peer.empty()) {
    Str(w, "network");
    w.StartObject();
    Member(w, "address", r.peer);
    // R4 AuditEventAgentNetworkType: 1 machine name, 2 IP address.
    Member(w, "type", LooksLikeIp(r.peer) ? "2" : "1");
    w.EndObject();
  }
  w.EndObject();
}

void WriteServerAgent(const Coding& type, Writer& w) {
  w.StartObject();
  Str(w, "type");
  w.StartObject();
  Str(w, "coding");
  w.StartArray();
  WriteCoding(w, type);
  w.EndArray();
  w.EndObject();
  Str(w, "who");
  w.StartObject();
  Member(w, "display", kServerName);
  w.EndObject();
  Str(w, "requestor");
  w.Bool(false);
  w.EndObject();
}

void WriteEntityCodes(Writer& w, const Coding& type, const Coding& role) {
  Str(w, "type");
  WriteCoding(w, type);
  Str(w, "role");
  WriteCoding(w, role);
}

constexpr Coding kSystemObject{kEntityType, "2", "System Object"};

void WriteEntities(const Record& r, Writer& w) {
  // The resource acted on.
  if (!r.resource_type.empty() || !r.resource_id.empty()) {
    w.StartObject();
    Str(w, "what");
    w.StartObject();
    if (!r.resource_type.empty() && !r.resource_id.empty()) {
      std::string ref = r.resource_type + "/" + r.resource_id;
      if (r.version != 0) ref += "/_history/" + std::to_string(r.version);
      Member(w, "reference", ref);
    } else if (!r.resource_id.empty()) {
      Str(w, "identifier");
      WriteIdentifier(w, "", r.resource_id);
    } else if (IsUri(r.resource_type)) {
      Member(w, "type", r.resource_type);
    } else {
      Member(w, "display", r.resource_type);
    }
    w.EndObject();
    WriteEntityCodes(w, kSystemObject, {kObjectRole, "4", "Domain Resource"});
    if (!r.operation.empty()) {
      Str(w, "detail");
      w.StartArray();
      w.StartObject();
      Member(w, "type", "operation");
      Member(w, "valueString", r.operation);
      w.EndObject();
      w.EndArray();
    }
    w.EndObject();
    // BALP's patient entity, when the resource is a patient.
    if (r.resource_type == "Patient" && !r.resource_id.empty()) {
      w.StartObject();
      Str(w, "what");
      w.StartObject();
      Member(w, "reference", "Patient/" + r.resource_id);
      w.EndObject();
      WriteEntityCodes(w, {kEntityType, "1", "Person"}, {kObjectRole, "1", "Patient"});
      w.EndObject();
    }
  }
  // The query: its text with hashed values, base64 in query (as BALP records the request) and
  // in clear in description.
  if (IsSearch(r.interaction) || !r.query.empty()) {
    const std::string text = QueryText(r);
    w.StartObject();
    WriteEntityCodes(w, kSystemObject, {kObjectRole, "24", "Query"});
    Member(w, "description", text);
    Member(w, "query", crypto::Base64Encode(AsBytes(text)));
    w.EndObject();
  }
  // The request, by its id (BALP XrequestId).
  if (!r.request_id.empty()) {
    w.StartObject();
    Str(w, "what");
    w.StartObject();
    Str(w, "identifier");
    WriteIdentifier(w, "", r.request_id);
    w.EndObject();
    Str(w, "type");
    WriteCoding(w, {kBalpEntityType, "XrequestId", ""});
    w.EndObject();
  }
}

bool HasEntities(const Record& r) {
  return !r.resource_type.empty() || !r.resource_id.empty() || IsSearch(r.interaction) ||
         !r.query.empty() || !r.request_id.empty();
}

}  // namespace

std::string_view OutcomeCode(int http_status) {
  if (http_status >= 100 && http_status < 400) return "0";
  if (http_status >= 400 && http_status < 500) return "4";
  if (http_status >= 500 && http_status < 600) return "8";
  return "12";
}

void WriteAuditEvent(const Record& r, Writer& w) {
  const std::string recorded = FormatInstant(r.time_us);
  w.StartObject();
  Member(w, "resourceType", "AuditEvent");
  std::string id = "a";
  id += std::to_string(r.index);
  Member(w, "id", id);
  Str(w, "meta");
  w.StartObject();
  Member(w, "lastUpdated", recorded);
  if (r.staff) {
    Str(w, "tag");
    w.StartArray();
    WriteCoding(w, {kAuditCodeSystem, kStaffAccessCode, "access by the host's staff"});
    w.EndArray();
  }
  w.EndObject();

  const EventType type = TypeOf(r);
  Str(w, "type");
  WriteCoding(w, type.type);
  if (!type.subtypes.empty()) {
    Str(w, "subtype");
    w.StartArray();
    for (const Coding& c : type.subtypes) WriteCoding(w, c);
    w.EndArray();
  }
  const char action = r.action;
  Str(w, "action");
  w.String(&action, 1);
  Member(w, "recorded", recorded);
  Member(w, "outcome", OutcomeCode(r.status));
  if (!r.detail.empty()) Member(w, "outcomeDesc", r.detail);
  if (!r.purpose.empty()) {
    Str(w, "purposeOfEvent");
    WritePurpose(w, r.purpose);
  }

  const bool has_user = !r.subject.empty() || !r.role.empty() || !r.professional_id.empty();
  const bool has_client = !r.client_id.empty() || !r.peer.empty();
  const PeerTypes peers = PeerTypesOf(r);
  Str(w, "agent");
  w.StartArray();
  if (has_user) WriteUserAgent(r, w);
  if (has_client) WriteClientAgent(r, peers.client, /*requestor=*/!has_user, w);
  WriteServerAgent(peers.server, w);
  w.EndArray();

  Str(w, "source");
  w.StartObject();
  if (!r.tenant.empty()) Member(w, "site", r.tenant);
  Str(w, "observer");
  w.StartObject();
  Member(w, "display", kServerName);
  w.EndObject();
  Str(w, "type");
  w.StartArray();
  WriteCoding(w, {kSourceType, "4", "Application Server"});
  w.EndArray();
  w.EndObject();

  if (HasEntities(r)) {
    Str(w, "entity");
    w.StartArray();
    WriteEntities(r, w);
    w.EndArray();
  }
  w.EndObject();
}

std::string RenderAuditEvent(const Record& record) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  WriteAuditEvent(record, w);
  return std::string(sb.GetString(), sb.GetSize());
}

// ---------------------------------------------------------------------------------------------
// AuditQuery

namespace {

Status Unsupported(std::string_view name) {
  return InvalidArgument("unsupported search parameter for AuditEvent: " + std::string(name));
}

Status BadValue(std::string_view name, std::string_view why) {
  return InvalidArgument("invalid value of AuditEvent search parameter " + std::string(name) +
                         ": " + std::string(why));
}

// Splits a search value on its unescaped commas; "\," and "\\" become "," and "\".
std::vector<std::string> SplitValues(std::string_view value) {
  std::vector<std::string> out(1);
  for (size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c == '\\' && i + 1 < value.size() && (value[i + 1] == ',' || value[i + 1] == '\\')) {
      out.back() += value[++i];
    } else if (c == ',') {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  return out;
}

}  // namespace

Result<AuditQuery> AuditQuery::Parse(
    const std::vector<std::pair<std::string, std::string>>& params) {
  AuditQuery q;
  q.min_time_us_ = std::numeric_limits<int64_t>::min();
  q.max_time_us_ = std::numeric_limits<int64_t>::max();
  bool seen_count = false;
  bool seen_sort = false;
  for (const auto& [name, value] : params) {
    if (name == "_format" || name == "_pretty") continue;
    if (value.empty()) {
      return InvalidArgument("empty value of AuditEvent search parameter " + name);
    }
    if (name == "_count") {
      if (seen_count) return BadValue(name, "given more than once");
      seen_count = true;
      uint64_t n = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec == std::errc::result_out_of_range &&
          std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        n = kMaxCount;
      } else if (ec != std::errc() || p != value.data() + value.size()) {
        return BadValue(name, "not a non-negative integer");
      }
      q.count_ = static_cast<size_t>(std::min<uint64_t>(n, kMaxCount));
      continue;
    }
    if (name == "_sort") {
      if (seen_sort) return BadValue(name, "given more than once");
      seen_sort = true;
      if (value == "-date") {
        q.newest_first_ = true;
      } else if (value == "date") {
        q.newest_first_ = false;
      } else {
        return BadValue(name, "AuditEvent sorts by date or -date only");
      }
      continue;
    }
    const std::vector<std::string> values = SplitValues(value);
    for (const auto& v : values) {
      if (v.empty()) return BadValue(name, "empty alternative");
    }
    if (name == "date") {
      std::vector<DateTest> alternatives;
      int64_t lo_bound = std::numeric_limits<int64_t>::max();
      int64_t hi_bound = std::numeric_limits<int64_t>::min();
      for (const std::string& v : values) {
        DateTest t;
        std::string_view text = v;
        static constexpr std::pair<std::string_view, DatePrefix> kPrefixes[] = {
            {"eq", DatePrefix::kEq}, {"ne", DatePrefix::kNe}, {"gt", DatePrefix::kGt},
            {"lt", DatePrefix::kLt}, {"ge", DatePrefix::kGe}, {"le", DatePrefix::kLe},
            {"sa", DatePrefix::kSa}, {"eb", DatePrefix::kEb}};
        if (text.size() >= 2 && text[0] >= 'a' && text[0] <= 'z') {
          const std::string_view prefix = text.substr(0, 2);
          bool known = false;
          for (const auto& [p, kind] : kPrefixes) {
            if (p == prefix) {
              t.prefix = kind;
              known = true;
            }
          }
          if (!known) {
            return BadValue(name, "unsupported prefix '" + std::string(prefix) +
                                      "' (eq, ne, gt, lt, ge, le, sa, eb)");
          }
          text.remove_prefix(2);
        }
        auto range = fhir::search::ParseDateRange(text);
        if (!range.ok()) {
          return BadValue(name,
                          "not a FHIR date, dateTime or instant (e.g. 2026-11, "
                          "2026-11-25, 2026-11-25T10:00:00Z)");
        }
        t.lo = range->lo;
        t.hi = range->hi;
        // The times this alternative can match.
        int64_t lo = std::numeric_limits<int64_t>::min();
        int64_t hi = std::numeric_limits<int64_t>::max();
        switch (t.prefix) {
          case DatePrefix::kEq:
            lo = t.lo, hi = t.hi;
            break;
          case DatePrefix::kNe:
            break;
          case DatePrefix::kGt:
          case DatePrefix::kSa:
            lo = t.hi + 1;
            break;
          case DatePrefix::kGe:
            lo = t.lo;
            break;
          case DatePrefix::kLt:
          case DatePrefix::kEb:
            hi = t.lo - 1;
            break;
          case DatePrefix::kLe:
            hi = t.hi;
            break;
        }
        lo_bound = std::min(lo_bound, lo);
        hi_bound = std::max(hi_bound, hi);
        alternatives.push_back(t);
      }
      q.min_time_us_ = std::max(q.min_time_us_, lo_bound);
      q.max_time_us_ = std::min(q.max_time_us_, hi_bound);
      q.dates_.push_back(std::move(alternatives));
      continue;
    }
    Test test;
    if (name == "agent") {
      test.field = Field::kAgent;
    } else if (name == "entity") {
      test.field = Field::kEntity;
    } else if (name == "entity-type") {
      test.field = Field::kEntityType;
    } else if (name == "action") {
      test.field = Field::kAction;
      for (const auto& v : values) {
        if (v.size() != 1 || std::string_view("CRUDE").find(v[0]) == std::string_view::npos) {
          return BadValue(name, "an action is one of C, R, U, D, E");
        }
      }
    } else if (name == "outcome") {
      test.field = Field::kOutcome;
      for (const auto& v : values) {
        if (v != "0" && v != "4" && v != "8" && v != "12") {
          return BadValue(name, "an outcome is one of 0, 4, 8, 12");
        }
      }
    } else if (name == "subtype") {
      test.field = Field::kSubtype;
    } else if (name == "address") {
      test.field = Field::kAddress;
    } else {
      return Unsupported(name);
    }
    test.any_of = values;
    q.tests_.push_back(std::move(test));
  }
  return q;
}

bool AuditQuery::MatchesDate(const DateTest& test, int64_t t) {
  switch (test.prefix) {
    case DatePrefix::kEq:
      return t >= test.lo && t <= test.hi;
    case DatePrefix::kNe:
      return t < test.lo || t > test.hi;
    case DatePrefix::kGt:
    case DatePrefix::kSa:
      return t > test.hi;
    case DatePrefix::kLt:
    case DatePrefix::kEb:
      return t < test.lo;
    case DatePrefix::kGe:
      return t >= test.lo;
    case DatePrefix::kLe:
      return t <= test.hi;
  }
  return false;
}

bool AuditQuery::MatchesValue(Field field, const std::string& v, const Record& r) {
  switch (field) {
    case Field::kAgent:
      if (!r.subject.empty() && v == r.subject) return true;
      if (!r.client_id.empty() && v == r.client_id) return true;
      return !r.subject.empty() && v.size() == r.issuer.size() + 1 + r.subject.size() &&
             v.compare(0, r.issuer.size(), r.issuer) == 0 && v[r.issuer.size()] == '|' &&
             v.compare(r.issuer.size() + 1, std::string::npos, r.subject) == 0;
    case Field::kEntity: {
      if (r.resource_id.empty()) return false;
      if (v == r.resource_id) return true;
      return v.size() == r.resource_type.size() + 1 + r.resource_id.size() &&
             v.compare(0, r.resource_type.size(), r.resource_type) == 0 &&
             v[r.resource_type.size()] == '/' &&
             v.compare(r.resource_type.size() + 1, std::string::npos, r.resource_id) == 0;
    }
    case Field::kEntityType:
      return v == r.resource_type;
    case Field::kAction:
      return v.size() == 1 && v[0] == r.action;
    case Field::kOutcome:
      return v == OutcomeCode(r.status);
    case Field::kSubtype: {
      // A token: "system|code" or "code".
      const size_t bar = v.rfind('|');
      const std::string_view code =
          bar == std::string::npos ? std::string_view(v) : std::string_view(v).substr(bar + 1);
      return code == r.interaction;
    }
    case Field::kAddress:
      return v == r.peer;
  }
  return false;
}

bool AuditQuery::Matches(const Record& r) const {
  if (r.time_us < min_time_us_ || r.time_us > max_time_us_) return false;
  for (const auto& alternatives : dates_) {
    if (std::none_of(alternatives.begin(), alternatives.end(),
                     [&](const DateTest& t) { return MatchesDate(t, r.time_us); })) {
      return false;
    }
  }
  for (const Test& test : tests_) {
    if (std::none_of(test.any_of.begin(), test.any_of.end(),
                     [&](const std::string& v) { return MatchesValue(test.field, v, r); })) {
      return false;
    }
  }
  return true;
}

}  // namespace hygie::audit
