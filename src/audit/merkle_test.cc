#include "audit/merkle.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "crypto/primitives.h"

namespace hygie::audit {
namespace {

namespace fs = std::filesystem;

// ----- helpers -------------------------------------------------------------------------------

// The shared test data folder: $HYGIE_TESTDATA, else ../shared/testdata beside the source tree.
fs::path TestDataDir() {
  if (const char* env = std::getenv("HYGIE_TESTDATA"); env != nullptr && *env != '\0') {
    return fs::path(env);
  }
#ifdef HYGIE_SOURCE_DIR
  const fs::path source_dir(HYGIE_SOURCE_DIR);
#else
  // This file is <source>/src/audit/merkle_test.cc.
  const fs::path source_dir = fs::path(__FILE__).parent_path().parent_path().parent_path();
#endif
  return source_dir.parent_path() / "shared" / "testdata";
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<fs::path> JsonFilesUnder(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_regular_file() && it->path().extension() == ".json") files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string Hex(const Hash& h) { return HexEncode(h); }

// A vector's byte string as a Hash. The vectors also carry values that are not 32 bytes: the
// placeholders "don't care 1/2", empty "garbage" proof entries, a 9-byte "WrongLeaf". A Hash
// cannot hold them, so such a value becomes SHA-256 of a tagged copy (tagged with its kind:
// root, leaf or proof). Equal placeholders of one kind stay equal (the reference verifier
// compares roots as bytes), and none can equal a real hash or a hash of another kind (the
// reference verifier refuses a leaf hash of the wrong size).
Hash VectorHash(const Bytes& bytes, std::string_view kind) {
  Hash h{};
  if (bytes.size() == h.size()) {
    std::copy(bytes.begin(), bytes.end(), h.begin());
    return h;
  }
  std::string tagged = "not a hash: " + std::string(kind) + ": ";
  tagged.append(AsChars(bytes));
  Bytes digest = crypto::Sha256(AsBytes(tagged));
  std::copy(digest.begin(), digest.end(), h.begin());
  return h;
}

// Reads and parses one vector file; fails the test on malformed input.
bool LoadVector(const fs::path& path, rapidjson::Document& doc) {
  const std::string text = ReadFile(path);
  doc.Parse(text.data(), text.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    ADD_FAILURE() << "cannot parse " << path;
    return false;
  }
  return true;
}

bool Field(const rapidjson::Value& obj, const char* name, uint64_t& out) {
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || !it->value.IsUint64()) return false;
  out = it->value.GetUint64();
  return true;
}

bool Field(const rapidjson::Value& obj, const char* name, std::string_view kind, Hash& out) {
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || !it->value.IsString()) return false;
  auto bytes =
      crypto::Base64Decode(std::string_view(it->value.GetString(), it->value.GetStringLength()));
  if (!bytes.ok()) return false;
  out = VectorHash(*bytes, kind);
  return true;
}

bool ProofField(const rapidjson::Value& obj, std::vector<Hash>& out) {
  auto it = obj.FindMember("proof");
  if (it == obj.MemberEnd()) return false;
  out.clear();
  if (it->value.IsNull()) return true;
  if (!it->value.IsArray()) return false;
  for (const auto& item : it->value.GetArray()) {
    if (!item.IsString()) return false;
    auto bytes = crypto::Base64Decode(std::string_view(item.GetString(), item.GetStringLength()));
    if (!bytes.ok()) return false;
    out.push_back(VectorHash(*bytes, "proof"));
  }
  return true;
}

bool WantErr(const rapidjson::Value& obj, bool& out) {
  auto it = obj.FindMember("wantErr");
  if (it == obj.MemberEnd() || !it->value.IsBool()) return false;
  out = it->value.GetBool();
  return true;
}

std::string Desc(const rapidjson::Value& obj) {
  auto it = obj.FindMember("desc");
  return it != obj.MemberEnd() && it->value.IsString() ? it->value.GetString() : "";
}

// The RFC 6962 reference leaves (the data, before leaf hashing) behind the vectors' trees.
std::vector<Hash> ReferenceLeafHashes() {
  const char* hex[] = {"",
                       "00",
                       "10",
                       "2021",
                       "3031",
                       "40414243",
                       "5051525354555657",
                       "606162636465666768696a6b6c6d6e6f"};
  std::vector<Hash> out;
  for (const char* h : hex) out.push_back(HashLeaf(*HexDecode(h)));
  return out;
}

Hash ReferenceRoot(uint64_t size) {
  const std::vector<Hash> leaves = ReferenceLeafHashes();
  if (size > leaves.size()) {
    ADD_FAILURE() << "no reference tree of size " << size;
    return Hash{};
  }
  return RootFromLeafHashes(std::span<const Hash>(leaves).first(size));
}

// A tree kept in memory the way the journal keeps it on disk: every complete node, by level.
class StoredTree {
 public:
  void Append(const Hash& leaf) {
    frontier_.Append(leaf, [this](int level, uint64_t index, const Hash& hash) {
      if (levels_.size() <= static_cast<size_t>(level)) levels_.resize(level + 1);
      auto& row = levels_[level];
      // Nodes arrive in order: each is the next one of its level.
      EXPECT_EQ(index, row.size()) << "level " << level;
      row.push_back(hash);
    });
  }
  const MerkleFrontier& frontier() const { return frontier_; }

