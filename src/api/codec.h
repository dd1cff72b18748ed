#pragma once
// ResourceCodec: turns a resource version's JSON into the sealed bytes a Store keeps, and back.
//
// Sealed form: AES-256-GCM under the tenant's active data key of an envelope
//   0x00 || json            (small bodies), or
//   0x01 || zstd(json)      (bodies of 256 bytes or more)
// with associated data "hygie/v1|<tenant>|<type>|<id>|<version>", so a sealed body copied to
// another row, resource, version or tenant fails to open (kDataLoss), never yields wrong data.
// Stateless apart from the keys it is given; thread-safe.

#include <cstdint>
#include <string>
#include <string_view>

#include "core/bytes.h"
#include "core/status.h"
#include "crypto/keyring.h"

namespace hygie::api {

struct SealedBody {
  uint32_t key_id = 0;
  Bytes sealed;
};

std::string AssociatedData(std::string_view tenant, std::string_view type, std::string_view id,
                           uint64_t version);

Result<SealedBody> SealResource(const crypto::TenantKeys& keys, std::string_view type,
                                std::string_view id, uint64_t version, std::string_view json);

Result<std::string> OpenResource(const crypto::TenantKeys& keys, std::string_view type,
                                 std::string_view id, uint64_t version, uint32_t key_id,
                                 ByteView sealed);

}  // namespace hygie::api
