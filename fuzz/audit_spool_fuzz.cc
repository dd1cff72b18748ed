// The audit spool's reader (audit/spool.h ScanSpool): the sealed record files, the counter and
// the ingested mark that the command line leaves for the server. Input: files, each as one
// control byte (low bits: which file, an index into kFiles; bit 7: seal it), a u16le length and
// its bytes. A sealed file is sealed here as spool.cc seals it (checked once against
// SpoolRecord's own output), so that the reader is reached past the seal; for a record file the
// bytes are its header line and record line, split at the first newline.
// Invariants: ScanSpool answers (a damaged spool is a list of problems, not an error or a
// crash); every pending entry is sealed, numbered beyond the ingested mark, and in order.
#include <filesystem>
#include <fstream>
#include <string>

#include "audit/record.h"
#include "audit/spool.h"
#include "core/temp_dir.h"
#include "crypto/primitives.h"
#include "fuzz/fuzz_support.h"

using namespace hygie;

namespace {

constexpr const char* kFiles[] = {
    "counter",
    "ingested",
    "00000000000000000001.rec",
    "00000000000000000002.rec",
    "00000000000000000003.rec",
    "00000000000000000009.rec",
    "notes.txt",
};
constexpr size_t kFileCount = sizeof(kFiles) / sizeof(kFiles[0]);
// The labels of spool.cc's seals.
constexpr std::string_view kRecordLabel = "hygie audit spool record v1\n";
constexpr std::string_view kCounterLabel = "hygie audit spool counter v1\n";
constexpr std::string_view kIngestedLabel = "hygie audit spool ingested v1\n";

std::string Mac(const crypto::SecretKey& key, std::string_view label, std::string_view text) {
  std::string signed_text(label);
  signed_text.append(text);
  return crypto::Base64Encode(crypto::HmacSha256(key, AsBytes(signed_text)));
}

std::string Seal(const crypto::SecretKey& key, std::string_view name, std::string_view bytes) {
  if (name == "counter") return std::string(bytes) + "\n" + Mac(key, kCounterLabel, bytes) + "\n";
  if (name == "ingested") return std::string(bytes) + "\n" + Mac(key, kIngestedLabel, bytes) + "\n";
  return std::string(bytes) + "\n" + Mac(key, kRecordLabel, bytes) + "\n";
}

struct Fixture {
  test_support::TempDir dir{"hygie-fuzz-spool"};
  crypto::SecretKey key =
      std::move(audit::SpoolKey(crypto::SecretKey::FromBytes(Bytes(32, 2)))).value();
  Fixture() {
    // The seals made here are those SpoolRecord makes.
    audit::Record r;
    r.interaction = "tenant-create";
    r.status = 201;
    FUZZ_CHECK(audit::SpoolRecord(dir.path(), key, r, audit::kSystemTree).ok());
    std::ifstream in(dir.Path("_spool/00000000000000000001.rec"), std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t mac = text.rfind('\n', text.size() - 2);
    FUZZ_CHECK(mac != std::string::npos);
    FUZZ_CHECK(Seal(key, "1.rec", text.substr(0, mac)) == text);
    std::filesystem::remove_all(dir.Path("_spool"));
  }
};

Fixture& F() {
  static Fixture* f = new Fixture;
  return *f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string spool = F().dir.Path("_spool");
  std::error_code ec;
  std::filesystem::remove_all(spool, ec);
  std::filesystem::create_directory(spool, ec);
  FUZZ_CHECK(!ec);
  size_t pos = 0;
  while (pos + 3 <= size) {
    const char* name = kFiles[(data[pos] & 0x7f) % kFileCount];
    const bool seal = data[pos] & 0x80;
    const size_t length = std::min<size_t>(data[pos + 1] | (data[pos + 2] << 8), size - pos - 3);
    std::string bytes(fuzz::Text(data + pos + 3, length));
    pos += 3 + length;
    if (seal) bytes = Seal(F().key, name, bytes);
    std::ofstream(spool + "/" + name, std::ios::binary | std::ios::trunc)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  auto scan = audit::ScanSpool(F().dir.path(), F().key);
  FUZZ_CHECK(scan.ok());
  uint64_t previous = scan->ingested;
  for (const audit::SpoolEntry& e : scan->pending) {
    FUZZ_CHECK(e.n > previous);
    previous = e.n;
  }
  FUZZ_CHECK(scan->counter >= scan->ingested);
  return 0;
}
