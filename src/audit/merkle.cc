#include "audit/merkle.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <string>
#include <utility>

#include "crypto/primitives.h"

namespace hygie::audit {
namespace {

constexpr uint8_t kLeafPrefix = 0x00;
constexpr uint8_t kNodePrefix = 0x01;
constexpr int kMaxLevels = 64;

Hash ToHash(const Bytes& digest) {
  Hash h{};
  std::memcpy(h.data(), digest.data(), std::min(digest.size(), h.size()));
  return h;
}

// The largest power of two strictly smaller than n; n >= 2.
uint64_t SplitPoint(uint64_t n) { return std::bit_floor(n - 1); }

int Log2(uint64_t power_of_two) { return std::countr_zero(power_of_two); }

// True when [begin, end) is a subtree in the sense of RFC 9162: begin is a multiple of the
// smallest power of two >= end - begin. begin <= end.
bool IsSubtree(uint64_t begin, uint64_t end) {
  const uint64_t n = end - begin;
  if (n <= 1) return true;
  if (n > (uint64_t{1} << 63)) return begin == 0;  // the power of two would be 2^64
  return begin % std::bit_ceil(n) == 0;
}

// RangeHash for a range known to be a non-empty subtree: the left part of each split is one
// stored node, the right part a smaller subtree.
Result<Hash> SubtreeHash(uint64_t begin, uint64_t end, const NodeGetter& nodes) {
  std::vector<Hash> lefts;
  while (!std::has_single_bit(end - begin)) {
    const uint64_t k = std::bit_floor(end - begin);
    const int level = Log2(k);
    HYGIE_ASSIGN_OR_RETURN(Hash left, nodes(level, begin >> level));
    lefts.push_back(left);
    begin += k;
  }
  const int level = Log2(end - begin);
  HYGIE_ASSIGN_OR_RETURN(Hash acc, nodes(level, begin >> level));
  for (auto it = lefts.rbegin(); it != lefts.rend(); ++it) acc = HashChildren(*it, acc);
  return acc;
}

// RFC 9162 2.1.3.2 decomposition (as transparency-dev/merkle computes it): the number of
// proof hashes below the point where the paths to `index` and to `size - 1` meet (inner), and
// above it, on the right border (border). index < size.
struct ProofShape {
  int inner = 0;
  int border = 0;
};

ProofShape Decompose(uint64_t index, uint64_t size) {
  ProofShape s;
  s.inner = std::bit_width(index ^ (size - 1));
  s.border = s.inner >= kMaxLevels ? 0 : std::popcount(index >> s.inner);
  return s;
}

// Hashes `seed` up through `proof`: the path goes left or right at level i as bit i of
// `index` says.
Hash ChainInner(Hash seed, std::span<const Hash> proof, uint64_t index) {
  for (size_t i = 0; i < proof.size(); ++i) {
    if (((index >> i) & 1) == 0) {
      seed = HashChildren(seed, proof[i]);
    } else {
      seed = HashChildren(proof[i], seed);
    }
  }
  return seed;
}

// Like ChainInner, but only the hashes on the left of the path: the hash of the same subtree
// as it was before the leaves on the right of the path were added.
Hash ChainInnerRight(Hash seed, std::span<const Hash> proof, uint64_t index) {
  for (size_t i = 0; i < proof.size(); ++i) {
    if (((index >> i) & 1) == 1) seed = HashChildren(proof[i], seed);
  }
  return seed;
}

// Chains up the right border of the tree, where every proof hash is a left sibling.
Hash ChainBorderRight(Hash seed, std::span<const Hash> proof) {
  for (const Hash& h : proof) seed = HashChildren(h, seed);
  return seed;
}

std::string Count(size_t n) { return std::to_string(n); }

}  // namespace

Hash HashLeaf(ByteView data) {
  const uint8_t prefix = kLeafPrefix;
  Hash h;
  crypto::Sha256Concat(ByteView(&prefix, 1), data, {}, h.data());
  return h;
}

Hash HashChildren(const Hash& left, const Hash& right) {
  const uint8_t prefix = kNodePrefix;
  Hash h;
  crypto::Sha256Concat(ByteView(&prefix, 1), ByteView(left.data(), left.size()),
                       ByteView(right.data(), right.size()), h.data());
  return h;
}

Hash EmptyRoot() { return ToHash(crypto::Sha256({})); }

Hash RootFromLeafHashes(std::span<const Hash> leaves) {
  if (leaves.empty()) return EmptyRoot();
  if (leaves.size() == 1) return leaves[0];
  const size_t k = SplitPoint(leaves.size());
  return HashChildren(RootFromLeafHashes(leaves.first(k)), RootFromLeafHashes(leaves.subspan(k)));
}

Result<Hash> RangeHash(uint64_t begin, uint64_t end, const NodeGetter& nodes) {
  if (begin > end) {
    return InvalidArgument("Merkle range [" + Count(begin) + ", " + Count(end) + ") is reversed");
  }
  if (begin == end) return EmptyRoot();
  if (!IsSubtree(begin, end)) {
    return InvalidArgument("Merkle range [" + Count(begin) + ", " + Count(end) +
                           ") is not a subtree");
  }
  return SubtreeHash(begin, end, nodes);
}

Result<std::vector<Hash>> InclusionProof(uint64_t index, uint64_t size, const NodeGetter& nodes) {
  if (index >= size) {
    return InvalidArgument("leaf index " + Count(index) + " is not in a tree of size " +
                           Count(size));
  }
  // Walk from the root down to the leaf; each step adds the sibling of the half that holds
  // the leaf. The proof lists them from the leaf up.
  std::vector<Hash> proof;
  uint64_t begin = 0;
  uint64_t end = size;
  while (end - begin > 1) {
    const uint64_t mid = begin + SplitPoint(end - begin);
    if (index < mid) {
      HYGIE_ASSIGN_OR_RETURN(Hash sibling, SubtreeHash(mid, end, nodes));
      proof.push_back(sibling);
      end = mid;
    } else {
      HYGIE_ASSIGN_OR_RETURN(Hash sibling, SubtreeHash(begin, mid, nodes));
      proof.push_back(sibling);
      begin = mid;
    }
  }
  std::reverse(proof.begin(), proof.end());
  return proof;
}

Result<std::vector<Hash>> ConsistencyProof(uint64_t size1, uint64_t size2,
                                           const NodeGetter& nodes) {
  if (size1 > size2) {
    return InvalidArgument("consistency proof from size " + Count(size1) + " to the smaller " +
                           Count(size2));
  }
  if (size1 == 0) return InvalidArgument("a consistency proof from the empty tree is meaningless");
  // RFC 9162 SUBPROOF(m, D[n], b), unrolled: each step adds the MTH of the half that does not
  // hold the end of the first tree; the recursion's output order is the reverse of the walk.
  std::vector<Hash> proof;
  uint64_t begin = 0;
  uint64_t end = size2;
  bool whole_first_tree = true;  // b: the current range starts at leaf 0 of the first tree
  while (size1 != end) {
    const uint64_t mid = begin + SplitPoint(end - begin);
    if (size1 <= mid) {
      HYGIE_ASSIGN_OR_RETURN(Hash right, SubtreeHash(mid, end, nodes));
      proof.push_back(right);
      end = mid;
    } else {
      HYGIE_ASSIGN_OR_RETURN(Hash left, SubtreeHash(begin, mid, nodes));
      proof.push_back(left);
      begin = mid;
      whole_first_tree = false;
    }
  }
  if (!whole_first_tree) {
    HYGIE_ASSIGN_OR_RETURN(Hash last, SubtreeHash(begin, end, nodes));
    proof.push_back(last);
  }
  std::reverse(proof.begin(), proof.end());
  return proof;
}

Status VerifyInclusion(uint64_t index, uint64_t size, const Hash& leaf_hash,
                       std::span<const Hash> proof, const Hash& root) {
  if (index >= size) {
    return InvalidArgument("leaf index " + Count(index) + " is not in a tree of size " +
                           Count(size));
  }
  const ProofShape shape = Decompose(index, size);
  const size_t want = static_cast<size_t>(shape.inner + shape.border);
  if (proof.size() != want) {
    return DataLoss("inclusion proof has " + Count(proof.size()) + " hashes, expected " +
                    Count(want));
  }
  const auto inner = proof.first(static_cast<size_t>(shape.inner));
  const auto border = proof.subspan(static_cast<size_t>(shape.inner));
  if (ChainBorderRight(ChainInner(leaf_hash, inner, index), border) != root) {
    return DataLoss("inclusion proof does not match the root");
  }
  return Status::Ok();
}

Status VerifyConsistency(uint64_t size1, uint64_t size2, const Hash& root1, const Hash& root2,
                         std::span<const Hash> proof) {
  if (size2 < size1) {
    return InvalidArgument("consistency from size " + Count(size1) + " to the smaller " +
                           Count(size2));
  }
  if (size1 == 0) return InvalidArgument("a consistency proof from the empty tree is meaningless");
  if (size1 == size2) {
    if (!proof.empty()) return DataLoss("consistency proof between equal sizes is not empty");
    if (root1 != root2) return DataLoss("trees of the same size have different roots");
    return Status::Ok();
  }
  if (proof.empty()) return DataLoss("consistency proof is empty");

  // The proof is the tail of the inclusion proof of leaf size1 - 1 in the second tree, from
  // level `shift` up (the first tree's right-most complete subtree is 2^shift leaves), with
  // that subtree's hash in front unless it is the whole first tree (then it is root1).
  ProofShape shape = Decompose(size1 - 1, size2);
  const int shift = std::countr_zero(size1);
  shape.inner -= shift;
  Hash seed = proof[0];
  size_t start = 1;
  if (std::has_single_bit(size1)) {
    seed = root1;
    start = 0;
  }
  const size_t want = start + static_cast<size_t>(shape.inner + shape.border);
  if (proof.size() != want) {
    return DataLoss("consistency proof has " + Count(proof.size()) + " hashes, expected " +
                    Count(want));
  }
  const auto rest = proof.subspan(start);
  const auto inner = rest.first(static_cast<size_t>(shape.inner));
  const auto border = rest.subspan(static_cast<size_t>(shape.inner));
  const uint64_t mask = (size1 - 1) >> shift;
  if (ChainBorderRight(ChainInnerRight(seed, inner, mask), border) != root1) {
    return DataLoss("consistency proof does not match the first root");
  }
  if (ChainBorderRight(ChainInner(seed, inner, mask), border) != root2) {
    return DataLoss("consistency proof does not match the second root");
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// MerkleFrontier

Result<MerkleFrontier> MerkleFrontier::FromNodes(uint64_t size, const NodeGetter& nodes) {
  MerkleFrontier f;
  f.pending_.resize(static_cast<size_t>(std::bit_width(size)));
  for (int level = 0; level < kMaxLevels; ++level) {
    if (((size >> level) & 1) == 0) continue;
    HYGIE_ASSIGN_OR_RETURN(f.pending_[static_cast<size_t>(level)],
                           nodes(level, (size >> level) - 1));
  }
  f.size_ = size;
  return f;
}

void MerkleFrontier::Append(const Hash& leaf_hash, const NodeCallback& on_node) {
  if (on_node) on_node(0, size_, leaf_hash);
  Hash node = leaf_hash;
  int level = 0;
  uint64_t index = size_;
  // Each set low bit of size_ is a pending left sibling that the new node completes.
  while (level < kMaxLevels && ((size_ >> level) & 1) == 1) {
    node = HashChildren(pending_[static_cast<size_t>(level)], node);
    ++level;
    index >>= 1;
    if (on_node) on_node(level, index, node);
  }
  if (pending_.size() <= static_cast<size_t>(level)) {
    pending_.resize(static_cast<size_t>(level) + 1);
  }
  pending_[static_cast<size_t>(level)] = node;
  ++size_;
}

Hash MerkleFrontier::Root() const {
  if (size_ == 0) return EmptyRoot();
  const int top = std::bit_width(size_);
  int level = std::countr_zero(size_);
  Hash acc = pending_[static_cast<size_t>(level)];
  for (++level; level < top; ++level) {
    if (((size_ >> level) & 1) == 1) acc = HashChildren(pending_[static_cast<size_t>(level)], acc);
  }
  return acc;
}

bool MerkleFrontier::operator==(const MerkleFrontier& other) const {
  if (size_ != other.size_) return false;
  for (int level = 0; level < static_cast<int>(std::bit_width(size_)); ++level) {
    if (((size_ >> level) & 1) == 0) continue;
    if (pending_[static_cast<size_t>(level)] != other.pending_[static_cast<size_t>(level)]) {
      return false;
    }
  }
  return true;
}

}  // namespace hygie::audit
