#include "audit/spool.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "core/bytes.h"
#include "core/file_lock.h"
#include "crypto/primitives.h"

namespace hygie::audit {

namespace {

constexpr std::string_view kRecordLabel = "hygie audit spool record v1\n";
constexpr std::string_view kCounterLabel = "hygie audit spool counter v1\n";
constexpr std::string_view kIngestedLabel = "hygie audit spool ingested v1\n";
constexpr size_t kMaxSpoolFile = 1u << 20;
// Missing records listed one by one in a scan; the others are counted in one problem.
constexpr uint64_t kMaxMissingListed = 100;

// The system tree, or a tenant's: [a-z0-9-], 2 to 63 characters.
bool IsSpoolTree(std::string_view tree) {
  if (tree == kSystemTree) return true;
  if (tree.size() < 2 || tree.size() > 63) return false;
  for (char c : tree) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

std::string SpoolDir(const std::string& audit_dir) { return audit_dir + "/_spool"; }

std::string FileName(uint64_t n) {
  char name[40];
  std::snprintf(name, sizeof name, "%020llu.rec", static_cast<unsigned long long>(n));
  return name;
}

bool ParseFileName(std::string_view name, uint64_t* n) {
  if (name.size() != 24 || name.substr(20) != ".rec") return false;
  uint64_t v = 0;
  for (char c : name.substr(0, 20)) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *n = v;
  return true;
}

std::string Mac(const crypto::SecretKey& key, std::string_view label, std::string_view text) {
  std::string signed_text(label);
  signed_text.append(text);
  return crypto::Base64Encode(crypto::HmacSha256(key, AsBytes(signed_text)));
}

bool MacMatches(const crypto::SecretKey& key, std::string_view label, std::string_view text,
                std::string_view mac) {
  std::string expected = Mac(key, label, text);
  return expected.size() == mac.size() &&
         crypto::ConstantTimeEquals(AsBytes(expected), AsBytes(mac));
}

// "<json>\n<mac>\n" for the two state files.
std::string SealState(const crypto::SecretKey& key, std::string_view label,
                      const std::string& json) {
  return json + "\n" + Mac(key, label, json) + "\n";
}

Result<rapidjson::Document> OpenState(const crypto::SecretKey& key, std::string_view label,
                                      const std::string& text, const std::string& path) {
  size_t nl = text.find('\n');
  if (nl == std::string::npos || text.empty() || text.back() != '\n') {
    return DataLoss(path + " is not a sealed spool state");
  }
  std::string json = text.substr(0, nl);
  std::string mac = text.substr(nl + 1, text.size() - nl - 2);
  if (!MacMatches(key, label, json, mac)) return DataLoss(path + " does not verify (altered)");
  rapidjson::Document d;
  d.Parse(json.data(), json.size());
  if (d.HasParseError() || !d.IsObject()) return DataLoss(path + " is malformed");
  return d;
}

struct State {
  bool exists = false;
  uint64_t n = 0;
  std::map<uint64_t, std::string> last;  // ingested only: number -> digest
};

Result<State> ReadState(Env& env, const crypto::SecretKey& key, std::string_view label,
                        const std::string& path, const char* field) {
  State s;
  HYGIE_ASSIGN_OR_RETURN(bool exists, env.FileExists(path));
  if (!exists) return s;
  HYGIE_ASSIGN_OR_RETURN(std::string text, env.ReadFile(path, kMaxSpoolFile));
  HYGIE_ASSIGN_OR_RETURN(rapidjson::Document d, OpenState(key, label, text, path));
  auto it = d.FindMember(field);
  if (it == d.MemberEnd() || !it->value.IsUint64()) return DataLoss(path + " is malformed");
  s.exists = true;
  s.n = it->value.GetUint64();
  if (auto last = d.FindMember("last"); last != d.MemberEnd()) {
    if (!last->value.IsArray()) return DataLoss(path + " is malformed");
    for (const auto& pair : last->value.GetArray()) {
      if (!pair.IsArray() || pair.Size() != 2 || !pair[0].IsUint64() || !pair[1].IsString()) {
        return DataLoss(path + " is malformed");
      }
      s.last[pair[0].GetUint64()] = pair[1].GetString();
    }
  }
  return s;
}

// Opens a record file: its seal, its number against its name. kDataLoss with the reason.
Result<SpoolEntry> OpenRecordFile(const crypto::SecretKey& key, const std::string& text,
                                  uint64_t named) {
  size_t a = text.find('\n');
  size_t b = a == std::string::npos ? a : text.find('\n', a + 1);
  if (b == std::string::npos || text.back() != '\n' || text.find('\n', b + 1) != text.size() - 1) {
    return DataLoss("not a sealed spool record");
  }
  std::string header = text.substr(0, a);
  std::string body = text.substr(a + 1, b - a - 1);
  std::string mac = text.substr(b + 1, text.size() - b - 2);
  if (!MacMatches(key, kRecordLabel, header + "\n" + body, mac)) {
    return DataLoss("its seal does not verify (altered, or not made by this installation)");
  }
  rapidjson::Document d;
  d.Parse(header.data(), header.size());
  if (d.HasParseError() || !d.IsObject() || !d.HasMember("n") || !d["n"].IsUint64() ||
      !d.HasMember("tree") || !d["tree"].IsString()) {
    return DataLoss("malformed header");
  }
  SpoolEntry e;
  e.n = d["n"].GetUint64();
  e.tree = d["tree"].GetString();
  if (!IsSpoolTree(e.tree)) return DataLoss("it names no journal tree");
  if (e.n != named) {
    return DataLoss("it is record " + std::to_string(e.n) + " under the name of record " +
                    std::to_string(named) + " (renamed or reordered)");
  }
  HYGIE_ASSIGN_OR_RETURN(e.record, DecodeRecord(body));
  return e;
}

}  // namespace

Result<crypto::SecretKey> SpoolKey(const crypto::SecretKey& system_seed) {
  return crypto::Hkdf(system_seed, {}, AsBytes(std::string_view("hygie audit spool")), 32);
}

std::string_view SpoolProblemName(SpoolProblem::Kind kind) {
  switch (kind) {
    case SpoolProblem::kAltered:
      return "ALTERED";
    case SpoolProblem::kMissing:
      return "MISSING";
    case SpoolProblem::kReplayed:
      return "REPLAYED";
    case SpoolProblem::kCounter:
      return "COUNTER";
    case SpoolProblem::kRejected:
      return "REJECTED";
  }
  return "?";
}

Result<SpoolScan> ScanSpool(const std::string& audit_dir, const crypto::SecretKey& key, Env& env) {
  SpoolScan scan;
  const std::string dir = SpoolDir(audit_dir);
  HYGIE_ASSIGN_OR_RETURN(bool exists, env.FileExists(dir));
  if (!exists) return scan;
  State counter, ingested;
  if (auto c = ReadState(env, key, kCounterLabel, dir + "/counter", "counter"); c.ok()) {
    counter = *c;
  } else {
    scan.problems.push_back({SpoolProblem::kCounter, dir + "/counter", c.status().message()});
  }
  if (auto i = ReadState(env, key, kIngestedLabel, dir + "/ingested", "ingested"); i.ok()) {
    ingested = *i;
  } else {
    scan.problems.push_back({SpoolProblem::kCounter, dir + "/ingested", i.status().message()});
  }
  scan.ingested = ingested.n;
  HYGIE_ASSIGN_OR_RETURN(std::vector<std::string> names, env.ListDir(dir));
  std::sort(names.begin(), names.end());
  std::set<uint64_t> sound;
  uint64_t highest = 0;
  for (const std::string& name : names) {
    const std::string path = dir + "/" + name;
    uint64_t n = 0;
    if (!ParseFileName(name, &n)) {
      if (name == "counter" || name == "ingested" || name == "lock" || name == "rejected" ||
          name.find(".tmp") != std::string::npos) {
        continue;
      }
      scan.bad_files.push_back(path);
      scan.problems.push_back(
          {SpoolProblem::kAltered, path, "not a sealed spool record (an unprotected file)"});
      continue;
    }
    auto text = env.ReadFile(path, kMaxSpoolFile);
    if (!text.ok()) {
      scan.problems.push_back({SpoolProblem::kAltered, path, text.status().message()});
      continue;
    }
    std::string digest = HexEncode(crypto::Sha256(AsBytes(*text)));
    auto entry = OpenRecordFile(key, *text, n);
    if (!entry.ok()) {
      scan.bad_files.push_back(path);
      scan.problems.push_back({SpoolProblem::kAltered, path, entry.status().message()});
      continue;
    }
    if (n <= ingested.n) {
      auto last = ingested.last.find(n);
      if (last != ingested.last.end() && last->second == digest) {
        scan.leftovers.push_back(path);  // moved already; a crash came before its removal
      } else {
        scan.bad_files.push_back(path);
        scan.problems.push_back({SpoolProblem::kReplayed, path,
                                 "record " + std::to_string(n) +
                                     " was moved into the journal "
                                     "already (a replayed copy)"});
      }
      continue;
    }
    entry->path = path;
    entry->digest = std::move(digest);
    highest = std::max(highest, n);
    sound.insert(n);
    scan.pending.push_back(std::move(*entry));
  }
  // (A counter that is gone while records wait is what a crash during its first rename can
  // leave on some file systems: those records tell the number.)
  if (!counter.exists && ingested.exists && scan.pending.empty()) {
    scan.problems.push_back({SpoolProblem::kCounter, dir + "/counter",
                             "the counter is gone while records were spooled before (removed)"});
  }
  scan.counter = std::max({counter.n, highest, ingested.n});
  scan.counter_sound = counter.exists && counter.n == scan.counter;
  // The numbers after the ingested mark that no file answers for. The counter may name any
  // number (a sealed counter far ahead of the files): the first kMaxMissingListed are listed one
  // by one and the rest in one problem, so that a scan takes as long as the spool has files, not
  // as the counter says (a counter near 2^64 made this loop endless).
  std::set<uint64_t> accounted = sound;
  for (const std::string& f : scan.bad_files) {
    uint64_t m = 0;
    if (ParseFileName(f.substr(f.rfind('/') + 1), &m) && m > ingested.n && m <= scan.counter) {
      accounted.insert(m);
    }
  }
  const uint64_t unaccounted = scan.counter - ingested.n - accounted.size();
  const uint64_t listed = std::min<uint64_t>(unaccounted, kMaxMissingListed);
  uint64_t n = ingested.n;
  while (scan.missing.size() < listed) {
    ++n;
    if (accounted.count(n) != 0) continue;
    scan.missing.push_back(n);
    scan.problems.push_back({SpoolProblem::kMissing, dir + "/" + FileName(n),
                             "record " + std::to_string(n) + " was spooled and is gone"});
  }
  if (unaccounted > listed) {
    do {
      ++n;
    } while (accounted.count(n) != 0);
    scan.problems.push_back({SpoolProblem::kMissing, dir + "/" + FileName(n),
                             std::to_string(unaccounted - listed) + " more records from " +
                                 std::to_string(n) + " to " + std::to_string(scan.counter) +
                                 " were spooled and are gone"});
  }
  if (auto rejected = env.ListDir(dir + "/rejected"); rejected.ok()) {
    for (const std::string& name : *rejected) {
      scan.problems.push_back(
          {SpoolProblem::kRejected, dir + "/rejected/" + name,
           "set aside by the server (see audit-spool-rejected in the journal)"});
    }
  }
  return scan;
}

Status SpoolRecord(const std::string& audit_dir, const crypto::SecretKey& key, const Record& record,
                   std::string_view tree, Env& env) {
  if (!IsSpoolTree(tree)) return InvalidArgument("not a journal tree: " + std::string(tree));
  const std::string dir = SpoolDir(audit_dir);
  HYGIE_RETURN_IF_ERROR(env.CreateDirs(dir, 0700));
  HYGIE_ASSIGN_OR_RETURN(FileLock lock, FileLock::Take(dir + "/lock"));
  HYGIE_ASSIGN_OR_RETURN(SpoolScan scan, ScanSpool(audit_dir, key, env));
  for (const SpoolProblem& p : scan.problems) {
    if (p.kind == SpoolProblem::kCounter) {
      return DataLoss("audit spool: " + p.file + ": " + p.detail +
                      "; nothing is spooled until `hygie audit verify` is looked at");
    }
  }
  const uint64_t n = scan.counter + 1;
  std::string header;
  {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("v");
    w.Int(1);
    w.Key("n");
    w.Uint64(n);
    w.Key("tree");
    w.String(tree.data(), static_cast<rapidjson::SizeType>(tree.size()));
    w.EndObject();
    header.assign(buf.GetString(), buf.GetSize());
  }
  std::string body = EncodeRecord(record);
  std::string text =
      header + "\n" + body + "\n" + Mac(key, kRecordLabel, header + "\n" + body) + "\n";
  HYGIE_RETURN_IF_ERROR(env.WriteFileAtomic(dir + "/" + FileName(n), text, 0600));
  return env.WriteFileAtomic(
      dir + "/counter",
      SealState(key, kCounterLabel, "{\"v\":1,\"counter\":" + std::to_string(n) + "}"), 0600);
}

Status FinishIngest(const std::string& audit_dir, const crypto::SecretKey& key, uint64_t through,
                    const std::vector<SpoolEntry>& batch, const SpoolScan& scan, Env& env) {
  const std::string dir = SpoolDir(audit_dir);
  if (through > scan.ingested) {
    std::string json = "{\"v\":1,\"ingested\":" + std::to_string(through) + ",\"last\":[";
    bool first = true;
    for (const SpoolEntry& e : batch) {
      json += (first ? "[" : ",[") + std::to_string(e.n) + ",\"" + e.digest + "\"]";
      first = false;
    }
    json += "]}";
    HYGIE_RETURN_IF_ERROR(
        env.WriteFileAtomic(dir + "/ingested", SealState(key, kIngestedLabel, json), 0600));
  }
  bool counter_unsound = std::any_of(scan.problems.begin(), scan.problems.end(), [](const auto& p) {
    return p.kind == SpoolProblem::kCounter;
  });
  if (counter_unsound || !scan.counter_sound || through > scan.counter) {
    // The counter follows what was handed out (a crash can leave it behind its newest record);
    // when it was unsound, the caller recorded that first. Sealed again so that the command
    // line spools on.
    HYGIE_RETURN_IF_ERROR(env.WriteFileAtomic(
        dir + "/counter",
        SealState(key, kCounterLabel,
                  "{\"v\":1,\"counter\":" + std::to_string(std::max(through, scan.counter)) + "}"),
        0600));
  }
  for (const SpoolEntry& e : batch) HYGIE_RETURN_IF_ERROR(env.RemoveFile(e.path));
  for (const std::string& path : scan.leftovers) HYGIE_RETURN_IF_ERROR(env.RemoveFile(path));
  // What was wrong stays visible (ScanSpool reports rejected/ until the operator empties it):
  // bad files are moved there, and a note is left for each missing record or unsound counter.
  bool notes = std::any_of(scan.problems.begin(), scan.problems.end(), [](const auto& p) {
    return p.kind == SpoolProblem::kMissing || p.kind == SpoolProblem::kCounter;
  });
  if (!scan.bad_files.empty() || notes) {
    HYGIE_RETURN_IF_ERROR(env.CreateDirs(dir + "/rejected", 0700));
  }
  for (const std::string& path : scan.bad_files) {
    std::string name = path.substr(path.rfind('/') + 1);
    HYGIE_RETURN_IF_ERROR(env.RenameFile(path, dir + "/rejected/" + name));
  }
  for (const SpoolProblem& p : scan.problems) {
    std::string note;
    if (p.kind == SpoolProblem::kMissing) {
      note = p.file.substr(p.file.rfind('/') + 1) + ".missing";
    } else if (p.kind == SpoolProblem::kCounter) {
      note = p.file.substr(p.file.rfind('/') + 1) + "-" + crypto::RandomId() + ".unsound";
    } else {
      continue;
    }
    HYGIE_RETURN_IF_ERROR(
        env.WriteFileAtomic(dir + "/rejected/" + note,
                            std::string(SpoolProblemName(p.kind)) + ": " + p.detail + "\n", 0600));
  }
  return env.SyncDir(dir);
}

}  // namespace hygie::audit
