#include "fhir/json_patch.h"

#include <cmath>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "fhir/resource.h"

namespace hygie::fhir {
namespace {

using Allocator = rapidjson::Document::AllocatorType;

constexpr size_t kMaxEchoedPointerLength = 200;

std::string_view View(const rapidjson::Value& string) {
  return std::string_view(string.GetString(), string.GetStringLength());
}

// A pointer is echoed in messages only when it is made of schema-like characters.
bool IsEchoablePointer(std::string_view pointer) {
  if (pointer.size() > kMaxEchoedPointerLength) return false;
  for (char c : pointer) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '/' || c == '-' || c == '_' || c == '.' || c == '~';
    if (!ok) return false;
  }
  return true;
}

std::string At(std::string_view pointer) {
  if (pointer.empty()) return " at the document root";
  if (!IsEchoablePointer(pointer)) return {};
  return " at " + std::string(pointer);
}

// RFC 6901 reference tokens, unescaped. kInvalidArgument for a pointer that is not "" and does
// not start with '/', or with a '~' not followed by '0' or '1'.
Result<std::vector<std::string>> ParsePointer(std::string_view pointer) {
  std::vector<std::string> tokens;
  if (pointer.empty()) return tokens;
  if (pointer.front() != '/') return InvalidArgument("pointer does not start with '/'");
  std::string token;
  for (size_t i = 1; i <= pointer.size(); ++i) {
    if (i == pointer.size() || pointer[i] == '/') {
      tokens.push_back(std::move(token));
      token.clear();
      continue;
    }
    if (pointer[i] == '~') {
      if (i + 1 < pointer.size() && (pointer[i + 1] == '0' || pointer[i + 1] == '1')) {
        token += pointer[i + 1] == '0' ? '~' : '/';
        ++i;
        continue;
      }
      return InvalidArgument("pointer has '~' not followed by '0' or '1'");
    }
    token += pointer[i];
  }
  return tokens;
}

// The array index a token names: decimal digits without leading zeros. nullopt otherwise
// (including "-", handled by the callers that accept it).
std::optional<size_t> ParseIndex(std::string_view token) {
  if (token.empty() || token.size() > 9) return std::nullopt;  // no array is that large
  if (token.size() > 1 && token.front() == '0') return std::nullopt;
  size_t index = 0;
  for (char c : token) {
    if (c < '0' || c > '9') return std::nullopt;
    index = index * 10 + static_cast<size_t>(c - '0');
  }
  return index;
}

rapidjson::Value::MemberIterator FindMember(rapidjson::Value& object, std::string_view name) {
  const rapidjson::Value key(rapidjson::StringRef(name.data(), name.size()));
  return object.FindMember(key);
}

// The value at tokens[0, count), or an error naming why it does not exist.
Result<rapidjson::Value*> Resolve(rapidjson::Value& root, const std::vector<std::string>& tokens,
                                  size_t count) {
  rapidjson::Value* node = &root;
  for (size_t i = 0; i < count; ++i) {
    const std::string& token = tokens[i];
    if (node->IsObject()) {
      auto it = FindMember(*node, token);
      if (it == node->MemberEnd()) return InvalidArgument("path does not exist");
      node = &it->value;
    } else if (node->IsArray()) {
      const std::optional<size_t> index = ParseIndex(token);
      if (!index.has_value()) return InvalidArgument("path has an invalid array index");
      if (*index >= node->Size()) return InvalidArgument("array index out of range");
      node = &(*node)[static_cast<rapidjson::SizeType>(*index)];
    } else {
      return InvalidArgument("path does not exist");
    }
  }
  return node;
}

// The text of a native RapidJSON number (the shortest that reads back the same double).
Result<std::string> NativeNumberText(const rapidjson::Value& number) {
  if (number.IsInt64()) return std::to_string(number.GetInt64());
  if (number.IsUint64()) return std::to_string(number.GetUint64());
  const double d = number.GetDouble();
  if (!std::isfinite(d)) return InvalidArgument("value holds a number that is not finite");
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  if (!writer.Double(d)) return InvalidArgument("value holds a number that cannot be written");
  return std::string(buffer.GetString(), buffer.GetSize());
}

// A deep copy of source made with allocator, numbers kept as text (native numbers converted).
Result<rapidjson::Value> Import(const rapidjson::Value& source, Allocator& allocator) {
  if (source.IsNumber()) {
    HYGIE_ASSIGN_OR_RETURN(const std::string text, NativeNumberText(source));
    rapidjson::Value out;
    if (!SetNumberText(out, text, allocator)) return InvalidArgument("value holds a bad number");
    return out;
  }
  if (source.IsArray()) {
    rapidjson::Value out(rapidjson::kArrayType);
    out.Reserve(source.Size(), allocator);
    for (const auto& element : source.GetArray()) {
      HYGIE_ASSIGN_OR_RETURN(rapidjson::Value copy, Import(element, allocator));
      out.PushBack(std::move(copy), allocator);
    }
    return out;
  }
  if (source.IsObject()) {
    rapidjson::Value out(rapidjson::kObjectType);
    for (const auto& member : source.GetObject()) {
      HYGIE_ASSIGN_OR_RETURN(rapidjson::Value copy, Import(member.value, allocator));
      out.AddMember(rapidjson::Value(member.name, allocator), std::move(copy), allocator);
    }
    return out;
  }
  return rapidjson::Value(source, allocator);
}

// The text of a number, kept as text or native; empty when value is not a number.
std::string ComparableNumber(const rapidjson::Value& value) {
  if (value.IsNumber()) {
    auto text = NativeNumberText(value);
    return text.ok() ? *text : std::string();
  }
  return std::string(NumberText(value));
}

// JSON equality for `test`: numbers by their text, objects regardless of member order.
bool JsonEqual(const rapidjson::Value& a, const rapidjson::Value& b) {
  const bool a_number = IsJsonNumber(a);
  const bool b_number = IsJsonNumber(b);
  if (a_number || b_number) {
    return a_number && b_number && ComparableNumber(a) == ComparableNumber(b);
  }
  if (a.GetType() != b.GetType()) return false;
  switch (a.GetType()) {
    case rapidjson::kNullType:
    case rapidjson::kFalseType:
    case rapidjson::kTrueType:
      return true;
    case rapidjson::kStringType:
      return View(a) == View(b);
    case rapidjson::kArrayType: {
      if (a.Size() != b.Size()) return false;
      for (rapidjson::SizeType i = 0; i < a.Size(); ++i) {
        if (!JsonEqual(a[i], b[i])) return false;
      }
      return true;
    }
    case rapidjson::kObjectType: {
      if (a.MemberCount() != b.MemberCount()) return false;
      for (const auto& member : a.GetObject()) {
        const auto it = b.FindMember(member.name);
        if (it == b.MemberEnd() || !JsonEqual(member.value, it->value)) return false;
      }
      return true;  // same count, no duplicate names: same member set
    }
    case rapidjson::kNumberType:
      break;  // handled above
  }
  return false;
}

class Patcher {
 public:
  explicit Patcher(rapidjson::Document& doc) : doc_(doc), allocator_(doc.GetAllocator()) {}

