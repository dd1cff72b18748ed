#include "audit/record.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

namespace hygie::audit {
namespace {

// The members of a record's JSON object, in the order EncodeRecord writes them.
enum class Member : uint8_t {
  kIndex,
  kTime,
  kRequestId,
  kTenant,
  kSubject,
  kClientId,
  kIssuer,
  kRole,
  kProfessionalId,
  kStaff,
  kPeer,
  kPurpose,
  kInteraction,
  kAction,
  kType,
  kId,
  kVersion,
  kOperation,
  kQuery,
  kStatus,
  kDetail,
  kCount,
};
constexpr size_t kMemberCount = static_cast<size_t>(Member::kCount);
// Short names keep records small: the journal holds one per request.
constexpr const char* kMemberNames[kMemberCount] = {
    "i",   "t",   "rid", "ten",  "sub", "cid", "iss", "role", "pro", "staff", "peer",
    "pou", "int", "act", "type", "id",  "ver", "op",  "q",    "st",  "det"};
static_assert(kMemberCount < 32);

constexpr const char* Name(Member m) { return kMemberNames[static_cast<size_t>(m)]; }

// The largest HTTP-like status a record may hold.
constexpr int kMaxStatus = 999;

bool IsAction(char c) { return c == 'C' || c == 'R' || c == 'U' || c == 'D' || c == 'E'; }

// Appends text to out, each byte sequence that is not well-formed UTF-8 replaced by U+FFFD, so
// that whatever a header or token carried, the record stays valid JSON text that DecodeRecord
// accepts.
void AppendValidUtf8(std::string_view text, std::string& out) {
  static constexpr char kReplacement[] = "\xEF\xBF\xBD";
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    size_t len = 0;
    uint32_t min = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2, min = 0x80, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, min = 0x800, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, min = 0x10000, cp = c & 0x07;
    }
    bool ok = len != 0 && i + len <= text.size();
    for (size_t k = 1; ok && k < len; ++k) {
      const auto b = static_cast<unsigned char>(text[i + k]);
      if ((b & 0xC0) != 0x80) {
        ok = false;
      } else {
        cp = (cp << 6) | (b & 0x3F);
      }
    }
    ok = ok && cp >= min && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    if (ok) {
      out.append(text.substr(i, len));
      i += len;
    } else {
      out.append(kReplacement);
      ++i;
    }
  }
}

void WriteString(rapidjson::Writer<rapidjson::StringBuffer>& w, std::string_view s) {
  if (std::all_of(s.begin(), s.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
    return;
  }
  std::string clean;
  clean.reserve(s.size());
  AppendValidUtf8(s, clean);
  w.String(clean.data(), static_cast<rapidjson::SizeType>(clean.size()));
}

void WriteOptional(rapidjson::Writer<rapidjson::StringBuffer>& w, const char* name,
                   std::string_view value) {
  if (value.empty()) return;
  w.Key(name);
  WriteString(w, value);
}

Status Malformed(std::string_view what) {
  return DataLoss("malformed audit record: " + std::string(what));
}

// Reads a string member into out; kDataLoss when it is not a string.
Status ReadString(const rapidjson::Value& v, const char* name, std::string& out) {
  if (!v.IsString()) return Malformed(std::string("member \"") + name + "\" is not a string");
  out.assign(v.GetString(), v.GetStringLength());
  return Status::Ok();
}

}  // namespace

void ClearAct(Record& r) {
  r.interaction.clear();
  r.action = 'E';
  r.resource_type.clear();
  r.resource_id.clear();
  r.version = 0;
  r.operation.clear();
  r.query.clear();
  r.status = 0;
  r.detail.clear();
}

std::string EncodeRecord(const Record& r) {
  std::string out;
  AppendEncodedRecord(r, out);
  return out;
}

void AppendEncodedRecord(const Record& r, std::string& out) {
  // One buffer and writer per thread: a record is encoded on every request, without an
  // allocation of their own.
  thread_local rapidjson::StringBuffer sb;
  thread_local rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  sb.Clear();
  w.Reset(sb);
  w.StartObject();
  w.Key(Name(Member::kIndex));
  w.Uint64(r.index);
  w.Key(Name(Member::kTime));
  w.Int64(r.time_us);
  WriteOptional(w, Name(Member::kRequestId), r.request_id);
  WriteOptional(w, Name(Member::kTenant), r.tenant);
  WriteOptional(w, Name(Member::kSubject), r.subject);
  WriteOptional(w, Name(Member::kClientId), r.client_id);
  WriteOptional(w, Name(Member::kIssuer), r.issuer);
  WriteOptional(w, Name(Member::kRole), r.role);
  WriteOptional(w, Name(Member::kProfessionalId), r.professional_id);
  if (r.staff) {
    w.Key(Name(Member::kStaff));
    w.Bool(true);
  }
  WriteOptional(w, Name(Member::kPeer), r.peer);
  WriteOptional(w, Name(Member::kPurpose), r.purpose);
  w.Key(Name(Member::kInteraction));
  WriteString(w, r.interaction);
  w.Key(Name(Member::kAction));
  const char action = r.action;
  w.String(&action, 1);
  WriteOptional(w, Name(Member::kType), r.resource_type);
  WriteOptional(w, Name(Member::kId), r.resource_id);
  if (r.version != 0) {
    w.Key(Name(Member::kVersion));
    w.Uint64(r.version);
  }
  WriteOptional(w, Name(Member::kOperation), r.operation);
  if (!r.query.empty()) {
    w.Key(Name(Member::kQuery));
    w.StartArray();
    for (const auto& [name, value] : r.query) {
      w.StartArray();
      WriteString(w, name);
      WriteString(w, value);
      w.EndArray();
    }
    w.EndArray();
  }
  w.Key(Name(Member::kStatus));
  w.Int(r.status);
  WriteOptional(w, Name(Member::kDetail), r.detail);
  w.EndObject();
  out.append(sb.GetString(), sb.GetSize());
}

