#pragma once
// Checkpoints of the audit journal: the signed statement "the tree `origin` had `size`
// leaves and root `root` at `time`", in the C2SP formats that transparency-log tools read:
// a tlog-checkpoint body (https://c2sp.org/tlog-checkpoint) in a signed note
// (https://c2sp.org/signed-note) with an Ed25519 signature (signature type 0x01).
//
// A Hygie checkpoint body is exactly four lines, the fourth an extension line with the time:
//
//   hygie.local/abcd1234/audit/acme
//   1234
//   <base64 of the 32-byte root>
//   time 1700000000
//
// followed by a blank line and one signature line "— <name> base64(key id || signature)".
// The key id is the first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key), big endian.
// A verifier key is "<name>+<key id, 8 lowercase hex digits>+base64(0x01 || public key)", the
// form golang.org/x/mod/sumdb/note reads.
//
// Names (signer names and origins) are restricted to printable ASCII without spaces or '+'.
// Open() checks the signature and the body, not that the origin is the one expected: the
// caller compares it.
//
// Thread-safety: Checkpoint is a plain value. NoteSigner and NoteVerifier are immutable after
// construction; copies share the key, and one object may be used from many threads at once.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "audit/merkle.h"
#include "core/bytes.h"
#include "core/status.h"
#include "crypto/signing.h"

namespace hygie::audit {

struct Checkpoint {
  std::string origin;  // e.g. "hygie.local/abcd1234/audit/acme"
  uint64_t size = 0;
  Hash root{};
  int64_t time_seconds = 0;  // carried as the extension line "time <unix seconds>"

  bool operator==(const Checkpoint&) const = default;
};

// The note text of a checkpoint: "origin\nsize\nbase64(root)\ntime N\n".
std::string CheckpointBody(const Checkpoint& c);

// The note key id of an Ed25519 key: the first 4 bytes, big endian, of
// SHA-256(name || 0x0A || 0x01 || pubkey32).
uint32_t NoteKeyId(std::string_view name, ByteView ed25519_public_key);

// Signs checkpoints with Ed25519 as the note signer `name` (usually the origin).
class NoteSigner {
 public:
  // kInvalidArgument when the name is not a valid key name or the seed is not 32 bytes.
  static Result<NoteSigner> FromSeed(std::string name, ByteView seed32);

  const std::string& name() const { return name_; }
  uint32_t key_id() const { return key_id_; }
  // "name+<8 hex keyid>+<base64(0x01 || pubkey)>".
  std::string VerifierKey() const;
  // The whole signed note: CheckpointBody(c), a blank line, the signature line.
  // kInvalidArgument when the origin is not a valid name or time_seconds is negative.
  Result<std::string> Sign(const Checkpoint& c) const;

 private:
  NoteSigner(std::string name, std::shared_ptr<const crypto::SigningKey> key, Bytes public_key,
             uint32_t key_id);

  std::string name_;
  std::shared_ptr<const crypto::SigningKey> key_;
  Bytes public_key_;  // 32 bytes
  uint32_t key_id_ = 0;
};

// Checks checkpoints signed by one note key.
class NoteVerifier {
 public:
  // Parses a verifier key as VerifierKey() writes it; the key id must match the name and
  // key. kInvalidArgument if anything is off.
  static Result<NoteVerifier> Parse(std::string_view verifier_key);

  const std::string& name() const { return name_; }
  uint32_t key_id() const { return key_id_; }
  // Checks the note's signature by this key and parses the body. Signature lines of other
  // keys (another name or key id) are skipped. kDataLoss for a note that is not well-formed
  // (encoding, control characters, signature lines, trailing bytes), a bad signature by this
  // key, no signature by this key, or a body that is not exactly a Hygie checkpoint body.
  Result<Checkpoint> Open(std::string_view note) const;

 private:
  NoteVerifier(std::string name, uint32_t key_id, crypto::PublicKey key);

  std::string name_;
  uint32_t key_id_ = 0;
  crypto::PublicKey key_;
};

}  // namespace hygie::audit
