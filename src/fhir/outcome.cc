#include "fhir/outcome.h"

#include <cassert>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <rapidjson/encodings.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "fhir/r4/definitions.h"
#include "fhir/resource.h"

namespace hygie::fhir {
namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

constexpr std::string_view kErrorCodeSystem = "https://hygie.health/fhir/CodeSystem/error";
constexpr std::string_view kRestfulSecurityService =
    "http://terminology.hl7.org/CodeSystem/restful-security-service";
constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";  // U+FFFD

// A RapidJSON input stream over a byte range; reads '\0' past the end, which no UTF-8
// continuation byte matches, so a truncated sequence fails validation.
class RangeStream {
 public:
  using Ch = char;
  RangeStream(const char* begin, const char* end) : p_(begin), end_(end) {}
  Ch Peek() const { return p_ < end_ ? *p_ : '\0'; }
  Ch Take() { return p_ < end_ ? *p_++ : '\0'; }
  const char* position() const { return p_; }
  bool done() const { return p_ >= end_; }

 private:
  const char* p_;
  const char* end_;
};

class AppendStream {
 public:
  explicit AppendStream(std::string& out) : out_(out) {}
  void Put(char c) { out_.push_back(c); }

 private:
  std::string& out_;
};

// The writer emits bytes as given; text we did not produce (Status messages may quote
// paths, headers...) is made valid UTF-8 first so the document always parses.
std::string ValidUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  RangeStream in(text.data(), text.data() + text.size());
  while (!in.done()) {
    const char* start = in.position();
    const size_t mark = out.size();
    AppendStream sink(out);
    if (!rapidjson::UTF8<>::Validate(in, sink)) {
      out.resize(mark);
      out.append(kReplacementCharacter);
      in = RangeStream(start + 1, text.data() + text.size());
    }
  }
  return out;
}

void Str(JsonWriter& w, std::string_view s) {
  const std::string valid = ValidUtf8(s);
  w.String(valid.data(), static_cast<rapidjson::SizeType>(valid.size()), true);
}

void Key(JsonWriter& w, const char* key) { w.Key(key); }

void Member(JsonWriter& w, const char* key, std::string_view value) {
  Key(w, key);
  Str(w, value);
}

std::string Take(const rapidjson::StringBuffer& buffer) {
  return std::string(buffer.GetString(), buffer.GetSize());
}

void WriteIssue(JsonWriter& w, const Issue& issue) {
  w.StartObject();
  Member(w, "severity", issue.severity.empty() ? "error" : issue.severity);
  Member(w, "code", issue.code.empty() ? "processing" : issue.code);
  if (!issue.details_code.empty()) {
    Key(w, "details");
    w.StartObject();
    Key(w, "coding");
    w.StartArray();
    w.StartObject();
    Member(w, "system", kErrorCodeSystem);
    Member(w, "code", issue.details_code);
    w.EndObject();
    w.EndArray();
    if (!issue.diagnostics.empty()) Member(w, "text", issue.diagnostics);
    w.EndObject();
  }
  if (!issue.diagnostics.empty()) Member(w, "diagnostics", issue.diagnostics);
  if (!issue.expression.empty()) {
    Key(w, "expression");
    w.StartArray();
    Str(w, issue.expression);
    w.EndArray();
  }
  w.EndObject();
}

}  // namespace

std::string OperationOutcomeJson(const std::vector<Issue>& issues) {
  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  Member(w, "resourceType", "OperationOutcome");
  Key(w, "issue");
  w.StartArray();
  if (issues.empty()) {
    // OperationOutcome.issue is 1..*.
    Issue none;
    none.severity = "information";
    none.code = "informational";
    WriteIssue(w, none);
  }
  for (const Issue& issue : issues) WriteIssue(w, issue);
  w.EndArray();
  w.EndObject();
  return Take(buffer);
}

std::string OperationOutcomeJson(std::string_view severity, std::string_view code,
                                 std::string_view diagnostics, std::string_view expression,
                                 std::string_view details_code) {
  Issue issue;
  issue.severity = std::string(severity);
  issue.code = std::string(code);
  issue.diagnostics = std::string(diagnostics);
  issue.expression = std::string(expression);
  issue.details_code = std::string(details_code);
  return OperationOutcomeJson(std::vector<Issue>{std::move(issue)});
}

HttpError MapStatus(const Status& status) {
  switch (status.code()) {
    case Code::kOk:
      return {200, "informational"};
    case Code::kInvalidArgument:
      return {400, "invalid"};
    case Code::kNotFound:
      return {404, "not-found"};
    case Code::kGone:
      return {410, "deleted"};
    case Code::kAlreadyExists:
      return {409, "duplicate"};
    case Code::kConflict:
      return {409, "conflict"};
    case Code::kFailedPrecondition:
      return {412, "conflict"};
    case Code::kUnauthenticated:
      return {401, "login"};
    case Code::kPermissionDenied:
      return {403, "forbidden"};
    case Code::kResourceExhausted:
      return {413, "too-long"};
    case Code::kDataLoss:
      return {500, "exception"};
    case Code::kUnavailable:
      return {503, "transient"};
    case Code::kInternal:
      return {500, "exception"};
  }
  return {500, "exception"};
}

