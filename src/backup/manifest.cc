#include "backup/manifest.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdio>
#include <limits>

#include "backup/backup_format.h"
#include "core/bytes.h"
#include "crypto/primitives.h"

namespace hygie::backup {

namespace {

constexpr int kFormatVersion = 1;

Status Bad(std::string_view what) { return DataLoss("backup manifest: " + std::string(what)); }

bool IsHexDigest(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string SignedText(std::string_view json) {
  std::string text(format::kManifestSigLabel);
  text.append(json);
  return text;
}

}  // namespace

Result<ChainKeys> ChainKeys::Derive(const crypto::SecretKey& seed) {
  ChainKeys keys;
  auto info = [](std::string_view s) { return AsBytes(s); };
  HYGIE_ASSIGN_OR_RETURN(keys.pack_key, crypto::Hkdf(seed, {}, info("hygie backup pack"), 32));
  HYGIE_ASSIGN_OR_RETURN(crypto::SecretKey sign_seed,
                         crypto::Hkdf(seed, {}, info("hygie backup manifest signing"), 32));
  HYGIE_ASSIGN_OR_RETURN(crypto::SigningKey signer,
                         crypto::SigningKey::FromEd25519Seed(sign_seed.bytes()));
  keys.verifier = std::make_unique<crypto::PublicKey>(signer.Public());
  keys.signer = std::make_unique<crypto::SigningKey>(std::move(signer));
  return keys;
}

std::string ChainPrefix(const ChainId& chain) {
  return std::string(format::kRootPrefix) + chain.installation + "/" + chain.tenant + "/";
}

std::string ManifestName(const ChainId& chain, uint64_t n) {
  char digits[32];
  std::snprintf(digits, sizeof digits, "%020llu", static_cast<unsigned long long>(n));
  return ChainPrefix(chain) + "manifest/" + digits;
}

std::string PackName(const ChainId& chain, std::string_view digest) {
  return ChainPrefix(chain) + "packs/" + std::string(digest);
}

bool ParseManifestName(std::string_view relative, uint64_t* n) {
  constexpr std::string_view kDir = "manifest/";
  if (relative.substr(0, kDir.size()) != kDir) return false;
  std::string_view digits = relative.substr(kDir.size());
  if (digits.size() != 20) return false;
  uint64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) return false;
    v = v * 10 + d;
  }
  *n = v;
  return true;
}

Result<std::string> EncodeManifestEntry(const ManifestEntry& e, const ChainId& chain,
                                        const crypto::SigningKey& signer) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("v");
  w.Int(kFormatVersion);
  w.Key("installation");
  w.String(chain.installation.c_str(), static_cast<rapidjson::SizeType>(chain.installation.size()));
  w.Key("chain");
  w.String(chain.tenant.c_str(), static_cast<rapidjson::SizeType>(chain.tenant.size()));
  w.Key("n");
  w.Uint64(e.n);
  w.Key("prev");
  w.String(e.prev.c_str(), static_cast<rapidjson::SizeType>(e.prev.size()));
  w.Key("created_us");
  w.Int64(e.created_us);
  w.Key("pack");
  w.String(e.pack.c_str(), static_cast<rapidjson::SizeType>(e.pack.size()));
  w.Key("pack_bytes");
  w.Uint64(e.pack_bytes);
  w.Key("first_seq");
  w.Uint64(e.first_seq);
  w.Key("last_seq");
  w.Uint64(e.last_seq);
  w.Key("versions");
  w.Uint64(e.versions);
  w.Key("max_ts_us");
  w.Int64(e.max_ts_us);
  w.Key("shipped_seq");
  w.Uint64(e.shipped_seq);
  w.Key("journal");
  w.StartArray();
  for (const JournalRange& r : e.journal) {
    w.StartArray();
    w.String(r.file.c_str(), static_cast<rapidjson::SizeType>(r.file.size()));
    w.Uint64(r.offset);
    w.Uint64(r.length);
    w.EndArray();
  }
  w.EndArray();
  const audit::ExportCursor& c = e.journal_cursor;
  w.Key("journal_cursor");
  w.StartArray();
  w.Uint64(c.verifier_key ? 1 : 0);
  w.Uint64(c.records);
  w.Uint64(c.segment_first);
  w.Uint64(c.segment_bytes);
  w.Uint64(c.checkpoint_bytes);
  w.Uint64(c.checkpoints);
  w.EndArray();
  w.Key("total_versions");
  w.Uint64(e.total_versions);
  w.Key("total_bytes");
  w.Uint64(e.total_bytes);
  if (e.is_base()) {
    w.Key("base");
    w.StartArray();
    for (const std::string& p : e.base) {
      w.String(p.c_str(), static_cast<rapidjson::SizeType>(p.size()));
    }
    w.EndArray();
    w.Key("base_new");
    w.Uint64(e.base_new);
  }
  if (e.last_base) {
    w.Key("last_base");
    w.Uint64(*e.last_base);
    w.Key("last_base_us");
    w.Int64(e.last_base_us);
  }
  w.EndObject();
  std::string json(buf.GetString(), buf.GetSize());
  HYGIE_ASSIGN_OR_RETURN(Bytes sig, signer.Sign(AsBytes(SignedText(json))));
  return json + "\n" + crypto::Base64Encode(sig) + "\n";
}