  Status Add(const std::vector<std::string>& path, rapidjson::Value value) {
    if (path.empty()) {
      static_cast<rapidjson::Value&>(doc_) = std::move(value);
      return Status();
    }
    HYGIE_ASSIGN_OR_RETURN(rapidjson::Value * parent, Resolve(doc_, path, path.size() - 1));
    const std::string& last = path.back();
    if (parent->IsObject()) {
      auto it = FindMember(*parent, last);
      if (it != parent->MemberEnd()) {
        it->value = std::move(value);
      } else {
        parent->AddMember(
            rapidjson::Value(last.data(), static_cast<rapidjson::SizeType>(last.size()),
                             allocator_),
            std::move(value), allocator_);
      }
      return Status();
    }
    if (parent->IsArray()) {
      size_t index = parent->Size();
      if (last != "-") {
        const std::optional<size_t> parsed = ParseIndex(last);
        if (!parsed.has_value()) return InvalidArgument("path has an invalid array index");
        if (*parsed > parent->Size()) return InvalidArgument("array index out of range");
        index = *parsed;
      }
      parent->PushBack(std::move(value), allocator_);
      // Rotate the new last element down to index.
      for (size_t i = parent->Size() - 1; i > index; --i) {
        (*parent)[static_cast<rapidjson::SizeType>(i)].Swap(
            (*parent)[static_cast<rapidjson::SizeType>(i - 1)]);
      }
      return Status();
    }
    return InvalidArgument("parent of path is not an object or an array");
  }

