#pragma once
// The on-disk format of the audit journal, in one place (docs/audit-journal.md explains it).
//
//   DIR/<tree>/lock                 flock held by the process that appends to the tree
//   DIR/<tree>/verifier.key         the checkpoint verifier key (public), for auditors
//   DIR/<tree>/seg-<first>.log      records [first, ...): kSegmentMagic, then frames
//                                   u32le length | record JSON | 16-byte chain MAC; the
//                                   segment being written ends with zeros laid ahead of the
//                                   records (a zero length ends the frames)
//   DIR/<tree>/seg-<first>.pruned   a segment whose bodies retention removed: kPrunedMagic,
//                                   u64le first, u64le count, 16-byte chain MAC of its last
//                                   record, count leaf hashes (every byte is checked: first
//                                   against the name, count against the size, the rest by
//                                   the chain)
//   DIR/<tree>/level-<k>.hash       complete Merkle nodes of level k (32 bytes each); a cache
//                                   rebuilt from the records when it lags
//   DIR/<tree>/checkpoints.log      frames u32le length | signed note (C2SP checkpoint)
//
// <first> is the index of the segment's first record, 20 decimal digits. The chain MAC of
// record i is HMAC-SHA256(chain_key, mac[i-1] || leaf_hash[i]) truncated to 16 bytes, with
// mac[-1] = 16 zero bytes; leaf_hash[i] = SHA-256(0x00 || record JSON) (RFC 9162).

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace hygie::audit::format {

inline constexpr std::string_view kSegmentMagic = "HYGIEJ1\n";
inline constexpr std::string_view kPrunedMagic = "HYGIEP1\n";
inline constexpr size_t kMacBytes = 16;
inline constexpr size_t kHashBytes = 32;
inline constexpr size_t kPrunedHeaderBytes = 8 + 8 + kMacBytes;
// The largest record and checkpoint frames accepted when reading.
inline constexpr uint32_t kMaxRecordBytes = 1u << 20;
inline constexpr uint32_t kMaxNoteBytes = 64u << 10;
// The writer lays zeros this far ahead of its records, so that a sync writes data, not size.
inline constexpr uint64_t kPreallocBytes = 1u << 20;

}  // namespace hygie::audit::format
