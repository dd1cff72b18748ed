#include "fhir/r4/definitions.h"

#include <algorithm>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "fhir/r4/generated/r4_tables.h"

namespace hygie::fhir::r4 {
namespace {

using generated::RawCode;
using generated::TypeKind;

// Splits a space-separated list of the generated tables; the views point into the literals.
std::vector<std::string_view> SplitList(std::string_view list) {
  std::vector<std::string_view> out;
  while (!list.empty()) {
    size_t space = list.find(' ');
    out.push_back(list.substr(0, space));
    if (space == std::string_view::npos) break;
    list.remove_prefix(space + 1);
  }
  return out;
}

std::string_view ParentPath(std::string_view path) {
  size_t dot = path.rfind('.');
  return dot == std::string_view::npos ? std::string_view() : path.substr(0, dot);
}

struct ValueSetEntry {
  bool known = false;
  std::span<const RawCode> codes;  // sorted by code, then system
};

// The tables of the header, each built once from the generated arrays on its first use (so a
// caller of the search parameters does not pay for the elements) and immutable afterwards.

struct SearchTables {
  std::vector<SearchParamDef> params;  // stable: never resized after construction
  std::unordered_map<std::string_view, std::vector<const SearchParamDef*>> by_type;

  SearchTables() {
    auto raw = generated::SearchParams();
    auto types = generated::Types();
    params.reserve(raw.size());
    for (const auto& r : raw) {
      SearchParamDef& def = params.emplace_back();
      def.code = r.code;
      def.type = r.type;
      def.expression = r.expression;
      def.targets = SplitList(r.targets);
      def.url = r.url;
    }
    std::unordered_map<std::string_view, std::vector<const SearchParamDef*>> own;
    own.reserve(types.size());
    for (size_t i = 0; i < raw.size(); ++i) own[raw[i].base].push_back(&params[i]);

    std::unordered_map<std::string_view, std::string_view> base_of;
    base_of.reserve(types.size());
    for (const auto& t : types) {
      if (t.kind == TypeKind::kResource) base_of.emplace(t.name, t.base);
    }
    by_type.reserve(base_of.size());
    for (const auto& t : types) {
      if (t.kind != TypeKind::kResource) continue;
      std::vector<const SearchParamDef*> all;
      // The type's own parameters, then its ancestors' (DomainResource, Resource); a code
      // defined at two levels keeps the most specific definition.
      for (std::string_view type = t.name; !type.empty();) {
        if (auto it = own.find(type); it != own.end()) {
          for (const SearchParamDef* p : it->second) {
            bool seen = std::any_of(all.begin(), all.end(),
                                    [p](const SearchParamDef* q) { return q->code == p->code; });
            if (!seen) all.push_back(p);
          }
        }
        auto base = base_of.find(type);
        type = base == base_of.end() ? std::string_view() : base->second;
      }
      std::sort(all.begin(), all.end(),
                [](const SearchParamDef* a, const SearchParamDef* b) { return a->code < b->code; });
      by_type.emplace(t.name, std::move(all));
    }
  }
};

struct ElementTables {
  std::vector<ElementDef> elements;  // stable: never resized after construction
  std::unordered_map<std::string_view, const ElementDef*> by_path;
  std::unordered_map<std::string_view, std::vector<const ElementDef*>> children;

  ElementTables() {
    auto raw = generated::Elements();
    elements.reserve(raw.size());
    for (const auto& r : raw) {
      ElementDef& def = elements.emplace_back();
      def.path = r.path;
      def.min = r.min;
      def.max = r.max;
      def.types = SplitList(r.types);
      def.content_reference = r.content_reference;
      def.required_value_set = r.required_value_set;
    }
    by_path.reserve(elements.size());
    children.reserve(elements.size() / 4);
    for (const ElementDef& def : elements) {
      by_path.emplace(def.path, &def);
      children[ParentPath(def.path)].push_back(&def);
    }
  }
};

struct TypeTables {
  std::unordered_set<std::string_view> primitive;
  std::unordered_set<std::string_view> complex;

  TypeTables() {
    for (const auto& t : generated::Types()) {
      if (t.kind == TypeKind::kPrimitive) primitive.insert(t.name);
      if (t.kind == TypeKind::kComplex) complex.insert(t.name);
    }
  }
};

struct ValueSetTables {
  std::unordered_map<std::string_view, ValueSetEntry> by_url;

