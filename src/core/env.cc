#include "core/env.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace hygie {

namespace {

Status ErrnoStatus(std::string_view what, const std::string& path, int err) {
  std::string m = std::string(what) + " " + path + ": " + std::strerror(err);
  if (err == ENOENT) return NotFound(std::move(m));
  if (err == EEXIST) return AlreadyExists(std::move(m));
  if (err == EACCES || err == EPERM || err == EROFS) return PermissionDenied(std::move(m));
  if (err == ENOSPC || err == EDQUOT) return ResourceExhausted(std::move(m));
  return Unavailable(std::move(m));
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  Status Append(std::string_view data) override {
    if (fd_ < 0) return FailedPrecondition("file closed: " + path_);
    while (!data.empty()) {
      ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("cannot write", path_, errno);
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return Status::Ok();
  }

  Status Sync() override {
    if (fd_ < 0) return FailedPrecondition("file closed: " + path_);
    if (::fdatasync(fd_) != 0) return ErrnoStatus("cannot sync", path_, errno);
    return Status::Ok();
  }

  Status Close() override {
    if (fd_ < 0) return Status::Ok();
    int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) return ErrnoStatus("cannot close", path_, errno);
    return Status::Ok();
  }

 private:
  std::string path_;
  int fd_;
};

class PosixEnv final : public Env {
 public:
  Result<std::unique_ptr<WritableFile>> OpenForWrite(const std::string& path, OpenMode open_mode,
                                                     mode_t mode) override {
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC;
    switch (open_mode) {
      case OpenMode::kTruncate:
        flags |= O_TRUNC;
        break;
      case OpenMode::kAppend:
        flags |= O_APPEND;
        break;
      case OpenMode::kExclusive:
        flags |= O_EXCL;
        break;
    }
    int fd = ::open(path.c_str(), flags, mode);
    if (fd < 0) return ErrnoStatus("cannot open", path, errno);
    return std::unique_ptr<WritableFile>(new PosixWritableFile(path, fd));
  }

  Result<std::string> ReadFile(const std::string& path, uint64_t max_bytes) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus("cannot open", path, errno);
    std::string out;
    char buf[64 * 1024];
    while (true) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0) {
        if (errno == EINTR) continue;
        int err = errno;
        ::close(fd);
        return ErrnoStatus("cannot read", path, err);
      }
      if (n == 0) break;
      if (out.size() + static_cast<size_t>(n) > max_bytes) {
        ::close(fd);
        return ResourceExhausted(path + " is larger than " + std::to_string(max_bytes) + " bytes");
      }
      out.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return out;
  }

  Result<bool> FileExists(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) == 0) return true;
    if (errno == ENOENT || errno == ENOTDIR) return false;
    return ErrnoStatus("cannot stat", path, errno);
  }

  Result<uint64_t> FileSize(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return ErrnoStatus("cannot stat", path, errno);
    return static_cast<uint64_t>(st.st_size);
  }

  Result<std::vector<std::string>> ListDir(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return ErrnoStatus("cannot list", dir, errno);
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d)) {
      std::string_view name = e->d_name;
      if (name == "." || name == "..") continue;
      names.emplace_back(name);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
  }

  Status CreateDirs(const std::string& dir, mode_t mode) override {
    if (dir.empty()) return InvalidArgument("empty directory name");
    struct stat st;
    if (::stat(dir.c_str(), &st) == 0) {
      if (S_ISDIR(st.st_mode)) return Status::Ok();
      return AlreadyExists(dir + " exists and is not a directory");
    }
    std::string parent = DirName(dir);
    if (parent != dir && parent != "." && parent != "/") {
      HYGIE_RETURN_IF_ERROR(CreateDirs(parent, mode));
    }
    if (::mkdir(dir.c_str(), mode) != 0 && errno != EEXIST) {
      return ErrnoStatus("cannot create directory", dir, errno);
    }
    return SyncDir(parent);
  }

  Status RenameFile(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return ErrnoStatus("cannot rename", from, errno);
    return Status::Ok();
  }

  Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return ErrnoStatus("cannot remove", path, errno);
    return Status::Ok();
  }

  Status SyncDir(const std::string& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus("cannot open directory", dir, errno);
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return ErrnoStatus("cannot sync directory", dir, err);
    return Status::Ok();
  }
};

}  // namespace

Env& Env::Default() {
  static PosixEnv* env = new PosixEnv();
  return *env;
}

std::string DirName(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

Status Env::WriteFileAtomic(const std::string& path, std::string_view data, mode_t mode) {
  std::string tmp = path + ".tmp";
  // A temporary left by a crash goes first: created afresh, the file gets `mode` (an existing
  // one would keep its own) and a symbolic link planted under its name is never followed.
  Status s = RemoveFile(tmp);
  if (!s.ok() && s.code() != Code::kNotFound) return s;
  s = Status::Ok();
  {
    auto file = OpenForWrite(tmp, OpenMode::kExclusive, mode);
    if (!file.ok()) return file.status();
    s = (*file)->Append(data);
    if (s.ok()) s = (*file)->Sync();
    Status closed = (*file)->Close();
    if (s.ok()) s = closed;
  }
  if (s.ok()) s = RenameFile(tmp, path);
  if (!s.ok()) {
    (void)RemoveFile(tmp);
    return s;
  }
  return SyncDir(DirName(path));
}

Status Env::CreateFileOnce(const std::string& path, std::string_view data, mode_t mode) {
  auto file = OpenForWrite(path, OpenMode::kExclusive, mode);
  if (!file.ok()) return file.status();
  Status s = (*file)->Append(data);
  if (s.ok()) s = (*file)->Sync();
  Status closed = (*file)->Close();
  if (s.ok()) s = closed;
  if (s.ok()) s = SyncDir(DirName(path));
  if (!s.ok()) (void)RemoveFile(path);
  return s;
}

}  // namespace hygie
