#include "audit/journal_io.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "crypto/primitives.h"

namespace hygie::audit::journal_io {

Status Errno(std::string_view what, const std::string& path) {
  return Unavailable("audit journal: " + std::string(what) + " " + path + ": " +
                     std::strerror(errno));
}

void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutU64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint64_t GetLe(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

Status PWriteAll(int fd, const std::string& path, std::string_view data, uint64_t offset) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n =
        ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("cannot write", path);
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Result<std::string> ReadFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return NotFound("no file " + path);
    return Errno("cannot open", path);
  }
  std::string out;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      Status s = Errno("cannot read", path);
      ::close(fd);
      return s;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open", dir);
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Errno("cannot sync", dir);
  return Status::Ok();
}

Status WriteFileAtomic(Env& env, const std::string& path, std::string_view data) {
  Status s = env.WriteFileAtomic(path, data, 0600);
  if (!s.ok()) return Unavailable("audit journal: cannot write " + path + ": " + s.message());
  return Status::Ok();
}

std::string SegmentName(uint64_t first, bool pruned) {
  char name[64];
  std::snprintf(name, sizeof name, "seg-%020llu.%s", static_cast<unsigned long long>(first),
                pruned ? "pruned" : "log");
  return name;
}

std::string LevelName(int level) {
  char name[32];
  std::snprintf(name, sizeof name, "level-%02d.hash", level);
  return name;
}

int64_t DayOf(int64_t micros) { return micros / (86400LL * 1000000); }

Mac ChainMac(const crypto::KeyedHasher& key, const Mac& prev, const Hash& leaf) {
  char input[format::kMacBytes + format::kHashBytes];
  std::memcpy(input, prev.data(), prev.size());
  std::memcpy(input + prev.size(), leaf.data(), leaf.size());
  uint8_t full[32];
  key.Hash256(std::string_view(input, sizeof input), full);
  Mac mac{};
  std::memcpy(mac.data(), full, mac.size());
  return mac;
}

// Reads one frame at `offset` of a segment's bytes. Returns false at a clean end; kDataLoss
// for a torn or oversized frame.
bool ZeroFrom(std::string_view data, uint64_t offset) {
  for (uint64_t i = offset; i < data.size(); ++i) {
    if (data[i] != 0) return false;
  }
  return true;
}

Result<bool> NextFrame(std::string_view data, uint64_t* offset, std::string_view* json, Mac* mac) {
  if (*offset == data.size()) return false;
  if (data.size() - *offset < 4) {
    if (ZeroFrom(data, *offset)) return false;
    return DataLoss("torn record frame");
  }
  uint32_t len =
      static_cast<uint32_t>(GetLe(reinterpret_cast<const uint8_t*>(data.data() + *offset), 4));
  if (len == 0) return false;  // the zeros the writer lays ahead of its records
  if (len > format::kMaxRecordBytes) return DataLoss("bad record length");
  if (data.size() - *offset - 4 < static_cast<uint64_t>(len) + format::kMacBytes) {
    return DataLoss("torn record frame");
  }
  *json = data.substr(*offset + 4, len);
  std::memcpy(mac->data(), data.data() + *offset + 4 + len, format::kMacBytes);
  *offset += 4 + len + format::kMacBytes;
  return true;
}

Result<PrunedFile> ParsePruned(std::string_view data) {
  if (data.size() < format::kPrunedMagic.size() + format::kPrunedHeaderBytes ||
      data.substr(0, format::kPrunedMagic.size()) != format::kPrunedMagic) {
    return DataLoss("bad pruned segment header");
  }
  const auto* p = reinterpret_cast<const uint8_t*>(data.data()) + format::kPrunedMagic.size();
  PrunedFile f;
  f.first = GetLe(p, 8);
  f.count = GetLe(p + 8, 8);
  std::memcpy(f.last_mac.data(), p + 16, format::kMacBytes);
  size_t header = format::kPrunedMagic.size() + format::kPrunedHeaderBytes;
  if (f.count > (data.size() - header) / format::kHashBytes ||
      data.size() != header + f.count * format::kHashBytes) {
    return DataLoss("pruned segment size does not match its count");
  }
  f.leaves.resize(f.count);
  for (uint64_t i = 0; i < f.count; ++i) {
    std::memcpy(f.leaves[i].data(), data.data() + header + i * format::kHashBytes,
                format::kHashBytes);
  }
  return f;
}

Result<std::vector<std::pair<uint64_t, bool>>> ListSegments(const std::string& dir) {
  std::vector<std::pair<uint64_t, bool>> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return Errno("cannot list", dir);
  while (dirent* e = ::readdir(d)) {
    std::string_view n = e->d_name;
    bool pruned = false;
    if (n.size() == 28 && n.substr(0, 4) == "seg-" && n.substr(24) == ".log") {
      pruned = false;
    } else if (n.size() == 31 && n.substr(0, 4) == "seg-" && n.substr(24) == ".pruned") {
      pruned = true;
    } else {
      continue;
    }
    std::string digits(n.substr(4, 20));
    if (digits.find_first_not_of("0123456789") != std::string::npos) continue;
    out.emplace_back(std::stoull(digits), pruned);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

Hash LeafOf(std::string_view json) {
  return HashLeaf(ByteView(reinterpret_cast<const uint8_t*>(json.data()), json.size()));
}

std::vector<std::string> CheckpointFrames(std::string_view data, uint64_t* end_offset) {
  std::vector<std::string> out;
  uint64_t off = 0;
  while (data.size() - off >= 4) {
    uint32_t len =
        static_cast<uint32_t>(GetLe(reinterpret_cast<const uint8_t*>(data.data() + off), 4));
    if (len == 0 || len > format::kMaxNoteBytes || data.size() - off - 4 < len) break;
    out.emplace_back(data.substr(off + 4, len));
    off += 4 + len;
  }
  *end_offset = off;
  return out;
}

}  // namespace hygie::audit::journal_io
