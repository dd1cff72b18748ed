#pragma once
// The JSON document of a journal proof, as the CLI (`hygie audit proof ...`) and the admin API
// (`/admin/audit/{tenant}/proof/...`) print it: hashes in standard base64, the checkpoint and
// the verifier key as text, and for an inclusion proof the record itself.
//
// Thread-safety: stateless.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "audit/merkle.h"

namespace hygie::audit {

struct ProofJson {
  std::string tree;               // omitted when empty
  std::optional<uint64_t> index;  // inclusion: the record
  std::optional<uint64_t> size;   // inclusion: the tree size
  std::optional<uint64_t> size1;  // consistency: the earlier size
  std::optional<uint64_t> size2;  // consistency: the later size
  std::optional<Hash> leaf_hash;  // inclusion
  std::vector<Hash> proof;
  std::string checkpoint;             // the signed note the proof leads to; omitted when empty
  std::string verifier_key;           // omitted when empty
  std::optional<std::string> record;  // inclusion: the record's JSON text, or null when pruned
};

// The compact JSON text of the document.
std::string WriteProofJson(const ProofJson& p);

}  // namespace hygie::audit
