#include "fhir/resource.h"

#include <charconv>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include <rapidjson/error/en.h>
#include <rapidjson/error/error.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "fhir/parse_errors.h"

namespace hygie::fhir {
namespace {

// Iterative: the reader keeps its own heap stack, so hostile nesting cannot overflow the call
// stack. ValidateEncoding: UTF-8 of the body is checked (overlong forms, surrogates encoded in
// UTF-8, truncated sequences, stray continuation bytes are refused). NumbersAsStrings: the
// reader checks the number grammar and hands over the text (RawNumber), which is kept as is:
// FHIR decimals keep their precision and nothing drifts by an ulp.
constexpr unsigned kParseFlags = rapidjson::kParseIterativeFlag |
                                 rapidjson::kParseValidateEncodingFlag |
                                 rapidjson::kParseNumbersAsStringsFlag;

// The first byte of a String value that holds a number's text (see resource.h).
constexpr char kNumberMark = '\0';

// An object with more members than this switches from a linear scan to a hash set for the
// duplicate-name check (FHIR objects are small; hostile ones are not).
constexpr size_t kLinearKeyScanMax = 32;
constexpr size_t kMaxEchoedNameLength = 64;

bool IsAsciiLetter(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

// Member names are schema words; echo them only when they look like one: letters, with the
// leading '_' FHIR uses for primitive extensions.
std::string DuplicateMessage(std::string_view name) {
  std::string_view letters = name;
  if (!letters.empty() && letters.front() == '_') letters.remove_prefix(1);
  bool echo = !letters.empty();
  for (char c : letters) echo = echo && IsAsciiLetter(c);
  std::string message(kMsgDuplicate);
  if (echo) {
    message += " '";
    message += name.substr(0, kMaxEchoedNameLength);
    message += "'";
  }
  return message;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// RFC 8259: number = [ minus ] int [ frac ] [ exp ]; int = zero / ( digit1-9 *DIGIT );
// frac = decimal-point 1*DIGIT; exp = e [ minus / plus ] 1*DIGIT.
bool IsNumberGrammar(std::string_view t) {
  size_t i = 0;
  const size_t n = t.size();
  if (i < n && t[i] == '-') ++i;
  if (i >= n) return false;
  if (t[i] == '0') {
    ++i;
  } else if (t[i] >= '1' && t[i] <= '9') {
    while (i < n && IsDigit(t[i])) ++i;
  } else {
    return false;
  }
  if (i < n && t[i] == '.') {
    ++i;
    const size_t first = i;
    while (i < n && IsDigit(t[i])) ++i;
    if (i == first) return false;
  }
  if (i < n && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < n && (t[i] == '+' || t[i] == '-')) ++i;
    const size_t first = i;
    while (i < n && IsDigit(t[i])) ++i;
    if (i == first) return false;
  }
  return i == n;
}

// The number text of a String value in the representation of resource.h, or nullopt.
std::optional<std::string_view> MarkedNumber(const char* str, size_t length) {
  if (length < 2 || str[0] != kNumberMark) return std::nullopt;
  const std::string_view text(str + 1, length - 1);
  if (!IsNumberGrammar(text)) return std::nullopt;
  return text;
}

// Converts the text of a JSON number (grammar already checked) to the nearest double. A
// magnitude below the smallest double becomes a signed zero; nullopt above the largest one.
std::optional<double> ToDouble(std::string_view text) {
  double out = 0;
  const auto result = std::from_chars(text.data(), text.data() + text.size(), out);
  if (result.ec == std::errc()) return out;
  if (result.ec != std::errc::result_out_of_range) return std::nullopt;  // not a number
  // from_chars reports both overflow and underflow as result_out_of_range. Tell them apart by
  // the decimal exponent of the first significant digit: overflow needs it >= 308, underflow
  // <= -324, so its sign decides.
  const bool negative = text.front() == '-';
  size_t i = negative ? 1 : 0;
  int64_t magnitude = 0;
  bool found = false;
  int64_t integer_digits = 0;
  for (; i < text.size() && IsDigit(text[i]); ++i, ++integer_digits) {
    if (!found && text[i] != '0') {
      found = true;
      magnitude = -integer_digits;  // corrected by integer_digits - 1 below
    }
  }
  if (found) magnitude += integer_digits - 1;
  if (i < text.size() && text[i] == '.') {
    ++i;
    for (int64_t position = 1; i < text.size() && IsDigit(text[i]); ++i, ++position) {
      if (!found && text[i] != '0') {
        found = true;
        magnitude = -position;
      }
    }
  }
  if (i < text.size()) {  // exponent; saturate, digits past the first 12 cannot matter here
    ++i;
    bool exponent_negative = false;
    if (text[i] == '+' || text[i] == '-') exponent_negative = text[i++] == '-';
    int64_t exponent = 0;
    for (; i < text.size(); ++i) {
      if (exponent < 1000000000000) exponent = exponent * 10 + (text[i] - '0');
    }
    magnitude += exponent_negative ? -exponent : exponent;
  }
  if (magnitude < 0) return negative ? -0.0 : 0.0;
  return std::nullopt;
}

// A SAX handler that checks what RapidJSON's reader does not (depth, duplicate member names,
// control characters and unpaired surrogate escapes in decoded strings) and forwards every
// event to a Document, which builds the DOM. Returning false stops the reader at once.
class CheckingHandler {
 public:
  CheckingHandler(rapidjson::Document& doc, size_t max_depth) : doc_(doc), max_depth_(max_depth) {}

  const Status& error() const { return error_; }
  // The reader stopped on a number beyond the range of a double (the reader's offset is then
  // the number's start).
  bool number_too_big() const { return number_too_big_; }

  bool Null() { return doc_.Null(); }
  bool Bool(bool b) { return doc_.Bool(b); }
  bool Int(int i) { return doc_.Int(i); }
  bool Uint(unsigned u) { return doc_.Uint(u); }
  bool Int64(int64_t i) { return doc_.Int64(i); }
  bool Uint64(uint64_t u) { return doc_.Uint64(u); }
  bool Double(double d) { return doc_.Double(d); }
  // With kParseNumbersAsStringsFlag every number arrives here, its grammar checked by the
  // reader, which also refuses most numbers too big for a double (not all: 10e308 passes).
  bool RawNumber(const char* str, rapidjson::SizeType length, bool /*copy*/) {
    const std::string_view text(str, length);
    if (!ToDouble(text).has_value()) {
      number_too_big_ = true;
      return false;
    }
    number_.assign(1, kNumberMark);
    number_.append(text);
    return doc_.String(number_.data(), static_cast<rapidjson::SizeType>(number_.size()), true);
  }
  bool String(const char* str, rapidjson::SizeType length, bool copy) {
    return CheckString(str, length) && doc_.String(str, length, copy);
  }
  bool Key(const char* str, rapidjson::SizeType length, bool copy) {
    return CheckString(str, length) && CheckKey(std::string_view(str, length)) &&
           doc_.Key(str, length, copy);
  }
  bool StartObject() {
    if (!Enter()) return false;
    objects_.push_back(Object{keys_.size(), nullptr});
    return doc_.StartObject();
  }
  bool EndObject(rapidjson::SizeType member_count) {
    if (!objects_.back().big) PopKeys(objects_.back().first_key);
    objects_.pop_back();
    --depth_;
    return doc_.EndObject(member_count);
  }
  bool StartArray() { return Enter() && doc_.StartArray(); }
  bool EndArray(rapidjson::SizeType element_count) {
    --depth_;
    return doc_.EndArray(element_count);
  }

 private:
  struct KeyRef {
    size_t offset;  // in key_bytes_
    size_t length;
  };
  struct Object {
    size_t first_key;  // index in keys_ of this object's first key (linear mode)
    std::unique_ptr<std::unordered_set<std::string>> big;  // set mode, past kLinearKeyScanMax
  };

  bool Fail(std::string message) {
    error_ = InvalidArgument(std::move(message));
    return false;
  }

  bool Enter() {
    if (++depth_ > max_depth_) {
      return Fail(std::string(kMsgDepth) + std::to_string(max_depth_) + " levels");
    }
    return true;
  }

  // The reader has validated the UTF-8 of the body, but escapes are decoded after that check:
  // an escaped U+0001 yields a control character and a lone low-surrogate escape yields the
  // UTF-8 form of a surrogate code point.
  bool CheckString(const char* str, rapidjson::SizeType length) {
    for (rapidjson::SizeType i = 0; i < length; ++i) {
      const auto c = static_cast<unsigned char>(str[i]);
      if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
        return Fail(std::string(kMsgControl) + " (only tab, CR and LF are allowed)");
      }
      // 0xED 0xA0..0xBF starts U+D800..U+DFFF.
      if (c == 0xED && i + 1 < length && static_cast<unsigned char>(str[i + 1]) >= 0xA0) {
        return Fail(std::string(kMsgSurrogate));
      }
    }
    return true;
  }

  std::string_view KeyAt(size_t i) const {
    return std::string_view(key_bytes_).substr(keys_[i].offset, keys_[i].length);
  }

  bool CheckKey(std::string_view key) {
    Object& object = objects_.back();
    if (object.big) {
      if (!object.big->emplace(key).second) return Fail(DuplicateMessage(key));
      return true;
    }
    for (size_t i = object.first_key; i < keys_.size(); ++i) {
      if (KeyAt(i) == key) return Fail(DuplicateMessage(key));
    }
    keys_.push_back(KeyRef{key_bytes_.size(), key.size()});
    key_bytes_.append(key);
    if (keys_.size() - object.first_key > kLinearKeyScanMax) {
      object.big = std::make_unique<std::unordered_set<std::string>>();
      for (size_t i = object.first_key; i < keys_.size(); ++i) object.big->emplace(KeyAt(i));
      PopKeys(object.first_key);
    }
    return true;
  }

  // Forgets the linear-mode keys from index first on (those of an object that closed).
  void PopKeys(size_t first) {
    if (first < keys_.size()) {
      key_bytes_.resize(keys_[first].offset);
      keys_.resize(first);
    }
  }

  rapidjson::Document& doc_;
  const size_t max_depth_;
  size_t depth_ = 0;
  std::vector<Object> objects_;  // open objects, innermost last
  std::vector<KeyRef> keys_;     // keys of open objects in linear mode, innermost last
  std::string key_bytes_;        // their bytes, back to back
  std::string number_;           // scratch: kNumberMark and the text of the current number
  Status error_;
  bool number_too_big_ = false;
};

// Forwards a Document's events to a Writer, writing numbers kept as text as raw JSON numbers.
class NumberTextWriter {
 public:
  explicit NumberTextWriter(rapidjson::Writer<rapidjson::StringBuffer>& w) : w_(w) {}

