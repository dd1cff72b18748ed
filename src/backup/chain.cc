#include "backup/chain.h"

#include <algorithm>
#include <ctime>
#include <deque>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "core/env.h"
#include "core/log.h"

namespace hygie::backup {

namespace {

// Versions whose commit ends this long after `at` may still carry a last_updated before it
// (last_updated is set before the commit): packs created up to this long after `at` are read.
constexpr int64_t kCommitMarginUs = 60'000'000;
constexpr size_t kScanBatch = 512;
constexpr size_t kMinJournalBudget = 64u << 10;

std::string Relative(const ChainId& chain, const std::string& name) {
  std::string prefix = ChainPrefix(chain);
  if (name.compare(0, prefix.size(), prefix) != 0) return name;
  return name.substr(prefix.size());
}

// The manifest entries' numbers present on the target, with their object names.
Result<std::map<uint64_t, std::string>> ListManifest(Target& target, const ChainId& chain) {
  HYGIE_ASSIGN_OR_RETURN(std::vector<ObjectInfo> objects,
                         target.List(ChainPrefix(chain) + "manifest/"));
  std::map<uint64_t, std::string> out;
  for (const ObjectInfo& o : objects) {
    uint64_t n = 0;
    if (ParseManifestName(Relative(chain, o.name), &n)) out.emplace(n, o.name);
  }
  return out;
}

// Every object of a chain on the target, by kind.
struct ChainObjects {
  std::map<uint64_t, std::string> manifest;  // entry number -> name
  std::map<std::string, uint64_t> packs;     // name -> size
  std::vector<std::string> others;           // objects of no chain's shape
};

Result<ChainObjects> ListChain(Target& target, const ChainId& chain) {
  HYGIE_ASSIGN_OR_RETURN(std::vector<ObjectInfo> objects, target.List(ChainPrefix(chain)));
  ChainObjects out;
  for (const ObjectInfo& o : objects) {
    std::string rel = Relative(chain, o.name);
    uint64_t n = 0;
    if (ParseManifestName(rel, &n)) {
      out.manifest.emplace(n, o.name);
    } else if (rel.compare(0, 6, "packs/") == 0) {
      out.packs.emplace(o.name, o.size);
    } else {
      out.others.push_back(o.name);
    }
  }
  return out;
}

size_t VersionBytes(const storage::VersionRecord& r) {
  return 40 + r.type.size() + r.id.size() + r.body.size();
}

// Appends a chunk to a file of the tree being rebuilt; the file must be exactly `offset` long.
Status ApplyChunk(Env& env, const std::string& tree_dir, const JournalChunk& chunk) {
  std::string path = tree_dir + "/" + chunk.file;
  HYGIE_ASSIGN_OR_RETURN(bool exists, env.FileExists(path));
  uint64_t size = 0;
  if (exists) {
    HYGIE_ASSIGN_OR_RETURN(size, env.FileSize(path));
  }
  if (size != chunk.offset) {
    return DataLoss("backup: journal bytes of " + chunk.file + " at offset " +
                    std::to_string(chunk.offset) + " do not follow the " + std::to_string(size) +
                    " bytes restored");
  }
  HYGIE_ASSIGN_OR_RETURN(auto file, env.OpenForWrite(path, OpenMode::kAppend, 0600));
  HYGIE_RETURN_IF_ERROR(file->Append(chunk.bytes));
  HYGIE_RETURN_IF_ERROR(file->Sync());
  return file->Close();
}

// Runs options.prepare over a batch's writes on options.prepare_threads threads.
Status Prepare(const RestoreOptions& options, std::vector<storage::VersionWrite>& writes) {
  if (!options.prepare) return Status::Ok();
  size_t threads = std::max<size_t>(1, std::min(options.prepare_threads, writes.size()));
  std::vector<Status> results(threads);
  auto work = [&](size_t t) {
    for (size_t i = t; i < writes.size(); i += threads) {
      Status s = options.prepare(writes[i]);
      if (!s.ok()) {
        results[t] = s;
        return;
      }
    }
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work, t);
  work(0);
  for (std::thread& th : pool) th.join();
  for (Status& s : results) HYGIE_RETURN_IF_ERROR(s);
  return Status::Ok();
}

// Commits handed to the store's writer in order, at most two waiting at a time.
class CommitPipeline {
 public:
  ~CommitPipeline() { (void)Drain(); }
  Status Push(storage::TenantStore& store, storage::WriteBatch batch, const std::string& what) {
    if (pending_.size() >= 2) HYGIE_RETURN_IF_ERROR(WaitOne());
    auto promise = std::make_shared<std::promise<Status>>();
    pending_.push_back({promise->get_future(), what});
    store.Commit(std::move(batch), [promise](Status s) { promise->set_value(std::move(s)); });
    return Status::Ok();
  }
  Status Drain() {
    Status first;
    while (!pending_.empty()) {
      Status s = WaitOne();
      if (first.ok() && !s.ok()) first = s;
    }
    return first;
  }

