#include "fhir/search/index_keys.h"

#include "fhir/resource.h"

namespace hygie::fhir::search {

uint64_t IndexHash(const crypto::KeyedHasher& hasher, std::string_view type, std::string_view param,
                   HashKind kind, std::string_view a, std::string_view b) {
  std::string text;
  text.reserve(type.size() + param.size() + a.size() + b.size() + 8);
  text.append(type);
  text.push_back('\x1f');
  text.append(param);
  text.push_back('\x1f');
  text.push_back(static_cast<char>(kind));
  text.push_back('\x1f');
  text.append(a);
  text.push_back('\x1f');
  text.append(b);
  return hasher.Hash64(text);
}

size_t IndexedPrefixChars(size_t chars) {
  size_t best = 0;
  for (size_t n : kIndexedPrefixChars) {
    if (n <= chars) best = n;
  }
  return best;
}

std::optional<std::string> LocalReference(std::string_view ref, std::string_view tenant) {
  // Drop a version suffix.
  if (size_t h = ref.find("/_history/"); h != std::string_view::npos) ref = ref.substr(0, h);
  if (ref.find("://") != std::string_view::npos) {
    std::string marker = "/fhir/" + std::string(tenant) + "/";
    size_t m = ref.rfind(marker);
    if (m == std::string_view::npos) return std::nullopt;
    ref = ref.substr(m + marker.size());
  }
  size_t slash = ref.find('/');
  if (slash == std::string_view::npos || ref.find('/', slash + 1) != std::string_view::npos) {
    return std::nullopt;
  }
  std::string_view type = ref.substr(0, slash);
  std::string_view id = ref.substr(slash + 1);
  if (!IsResourceType(type) || !IsValidId(id)) return std::nullopt;
  return std::string(ref);
}

}  // namespace hygie::fhir::search