  bool Null() { return w_.Null(); }
  bool Bool(bool b) { return w_.Bool(b); }
  bool Int(int i) { return w_.Int(i); }
  bool Uint(unsigned u) { return w_.Uint(u); }
  bool Int64(int64_t i) { return w_.Int64(i); }
  bool Uint64(uint64_t u) { return w_.Uint64(u); }
  bool Double(double d) { return w_.Double(d); }
  bool String(const char* str, rapidjson::SizeType length, bool copy) {
    if (const auto number = MarkedNumber(str, length)) {
      return w_.RawValue(number->data(), number->size(), rapidjson::kNumberType);
    }
    return w_.String(str, length, copy);
  }
  bool Key(const char* str, rapidjson::SizeType length, bool copy) {
    return w_.Key(str, length, copy);
  }
  bool StartObject() { return w_.StartObject(); }
  bool EndObject(rapidjson::SizeType member_count) { return w_.EndObject(member_count); }
  bool StartArray() { return w_.StartArray(); }
  bool EndArray(rapidjson::SizeType element_count) { return w_.EndArray(element_count); }

 private:
  rapidjson::Writer<rapidjson::StringBuffer>& w_;
};

// Moves the members named in names, those present, to the front of object in that order; the
// other members keep their relative order. RapidJSON objects keep members in an array in
// insertion order: each move is a run of adjacent swaps.
void MoveToFront(rapidjson::Value& object, std::initializer_list<std::string_view> names) {
  size_t position = 0;
  for (std::string_view name : names) {
    auto it = object.MemberBegin();
    for (; it != object.MemberEnd(); ++it) {
      if (std::string_view(it->name.GetString(), it->name.GetStringLength()) == name) break;
    }
    if (it == object.MemberEnd()) continue;
    // Members before position are earlier names, so it is at or after position.
    for (auto target = object.MemberBegin() + static_cast<std::ptrdiff_t>(position); it != target;
         --it) {
      it->name.Swap((it - 1)->name);
      it->value.Swap((it - 1)->value);
    }
    ++position;
  }
}

bool IsEchoableTypeName(std::string_view name) {
  if (name.empty() || name.size() > kMaxEchoedNameLength) return false;
  for (char c : name) {
    if (!IsAsciiLetter(c)) return false;
  }
  return true;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

Result<std::unique_ptr<rapidjson::Document>> ParseJson(std::string_view json,
                                                       const ParseLimits& limits) {
  // RapidJSON's memory stream reports '\0' at the end of input, so a NUL byte would end the
  // document early ("{}\0junk" would parse as "{}"). JSON never allows a raw NUL.
  // (find, not memchr: an empty view may have a null data(), which memchr must not get.)
  if (const size_t offset = json.find('\0'); offset != std::string_view::npos) {
    return InvalidArgument(std::string(kMsgJsonSyntax) + std::to_string(offset) +
                           ": NUL byte in body.");
  }

  auto doc = std::make_unique<rapidjson::Document>();
  rapidjson::MemoryStream stream(json.data(), json.size());
  rapidjson::ParseResult result;
  Status handler_error;
  bool number_too_big = false;
  auto generator = [&](rapidjson::Document& target) {
    CheckingHandler handler(target, limits.max_depth);
    rapidjson::Reader reader;
    result = reader.Parse<kParseFlags>(stream, handler);
    handler_error = handler.error();
    number_too_big = handler.number_too_big();
    return !result.IsError();
  };
  doc->Populate(generator);

  if (!handler_error.ok()) return handler_error;
  if (number_too_big) {
    return InvalidArgument(std::string(kMsgJsonSyntax) + std::to_string(result.Offset()) + ": " +
                           rapidjson::GetParseError_En(rapidjson::kParseErrorNumberTooBig));
  }
  if (result.IsError()) {
    if (result.Code() == rapidjson::kParseErrorStringInvalidEncoding) {
      return InvalidArgument(std::string(kMsgUtf8));
    }
    if (result.Code() == rapidjson::kParseErrorStringUnicodeSurrogateInvalid) {
      return InvalidArgument(std::string(kMsgSurrogate));  // high half not followed by a low half
    }
    return InvalidArgument(std::string(kMsgJsonSyntax) + std::to_string(result.Offset()) + ": " +
                           rapidjson::GetParseError_En(result.Code()));
  }
  return doc;
}

Result<Resource> Resource::Parse(std::string_view json, const ParseLimits& limits) {
  HYGIE_ASSIGN_OR_RETURN(std::unique_ptr<rapidjson::Document> doc, ParseJson(json, limits));
  return FromDocument(std::move(doc));
}

Result<Resource> Resource::FromValue(const rapidjson::Value& value) {
  auto doc = std::make_unique<rapidjson::Document>();
  doc->CopyFrom(value, doc->GetAllocator());
  return FromDocument(std::move(doc));
}

Result<Resource> Resource::FromDocument(std::unique_ptr<rapidjson::Document> doc) {
  if (!doc->IsObject()) return InvalidArgument(std::string(kMsgNotObject));
  const auto type = doc->FindMember("resourceType");
  if (type == doc->MemberEnd()) return InvalidArgument(std::string(kMsgNoType));
  if (!IsJsonString(type->value)) return InvalidArgument(std::string(kMsgTypeNotString));
  const std::string_view name(type->value.GetString(), type->value.GetStringLength());
  if (!IsResourceType(name)) {
    std::string message(kMsgUnknownType);
    if (IsEchoableTypeName(name)) message += " '" + std::string(name) + "'";
    return InvalidArgument(std::move(message));
  }
  return Resource(std::move(doc));
}

std::string_view Resource::resource_type() const {
  const auto it = doc_->FindMember("resourceType");
  if (it == doc_->MemberEnd() || !IsJsonString(it->value)) return {};
  return std::string_view(it->value.GetString(), it->value.GetStringLength());
}

std::optional<std::string_view> Resource::id() const {
  const auto it = doc_->FindMember("id");
  if (it == doc_->MemberEnd() || !IsJsonString(it->value)) return std::nullopt;
  return std::string_view(it->value.GetString(), it->value.GetStringLength());
}

void Resource::SetId(std::string_view id) {
  auto& allocator = doc_->GetAllocator();
  rapidjson::Value value(id.data(), static_cast<rapidjson::SizeType>(id.size()), allocator);
  const auto it = doc_->FindMember("id");
  if (it != doc_->MemberEnd()) {
    it->value = std::move(value);
  } else {
    doc_->AddMember("id", std::move(value), allocator);
  }
  MoveToFront(*doc_, {"resourceType", "id", "meta"});
}

void Resource::SetVersionMeta(uint64_t version, std::string_view last_updated_instant) {
  auto& allocator = doc_->GetAllocator();
  auto meta = doc_->FindMember("meta");
  if (meta == doc_->MemberEnd()) {
    doc_->AddMember("meta", rapidjson::Value(rapidjson::kObjectType), allocator);
    meta = doc_->FindMember("meta");
  } else if (!meta->value.IsObject()) {
    // A meta that is not an object has no members to keep; the server owns versionId.
    meta->value.SetObject();
  }
  rapidjson::Value& object = meta->value;

  const std::string version_text = std::to_string(version);
  auto set = [&](const char* name, std::string_view text) {
    rapidjson::Value value(text.data(), static_cast<rapidjson::SizeType>(text.size()), allocator);
    const auto it = object.FindMember(name);
    if (it != object.MemberEnd()) {
      it->value = std::move(value);
    } else {
      object.AddMember(rapidjson::StringRef(name), std::move(value), allocator);
    }
  };
  set("versionId", version_text);
  set("lastUpdated", last_updated_instant);
  MoveToFront(object, {"id", "extension", "versionId", "lastUpdated"});
  MoveToFront(*doc_, {"resourceType", "id", "meta"});
}

std::string SerializeJson(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  NumberTextWriter handler(writer);
  value.Accept(handler);
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::string Resource::Serialize() const { return SerializeJson(*doc_); }

bool IsJsonNumber(const rapidjson::Value& value) {
  if (value.IsNumber()) return true;
  return value.IsString() && MarkedNumber(value.GetString(), value.GetStringLength());
}

bool IsJsonString(const rapidjson::Value& value) {
  return value.IsString() && !MarkedNumber(value.GetString(), value.GetStringLength());
}

std::string_view NumberText(const rapidjson::Value& value) {
  if (!value.IsString()) return {};
  return MarkedNumber(value.GetString(), value.GetStringLength()).value_or(std::string_view());
}

std::optional<double> NumberAsDouble(const rapidjson::Value& value) {
  if (value.IsNumber()) return value.GetDouble();
  const std::string_view text = NumberText(value);
  if (text.empty()) return std::nullopt;
  return ToDouble(text);
}

bool SetNumberText(rapidjson::Value& value, std::string_view text,
                   rapidjson::Document::AllocatorType& allocator) {
  if (!IsNumberGrammar(text)) return false;
  std::string marked(1, kNumberMark);
  marked.append(text);
  value.SetString(marked.data(), static_cast<rapidjson::SizeType>(marked.size()), allocator);
  return true;
}

bool IsValidId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    const bool ok = IsAsciiLetter(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

std::string_view ParseErrorDetailsCode(const Status& status) {
  if (status.code() != Code::kInvalidArgument) return {};
  const std::string_view m = status.message();
  if (StartsWith(m, kMsgJsonSyntax)) return "HYGIE-JSON-SYNTAX";
  if (StartsWith(m, kMsgUtf8) || StartsWith(m, kMsgSurrogate)) return "HYGIE-JSON-UTF8";
  if (StartsWith(m, kMsgDepth)) return "HYGIE-JSON-DEPTH";
  if (StartsWith(m, kMsgDuplicate)) return "HYGIE-JSON-DUPLICATE-KEY";
  if (StartsWith(m, kMsgControl)) return "HYGIE-JSON-CONTROL-CHAR";
  if (StartsWith(m, kMsgNotObject)) return "HYGIE-FHIR-NOT-OBJECT";
  if (StartsWith(m, kMsgNoType)) return "HYGIE-FHIR-NO-RESOURCE-TYPE";
  if (StartsWith(m, kMsgTypeNotString)) return "HYGIE-FHIR-BAD-RESOURCE-TYPE";
  if (StartsWith(m, kMsgUnknownType)) return "HYGIE-FHIR-UNKNOWN-RESOURCE-TYPE";
  return {};
}

}  // namespace hygie::fhir