  // Removes the value at path and returns it.
  Result<rapidjson::Value> Remove(const std::vector<std::string>& path) {
    if (path.empty()) return InvalidArgument("cannot remove the whole document");
    HYGIE_ASSIGN_OR_RETURN(rapidjson::Value * parent, Resolve(doc_, path, path.size() - 1));
    const std::string& last = path.back();
    rapidjson::Value removed;
    if (parent->IsObject()) {
      auto it = FindMember(*parent, last);
      if (it == parent->MemberEnd()) return InvalidArgument("path does not exist");
      removed = std::move(it->value);
      parent->EraseMember(it);  // keeps the order of the other members
      return removed;
    }
    if (parent->IsArray()) {
      const std::optional<size_t> index = ParseIndex(last);
      if (!index.has_value()) return InvalidArgument("path has an invalid array index");
      if (*index >= parent->Size()) return InvalidArgument("array index out of range");
      auto it = parent->Begin() + static_cast<std::ptrdiff_t>(*index);
      removed = std::move(*it);
      parent->Erase(it);
      return removed;
    }
    return InvalidArgument("path does not exist");
  }

  Status Replace(const std::vector<std::string>& path, rapidjson::Value value) {
    HYGIE_ASSIGN_OR_RETURN(rapidjson::Value * node, Resolve(doc_, path, path.size()));
    *node = std::move(value);
    return Status();
  }

  Result<rapidjson::Value> Copy(const std::vector<std::string>& path) {
    HYGIE_ASSIGN_OR_RETURN(rapidjson::Value * node, Resolve(doc_, path, path.size()));
    return rapidjson::Value(*node, allocator_);
  }

  Status Test(const std::vector<std::string>& path, const rapidjson::Value& expected) {
    HYGIE_ASSIGN_OR_RETURN(rapidjson::Value * node, Resolve(doc_, path, path.size()));
    if (!JsonEqual(*node, expected)) return InvalidArgument("value differs");
    return Status();
  }

  Allocator& allocator() { return allocator_; }

