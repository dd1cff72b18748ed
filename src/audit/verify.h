#pragma once
// VerifyTree: the offline check behind `hygie audit verify`. Reads one tree of the journal
// from disk and proves it untouched: every record in its place and unaltered (its index and
// its chain MAC), every pruned segment's leaf hashes unaltered, every checkpoint signed by the
// tree's key, every checkpoint's root recomputed from the records, every pair of successive
// checkpoints consistent (RFC 9162 consistency proof), every record covered by a checkpoint,
// and the stored tree nodes equal to the recomputed ones. The first problem found is returned
// as kDataLoss naming the record, segment or checkpoint.
//
// Thread-safety: stateless.

#include <cstdint>
#include <string>

#include "audit/journal.h"
#include "core/status.h"

namespace hygie::audit {

struct VerifyReport {
  uint64_t records = 0;         // records in the tree (pruned ones included)
  uint64_t pruned_records = 0;  // of which only the leaf hash is kept
  uint64_t segments = 0;
  uint64_t checkpoints = 0;
  uint64_t checked_size = 0;  // tree size covered by the newest valid checkpoint
  uint64_t uncovered = 0;     // records after it (only accepted while a writer holds the tree)
  bool live = false;          // another process held the tree's lock during the check
};

// `origin` is the checkpoint origin (and signer name) of the tree, e.g. "hygie/ab12/acme".
Status VerifyTree(const std::string& tree_dir, const std::string& origin, const TreeKeys& keys,
                  VerifyReport* report);

}  // namespace hygie::audit
