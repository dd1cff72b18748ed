// The journal's file readers (audit/journal_io.h: segment frames, pruned segments, the frames
// of checkpoints.log) and the offline verifier that reads a whole tree from disk
// (audit/verify.h VerifyTree, behind `hygie audit verify`). Input: the files of one tree, each
// as one byte naming the file (an index into kFiles), a u16le length and its bytes; the seeds
// are trees written by the journal (fuzz/corpus_gen.cc).
// Invariants: a damaged tree is kDataLoss (never a crash, never another code); the frame reader
// always moves forward and stays within the bytes.
#include <filesystem>
#include <fstream>
#include <string>

#include "audit/journal.h"
#include "audit/journal_format.h"
#include "audit/journal_io.h"
#include "audit/verify.h"
#include "core/temp_dir.h"
#include "fuzz/fuzz_support.h"

using namespace hygie;
namespace io = audit::journal_io;

namespace {

constexpr const auto& kFiles = fuzz::kAuditTreeFiles;
constexpr size_t kFileCount = std::size(kFiles);

struct Fixture {
  test_support::TempDir dir{"hygie-fuzz-audit"};
  audit::TreeKeys keys = std::move(audit::TreeKeys::Derive(Bytes(32, 1))).value();
};

Fixture& F() {
  static Fixture* f = new Fixture;
  return *f;
}

void CheckFrames(std::string_view data) {
  uint64_t offset =
      data.starts_with(audit::format::kSegmentMagic) ? audit::format::kSegmentMagic.size() : 0;
  for (;;) {
    const uint64_t before = offset;
    std::string_view json;
    io::Mac mac;
    auto more = io::NextFrame(data, &offset, &json, &mac);
    if (!more.ok()) {
      FUZZ_CHECK(more.status().code() == Code::kDataLoss);
      break;
    }
    if (!*more) break;
    FUZZ_CHECK(offset > before && offset <= data.size());
    (void)audit::DecodeRecord(json);
  }
  (void)io::ZeroFrom(data, offset);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string tree = F().dir.Path("acme");
  std::error_code ec;
  std::filesystem::remove_all(tree, ec);
  std::filesystem::create_directory(tree, ec);
  FUZZ_CHECK(!ec);
  size_t pos = 0;
  while (pos + 3 <= size) {
    const size_t file = data[pos] % kFileCount;
    const size_t length = std::min<size_t>(data[pos + 1] | (data[pos + 2] << 8), size - pos - 3);
    std::string_view bytes = fuzz::Text(data + pos + 3, length);
    pos += 3 + length;
    std::ofstream(tree + "/" + kFiles[file], std::ios::binary | std::ios::app)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    const std::string name = kFiles[file];
    if (name.ends_with(".log") && name.starts_with("seg-")) CheckFrames(bytes);
    if (name.ends_with(".pruned")) {
      auto pruned = io::ParsePruned(bytes);
      if (!pruned.ok()) FUZZ_CHECK(pruned.status().code() == Code::kDataLoss);
    }
    if (name == "checkpoints.log") {
      uint64_t end = 0;
      (void)io::CheckpointFrames(bytes, &end);
      FUZZ_CHECK(end <= bytes.size());
    }
  }
  audit::VerifyReport report;
  Status s = audit::VerifyTree(tree, "hygie/acme", F().keys, &report);
  if (!s.ok()) FUZZ_CHECK(s.code() == Code::kDataLoss);
  return 0;
}
