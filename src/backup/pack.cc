#include "backup/pack.h"

#include <zstd.h>

#include <cstring>

#include "backup/backup_format.h"
#include "core/bytes.h"
#include "crypto/primitives.h"

namespace hygie::backup {

namespace {

constexpr int kZstdLevel = 3;
constexpr size_t kVersionFixedBytes = 1 + 8 + 8 + 8 + 1 + 4 + 2 + 2 + 4;
constexpr size_t kJournalFixedBytes = 1 + 2 + 8 + 4;

void PutLe(std::string& out, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::string Aad(const ChainId& chain) {
  std::string aad(format::kPackAadLabel);
  aad += chain.installation;
  aad.push_back('\0');
  aad += chain.tenant;
  return aad;
}

// A bounds-checked reader over a pack body.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool Le(int n, uint64_t* v) {
    if (data_.size() - pos_ < static_cast<size_t>(n)) return false;
    uint64_t r = 0;
    for (int i = 0; i < n; ++i) {
      r |= static_cast<uint64_t>(static_cast<uint8_t>(data_[pos_ + i])) << (8 * i);
    }
    pos_ += n;
    *v = r;
    return true;
  }
  bool Take(size_t n, std::string_view* out) {
    if (data_.size() - pos_ < n) return false;
    *out = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  size_t remaining() const { return data_.size() - pos_; }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

Status Malformed(std::string_view what) {
  return DataLoss("backup pack: malformed contents (" + std::string(what) + ")");
}

}  // namespace

size_t PackContents::BodyBytes() const {
  size_t n = format::kPackBodyMagic.size() + 4;
  for (const PackVersion& v : versions) {
    n += kVersionFixedBytes + v.record.type.size() + v.record.id.size() + v.record.body.size();
  }
  for (const JournalChunk& c : journal) n += kJournalFixedBytes + c.file.size() + c.bytes.size();
  return n;
}

Result<std::string> SealPack(const PackContents& contents, const crypto::SecretKey& pack_key,
                             const ChainId& chain) {
  if (contents.BodyBytes() > format::kMaxPackBody) {
    return InvalidArgument("backup pack: contents exceed the largest pack");
  }
  if (contents.versions.size() + contents.journal.size() > 0xffffffffu) {
    return InvalidArgument("backup pack: too many entries");
  }
  std::string body;
  body.reserve(contents.BodyBytes());
  body.append(format::kPackBodyMagic);
  PutLe(body, contents.versions.size() + contents.journal.size(), 4);
  for (const PackVersion& v : contents.versions) {
    const storage::VersionRecord& r = v.record;
    if (r.type.empty() || r.type.size() > format::kMaxTypeBytes || r.id.empty() ||
        r.id.size() > format::kMaxIdBytes || r.body.size() > format::kMaxPackBody) {
      return InvalidArgument("backup pack: a version's type, id or body is out of bounds");
    }
    body.push_back(static_cast<char>(format::kEntryVersion));
    PutLe(body, v.seq, 8);
    PutLe(body, r.version, 8);
    PutLe(body, static_cast<uint64_t>(r.last_updated_us), 8);
    body.push_back(r.deleted ? 1 : 0);
    PutLe(body, r.key_id, 4);
    PutLe(body, r.type.size(), 2);
    body.append(r.type);
    PutLe(body, r.id.size(), 2);
    body.append(r.id);
    PutLe(body, r.body.size(), 4);
    body.append(AsChars(r.body));
  }
  for (const JournalChunk& c : contents.journal) {
    if (c.file.empty() || c.file.size() > format::kMaxJournalFileName ||
        c.bytes.size() > format::kMaxPackBody) {
      return InvalidArgument("backup pack: a journal chunk is out of bounds");
    }
    body.push_back(static_cast<char>(format::kEntryJournal));
    PutLe(body, c.file.size(), 2);
    body.append(c.file);
    PutLe(body, c.offset, 8);
    PutLe(body, c.bytes.size(), 4);
    body.append(c.bytes);
  }

  size_t bound = ZSTD_compressBound(body.size());
  std::string plain(4 + bound, '\0');
  size_t n = ZSTD_compress(plain.data() + 4, bound, body.data(), body.size(), kZstdLevel);
  if (ZSTD_isError(n)) return Internal("backup pack: compression failed");
  for (int i = 0; i < 4; ++i) plain[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  size_t padded = (4 + n + format::kPackPadding - 1) / format::kPackPadding * format::kPackPadding;
  plain.resize(padded, '\0');
  std::memset(plain.data() + 4 + n, 0, padded - 4 - n);

  std::string aad = Aad(chain);
  HYGIE_ASSIGN_OR_RETURN(Bytes sealed, crypto::AeadSeal(pack_key, AsBytes(plain), AsBytes(aad)));
  std::string object(format::kPackMagic);
  object.append(AsChars(sealed));
  return object;
}

Result<PackContents> OpenPack(std::string_view object, const crypto::SecretKey& pack_key,
                              const ChainId& chain) {
  if (object.size() > format::kMaxPackObject ||
      object.substr(0, format::kPackMagic.size()) != format::kPackMagic) {
    return DataLoss("backup pack: not a Hygie backup pack");
  }
  std::string aad = Aad(chain);
  auto plain =
      crypto::AeadOpen(pack_key, AsBytes(object.substr(format::kPackMagic.size())), AsBytes(aad));
  if (!plain.ok()) {
    return DataLoss(
        "backup pack: does not open with this chain's key (altered, or another "
        "chain's pack)");
  }
  std::string_view p = AsChars(*plain);
  if (p.size() < 4) return Malformed("short");
  uint64_t n = 0;
  for (int i = 0; i < 4; ++i) n |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  if (n > p.size() - 4) return Malformed("compressed length");
  std::string_view compressed = p.substr(4, n);
  unsigned long long size = ZSTD_getFrameContentSize(compressed.data(), compressed.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN ||
      size > format::kMaxPackBody) {
    return Malformed("compressed frame");
  }
  std::string body(size, '\0');
  size_t got = ZSTD_decompress(body.data(), body.size(), compressed.data(), compressed.size());
  if (ZSTD_isError(got) || got != size) return Malformed("compressed frame");
  return ParsePackBody(body);
}

Result<PackContents> ParsePackBody(std::string_view body) {
  Reader r(body);
  std::string_view magic;
  if (!r.Take(format::kPackBodyMagic.size(), &magic) || magic != format::kPackBodyMagic) {
    return Malformed("magic");
  }
  uint64_t count = 0;
  if (!r.Le(4, &count)) return Malformed("count");
  // Each entry takes at least its fixed bytes: a count beyond that is a lie.
  if (count > r.remaining() / kJournalFixedBytes + 1) return Malformed("count");
  PackContents out;
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t kind = 0;
    if (!r.Le(1, &kind)) return Malformed("entry kind");
    if (kind == format::kEntryVersion) {
      if (!out.journal.empty()) return Malformed("version after journal chunks");
      PackVersion v;
      uint64_t version = 0, ts = 0, deleted = 0, key_id = 0, len = 0;
      std::string_view type, id, sealed;
      if (!r.Le(8, &v.seq) || !r.Le(8, &version) || !r.Le(8, &ts) || !r.Le(1, &deleted) ||
          !r.Le(4, &key_id) || !r.Le(2, &len) || len == 0 || len > format::kMaxTypeBytes ||
          !r.Take(len, &type) || !r.Le(2, &len) || len == 0 || len > format::kMaxIdBytes ||
          !r.Take(len, &id) || !r.Le(4, &len) || !r.Take(len, &sealed)) {
        return Malformed("version entry");
      }
      if (deleted > 1 || version == 0 || v.seq == 0) return Malformed("version entry");
      if (!out.versions.empty() && v.seq <= out.versions.back().seq) {
        return Malformed("versions out of order");
      }
      v.record.type = std::string(type);
      v.record.id = std::string(id);
      v.record.version = version;
      v.record.last_updated_us = static_cast<int64_t>(ts);
      v.record.deleted = deleted == 1;
      v.record.key_id = static_cast<uint32_t>(key_id);
      v.record.body = ToBytes(sealed);
      out.versions.push_back(std::move(v));
    } else if (kind == format::kEntryJournal) {
      JournalChunk c;
      uint64_t len = 0;
      std::string_view file, bytes;
      if (!r.Le(2, &len) || len == 0 || len > format::kMaxJournalFileName || !r.Take(len, &file) ||
          !r.Le(8, &c.offset) || !r.Le(4, &len) || !r.Take(len, &bytes)) {
        return Malformed("journal entry");
      }
      for (char ch : file) {
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.';
        if (!ok) return Malformed("journal file name");
      }
      if (file.front() == '.') return Malformed("journal file name");
      c.file = std::string(file);
      c.bytes = std::string(bytes);
      out.journal.push_back(std::move(c));
    } else {
      return Malformed("entry kind");
    }
  }
  if (r.remaining() != 0) return Malformed("trailing bytes");
  return out;
}

std::string ObjectDigest(std::string_view object) {
  return HexEncode(crypto::Sha256(AsBytes(object)));
}

}  // namespace hygie::backup
