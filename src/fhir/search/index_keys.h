#pragma once
// The blind index's vocabulary: how a search value becomes a keyed hash. The indexer (values in
// resources) and the query planner (values in URLs) both go through these functions, so that
// one side finds what the other wrote. The hashed text is
//   type 0x1F parameter 0x1F kind 0x1F a 0x1F b
// under the tenant's index key (crypto::KeyedHasher: HMAC-SHA256 truncated to 64 bits).
// Stateless free functions; thread-safe.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "crypto/keyed_hash.h"

namespace hygie::fhir::search {

// What a hash stands for.
enum class HashKind : char {
  kTokenCode = 'c',        // code, whatever the system
  kTokenSystemCode = 'k',  // system|code
  kTokenSystem = 's',      // system|
  kTokenNoSystem = 'n',    // |code (no system)
  kStringPrefix = 'p',     // a prefix of a normalized string, of a kIndexedPrefixChars length
  kStringExact = 'x',      // the string exactly as written (index format 1 only: :exact is
                           // now checked on the candidates of the normalized prefix)
  kReference = 'r',        // Type/id of a local reference (a bare id is searched as Type/id
                           // for each target type of the parameter)
  kUri = 'u',              // an absolute reference, canonical or uri, exactly
  kPresent = 'm',          // the parameter has at least one value (:missing)
  kDateKey = 'd',          // the key of date entries
  kNumberKey = 'q',        // the key of number/quantity entries (a = system, b = unit)
};

// The prefix lengths, in code points, that the index keeps of a normalized string: a value costs
// at most this many prefix hashes (plus its exact hash), whatever its length. A search value of
// another length is looked up by its longest indexed prefix (IndexedPrefixChars), and the
// candidates are checked against the decrypted resource (fhir/search/query.h, StringCheck).
inline constexpr std::array<size_t, 7> kIndexedPrefixChars = {1, 2, 3, 4, 6, 8, 12};

// The longest indexed prefix length of a string of `chars` code points (0 when chars is 0).
size_t IndexedPrefixChars(size_t chars);

uint64_t IndexHash(const crypto::KeyedHasher& hasher, std::string_view type, std::string_view param,
                   HashKind kind, std::string_view a = {}, std::string_view b = {});

// "Type/id" for a reference to a resource of this tenant: a relative reference "Type/id" or
// "Type/id/_history/n", or an absolute one whose path ends with
// "/fhir/<tenant>/Type/id[/_history/n]". nullopt for anything else (contained "#x", urn:uuid:,
// other servers, malformed).
std::optional<std::string> LocalReference(std::string_view reference, std::string_view tenant);

}  // namespace hygie::fhir::search
