#include "fhir/search/indexer.h"

#include <algorithm>
#include <memory>
#include <optional>

#include "fhir/resource.h"
#include "fhir/search/index_keys.h"
#include "fhir/search/normalize.h"

namespace hygie::fhir::search {
namespace {

using r4::SearchParamType;
using rapidjson::Value;

// The text of a primitive: a string, a number (kept as text), a boolean.
std::optional<std::string_view> Text(const Value* v) {
  if (v == nullptr) return std::nullopt;
  if (IsJsonString(*v)) return std::string_view(v->GetString(), v->GetStringLength());
  if (IsJsonNumber(*v)) {
    std::string_view t = NumberText(*v);
    if (!t.empty()) return t;
    return std::nullopt;
  }
  if (v->IsBool()) return v->GetBool() ? std::string_view("true") : std::string_view("false");
  return std::nullopt;
}

const Value* Member(const Value& obj, const char* name) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(name);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

std::optional<std::string_view> MemberText(const Value& obj, const char* name) {
  return Text(Member(obj, name));
}

// Calls f for each element of a member that may be an array or a single value.
template <typename F>
void ForEach(const Value& obj, const char* name, F&& f) {
  const Value* v = Member(obj, name);
  if (v == nullptr) return;
  if (v->IsArray()) {
    for (const Value& e : v->GetArray()) f(e);
  } else {
    f(*v);
  }
}

// Collects the entries of one resource.
class Sink {
 public:
  Sink(const crypto::KeyedHasher& hasher, std::string_view type, std::string_view tenant,
       storage::IndexEntries* out)
      : hasher_(hasher), type_(type), tenant_(tenant), out_(out) {}

  // presence_only: the parameter's values are hashed under another one (Indexer::HashedCode):
  // only its :missing marker is written.
  void Start(std::string_view param, bool presence_only = false) {
    param_ = param;
    any_ = false;
    presence_only_ = presence_only;
  }
  void Finish() {
    if (any_) Hash(HashKind::kPresent);
  }

  void Hash(HashKind kind, std::string_view a = {}, std::string_view b = {}) {
    out_->hashes.push_back(IndexHash(hasher_, type_, param_, kind, a, b));
    any_ = true;
  }

  void Token(std::string_view system, std::string_view code) {
    if (!code.empty()) {
      Hash(HashKind::kTokenCode, code);
      if (system.empty()) {
        Hash(HashKind::kTokenNoSystem, code);
      } else {
        Hash(HashKind::kTokenSystemCode, system, code);
      }
    }
    if (!system.empty()) Hash(HashKind::kTokenSystem, system);
  }

  void String(std::string_view value) {
    if (value.empty()) return;
    any_ = true;  // :missing=false finds it even when it normalizes to nothing
    if (presence_only_) return;
    std::string norm = NormalizeString(value);
    // lengths[i]: the byte length of the first i + 1 code points.
    std::vector<size_t> lengths = PrefixLengths(norm, kIndexedPrefixChars.back());
    for (size_t chars : kIndexedPrefixChars) {
      if (chars > lengths.size()) break;
      Hash(HashKind::kStringPrefix, std::string_view(norm).substr(0, lengths[chars - 1]));
    }
  }

  void Reference(std::string_view ref) {
    if (ref.empty() || ref.front() == '#') return;
    if (auto local = LocalReference(ref, tenant_)) {
      Hash(HashKind::kReference, *local);
    } else if (ref.find(':') != std::string_view::npos) {
      Hash(HashKind::kUri, ref);
      if (size_t bar = ref.find('|'); bar != std::string_view::npos) {
        Hash(HashKind::kUri, ref.substr(0, bar));  // a canonical's version is optional
      }
    }
  }

  void Date(const TimeRange& r) {
    out_->dates.push_back({IndexHash(hasher_, type_, param_, HashKind::kDateKey), r.lo, r.hi});
    any_ = true;
  }

  void Number(std::string_view system, std::string_view unit, double v) {
    out_->numbers.push_back(
        {IndexHash(hasher_, type_, param_, HashKind::kNumberKey, system, unit), v, v});
    any_ = true;
  }

