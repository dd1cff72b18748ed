#include "api/codec.h"

#include <zstd.h>

#include "crypto/primitives.h"

namespace hygie::api {

namespace {
constexpr uint8_t kRaw = 0x00;
constexpr uint8_t kZstd = 0x01;
constexpr size_t kCompressFrom = 256;
constexpr int kZstdLevel = 1;
constexpr size_t kMaxPlainBytes = 64u << 20;

// zstd contexts are costly to create (hundreds of KiB); each thread keeps one of each.
struct ZstdContexts {
  ZSTD_CCtx* c = ZSTD_createCCtx();
  ZSTD_DCtx* d = ZSTD_createDCtx();
  ~ZstdContexts() {
    ZSTD_freeCCtx(c);
    ZSTD_freeDCtx(d);
  }
};

ZstdContexts& Contexts() {
  thread_local ZstdContexts contexts;
  return contexts;
}
}  // namespace

std::string AssociatedData(std::string_view tenant, std::string_view type, std::string_view id,
                           uint64_t version) {
  std::string aad = "hygie/v1|";
  aad.append(tenant).append("|").append(type).append("|").append(id).append("|");
  aad += std::to_string(version);
  return aad;
}

Result<SealedBody> SealResource(const crypto::TenantKeys& keys, std::string_view type,
                                std::string_view id, uint64_t version, std::string_view json) {
  Bytes envelope;
  if (json.size() >= kCompressFrom) {
    size_t bound = ZSTD_compressBound(json.size());
    envelope.resize(1 + bound);
    envelope[0] = kZstd;
    size_t n = ZSTD_compressCCtx(Contexts().c, envelope.data() + 1, bound, json.data(), json.size(),
                                 kZstdLevel);
    if (ZSTD_isError(n)) return Internal("compression failed");
    envelope.resize(1 + n);
  } else {
    envelope.reserve(1 + json.size());
    envelope.push_back(kRaw);
    envelope.insert(envelope.end(), json.begin(), json.end());
  }
  std::string aad = AssociatedData(keys.tenant(), type, id, version);
  auto sealed = crypto::AeadSeal(keys.active_data_key(), envelope, AsBytes(aad));
  crypto::Wipe(envelope);
  if (!sealed.ok()) return sealed.status();
  return SealedBody{keys.active_data_key_id(), std::move(sealed).value()};
}

Result<std::string> OpenResource(const crypto::TenantKeys& keys, std::string_view type,
                                 std::string_view id, uint64_t version, uint32_t key_id,
                                 ByteView sealed) {
  const crypto::SecretKey* key = keys.data_key(key_id);
  if (key == nullptr) return DataLoss("stored resource names an unknown data key");
  std::string aad = AssociatedData(keys.tenant(), type, id, version);
  HYGIE_ASSIGN_OR_RETURN(Bytes envelope, crypto::AeadOpen(*key, sealed, AsBytes(aad)));
  if (envelope.empty()) return DataLoss("stored resource envelope is empty");
  std::string json;
  if (envelope[0] == kRaw) {
    json.assign(reinterpret_cast<const char*>(envelope.data()) + 1, envelope.size() - 1);
  } else if (envelope[0] == kZstd) {
    unsigned long long size = ZSTD_getFrameContentSize(envelope.data() + 1, envelope.size() - 1);
    if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN ||
        size > kMaxPlainBytes) {
      crypto::Wipe(envelope);
      return DataLoss("stored resource envelope is corrupt");
    }
    json.resize(size);
    size_t n = ZSTD_decompressDCtx(Contexts().d, json.data(), json.size(), envelope.data() + 1,
                                   envelope.size() - 1);
    if (ZSTD_isError(n) || n != size) {
      crypto::Wipe(envelope);
      return DataLoss("stored resource envelope is corrupt");
    }
  } else {
    crypto::Wipe(envelope);
    return DataLoss("stored resource envelope has an unknown format");
  }
  crypto::Wipe(envelope);
  return json;
}

}  // namespace hygie::api
