#include "audit/journal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cassert>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "audit/journal_format.h"
#include "audit/journal_io.h"
#include "core/log.h"
#include "core/thread_name.h"
#include "crypto/primitives.h"

namespace hygie::audit {

using namespace journal_io;  // NOLINT(build/namespaces): the journal's own file helpers

Result<TreeKeys> TreeKeys::Derive(ByteView seed) {
  if (seed.size() != 32) return InvalidArgument("audit seed must be 32 bytes");
  crypto::SecretKey ikm = crypto::SecretKey::FromBytes(seed);
  auto info = [](std::string_view s) {
    return ByteView(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  };
  TreeKeys keys;
  HYGIE_ASSIGN_OR_RETURN(keys.signing_seed,
                         crypto::Hkdf(ikm, {}, info("hygie audit checkpoint signing"), 32));
  HYGIE_ASSIGN_OR_RETURN(keys.chain_key, crypto::Hkdf(ikm, {}, info("hygie audit chain"), 32));
  HYGIE_ASSIGN_OR_RETURN(keys.query_key, crypto::Hkdf(ikm, {}, info("hygie audit query"), 32));
  keys.chain = std::make_shared<const crypto::KeyedHasher>(keys.chain_key);
  keys.query = std::make_shared<const crypto::KeyedHasher>(keys.query_key);
  return keys;
}

// One segment file as the readers see it.
struct Segment {
  uint64_t first = 0;
  uint64_t count = 0;
  int64_t first_time_us = 0;
  bool pruned = false;
  std::string path;
  // Byte offset of every kOffsetStride-th record (record first + k * stride), built lazily.
  std::vector<uint64_t> offsets;
  uint64_t offsets_count = 0;  // records the offsets cover
  uint64_t offsets_end = 0;    // byte offset after the last record covered
};

constexpr uint64_t kOffsetStride = 64;
// How every encoded record begins (EncodeRecord writes the index first).
constexpr std::string_view kIndexPrefix = "{\"i\":";

// Records waiting for the writer, already encoded by the appending thread: each tail is a
// record's JSON text after its index, `,"t":...}`; the writer prefixes `{"i":N`.
struct Pending {
  // The records: borrowed from the caller, who keeps them until `done` runs (the request waits
  // for them anyway, so their memory never changes threads), or owned.
  const EncodedRecords* records = nullptr;
  std::unique_ptr<EncodedRecords> owned;
  Journal::Done done;
  bool force_checkpoint = false;
};

struct Journal::Tree {
  std::string name;
  std::string dir;
  std::shared_ptr<const TreeKeys> keys;
  std::optional<NoteSigner> signer;
  std::optional<NoteVerifier> verifier;
  int lock_fd = -1;
  bool writable = false;

  // Queue of the writer thread.
  std::mutex queue_mu;
  std::condition_variable queue_cv;
  std::vector<Pending> queue;  // GUARDED_BY(queue_mu)
  size_t queued_records = 0;   // GUARDED_BY(queue_mu): records in `queue`
  // Append wakes the writer once this many records are queued (or at once for an urgent one):
  // 1 while it waits for work, more while it gathers a batch under load.
  size_t wake_at = 1;   // GUARDED_BY(queue_mu)
  bool urgent = false;  // GUARDED_BY(queue_mu): a Flush or an AppendSync is queued
  bool stop = false;    // GUARDED_BY(queue_mu)
  std::thread writer;

  // What readers see.
  mutable std::mutex state_mu;
  std::vector<Segment> segments;  // GUARDED_BY(state_mu)
  std::atomic<uint64_t> durable{0};
  std::string last_note;  // GUARDED_BY(state_mu)

  // Writer-only state (and Open, before the writer starts).
  // Buffers of WriteBatch, kept from batch to batch so that a batch allocates nothing.
  std::string frames;
  std::string json;
  std::vector<uint64_t> record_offsets;
  int seg_fd = -1;
  uint64_t seg_bytes = 0;
  int64_t seg_day = -1;
  std::vector<int> level_fds;
  std::vector<uint64_t> level_len;         // nodes in the level files
  std::vector<std::string> level_pending;  // nodes not yet written, per level
  std::atomic<uint64_t> nodes_size{0};     // leaves whose nodes are all in the level files
  uint64_t seg_alloc = 0;                  // size of the active segment file (zeros past seg_bytes)
  bool nodes_due = false;                  // a segment ended: write the pending nodes now
  int cp_fd = -1;
  uint64_t cp_bytes = 0;
  MerkleFrontier frontier;
  Mac mac{};
  uint64_t last_cp_size = 0;
  int64_t last_cp_us = 0;
  bool needs_repair = false;
  bool has_checkpoint = false;

  ~Tree() {
    if (seg_fd >= 0) ::close(seg_fd);
    for (int fd : level_fds) {
      if (fd >= 0) ::close(fd);
    }
    if (cp_fd >= 0) ::close(cp_fd);
    if (lock_fd >= 0) ::close(lock_fd);
  }

  std::string Path(const std::string& file) const { return dir + "/" + file; }
};

Journal::Journal(JournalOptions options, const Clock& clock)
    : options_(std::move(options)), clock_(clock) {}

Journal::~Journal() { Close(); }

Result<std::unique_ptr<Journal>> Journal::Open(JournalOptions options, const Clock& clock) {
  if (options.dir.empty()) return InvalidArgument("audit journal: no directory");
  if (!options.seed_for) return InvalidArgument("audit journal: no key source");
  if (::mkdir(options.dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Errno("cannot create", options.dir);
  }
  std::unique_ptr<Journal> j(new Journal(std::move(options), clock));
  return j;
}

const Journal::Tree* Journal::FindTree(const std::string& tree) const {
  auto t = GetTree(tree, false);
  return t.ok() ? *t : nullptr;
}

namespace {

bool IsTreeName(std::string_view n) {
  return n == kSystemTree ||
         (!n.empty() && n.size() <= 63 &&
          n.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") == std::string::npos);
}

}  // namespace

std::vector<std::string> Journal::Trees() const {
  std::vector<std::string> out;
  DIR* d = ::opendir(options_.dir.c_str());
  if (d != nullptr) {
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != ".." && IsTreeName(n)) out.push_back(n);
    }
    ::closedir(d);
  }
  std::lock_guard lock(mu_);
  for (const auto& [name, t] : trees_) out.push_back(name);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

uint64_t Journal::Size(const std::string& tree) const {
  const Tree* t = FindTree(tree);
  return t == nullptr ? 0 : t->durable.load();
}

namespace {

// Loads a tree's files into `t` (state before its writer starts).
Status LoadTree(Journal::Tree& t, const std::string& origin, int64_t /*now_us*/);
// The writer of one tree: group commits until stopped.
void RunWriter(Journal::Tree& t, const Clock& clock, const JournalOptions& opts);

}  // namespace

Result<Journal::Tree*> Journal::GetTree(const std::string& name, bool create) const {
  {
    std::shared_lock lock(mu_);
    auto it = trees_.find(name);
    if (it != trees_.end()) return it->second.get();
  }
  std::lock_guard lock(mu_);
  auto it = trees_.find(name);
  if (it != trees_.end()) return it->second.get();
  if (closed_) return Unavailable("audit journal is closed");
  if (!IsTreeName(name)) return InvalidArgument("audit journal: bad tree name");
  auto t = std::make_unique<Tree>();
  t->name = name;
  t->dir = options_.dir + "/" + name;
  struct stat st;
  if (::stat(t->dir.c_str(), &st) != 0) {
    if (!create) return NotFound("no audit tree " + name);
    if (::mkdir(t->dir.c_str(), 0700) != 0 && errno != EEXIST)
      return Errno("cannot create", t->dir);
    HYGIE_RETURN_IF_ERROR(SyncDir(options_.dir));
  }
  auto seed = options_.seed_for(name);
  if (!seed.ok()) return seed.status();
  auto keys = TreeKeys::Derive(seed->bytes());
  if (!keys.ok()) return keys.status();
  t->keys = std::make_shared<const TreeKeys>(std::move(keys).value());
  std::string origin = options_.origin_prefix + "/" + name;
  auto signer = NoteSigner::FromSeed(origin, t->keys->signing_seed.bytes());
  if (!signer.ok()) return signer.status();
  t->signer.emplace(std::move(signer).value());
  auto verifier = NoteVerifier::Parse(t->signer->VerifierKey());
  if (!verifier.ok()) return verifier.status();
  t->verifier.emplace(std::move(verifier).value());

  t->lock_fd = ::open(t->Path("lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (t->lock_fd < 0) return Errno("cannot open", t->Path("lock"));
  t->writable = ::flock(t->lock_fd, LOCK_EX | LOCK_NB) == 0;
  HYGIE_RETURN_IF_ERROR(LoadTree(*t, origin, clock_.NowMicros()));
  if (t->writable) {
    auto existing = ReadFile(t->Path("verifier.key"));
    std::string want = t->signer->VerifierKey() + "\n";
    if (!existing.ok() || *existing != want) {
      HYGIE_RETURN_IF_ERROR(WriteFileAtomic(*options_.env, t->Path("verifier.key"), want));
    }
    Tree* raw = t.get();
    const Clock& clock = clock_;
    const JournalOptions& opts = options_;
    raw->writer = std::thread([raw, &clock, &opts] {
      SetThreadName("journal:" + raw->name);
      RunWriter(*raw, clock, opts);
    });
  }
  Tree* raw = t.get();
  trees_.emplace(name, std::move(t));
  return raw;
}

namespace {

Status OpenAppend(const std::string& path, int* fd, uint64_t* size, bool writable) {
  *fd = ::open(path.c_str(), (writable ? O_RDWR | O_CREAT : O_RDONLY) | O_CLOEXEC, 0600);
  if (*fd < 0) {
    if (!writable && errno == ENOENT) {
      *size = 0;
      return Status::Ok();
    }
    return Errno("cannot open", path);
  }
  struct stat st;
  if (::fstat(*fd, &st) != 0) return Errno("cannot stat", path);
  *size = static_cast<uint64_t>(st.st_size);
  return Status::Ok();
}

Result<Hash> ReadNode(int fd, const std::string& path, uint64_t index) {
  Hash h;
  ssize_t n = ::pread(fd, h.data(), h.size(), static_cast<off_t>(index * format::kHashBytes));
  if (n != static_cast<ssize_t>(h.size())) {
    if (n < 0) return Errno("cannot read", path);
    return DataLoss("audit journal: missing tree node in " + path);
  }
  return h;
}

Status LoadTree(Journal::Tree& t, const std::string& origin, int64_t /*now_us*/) {
  (void)origin;
  HYGIE_ASSIGN_OR_RETURN(auto list, ListSegments(t.dir));
  // Records covered by the newest checkpoint are never cut as a torn tail.
  uint64_t checkpointed = 0;
  {
    auto cps = ReadFile(t.Path("checkpoints.log"));
    if (cps.ok()) {
      uint64_t end = 0;
      std::vector<std::string> notes = CheckpointFrames(*cps, &end);
      if (!notes.empty()) {
        auto cp = t.verifier->Open(notes.back());
        if (cp.ok()) checkpointed = cp->size;
      }
    }
  }
  uint64_t expected_first = 0;
  std::vector<Hash> tail_leaves;  // leaf hashes of records whose tree nodes may be missing
  uint64_t tail_first = 0;
  for (size_t k = 0; k < list.size(); ++k) {
    auto [first, pruned] = list[k];
    Segment seg;
    seg.first = first;
    seg.pruned = pruned;
    seg.path = t.Path(SegmentName(first, pruned));
    if (first != expected_first) {
      return DataLoss("audit journal " + t.name + ": segment " + seg.path +
                      " does not follow the previous one (run hygie audit verify)");
    }
    HYGIE_ASSIGN_OR_RETURN(std::string data, ReadFile(seg.path));
    if (pruned) {
      HYGIE_ASSIGN_OR_RETURN(PrunedFile pf, ParsePruned(data));
      seg.count = pf.count;
      t.mac = pf.last_mac;
      tail_first = first + pf.count;
      tail_leaves.clear();
    } else {
      if (data.substr(0, format::kSegmentMagic.size()) != format::kSegmentMagic) {
        return DataLoss("audit journal " + t.name + ": bad segment header in " + seg.path);
      }
      uint64_t off = format::kSegmentMagic.size();
      bool last = k + 1 == list.size();
      // Only the last segment's leaves can lack tree nodes (nodes are written with records).
      if (last) {
        tail_first = first;
        tail_leaves.clear();
      }
      for (;;) {
        uint64_t at = off;
        std::string_view json;
        Mac mac;
        auto more = NextFrame(data, &off, &json, &mac);
        // In the segment being written, a frame is checked whole (its record and chain MAC),
        // since a write cut short may leave a length before zeros or garbage.
        bool torn = !more.ok();
        if (!torn && *more && last && t.writable) {
          auto rec = DecodeRecord(json);
          torn = !rec.ok() || rec->index != first + seg.count ||
                 ChainMac(*t.keys->chain, t.mac, LeafOf(json)) != mac;
        }
        if (!torn && !*more && last && t.writable && !ZeroFrom(data, off)) torn = true;
        if (torn) {
          if (last && !t.writable) {
            // A reader met the frame a writer is appending: what follows is not durable yet.
            data.resize(at);
            off = at;
            break;
          }
          if (!last) {
            return DataLoss("audit journal " + t.name + ": " +
                            (more.ok() ? std::string("bad record") : more.status().message()) +
                            " in " + seg.path + " (run hygie audit verify)");
          }
          if (first + seg.count < checkpointed) {
            return DataLoss("audit journal " + t.name + ": record " +
                            std::to_string(first + seg.count) +
                            " is damaged but covered by a checkpoint (run hygie audit verify)");
          }
          // A torn tail of the segment being written when the process stopped: it was never
          // acknowledged (its batch did not sync). Cut it.
          log::Warn("audit journal {}: cutting a torn tail at byte {} of {}", t.name, at, seg.path);
          if (::truncate(seg.path.c_str(), static_cast<off_t>(at)) != 0) {
            return Errno("cannot truncate", seg.path);
          }
          data.resize(at);
          off = at;
          break;
        }
        if (!*more) break;
        if (seg.count == 0) {
          auto rec = DecodeRecord(json);
          if (rec.ok()) seg.first_time_us = rec->time_us;
        }
        if (seg.count % kOffsetStride == 0) seg.offsets.push_back(at);
        seg.count++;
        t.mac = mac;
        if (last) {
          tail_leaves.push_back(LeafOf(json));
        }
      }
      seg.offsets_count = seg.count;
      seg.offsets_end = off;
      if (last) {
        t.seg_bytes = off;
        t.seg_alloc = data.size();
        t.seg_day = seg.count > 0 ? DayOf(seg.first_time_us) : -1;
      }
    }
    expected_first = first + seg.count;
    t.segments.push_back(std::move(seg));
  }
  uint64_t size = expected_first;

  // Tree nodes: take what the level files hold consistently, rebuild the rest.
  t.level_fds.clear();
  t.level_len.clear();
  for (int level = 0; level < 64; ++level) {
    std::string path = t.Path(LevelName(level));
    int fd = -1;
    uint64_t bytes = 0;
    HYGIE_RETURN_IF_ERROR(OpenAppend(path, &fd, &bytes, t.writable));
    t.level_fds.push_back(fd);
    t.level_len.push_back(bytes / format::kHashBytes);
    if ((size >> level) == 0 && level > 0) break;
  }
  uint64_t usable = std::min<uint64_t>(size, t.level_len[0]);
  for (size_t k = 1; k < t.level_len.size(); ++k) {
    uint64_t cap = ((t.level_len[k] + 1) << k) - 1;
    usable = std::min(usable, cap);
  }
  if (usable < tail_first) {
    // Nodes are missing for records before the last segment: rebuild from every segment.
    usable = 0;
  }
  auto getter = [&t](int level, uint64_t index) -> Result<Hash> {
    if (static_cast<size_t>(level) >= t.level_fds.size() || t.level_fds[level] < 0) {
      return DataLoss("audit journal: missing tree level");
    }
    return ReadNode(t.level_fds[level], t.Path(LevelName(level)), index);
  };
  if (usable > 0) {
    auto f = MerkleFrontier::FromNodes(usable, getter);
    if (!f.ok()) {
      usable = 0;
    } else {
      t.frontier = std::move(f).value();
    }
  }
  if (usable == 0) t.frontier = MerkleFrontier();
  if (usable < size) {
    if (!t.writable) {
      // A reader cannot repair; proofs fall back to what is on disk.
    } else {
      // Collect the leaf hashes of records [usable, size).
      std::vector<Hash> leaves;
      if (usable >= tail_first) {
        leaves.assign(tail_leaves.begin() + static_cast<long>(usable - tail_first),
                      tail_leaves.end());
      } else {
        for (const Segment& seg : t.segments) {
          HYGIE_ASSIGN_OR_RETURN(std::string data, ReadFile(seg.path));
          if (seg.pruned) {
            HYGIE_ASSIGN_OR_RETURN(PrunedFile pf, ParsePruned(data));
            leaves.insert(leaves.end(), pf.leaves.begin(), pf.leaves.end());
          } else {
            uint64_t off = format::kSegmentMagic.size();
            std::string_view json;
            Mac mac;
            for (;;) {
              HYGIE_ASSIGN_OR_RETURN(bool more, NextFrame(data, &off, &json, &mac));
              if (!more) break;
              leaves.push_back(LeafOf(json));
            }
          }
        }
      }
      log::Info("audit journal {}: rebuilding {} tree nodes", t.name, leaves.size());
      for (size_t k = 0; k < t.level_len.size(); ++k) {
        t.level_len[k] = usable >> k;
        if (::ftruncate(t.level_fds[k], static_cast<off_t>(t.level_len[k] * 32)) != 0) {
          return Errno("cannot truncate", t.Path(LevelName(static_cast<int>(k))));
        }
      }
      Status s;
      for (const Hash& leaf : leaves) {
        t.frontier.Append(leaf, [&](int level, uint64_t index, const Hash& h) {
          if (!s.ok()) return;
          while (static_cast<size_t>(level) >= t.level_fds.size()) {
            int fd = -1;
            uint64_t bytes = 0;
            s = OpenAppend(t.Path(LevelName(static_cast<int>(t.level_fds.size()))), &fd, &bytes,
                           true);
            t.level_fds.push_back(fd);
            t.level_len.push_back(0);
            if (!s.ok()) return;
            if (::ftruncate(fd, 0) != 0) s = Errno("cannot truncate", "level");
          }
          std::string_view bytes(reinterpret_cast<const char*>(h.data()), h.size());
          s = PWriteAll(t.level_fds[level], t.Path(LevelName(level)), bytes, index * 32);
          t.level_len[level] = index + 1;
        });
      }
      HYGIE_RETURN_IF_ERROR(s);
    }
  }
  t.level_pending.assign(t.level_fds.size(), std::string());
  t.nodes_size.store(t.writable ? size : usable);

  // Checkpoints.
  HYGIE_RETURN_IF_ERROR(OpenAppend(t.Path("checkpoints.log"), &t.cp_fd, &t.cp_bytes, t.writable));
  if (t.cp_bytes > 0) {
    HYGIE_ASSIGN_OR_RETURN(std::string data, ReadFile(t.Path("checkpoints.log")));
    uint64_t off = 0;
    std::vector<std::string> notes = CheckpointFrames(data, &off);
    std::string last = notes.empty() ? std::string() : notes.back();
    if (off != data.size() && t.writable) {
      log::Warn("audit journal {}: cutting a torn checkpoint at byte {}", t.name, off);
      if (::ftruncate(t.cp_fd, static_cast<off_t>(off)) != 0) {
        return Errno("cannot truncate", t.Path("checkpoints.log"));
      }
      t.cp_bytes = off;
    }
    if (!last.empty()) {
      auto cp = t.verifier->Open(last);
      if (!cp.ok()) {
        return DataLoss("audit journal " + t.name +
                        ": the last checkpoint does not verify (run hygie audit verify)");
      }
      if (cp->size > size && t.writable) {
        return DataLoss("audit journal " + t.name + ": the last checkpoint covers " +
                        std::to_string(cp->size) + " records but only " + std::to_string(size) +
                        " are present (run hygie audit verify)");
      }
      t.last_cp_size = cp->size;
      t.last_cp_us = cp->time_seconds * 1000000;
      t.last_note = last;
      t.has_checkpoint = true;
    }
  }
  if (t.writable && t.segments.empty()) {
    // A fresh tree: its first segment.
    Segment seg;
    seg.first = 0;
    seg.path = t.Path(SegmentName(0, false));
    t.segments.push_back(seg);
  }
  if (t.writable) {
    const Segment& last = t.segments.back();
    if (last.pruned) {
      Segment seg;
      seg.first = size;
      seg.path = t.Path(SegmentName(size, false));
      t.segments.push_back(seg);
    }
    const Segment& active = t.segments.back();
    t.seg_fd = ::open(active.path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (t.seg_fd < 0) return Errno("cannot open", active.path);
    if (active.count == 0) {
      if (::ftruncate(t.seg_fd, 0) != 0) return Errno("cannot truncate", active.path);
      HYGIE_RETURN_IF_ERROR(PWriteAll(t.seg_fd, active.path, format::kSegmentMagic, 0));
      if (::fsync(t.seg_fd) != 0) return Errno("cannot sync", active.path);
      HYGIE_RETURN_IF_ERROR(SyncDir(t.dir));
      t.seg_bytes = format::kSegmentMagic.size();
      t.segments.back().offsets_end = t.seg_bytes;
    }
  }
  t.durable.store(size);
  return Status::Ok();
}

}  // namespace

namespace {

Status FaultCheck(const JournalOptions& opts, std::string_view op) {
  return opts.fault ? opts.fault(op) : Status::Ok();
}

Status Repair(Journal::Tree& t) {
  Status s;
  if (::ftruncate(t.seg_fd, static_cast<off_t>(t.seg_bytes)) != 0) {
    return Errno("cannot truncate", t.segments.back().path);
  }
  t.seg_alloc = t.seg_bytes;
  for (size_t k = 0; k < t.level_fds.size(); ++k) {
    if (::ftruncate(t.level_fds[k], static_cast<off_t>(t.level_len[k] * 32)) != 0) {
      return Errno("cannot truncate", t.Path(LevelName(static_cast<int>(k))));
    }
  }
  if (::ftruncate(t.cp_fd, static_cast<off_t>(t.cp_bytes)) != 0) {
    return Errno("cannot truncate", t.Path("checkpoints.log"));
  }
  if (::fsync(t.seg_fd) != 0 || ::fsync(t.cp_fd) != 0) return Errno("cannot sync", t.dir);
  return Status::Ok();
}

// Starts a new segment when the day changed or the segment is full.
Status MaybeRotate(Journal::Tree& t, const JournalOptions& opts, int64_t time_us) {
  const Segment& active = t.segments.back();
  bool new_day = active.count > 0 && DayOf(time_us) != t.seg_day;
  bool full = t.seg_bytes >= opts.segment_bytes;
  if (!new_day && !full) return Status::Ok();
  uint64_t first = active.first + active.count;
  Segment seg;
  seg.first = first;
  seg.path = t.Path(SegmentName(first, false));
  HYGIE_RETURN_IF_ERROR(FaultCheck(opts, "write"));
  int fd = ::open(seg.path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("cannot create", seg.path);
  Status s = PWriteAll(fd, seg.path, format::kSegmentMagic, 0);
  if (s.ok() && ::fsync(fd) != 0) s = Errno("cannot sync", seg.path);
  if (s.ok()) s = SyncDir(t.dir);
  if (!s.ok()) {
    ::close(fd);
    ::unlink(seg.path.c_str());
    return s;
  }
  // The finished segment loses the zeros laid ahead of its records.
  if (::ftruncate(t.seg_fd, static_cast<off_t>(t.seg_bytes)) != 0 || ::fdatasync(t.seg_fd) != 0) {
    Status trimmed = Errno("cannot trim", active.path);
    ::close(fd);
    ::unlink(seg.path.c_str());
    return trimmed;
  }
  ::close(t.seg_fd);
  t.seg_fd = fd;
  t.seg_bytes = format::kSegmentMagic.size();
  t.seg_alloc = t.seg_bytes;
  t.nodes_due = true;
  t.seg_day = -1;
  seg.offsets_end = t.seg_bytes;
  std::lock_guard lock(t.state_mu);
  t.segments.push_back(std::move(seg));
  return Status::Ok();
}

Status WriteBatch(Journal::Tree& t, const Clock& clock, const JournalOptions& opts,
                  std::vector<Pending>& batch, bool force_checkpoint) {
  if (t.needs_repair) {
    HYGIE_RETURN_IF_ERROR(Repair(t));
    t.needs_repair = false;
  }
  size_t n = 0;
  int64_t first_time = 0;
  size_t frames_bytes = 0;
  for (const Pending& p : batch) {
    if (p.records == nullptr) continue;
    if (n == 0 && !p.records->empty()) first_time = p.records->first_time_us();
    n += p.records->size();
    frames_bytes += p.records->bytes() + p.records->size() * (4 + 24 + format::kMacBytes);
  }
  if (n > 0) HYGIE_RETURN_IF_ERROR(MaybeRotate(t, opts, first_time));

  MerkleFrontier frontier = t.frontier;
  Mac mac = t.mac;
  std::string& frames = t.frames;
  frames.clear();
  // Tree nodes wait in memory and reach their files with the next checkpoint (they are a cache
  // of the records: a crash only makes the next open rebuild them), so a batch syncs one file.
  std::vector<size_t> pending_before(t.level_pending.size());
  for (size_t k = 0; k < pending_before.size(); ++k) pending_before[k] = t.level_pending[k].size();
  auto undo_pending = [&t, &pending_before] {
    t.level_pending.resize(std::max(t.level_pending.size(), pending_before.size()));
    for (size_t k = 0; k < t.level_pending.size(); ++k) {
      t.level_pending[k].resize(k < pending_before.size() ? pending_before[k] : 0);
    }
  };
  std::vector<uint64_t>& record_offsets = t.record_offsets;
  record_offsets.clear();
  record_offsets.reserve(n);
  frames.reserve(frames_bytes);
  std::string& json = t.json;
  for (const Pending& p : batch) {
    if (p.records == nullptr) continue;
    p.records->ForEach([&](std::string_view tail) {
      json = kIndexPrefix;
      json += std::to_string(frontier.size());
      json += tail;
      Hash leaf = LeafOf(json);
      mac = ChainMac(*t.keys->chain, mac, leaf);
      record_offsets.push_back(t.seg_bytes + frames.size());
      PutU32(frames, static_cast<uint32_t>(json.size()));
      frames += json;
      frames.append(reinterpret_cast<const char*>(mac.data()), mac.size());
      frontier.Append(leaf, [&t](int level, uint64_t, const Hash& h) {
        if (static_cast<size_t>(level) >= t.level_pending.size()) t.level_pending.resize(level + 1);
        t.level_pending[level].append(reinterpret_cast<const char*>(h.data()), h.size());
      });
    });
  }
  uint64_t size = frontier.size();
  int64_t now = clock.NowMicros();
  bool checkpoint = size > t.last_cp_size && (force_checkpoint || !t.has_checkpoint ||
                                              now - t.last_cp_us >= opts.checkpoint_interval_us);
  size_t pending_bytes = 0;
  for (const std::string& p : t.level_pending) pending_bytes += p.size();
  const bool write_nodes =
      pending_bytes > 0 && (checkpoint || t.nodes_due || pending_bytes >= (1u << 20));
  std::string note;
  if (checkpoint) {
    Checkpoint cp;
    cp.origin = t.signer->name();
    cp.size = size;
    cp.root = frontier.Root();
    cp.time_seconds = now / 1000000;
    auto signed_note = t.signer->Sign(cp);
    if (!signed_note.ok()) {
      undo_pending();
      return signed_note.status();
    }
    note = std::move(signed_note).value();
  }

  // Write: records (and zeros ahead of them), tree nodes, checkpoint; then sync. Any failure
  // undoes the batch.
  auto fail = [&t, &undo_pending](Status s) {
    t.needs_repair = true;
    undo_pending();
    return s;
  };
  uint64_t new_alloc = t.seg_alloc;
  if (n > 0) {
    Status s = FaultCheck(opts, "write");
    if (s.ok()) s = PWriteAll(t.seg_fd, t.segments.back().path, frames, t.seg_bytes);
    if (!s.ok()) return fail(s);
    uint64_t end = t.seg_bytes + frames.size();
    if (end > t.seg_alloc || t.seg_alloc - end < format::kPreallocBytes / 4) {
      // Lay zeros ahead, so that the syncs of the next batches write data, not the file's size.
      static const std::string kZeros(format::kPreallocBytes, '\0');
      s = PWriteAll(t.seg_fd, t.segments.back().path, kZeros, end);
      if (!s.ok()) return fail(s);
      new_alloc = end + kZeros.size();
    }
  }
  if (write_nodes) {
    while (t.level_fds.size() < t.level_pending.size()) {
      std::string path = t.Path(LevelName(static_cast<int>(t.level_fds.size())));
      int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (fd < 0) return fail(Errno("cannot create", path));
      t.level_fds.push_back(fd);
      t.level_len.push_back(0);
    }
    for (size_t k = 0; k < t.level_pending.size(); ++k) {
      if (t.level_pending[k].empty()) continue;
      Status s = PWriteAll(t.level_fds[k], t.Path(LevelName(static_cast<int>(k))),
                           t.level_pending[k], t.level_len[k] * format::kHashBytes);
      if (!s.ok()) return fail(s);
    }
  }
  if (n > 0) {
    Status s = FaultCheck(opts, "sync");
    if (s.ok() && ::fdatasync(t.seg_fd) != 0) s = Errno("cannot sync", t.segments.back().path);
    if (!s.ok()) return fail(s);
  }
  if (checkpoint) {
    std::string frame;
    PutU32(frame, static_cast<uint32_t>(note.size()));
    frame += note;
    Status s = FaultCheck(opts, "checkpoint");
    if (s.ok()) s = PWriteAll(t.cp_fd, t.Path("checkpoints.log"), frame, t.cp_bytes);
    if (s.ok() && ::fdatasync(t.cp_fd) != 0) s = Errno("cannot sync", t.Path("checkpoints.log"));
    if (!s.ok()) return fail(s);
    t.cp_bytes += frame.size();
    t.last_cp_size = size;
    t.last_cp_us = now;
    t.has_checkpoint = true;
  }
  // Commit the new state.
  if (write_nodes) {
    for (size_t k = 0; k < t.level_pending.size(); ++k) {
      t.level_len[k] += t.level_pending[k].size() / format::kHashBytes;
      t.level_pending[k].clear();
    }
    t.nodes_size.store(size);
    t.nodes_due = false;
  }
  t.seg_alloc = new_alloc;
  t.frontier = std::move(frontier);
  t.mac = mac;
  if (n > 0 && t.seg_day < 0) t.seg_day = DayOf(first_time);
  {
    std::lock_guard lock(t.state_mu);
    Segment& active = t.segments.back();
    if (n > 0 && active.count == 0) active.first_time_us = first_time;
    for (size_t i = 0; i < record_offsets.size(); ++i) {
      if ((active.count + i) % kOffsetStride == 0) active.offsets.push_back(record_offsets[i]);
    }
    active.count += n;
    active.offsets_count = active.count;
    t.seg_bytes += frames.size();
    active.offsets_end = t.seg_bytes;
    if (checkpoint) t.last_note = note;
  }
  t.durable.store(size);
  return Status::Ok();
}

void RunWriter(Journal::Tree& t, const Clock& clock, const JournalOptions& opts) {
  using Steady = std::chrono::steady_clock;
  size_t last_batch_records = 0;
  Steady::time_point last_batch_start;
  for (;;) {
    std::vector<Pending> batch;
    bool stopping = false;
    {
      std::unique_lock lock(t.queue_mu);
      for (;;) {
        if (!t.queue.empty() || t.stop) break;
        bool due = t.durable.load() > t.last_cp_size;
        if (due) {
          int64_t wait = t.last_cp_us + opts.checkpoint_interval_us - clock.NowMicros();
          if (wait <= 0) break;
          t.queue_cv.wait_for(lock, std::chrono::microseconds(std::min<int64_t>(wait, 1000000)));
        } else {
          t.queue_cv.wait_for(lock, std::chrono::milliseconds(500));
        }
      }
      // Under load (the last batch was busy), gather a bigger batch: wait until the batch window
      // has passed since the last batch began, or enough records are queued. Each sync costs
      // the kernel and the disk the same whatever its size; a lone request never waits.
      if (opts.batch_window_us > 0 && last_batch_records >= opts.batch_busy_records) {
        Steady::time_point deadline =
            last_batch_start + std::chrono::microseconds(opts.batch_window_us);
        t.wake_at = std::max<size_t>(opts.batch_max_records, 1);
        while (!t.stop && !t.urgent && t.queued_records < t.wake_at && Steady::now() < deadline) {
          t.queue_cv.wait_until(lock, deadline);
        }
        t.wake_at = 1;
      }
      last_batch_start = Steady::now();
      batch.swap(t.queue);
      last_batch_records = t.queued_records;
      t.queued_records = 0;
      t.urgent = false;
      stopping = t.stop;
    }
    bool force = stopping;
    for (const Pending& p : batch) force = force || p.force_checkpoint;
    Status s = WriteBatch(t, clock, opts, batch, force);
    if (!s.ok()) {
      log::Error("audit journal {}: {}", t.name, s.message());
      // The next checkpoint attempt waits an interval: a full disk is not retried in a loop.
      t.last_cp_us = clock.NowMicros();
    }
    Status result = s.ok() ? Status::Ok() : Unavailable(s.message());
    // Completions run here. A server's waiters hand themselves to their I/O threads (see
    // http::Inbox: one wake-up per thread per batch); the records they borrowed are theirs again.
    for (Pending& p : batch) {
      if (p.done) p.done(result);
    }
    if (stopping) {
      std::lock_guard lock(t.queue_mu);
      if (t.queue.empty()) {
        // A clean stop leaves no zeros after the records.
        if (t.seg_fd >= 0 && t.seg_alloc > t.seg_bytes &&
            ::ftruncate(t.seg_fd, static_cast<off_t>(t.seg_bytes)) == 0) {
          ::fdatasync(t.seg_fd);
          t.seg_alloc = t.seg_bytes;
        }
        return;
      }
    }
  }
}

}  // namespace

void EncodedRecords::Add(const Record& record) {
  const size_t start = text_.size();
  if (record.index == 0) {
    AppendEncodedRecord(record, text_);
  } else {
    Record r = record;
    r.index = 0;
    AppendEncodedRecord(r, text_);
  }
  // EncodeRecord writes the index first: the text starts with `{"i":0`, which the writer
  // replaces by the record's index.
  assert(std::string_view(text_).substr(start, kIndexPrefix.size() + 1) ==
         std::string(kIndexPrefix) + "0");
  text_.erase(start, kIndexPrefix.size() + 1);
  text_.push_back('\n');
  if (count_ == 0) first_time_us_ = record.time_us;
  ++count_;
}

void Journal::Append(const std::string& tree, std::vector<Record> records, Done done) {
  auto encoded = std::make_unique<EncodedRecords>();
  for (const Record& r : records) encoded->Add(r);
  Append(tree, nullptr, std::move(encoded), std::move(done), false);
}

void Journal::Append(const std::string& tree, const EncodedRecords* borrowed,
                     std::unique_ptr<EncodedRecords> owned, Done done, bool urgent) {
  auto t = GetTree(tree, true);
  if (!t.ok()) {
    done(Unavailable(t.status().message()));
    return;
  }
  Tree* tr = *t;
  if (!tr->writable) {
    done(FailedPrecondition("audit journal " + tree + " is held by another process"));
    return;
  }
  Pending pending;
  pending.records = owned ? owned.get() : borrowed;
  pending.owned = std::move(owned);
  pending.done = std::move(done);
  const size_t count = pending.records != nullptr ? pending.records->size() : 0;
  bool wake = false;
  {
    std::lock_guard lock(tr->queue_mu);
    if (tr->stop) {
      pending.done(Unavailable("audit journal is closed"));
      return;
    }
    tr->queue.push_back(std::move(pending));
    tr->queued_records += count;
    if (urgent) tr->urgent = true;
    wake = tr->urgent || tr->queued_records >= tr->wake_at;
  }
  if (wake) tr->queue_cv.notify_one();
}

Status Journal::AppendSync(const std::string& tree, std::vector<Record> records) {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Status> result;
  EncodedRecords encoded;
  for (const Record& r : records) encoded.Add(r);
  Append(
      tree, &encoded, nullptr,
      [&](Status s) {
        std::lock_guard lock(mu);
        result = std::move(s);
        cv.notify_one();
      },
      true);
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return result.has_value(); });
  return *result;
}

Status Journal::Flush(const std::string& tree) {
  auto t = GetTree(tree, false);
  if (!t.ok()) return t.status();
  Tree* tr = *t;
  if (!tr->writable)
    return FailedPrecondition("audit journal " + tree + " is held by another process");
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Status> result;
  {
    std::lock_guard lock(tr->queue_mu);
    Pending flush;
    flush.done = [&](Status s) {
      std::lock_guard l(mu);
      result = std::move(s);
      cv.notify_one();
    };
    flush.force_checkpoint = true;
    tr->queue.push_back(std::move(flush));
    tr->urgent = true;
  }
  tr->queue_cv.notify_one();
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return result.has_value(); });
  return *result;
}

void Journal::Close() {
  std::vector<Tree*> trees;
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    closed_ = true;
    for (auto& [name, t] : trees_) trees.push_back(t.get());
  }
  for (Tree* t : trees) {
    {
      std::lock_guard lock(t->queue_mu);
      t->stop = true;
    }
    t->queue_cv.notify_one();
  }
  for (Tree* t : trees) {
    if (t->writer.joinable()) t->writer.join();
  }
}

Result<std::shared_ptr<const TreeKeys>> Journal::Keys(const std::string& tree) {
  HYGIE_ASSIGN_OR_RETURN(Tree * t, GetTree(tree, true));
  return t->keys;
}

Result<std::string> Journal::VerifierKey(const std::string& tree) {
  HYGIE_ASSIGN_OR_RETURN(Tree * t, GetTree(tree, true));
  return t->signer->VerifierKey();
}

Result<std::string> Journal::LatestCheckpoint(const std::string& tree) const {
  const Tree* t = FindTree(tree);
  if (t == nullptr) return NotFound("no audit records for " + tree);
  std::lock_guard lock(t->state_mu);
  if (t->last_note.empty()) return NotFound("no checkpoint yet for " + tree);
  return t->last_note;
}

Result<std::vector<std::string>> Journal::Checkpoints(const std::string& tree) const {
  const Tree* t = FindTree(tree);
  if (t == nullptr) return NotFound("no audit records for " + tree);
  auto data = ReadFile(t->Path("checkpoints.log"));
  if (!data.ok()) {
    if (data.status().code() == Code::kNotFound) return std::vector<std::string>{};
    return data.status();
  }
  uint64_t end = 0;
  return CheckpointFrames(*data, &end);
}

namespace {

NodeGetter LevelGetter(const Journal::Tree& t) {
  return [&t](int level, uint64_t index) -> Result<Hash> {
    std::string path = t.Path(LevelName(level));
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Errno("cannot open", path);
    auto h = ReadNode(fd, path, index);
    ::close(fd);
    return h;
  };
}

}  // namespace

Result<std::vector<Hash>> Journal::InclusionProof(const std::string& tree, uint64_t index,
                                                  uint64_t size) const {
  const Tree* t = FindTree(tree);
  if (t == nullptr) return NotFound("no audit records for " + tree);
  if (size > t->nodes_size.load()) {
    return InvalidArgument("no checkpointed tree of that size yet");
  }
  if (index >= size) return InvalidArgument("the record index must be below the tree size");
  return audit::InclusionProof(index, size, LevelGetter(*t));
}

Result<std::vector<Hash>> Journal::ConsistencyProof(const std::string& tree, uint64_t size1,
                                                    uint64_t size2) const {
  const Tree* t = FindTree(tree);
  if (t == nullptr) return NotFound("no audit records for " + tree);
  if (size2 > t->nodes_size.load()) return InvalidArgument("no checkpointed tree of that size yet");
  if (size1 == 0 || size1 > size2) return InvalidArgument("need 0 < size1 <= size2");
  return audit::ConsistencyProof(size1, size2, LevelGetter(*t));
}

Result<Hash> Journal::LeafHash(const std::string& tree, uint64_t index) const {
  const Tree* t = FindTree(tree);
  if (t == nullptr) return NotFound("no audit records for " + tree);
  if (index >= t->nodes_size.load()) return NotFound("no checkpointed record at that index yet");
  return LevelGetter(*t)(0, index);
}

Status Journal::Read(const std::string& tree, uint64_t from, size_t max,
                     std::vector<std::string>* out, uint64_t* next) const {
  *next = from;
  const Tree* t = FindTree(tree);
  if (t == nullptr) return Status::Ok();
  uint64_t durable = t->durable.load();
  size_t taken = 0;
  while (taken < max && *next < durable) {
    // Find the segment holding *next and where to start reading it.
    std::string path;
    uint64_t seg_first = 0, seg_count = 0, start_index = 0, start_offset = 0;
    bool pruned = false;
    {
      std::lock_guard lock(t->state_mu);
      auto it = std::upper_bound(t->segments.begin(), t->segments.end(), *next,
                                 [](uint64_t v, const Segment& s) { return v < s.first; });
      if (it == t->segments.begin()) return DataLoss("audit journal: no segment for record");
      --it;
      path = it->path;
      seg_first = it->first;
      seg_count = it->count;
      pruned = it->pruned;
      uint64_t k = (*next - seg_first) / kOffsetStride;
      if (!pruned && k < it->offsets.size()) {
        start_index = seg_first + k * kOffsetStride;
        start_offset = it->offsets[k];
      } else if (!pruned) {
        return DataLoss("audit journal: segment offsets missing");
      }
    }
    if (pruned) {
      *next = seg_first + seg_count;
      continue;
    }
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) continue;  // pruned meanwhile: look again
      return Errno("cannot open", path);
    }
    uint64_t end_index = std::min(seg_first + seg_count, durable);
    uint64_t index = start_index;
    uint64_t offset = start_offset;
    std::string buf;
    Status s;
    while (index < end_index && taken < max) {
      uint8_t len_bytes[4];
      if (::pread(fd, len_bytes, 4, static_cast<off_t>(offset)) != 4) {
        s = DataLoss("audit journal: short read in " + path);
        break;
      }
      uint32_t len = static_cast<uint32_t>(GetLe(len_bytes, 4));
      if (len == 0 || len > format::kMaxRecordBytes) {
        s = DataLoss("audit journal: bad record length in " + path);
        break;
      }
      if (index >= *next) {
        buf.resize(len);
        if (::pread(fd, buf.data(), len, static_cast<off_t>(offset + 4)) !=
            static_cast<ssize_t>(len)) {
          s = DataLoss("audit journal: short read in " + path);
          break;
        }
        out->push_back(buf);
        ++taken;
      }
      offset += 4 + len + format::kMacBytes;
      ++index;
    }
    ::close(fd);
    HYGIE_RETURN_IF_ERROR(s);
    *next = std::max(*next, index);
  }
  return Status::Ok();
}

