#pragma once
// Merkle tree hashing and proofs of the audit journal, as RFC 9162 (Certificate Transparency
// 2.0, same tree as RFC 6962) defines them: leaf hashes, the Merkle Tree Hash (MTH) of a
// list of leaves, inclusion and consistency proofs built from stored nodes and checked
// against a root, and MerkleFrontier, the right edge of an append-only tree.
//
// The journal stores every complete node of its trees (level 0 holds the leaf hashes) and
// hands them to these functions through a NodeGetter, so proofs and roots cost O(log^2 n)
// reads instead of rehashing the log.
//
// Thread-safety: the free functions are stateless and thread-safe (a NodeGetter is called
// only on the caller's thread). MerkleFrontier is a plain value: thread-compatible.

#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "core/bytes.h"
#include "core/status.h"

namespace hygie::audit {

using Hash = std::array<uint8_t, 32>;

// SHA-256(0x00 || data), RFC 9162 2.1.1.
Hash HashLeaf(ByteView data);
// SHA-256(0x01 || left || right).
Hash HashChildren(const Hash& left, const Hash& right);
// The MTH of the empty tree: SHA-256("").
Hash EmptyRoot();
// The MTH of a list of leaf hashes: EmptyRoot() for none, the leaf hash itself for one,
// otherwise HashChildren(MTH(first k), MTH(rest)) with k the largest power of two < n.
Hash RootFromLeafHashes(std::span<const Hash> leaves);

// The hash of a complete subtree: leaves [index << level, (index + 1) << level). The journal
// stores these (level 0 = leaf hashes) and serves them from disk. Its errors are passed on.
using NodeGetter = std::function<Result<Hash>(int level, uint64_t index)>;

// The MTH of leaves [begin, end). The range must be a subtree in the sense of RFC 9162:
// begin is a multiple of the smallest power of two >= end - begin (any [0, end) is one).
// [b, b) gives EmptyRoot() without a call. Decomposes the range into complete subtrees and
// calls `nodes` at most O(log n) times. kInvalidArgument for begin > end or a range that is
// not a subtree.
Result<Hash> RangeHash(uint64_t begin, uint64_t end, const NodeGetter& nodes);

// RFC 9162 2.1.3.1: the inclusion proof of leaf `index` in the tree of the first `size`
// leaves, from the lowest level up. kInvalidArgument when index >= size.
Result<std::vector<Hash>> InclusionProof(uint64_t index, uint64_t size, const NodeGetter& nodes);
// RFC 9162 2.1.4.1: the consistency proof between the trees of size1 and size2 leaves.
// Empty when size1 == size2. kInvalidArgument when size1 == 0 (a proof from the empty tree
// is meaningless) or size1 > size2.
Result<std::vector<Hash>> ConsistencyProof(uint64_t size1, uint64_t size2, const NodeGetter& nodes);

// RFC 9162 2.1.3.2: checks that `proof` places `leaf_hash` at `index` in the tree of `size`
// leaves whose root is `root`. OkStatus, kDataLoss when the proof has the wrong length or
// does not lead to the root, kInvalidArgument when index >= size.
Status VerifyInclusion(uint64_t index, uint64_t size, const Hash& leaf_hash,
                       std::span<const Hash> proof, const Hash& root);
// RFC 9162 2.1.4.2: checks that the tree of size2 leaves with root2 extends the tree of size1
// leaves with root1. For size1 == size2 the proof must be empty and the roots equal.
// OkStatus, kDataLoss when the proof is malformed or does not match the roots,
// kInvalidArgument when size1 == 0 or size1 > size2. Agrees with the transparency-dev/merkle
// verifier.
Status VerifyConsistency(uint64_t size1, uint64_t size2, const Hash& root1, const Hash& root2,
                         std::span<const Hash> proof);

// The right edge of an append-only tree: one pending hash per level, the roots of the
// complete subtrees that make up the tree (one per bit set in size()). Enough to append and
// to compute the root without reading the tree.
class MerkleFrontier {
 public:
  using NodeCallback = std::function<void(int level, uint64_t index, const Hash& hash)>;

  MerkleFrontier() = default;
  // Rebuilds the frontier of a tree of `size` leaves from stored complete nodes (one call
  // per bit set in size). Errors of `nodes` are passed on.
  static Result<MerkleFrontier> FromNodes(uint64_t size, const NodeGetter& nodes);

  // Appends a leaf. Calls on_node (if set) for every node it completes: (0, i, leaf_hash)
  // first, then each parent it completes, bottom up, as (level, index, hash).
  void Append(const Hash& leaf_hash, const NodeCallback& on_node);
  uint64_t size() const { return size_; }
  // The MTH of the tree; EmptyRoot() for size 0.
  Hash Root() const;

  bool operator==(const MerkleFrontier& other) const;

 private:
  uint64_t size_ = 0;
  // pending_[l] is the root of the complete subtree of 2^l leaves when bit l of size_ is set;
  // unspecified otherwise.
  std::vector<Hash> pending_;
};

}  // namespace hygie::audit