Result<Record> DecodeRecord(std::string_view text) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(text.data(),
                                                                                    text.size());
  if (doc.HasParseError()) {
    return Malformed(std::string("not JSON (") + rapidjson::GetParseError_En(doc.GetParseError()) +
                     " at offset " + std::to_string(doc.GetErrorOffset()) + ")");
  }
  if (!doc.IsObject()) return Malformed("not a JSON object");

  Record r;
  uint32_t seen = 0;  // one bit per Member
  for (const auto& m : doc.GetObject()) {
    const std::string_view name(m.name.GetString(), m.name.GetStringLength());
    size_t slot = 0;
    while (slot < kMemberCount && name != kMemberNames[slot]) ++slot;
    if (slot == kMemberCount) return Malformed("unknown member");
    const char* key = kMemberNames[slot];
    if (seen & (1u << slot)) return Malformed(std::string("member \"") + key + "\" repeated");
    seen |= 1u << slot;
    const rapidjson::Value& v = m.value;
    switch (static_cast<Member>(slot)) {
      case Member::kIndex:
        if (!v.IsUint64()) return Malformed("index is not a non-negative integer");
        r.index = v.GetUint64();
        break;
      case Member::kTime:
        if (!v.IsInt64() || v.GetInt64() < 0)
          return Malformed("time is not a non-negative integer");
        r.time_us = v.GetInt64();
        break;
      case Member::kRequestId:
        HYGIE_RETURN_IF_ERROR(ReadString(v, key, r.request_id));
        break;
      case Member::kTenant:
        HYGIE_RETURN_IF_ERROR(ReadString(v, key, r.tenant));
        break;
      case Member::kSubject:
        HYGIE_RETURN_IF_ERROR(ReadString(v, key, r.subject));
        break;
      case Member::kClientId:
        HYGIE_RETURN_IF_ERROR(ReadString(v, key, r.client_id));
        break;
      case Member::kIssuer:
        HYGIE_RETURN_IF_ERROR(ReadString(v, key, r.issuer));
        break;
      case Member::kRole:
        HYGIE_RETURN_IF_ERROR(ReadString(v, key, r.role));
        break;
      case Member::kProfessionalId:
        HYGIE_RETURN_IF_ERROR(ReadString(v, key, r.professional_id));
        break;
      case Member::kStaff:
        if (!v.IsBool()) return Malformed("staff is not a boolean");
        r.staff = v.GetBool();
        break;
      case Member::kPeer:
        HYGIE_RETURN_IF_ERROR(ReadString(v, key, r.peer));
        break;
      case Member::kPurpose:
        HYGIE_RETURN_IF_ERROR(ReadString(v, key, r.purpose));
        break;
      case Member::kInteraction:
        HYGIE_RETURN_IF_ERROR(ReadString(v, key, r.interaction));
        break;
      case Member::kAction:
        if (!v.IsString() || v.GetStringLength() != 1 || !IsAction(v.GetString()[0])) {
          return Malformed("action is not one of C, R, U, D, E");
        }
        r.action = v.GetString()[0];
        break;
      case Member::kType:
        HYGIE_RETURN_IF_ERROR(ReadString(v, key, r.resource_type));
        break;
      case Member::kId:
        HYGIE_RETURN_IF_ERROR(ReadString(v, key, r.resource_id));
        break;
      case Member::kVersion:
        if (!v.IsUint64()) return Malformed("version is not a non-negative integer");
        r.version = v.GetUint64();
        break;
      case Member::kOperation:
        HYGIE_RETURN_IF_ERROR(ReadString(v, key, r.operation));
        break;
      case Member::kQuery:
        if (!v.IsArray()) return Malformed("query is not an array");
        r.query.reserve(v.Size());
        for (const auto& pair : v.GetArray()) {
          if (!pair.IsArray() || pair.Size() != 2 || !pair[0].IsString() || !pair[1].IsString()) {
            return Malformed("a query parameter is not a [name, value] pair of strings");
          }
          r.query.emplace_back(std::string(pair[0].GetString(), pair[0].GetStringLength()),
                               std::string(pair[1].GetString(), pair[1].GetStringLength()));
        }
        break;
      case Member::kStatus:
        if (!v.IsInt() || v.GetInt() < 0 || v.GetInt() > kMaxStatus) {
          return Malformed("status is not an integer in [0, 999]");
        }
        r.status = v.GetInt();
        break;
      case Member::kDetail:
        HYGIE_RETURN_IF_ERROR(ReadString(v, key, r.detail));
        break;
      case Member::kCount:
        break;
    }
  }
  for (Member required :
       {Member::kIndex, Member::kTime, Member::kInteraction, Member::kAction, Member::kStatus}) {
    const auto slot = static_cast<size_t>(required);
    if (!(seen & (1u << slot))) {
      return Malformed(std::string("member \"") + kMemberNames[slot] + "\" missing");
    }
  }
  return r;
}

}  // namespace hygie::audit