Result<uint64_t> Journal::Prune(const std::string& tree, int64_t before_us) {
  auto found = GetTree(tree, false);
  if (!found.ok()) {
    if (found.status().code() == Code::kNotFound) return uint64_t{0};
    return found.status();
  }
  Tree* t = *found;
  if (!t->writable)
    return FailedPrecondition("audit journal " + tree + " is held by another process");
  uint64_t pruned_records = 0;
  for (;;) {
    Segment victim;
    {
      std::lock_guard lock(t->state_mu);
      bool found_one = false;
      for (size_t k = 0; k + 1 < t->segments.size(); ++k) {
        const Segment& s = t->segments[k];
        // Segments hold records in time order: the first one still inside the retention
        // ends the pruning.
        if (s.pruned) continue;
        if (s.first_time_us >= before_us) break;
        victim = s;
        found_one = true;
        break;
      }
      if (!found_one) break;
    }
    HYGIE_ASSIGN_OR_RETURN(std::string data, ReadFile(victim.path));
    uint64_t off = format::kSegmentMagic.size();
    std::string_view json;
    Mac mac{};
    std::string leaves;
    uint64_t count = 0;
    for (;;) {
      HYGIE_ASSIGN_OR_RETURN(bool more, NextFrame(data, &off, &json, &mac));
      if (!more) break;
      Hash leaf = LeafOf(json);
      leaves.append(reinterpret_cast<const char*>(leaf.data()), leaf.size());
      ++count;
    }
    if (count != victim.count) return DataLoss("audit journal: segment changed while pruning");
    // Only a segment whose newest record is past the retention goes.
    if (count == 0) break;
    auto newest = DecodeRecord(json);
    if (!newest.ok()) return newest.status();
    if (newest->time_us >= before_us) break;
    std::string file(format::kPrunedMagic);
    PutU64(file, victim.first);
    PutU64(file, count);
    file.append(reinterpret_cast<const char*>(mac.data()), mac.size());
    file += leaves;
    std::string pruned_path = t->Path(SegmentName(victim.first, true));
    HYGIE_RETURN_IF_ERROR(WriteFileAtomic(*options_.env, pruned_path, file));
    {
      std::lock_guard lock(t->state_mu);
      for (Segment& s : t->segments) {
        if (s.first == victim.first) {
          s.pruned = true;
          s.path = pruned_path;
          s.offsets.clear();
        }
      }
    }
    if (::unlink(victim.path.c_str()) != 0) return Errno("cannot remove", victim.path);
    HYGIE_RETURN_IF_ERROR(SyncDir(t->dir));
    pruned_records += count;
  }
  return pruned_records;
}

