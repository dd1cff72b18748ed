#include "fhir/validator.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "fhir/r4/definitions.h"
#include "fhir/resource.h"

namespace hygie::fhir {
namespace {

using rapidjson::Value;

constexpr size_t kMaxEchoedNameLength = 64;
constexpr size_t kMaxStringBytes = 1024 * 1024;  // FHIR: a string is at most 1 MB

std::string_view View(const Value& string) {
  return std::string_view(string.GetString(), string.GetStringLength());
}

// ---------------------------------------------------------------------------------------------
// Primitive formats, as the regular expressions of the R4 specification, by hand.

enum class Primitive : uint8_t {
  kBoolean,
  kInteger,
  kUnsignedInt,
  kPositiveInt,
  kDecimal,
  kString,  // string, markdown: any text
  kUri,     // uri, url, canonical: no whitespace
  kCode,
  kId,
  kOid,
  kUuid,
  kBase64Binary,
  kDate,
  kDateTime,
  kInstant,
  kTime,
  kXhtml,
};

Primitive PrimitiveOf(std::string_view type) {
  struct Entry {
    std::string_view name;
    Primitive primitive;
  };
  static constexpr Entry kTable[] = {
      {"boolean", Primitive::kBoolean},
      {"integer", Primitive::kInteger},
      {"unsignedInt", Primitive::kUnsignedInt},
      {"positiveInt", Primitive::kPositiveInt},
      {"decimal", Primitive::kDecimal},
      {"uri", Primitive::kUri},
      {"url", Primitive::kUri},
      {"canonical", Primitive::kUri},
      {"code", Primitive::kCode},
      {"id", Primitive::kId},
      {"oid", Primitive::kOid},
      {"uuid", Primitive::kUuid},
      {"base64Binary", Primitive::kBase64Binary},
      {"date", Primitive::kDate},
      {"dateTime", Primitive::kDateTime},
      {"instant", Primitive::kInstant},
      {"time", Primitive::kTime},
      {"xhtml", Primitive::kXhtml},
  };
  for (const Entry& e : kTable) {
    if (e.name == type) return e.primitive;
  }
  return Primitive::kString;
}

bool IsNumeric(Primitive p) {
  return p == Primitive::kInteger || p == Primitive::kUnsignedInt || p == Primitive::kPositiveInt ||
         p == Primitive::kDecimal;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
// \s of the specification's regular expressions.
bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// A cursor over a value for the date and time grammars.
class Scanner {
 public:
  explicit Scanner(std::string_view text) : text_(text) {}
  bool done() const { return pos_ == text_.size(); }
  bool Peek(char c) const { return pos_ < text_.size() && text_[pos_] == c; }
  bool Take(char c) {
    if (!Peek(c)) return false;
    ++pos_;
    return true;
  }
  // Exactly n digits, their value in out.
  bool Digits(size_t n, int& out) {
    if (text_.size() - pos_ < n) return false;
    out = 0;
    for (size_t i = 0; i < n; ++i) {
      const char c = text_[pos_ + i];
      if (!IsDigit(c)) return false;
      out = out * 10 + (c - '0');
    }
    pos_ += n;
    return true;
  }
  // One or more digits.
  bool Fraction() {
    const size_t start = pos_;
    while (pos_ < text_.size() && IsDigit(text_[pos_])) ++pos_;
    return pos_ > start;
  }

 private:
  std::string_view text_;
  size_t pos_ = 0;
};

int DaysInMonth(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month == 2) {
    const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return leap ? 29 : 28;
  }
  return kDays[month - 1];
}

// YYYY, YYYY-MM or YYYY-MM-DD (only the full form when full_date); year 0000 refused, days
// real. Sets has_day.
bool ScanDate(Scanner& s, bool full_date, bool& has_day) {
  int year = 0;
  int month = 0;
  int day = 0;
  has_day = false;
  if (!s.Digits(4, year) || year == 0) return false;
  if (!s.Take('-')) return !full_date;
  if (!s.Digits(2, month) || month < 1 || month > 12) return false;
  if (!s.Take('-')) return !full_date;
  if (!s.Digits(2, day) || day < 1 || day > DaysInMonth(year, month)) return false;
  has_day = true;
  return true;
}

// hh:mm:ss(.f+)? with hh 00-23, mm 00-59, ss 00-60 (leap second).
bool ScanTime(Scanner& s) {
  int hour = 0;
  int minute = 0;
  int second = 0;
  if (!s.Digits(2, hour) || hour > 23 || !s.Take(':')) return false;
  if (!s.Digits(2, minute) || minute > 59 || !s.Take(':')) return false;
  if (!s.Digits(2, second) || second > 60) return false;
  if (s.Take('.') && !s.Fraction()) return false;
  return true;
}

// Z | (+|-)hh:mm with hh:mm 00:00..13:59 or 14:00.
bool ScanZone(Scanner& s) {
  if (s.Take('Z')) return true;
  if (!s.Take('+') && !s.Take('-')) return false;
  int hour = 0;
  int minute = 0;
  if (!s.Digits(2, hour) || !s.Take(':') || !s.Digits(2, minute)) return false;
  if (hour == 14) return minute == 0;
  return hour <= 13 && minute <= 59;
}

bool IsDate(std::string_view text) {
  Scanner s(text);
  bool has_day = false;
  return ScanDate(s, false, has_day) && s.done();
}

bool IsDateTime(std::string_view text) {
  Scanner s(text);
  bool has_day = false;
  if (!ScanDate(s, false, has_day)) return false;
  if (s.done()) return true;
  return has_day && s.Take('T') && ScanTime(s) && ScanZone(s) && s.done();
}

bool IsInstant(std::string_view text) {
  Scanner s(text);
  bool has_day = false;
  return ScanDate(s, true, has_day) && s.Take('T') && ScanTime(s) && ScanZone(s) && s.done();
}

bool IsTime(std::string_view text) {
  Scanner s(text);
  return ScanTime(s) && s.done();
}

// [^\s]+(\s[^\s]+)*
bool IsCode(std::string_view text) {
  if (text.empty() || IsSpace(text.front()) || IsSpace(text.back())) return false;
  for (size_t i = 1; i < text.size(); ++i) {
    if (IsSpace(text[i]) && IsSpace(text[i - 1])) return false;
  }
  return true;
}

// \S*
bool IsUri(std::string_view text) { return std::none_of(text.begin(), text.end(), IsSpace); }

// urn:oid:[0-2](\.(0|[1-9][0-9]*))+
bool IsOid(std::string_view text) {
  constexpr std::string_view kPrefix = "urn:oid:";
  if (!text.starts_with(kPrefix)) return false;
  text.remove_prefix(kPrefix.size());
  if (text.empty() || text[0] < '0' || text[0] > '2') return false;
  size_t i = 1;
  size_t arcs = 0;
  while (i < text.size()) {
    if (text[i] != '.') return false;
    ++i;
    const size_t start = i;
    while (i < text.size() && IsDigit(text[i])) ++i;
    if (i == start || (text[start] == '0' && i - start > 1)) return false;
    ++arcs;
  }
  return arcs >= 1;
}

// urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}
bool IsUuid(std::string_view text) {
  constexpr std::string_view kPrefix = "urn:uuid:";
  if (!text.starts_with(kPrefix)) return false;
  text.remove_prefix(kPrefix.size());
  if (text.size() != 36) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!IsDigit(c) && !(c >= 'a' && c <= 'f')) {
      return false;
    }
  }
  return true;
}

