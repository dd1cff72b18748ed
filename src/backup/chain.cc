#include "backup/chain.h"

#include <algorithm>
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

Result<VerifyReport> VerifyChain(Target& target, const ChainId& chain, const ChainKeys& keys,
                                 const std::function<void(uint64_t, uint64_t)>& progress) {
  VerifyReport report;
  HYGIE_ASSIGN_OR_RETURN(std::vector<ObjectInfo> objects, target.List(ChainPrefix(chain)));
  std::map<uint64_t, std::string> manifest;
  std::map<std::string, uint64_t> packs;  // name -> size
  std::set<std::string> referenced;
  for (const ObjectInfo& o : objects) {
    std::string rel = Relative(chain, o.name);
    uint64_t n = 0;
    if (ParseManifestName(rel, &n)) {
      manifest.emplace(n, o.name);
    } else if (rel.compare(0, 6, "packs/") == 0) {
      packs.emplace(o.name, o.size);
    } else {
      report.problems.push_back({Problem::kExtra, o.name, "not an object of a backup chain"});
    }
  }
  uint64_t count = manifest.empty() ? 0 : manifest.rbegin()->first + 1;
  std::string prev_digest;
  bool prev_good = true;
  uint64_t shipped_seq = 0;
  for (uint64_t n = 0; n < count; ++n) {
    std::string name = ManifestName(chain, n);
    auto it = manifest.find(n);
    if (it == manifest.end()) {
      report.problems.push_back({Problem::kMissing, name, "manifest entry missing"});
      prev_good = false;
      continue;
    }
    auto object = target.Get(name);
    if (!object.ok()) {
      report.problems.push_back({Problem::kMissing, name, object.status().message()});
      prev_good = false;
      continue;
    }
    auto entry = DecodeManifestEntry(*object, chain, *keys.verifier);
    std::string digest = ObjectDigest(*object);
    if (!entry.ok()) {
      report.problems.push_back({Problem::kAltered, name, entry.status().message()});
      prev_good = false;
      prev_digest = digest;
      continue;
    }
    bool chained =
        entry->n == n && (n == 0 ? entry->prev.empty() : (prev_good && entry->prev == prev_digest));
    if (!chained) {
      report.problems.push_back(
          {Problem::kChain, name,
           entry->n != n ? "entry carries number " + std::to_string(entry->n)
                         : "does not follow the entry before it (removed, reordered or inserted)"});
    }
    if (entry->versions > 0 && entry->first_seq <= shipped_seq) {
      report.problems.push_back({Problem::kChain, name, "versions shipped twice or out of order"});
    }
    shipped_seq = std::max(shipped_seq, entry->shipped_seq);
    prev_digest = digest;
    prev_good = chained;
    std::string pack_name = PackName(chain, entry->pack);
    referenced.insert(pack_name);
    bool entry_ok = chained;
    if (packs.count(pack_name) == 0) {
      report.problems.push_back({Problem::kMissing, pack_name, "pack of " + name + " missing"});
      entry_ok = false;
    } else {
      auto pack = target.Get(pack_name);
      if (!pack.ok()) {
        report.problems.push_back({Problem::kMissing, pack_name, pack.status().message()});
        entry_ok = false;
      } else if (ObjectDigest(*pack) != entry->pack) {
        report.problems.push_back({Problem::kAltered, pack_name, "contents do not match name"});
        entry_ok = false;
      } else {
        auto contents = OpenPack(*pack, keys.pack_key, chain);
        if (!contents.ok()) {
          report.problems.push_back({Problem::kAltered, pack_name, contents.status().message()});
          entry_ok = false;
        } else if (contents->versions.size() != entry->versions ||
                   contents->journal.size() != entry->journal.size() ||
                   (entry->versions > 0 && (contents->versions.front().seq != entry->first_seq ||
                                            contents->versions.back().seq != entry->last_seq))) {
          report.problems.push_back(
              {Problem::kAltered, pack_name, "holds other contents than " + name + " says"});
          entry_ok = false;
        } else {
          report.packs += 1;
          report.versions += entry->versions;
          report.bytes += pack->size();
        }
      }
    }
    if (entry_ok) {
      report.entries += 1;
      report.newest_us = entry->created_us;
    }
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
  std::string prev_digest;
  uint64_t applied_seq = 0;
  CommitPipeline commits;
  bool journal_written = false;
  for (uint64_t n = 0; n < count; ++n) {
    std::string name = ManifestName(chain, n);
    auto object = target.Get(name);
    if (!object.ok()) {
      return DataLoss("restore: manifest entry " + name + " is missing (" +
                      object.status().message() + "); nothing after entry " + std::to_string(n) +
                      " was restored");
    }
    auto entry = DecodeManifestEntry(*object, chain, *keys.verifier);
    if (!entry.ok()) {
      return DataLoss("restore: manifest entry " + name + " is damaged (" +
                      entry.status().message() + "); nothing past it was restored");
    }
    if (entry->n != n || entry->prev != prev_digest) {
      return DataLoss("restore: manifest entry " + name +
                      " does not follow the one before it; nothing past it was restored");
    }
    if (options.at_us != std::numeric_limits<int64_t>::max() &&
        entry->created_us > options.at_us + kCommitMarginUs) {
      break;
    }
    prev_digest = ObjectDigest(*object);
    std::string pack_name = PackName(chain, entry->pack);
    auto pack = target.Get(pack_name);
    if (!pack.ok() || ObjectDigest(*pack) != entry->pack) {
      return DataLoss("restore: pack " + pack_name + " of entry " + std::to_string(n) +
                      (pack.ok() ? " is altered" : " is missing") +
                      "; nothing past it was restored");
    }
    auto contents = OpenPack(*pack, keys.pack_key, chain);
    if (!contents.ok()) {
      return DataLoss("restore: pack " + pack_name + ": " + contents.status().message() +
                      "; nothing past it was restored");
    }
    if (contents->versions.size() != entry->versions) {
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
    report->entries += 1;
    if (progress) progress(report->versions, report->bytes);
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

}  // namespace hygie::backup