Result<size_t> Journal::IngestSpool() {
  HYGIE_ASSIGN_OR_RETURN(crypto::SecretKey seed, options_.seed_for(std::string(kSystemTree)));
  HYGIE_ASSIGN_OR_RETURN(crypto::SecretKey key, SpoolKey(seed));
  Env& env = options_.env != nullptr ? *options_.env : Env::Default();
  HYGIE_ASSIGN_OR_RETURN(SpoolScan scan, ScanSpool(options_.dir, key, env));
  {
    std::lock_guard lock(spool_mu_);
    spool_problems_ = scan.problems;
  }
  if (scan.pending.empty() && scan.problems.empty() && scan.leftovers.empty()) return size_t{0};
  // What is wrong goes into the system tree first, as evidence that outlives the files.
  std::vector<Record> evidence;
  for (const SpoolProblem& p : scan.problems) {
    if (p.kind == SpoolProblem::kRejected) continue;  // recorded when it was set aside
    Record r;
    r.time_us = clock_.NowMicros();
    r.request_id = crypto::RandomId();
    r.peer = "local";
    r.role = "server";
    r.subject = "hygie";
    r.interaction = p.kind == SpoolProblem::kMissing   ? "audit-spool-missing"
                    : p.kind == SpoolProblem::kCounter ? "audit-spool-counter"
                                                       : "audit-spool-rejected";
    r.action = 'E';
    r.status = 500;
    r.detail = std::string(SpoolProblemName(p.kind)) + " " + p.file + ": " + p.detail;
    evidence.push_back(std::move(r));
  }
  if (!evidence.empty()) {
    HYGIE_RETURN_IF_ERROR(AppendSync(std::string(kSystemTree), std::move(evidence)));
  }
  for (const SpoolProblem& p : scan.problems) {
    if (p.kind == SpoolProblem::kRejected) continue;
    log::Error("audit journal: spool: {} {}: {}", SpoolProblemName(p.kind), p.file, p.detail);
  }
  size_t moved = 0;
  for (const SpoolEntry& e : scan.pending) {
    HYGIE_RETURN_IF_ERROR(AppendSync(e.tree, {e.record}));
    ++moved;
  }
  HYGIE_RETURN_IF_ERROR(FinishIngest(options_.dir, key, scan.counter, scan.pending, scan, env));
  return moved;
}

std::vector<SpoolProblem> Journal::SpoolProblems() const {
  std::lock_guard lock(spool_mu_);
  return spool_problems_;
}

}  // namespace hygie::audit
