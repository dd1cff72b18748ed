#pragma once
// File helpers of the audit journal, shared by the writer (journal.cc) and the verifier
// (verify.cc). The format itself is described in journal_format.h. Internal to audit/.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "audit/journal_format.h"
#include "audit/merkle.h"
#include "core/bytes.h"
#include "core/env.h"
#include "core/status.h"
#include "crypto/keyed_hash.h"

namespace hygie::audit::journal_io {

using Mac = std::array<uint8_t, format::kMacBytes>;

// kUnavailable "audit journal: <what> <path>: <strerror(errno)>".
Status Errno(std::string_view what, const std::string& path);
void PutU32(std::string& out, uint32_t v);
void PutU64(std::string& out, uint64_t v);
// Little-endian integer of n bytes.
uint64_t GetLe(const uint8_t* p, int n);
Status PWriteAll(int fd, const std::string& path, std::string_view data, uint64_t offset);
// kNotFound when the file does not exist.
Result<std::string> ReadFile(const std::string& path);
Status SyncDir(const std::string& dir);
// Replaces a file whole: env.WriteFileAtomic (tmp file, fsync, rename, directory fsync), its
// failures as kUnavailable "audit journal: cannot write <path>: ...".
Status WriteFileAtomic(Env& env, const std::string& path, std::string_view data);
std::string SegmentName(uint64_t first, bool pruned);
std::string LevelName(int level);
// Days since the epoch (UTC) of a time in microseconds.
int64_t DayOf(int64_t micros);
Mac ChainMac(const crypto::KeyedHasher& key, const Mac& prev, const Hash& leaf);
Hash LeafOf(std::string_view json);

// Reads the frame at *offset of a segment's bytes and moves past it. False at a clean end: the
// end of the bytes, or a zero length (the writer lays zeros ahead of its records, so that a
// sync does not change the file's size); kDataLoss for a torn or oversized frame.
Result<bool> NextFrame(std::string_view data, uint64_t* offset, std::string_view* json, Mac* mac);

// True when every byte of data from offset on is zero.
bool ZeroFrom(std::string_view data, uint64_t offset);

struct PrunedFile {
  uint64_t first = 0;
  uint64_t count = 0;
  Mac last_mac{};
  std::vector<Hash> leaves;
};
Result<PrunedFile> ParsePruned(std::string_view data);

// (first index, pruned) of each segment file of a tree directory, sorted by first index.
Result<std::vector<std::pair<uint64_t, bool>>> ListSegments(const std::string& dir);
// The frames (u32le length | bytes) of checkpoints.log; *clean_end is false when the file ends
// with a torn or malformed frame.
std::vector<std::string> CheckpointFrames(std::string_view data, uint64_t* end_offset);

}  // namespace hygie::audit::journal_io