 private:
  const crypto::KeyedHasher& hasher_;
  std::string_view type_;
  std::string_view tenant_;
  storage::IndexEntries* out_;
  std::string_view param_;
  bool any_ = false;
  bool presence_only_ = false;
};

void IndexToken(const fhirpath::Node& n, Sink& sink) {
  const Value& v = *n.value;
  std::string_view t = n.type;
  if (t == "CodeableConcept") {
    ForEach(v, "coding", [&](const Value& c) {
      sink.Token(MemberText(c, "system").value_or(""), MemberText(c, "code").value_or(""));
    });
  } else if (t == "Coding") {
    sink.Token(MemberText(v, "system").value_or(""), MemberText(v, "code").value_or(""));
  } else if (t == "Identifier") {
    sink.Token(MemberText(v, "system").value_or(""), MemberText(v, "value").value_or(""));
  } else if (t == "ContactPoint") {
    sink.Token("", MemberText(v, "value").value_or(""));
  } else if (auto text = Text(&v)) {
    sink.Token("", *text);
  }
}

// Calls f for every string a string parameter indexes in node n.
constexpr const char* kNameParts[] = {"family", "given", "prefix", "suffix", "text"};
constexpr const char* kAddressParts[] = {"line",       "city",    "district", "state",
                                         "postalCode", "country", "text"};

bool IsNamePart(std::string_view part) {
  return std::find(std::begin(kNameParts), std::end(kNameParts), part) != std::end(kNameParts);
}
bool IsAddressPart(std::string_view part) {
  return std::find(std::begin(kAddressParts), std::end(kAddressParts), part) !=
         std::end(kAddressParts);
}

template <typename F>
void ForEachString(const fhirpath::Node& n, F&& f) {
  const Value& v = *n.value;
  std::string_view t = n.type;
  auto each = [&](const char* name) {
    ForEach(v, name, [&](const Value& e) {
      if (auto s = Text(&e)) f(*s);
    });
  };
  if (t == "HumanName") {
    for (const char* name : kNameParts) each(name);
  } else if (t == "Address") {
    for (const char* name : kAddressParts) each(name);
  } else if (IsJsonString(v)) {
    f(std::string_view(v.GetString(), v.GetStringLength()));
  }
}

void IndexString(const fhirpath::Node& n, Sink& sink) {
  ForEachString(n, [&](std::string_view s) { sink.String(s); });
}

void IndexReference(const fhirpath::Node& n, Sink& sink) {
  const Value& v = *n.value;
  if (v.IsObject()) {
    if (auto ref = MemberText(v, "reference")) sink.Reference(*ref);
  } else if (auto s = Text(&v)) {
    sink.Reference(*s);
  }
}

void IndexDate(const fhirpath::Node& n, Sink& sink) {
  const Value& v = *n.value;
  std::string_view t = n.type;
  if (t == "Period") {
    TimeRange r;
    bool any = false;
    if (auto s = MemberText(v, "start")) {
      if (auto p = ParseDateRange(*s); p.ok()) {
        r.lo = p->lo;
        any = true;
      }
    }
    if (auto e = MemberText(v, "end")) {
      if (auto p = ParseDateRange(*e); p.ok()) {
        r.hi = p->hi;
        any = true;
      }
    }
    if (any && r.lo <= r.hi) sink.Date(r);
  } else if (t == "Timing") {
    ForEach(v, "event", [&](const Value& e) {
      if (auto s = Text(&e)) {
        if (auto p = ParseDateRange(*s); p.ok()) sink.Date(*p);
      }
    });
  } else if (auto s = Text(&v)) {
    if (auto p = ParseDateRange(*s); p.ok()) sink.Date(*p);
  }
}

void IndexNumber(const fhirpath::Node& n, Sink& sink) {
  if (auto s = Text(n.value)) {
    if (auto p = ParseNumber(*s); p.ok()) sink.Number("", "", p->value);
  }
}

void IndexQuantity(const fhirpath::Node& n, Sink& sink) {
  const Value& v = *n.value;
  auto value_text = MemberText(v, "value");
  if (!value_text) return;
  auto p = ParseNumber(*value_text);
  if (!p.ok()) return;
  double x = p->value;
  sink.Number("", "", x);
  std::string_view system = MemberText(v, "system").value_or("");
  std::string_view code = MemberText(v, "code").value_or("");
  std::string_view unit = MemberText(v, "unit").value_or("");
  if (n.type == "Money") code = MemberText(v, "currency").value_or("");
  if (!code.empty()) {
    if (!system.empty()) sink.Number(system, code, x);
    sink.Number("", code, x);
  }
  if (!unit.empty() && unit != code) sink.Number("", unit, x);
}

void IndexUri(const fhirpath::Node& n, Sink& sink) {
  if (auto s = Text(n.value)) {
    if (!s->empty()) sink.Hash(HashKind::kUri, *s);
  }
}

void IndexNodes(SearchParamType type, const std::vector<fhirpath::Node>& nodes, Sink& sink) {
  for (const fhirpath::Node& n : nodes) {
    if (n.value == nullptr) continue;
    switch (type) {
      case SearchParamType::kToken:
        IndexToken(n, sink);
        break;
      case SearchParamType::kString:
        IndexString(n, sink);
        break;
      case SearchParamType::kReference:
        IndexReference(n, sink);
        break;
      case SearchParamType::kDate:
        IndexDate(n, sink);
        break;
      case SearchParamType::kNumber:
        IndexNumber(n, sink);
        break;
      case SearchParamType::kQuantity:
        IndexQuantity(n, sink);
        break;
      case SearchParamType::kUri:
        IndexUri(n, sink);
        break;
      case SearchParamType::kComposite:
      case SearchParamType::kSpecial:
        break;
    }
  }
}

bool Indexable(SearchParamType t) {
  return t != SearchParamType::kComposite && t != SearchParamType::kSpecial;
}

}  // namespace

const Indexer& Indexer::Get() {
  static const Indexer* indexer = new Indexer();  // never destroyed: used until exit
  return *indexer;
}

Indexer::Indexer() {
  for (std::string_view type : ResourceTypes()) {
    TypeParams tp;
    tp.type = type;
    for (const r4::SearchParamDef* def : r4::SearchParamsFor(type)) {
      Param p{def, nullptr, def->code, {}};
      if (def->type == SearchParamType::kString && !def->expression.empty()) {
        for (const Param& earlier : tp.params) {
          if (earlier.def->type == SearchParamType::kString &&
              earlier.def->expression == def->expression &&
              earlier.indexed_code == earlier.def->code) {
            p.indexed_code = earlier.def->code;
            break;
          }
        }
      }
      // _id and _lastUpdated are columns of the store, not index entries.
      if (Indexable(def->type) && !def->expression.empty() && def->code != "_id" &&
          def->code != "_lastUpdated") {
        auto e = fhirpath::Expression::Parse(def->expression);
        if (e.ok()) {
          p.expression = std::make_unique<fhirpath::Expression>(std::move(e).value());
        } else {
          unsupported_.push_back(std::string(type) + "." + std::string(def->code) + ": " +
                                 e.status().message());
        }
      }
      tp.params.push_back(std::move(p));
    }
    // A string parameter over one part of the HumanName or Address values of another (its
    // expression is the other's plus ".part") is found through the other's hashes.
    for (Param& p : tp.params) {
      if (p.def->type != SearchParamType::kString || p.indexed_code != p.def->code) continue;
      for (const Param& q : tp.params) {
        if (&q == &p || q.def->type != SearchParamType::kString || !q.expression ||
            q.indexed_code != q.def->code || !q.covered_by.empty()) {
          continue;
        }
        std::string_view e = p.def->expression;
        std::string_view base = q.def->expression;
        if (e.size() <= base.size() + 1 || !e.starts_with(base) || e[base.size()] != '.') continue;
        std::string_view part = e.substr(base.size() + 1);
        const bool name_part = base.ends_with(".name") && IsNamePart(part);
        const bool address_part = base.ends_with(".address") && IsAddressPart(part);
        if (name_part || address_part) {
          p.covered_by = q.def->code;
          break;
        }
      }
    }
    types_.push_back(std::move(tp));
  }
  std::sort(types_.begin(), types_.end(),
            [](const TypeParams& a, const TypeParams& b) { return a.type < b.type; });
}

const Indexer::TypeParams* Indexer::For(std::string_view type) const {
  auto it = std::lower_bound(types_.begin(), types_.end(), type,
                             [](const TypeParams& a, std::string_view t) { return a.type < t; });
  if (it == types_.end() || it->type != type) return nullptr;
  return &*it;
}

const fhirpath::Expression* Indexer::ExpressionFor(std::string_view type,
                                                   std::string_view code) const {
  const TypeParams* tp = For(type);
  if (tp == nullptr) return nullptr;
  for (const Param& p : tp->params) {
    if (p.def->code == code) return p.expression.get();
  }
  return nullptr;
}

storage::IndexEntries Indexer::Index(const rapidjson::Value& resource, std::string_view type,
                                     const crypto::KeyedHasher& hasher,
                                     std::string_view tenant) const {
  storage::IndexEntries out;
  const TypeParams* tp = For(type);
  if (tp == nullptr) return out;
  Sink sink(hasher, type, tenant, &out);
  for (const Param& p : tp->params) {
    if (!p.expression || p.indexed_code != p.def->code) continue;
    sink.Start(p.def->code, !p.covered_by.empty());
    IndexNodes(p.def->type, p.expression->Evaluate(resource, type), sink);
    sink.Finish();
  }
  std::sort(out.hashes.begin(), out.hashes.end());
  out.hashes.erase(std::unique(out.hashes.begin(), out.hashes.end()), out.hashes.end());
  return out;
}

std::string_view Indexer::IndexedCode(std::string_view type, std::string_view code) const {
  const TypeParams* tp = For(type);
  if (tp == nullptr) return code;
  for (const Param& p : tp->params) {
    if (p.def->code == code) return p.indexed_code;
  }
  return code;
}

std::string_view Indexer::HashedCode(std::string_view type, std::string_view code,
                                     bool* covered) const {
  *covered = false;
  const TypeParams* tp = For(type);
  if (tp == nullptr) return code;
  for (const Param& p : tp->params) {
    if (p.def->code != code) continue;
    if (!p.covered_by.empty()) {
      *covered = true;
      return p.covered_by;
    }
    return p.indexed_code;
  }
  return code;
}

std::vector<std::string> Indexer::References(const rapidjson::Value& resource,
                                             std::string_view type, std::string_view code,
                                             std::string_view tenant) const {
  std::vector<std::string> refs;
  const fhirpath::Expression* e = ExpressionFor(type, code);
  if (e == nullptr) return refs;
  for (const fhirpath::Node& n : e->Evaluate(resource, type)) {
    if (n.value == nullptr) continue;
    std::optional<std::string_view> ref =
        n.value->IsObject() ? MemberText(*n.value, "reference") : Text(n.value);
    if (!ref) continue;
    auto local = LocalReference(*ref, tenant);
    if (local && std::find(refs.begin(), refs.end(), *local) == refs.end()) {
      refs.push_back(std::move(*local));
    }
  }
  return refs;
}

std::vector<std::string> Indexer::StringValues(const rapidjson::Value& resource,
                                               std::string_view type, std::string_view code,
                                               bool normalized) const {
  std::vector<std::string> values;
  const fhirpath::Expression* e = ExpressionFor(type, code);
  if (e == nullptr) return values;
  for (const fhirpath::Node& n : e->Evaluate(resource, type)) {
    if (n.value == nullptr) continue;
    ForEachString(n, [&](std::string_view s) {
      values.push_back(normalized ? NormalizeString(s) : std::string(s));
    });
  }
  return values;
}

}  // namespace hygie::fhir::search
