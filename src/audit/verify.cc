#include "audit/verify.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "audit/checkpoint.h"
#include "audit/journal_format.h"
#include "audit/journal_io.h"
#include "audit/merkle.h"
#include "audit/record.h"
#include "crypto/primitives.h"

namespace hygie::audit {

using namespace journal_io;  // NOLINT(build/namespaces): the journal's own file helpers

namespace {

std::string N(uint64_t v) { return std::to_string(v); }

// Whether another process holds the tree's writer lock.
bool HeldByWriter(const std::string& dir) {
  int fd = ::open((dir + "/lock").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool held = ::flock(fd, LOCK_SH | LOCK_NB) != 0;
  ::close(fd);
  return held;
}

}  // namespace

Status VerifyTree(const std::string& dir, const std::string& origin, const TreeKeys& keys,
                  VerifyReport* report) {
  *report = VerifyReport{};
  report->live = HeldByWriter(dir);
  HYGIE_ASSIGN_OR_RETURN(NoteSigner signer,
                         NoteSigner::FromSeed(origin, keys.signing_seed.bytes()));
  HYGIE_ASSIGN_OR_RETURN(NoteVerifier verifier, NoteVerifier::Parse(signer.VerifierKey()));

  // 1. Records, segment by segment, in their places and unaltered.
  std::vector<std::vector<Hash>> nodes(1);
  MerkleFrontier frontier;
  auto on_node = [&nodes](int level, uint64_t index, const Hash& h) {
    if (static_cast<size_t>(level) >= nodes.size()) nodes.resize(level + 1);
    if (nodes[level].size() != index) return;  // cannot happen: nodes complete in order
    nodes[level].push_back(h);
  };
  Mac mac{};
  HYGIE_ASSIGN_OR_RETURN(auto segments, ListSegments(dir));
  uint64_t expected = 0;
  for (auto [first, pruned] : segments) {
    std::string path = dir + "/" + SegmentName(first, pruned);
    if (first != expected) {
      return DataLoss("segment " + SegmentName(first, pruned) + " starts at record " + N(first) +
                      " where record " + N(expected) +
                      " was expected: records were removed or inserted before it");
    }
    HYGIE_ASSIGN_OR_RETURN(std::string data, ReadFile(path));
    report->segments++;
    if (pruned) {
      auto pf = ParsePruned(data);
      if (!pf.ok() || pf->first != first) {
        return DataLoss("record " + N(first) + ": the pruned segment " +
                        SegmentName(first, pruned) + " is malformed");
      }
      for (const Hash& leaf : pf->leaves) {
        mac = ChainMac(*keys.chain, mac, leaf);
        frontier.Append(leaf, on_node);
      }
      if (!crypto::ConstantTimeEquals(ByteView(mac.data(), mac.size()),
                                      ByteView(pf->last_mac.data(), pf->last_mac.size()))) {
        return DataLoss("records " + N(first) + " to " + N(first + pf->count - 1) +
                        " (pruned): their leaf hashes were altered");
      }
      expected += pf->count;
      report->pruned_records += pf->count;
      continue;
    }
    if (data.substr(0, format::kSegmentMagic.size()) != format::kSegmentMagic) {
      return DataLoss("record " + N(expected) + ": segment " + SegmentName(first, pruned) +
                      " has a bad header");
    }
    uint64_t off = format::kSegmentMagic.size();
    for (;;) {
      std::string_view json;
      Mac stored;
      auto more = NextFrame(data, &off, &json, &stored);
      if (!more.ok()) {
        return DataLoss("record " + N(expected) + ": " + more.status().message() + " in " +
                        SegmentName(first, pruned) + " (truncated or altered)");
      }
      if (!*more) {
        if (!ZeroFrom(data, off)) {
          return DataLoss("record " + N(expected) + ": bytes after the end of the records in " +
                          SegmentName(first, pruned) + " (altered)");
        }
        break;
      }
      auto record = DecodeRecord(json);
      if (!record.ok()) {
        return DataLoss("record " + N(expected) + ": altered (no longer a well-formed record)");
      }
      if (record->index != expected) {
        return DataLoss("record " + N(expected) + ": out of place (it holds record " +
                        N(record->index) + "): records were inserted, removed or reordered");
      }
      Hash leaf = LeafOf(json);
      mac = ChainMac(*keys.chain, mac, leaf);
      if (!crypto::ConstantTimeEquals(ByteView(mac.data(), mac.size()),
                                      ByteView(stored.data(), stored.size()))) {
        return DataLoss("record " + N(expected) + ": altered (its chain MAC does not match)");
      }
      frontier.Append(leaf, on_node);
      ++expected;
    }
  }
  report->records = expected;
  NodeGetter getter = [&nodes](int level, uint64_t index) -> Result<Hash> {
    if (static_cast<size_t>(level) >= nodes.size() || index >= nodes[level].size()) {
      return DataLoss("no such node");
    }
    return nodes[level][index];
  };

  // 2. Checkpoints: signed, growing, matching the records, consistent with each other.
  auto cp_data = ReadFile(dir + "/checkpoints.log");
  std::string cps_text;
  if (cp_data.ok()) {
    cps_text = std::move(cp_data).value();
  } else if (cp_data.status().code() != Code::kNotFound) {
    return cp_data.status();
  }
  uint64_t end = 0;
  std::vector<std::string> notes = CheckpointFrames(cps_text, &end);
  if (end != cps_text.size()) {
    return DataLoss("checkpoint " + N(notes.size() + 1) +
                    ": the checkpoint file is truncated or altered after checkpoint " +
                    N(notes.size()));
  }
  uint64_t prev_size = 0;
  Hash prev_root{};
  for (size_t k = 0; k < notes.size(); ++k) {
    std::string name = "checkpoint " + N(k + 1);
    auto cp = verifier.Open(notes[k]);
    if (!cp.ok())
      return DataLoss(name + ": bad signature or format (" + cp.status().message() + ")");
    if (cp->origin != origin) return DataLoss(name + ": wrong origin " + cp->origin);
    if (cp->size < prev_size) return DataLoss(name + ": the tree shrank from " + N(prev_size));
    if (cp->size > expected) {
      return DataLoss(name + " covers " + N(cp->size) + " records but the journal holds " +
                      N(expected) + ": record " + N(expected) +
                      " and later ones were removed (truncated)");
    }
    auto root = RangeHash(0, cp->size, getter);
    if (!root.ok()) return root.status();
    if (*root != cp->root) {
      return DataLoss(name + " (size " + N(cp->size) +
                      "): its root does not match the records below it");
    }
    if (k > 0 && prev_size > 0) {
      auto proof = audit::ConsistencyProof(prev_size, cp->size, getter);
      if (!proof.ok()) return proof.status();
      Status s = VerifyConsistency(prev_size, cp->size, prev_root, cp->root, *proof);
      if (!s.ok())
        return DataLoss(name + ": not consistent with checkpoint " + N(k) + ": " + s.message());
    }
    prev_size = cp->size;
    prev_root = cp->root;
  }
  report->checkpoints = notes.size();
  report->checked_size = prev_size;
  if (expected > prev_size) {
    report->uncovered = expected - prev_size;
    if (!report->live) {
      return DataLoss("record " + N(prev_size) + ": records " + N(prev_size) + " to " +
                      N(expected - 1) +
                      " are not covered by a signed checkpoint (checkpoints were removed or "
                      "records added)");
    }
  }

  // 3. The stored tree nodes (what proofs are served from) equal the recomputed ones.
  for (size_t level = 0; level < nodes.size(); ++level) {
    auto stored = ReadFile(dir + "/" + LevelName(static_cast<int>(level)));
    std::string bytes = stored.ok() ? std::move(stored).value() : std::string();
    uint64_t want = nodes[level].size();
    uint64_t have = bytes.size() / format::kHashBytes;
    // Shorter is a cache that lags (rebuilt when the journal opens); anything else is damage.
    if (bytes.size() % format::kHashBytes != 0 || have > want) {
      return DataLoss("tree node file " + LevelName(static_cast<int>(level)) + " holds " + N(have) +
                      " nodes where the records give " + N(want));
    }
    for (uint64_t i = 0; i < have; ++i) {
      if (std::memcmp(bytes.data() + i * format::kHashBytes, nodes[level][i].data(),
                      format::kHashBytes) != 0) {
        return DataLoss("tree node file " + LevelName(static_cast<int>(level)) +
                        " differs from the records at node " + N(i));
      }
    }
  }
  auto vkey = ReadFile(dir + "/verifier.key");
  if (vkey.ok() && *vkey != signer.VerifierKey() + "\n") {
    return DataLoss("verifier.key does not hold the tree's checkpoint key");
  }
  return Status::Ok();
}

}  // namespace hygie::audit
