#pragma once
// Env: the one interface through which Hygie writes its own files (settings, keyring, grants,
// backup state, directory backup targets) and reads them back, as leveldb's Env. Production code
// takes an `Env&` (Env::Default() for the real file system); tests pass a fault-injecting Env
// (core/fault_env.h) that can fail calls and drop every byte that was not synced, to check what
// a crash or a full disk leaves behind.
//
// Durability vocabulary: a file's bytes are durable once WritableFile::Sync() returned ok; a
// file's name (creation, rename, removal) is durable once SyncDir() of its directory returned ok.
// The composite helpers below (WriteFileAtomic, CreateFileOnce) do both before returning ok.
//
// Thread-safety: Env implementations are thread-safe; a WritableFile is used by one thread at a
// time.

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/status.h"

namespace hygie {

// A file open for writing, appended to at its end.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual Status Append(std::string_view data) = 0;
  // Makes every byte appended so far durable (fdatasync).
  virtual Status Sync() = 0;
  // Closes the file; bytes not synced may still be lost by a crash. Called by the destructor
  // when not called before.
  virtual Status Close() = 0;
};

enum class OpenMode {
  kTruncate,   // create or empty an existing file
  kAppend,     // create, or append to an existing file
  kExclusive,  // create; kAlreadyExists when the name exists (never replaces anything)
};

class Env {
 public:
  virtual ~Env() = default;

  // The real file system (POSIX). Never destroyed.
  static Env& Default();

  // --- Primitives (what a fault-injecting Env intercepts) ---
  // `mode` applies to a file this call creates.
  virtual Result<std::unique_ptr<WritableFile>> OpenForWrite(const std::string& path,
                                                             OpenMode open_mode,
                                                             mode_t mode = 0600) = 0;
  // The whole file; kNotFound when it does not exist, kResourceExhausted past max_bytes.
  virtual Result<std::string> ReadFile(const std::string& path,
                                       uint64_t max_bytes = uint64_t{1} << 30) = 0;
  virtual Result<bool> FileExists(const std::string& path) = 0;
  virtual Result<uint64_t> FileSize(const std::string& path) = 0;
  // Names in `dir` (not "." or ".."), sorted; kNotFound when `dir` does not exist.
  virtual Result<std::vector<std::string>> ListDir(const std::string& dir) = 0;
  // Creates `dir` and its missing parents with `mode`, syncing the parent of each directory it
  // creates. Ok when `dir` already exists as a directory.
  virtual Status CreateDirs(const std::string& dir, mode_t mode = 0700) = 0;
  virtual Status RenameFile(const std::string& from, const std::string& to) = 0;
  // kNotFound when it does not exist.
  virtual Status RemoveFile(const std::string& path) = 0;
  // Makes the names in `dir` durable (fsync of the directory).
  virtual Status SyncDir(const std::string& dir) = 0;

  // --- Composite helpers, built on the primitives ---
  // Replaces `path` with `data` all or nothing: writes `path`.tmp (created afresh with `mode`;
  // one left by a crash is removed first), syncs it, renames it over `path` and syncs the
  // directory. On failure `path` is unchanged and the temporary is removed.
  Status WriteFileAtomic(const std::string& path, std::string_view data, mode_t mode = 0600);
  // Creates `path` holding `data`, durable (file and name) on ok. Never replaces: kAlreadyExists
  // when the name exists. On failure, a partly written file is removed.
  Status CreateFileOnce(const std::string& path, std::string_view data, mode_t mode = 0400);
};

// The directory part of `path` ("." when it has none).
std::string DirName(std::string_view path);

}  // namespace hygie
