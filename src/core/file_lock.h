#pragma once
// FileLock: an exclusive advisory lock (flock) on a file, held for the object's lifetime, that
// serializes writers across processes (the command line and a running server): the grants
// registry, the audit spool, the installation's backup shipping.
//
// Thread-compatible: flock is per open file, so threads of one process need their own mutex.

#include <string>

#include "core/status.h"

namespace hygie {

class FileLock {
 public:
  // Opens (creates, mode 0600) `path` and waits for the lock.
  static Result<FileLock> Take(const std::string& path);
  // Takes the lock if no one holds it; kFailedPrecondition otherwise.
  static Result<FileLock> TryTake(const std::string& path);
  FileLock(FileLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  FileLock& operator=(FileLock&&) = delete;
  ~FileLock();  // releases the lock

 private:
  static Result<FileLock> Open(const std::string& path, bool wait);
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace hygie
