#pragma once
// Rebuilding a tenant's search index from its current versions: when a store's index format
// version differs from kIndexVersion (an older server's, or a store restored from a backup,
// whose index is built after its versions are back).
//
// Thread-safe: the store serializes the writes.

#include <cstdint>
#include <functional>

#include "core/clock.h"
#include "core/status.h"
#include "crypto/keyed_hash.h"
#include "crypto/keyring.h"
#include "storage/store.h"

namespace hygie::api {

// The version of the blind index format; a tenant whose store reports another version is
// reindexed when first opened (its entries are replaced from its decrypted current versions).
//   1: string prefixes of every length from 1 to 24 code points.
//   2: string prefixes at the lengths of fhir::search::kIndexedPrefixChars only.
inline constexpr int64_t kIndexVersion = 2;

// Indexes every current version (decrypting each under the tenant's keys) and sets the store's
// index version. `progress` (optional) is called after each batch with the resources done.
Status RebuildIndex(storage::TenantStore& store, const crypto::TenantKeys& keys,
                    const crypto::KeyedHasher& hasher, const Clock& clock,
                    const std::function<void(uint64_t)>& progress = {});

}  // namespace hygie::api
