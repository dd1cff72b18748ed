#include "audit/checkpoint.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <limits>
#include <utility>
#include <vector>

#include "crypto/primitives.h"

namespace hygie::audit {
namespace {

constexpr uint8_t kEd25519SignatureType = 0x01;
constexpr size_t kEd25519KeySize = 32;
constexpr size_t kEd25519SignatureSize = 64;
constexpr size_t kKeyIdSize = 4;
constexpr size_t kMaxNameSize = 512;
// A checkpoint is a few hundred bytes; the bounds leave room for many cosignatures.
constexpr size_t kMaxNoteSize = 1 << 20;
constexpr size_t kMaxSignatureLines = 100;
constexpr std::string_view kSignaturePrefix = "\xE2\x80\x94 ";  // U+2014 EM DASH, space
constexpr std::string_view kTimePrefix = "time ";

// Key names and origins: printable ASCII without space or '+' (the signed-note rules for key
// names, narrowed to ASCII).
bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameSize) return false;
  for (char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f || c == '+') return false;
  }
  return true;
}

// Valid UTF-8 (no overlong forms, surrogates or code points above U+10FFFF) and no control
// characters other than newline, as signed notes require.
bool IsValidNoteText(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      if (c < 0x20 && c != '\n') return false;
      ++i;
      continue;
    }
    size_t len = 0;
    uint32_t cp = 0;
    uint32_t min = 0;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
      min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
      min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
      min = 0x10000;
    } else {
      return false;
    }
    if (text.size() - i < len) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

// A decimal without sign or leading zeros ("0" itself is fine).
template <typename T>
bool ParseDecimal(std::string_view text, T& out) {
  if (text.empty() || text.size() > 20) return false;
  if (text.size() > 1 && text[0] == '0') return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  T value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return false;
  out = value;
  return true;
}

uint32_t ReadBigEndian32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

std::string KeyIdHex(uint32_t id) {
  char buf[9];
  std::snprintf(buf, sizeof(buf), "%08x", id);
  return std::string(buf, 8);
}

// The body of a Hygie checkpoint, parsed; kDataLoss unless it is exactly what CheckpointBody
// writes.
Result<Checkpoint> ParseBody(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < text.size()) {
    const size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) return DataLoss("checkpoint body does not end in newline");
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  if (lines.size() != 4) {
    return DataLoss("checkpoint body has " + std::to_string(lines.size()) +
                    " lines, expected 4 (origin, size, root, time)");
  }
  Checkpoint c;
  if (!IsValidName(lines[0])) return DataLoss("checkpoint origin is not a valid name");
  c.origin = std::string(lines[0]);
  if (!ParseDecimal(lines[1], c.size)) return DataLoss("checkpoint tree size is not a number");
  auto root = crypto::Base64Decode(lines[2]);
  if (!root.ok() || root->size() != c.root.size()) {
    return DataLoss("checkpoint root is not a base64 SHA-256 hash");
  }
  std::copy(root->begin(), root->end(), c.root.begin());
  if (!lines[3].starts_with(kTimePrefix) ||
      !ParseDecimal(lines[3].substr(kTimePrefix.size()), c.time_seconds)) {
    return DataLoss("checkpoint has no \"time <seconds>\" line");
  }
  if (CheckpointBody(c) != text) return DataLoss("checkpoint body is not in canonical form");
  return c;
}

}  // namespace

std::string CheckpointBody(const Checkpoint& c) {
  std::string body;
  body.reserve(c.origin.size() + 80);
  body += c.origin;
  body += '\n';
  body += std::to_string(c.size);
  body += '\n';
  body += crypto::Base64Encode(c.root);
  body += '\n';
  body += kTimePrefix;
  body += std::to_string(c.time_seconds);
  body += '\n';
  return body;
}

uint32_t NoteKeyId(std::string_view name, ByteView ed25519_public_key) {
  Bytes input(name.begin(), name.end());
  input.push_back('\n');
  input.push_back(kEd25519SignatureType);
  input.insert(input.end(), ed25519_public_key.begin(), ed25519_public_key.end());
  const Bytes digest = crypto::Sha256(input);
  return ReadBigEndian32(digest.data());
}

// ---------------------------------------------------------------------------------------------
// NoteSigner

NoteSigner::NoteSigner(std::string name, std::shared_ptr<const crypto::SigningKey> key,
                       Bytes public_key, uint32_t key_id)
    : name_(std::move(name)),
      key_(std::move(key)),
      public_key_(std::move(public_key)),
      key_id_(key_id) {}

Result<NoteSigner> NoteSigner::FromSeed(std::string name, ByteView seed32) {
  if (!IsValidName(name)) {
    return InvalidArgument("note signer name must be printable ASCII without spaces or '+'");
  }
  HYGIE_ASSIGN_OR_RETURN(crypto::SigningKey key, crypto::SigningKey::FromEd25519Seed(seed32));
  HYGIE_ASSIGN_OR_RETURN(Bytes public_key, key.Public().RawBytes());
  const uint32_t key_id = NoteKeyId(name, public_key);
  return NoteSigner(std::move(name), std::make_shared<const crypto::SigningKey>(std::move(key)),
                    std::move(public_key), key_id);
}

std::string NoteSigner::VerifierKey() const {
  Bytes typed_key;
  typed_key.reserve(1 + public_key_.size());
  typed_key.push_back(kEd25519SignatureType);
  typed_key.insert(typed_key.end(), public_key_.begin(), public_key_.end());
  return name_ + "+" + KeyIdHex(key_id_) + "+" + crypto::Base64Encode(typed_key);
}