 private:
  Status WaitOne() {
    Pending p = std::move(pending_.front());
    pending_.pop_front();
    Status s = p.done.get();
    if (s.code() == Code::kConflict) {
      return DataLoss("restore: the versions of pack " + p.what +
                      " do not follow the ones before them");
    }
    return s;
  }
  struct Pending {
    std::future<Status> done;
    std::string what;
  };
  std::deque<Pending> pending_;
};

// An entry read from the target and checked (signature, chain, number).
struct EntryObject {
  std::string name;
  std::string digest;  // of the object
  ManifestEntry entry;
};

Result<EntryObject> ReadEntry(Target& target, const ChainId& chain, const ChainKeys& keys,
                              uint64_t n, std::string_view what) {
  EntryObject out;
  out.name = ManifestName(chain, n);
  auto object = target.Get(out.name);
  if (!object.ok()) {
    return DataLoss(std::string(what) + ": manifest entry " + out.name + " is missing (" +
                    object.status().message() + ")");
  }
  auto entry = DecodeManifestEntry(*object, chain, *keys.verifier);
  if (!entry.ok()) {
    return DataLoss(std::string(what) + ": manifest entry " + out.name + " is damaged (" +
                    entry.status().message() + ")");
  }
  if (entry->n != n) {
    return DataLoss(std::string(what) + ": manifest entry " + out.name + " carries number " +
                    std::to_string(entry->n));
  }
  out.digest = ObjectDigest(*object);
  out.entry = std::move(*entry);
  return out;
}

// Reads a pack, checks that its bytes are the ones named and opens it.
Result<PackContents> ReadPack(Target& target, const ChainId& chain, const ChainKeys& keys,
                              const std::string& digest, std::string_view what) {
  std::string name = PackName(chain, digest);
  auto pack = target.Get(name);
  if (!pack.ok()) {
    return DataLoss(std::string(what) + ": pack " + name + " is missing (" +
                    pack.status().message() + ")");
  }
  if (ObjectDigest(*pack) != digest) {
    return DataLoss(std::string(what) + ": pack " + name + " is altered");
  }
  auto contents = OpenPack(*pack, keys.pack_key, chain);
  if (!contents.ok()) {
    return DataLoss(std::string(what) + ": pack " + name + ": " + contents.status().message());
  }
  return contents;
}

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

}  // namespace

bool VerifyReport::ok() const {
  return std::all_of(problems.begin(), problems.end(),
                     [](const Problem& p) { return p.kind == Problem::kExtra; });
}

Result<ChainHead> ReadHead(Target& target, const ChainId& chain, const ChainKeys& keys) {
  HYGIE_ASSIGN_OR_RETURN(auto entries, ListManifest(target, chain));
  ChainHead head;
  if (entries.empty()) return head;
  const auto& [n, name] = *entries.rbegin();
  HYGIE_ASSIGN_OR_RETURN(std::string object, target.Get(name));
  auto entry = DecodeManifestEntry(object, chain, *keys.verifier);
  if (!entry.ok()) {
    return DataLoss("backup: the newest manifest entry " + name +
                    " does not verify; run `hygie backup verify`: " + entry.status().message());
  }
  if (entry->n != n) return DataLoss("backup: manifest entry " + name + " carries another number");
  head.empty = false;
  head.last = std::move(*entry);
  head.digest = ObjectDigest(object);
  head.entries = n + 1;
  return head;
}

Result<ShipResult> ShipChain(Target& target, const ChainId& chain, const ChainKeys& keys,
                             const ChainSource& source, const Clock& clock,
                             const ShipOptions& options, ChainHead* head) {
  ShipResult result;
  if (source.store != nullptr) {
    HYGIE_ASSIGN_OR_RETURN(uint64_t max_seq, source.store->MaxSeq());
    if (!head->empty && head->last.shipped_seq > max_seq) {
      return FailedPrecondition("backup: " + target.Describe() + " holds versions of " +
                                chain.tenant + " up to " + std::to_string(head->last.shipped_seq) +
                                " but the store ends at " + std::to_string(max_seq) +
                                ": this chain belongs to another data directory");
    }
  }
  while (result.packs < options.max_packs) {
    PackContents contents;
    uint64_t after = head->empty ? 0 : head->last.shipped_seq;
    audit::ExportCursor cursor = head->empty ? audit::ExportCursor{} : head->last.journal_cursor;
    size_t bytes = 0;
    int64_t max_ts = 0;
    if (source.store != nullptr) {
      while (bytes < options.max_pack_bytes) {
        HYGIE_ASSIGN_OR_RETURN(std::vector<storage::HistoryEntry> log,
                               source.store->ScanLog(after, kScanBatch));
        for (storage::HistoryEntry& e : log) {
          bytes += VersionBytes(e.record);
          max_ts = std::max(max_ts, e.record.last_updated_us);
          after = e.seq;
          contents.versions.push_back({e.seq, std::move(e.record)});
          if (bytes >= options.max_pack_bytes) break;
        }
        if (log.size() < kScanBatch) break;
      }
    }
    if (!source.tree_dir.empty()) {
      size_t budget = std::max(kMinJournalBudget,
                               options.max_pack_bytes - std::min(bytes, options.max_pack_bytes));
      auto chunks = audit::ExportTree(source.tree_dir, &cursor, budget);
      if (chunks.ok()) {
        for (audit::FileChunk& c : *chunks) {
          contents.journal.push_back({std::move(c.file), c.offset, std::move(c.bytes)});
        }
      } else if (chunks.status().code() != Code::kNotFound) {
        return chunks.status();
      }
    }
    if (contents.versions.empty() && contents.journal.empty()) break;

    HYGIE_ASSIGN_OR_RETURN(std::string object, SealPack(contents, keys.pack_key, chain));
    std::string digest = ObjectDigest(object);
    HYGIE_RETURN_IF_ERROR(target.Put(PackName(chain, digest), object));

    ManifestEntry e;
    e.n = head->entries;
    e.prev = head->digest;
    e.created_us = clock.NowMicros();
    e.pack = digest;
    e.pack_bytes = object.size();
    if (!contents.versions.empty()) {
      e.first_seq = contents.versions.front().seq;
      e.last_seq = contents.versions.back().seq;
    }
    e.versions = contents.versions.size();
    e.max_ts_us = max_ts;
    e.shipped_seq = after;
    for (const JournalChunk& c : contents.journal) {
      e.journal.push_back({c.file, c.offset, c.bytes.size()});
      result.journal_bytes += c.bytes.size();
    }
    e.journal_cursor = cursor;
    e.total_versions = (head->empty ? 0 : head->last.total_versions) + e.versions;
    e.total_bytes = (head->empty ? 0 : head->last.total_bytes) + object.size();
    if (!head->empty) {
      e.last_base = head->last.last_base;
      e.last_base_us = head->last.last_base_us;
    }
    HYGIE_ASSIGN_OR_RETURN(std::string entry_object, EncodeManifestEntry(e, chain, *keys.signer));
    HYGIE_RETURN_IF_ERROR(target.Put(ManifestName(chain, e.n), entry_object));
    result.packs += 1;
    result.versions += e.versions;
    result.bytes += object.size() + entry_object.size();
    head->empty = false;
    head->digest = ObjectDigest(entry_object);
    head->entries = e.n + 1;
    head->last = std::move(e);
  }
  return result;
}

Result<BaseResult> MakeBase(Target& target, const ChainId& chain, const ChainKeys& keys,
                            const Clock& clock, const BaseOptions& options, ChainHead* head,
                            const std::function<void(uint64_t, uint64_t)>& progress) {
  BaseResult result;
  if (head->empty) {
    return FailedPrecondition("backup: nothing of " + chain.tenant + " is on " + target.Describe() +
                              " yet: there is nothing to snapshot");
  }
  if (head->last.is_base()) {
    result.n = head->last.n;
    result.packs = head->last.base.size();
    result.reused = result.packs;
    return result;
  }
  constexpr std::string_view kWhat = "base snapshot";
  std::vector<std::string> list;
  uint64_t start = 0;
  std::string prev_digest;
  if (head->last.last_base) {
    HYGIE_ASSIGN_OR_RETURN(EntryObject base,
                           ReadEntry(target, chain, keys, *head->last.last_base, kWhat));
    if (!base.entry.is_base()) {
      return DataLoss("base snapshot: entry " + base.name + " is not the base snapshot named");
    }
    list = base.entry.base;
    result.reused += list.size();
    start = base.entry.n + 1;
    prev_digest = base.digest;
  }
  HYGIE_ASSIGN_OR_RETURN(std::vector<ObjectInfo> objects,
                         target.List(ChainPrefix(chain) + "packs/"));
  std::set<std::string> present;
  for (const ObjectInfo& o : objects) present.insert(o.name);
  for (const std::string& d : list) {
    if (present.count(PackName(chain, d)) == 0) {
      return DataLoss("base snapshot: pack " + PackName(chain, d) +
                      " of the previous base is missing; run `hygie backup verify`");
    }
  }

  PackContents pending;
  size_t pending_bytes = 0;
  uint64_t created = 0;  // packs written for this base
  auto flush = [&]() -> Status {
    if (pending.versions.empty() && pending.journal.empty()) return Status::Ok();
    HYGIE_ASSIGN_OR_RETURN(std::string object, SealPack(pending, keys.pack_key, chain));
    std::string digest = ObjectDigest(object);
    HYGIE_RETURN_IF_ERROR(target.Put(PackName(chain, digest), object));
    list.push_back(digest);
    created += 1;
    result.bytes += object.size();
    pending = PackContents();
    pending_bytes = 0;
    return Status::Ok();
  };
  for (uint64_t n = start; n < head->entries; ++n) {
    HYGIE_ASSIGN_OR_RETURN(EntryObject e, ReadEntry(target, chain, keys, n, kWhat));
    if (e.entry.prev != prev_digest || e.entry.is_base()) {
      return DataLoss("base snapshot: manifest entry " + e.name +
                      " does not follow the one before it; run `hygie backup verify`");
    }
    prev_digest = e.digest;
    if (e.entry.pack_bytes >= options.reuse_pack_bytes) {
      if (present.count(PackName(chain, e.entry.pack)) == 0) {
        return DataLoss("base snapshot: pack " + PackName(chain, e.entry.pack) + " is missing");
      }
      HYGIE_RETURN_IF_ERROR(flush());
      list.push_back(e.entry.pack);
      result.reused += 1;
    } else {
      HYGIE_ASSIGN_OR_RETURN(PackContents contents,
                             ReadPack(target, chain, keys, e.entry.pack, kWhat));
      if (contents.versions.size() != e.entry.versions ||
          contents.journal.size() != e.entry.journal.size()) {
        return DataLoss("base snapshot: pack " + PackName(chain, e.entry.pack) +
                        " holds other contents than " + e.name + " says");
      }
      for (PackVersion& v : contents.versions) {
        pending_bytes += VersionBytes(v.record);
        pending.versions.push_back(std::move(v));
      }
      for (JournalChunk& c : contents.journal) {
        pending_bytes += 32 + c.file.size() + c.bytes.size();
        pending.journal.push_back(std::move(c));
      }
      result.merged += 1;
      if (pending_bytes >= options.max_pack_bytes) HYGIE_RETURN_IF_ERROR(flush());
    }
    if (progress) progress(n + 1 - start, head->entries - start);
  }
  HYGIE_RETURN_IF_ERROR(flush());
  if (prev_digest != head->digest) {
    return FailedPrecondition("base snapshot: the chain's head moved while the snapshot was made");
  }

  ManifestEntry e;
  e.n = head->entries;
  e.prev = head->digest;
  e.created_us = clock.NowMicros();
  e.shipped_seq = head->last.shipped_seq;
  e.journal_cursor = head->last.journal_cursor;
  e.total_versions = head->last.total_versions;
  e.total_bytes = head->last.total_bytes + result.bytes;
  e.base = list;
  e.base_new = created;
  e.last_base = e.n;
  e.last_base_us = e.created_us;
  HYGIE_ASSIGN_OR_RETURN(std::string entry_object, EncodeManifestEntry(e, chain, *keys.signer));
  HYGIE_RETURN_IF_ERROR(target.Put(ManifestName(chain, e.n), entry_object));
  result.made = true;
  result.n = e.n;
  result.packs = list.size();
  result.bytes += entry_object.size();
  head->digest = ObjectDigest(entry_object);
  head->entries = e.n + 1;
  head->last = std::move(e);
  return result;
}

Result<VerifyReport> VerifyChain(Target& target, const ChainId& chain, const ChainKeys& keys,
                                 const std::function<void(uint64_t, uint64_t)>& progress) {
  VerifyReport report;
  HYGIE_ASSIGN_OR_RETURN(ChainObjects listed, ListChain(target, chain));
  const std::map<uint64_t, std::string>& manifest = listed.manifest;
  const std::map<std::string, uint64_t>& packs = listed.packs;
  std::set<std::string> referenced;
  for (const std::string& name : listed.others) {
    report.problems.push_back({Problem::kExtra, name, "not an object of a backup chain"});
  }
  // Every entry present, read once.
  struct Read {
    std::string digest;
    std::optional<ManifestEntry> entry;
  };
  std::map<uint64_t, Read> entries;
  for (const auto& [n, name] : manifest) {
    Read& r = entries[n];
    auto object = target.Get(name);
    if (!object.ok()) {
      report.problems.push_back({Problem::kMissing, name, object.status().message()});
      continue;
    }
    r.digest = ObjectDigest(*object);
    auto entry = DecodeManifestEntry(*object, chain, *keys.verifier);
    if (!entry.ok()) {
      report.problems.push_back({Problem::kAltered, name, entry.status().message()});
      continue;
    }
    r.entry = std::move(*entry);
  }
  // Every pack named, checked once.
  struct PackCheck {
    bool ok = false;
    uint64_t versions = 0, first_seq = 0, last_seq = 0, journal = 0;
  };
  std::map<std::string, PackCheck> checked;
  auto check_pack = [&](const std::string& digest, const std::string& by) -> PackCheck {
    std::string pack_name = PackName(chain, digest);
    referenced.insert(pack_name);
    if (auto it = checked.find(digest); it != checked.end()) return it->second;
    PackCheck& c = checked[digest];
    if (packs.count(pack_name) == 0) {
      report.problems.push_back({Problem::kMissing, pack_name, "pack of " + by + " missing"});
      return c;
    }
    auto pack = target.Get(pack_name);
    if (!pack.ok()) {
      report.problems.push_back({Problem::kMissing, pack_name, pack.status().message()});
    } else if (ObjectDigest(*pack) != digest) {
      report.problems.push_back({Problem::kAltered, pack_name, "contents do not match name"});
    } else if (auto contents = OpenPack(*pack, keys.pack_key, chain); !contents.ok()) {
      report.problems.push_back({Problem::kAltered, pack_name, contents.status().message()});
    } else {
      c.ok = true;
      c.versions = contents->versions.size();
      c.journal = contents->journal.size();
      if (c.versions > 0) {
        c.first_seq = contents->versions.front().seq;
        c.last_seq = contents->versions.back().seq;
      }
      report.packs += 1;
      report.bytes += pack->size();
    }
    return c;
  };

  uint64_t count = manifest.empty() ? 0 : manifest.rbegin()->first + 1;
  std::string prev_digest;
  bool have_prev = false;  // entry n-1 is present
  bool prev_good = false;  // ... and verified and chained
  uint64_t shipped_seq = 0;
  for (uint64_t n = 0; n < count; ++n) {
    std::string name = ManifestName(chain, n);
    auto it = entries.find(n);
    if (it == entries.end()) {
      // A gap that ends at a base snapshot is what a prune leaves: that base holds everything.
      auto next = entries.upper_bound(n);
      bool pruned = next != entries.end() && next->second.entry && next->second.entry->is_base();
      if (!pruned) report.problems.push_back({Problem::kMissing, name, "manifest entry missing"});
      have_prev = false;
      prev_good = false;
      continue;
    }
    const Read& r = it->second;
    if (!r.entry) {
      have_prev = true;
      prev_good = false;
      prev_digest = r.digest;
      continue;
    }
    const ManifestEntry& e = *r.entry;
    bool chained = e.n == n && (n == 0       ? e.prev.empty()
                                : !have_prev ? e.is_base()
                                             : prev_good && e.prev == prev_digest);
    if (!chained) {
      report.problems.push_back(
          {Problem::kChain, name,
           e.n != n ? "entry carries number " + std::to_string(e.n)
                    : "does not follow the entry before it (removed, reordered or inserted)"});
    }
    bool entry_ok = chained;
    if (e.is_base()) {
      uint64_t last = 0, versions = 0;
      bool ordered = true, packs_ok = true;
      for (const std::string& d : e.base) {
        PackCheck c = check_pack(d, name);
        if (!c.ok) {
          packs_ok = false;
          continue;
        }
        if (c.versions == 0) continue;
        if (c.first_seq <= last) ordered = false;
        last = c.last_seq;
        versions += c.versions;
      }
      if (packs_ok && (!ordered || versions != e.total_versions || last > e.shipped_seq)) {
        report.problems.push_back({Problem::kAltered, name,
                                   "the packs of this base snapshot do not hold the " +
                                       std::to_string(e.total_versions) +
                                       " versions it names, in order"});
        packs_ok = false;
      }
      entry_ok = entry_ok && packs_ok;
      if (entry_ok && !have_prev && n > 0) report.versions = e.total_versions;
    } else {
      if (e.versions > 0 && e.first_seq <= shipped_seq) {
        report.problems.push_back(
            {Problem::kChain, name, "versions shipped twice or out of order"});
      }
      PackCheck c = check_pack(e.pack, name);
      if (!c.ok) {
        entry_ok = false;
      } else if (c.versions != e.versions || c.journal != e.journal.size() ||
                 (e.versions > 0 && (c.first_seq != e.first_seq || c.last_seq != e.last_seq))) {
        report.problems.push_back({Problem::kAltered, PackName(chain, e.pack),
                                   "holds other contents than " + name + " says"});
        entry_ok = false;
      } else {
        report.versions += e.versions;
      }
    }
    shipped_seq = std::max(shipped_seq, e.shipped_seq);
    if (entry_ok) {
      report.entries += 1;
      report.newest_us = e.created_us;
    }
    have_prev = true;
    prev_good = chained;
    prev_digest = r.digest;
    if (progress) progress(n + 1, report.bytes);
  }
  for (const auto& [name, size] : packs) {
    if (referenced.count(name) == 0) {
      report.problems.push_back(
          {Problem::kExtra, name, "pack that no manifest entry names (an interrupted shipping)"});
    }
  }
  return report;
}

Status RestoreChain(Target& target, const ChainId& chain, const ChainKeys& keys,
                    storage::TenantStore* store, const std::string& tree_dir,
                    const RestoreOptions& options, RestoreReport* report,
                    const std::function<void(uint64_t, uint64_t)>& progress) {
  Env& env = Env::Default();
  if (store != nullptr) {
    HYGIE_ASSIGN_OR_RETURN(uint64_t max_seq, store->MaxSeq());
    if (max_seq != 0) return FailedPrecondition("restore: the destination store is not empty");
  }
  HYGIE_RETURN_IF_ERROR(env.CreateDirs(tree_dir, 0700));
  HYGIE_ASSIGN_OR_RETURN(std::vector<std::string> existing, env.ListDir(tree_dir));
  if (!existing.empty()) return FailedPrecondition("restore: " + tree_dir + " is not empty");

  HYGIE_ASSIGN_OR_RETURN(auto manifest, ListManifest(target, chain));
  uint64_t count = manifest.empty() ? 0 : manifest.rbegin()->first + 1;
  constexpr std::string_view kWhat = "restore";
  const std::string kStop = "; nothing past it was restored";

  uint64_t applied_seq = 0;
  CommitPipeline commits;
  bool journal_written = false;
  // Replays one pack: its versions up to at_us, then its journal bytes.
  auto apply = [&](const std::string& digest, std::optional<uint64_t> versions) -> Status {
    std::string pack_name = PackName(chain, digest);
    auto contents = ReadPack(target, chain, keys, digest, kWhat);
    if (!contents.ok()) return DataLoss(contents.status().message() + kStop);
    if (versions && contents->versions.size() != *versions) {
      return DataLoss("restore: pack " + pack_name + " holds other contents than its entry says");
    }
    storage::WriteBatch batch;
    auto flush = [&]() -> Status {
      if (batch.versions.empty()) return Status::Ok();
      if (store == nullptr) return DataLoss("restore: versions in the _system chain");
      HYGIE_RETURN_IF_ERROR(Prepare(options, batch.versions));
      // Batches are committed in order by the store's writer; the next one is prepared while
      // this one commits (at most two in flight).
      HYGIE_RETURN_IF_ERROR(commits.Push(*store, std::move(batch), pack_name));
      batch = storage::WriteBatch();
      return Status::Ok();
    };
    for (PackVersion& v : contents->versions) {
      if (v.seq <= applied_seq) {
        return DataLoss("restore: pack " + pack_name + " repeats versions shipped before");
      }
      applied_seq = v.seq;
      if (v.record.last_updated_us > options.at_us) continue;
      report->last_seq = v.seq;
      report->versions += 1;
      report->bytes += v.record.body.size();
      report->point_us = std::max(report->point_us, v.record.last_updated_us);
      storage::VersionWrite w;
      w.expected_current = v.record.version - 1;
      w.record = std::move(v.record);
      batch.versions.push_back(std::move(w));
      if (batch.versions.size() >= options.batch_versions) HYGIE_RETURN_IF_ERROR(flush());
    }
    HYGIE_RETURN_IF_ERROR(flush());
    for (const JournalChunk& c : contents->journal) {
      HYGIE_RETURN_IF_ERROR(ApplyChunk(env, tree_dir, c));
      journal_written = true;
    }
    if (progress) progress(report->versions, report->bytes);
    return Status::Ok();
  };

  // Where the replay starts: a base snapshot holds everything up to its point.
  uint64_t start = 0;
  std::string prev_digest;
  std::optional<uint64_t> base = options.base;
  if (options.use_base && !base && count > 0) {
    auto newest = ReadEntry(target, chain, keys, count - 1, kWhat);
    if (!newest.ok()) {
      return DataLoss(newest.status().message() +
                      "; restore from an older base snapshot with --from-base N (hygie backup "
                      "verify lists them)");
    }
    base = newest->entry.last_base;
  }
  if (options.use_base && base) {
    HYGIE_ASSIGN_OR_RETURN(EntryObject b, ReadEntry(target, chain, keys, *base, kWhat));
    if (!b.entry.is_base()) {
      return InvalidArgument("restore: manifest entry " + b.name + " is not a base snapshot");
    }
    for (const std::string& digest : b.entry.base) HYGIE_RETURN_IF_ERROR(apply(digest, {}));
    report->base = *base;
    report->entries += 1;
    start = *base + 1;
    prev_digest = b.digest;
  }
  for (uint64_t n = start; n < count; ++n) {
    // An older base asked for by name may be followed by a pruned gap: the restore gives that
    // base's point (and what follows it without a gap).
    if (options.base && manifest.count(n) == 0) break;
    auto e = ReadEntry(target, chain, keys, n, kWhat);
    if (!e.ok()) return DataLoss(e.status().message() + kStop);
    if (e->entry.prev != prev_digest) {
      return DataLoss("restore: manifest entry " + e->name + " does not follow the one before it" +
                      kStop);
    }
    if (options.at_us != std::numeric_limits<int64_t>::max() &&
        e->entry.created_us > options.at_us + kCommitMarginUs) {
      break;
    }
    prev_digest = e->digest;
    if (e->entry.is_base()) {
      // Everything it lists was read already, from the entries before it.
      report->entries += 1;
      continue;
    }
    HYGIE_RETURN_IF_ERROR(apply(e->entry.pack, e->entry.versions));
    report->entries += 1;
  }
  if (store != nullptr) {
    if (options.index_version) {
      storage::WriteBatch last;
      last.set_index_version = *options.index_version;
      HYGIE_RETURN_IF_ERROR(commits.Push(*store, std::move(last), "the last batch"));
    }
    HYGIE_RETURN_IF_ERROR(commits.Drain());
  }
  HYGIE_RETURN_IF_ERROR(env.SyncDir(tree_dir));
  if (journal_written) {
    HYGIE_ASSIGN_OR_RETURN(report->journal_records,
                           audit::CutTree(tree_dir, options.at_us, &report->journal_covered));
  }
  return Status::Ok();
}

Result<PrunePlan> PlanPrune(Target& target, const ChainId& chain, const ChainKeys& keys,
                            const RetentionPolicy& policy, int64_t locked_after_us) {
  PrunePlan plan;
  HYGIE_ASSIGN_OR_RETURN(ChainObjects listed, ListChain(target, chain));
  const std::map<uint64_t, std::string>& manifest = listed.manifest;
  const std::map<std::string, uint64_t>& pack_sizes = listed.packs;
  // Every entry present must verify and chain (gaps only before a base): a prune never acts
  // on a chain it cannot read.
  std::map<uint64_t, EntryObject> entries;
  std::optional<uint64_t> prev_n;
  std::string prev_digest;
  for (const auto& [n, name] : manifest) {
    auto e = ReadEntry(target, chain, keys, n, "prune");
    if (!e.ok()) return DataLoss(e.status().message() + "; run `hygie backup verify`");
    bool chained = n == 0                         ? e->entry.prev.empty()
                   : (prev_n && *prev_n + 1 == n) ? e->entry.prev == prev_digest
                                                  : e->entry.is_base();
    if (!chained) {
      return DataLoss("prune: manifest entry " + name +
                      " does not follow the one before it; run `hygie backup verify`");
    }
    prev_n = n;
    prev_digest = e->digest;
    entries.emplace(n, std::move(*e));
  }
  std::vector<const ManifestEntry*> bases;  // newest first
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    if (it->second.entry.is_base()) bases.push_back(&it->second.entry);
  }
  if (bases.empty()) {
    plan.nothing_because = "no base snapshot yet (`hygie backup snapshot` makes one)";
    return plan;
  }
  for (const ManifestEntry* b : bases) {
    if (b->created_us <= locked_after_us) {
      plan.anchor = b->n;
      break;
    }
  }
  if (!plan.anchor) {
    plan.nothing_because =
        "every base snapshot is younger than the target's retention: the objects before it are "
        "still locked";
    return plan;
  }
  // Restore points: the newest base of each of the last days, weeks and months.
  std::set<uint64_t> kept{bases.front()->n, *plan.anchor};
  auto pick = [&](uint32_t limit, const std::function<int64_t(int64_t)>& bucket) {
    uint32_t taken = 0;
    std::optional<int64_t> last;
    for (const ManifestEntry* b : bases) {
      if (taken >= limit) break;
      int64_t k = bucket(b->created_us);
      if (last && *last == k) continue;
      last = k;
      kept.insert(b->n);
      taken += 1;
    }
  };
  constexpr int64_t kDayUs = 86'400'000'000;
  auto day = [](int64_t us) { return FloorDiv(us, kDayUs); };
  pick(policy.daily, day);
  // 1970-01-01 was a Thursday: weeks start on Mondays.
  pick(policy.weekly, [&](int64_t us) { return FloorDiv(day(us) + 3, 7); });
  pick(policy.monthly, [](int64_t us) {
    time_t t = static_cast<time_t>(FloorDiv(us, 1'000'000));
    struct tm tm;
    gmtime_r(&t, &tm);
    return int64_t{tm.tm_year} * 12 + tm.tm_mon;
  });
  plan.kept_bases.assign(kept.rbegin(), kept.rend());

