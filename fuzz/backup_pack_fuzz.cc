// The backup pack readers (backup/pack.h): OpenPack (what a restore or a verify reads from a
// target) and ParsePackBody (its contents once opened and decompressed). Input: the first byte
// chooses the form:
//   0: the rest is a pack body, parsed;
//   1: the rest is a pack object, opened with the chain's key;
//   2: the rest is a pack's plaintext (u32le compressed length, zstd frame, padding), sealed
//      here with the chain's key, so that the reader is reached past the seal;
//   3: the rest is a pack body, compressed and sealed here as SealPack does.
// Invariants: refusals are kDataLoss; a body parsed has exactly BodyBytes() bytes, and its
// contents seal into a pack that opens to the same contents.
#include <zstd.h>

#include <string>

#include "backup/backup_format.h"
#include "backup/pack.h"
#include "crypto/primitives.h"
#include "fuzz/fuzz_support.h"

using namespace hygie;
using backup::PackContents;

namespace {

const backup::ChainId kChain{"abcd1234", "acme"};

const crypto::SecretKey& Key() {
  static const auto* key = new crypto::SecretKey(crypto::SecretKey::FromBytes(Bytes(32, 4)));
  return *key;
}

std::string Seal(std::string_view plain) {
  std::string aad(backup::format::kPackAadLabel);
  aad += kChain.installation;
  aad.push_back('\0');
  aad += kChain.tenant;
  auto sealed = crypto::AeadSeal(Key(), AsBytes(plain), AsBytes(aad));
  FUZZ_CHECK(sealed.ok());
  return std::string(backup::format::kPackMagic) + std::string(AsChars(*sealed));
}

bool Same(const PackContents& a, const PackContents& b) {
  if (a.versions.size() != b.versions.size() || a.journal.size() != b.journal.size()) return false;
  for (size_t i = 0; i < a.versions.size(); ++i) {
    const auto& x = a.versions[i];
    const auto& y = b.versions[i];
    if (x.seq != y.seq || x.record.type != y.record.type || x.record.id != y.record.id ||
        x.record.version != y.record.version ||
        x.record.last_updated_us != y.record.last_updated_us ||
        x.record.deleted != y.record.deleted || x.record.key_id != y.record.key_id ||
        x.record.body != y.record.body) {
      return false;
    }
  }
  for (size_t i = 0; i < a.journal.size(); ++i) {
    const auto& x = a.journal[i];
    const auto& y = b.journal[i];
    if (x.file != y.file || x.offset != y.offset || x.bytes != y.bytes) return false;
  }
  return true;
}

void CheckContents(const PackContents& contents) {
  auto sealed = backup::SealPack(contents, Key(), kChain);
  FUZZ_CHECK(sealed.ok());
  auto opened = backup::OpenPack(*sealed, Key(), kChain);
  FUZZ_CHECK(opened.ok());
  FUZZ_CHECK(Same(*opened, contents));
  FUZZ_CHECK(!backup::OpenPack(*sealed, Key(), backup::ChainId{"abcd1234", "globex"}).ok());
}

void Open(const std::string& object) {
  auto contents = backup::OpenPack(object, Key(), kChain);
  if (!contents.ok()) {
    FUZZ_CHECK(contents.status().code() == Code::kDataLoss);
    return;
  }
  CheckContents(*contents);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view rest = fuzz::Text(data + 1, size - 1);
  switch (data[0] % 4) {
    case 0: {
      auto contents = backup::ParsePackBody(rest);
      if (!contents.ok()) {
        FUZZ_CHECK(contents.status().code() == Code::kDataLoss);
        break;
      }
      FUZZ_CHECK(contents->BodyBytes() == rest.size());
      CheckContents(*contents);
      break;
    }
    case 1:
      Open(std::string(rest));
      break;
    case 2:
      Open(Seal(rest));
      break;
    default: {
      std::string plain(4 + ZSTD_compressBound(rest.size()), '\0');
      size_t n = ZSTD_compress(plain.data() + 4, plain.size() - 4, rest.data(), rest.size(), 1);
      FUZZ_CHECK(!ZSTD_isError(n));
      for (int i = 0; i < 4; ++i) plain[i] = static_cast<char>((n >> (8 * i)) & 0xff);
      plain.resize(4 + n);
      Open(Seal(plain));
      break;
    }
  }
  return 0;
}
