#include "fhir/r4/definitions.h"

#include <algorithm>
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

// The tables of the header, built once from the generated arrays. Immutable afterwards.
struct Tables {
  std::vector<SearchParamDef> params;  // stable: never resized after construction
  std::unordered_map<std::string_view, std::vector<const SearchParamDef*>> params_by_type;
  std::vector<ElementDef> elements;  // stable: never resized after construction
  std::unordered_map<std::string_view, const ElementDef*> element_by_path;
  std::unordered_map<std::string_view, std::vector<const ElementDef*>> children;
  std::unordered_set<std::string_view> primitive_types;
  std::unordered_set<std::string_view> complex_types;
  std::unordered_map<std::string_view, ValueSetEntry> value_sets;
  std::unordered_map<std::string_view, std::vector<std::string_view>> compartment;
  std::vector<std::string_view> compartment_types;

  Tables() {
    BuildSearchParams();
    BuildElements();
    BuildValueSets();
    BuildCompartment();
  }

  void BuildSearchParams() {
    auto raw = generated::SearchParams();
    params.reserve(raw.size());
    std::unordered_map<std::string_view, std::vector<const SearchParamDef*>> own;
    for (const auto& r : raw) {
      SearchParamDef& def = params.emplace_back();
      def.code = r.code;
      def.type = r.type;
      def.expression = r.expression;
      def.targets = SplitList(r.targets);
      def.url = r.url;
    }
    for (size_t i = 0; i < raw.size(); ++i) own[raw[i].base].push_back(&params[i]);

    std::unordered_map<std::string_view, std::string_view> base_of;
    for (const auto& t : generated::Types()) {
      if (t.kind == TypeKind::kResource) base_of[t.name] = t.base;
    }
    for (const auto& t : generated::Types()) {
      if (t.kind != TypeKind::kResource) continue;
      std::vector<const SearchParamDef*> all;
      std::unordered_set<std::string_view> codes;
      // The type's own parameters first, then its ancestors' (DomainResource, Resource).
      for (std::string_view type = t.name; !type.empty();) {
        if (auto it = own.find(type); it != own.end()) {
          for (const SearchParamDef* p : it->second) {
            if (codes.insert(p->code).second) all.push_back(p);
          }
        }
        auto base = base_of.find(type);
        type = base == base_of.end() ? std::string_view() : base->second;
      }
      std::sort(all.begin(), all.end(),
                [](const SearchParamDef* a, const SearchParamDef* b) { return a->code < b->code; });
      params_by_type.emplace(t.name, std::move(all));
    }
  }

  void BuildElements() {
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
    element_by_path.reserve(elements.size());
    for (const ElementDef& def : elements) {
      element_by_path.emplace(def.path, &def);
      children[ParentPath(def.path)].push_back(&def);
    }
    for (const auto& t : generated::Types()) {
      if (t.kind == TypeKind::kPrimitive) primitive_types.insert(t.name);
      if (t.kind == TypeKind::kComplex) complex_types.insert(t.name);
    }
  }

  void BuildValueSets() {
    auto codes = generated::Codes();
    for (const auto& vs : generated::ValueSets()) {
      value_sets.emplace(vs.url, ValueSetEntry{vs.known, codes.subspan(vs.first, vs.count)});
    }
  }

  void BuildCompartment() {
    for (const auto& c : generated::PatientCompartment()) {
      compartment.emplace(c.resource_type, SplitList(c.params));
      compartment_types.push_back(c.resource_type);
    }
    std::sort(compartment_types.begin(), compartment_types.end());
  }
};

const Tables& GetTables() {
  static const Tables* const tables = new Tables();
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
  const Tables& tables = GetTables();
  auto it = tables.params_by_type.find(resource_type);
  return it == tables.params_by_type.end() ? Empty<const SearchParamDef*>() : it->second;
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
  const Tables& tables = GetTables();
  auto it = tables.element_by_path.find(path);
  return it == tables.element_by_path.end() ? nullptr : it->second;
}

const std::vector<const ElementDef*>& ChildrenOf(std::string_view path) {
  const Tables& tables = GetTables();
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

bool IsPrimitiveType(std::string_view type) { return GetTables().primitive_types.contains(type); }

bool IsComplexType(std::string_view type) { return GetTables().complex_types.contains(type); }

std::string TypeSuffix(std::string_view type) {
  std::string out(type);
  if (!out.empty() && out[0] >= 'a' && out[0] <= 'z')
    out[0] = static_cast<char>(out[0] - 'a' + 'A');
  return out;
}

std::optional<bool> ValueSetContains(std::string_view value_set_url, std::string_view system,
                                     std::string_view code) {
  const Tables& tables = GetTables();
  auto it = tables.value_sets.find(value_set_url);
  if (it == tables.value_sets.end() || !it->second.known) return std::nullopt;
  const auto& codes = it->second.codes;
  auto range = std::equal_range(codes.begin(), codes.end(), RawCode{{}, code},
                                [](const RawCode& a, const RawCode& b) { return a.code < b.code; });
  for (auto c = range.first; c != range.second; ++c) {
    if (system.empty() || c->system == system) return true;
  }
  return false;
}

const std::vector<std::string_view>& PatientCompartmentParams(std::string_view resource_type) {
  const Tables& tables = GetTables();
  auto it = tables.compartment.find(resource_type);
  return it == tables.compartment.end() ? Empty<std::string_view>() : it->second;
}

const std::vector<std::string_view>& PatientCompartmentTypes() {
  return GetTables().compartment_types;
}

}  // namespace hygie::fhir::r4