  std::set<std::string> needed, candidates;
  auto packs_of = [&](const ManifestEntry& e, std::set<std::string>& into) {
    if (e.is_base()) {
      for (const std::string& d : e.base) into.insert(PackName(chain, d));
    } else {
      into.insert(PackName(chain, e.pack));
    }
  };
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    const auto& [n, e] = *it;
    if (n >= *plan.anchor || kept.count(n) != 0) {
      packs_of(e.entry, needed);
    } else {
      plan.entries.push_back(e.name);
      packs_of(e.entry, candidates);
    }
  }
  for (const std::string& p : candidates) {
    if (needed.count(p) != 0) continue;
    auto size = pack_sizes.find(p);
    if (size == pack_sizes.end()) continue;
    plan.packs.push_back({p, size->second});
    plan.pack_bytes += size->second;
  }
  if (plan.entries.empty()) plan.nothing_because = "every entry is still needed";
  return plan;
}

Status ApplyPrune(Target& deleter, const PrunePlan& plan, PruneReport* report) {
  for (const std::string& name : plan.entries) {
    Status s = deleter.Delete(name);
    if (!s.ok() && s.code() != Code::kNotFound) {
      report->failed.push_back({Problem::kExtra, name, s.message()});
      // Packs stay: entries that still name them remain.
      return Status::Ok();
    }
    report->entries += 1;
  }
  for (const ObjectInfo& pack : plan.packs) {
    Status s = deleter.Delete(pack.name);
    if (!s.ok() && s.code() != Code::kNotFound) {
      report->failed.push_back({Problem::kExtra, pack.name, s.message()});
      continue;
    }
    report->packs += 1;
    report->bytes += pack.size;
  }
  return Status::Ok();
}

}  // namespace hygie::backup