 private:
  rapidjson::Document& doc_;
  Allocator& allocator_;
};

// Reads the string member name of operation: nullptr when absent, an error when not a string.
Result<const rapidjson::Value*> StringMember(const rapidjson::Value& operation, const char* name) {
  const auto it = operation.FindMember(name);
  if (it == operation.MemberEnd()) return static_cast<const rapidjson::Value*>(nullptr);
  if (!IsJsonString(it->value)) {
    return InvalidArgument(std::string("member '") + name + "' is not a string");
  }
  return &it->value;
}

bool IsPrefix(const std::vector<std::string>& prefix, const std::vector<std::string>& path) {
  if (prefix.size() > path.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (prefix[i] != path[i]) return false;
  }
  return true;
}

// Applies one operation; the error names the reason only (the caller adds the index and op).
Status ApplyOperation(const rapidjson::Value& operation, std::string_view op, Patcher& patcher) {
  HYGIE_ASSIGN_OR_RETURN(const rapidjson::Value* path_value, StringMember(operation, "path"));
  if (path_value == nullptr) return InvalidArgument("member 'path' is missing");
  const std::string_view path_text = View(*path_value);
  auto path_or = ParsePointer(path_text);
  if (!path_or.ok()) return InvalidArgument("'path' " + path_or.status().message());
  const std::vector<std::string>& path = *path_or;
  auto with_path = [&](Status status) {
    if (status.ok()) return status;
    return InvalidArgument(status.message() + At(path_text));
  };

  const rapidjson::Value* value = nullptr;
  if (op == "add" || op == "replace" || op == "test") {
    const auto it = operation.FindMember("value");
    if (it == operation.MemberEnd()) return InvalidArgument("member 'value' is missing");
    value = &it->value;
  }
  if (op == "add" || op == "replace") {
    HYGIE_ASSIGN_OR_RETURN(rapidjson::Value copy, Import(*value, patcher.allocator()));
    return with_path(op == "add" ? patcher.Add(path, std::move(copy))
                                 : patcher.Replace(path, std::move(copy)));
  }
  if (op == "remove") {
    auto removed = patcher.Remove(path);
    return with_path(removed.status());
  }
  if (op == "test") return with_path(patcher.Test(path, *value));

  // move, copy
  HYGIE_ASSIGN_OR_RETURN(const rapidjson::Value* from_value, StringMember(operation, "from"));
  if (from_value == nullptr) return InvalidArgument("member 'from' is missing");
  const std::string_view from_text = View(*from_value);
  auto from_or = ParsePointer(from_text);
  if (!from_or.ok()) return InvalidArgument("'from' " + from_or.status().message());
  const std::vector<std::string>& from = *from_or;
  auto with_from = [&](const Status& status) {
    return InvalidArgument(status.message() + " (from)" + At(from_text));
  };
  if (op == "copy") {
    auto copy = patcher.Copy(from);
    if (!copy.ok()) return with_from(copy.status());
    return with_path(patcher.Add(path, std::move(copy).value()));
  }
  // move
  if (from == path) {
    auto exists = patcher.Copy(from);
    return exists.ok() ? Status() : with_from(exists.status());
  }
  if (IsPrefix(from, path)) {
    return InvalidArgument("cannot move a value into one of its own children");
  }
  auto moved = patcher.Remove(from);
  if (!moved.ok()) return with_from(moved.status());
  return with_path(patcher.Add(path, std::move(moved).value()));
}

}  // namespace

Status ApplyJsonPatch(const rapidjson::Value& patch, rapidjson::Document& target) {
  if (!patch.IsArray()) return InvalidArgument("JSON Patch is not a JSON array");
  // Work on a copy: the target changes only when every operation succeeded.
  rapidjson::Document work;
  work.CopyFrom(target, work.GetAllocator());
  Patcher patcher(work);
  for (rapidjson::SizeType i = 0; i < patch.Size(); ++i) {
    const rapidjson::Value& operation = patch[i];
    const std::string prefix = "JSON Patch operation " + std::to_string(i);
    if (!operation.IsObject()) return InvalidArgument(prefix + ": not a JSON object");
    const auto op_it = operation.FindMember("op");
    if (op_it == operation.MemberEnd()) return InvalidArgument(prefix + ": member 'op' is missing");
    if (!IsJsonString(op_it->value)) {
      return InvalidArgument(prefix + ": member 'op' is not a string");
    }
    const std::string_view op = View(op_it->value);
    if (op != "add" && op != "remove" && op != "replace" && op != "move" && op != "copy" &&
        op != "test") {
      return InvalidArgument(prefix + ": unknown op (add, remove, replace, move, copy, test)");
    }
    const Status status = ApplyOperation(operation, op, patcher);
    if (!status.ok()) {
      return InvalidArgument(prefix + " (" + std::string(op) + "): " + status.message());
    }
  }
  target.Swap(work);
  return Status();
}

}  // namespace hygie::fhir
