#include "core/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace hygie {

Result<FileLock> FileLock::Open(const std::string& path, bool wait) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Unavailable("cannot open " + path + ": " + std::strerror(errno));
  while (::flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0) {
    if (errno == EINTR) continue;
    int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) return FailedPrecondition(path + " is locked by another process");
    return Unavailable("cannot lock " + path + ": " + std::strerror(err));
  }
  return FileLock(fd);
}

Result<FileLock> FileLock::Take(const std::string& path) { return Open(path, true); }
Result<FileLock> FileLock::TryTake(const std::string& path) { return Open(path, false); }

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace hygie
