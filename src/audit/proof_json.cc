#include "audit/proof_json.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "crypto/primitives.h"

namespace hygie::audit {

namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void Text(Writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void HashText(Writer& w, const Hash& h) {
  Text(w, crypto::Base64Encode(ByteView(h.data(), h.size())));
}

void Number(Writer& w, const char* key, const std::optional<uint64_t>& v) {
  if (!v) return;
  w.Key(key);
  w.Uint64(*v);
}

}  // namespace

std::string WriteProofJson(const ProofJson& p) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  if (!p.tree.empty()) {
    w.Key("tree");
    Text(w, p.tree);
  }
  Number(w, "index", p.index);
  Number(w, "size", p.size);
  Number(w, "size1", p.size1);
  Number(w, "size2", p.size2);
  if (p.leaf_hash) {
    w.Key("leaf_hash");
    HashText(w, *p.leaf_hash);
  }
  w.Key("proof");
  w.StartArray();
  for (const Hash& h : p.proof) HashText(w, h);
  w.EndArray();
  if (!p.checkpoint.empty()) {
    w.Key("checkpoint");
    Text(w, p.checkpoint);
  }
  if (!p.verifier_key.empty()) {
    w.Key("verifier_key");
    Text(w, p.verifier_key);
  }
  if (p.record) {
    w.Key("record");
    if (p.record->empty()) {
      w.Null();
    } else {
      // The record is the journal's own JSON text (EncodeRecord), embedded as it is.
      w.RawValue(p.record->data(), p.record->size(), rapidjson::kObjectType);
    }
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace hygie::audit