// (\s*([0-9a-zA-Z\+/=]){4}\s*)+, with '=' only as the padding of the end.
bool IsBase64(std::string_view text) {
  size_t count = 0;
  size_t padding = 0;
  for (char c : text) {
    if (IsSpace(c)) continue;
    const bool alphabet =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || IsDigit(c) || c == '+' || c == '/';
    if (c == '=') {
      ++padding;
    } else if (!alphabet || padding > 0) {
      return false;
    }
    ++count;
  }
  return count > 0 && count % 4 == 0 && padding <= 2;
}

bool IsXhtml(std::string_view text) {
  while (!text.empty() && IsSpace(text.front())) text.remove_prefix(1);
  return text.starts_with("<div") && text.size() > 4 &&
         (text[4] == '>' || text[4] == '/' || IsSpace(text[4]));
}

// The integer a number's text holds, when it has no fraction or exponent and fits in 64 bits.
std::optional<int64_t> IntegerText(std::string_view text) {
  if (text.find_first_of(".eE") != std::string_view::npos) return std::nullopt;
  int64_t out = 0;
  const auto result = std::from_chars(text.data(), text.data() + text.size(), out);
  if (result.ec != std::errc() || result.ptr != text.data() + text.size()) return std::nullopt;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Lookup indexes: for a type or backbone path, its JSON member names.

enum class Kind : uint8_t {
  kPrimitive,
  kComplex,   // a data type; children under the type name
  kBackbone,  // children under the element's own path (or its contentReference)
  kResource,  // a nested resource, validated by its resourceType
  kAny,       // a type the definitions do not describe: not checked
};

struct ChildIndex;

struct Child {
  std::string json_name;  // "valueQuantity", "given"
  const r4::ElementDef* def = nullptr;
  std::string_view type;           // FHIR type code of this name
  std::string_view children_path;  // kComplex, kBackbone
  Kind kind = Kind::kAny;
  Primitive primitive = Primitive::kString;
  uint32_t slot = 0;  // index of def in ChildIndex::defs
  bool repeats = false;
  // The index of children_path once looked up (kComplex, kBackbone): set once, never changed.
  std::atomic<const ChildIndex*>* resolved = nullptr;
};

// An element whose cardinality needs a check after the members of an object.
struct Bound {
  uint32_t slot;
  uint32_t min;
  uint32_t max;
  std::string name;  // "status", "medication" (a choice without [x])
};

struct ChildIndex {
  std::string_view path;
  std::vector<Child> children;
  std::vector<const r4::ElementDef*> defs;
  std::unordered_map<std::string_view, uint32_t> by_name;  // views into children[i].json_name
  std::vector<std::string_view> choice_bases;              // "value", "effective"
  std::vector<Bound> bounds;  // elements with min > 0 or a finite max other than 1
  std::unique_ptr<std::atomic<const ChildIndex*>[]> resolved;  // one per child
  // Extension: the slots of value[x] and extension, for ext-1.
  std::optional<uint32_t> value_slot;
  std::optional<uint32_t> extension_slot;
};

bool IsBackboneType(std::string_view type) {
  return type == "BackboneElement" || type == "Element";
}

void Classify(const r4::ElementDef& def, std::string_view type, Child& child) {
  child.type = type;
  if (!def.content_reference.empty()) {
    const r4::ElementDef* target = r4::FindElement(def.content_reference);
    if (target == nullptr) {
      child.kind = Kind::kAny;
    } else if (target->types.empty() || IsBackboneType(target->types.front())) {
      child.kind = Kind::kBackbone;
      child.children_path = target->path;
    } else {
      Classify(*target, target->types.front(), child);
    }
    return;
  }
  if (IsBackboneType(type)) {
    child.kind = Kind::kBackbone;
    child.children_path = def.path;
  } else if (type == "Resource" || type == "DomainResource" || IsResourceType(type)) {
    child.kind = Kind::kResource;
  } else if (r4::IsPrimitiveType(type)) {
    child.kind = Kind::kPrimitive;
    child.primitive = PrimitiveOf(type);
  } else if (r4::IsComplexType(type) || !r4::ChildrenOf(type).empty()) {
    child.kind = Kind::kComplex;
    child.children_path = type;
  } else {
    child.kind = Kind::kAny;
  }
}

std::unique_ptr<ChildIndex> BuildIndex(std::string_view path) {
  auto index = std::make_unique<ChildIndex>();
  index->path = path;
  for (const r4::ElementDef* def : r4::ChildrenOf(path)) {
    const auto slot = static_cast<uint32_t>(index->defs.size());
    index->defs.push_back(def);
    std::string_view name = def->name();
    if (def->is_choice()) {
      name.remove_suffix(3);  // "[x]"
      index->choice_bases.push_back(name);
      if (path == "Extension" && name == "value") index->value_slot = slot;
      for (std::string_view type : def->types) {
        Child& child = index->children.emplace_back();
        child.json_name = std::string(name) + r4::TypeSuffix(type);
        child.def = def;
        child.slot = slot;
        child.repeats = def->max > 1;
        Classify(*def, type, child);
      }
      continue;
    }
    if (path == "Extension" && name == "extension") index->extension_slot = slot;
    Child& child = index->children.emplace_back();
    child.json_name = std::string(name);
    child.def = def;
    child.slot = slot;
    child.repeats = def->max > 1;
    Classify(*def, def->types.empty() ? std::string_view() : def->types.front(), child);
  }
  // The vector no longer grows: views into its strings stay valid.
  index->resolved = std::make_unique<std::atomic<const ChildIndex*>[]>(index->children.size());
  for (size_t i = 0; i < index->children.size(); ++i) {
    index->by_name.emplace(index->children[i].json_name, static_cast<uint32_t>(i));
    index->resolved[i].store(nullptr, std::memory_order_relaxed);
    index->children[i].resolved = &index->resolved[i];
  }
  for (size_t slot = 0; slot < index->defs.size(); ++slot) {
    const r4::ElementDef& def = *index->defs[slot];
    if (def.min == 0 && (def.max == 1 || def.max == r4::kUnbounded)) continue;
    std::string_view name = def.name();
    if (def.is_choice()) name.remove_suffix(3);
    index->bounds.push_back(
        Bound{static_cast<uint32_t>(slot), def.min, def.max, std::string(name)});
  }
  return index;
}

// The indexes, built on first use and kept for the life of the process. Keys are views into
// the static tables of r4 (definition paths, type names) or into ResourceTypes().
class IndexCache {
 public:
  const ChildIndex& Get(std::string_view path) {
    {
      std::shared_lock lock(mutex_);
      const auto it = map_.find(path);
      if (it != map_.end()) return *it->second;
    }
    std::unique_ptr<ChildIndex> built = BuildIndex(path);
    std::unique_lock lock(mutex_);
    const auto [it, inserted] = map_.try_emplace(path, std::move(built));
    return *it->second;
  }

 private:
  std::shared_mutex mutex_;
  std::unordered_map<std::string_view, std::unique_ptr<ChildIndex>> map_;
};

IndexCache& Cache() {
  static IndexCache* const cache = new IndexCache();
  return *cache;
}

// The index of a complex or backbone child's members, memoized in the child.
const ChildIndex& ChildrenIndex(const Child& child) {
  const ChildIndex* index = child.resolved->load(std::memory_order_acquire);
  if (index == nullptr) {
    index = &Cache().Get(child.children_path);
    child.resolved->store(index, std::memory_order_release);
  }
  return *index;
}

// The index of the members of a primitive's "_name" companion (id, extension).
const ChildIndex& ElementIndex() {
  static const ChildIndex& index = Cache().Get("Element");
  return index;
}

// The static view of a resource type name, or empty when it is not one.
std::string_view StaticResourceType(std::string_view name) {
  const auto& types = ResourceTypes();
  const auto it = std::lower_bound(types.begin(), types.end(), name);
  return it != types.end() && *it == name ? *it : std::string_view();
}

// Member names are schema words; echo them only when they look like one.
bool IsEchoableName(std::string_view name) {
  if (name.empty() || name.size() > kMaxEchoedNameLength) return false;
  for (char c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || IsDigit(c) || c == '_';
    if (!ok) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------

class Validator {
 public:
  std::vector<Issue> Run(const Value& resource) {
    path_.reserve(128);
    scratch_.reserve(512);
    ValidateResourceValue(resource, 0);
    if (truncated_) {
      Issue issue;
      issue.code = "too-costly";
      issue.diagnostics =
          "validation stopped after " + std::to_string(kMaxValidationIssues) + " issues";
      issue.details_code = std::string(kValidateTooManyIssues);
      issues_.push_back(std::move(issue));
    }
    return std::move(issues_);
  }

 private:
  // Appends to path_ for the life of the scope.
  class PathScope {
   public:
    PathScope(std::string& path, std::string_view member) : path_(path), size_(path.size()) {
      path_ += '.';
      path_ += member;
    }
    PathScope(std::string& path, size_t index) : path_(path), size_(path.size()) {
      char buffer[24];
      const auto result = std::to_chars(buffer, buffer + sizeof(buffer), index);
      path_ += '[';
      path_.append(buffer, result.ptr);
      path_ += ']';
    }
    PathScope(const PathScope&) = delete;
    PathScope& operator=(const PathScope&) = delete;
    ~PathScope() { path_.resize(size_); }

   private:
    std::string& path_;
    size_t size_;
  };

  bool full() const { return truncated_; }

  // Reports an issue at path_, followed by suffix (".name" of an element not entered).
  void Report(std::string_view code, std::string_view details, std::string diagnostics,
              std::string_view suffix = {}, std::string_view severity = "error") {
    if (truncated_) return;
    if (issues_.size() >= kMaxValidationIssues) {
      truncated_ = true;
      return;
    }
    Issue issue;
    issue.severity = std::string(severity);
    issue.code = std::string(code);
    issue.diagnostics = std::move(diagnostics);
    issue.expression = path_;
    issue.expression += suffix;
    issue.details_code = std::string(details);
    issues_.push_back(std::move(issue));
  }

  // A resource at path_ (empty at the root, which then becomes the type name).
  void ValidateResourceValue(const Value& value, size_t depth) {
    if (!value.IsObject()) {
      Report("structure", kValidateType, "a resource must be a JSON object");
      return;
    }
    const auto type_member = value.FindMember("resourceType");
    if (type_member == value.MemberEnd()) {
      Report("required", kValidateResourceType, "resource has no resourceType");
      return;
    }
    if (!IsJsonString(type_member->value)) {
      Report("structure", kValidateResourceType, "resourceType is not a string");
      return;
    }
    const std::string_view type = StaticResourceType(View(type_member->value));
    if (type.empty()) {
      std::string message = "unknown resource type";
      const std::string_view name = View(type_member->value);
      if (IsEchoableName(name)) message += " '" + std::string(name) + "'";
      Report("structure", kValidateResourceType, std::move(message),
             path_.empty() ? std::string_view() : std::string_view(".resourceType"));
      return;
    }
    const bool root = path_.empty();
    if (root) path_ = type;
    ValidateObject(value, Cache().Get(type), /*resource_root=*/true, depth + 1);
    if (root) path_.clear();
  }

  // The members of an object whose element definitions are index's.
  void ValidateObject(const Value& object, const ChildIndex& index, bool resource_root,
                      size_t depth) {
    if (depth > kMaxValidationDepth) {
      Report("structure", kValidateDepth,
             "elements nested deeper than " + std::to_string(kMaxValidationDepth) +
                 " levels are not validated");
      return;
    }
    if (object.ObjectEmpty()) {
      Report("structure", kValidateEmpty, "an element must not be an empty object");
      return;
    }
    const size_t slots = index.defs.size();
    // scratch_[base + slot]: the count of the element; scratch_[base + slots + slot]: 1 + the
    // index of the choice type seen first, 0 when none.
    const size_t base = scratch_.size();
    scratch_.resize(base + 2 * slots, 0);

    for (auto member = object.MemberBegin(); member != object.MemberEnd() && !full(); ++member) {
      const std::string_view name = View(member->name);
      if (name == "resourceType") {
        if (!resource_root) {
          Report("structure", kValidateUnknownElement,
                 "resourceType is allowed only at the root of a resource", ".resourceType");
        }
        continue;
      }
      if (name == "fhir_comments" || name == "_fhir_comments") {
        Report("structure", kValidateUnknownElement, "fhir_comments is not allowed in FHIR R4",
               "." + std::string(name));
        continue;
      }
      const bool companion = name.starts_with('_');
      const std::string_view element = companion ? name.substr(1) : name;
      const auto found = index.by_name.find(element);
      if (found == index.by_name.end()) {
        ReportUnknown(index, name);
        continue;
      }
      const uint32_t child_index = found->second;
      const Child& child = index.children[child_index];
      if (companion && child.kind != Kind::kPrimitive) {
        ReportUnknown(index, name);
        continue;
      }
      uint32_t& variant = scratch_[base + slots + child.slot];
      if (variant == 0) {
        variant = child_index + 1;
      } else if (variant != child_index + 1) {
        const std::string_view choice = child.def->name();
        Report("structure", kValidateChoice,
               "only one type of " + std::string(choice) + " may be present",
               "." + child.json_name);
        continue;
      }
      PathScope scope(path_, child.json_name);
      const uint32_t count = companion ? ValidateCompanion(member->value, child, object, depth)
                                       : ValidateMember(member->value, child, object, depth);
      uint32_t& slot_count = scratch_[base + child.slot];
      slot_count = std::max(slot_count, count);
    }

    if (!full()) {
      for (const Bound& bound : index.bounds) {
        const uint32_t count = scratch_[base + bound.slot];
        if (count < bound.min) {
          Report(
              "required", kValidateCardinality,
              bound.name + " is required (minimum cardinality " + std::to_string(bound.min) + ")",
              "." + bound.name);
        } else if (count > bound.max) {
          Report("structure", kValidateCardinality,
                 bound.name + " has more than " + std::to_string(bound.max) + " values",
                 "." + bound.name);
        }
      }
      if (index.value_slot && index.extension_slot) {
        const bool has_value = scratch_[base + *index.value_slot] > 0;
        const bool has_extensions = scratch_[base + *index.extension_slot] > 0;
        if (has_value == has_extensions) {
          Report("invariant", kValidateInvariant,
                 "ext-1: an extension must have either extensions or value[x], not both");
        }
      }
    }
    scratch_.resize(base);
  }

  void ReportUnknown(const ChildIndex& index, std::string_view name) {
    if (!IsEchoableName(name)) {
      Report("structure", kValidateUnknownElement, "unknown element");
      return;
    }
    const std::string_view element = name.starts_with('_') ? name.substr(1) : name;
    if (name.starts_with('_') && index.by_name.contains(element)) {
      Report("structure", kValidateUnknownElement,
             "'" + std::string(name) + "': only primitive elements have '_' companions",
             "." + std::string(name));
      return;
    }
    for (std::string_view choice : index.choice_bases) {
      if (element.size() > choice.size() && element.starts_with(choice) &&
          element[choice.size()] >= 'A' && element[choice.size()] <= 'Z') {
        Report("structure", kValidateUnknownElement,
               "'" + std::string(name) + "': type " + std::string(element.substr(choice.size())) +
                   " is not allowed for " + std::string(choice) + "[x]",
               "." + std::string(name));
        return;
      }
    }
    Report("structure", kValidateUnknownElement,
           "unknown element '" + std::string(name) + "' in " + std::string(index.path),
           "." + std::string(name));
  }

  // A member holding an element's value(s); path_ is at the element. Returns its count.
  uint32_t ValidateMember(const Value& value, const Child& child, const Value& parent,
                          size_t depth) {
    if (child.repeats) {
      if (!value.IsArray()) {
        Report("structure", kValidateArray, "must be a JSON array (the element repeats)");
        if (!value.IsNull()) ValidateOne(value, child, depth);
        return 1;
      }
      if (value.Empty()) {
        Report("structure", kValidateEmpty, "an element must not be an empty array");
        return 0;
      }
      const Value* companion = nullptr;
      bool companion_looked_up = false;
      for (rapidjson::SizeType i = 0; i < value.Size() && !full(); ++i) {
        PathScope scope(path_, i);
        const Value& item = value[i];
        if (item.IsNull()) {
          if (!companion_looked_up) {
            companion = FindCompanion(parent, "_" + child.json_name);
            companion_looked_up = true;
          }
          const bool aligned = child.kind == Kind::kPrimitive && companion != nullptr &&
                               companion->IsArray() && i < companion->Size() &&
                               (*companion)[i].IsObject();
          if (!aligned) {
            Report("structure", kValidateNull,
                   "null is allowed only where the '_' companion array has an object");
          }
          continue;
        }
        ValidateOne(item, child, depth);
      }
      return value.Size();
    }
    if (value.IsArray()) {
      Report("structure", kValidateArray, "must not be a JSON array (the element does not repeat)");
      return 1;
    }
    if (value.IsNull()) {
      Report("structure", kValidateNull, "null is not a value");
      return 1;
    }
    ValidateOne(value, child, depth);
    return 1;
  }

  static const Value* FindCompanion(const Value& parent, std::string_view name) {
    const Value key(rapidjson::StringRef(name.data(), name.size()));
    const auto it = parent.FindMember(key);
    return it == parent.MemberEnd() ? nullptr : &it->value;
  }

  // The "_name" companion of a primitive; path_ is at the primitive. Returns its count.
  uint32_t ValidateCompanion(const Value& value, const Child& child, const Value& parent,
                             size_t depth) {
    const ChildIndex& element = ElementIndex();
    const Value* primitive = FindCompanion(parent, child.json_name);
    if (child.repeats) {
      if (!value.IsArray()) {
        Report("structure", kValidateArray,
               "'_" + child.json_name + "' must be a JSON array (the element repeats)");
        return 1;
      }
      if (value.Empty()) {
        Report("structure", kValidateEmpty, "'_" + child.json_name + "' must not be empty");
        return 0;
      }
      const Value* values = primitive != nullptr && primitive->IsArray() ? primitive : nullptr;
      if (primitive != nullptr && (values == nullptr || values->Size() != value.Size())) {
        Report("structure", kValidateCompanion,
               "'_" + child.json_name + "' must have as many items as '" + child.json_name + "'");
      }
      for (rapidjson::SizeType i = 0; i < value.Size() && !full(); ++i) {
        PathScope scope(path_, i);
        const Value& item = value[i];
        if (item.IsNull()) {
          const bool in_values = values != nullptr && i < values->Size();
          // A null on both sides is reported once, by the primitive's array.
          if (!in_values) {
            Report("structure", kValidateNull,
                   "null in '_" + child.json_name + "' is allowed only where '" + child.json_name +
                       "' has a value");
          }
        } else if (item.IsObject()) {
          if (item.ObjectEmpty()) {
            Report("structure", kValidateEmpty, "an element must not be an empty object");
          } else {
            ValidateObject(item, element, false, depth + 1);
          }
        } else {
          Report("structure", kValidateType,
                 "items of '_" + child.json_name + "' must be JSON objects or null");
        }
      }
      return value.Size();
    }
    if (value.IsArray()) {
      Report("structure", kValidateArray,
             "'_" + child.json_name + "' must not be a JSON array (the element does not repeat)");
      return 1;
    }
    if (!value.IsObject()) {
      Report("structure", kValidateType, "'_" + child.json_name + "' must be a JSON object");
      return 1;
    }
    if (value.ObjectEmpty()) {
      Report("structure", kValidateEmpty, "an element must not be an empty object");
      return 1;
    }
    ValidateObject(value, element, false, depth + 1);
    return 1;
  }

  // One value of an element (not an array, not null); path_ is at it.
  void ValidateOne(const Value& value, const Child& child, size_t depth) {
    switch (child.kind) {
      case Kind::kPrimitive:
        ValidatePrimitive(value, child);
        return;
      case Kind::kComplex:
      case Kind::kBackbone:
        if (!value.IsObject()) {
          Report("structure", kValidateType, "must be a JSON object (" + TypeName(child) + ")");
          return;
        }
        if (value.ObjectEmpty()) {
          Report("structure", kValidateEmpty, "an element must not be an empty object");
          return;
        }
        ValidateObject(value, ChildrenIndex(child), false, depth + 1);
        if (!child.def->required_value_set.empty()) {
          if (child.type == "Coding") CheckCoding(value, child.def->required_value_set);
          if (child.type == "CodeableConcept") {
            CheckCodeableConcept(value, child.def->required_value_set);
          }
        }
        return;
      case Kind::kResource:
        ValidateResourceValue(value, depth);
        if (child.def->path.ends_with(".contained") && value.IsObject()) CheckContained(value);
        return;
      case Kind::kAny:
        return;
    }
  }

  // The invariants of DomainResource on a contained resource; path_ is at it.
  void CheckContained(const Value& resource) {
    if (resource.HasMember("contained")) {
      Report("invariant", kValidateInvariant,
             "dom-2: a contained resource must not contain resources", ".contained");
    }
    const auto meta = resource.FindMember("meta");
    if (meta != resource.MemberEnd() && meta->value.IsObject() &&
        (meta->value.HasMember("versionId") || meta->value.HasMember("lastUpdated"))) {
      Report("invariant", kValidateInvariant,
             "dom-4: a contained resource must not have meta.versionId or meta.lastUpdated",
             ".meta");
    }
  }

  static std::string TypeName(const Child& child) {
    return child.kind == Kind::kBackbone ? "BackboneElement" : std::string(child.type);
  }

  void ValidatePrimitive(const Value& value, const Child& child) {
    const Primitive p = child.primitive;
    if (p == Primitive::kBoolean) {
      if (!value.IsBool()) Report("structure", kValidateType, "must be a JSON boolean (boolean)");
      return;
    }
    if (IsNumeric(p)) {
      if (!IsJsonNumber(value)) {
        Report("structure", kValidateType,
               "must be a JSON number (" + std::string(child.type) + ")");
        return;
      }
      ValidateNumber(value, child);
      return;
    }
    if (!IsJsonString(value)) {
      Report("structure", kValidateType, "must be a JSON string (" + std::string(child.type) + ")");
      return;
    }
    const std::string_view text = View(value);
    if (text.empty()) {
      Report("value", kValidateEmpty, "a string must not be empty");
      return;
    }
    bool ok = true;
    switch (p) {
      case Primitive::kString:
        ok = text.size() <= kMaxStringBytes;
        break;
      case Primitive::kUri:
        ok = IsUri(text);
        break;
      case Primitive::kCode:
        ok = IsCode(text);
        break;
      case Primitive::kId:
        ok = IsValidId(text);
        break;
      case Primitive::kOid:
        ok = IsOid(text);
        break;
      case Primitive::kUuid:
        ok = IsUuid(text);
        break;
      case Primitive::kBase64Binary:
        ok = IsBase64(text);
        break;
      case Primitive::kDate:
        ok = IsDate(text);
        break;
      case Primitive::kDateTime:
        ok = IsDateTime(text);
        break;
      case Primitive::kInstant:
        ok = IsInstant(text);
        break;
      case Primitive::kTime:
        ok = IsTime(text);
        break;
      case Primitive::kXhtml:
        ok = IsXhtml(text);
        break;
      case Primitive::kBoolean:
      case Primitive::kInteger:
      case Primitive::kUnsignedInt:
      case Primitive::kPositiveInt:
      case Primitive::kDecimal:
        break;
    }
    if (!ok) {
      Report("value", kValidatePrimitive, "not a valid " + std::string(child.type));
      return;
    }
    const std::string_view value_set = child.def->required_value_set;
    if (!value_set.empty() && r4::ValueSetContains(value_set, {}, text) == false) {
      Report("code-invalid", kValidateCode,
             "the code is not in the required value set " + std::string(value_set));
    }
  }

  void ValidateNumber(const Value& value, const Child& child) {
    const Primitive p = child.primitive;
    if (p == Primitive::kDecimal) return;  // any JSON number is a decimal
    std::optional<int64_t> integer;
    if (value.IsNumber()) {  // a native number, not from Resource::Parse
      if (value.IsInt64()) integer = value.GetInt64();
    } else {
      integer = IntegerText(NumberText(value));
    }
    bool ok = integer.has_value() && *integer >= INT32_MIN && *integer <= INT32_MAX;
    if (ok && p == Primitive::kUnsignedInt) ok = *integer >= 0;
    if (ok && p == Primitive::kPositiveInt) ok = *integer >= 1;
    if (ok && p != Primitive::kInteger) {
      // Their grammars have no sign: -0 is not an unsignedInt.
      ok = !NumberText(value).starts_with('-');
    }
    if (!ok) Report("value", kValidatePrimitive, "not a valid " + std::string(child.type));
  }

  static std::string_view StringMember(const Value& object, const char* name) {
    const auto it = object.FindMember(name);
    if (it == object.MemberEnd() || !IsJsonString(it->value)) return {};
    return View(it->value);
  }

  // A Coding under a required binding; path_ is at it.
  void CheckCoding(const Value& coding, std::string_view value_set) {
    const std::string_view code = StringMember(coding, "code");
    if (code.empty()) {
      Report("code-invalid", kValidateCode,
             "a Coding under a required binding must have a code from " + std::string(value_set));
      return;
    }
    if (r4::ValueSetContains(value_set, StringMember(coding, "system"), code) == false) {
      Report("code-invalid", kValidateCode,
             "the code is not in the required value set " + std::string(value_set));
    }
  }

  // A CodeableConcept under a required binding: one of its codings must be in the value set
  // (or not decidable here); with only text, a warning.
  void CheckCodeableConcept(const Value& codeable_concept, std::string_view value_set) {
    const auto codings = codeable_concept.FindMember("coding");
    if (codings == codeable_concept.MemberEnd() || !codings->value.IsArray() ||
        codings->value.Empty()) {
      Report("code-invalid", kValidateCode,
             "no coding from the required value set " + std::string(value_set) + " (only text)", {},
             "warning");
      return;
    }
    for (const Value& coding : codings->value.GetArray()) {
      if (!coding.IsObject()) continue;
      const std::string_view code = StringMember(coding, "code");
      if (code.empty()) continue;
      if (r4::ValueSetContains(value_set, StringMember(coding, "system"), code) != false) return;
    }
    Report("code-invalid", kValidateCode,
           "none of the codings is in the required value set " + std::string(value_set));
  }

  std::string path_;
  std::vector<Issue> issues_;
  std::vector<uint32_t> scratch_;
  bool truncated_ = false;
};

}  // namespace

std::vector<Issue> ValidateResource(const rapidjson::Value& resource) {
  return Validator().Run(resource);
}

bool HasErrors(const std::vector<Issue>& issues) {
  return std::any_of(issues.begin(), issues.end(), [](const Issue& issue) {
    return issue.severity == "error" || issue.severity == "fatal";
  });
}

}  // namespace hygie::fhir