  ValueSetTables() {
    auto codes = generated::Codes();
    by_url.reserve(generated::ValueSets().size());
    for (const auto& vs : generated::ValueSets()) {
      by_url.emplace(vs.url, ValueSetEntry{vs.known, codes.subspan(vs.first, vs.count)});
    }
  }
};

struct CompartmentTables {
  std::unordered_map<std::string_view, std::vector<std::string_view>> params;
  std::vector<std::string_view> types;

  CompartmentTables() {
    for (const auto& c : generated::PatientCompartment()) {
      params.emplace(c.resource_type, SplitList(c.params));
      types.push_back(c.resource_type);
    }
    std::sort(types.begin(), types.end());
  }
};

// The one instance of T, built on first use (thread-safe) and never destroyed.
template <typename T>
const T& Get() {
  static const T* const tables = new T();
  return *tables;
}

template <typename T>
const std::vector<T>& Empty() {
  static const std::vector<T>* const empty = new std::vector<T>();
  return *empty;
}

}  // namespace

std::string_view SearchParamTypeName(SearchParamType type) {
  switch (type) {
    case SearchParamType::kNumber:
      return "number";
    case SearchParamType::kDate:
      return "date";
    case SearchParamType::kString:
      return "string";
    case SearchParamType::kToken:
      return "token";
    case SearchParamType::kReference:
      return "reference";
    case SearchParamType::kComposite:
      return "composite";
    case SearchParamType::kQuantity:
      return "quantity";
    case SearchParamType::kUri:
      return "uri";
    case SearchParamType::kSpecial:
      return "special";
  }
  return "unknown";
}

const std::vector<const SearchParamDef*>& SearchParamsFor(std::string_view resource_type) {
  const auto& tables = Get<SearchTables>();
  auto it = tables.by_type.find(resource_type);
  return it == tables.by_type.end() ? Empty<const SearchParamDef*>() : it->second;
}

const SearchParamDef* FindSearchParam(std::string_view resource_type, std::string_view code) {
  const auto& params = SearchParamsFor(resource_type);
  auto it =
      std::lower_bound(params.begin(), params.end(), code,
                       [](const SearchParamDef* p, std::string_view c) { return p->code < c; });
  return it != params.end() && (*it)->code == code ? *it : nullptr;
}

std::string_view ElementDef::name() const {
  size_t dot = path.rfind('.');
  return dot == std::string_view::npos ? path : path.substr(dot + 1);
}

const ElementDef* FindElement(std::string_view path) {
  const auto& tables = Get<ElementTables>();
  auto it = tables.by_path.find(path);
  return it == tables.by_path.end() ? nullptr : it->second;
}

const std::vector<const ElementDef*>& ChildrenOf(std::string_view path) {
  const auto& tables = Get<ElementTables>();
  auto it = tables.children.find(path);
  if (it != tables.children.end()) return it->second;
  // An element defined by reference ("Questionnaire.item.item") has the referenced children.
  if (const ElementDef* def = FindElement(path);
      def != nullptr && !def->content_reference.empty()) {
    auto ref = tables.children.find(def->content_reference);
    if (ref != tables.children.end()) return ref->second;
  }
  return Empty<const ElementDef*>();
}

bool IsPrimitiveType(std::string_view type) { return Get<TypeTables>().primitive.contains(type); }

bool IsComplexType(std::string_view type) { return Get<TypeTables>().complex.contains(type); }

std::string TypeSuffix(std::string_view type) {
  std::string out(type);
  if (!out.empty() && out[0] >= 'a' && out[0] <= 'z')
    out[0] = static_cast<char>(out[0] - 'a' + 'A');
  return out;
}

std::optional<bool> ValueSetContains(std::string_view value_set_url, std::string_view system,
                                     std::string_view code) {
  const auto& tables = Get<ValueSetTables>();
  auto it = tables.by_url.find(value_set_url);
  if (it == tables.by_url.end() || !it->second.known) return std::nullopt;
  const auto& codes = it->second.codes;
  auto range = std::equal_range(codes.begin(), codes.end(), RawCode{{}, code},
                                [](const RawCode& a, const RawCode& b) { return a.code < b.code; });
  for (auto c = range.first; c != range.second; ++c) {
    if (system.empty() || c->system == system) return true;
  }
  return false;
}

const std::vector<std::string_view>& PatientCompartmentParams(std::string_view resource_type) {
  const auto& tables = Get<CompartmentTables>();
  auto it = tables.params.find(resource_type);
  return it == tables.params.end() ? Empty<std::string_view>() : it->second;
}

const std::vector<std::string_view>& PatientCompartmentTypes() {
  return Get<CompartmentTables>().types;
}

}  // namespace hygie::fhir::r4
