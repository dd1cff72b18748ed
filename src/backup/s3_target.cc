#include "backup/s3_target.h"

#include <algorithm>

namespace hygie::backup {

S3Target::S3Target(S3ClientConfig config, int64_t retention_s, const Clock& clock)
    : endpoint_(config.endpoint + "/" + config.bucket),
      client_(std::move(config), clock),
      retention_s_(retention_s),
      clock_(clock) {}

std::string S3Target::Describe() const { return "S3 " + endpoint_; }

Status S3Target::CheckObjectLock() const {
  HYGIE_ASSIGN_OR_RETURN(ObjectLockConfiguration lock, client_.GetObjectLockConfiguration());
  if (!lock.enabled) {
    return FailedPrecondition("bucket " + client_.bucket() +
                              " has no Object Lock: create it with Object Lock enabled, so that "
                              "backups cannot be deleted or altered");
  }
  return Status::Ok();
}

Status S3Target::Put(const std::string& name, std::string_view bytes) {
  HYGIE_ASSIGN_OR_RETURN(std::optional<S3ObjectInfo> head, client_.HeadObject(name));
  if (head.has_value()) {
    HYGIE_ASSIGN_OR_RETURN(std::string existing, Get(name));
    if (existing == bytes) return Status::Ok();
    return AlreadyExists("backup target: " + name + " exists with other contents");
  }
  PutObjectOptions options;
  options.lock_mode = LockMode::kCompliance;
  options.retain_until = clock_.NowSeconds() + retention_s_;
  return client_.PutObject(name, std::string(bytes), options).status();
}

Result<std::string> S3Target::Get(const std::string& name) {
  HYGIE_ASSIGN_OR_RETURN(std::vector<ObjectVersion> versions, client_.ListObjectVersions(name));
  // Newest first within a key; the original is the last version of exactly this name.
  const ObjectVersion* original = nullptr;
  for (const ObjectVersion& v : versions) {
    if (v.key == name && !v.is_delete_marker) original = &v;
  }
  if (original == nullptr) return NotFound("backup target: no object " + name);
  HYGIE_ASSIGN_OR_RETURN(GetObjectResult got, client_.GetObject(name, original->version_id));
  return std::move(got.body);
}

Result<std::vector<ObjectInfo>> S3Target::List(const std::string& prefix) {
  HYGIE_ASSIGN_OR_RETURN(std::vector<ListedObject> listed, client_.ListObjects(prefix));
  std::vector<ObjectInfo> out;
  out.reserve(listed.size());
  for (const ListedObject& o : listed) {
    out.push_back({o.key, static_cast<uint64_t>(std::max<int64_t>(0, o.size))});
  }
  std::sort(out.begin(), out.end(),
            [](const ObjectInfo& a, const ObjectInfo& b) { return a.name < b.name; });
  return out;
}

Status S3Target::Delete(const std::string& name) {
  HYGIE_ASSIGN_OR_RETURN(std::vector<ObjectVersion> versions, client_.ListObjectVersions(name));
  bool found = false;
  for (const ObjectVersion& v : versions) {
    if (v.key != name) continue;
    found = true;
    DeleteObjectOptions options;
    options.version_id = v.version_id;
    HYGIE_RETURN_IF_ERROR(client_.DeleteObject(name, options).status());
  }
  if (!found) return NotFound("backup target: no object " + name);
  return Status::Ok();
}

}  // namespace hygie::backup