Result<ManifestEntry> DecodeManifestEntry(std::string_view object, const ChainId& chain,
                                          const crypto::PublicKey& verifier) {
  if (object.size() > format::kMaxManifestObject) return Bad("object too large");
  size_t nl = object.find('\n');
  if (nl == std::string_view::npos || object.empty() || object.back() != '\n') {
    return Bad("not a manifest entry");
  }
  std::string_view json = object.substr(0, nl);
  std::string_view sig_text = object.substr(nl + 1, object.size() - nl - 2);
  if (sig_text.find('\n') != std::string_view::npos) return Bad("not a manifest entry");
  auto sig = crypto::Base64Decode(sig_text);
  if (!sig.ok() || !verifier.Verify(AsBytes(SignedText(json)), *sig)) {
    return Bad("signature does not verify (altered, or signed by another chain's key)");
  }
  rapidjson::Document d;
  d.Parse<rapidjson::kParseValidateEncodingFlag>(json.data(), json.size());
  if (d.HasParseError() || !d.IsObject()) return Bad("malformed JSON");
  auto u64 = [&d](const char* name, uint64_t* out) {
    auto it = d.FindMember(name);
    if (it == d.MemberEnd() || !it->value.IsUint64()) return false;
    *out = it->value.GetUint64();
    return true;
  };
  auto i64 = [&d](const char* name, int64_t* out) {
    auto it = d.FindMember(name);
    if (it == d.MemberEnd() || !it->value.IsInt64()) return false;
    *out = it->value.GetInt64();
    return true;
  };
  auto str = [&d](const char* name, std::string* out) {
    auto it = d.FindMember(name);
    if (it == d.MemberEnd() || !it->value.IsString()) return false;
    *out = std::string(it->value.GetString(), it->value.GetStringLength());
    return true;
  };
  ManifestEntry e;
  uint64_t v = 0;
  std::string installation, chain_name;
  if (!u64("v", &v) || v != kFormatVersion) return Bad("unknown format version");
  if (!str("installation", &installation) || !str("chain", &chain_name)) return Bad("chain");
  if (installation != chain.installation || chain_name != chain.tenant) {
    return Bad("entry of another chain (" + installation + "/" + chain_name + ")");
  }
  if (!u64("n", &e.n) || !str("prev", &e.prev) || !i64("created_us", &e.created_us) ||
      !str("pack", &e.pack) || !u64("pack_bytes", &e.pack_bytes) ||
      !u64("first_seq", &e.first_seq) || !u64("last_seq", &e.last_seq) ||
      !u64("versions", &e.versions) || !i64("max_ts_us", &e.max_ts_us) ||
      !u64("shipped_seq", &e.shipped_seq) || !u64("total_versions", &e.total_versions) ||
      !u64("total_bytes", &e.total_bytes)) {
    return Bad("missing or mistyped field");
  }
  if (auto b = d.FindMember("base"); b != d.MemberEnd()) {
    if (!b->value.IsArray() || b->value.Empty()) return Bad("base packs");
    for (const auto& p : b->value.GetArray()) {
      if (!p.IsString() || !IsHexDigest(std::string_view(p.GetString(), p.GetStringLength()))) {
        return Bad("base packs");
      }
      e.base.emplace_back(p.GetString(), p.GetStringLength());
    }
    if (!u64("base_new", &e.base_new) || e.base_new > e.base.size()) return Bad("base packs");
  }
  if (d.HasMember("last_base")) {
    uint64_t last_base = 0;
    if (!u64("last_base", &last_base) || !i64("last_base_us", &e.last_base_us) || last_base > e.n ||
        (e.is_base() && last_base != e.n) || (!e.is_base() && last_base == e.n)) {
      return Bad("last base");
    }
    e.last_base = last_base;
  } else if (e.is_base()) {
    return Bad("last base");
  }
  if ((e.is_base() ? !e.pack.empty() : !IsHexDigest(e.pack)) ||
      (e.n == 0 ? !e.prev.empty() : !IsHexDigest(e.prev))) {
    return Bad("malformed digest");
  }
  if (e.is_base() && e.versions != 0) return Bad("a base snapshot entry ships no versions");
  if (e.first_seq > e.last_seq || (e.versions == 0) != (e.last_seq == 0) ||
      e.last_seq > e.shipped_seq || e.versions > e.total_versions) {
    return Bad("inconsistent version range");
  }
  auto j = d.FindMember("journal");
  if (j == d.MemberEnd() || !j->value.IsArray()) return Bad("journal ranges");
  for (const auto& r : j->value.GetArray()) {
    if (!r.IsArray() || r.Size() != 3 || !r[0].IsString() || !r[1].IsUint64() || !r[2].IsUint64()) {
      return Bad("journal ranges");
    }
    e.journal.push_back({std::string(r[0].GetString(), r[0].GetStringLength()), r[1].GetUint64(),
                         r[2].GetUint64()});
  }
  auto c = d.FindMember("journal_cursor");
  if (c == d.MemberEnd() || !c->value.IsArray() || c->value.Size() != 6) {
    return Bad("journal cursor");
  }
  for (const auto& v : c->value.GetArray()) {
    if (!v.IsUint64()) return Bad("journal cursor");
  }
  const auto& a = c->value;
  if (a[0].GetUint64() > 1) return Bad("journal cursor");
  e.journal_cursor.verifier_key = a[0].GetUint64() == 1;
  e.journal_cursor.records = a[1].GetUint64();
  e.journal_cursor.segment_first = a[2].GetUint64();
  e.journal_cursor.segment_bytes = a[3].GetUint64();
  e.journal_cursor.checkpoint_bytes = a[4].GetUint64();
  e.journal_cursor.checkpoints = a[5].GetUint64();
  if (e.is_base() && !e.journal.empty()) return Bad("a base snapshot entry ships no journal bytes");
  return e;
}

}  // namespace hygie::backup