  // Serves only nodes of complete subtrees of the first `size` leaves, and counts calls.
  NodeGetter Getter(uint64_t size, int* calls = nullptr) const {
    return [this, size, calls](int level, uint64_t index) -> Result<Hash> {
      if (calls != nullptr) ++*calls;
      if (level < 0 || level >= 64 || static_cast<size_t>(level) >= levels_.size()) {
        return NotFound("no level " + std::to_string(level));
      }
      if (((index + 1) << level) > size || index >= levels_[level].size()) {
        return NotFound("node " + std::to_string(level) + "/" + std::to_string(index) +
                        " is not a complete subtree of the tree of size " + std::to_string(size));
      }
      return levels_[level][index];
    };
  }

 private:
  MerkleFrontier frontier_;
  std::vector<std::vector<Hash>> levels_;
};

std::vector<Hash> RandomLeaves(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Hash> leaves;
  for (size_t i = 0; i < n; ++i) {
    Bytes data(1 + rng() % 64);
    for (auto& b : data) b = static_cast<uint8_t>(rng());
    leaves.push_back(HashLeaf(data));
  }
  return leaves;
}

std::span<const Hash> Prefix(const std::vector<Hash>& v, uint64_t n) {
  return std::span<const Hash>(v).first(n);
}

// (log2(n) + 1)^2 bounds the node reads of a proof.
int LogSquaredBound(uint64_t n) {
  const int w = std::bit_width(n) + 1;
  return w * w;
}

// ----- hashing -------------------------------------------------------------------------------

TEST(MerkleHashTest, DomainSeparatedSha256) {
  const Bytes data = ToBytes("record");
  Bytes prefixed = {0x00};
  prefixed.insert(prefixed.end(), data.begin(), data.end());
  const Bytes want_leaf = crypto::Sha256(prefixed);
  const Hash leaf = HashLeaf(data);
  EXPECT_EQ(Bytes(leaf.begin(), leaf.end()), want_leaf);

  const Hash a = HashLeaf(AsBytes("a"));
  const Hash b = HashLeaf(AsBytes("b"));
  Bytes node = {0x01};
  node.insert(node.end(), a.begin(), a.end());
  node.insert(node.end(), b.begin(), b.end());
  const Hash ab = HashChildren(a, b);
  EXPECT_EQ(Bytes(ab.begin(), ab.end()), crypto::Sha256(node));
  EXPECT_NE(HashChildren(a, b), HashChildren(b, a));

  const Hash empty = EmptyRoot();
  EXPECT_EQ(Bytes(empty.begin(), empty.end()), crypto::Sha256({}));
  EXPECT_EQ(RootFromLeafHashes({}), EmptyRoot());
  EXPECT_EQ(RootFromLeafHashes(std::span<const Hash>(&a, 1)), a);
}

TEST(MerkleHashTest, RootFromLeafHashesSplitsAtTheLargestPowerOfTwo) {
  const std::vector<Hash> l = RandomLeaves(7, 1);
  // Written out by hand from the RFC 9162 definition.
  const Hash h01 = HashChildren(l[0], l[1]);
  const Hash h23 = HashChildren(l[2], l[3]);
  const Hash h45 = HashChildren(l[4], l[5]);
  EXPECT_EQ(RootFromLeafHashes(Prefix(l, 2)), h01);
  EXPECT_EQ(RootFromLeafHashes(Prefix(l, 3)), HashChildren(h01, l[2]));
  EXPECT_EQ(RootFromLeafHashes(Prefix(l, 4)), HashChildren(h01, h23));
  EXPECT_EQ(RootFromLeafHashes(Prefix(l, 5)), HashChildren(HashChildren(h01, h23), l[4]));
  EXPECT_EQ(RootFromLeafHashes(Prefix(l, 7)),
            HashChildren(HashChildren(h01, h23), HashChildren(h45, l[6])));
}

// ----- RFC 6962 reference tree and published vectors -----------------------------------------

TEST(MerkleVectorsTest, ReferenceLeavesGiveTheVectorsRoots) {
  const fs::path dir = TestDataDir() / "merkle";
  int checked = 0;
  // Every honest vector's roots are roots of prefixes of the 8 reference leaves.
  for (const auto& path : JsonFilesUnder(dir / "inclusion")) {
    rapidjson::Document doc;
    if (!LoadVector(path, doc)) continue;
    bool want_err = true;
    if (!WantErr(doc, want_err) || want_err) continue;
    uint64_t index = 0;
    uint64_t size = 0;
    Hash root{};
    Hash leaf{};
    ASSERT_TRUE(Field(doc, "leafIdx", index) && Field(doc, "treeSize", size) &&
                Field(doc, "root", "root", root) && Field(doc, "leafHash", "leaf", leaf))
        << path;
    if (size > 8) continue;  // the single-entry vector uses another leaf
    if (leaf != ReferenceLeafHashes()[index]) continue;
    EXPECT_EQ(Hex(ReferenceRoot(size)), Hex(root)) << path;
    ++checked;
  }
  for (const auto& path : JsonFilesUnder(dir / "consistency")) {
    rapidjson::Document doc;
    if (!LoadVector(path, doc)) continue;
    bool want_err = true;
    if (!WantErr(doc, want_err) || want_err) continue;
    uint64_t size1 = 0;
    uint64_t size2 = 0;
    Hash root1{};
    Hash root2{};
    ASSERT_TRUE(Field(doc, "size1", size1) && Field(doc, "size2", size2) &&
                Field(doc, "root1", "root", root1) && Field(doc, "root2", "root", root2))
        << path;
    if (path.parent_path().filename() == "additional") continue;  // placeholder roots
    EXPECT_EQ(Hex(ReferenceRoot(size1)), Hex(root1)) << path;
    EXPECT_EQ(Hex(ReferenceRoot(size2)), Hex(root2)) << path;
    ++checked;
  }
  EXPECT_GT(checked, 5);

  // The root of all 8 reference leaves, as the tree-of-8 happy path states it.
  rapidjson::Document doc;
  ASSERT_TRUE(LoadVector(dir / "inclusion" / "1" / "happy-path.json", doc));
  uint64_t size = 0;
  Hash root{};
  ASSERT_TRUE(Field(doc, "treeSize", size) && Field(doc, "root", "root", root));
  ASSERT_EQ(size, 8u);
  EXPECT_EQ(Hex(RootFromLeafHashes(ReferenceLeafHashes())), Hex(root));
}

TEST(MerkleVectorsTest, InclusionVectorsAgreeWithTheReferenceVerifier) {
  const fs::path dir = TestDataDir() / "merkle" / "inclusion";
  int read = 0;
  int honest = 0;
  for (const auto& path : JsonFilesUnder(dir)) {
    rapidjson::Document doc;
    if (!LoadVector(path, doc)) continue;
    uint64_t index = 0;
    uint64_t size = 0;
    Hash root{};
    Hash leaf{};
    std::vector<Hash> proof;
    bool want_err = false;
    ASSERT_TRUE(Field(doc, "leafIdx", index) && Field(doc, "treeSize", size) &&
                Field(doc, "root", "root", root) && Field(doc, "leafHash", "leaf", leaf) &&
                ProofField(doc, proof) && WantErr(doc, want_err))
        << "malformed vector " << path;
    const Status status = VerifyInclusion(index, size, leaf, proof, root);
    EXPECT_EQ(status.ok(), !want_err) << path << " (" << Desc(doc) << "): " << status.ToString();
    if (!status.ok()) {
      EXPECT_TRUE(status.code() == Code::kDataLoss || status.code() == Code::kInvalidArgument)
          << path;
    }
    ++read;
    honest += want_err ? 0 : 1;
  }
  std::printf("[ vectors  ] %d inclusion vectors read from %s (%d honest)\n", read, dir.c_str(),
              honest);
  EXPECT_GT(read, 0) << "no vectors under " << dir << " (set HYGIE_TESTDATA)";
  EXPECT_GT(honest, 0);
}

TEST(MerkleVectorsTest, ConsistencyVectorsAgreeWithTheReferenceVerifier) {
  const fs::path dir = TestDataDir() / "merkle" / "consistency";
  int read = 0;
  int honest = 0;
  for (const auto& path : JsonFilesUnder(dir)) {
    rapidjson::Document doc;
    if (!LoadVector(path, doc)) continue;
    uint64_t size1 = 0;
    uint64_t size2 = 0;
    Hash root1{};
    Hash root2{};
    std::vector<Hash> proof;
    bool want_err = false;
    ASSERT_TRUE(Field(doc, "size1", size1) && Field(doc, "size2", size2) &&
                Field(doc, "root1", "root", root1) && Field(doc, "root2", "root", root2) &&
                ProofField(doc, proof) && WantErr(doc, want_err))
        << "malformed vector " << path;
    const Status status = VerifyConsistency(size1, size2, root1, root2, proof);
    EXPECT_EQ(status.ok(), !want_err) << path << " (" << Desc(doc) << "): " << status.ToString();
    if (!status.ok()) {
      EXPECT_TRUE(status.code() == Code::kDataLoss || status.code() == Code::kInvalidArgument)
          << path;
    }
    ++read;
    honest += want_err ? 0 : 1;
  }
  std::printf("[ vectors  ] %d consistency vectors read from %s (%d honest)\n", read, dir.c_str(),
              honest);
  EXPECT_GT(read, 0) << "no vectors under " << dir << " (set HYGIE_TESTDATA)";
  EXPECT_GT(honest, 0);
}

// Proofs generated from the reference leaves are the vectors' own honest proofs.
TEST(MerkleVectorsTest, GeneratedProofsEqualTheVectorsHonestProofs) {
  StoredTree tree;
  for (const Hash& leaf : ReferenceLeafHashes()) tree.Append(leaf);
  int compared = 0;
  for (const char* kind : {"inclusion", "consistency"}) {
    for (const auto& path : JsonFilesUnder(TestDataDir() / "merkle" / kind)) {
      if (path.filename() != "happy-path.json") continue;
      rapidjson::Document doc;
      if (!LoadVector(path, doc)) continue;
      std::vector<Hash> want;
      ASSERT_TRUE(ProofField(doc, want));
      Result<std::vector<Hash>> got = std::vector<Hash>();
      if (std::string_view(kind) == "inclusion") {
        uint64_t index = 0;
        uint64_t size = 0;
        ASSERT_TRUE(Field(doc, "leafIdx", index) && Field(doc, "treeSize", size));
        if (size > 8) continue;
        got = InclusionProof(index, size, tree.Getter(size));
      } else {
        uint64_t size1 = 0;
        uint64_t size2 = 0;
        ASSERT_TRUE(Field(doc, "size1", size1) && Field(doc, "size2", size2));
        got = ConsistencyProof(size1, size2, tree.Getter(size2));
      }
      ASSERT_TRUE(got.ok()) << path << ": " << got.status().ToString();
      ASSERT_EQ(got->size(), want.size()) << path;
      for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(Hex((*got)[i]), Hex(want[i])) << path;
      ++compared;
    }
  }
  EXPECT_GE(compared, 8);
}

// ----- generated trees -----------------------------------------------------------------------

constexpr uint64_t kMaxProofTree = 130;

// Flips bits of each proof hash (every bit for small trees, four otherwise) and expects a
// refusal.
template <typename Verify>
void ExpectEveryFlipRejected(const std::vector<Hash>& proof, bool all_bits, uint64_t salt,
                             const Verify& verify) {
  for (size_t i = 0; i < proof.size(); ++i) {
    std::vector<Hash> bad = proof;
    if (all_bits) {
      for (size_t bit = 0; bit < 256; ++bit) {
        bad[i][bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
        EXPECT_FALSE(verify(bad).ok()) << "proof[" << i << "] bit " << bit;
        bad[i][bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
      }
    } else {
      // Four bits in different bytes, at positions that move with the tree and the index.
      for (size_t k = 0; k < 4; ++k) {
        const size_t bit = (salt * 37 + i * 101 + k * 67) % 256;
        bad[i][bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
        EXPECT_FALSE(verify(bad).ok()) << "proof[" << i << "] bit " << bit;
        bad[i][bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
      }
    }
  }
}

TEST(MerkleProofTest, InclusionProofsOfEveryLeafVerifyAndMutationsFail) {
  const std::vector<Hash> leaves = RandomLeaves(kMaxProofTree + 1, 42);
  StoredTree tree;
  std::vector<Hash> roots = {EmptyRoot()};  // roots[n]: the tree of the first n leaves
  for (uint64_t n = 1; n <= kMaxProofTree + 1; ++n) {
    tree.Append(leaves[n - 1]);
    roots.push_back(RootFromLeafHashes(Prefix(leaves, n)));
  }
  for (uint64_t n = 1; n <= kMaxProofTree; ++n) {
    const Hash& root = roots[n];
    for (uint64_t i = 0; i < n; ++i) {
      int calls = 0;
      auto proof = InclusionProof(i, n, tree.Getter(n, &calls));
      ASSERT_TRUE(proof.ok()) << n << "/" << i << ": " << proof.status().ToString();
      EXPECT_LE(calls, LogSquaredBound(n));
      ASSERT_TRUE(VerifyInclusion(i, n, leaves[i], *proof, root).ok()) << n << "/" << i;

      ExpectEveryFlipRejected(*proof, n <= 20, n * 131 + i, [&](const std::vector<Hash>& bad) {
        return VerifyInclusion(i, n, leaves[i], bad, root);
      });
      // Another leaf, index or tree (with that tree's own root) is refused.
      EXPECT_FALSE(VerifyInclusion(i, n, leaves[(i + 1) % (n + 1)], *proof, root).ok());
      if (i > 0) {
        EXPECT_FALSE(VerifyInclusion(i - 1, n, leaves[i], *proof, root).ok());
      }
      if (i + 1 < n) {
        EXPECT_FALSE(VerifyInclusion(i + 1, n, leaves[i], *proof, root).ok());
      }
      EXPECT_FALSE(VerifyInclusion(i, n + 1, leaves[i], *proof, roots[n + 1]).ok());
      if (i < n - 1) {
        EXPECT_FALSE(VerifyInclusion(i, n - 1, leaves[i], *proof, roots[n - 1]).ok());
      }
      EXPECT_FALSE(VerifyInclusion(i, 2 * n, leaves[i], *proof, root).ok());
      EXPECT_EQ(VerifyInclusion(n, n, leaves[i], *proof, root).code(), Code::kInvalidArgument);
      // A shorter or longer proof is refused.
      std::vector<Hash> longer = *proof;
      longer.push_back(root);
      EXPECT_EQ(VerifyInclusion(i, n, leaves[i], longer, root).code(), Code::kDataLoss);
      if (!proof->empty()) {
        std::vector<Hash> shorter(proof->begin(), proof->end() - 1);
        EXPECT_EQ(VerifyInclusion(i, n, leaves[i], shorter, root).code(), Code::kDataLoss);
      }
    }
  }
}

TEST(MerkleProofTest, ConsistencyProofsBetweenEverySizesVerifyAndMutationsFail) {
  const std::vector<Hash> leaves = RandomLeaves(kMaxProofTree + 1, 7);
  StoredTree tree;
  std::vector<Hash> roots = {EmptyRoot()};
  for (uint64_t n = 1; n <= kMaxProofTree + 1; ++n) {
    tree.Append(leaves[n - 1]);
    roots.push_back(RootFromLeafHashes(Prefix(leaves, n)));
  }
  for (uint64_t n2 = 1; n2 <= kMaxProofTree; ++n2) {
    for (uint64_t n1 = 1; n1 <= n2; ++n1) {
      int calls = 0;
      auto proof = ConsistencyProof(n1, n2, tree.Getter(n2, &calls));
      ASSERT_TRUE(proof.ok()) << n1 << "->" << n2 << ": " << proof.status().ToString();
      EXPECT_LE(calls, LogSquaredBound(n2));
      ASSERT_TRUE(VerifyConsistency(n1, n2, roots[n1], roots[n2], *proof).ok()) << n1 << "->" << n2;
      if (n1 == n2) {
        EXPECT_TRUE(proof->empty());
        EXPECT_FALSE(VerifyConsistency(n1, n2, roots[n1], roots[n1 - 1], *proof).ok());
        continue;
      }
      ExpectEveryFlipRejected(*proof, n2 <= 20, n1 * 977 + n2, [&](const std::vector<Hash>& bad) {
        return VerifyConsistency(n1, n2, roots[n1], roots[n2], bad);
      });
      // Other sizes (with their own roots), swapped or wrong roots are refused.
      EXPECT_FALSE(VerifyConsistency(n1, n2 + 1, roots[n1], roots[n2 + 1], *proof).ok());
      if (n1 + 1 < n2) {
        EXPECT_FALSE(VerifyConsistency(n1 + 1, n2, roots[n1 + 1], roots[n2], *proof).ok());
      }
      if (n1 > 1) {
        EXPECT_FALSE(VerifyConsistency(n1 - 1, n2, roots[n1 - 1], roots[n2], *proof).ok());
      }
      EXPECT_FALSE(VerifyConsistency(n1, n2, roots[n2], roots[n1], *proof).ok());
      EXPECT_FALSE(VerifyConsistency(n1, n2, roots[n1], roots[n2 + 1], *proof).ok());
      EXPECT_FALSE(VerifyConsistency(n1, n2, roots[n1 - 1], roots[n2], *proof).ok());
      EXPECT_EQ(VerifyConsistency(n2, n1, roots[n2], roots[n1], *proof).code(),
                Code::kInvalidArgument);
      EXPECT_EQ(VerifyConsistency(n1, n2, roots[n1], roots[n2], {}).code(), Code::kDataLoss);
      std::vector<Hash> longer = *proof;
      longer.push_back(roots[n2]);
      EXPECT_EQ(VerifyConsistency(n1, n2, roots[n1], roots[n2], longer).code(), Code::kDataLoss);
    }
  }
}

TEST(MerkleProofTest, BadParametersAreInvalidArguments) {
  StoredTree tree;
  for (const Hash& leaf : RandomLeaves(10, 3)) tree.Append(leaf);
  const NodeGetter nodes = tree.Getter(10);
  EXPECT_EQ(InclusionProof(10, 10, nodes).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(InclusionProof(0, 0, nodes).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ConsistencyProof(0, 10, nodes).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ConsistencyProof(0, 0, nodes).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ConsistencyProof(6, 5, nodes).status().code(), Code::kInvalidArgument);
  auto same = ConsistencyProof(10, 10, nodes);
  ASSERT_TRUE(same.ok());
  EXPECT_TRUE(same->empty());

  const Hash h = HashLeaf(AsBytes("x"));
  EXPECT_EQ(VerifyInclusion(0, 0, h, {}, h).code(), Code::kInvalidArgument);
  EXPECT_EQ(VerifyConsistency(0, 0, EmptyRoot(), EmptyRoot(), {}).code(), Code::kInvalidArgument);
  EXPECT_EQ(VerifyConsistency(0, 3, EmptyRoot(), h, {}).code(), Code::kInvalidArgument);
  EXPECT_EQ(VerifyConsistency(4, 3, h, h, {}).code(), Code::kInvalidArgument);
  // Huge sizes do not overflow the decomposition.
  const uint64_t max = UINT64_MAX;
  EXPECT_FALSE(VerifyInclusion(max - 1, max, h, {}, h).ok());
  EXPECT_FALSE(VerifyInclusion(0, max, h, {}, h).ok());
  EXPECT_FALSE(VerifyConsistency(1, max, h, h, std::vector<Hash>(3, h)).ok());
  EXPECT_FALSE(VerifyConsistency(max - 1, max, h, h, std::vector<Hash>(3, h)).ok());
}

TEST(MerkleProofTest, NodeGetterErrorsArePassedOn) {
  const NodeGetter failing = [](int, uint64_t) -> Result<Hash> { return Unavailable("disk gone"); };
  EXPECT_EQ(InclusionProof(3, 10, failing).status().code(), Code::kUnavailable);
  EXPECT_EQ(ConsistencyProof(3, 10, failing).status().code(), Code::kUnavailable);
  EXPECT_EQ(RangeHash(0, 10, failing).status().code(), Code::kUnavailable);
  EXPECT_EQ(MerkleFrontier::FromNodes(10, failing).status().code(), Code::kUnavailable);
  // No node is needed for these.
  auto one = InclusionProof(0, 1, failing);
  ASSERT_TRUE(one.ok());
  EXPECT_TRUE(one->empty());
  auto empty = RangeHash(5, 5, failing);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, EmptyRoot());
  auto none = MerkleFrontier::FromNodes(0, failing);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->Root(), EmptyRoot());
}

TEST(MerkleRangeTest, EverySubtreeRangeHashesLikeItsLeaves) {
  constexpr uint64_t kSize = 130;
  const std::vector<Hash> leaves = RandomLeaves(kSize, 11);
  StoredTree tree;
  for (const Hash& leaf : leaves) tree.Append(leaf);
  int subtrees = 0;
  int not_subtrees = 0;
  for (uint64_t begin = 0; begin <= kSize; ++begin) {
    for (uint64_t end = begin; end <= kSize; ++end) {
      const uint64_t n = end - begin;
      const bool is_subtree = n <= 1 || begin % std::bit_ceil(n) == 0;
      int calls = 0;
      auto got = RangeHash(begin, end, tree.Getter(kSize, &calls));
      if (!is_subtree) {
        EXPECT_EQ(got.status().code(), Code::kInvalidArgument) << begin << ".." << end;
        ++not_subtrees;
        continue;
      }
      ASSERT_TRUE(got.ok()) << begin << ".." << end << ": " << got.status().ToString();
      const auto range = std::span<const Hash>(leaves).subspan(begin, n);
      EXPECT_EQ(Hex(*got), Hex(RootFromLeafHashes(range))) << begin << ".." << end;
      EXPECT_LE(calls, std::bit_width(n));
      ++subtrees;
    }
  }
  EXPECT_GT(subtrees, static_cast<int>(kSize));  // at least every [0, n) and [i, i + 1)
  EXPECT_GT(not_subtrees, 0);
  EXPECT_EQ(RangeHash(5, 4, tree.Getter(kSize)).status().code(), Code::kInvalidArgument);
}

// ----- frontier ------------------------------------------------------------------------------

TEST(MerkleFrontierTest, RootMatchesRootFromLeafHashesForEverySize) {
  constexpr uint64_t kMax = 300;
  const std::vector<Hash> leaves = RandomLeaves(kMax, 5);
  StoredTree tree;
  EXPECT_EQ(tree.frontier().size(), 0u);
  EXPECT_EQ(tree.frontier().Root(), EmptyRoot());
  for (uint64_t n = 1; n <= kMax; ++n) {
    tree.Append(leaves[n - 1]);
    ASSERT_EQ(tree.frontier().size(), n);
    ASSERT_EQ(Hex(tree.frontier().Root()), Hex(RootFromLeafHashes(Prefix(leaves, n)))) << n;
  }
  // Rebuilt from stored nodes, the frontier of every size is the same and goes on the same.
  for (uint64_t n = 0; n <= kMax; ++n) {
    int calls = 0;
    auto rebuilt = MerkleFrontier::FromNodes(n, tree.Getter(n, &calls));
    ASSERT_TRUE(rebuilt.ok()) << n << ": " << rebuilt.status().ToString();
    EXPECT_EQ(calls, std::popcount(n));
    EXPECT_EQ(rebuilt->size(), n);
    EXPECT_EQ(Hex(rebuilt->Root()), Hex(RootFromLeafHashes(Prefix(leaves, n)))) << n;

    MerkleFrontier replay;
    for (uint64_t i = 0; i < n; ++i) replay.Append(leaves[i], nullptr);
    EXPECT_TRUE(*rebuilt == replay) << n;
    if (n + 1 <= kMax) {
      rebuilt->Append(leaves[n], nullptr);
      replay.Append(leaves[n], nullptr);
      EXPECT_TRUE(*rebuilt == replay) << n;
      EXPECT_EQ(Hex(rebuilt->Root()), Hex(RootFromLeafHashes(Prefix(leaves, n + 1)))) << n;
      EXPECT_FALSE(*rebuilt == MerkleFrontier()) << n;
    }
  }
}

TEST(MerkleFrontierTest, AppendReportsEachCompletedNodeBottomUp) {
  constexpr uint64_t kMax = 70;
  const std::vector<Hash> leaves = RandomLeaves(kMax, 9);
  MerkleFrontier frontier;
  for (uint64_t i = 0; i < kMax; ++i) {
    struct Node {
      int level;
      uint64_t index;
      Hash hash;
    };
    std::vector<Node> seen;
    frontier.Append(leaves[i], [&](int level, uint64_t index, const Hash& hash) {
      seen.push_back({level, index, hash});
    });
    // Leaf i completes one node per trailing one bit of i, plus the leaf itself.
    ASSERT_EQ(seen.size(), static_cast<size_t>(std::countr_one(i)) + 1) << i;
    for (size_t k = 0; k < seen.size(); ++k) {
      EXPECT_EQ(seen[k].level, static_cast<int>(k)) << i;
      EXPECT_EQ(seen[k].index, i >> k) << i;
      const auto range = std::span<const Hash>(leaves).subspan(seen[k].index << k, 1u << k);
      EXPECT_EQ(Hex(seen[k].hash), Hex(RootFromLeafHashes(range))) << i << " level " << k;
    }
  }
}

}  // namespace
}  // namespace hygie::audit
