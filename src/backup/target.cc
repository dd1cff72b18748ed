#include "backup/target.h"

#include <algorithm>
#include <functional>

namespace hygie::backup {

DirectoryTarget::DirectoryTarget(std::string root, Env& env) : root_(std::move(root)), env_(env) {
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
}

Status DirectoryTarget::CheckName(const std::string& name) const {
  if (name.empty() || name.front() == '/' || name.back() == '/') {
    return InvalidArgument("backup target: bad object name");
  }
  size_t start = 0;
  while (start <= name.size()) {
    size_t slash = name.find('/', start);
    std::string_view part = std::string_view(name).substr(
        start, slash == std::string::npos ? std::string::npos : slash - start);
    if (part.empty() || part == "." || part == "..") {
      return InvalidArgument("backup target: bad object name");
    }
    for (char c : part) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '_' || c == '.';
      if (!ok) return InvalidArgument("backup target: bad object name");
    }
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return Status::Ok();
}

Status DirectoryTarget::Put(const std::string& name, std::string_view bytes) {
  HYGIE_RETURN_IF_ERROR(CheckName(name));
  std::string path = root_ + "/" + name;
  HYGIE_RETURN_IF_ERROR(env_.CreateDirs(DirName(path), 0700));
  Status s = env_.CreateFileOnce(path, bytes, 0400);
  if (s.code() == Code::kAlreadyExists) {
    auto existing = env_.ReadFile(path, bytes.size() + 1);
    if (existing.ok() && *existing == bytes) return Status::Ok();
    return AlreadyExists("backup target: " + name + " exists with other contents");
  }
  return s;
}

Result<std::string> DirectoryTarget::Get(const std::string& name) {
  HYGIE_RETURN_IF_ERROR(CheckName(name));
  return env_.ReadFile(root_ + "/" + name);
}

Result<std::vector<ObjectInfo>> DirectoryTarget::List(const std::string& prefix) {
  // Walk the directories the prefix names, then everything below.
  std::vector<ObjectInfo> out;
  std::string dir_part =
      prefix.substr(0, prefix.rfind('/') == std::string::npos ? 0 : prefix.rfind('/') + 1);
  std::function<Status(const std::string&)> walk = [&](const std::string& rel) -> Status {
    std::string dir = rel.empty() ? root_ : root_ + "/" + rel.substr(0, rel.size() - 1);
    auto names = env_.ListDir(dir);
    if (!names.ok()) {
      if (names.status().code() == Code::kNotFound) return Status::Ok();
      return names.status();
    }
    for (const std::string& n : *names) {
      if (n.size() > 4 && n.compare(n.size() - 4, 4, ".tmp") == 0) continue;
      std::string name = rel + n;
      // Skip what cannot lead to the prefix.
      size_t common = std::min(name.size(), prefix.size());
      if (name.compare(0, common, prefix, 0, common) != 0) continue;
      std::string path = root_ + "/" + name;
      auto sub = env_.ListDir(path);
      if (sub.ok()) {
        HYGIE_RETURN_IF_ERROR(walk(name + "/"));
      } else if (name.size() >= prefix.size()) {
        HYGIE_ASSIGN_OR_RETURN(uint64_t size, env_.FileSize(path));
        out.push_back({name, size});
      }
    }
    return Status::Ok();
  };
  HYGIE_RETURN_IF_ERROR(walk(dir_part));
  std::sort(out.begin(), out.end(),
            [](const ObjectInfo& a, const ObjectInfo& b) { return a.name < b.name; });
  return out;
}

Status DirectoryTarget::Delete(const std::string& name) {
  HYGIE_RETURN_IF_ERROR(CheckName(name));
  std::string path = root_ + "/" + name;
  HYGIE_RETURN_IF_ERROR(env_.RemoveFile(path));
  return env_.SyncDir(DirName(path));
}

}  // namespace hygie::backup
