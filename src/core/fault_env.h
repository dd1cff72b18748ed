#pragma once
// FaultInjectionEnv: an Env for tests that wraps another one (Env::Default() unless told) and
// remembers what a crash would lose, as leveldb's db/fault_injection_test.cc.
//
// What it tracks, for what goes through it:
//   - every file opened for writing: how many of its bytes are synced (WritableFile::Sync);
//   - every name changed (created, renamed in, renamed out, removed) since the last SyncDir()
//     of its directory, with what the name durably held before the change (absent, or the
//     synced bytes of the file it named).
// DropUnsyncedData() then simulates a crash on the real files below: every tracked file is cut
// to its synced length, and every name whose change was not made durable by SyncDir gets back
// what it held: a new name vanishes, a name replaced by a rename holds its former bytes again,
// a removed name comes back. So after WriteFileAtomic(path, ...) was interrupted anywhere and
// the crash simulated, `path` holds its old or its new bytes, never a part of either.
// Simplifications: a restored file is rewritten with the bytes it had (its mode is the one the
// name has at the time of the crash, or 0600 when the name is gone); files the wrapped Env
// wrote on its own (its CreateDirs syncs parents itself) are not seen; directories created by
// CreateDirs are taken as durable.
//
// Fault injection: FailCalls() makes intercepted calls fail with a chosen code, after letting
// some pass, optionally only for paths with a given prefix; SetNoSpaceAfterBytes() fails
// appends past a byte budget with kResourceExhausted, as a full disk (ENOSPC) would, after
// writing the part that fits. Failed calls do nothing (a failed Close still closes). Counters
// tell how many calls of each kind were made.
//
// Thread-safety: thread-safe (one mutex guards all state; calls into the wrapped Env are made
// under it). Files it hands out must not outlive it; each is used by one thread at a time.

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/env.h"
#include "core/status.h"

namespace hygie {

class FaultInjectionEnv final : public Env {
 public:
  // The calls it intercepts.
  enum class Op {
    kOpen,
    kAppend,
    kSync,
    kClose,
    kRename,
    kRemove,
    kSyncDir,
    kCreateDirs,
    kRead,  // ReadFile, FileExists, FileSize, ListDir
  };
  static constexpr uint64_t kForever = UINT64_MAX;

  struct FaultSpec {
    uint64_t skip = 0;   // matching calls that still succeed first
    uint64_t count = 1;  // matching calls that fail after them (kForever: all)
    Code code = Code::kUnavailable;
    std::string path_prefix;  // "" : every path
    bool reads_too = false;   // also fail reads (kRead); by default only calls that change files
  };

  struct Counters {
    uint64_t open = 0, append = 0, sync = 0, close = 0, rename = 0, remove = 0, sync_dir = 0,
             create_dirs = 0, read = 0;
    uint64_t failed = 0;  // calls failed by injection or by the byte budget
    // Every call but reads.
    uint64_t mutating() const {
      return open + append + sync + close + rename + remove + sync_dir + create_dirs;
    }
  };

  explicit FaultInjectionEnv(Env& base = Env::Default());
  ~FaultInjectionEnv() override;
  FaultInjectionEnv(const FaultInjectionEnv&) = delete;
  FaultInjectionEnv& operator=(const FaultInjectionEnv&) = delete;

  // --- Env ---
  Result<std::unique_ptr<WritableFile>> OpenForWrite(const std::string& path, OpenMode open_mode,
                                                     mode_t mode = 0600) override;
  Result<std::string> ReadFile(const std::string& path,
                               uint64_t max_bytes = uint64_t{1} << 30) override;
  Result<bool> FileExists(const std::string& path) override;
  Result<uint64_t> FileSize(const std::string& path) override;
  Result<std::vector<std::string>> ListDir(const std::string& dir) override;
  Status CreateDirs(const std::string& dir, mode_t mode = 0700) override;
  Status RenameFile(const std::string& from, const std::string& to) override;
  Status RemoveFile(const std::string& path) override;
  Status SyncDir(const std::string& dir) override;

  // --- Crash ---
  // Simulates a crash (see above) and forgets what it tracked: afterwards everything on disk
  // counts as durable. Injected faults and the byte budget stay armed. Files still open must
  // not be used afterwards. Errors come from the wrapped Env.
  Status DropUnsyncedData();
  // Forgets what it tracked without dropping anything (as if everything had been synced).
  void ResetState();

  // --- Faults ---
  // Replaces any armed fault.
  void FailCalls(FaultSpec spec);
  // The next `n` calls that change files (under `path_prefix`) fail with `code`.
  void FailNextCalls(uint64_t n, Code code = Code::kUnavailable, std::string path_prefix = "");
  void ClearFaults();
  // Appends fail with kResourceExhausted once `bytes` more bytes have been appended (the part
  // of an append that fits is written first).
  void SetNoSpaceAfterBytes(uint64_t bytes);
  void ClearNoSpace();

  Counters counters() const;
  void ResetCounters();

 private:
  class File;
  struct FileState {
    std::string path;     // current name; GUARDED_BY(mu_)
    uint64_t size = 0;    // bytes written through this env (or found on open for kAppend)
    uint64_t synced = 0;  // bytes made durable by Sync
  };
  // What a name durably held before its first change since its directory's last SyncDir.
  struct NameUndo {
    bool existed = false;
    std::string content;  // when it existed: its durable bytes
  };

  // Counts the call and returns the injected failure, if any. Caller holds mu_.
  Status Intercept(Op op, const std::string& path);
  // Records the durable state of `path` before a change, unless already recorded since the
  // last SyncDir of its directory. Caller holds mu_.
  Status RememberName(const std::string& path);
  // The bytes of `path` that survive a crash: its synced prefix when tracked, all of it
  // otherwise. Caller holds mu_.
  Result<std::string> DurableContent(const std::string& path);
  Status WriteWhole(const std::string& path, const std::string& content);
  Status AppendLocked(FileState& state, WritableFile& base, std::string_view data);
  Status SyncLocked(FileState& state, WritableFile& base);
  Status CloseLocked(FileState& state, WritableFile& base);

  Env& base_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<FileState>> files_;  // by current name; GUARDED_BY(mu_)
  std::map<std::string, NameUndo> names_;                    // GUARDED_BY(mu_)
  std::optional<FaultSpec> fault_;                           // GUARDED_BY(mu_)
  std::optional<uint64_t> space_left_;                       // GUARDED_BY(mu_)
  Counters counters_;                                        // GUARDED_BY(mu_)
};

}  // namespace hygie
