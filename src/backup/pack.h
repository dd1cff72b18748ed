#pragma once
// Packs: the unit a backup ships. A pack holds resource versions exactly as the store sealed
// them (already AES-256-GCM under the tenant's data keys) and bytes of the tenant's audit
// journal files, compressed, padded and sealed again under the chain's pack key, so that
// nothing in a target tells resource types, ids or sizes (format: backup_format.h).
//
// Plain functions over values; thread-safe.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "crypto/secret.h"
#include "storage/store.h"

namespace hygie::backup {

// Which chain a pack or manifest entry belongs to: bound into every seal and signature, so
// that an object copied to another installation's or tenant's chain does not open there.
struct ChainId {
  std::string installation;
  std::string tenant;  // a tenant name, or "_system"
};

struct PackVersion {
  uint64_t seq = 0;  // position in the tenant's version log
  storage::VersionRecord record;
};

// Bytes of a journal file (e.g. "seg-00000000000000000000.log", "checkpoints.log",
// "verifier.key"), to be written at `offset`.
struct JournalChunk {
  std::string file;
  uint64_t offset = 0;
  std::string bytes;
};

struct PackContents {
  std::vector<PackVersion> versions;  // in seq order
  std::vector<JournalChunk> journal;  // in the order to apply them

  // Bytes of the body these contents make (before compression), to bound a pack's size.
  size_t BodyBytes() const;
};

// The sealed object. kInvalidArgument for a field beyond the format's limits.
Result<std::string> SealPack(const PackContents& contents, const crypto::SecretKey& pack_key,
                             const ChainId& chain);
// Opens and parses a sealed pack. kDataLoss for any object that was not sealed by this key for
// this chain, or whose contents are malformed; never partial contents.
Result<PackContents> OpenPack(std::string_view object, const crypto::SecretKey& pack_key,
                              const ChainId& chain);
// Parses a pack body (after opening and decompression); exposed for the fuzzer and tests.
Result<PackContents> ParsePackBody(std::string_view body);

// Hex SHA-256 of an object's bytes: a pack's name.
std::string ObjectDigest(std::string_view object);

}  // namespace hygie::backup