Result<std::string> NoteSigner::Sign(const Checkpoint& c) const {
  if (!IsValidName(c.origin)) {
    return InvalidArgument("checkpoint origin must be printable ASCII without spaces or '+'");
  }
  if (c.time_seconds < 0) return InvalidArgument("checkpoint time is negative");
  std::string note = CheckpointBody(c);
  HYGIE_ASSIGN_OR_RETURN(Bytes signature, key_->Sign(AsBytes(note)));
  if (signature.size() != kEd25519SignatureSize) return Internal("unexpected signature size");
  Bytes blob = {static_cast<uint8_t>(key_id_ >> 24), static_cast<uint8_t>(key_id_ >> 16),
                static_cast<uint8_t>(key_id_ >> 8), static_cast<uint8_t>(key_id_)};
  blob.insert(blob.end(), signature.begin(), signature.end());
  note += '\n';
  note += kSignaturePrefix;
  note += name_;
  note += ' ';
  note += crypto::Base64Encode(blob);
  note += '\n';
  return note;
}

// ---------------------------------------------------------------------------------------------
// NoteVerifier

NoteVerifier::NoteVerifier(std::string name, uint32_t key_id, crypto::PublicKey key)
    : name_(std::move(name)), key_id_(key_id), key_(std::move(key)) {}

Result<NoteVerifier> NoteVerifier::Parse(std::string_view verifier_key) {
  const size_t plus1 = verifier_key.find('+');
  const size_t plus2 = plus1 == std::string_view::npos ? plus1 : verifier_key.find('+', plus1 + 1);
  if (plus2 == std::string_view::npos) {
    return InvalidArgument("verifier key is not \"name+keyid+key\"");
  }
  const std::string_view name = verifier_key.substr(0, plus1);
  const std::string_view id_hex = verifier_key.substr(plus1 + 1, plus2 - plus1 - 1);
  const std::string_view key_b64 = verifier_key.substr(plus2 + 1);
  if (!IsValidName(name)) return InvalidArgument("verifier key has an invalid name");
  if (id_hex.size() != 2 * kKeyIdSize) {
    return InvalidArgument("verifier key id is not 8 hex digits");
  }
  for (char c : id_hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return InvalidArgument("verifier key id is not 8 lowercase hex digits");
    }
  }
  auto id_bytes = HexDecode(id_hex);
  if (!id_bytes.ok() || id_bytes->size() != kKeyIdSize) {
    return InvalidArgument("verifier key id is not 8 hex digits");
  }
  auto typed_key = crypto::Base64Decode(key_b64);
  if (!typed_key.ok() || typed_key->size() != 1 + kEd25519KeySize) {
    return InvalidArgument("verifier key is not base64 of a type byte and a 32-byte key");
  }
  if ((*typed_key)[0] != kEd25519SignatureType) {
    return InvalidArgument("verifier key is not an Ed25519 note key (type 0x01)");
  }
  const ByteView raw = ByteView(*typed_key).subspan(1);
  HYGIE_ASSIGN_OR_RETURN(crypto::PublicKey key, crypto::PublicKey::FromEd25519Raw(raw));
  const uint32_t key_id = ReadBigEndian32(id_bytes->data());
  if (key_id != NoteKeyId(name, raw)) {
    return InvalidArgument("verifier key id does not match its name and key");
  }
  return NoteVerifier(std::string(name), key_id, std::move(key));
}

Result<Checkpoint> NoteVerifier::Open(std::string_view note) const {
  if (note.size() > kMaxNoteSize) return DataLoss("signed note is too large");
  if (!IsValidNoteText(note)) {
    return DataLoss("signed note is not UTF-8 text without control characters");
  }
  if (note.empty() || note.back() != '\n') return DataLoss("signed note does not end in newline");
  // The text ends at the last blank line; signature lines follow it.
  const size_t blank = note.rfind("\n\n");
  if (blank == std::string_view::npos) return DataLoss("signed note has no signature block");
  const std::string_view text = note.substr(0, blank + 1);
  std::string_view signatures = note.substr(blank + 2);
  if (signatures.empty()) return DataLoss("signed note has no signature");

  bool verified = false;
  size_t lines = 0;
  while (!signatures.empty()) {
    if (++lines > kMaxSignatureLines) return DataLoss("signed note has too many signatures");
    const size_t nl = signatures.find('\n');  // the block ends in '\n'
    std::string_view line = signatures.substr(0, nl);
    signatures.remove_prefix(nl + 1);
    if (!line.starts_with(kSignaturePrefix)) return DataLoss("malformed signature line");
    line.remove_prefix(kSignaturePrefix.size());
    const size_t space = line.find(' ');
    if (space == 0 || space == std::string_view::npos) {
      return DataLoss("malformed signature line");
    }
    const std::string_view name = line.substr(0, space);
    if (name.find('+') != std::string_view::npos) return DataLoss("malformed signature line");
    auto blob = crypto::Base64Decode(line.substr(space + 1));
    if (!blob.ok() || blob->size() <= kKeyIdSize) {
      return DataLoss("malformed signature in signed note");
    }
    if (name != name_ || ReadBigEndian32(blob->data()) != key_id_) continue;  // another key
    const ByteView signature = ByteView(*blob).subspan(kKeyIdSize);
    if (signature.size() != kEd25519SignatureSize || !key_.Verify(AsBytes(text), signature)) {
      return DataLoss("bad signature by note key " + name_);
    }
    verified = true;
  }
  if (!verified) return DataLoss("signed note has no signature by note key " + name_);
  return ParseBody(text);
}

}  // namespace hygie::audit