std::string CapabilityStatementJson(const CapabilityOptions& options) {
  static constexpr const char* kTypeInteractions[] = {
      "read",   "vread",       "update",           "patch",       "delete",
      "create", "search-type", "history-instance", "history-type"};

  rapidjson::StringBuffer buffer;
  JsonWriter w(buffer);
  w.StartObject();
  Member(w, "resourceType", "CapabilityStatement");
  Member(w, "status", "active");
  if (!options.date.empty()) Member(w, "date", options.date);
  Member(w, "kind", "instance");

  Key(w, "software");
  w.StartObject();
  Member(w, "name", "Hygie");
  if (!options.software_version.empty()) Member(w, "version", options.software_version);
  w.EndObject();

  Key(w, "implementation");
  w.StartObject();
  Member(w, "description", "Hygie health data hosting server (HDS)");
  if (!options.implementation_url.empty()) Member(w, "url", options.implementation_url);
  w.EndObject();

  Member(w, "fhirVersion", "4.0.1");
  Key(w, "format");
  w.StartArray();
  Str(w, "application/fhir+json");
  Str(w, "json");
  w.EndArray();

  Key(w, "rest");
  w.StartArray();
  w.StartObject();
  Member(w, "mode", "server");

  Key(w, "security");
  w.StartObject();
  Key(w, "cors");
  w.Bool(false);
  Key(w, "service");
  w.StartArray();
  w.StartObject();
  Key(w, "coding");
  w.StartArray();
  w.StartObject();
  Member(w, "system", kRestfulSecurityService);
  Member(w, "code", "SMART-on-FHIR");
  w.EndObject();
  w.EndArray();
  w.EndObject();
  w.EndArray();
  Member(w, "description",
         "Every request needs an OAuth 2.0 bearer token (Authorization: Bearer) issued for "
         "this tenant (SMART on FHIR scopes).");
  w.EndObject();

  Key(w, "resource");
  w.StartArray();
  for (std::string_view type : ResourceTypes()) {
    w.StartObject();
    Member(w, "type", type);
    if (type == "AuditEvent") {
      // The audit trail: read-only, served from the journal (docs/audit-journal.md).
      Key(w, "interaction");
      w.StartArray();
      for (const char* code : {"read", "search-type"}) {
        w.StartObject();
        Member(w, "code", code);
        w.EndObject();
      }
      w.EndArray();
      Key(w, "searchParam");
      w.StartArray();
      for (const char* name :
           {"date", "agent", "entity", "entity-type", "action", "outcome", "subtype", "address"}) {
        const r4::SearchParamDef* p = r4::FindSearchParam("AuditEvent", name);
        if (p == nullptr) continue;
        w.StartObject();
        Member(w, "name", p->code);
        if (!p->url.empty()) Member(w, "definition", p->url);
        Member(w, "type", r4::SearchParamTypeName(p->type));
        w.EndObject();
      }
      w.EndArray();
      w.EndObject();
      continue;
    }
    Key(w, "interaction");
    w.StartArray();
    for (const char* code : kTypeInteractions) {
      w.StartObject();
      Member(w, "code", code);
      w.EndObject();
    }
    w.EndArray();
    Member(w, "versioning", "versioned-update");
    Key(w, "readHistory");
    w.Bool(true);
    Key(w, "updateCreate");
    w.Bool(true);
    Key(w, "conditionalCreate");
    w.Bool(true);
    Key(w, "conditionalUpdate");
    w.Bool(true);
    // conditionalDelete is a code in R4 (not-supported | single | multiple), not a boolean.
    Member(w, "conditionalDelete", "single");
    Key(w, "searchInclude");
    w.StartArray();
    Str(w, "*");
    w.EndArray();
    Key(w, "searchRevInclude");
    w.StartArray();
    Str(w, "*");
    w.EndArray();
    Key(w, "searchParam");
    w.StartArray();
    for (const r4::SearchParamDef* p : r4::SearchParamsFor(type)) {
      if (p->type == r4::SearchParamType::kComposite || p->type == r4::SearchParamType::kSpecial) {
        continue;
      }
      if (p->expression.empty() && p->code != "_id" && p->code != "_lastUpdated") continue;
      w.StartObject();
      Member(w, "name", p->code);
      if (!p->url.empty()) Member(w, "definition", p->url);
      Member(w, "type", r4::SearchParamTypeName(p->type));
      w.EndObject();
    }
    w.EndArray();
    Key(w, "operation");
    w.StartArray();
    w.StartObject();
    Member(w, "name", "validate");
    Member(w, "definition", "http://hl7.org/fhir/OperationDefinition/Resource-validate");
    w.EndObject();
    if (type == "Patient") {
      w.StartObject();
      Member(w, "name", "everything");
      Member(w, "definition", "http://hl7.org/fhir/OperationDefinition/Patient-everything");
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();

  Key(w, "interaction");
  w.StartArray();
  for (const char* code : {"transaction", "batch", "search-system", "history-system"}) {
    w.StartObject();
    Member(w, "code", code);
    w.EndObject();
  }
  w.EndArray();

  w.EndObject();  // rest[0]
  w.EndArray();
  w.EndObject();
  return Take(buffer);
}

struct BundleWriter::Impl {
  rapidjson::StringBuffer buffer;
  JsonWriter w{buffer};
  std::optional<uint64_t> total;
  std::vector<std::pair<std::string, std::string>> links;
  bool header_done = false;  // total and link written; entry array open if has_entries
  bool has_entries = false;
  bool finished = false;

  void WriteTotalAndLinks() {
    if (header_done) return;
    header_done = true;
    if (total) {
      Key(w, "total");
      w.Uint64(*total);
    }
    if (!links.empty()) {
      Key(w, "link");
      w.StartArray();
      for (const auto& [relation, url] : links) {
        w.StartObject();
        Member(w, "relation", relation);
        Member(w, "url", url);
        w.EndObject();
      }
      w.EndArray();
    }
  }
};

BundleWriter::BundleWriter(std::string_view type, std::string_view bundle_id,
                           std::string_view last_updated_instant)
    : impl_(std::make_unique<Impl>()) {
  JsonWriter& w = impl_->w;
  w.StartObject();
  Member(w, "resourceType", "Bundle");
  Member(w, "id", bundle_id);
  Key(w, "meta");
  w.StartObject();
  Member(w, "lastUpdated", last_updated_instant);
  w.EndObject();
  Member(w, "type", type);
}

BundleWriter::~BundleWriter() = default;

void BundleWriter::SetTotal(uint64_t total) {
  assert(!impl_->header_done && "SetTotal after the first entry");
  if (!impl_->header_done) impl_->total = total;
}

void BundleWriter::AddLink(std::string_view relation, std::string_view url) {
  assert(!impl_->header_done && "AddLink after the first entry");
  if (!impl_->header_done) impl_->links.emplace_back(relation, url);
}

void BundleWriter::AddEntry(const Entry& entry) {
  assert(!impl_->finished && "AddEntry after Finish");
  if (impl_->finished) return;
  JsonWriter& w = impl_->w;
  impl_->WriteTotalAndLinks();
  if (!impl_->has_entries) {
    impl_->has_entries = true;
    Key(w, "entry");
    w.StartArray();
  }
  w.StartObject();
  if (!entry.full_url.empty()) Member(w, "fullUrl", entry.full_url);
  if (!entry.resource_json.empty()) {
    // Already serialized by Resource::Serialize (a JSON object); embedded as is.
    Key(w, "resource");
    w.RawValue(entry.resource_json.data(), entry.resource_json.size(), rapidjson::kObjectType);
  }
  if (!entry.search_mode.empty()) {
    Key(w, "search");
    w.StartObject();
    Member(w, "mode", entry.search_mode);
    w.EndObject();
  }
  if (!entry.request_method.empty()) {
    Key(w, "request");
    w.StartObject();
    Member(w, "method", entry.request_method);
    Member(w, "url", entry.request_url);
    w.EndObject();
  }
  if (!entry.response_status.empty()) {
    Key(w, "response");
    w.StartObject();
    Member(w, "status", entry.response_status);
    if (!entry.response_etag.empty()) Member(w, "etag", entry.response_etag);
    if (!entry.response_location.empty()) Member(w, "location", entry.response_location);
    if (!entry.response_last_modified.empty()) {
      Member(w, "lastModified", entry.response_last_modified);
    }
    if (!entry.response_outcome_json.empty()) {
      Key(w, "outcome");
      w.RawValue(entry.response_outcome_json.data(), entry.response_outcome_json.size(),
                 rapidjson::kObjectType);
    }
    w.EndObject();
  }
  w.EndObject();
}

std::string BundleWriter::Finish() {
  if (impl_->finished) return {};
  impl_->finished = true;
  JsonWriter& w = impl_->w;
  impl_->WriteTotalAndLinks();
  if (impl_->has_entries) w.EndArray();
  w.EndObject();
  std::string out = Take(impl_->buffer);
  impl_->buffer.Clear();
  return out;
}

}  // namespace hygie::fhir
