#pragma once
// The format of Hygie's backups, in one place (docs/backup-format.md explains it).
//
// A target holds, for one installation, one chain per tenant (and one for the _system audit
// tree), under the prefix
//
//   hygie-backup/v1/<installation id>/<tenant>/
//     packs/<64 hex>             a sealed pack; the name is the SHA-256 of the object's bytes
//     manifest/<20 digits>       manifest entry n (0, 1, 2, ...): one per shipped pack
//
// Sealed pack object:
//   kPackMagic (8 bytes) | AES-256-GCM(pack key, AAD = kPackAadLabel | installation | 0x00 |
//   tenant) of: u32le compressed length | zstd(pack body) | zero padding to a multiple of
//   kPackPadding bytes. The AEAD's own layout is nonce(12) | ciphertext | tag(16).
//
// Pack body (before compression):
//   kPackBodyMagic (8 bytes) | u32le entry count | entries, each:
//     u8 kind
//     kind 1 (a resource version, exactly as the store sealed it):
//       u64le seq | u64le version | i64le last_updated_us | u8 deleted | u32le key_id |
//       u16le type length | type | u16le id length | id | u32le body length | body
//     kind 2 (bytes of an audit journal file, appended at an offset):
//       u16le file name length | file name | u64le offset | u32le length | bytes
//
// Manifest entry object (text): line 1 the entry's JSON (compact, one line), line 2 the
// base64 Ed25519 signature of kManifestSigLabel | line 1 by the chain's manifest key, then "\n".
// The JSON's "prev" is the hex SHA-256 of the whole object of entry n-1 ("" for entry 0), so
// that a removed, altered, inserted or reordered entry breaks the chain.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace hygie::backup::format {

inline constexpr std::string_view kRootPrefix = "hygie-backup/v1/";
inline constexpr std::string_view kPackMagic = "HYGIEBK1";
inline constexpr std::string_view kPackBodyMagic = "HYGIEPK1";
inline constexpr std::string_view kPackAadLabel = "hygie backup pack v1\n";
inline constexpr std::string_view kManifestSigLabel = "hygie backup manifest v1\n";
inline constexpr uint8_t kEntryVersion = 1;
inline constexpr uint8_t kEntryJournal = 2;
// Sealed packs are padded to a multiple of this, so that an object's size does not tell a
// single resource's size.
inline constexpr size_t kPackPadding = 4096;
// Limits checked when reading (a pack is built to at most kMaxPackBody bytes of body).
inline constexpr size_t kMaxPackBody = 64u << 20;
inline constexpr size_t kMaxPackObject = kMaxPackBody + (1u << 20);
inline constexpr size_t kMaxManifestObject = 8u << 20;  // a base lists ~120,000 packs
inline constexpr size_t kMaxTypeBytes = 64;
inline constexpr size_t kMaxIdBytes = 64;
inline constexpr size_t kMaxJournalFileName = 64;

}  // namespace hygie::backup::format
