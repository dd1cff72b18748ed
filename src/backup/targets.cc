#include "backup/targets.h"

#include <rapidjson/document.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <sys/stat.h>

#include <algorithm>
#include <span>

#include "backup/s3_target.h"
#include "crypto/secret.h"

namespace hygie::backup {

namespace {

constexpr int kMinRetentionDays = 1;
constexpr int kMaxRetentionDays = 3650;
constexpr size_t kMaxField = 1024;

std::string PathOf(const std::string& data_dir) { return data_dir + "/backup/targets.json"; }

bool ValidName(std::string_view n) {
  if (n.size() < 2 || n.size() > 63) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

bool Printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f; });
}

bool IsLoopbackHttp(std::string_view url) {
  for (std::string_view p :
       {"http://127.", "http://localhost:", "http://localhost/", "http://[::1]"}) {
    if (url.substr(0, p.size()) == p) return true;
  }
  return false;
}

std::string Normalize(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

}  // namespace

std::string_view KindName(TargetConfig::Kind kind) {
  return kind == TargetConfig::Kind::kS3 ? "s3" : "directory";
}

Status ValidateTarget(const TargetConfig& t, const std::string& data_dir) {
  if (!ValidName(t.name)) {
    return InvalidArgument("a target name is 2 to 63 characters among a-z, 0-9 and '-'");
  }
  if (t.site.empty()) return InvalidArgument("a target must name its site (--site)");
  for (const std::string* f :
       {&t.path, &t.endpoint, &t.region, &t.bucket, &t.credentials_file, &t.ca_file, &t.site}) {
    if (f->size() > kMaxField || !Printable(*f)) {
      return InvalidArgument("a target's field is too long or holds control characters");
    }
  }
  if (t.kind == TargetConfig::Kind::kDirectory) {
    if (t.path.empty() || t.path.front() != '/') {
      return InvalidArgument("a directory target needs an absolute path (--dir /mnt/backup)");
    }
    if (t.path.find("/../") != std::string::npos || t.path.find("/./") != std::string::npos) {
      return InvalidArgument("a directory target's path must not hold . or .. parts");
    }
    std::string path = Normalize(t.path) + "/";
    std::string data = Normalize(data_dir) + "/";
    if (!data_dir.empty() &&
        (path.compare(0, data.size(), data) == 0 || data.compare(0, path.size(), path) == 0)) {
      return InvalidArgument("a directory target must be outside the data directory (" + data_dir +
                             "): a backup beside the data is lost with it");
    }
    return Status::Ok();
  }
  if (t.endpoint.compare(0, 8, "https://") != 0 && !IsLoopbackHttp(t.endpoint)) {
    return InvalidArgument("an S3 endpoint is an https:// URL (http:// only on loopback)");
  }
  if (t.bucket.size() < 3 || t.bucket.size() > 63 ||
      !std::all_of(t.bucket.begin(), t.bucket.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
      })) {
    return InvalidArgument("an S3 bucket name is 3 to 63 characters among a-z, 0-9, '-' and '.'");
  }
  if (t.region.empty()) return InvalidArgument("an S3 target needs a region");
  if (t.retention_days < kMinRetentionDays || t.retention_days > kMaxRetentionDays) {
    return InvalidArgument("Object Lock retention is 1 to 3650 days");
  }
  if (t.credentials_file.empty() || t.credentials_file.front() != '/') {
    return InvalidArgument(
        "an S3 target needs --credentials-file, an absolute path to a file of mode 0600 "
        "holding {\"access_key_id\": ..., \"secret_access_key\": ...}");
  }
  return Status::Ok();
}

Result<std::vector<TargetConfig>> LoadTargets(const std::string& data_dir, Env& env) {
  std::vector<TargetConfig> out;
  auto text = env.ReadFile(PathOf(data_dir), 1 << 20);
  if (!text.ok()) {
    if (text.status().code() == Code::kNotFound) return out;
    return text.status();
  }
  rapidjson::Document d;
  d.Parse(text->data(), text->size());
  auto damaged = [&] { return DataLoss(PathOf(data_dir) + " is damaged"); };
  if (d.HasParseError() || !d.IsObject() || !d.HasMember("targets") || !d["targets"].IsArray()) {
    return damaged();
  }
  for (const auto& v : d["targets"].GetArray()) {
    if (!v.IsObject()) return damaged();
    TargetConfig t;
    auto str = [&v](const char* key, std::string* out) {
      auto it = v.FindMember(key);
      if (it == v.MemberEnd()) return true;
      if (!it->value.IsString()) return false;
      *out = it->value.GetString();
      return true;
    };
    std::string kind;
    if (!str("name", &t.name) || !str("kind", &kind) || !str("site", &t.site) ||
        !str("path", &t.path) || !str("endpoint", &t.endpoint) || !str("region", &t.region) ||
        !str("bucket", &t.bucket) || !str("credentials_file", &t.credentials_file) ||
        !str("ca_file", &t.ca_file)) {
      return damaged();
    }
    if (kind == "s3") {
      t.kind = TargetConfig::Kind::kS3;
    } else if (kind != "directory") {
      return damaged();
    }
    if (auto keep = v.FindMember("keep"); keep != v.MemberEnd()) {
      if (!keep->value.IsObject()) return damaged();
      for (auto [key, field] :
           {std::pair{"daily", &t.keep.daily}, std::pair{"weekly", &t.keep.weekly},
            std::pair{"monthly", &t.keep.monthly}}) {
        auto it = keep->value.FindMember(key);
        if (it == keep->value.MemberEnd()) continue;
        if (!it->value.IsUint()) return damaged();
        *field = it->value.GetUint();
      }
    }
    auto days = v.FindMember("retention_days");
    if (days != v.MemberEnd()) {
      if (!days->value.IsInt()) return damaged();
      t.retention_days = days->value.GetInt();
    }
    out.push_back(std::move(t));
  }
  std::sort(out.begin(), out.end(),
            [](const TargetConfig& a, const TargetConfig& b) { return a.name < b.name; });
  return out;
}

namespace {

Status Save(const std::string& data_dir, const std::vector<TargetConfig>& targets, Env& env) {
  rapidjson::StringBuffer buf;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("targets");
  w.StartArray();
  for (const TargetConfig& t : targets) {
    w.StartObject();
    auto put = [&w](const char* key, const std::string& value) {
      if (value.empty()) return;
      w.Key(key);
      w.String(value.c_str(), static_cast<rapidjson::SizeType>(value.size()));
    };
    put("name", t.name);
    put("kind", std::string(KindName(t.kind)));
    put("site", t.site);
    if (t.kind == TargetConfig::Kind::kDirectory) {
      put("path", t.path);
    } else {
      put("endpoint", t.endpoint);
      put("region", t.region);
      put("bucket", t.bucket);
      w.Key("retention_days");
      w.Int(t.retention_days);
      put("credentials_file", t.credentials_file);
      put("ca_file", t.ca_file);
    }
    w.Key("keep");
    w.StartObject();
    w.Key("daily");
    w.Uint(t.keep.daily);
    w.Key("weekly");
    w.Uint(t.keep.weekly);
    w.Key("monthly");
    w.Uint(t.keep.monthly);
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  HYGIE_RETURN_IF_ERROR(env.CreateDirs(data_dir + "/backup", 0700));
  return env.WriteFileAtomic(PathOf(data_dir), std::string(buf.GetString(), buf.GetSize()) + "\n",
                             0600);
}

}  // namespace

Status AddTarget(const std::string& data_dir, const TargetConfig& target, Env& env) {
  HYGIE_RETURN_IF_ERROR(ValidateTarget(target, data_dir));
  HYGIE_ASSIGN_OR_RETURN(std::vector<TargetConfig> targets, LoadTargets(data_dir, env));
  for (const TargetConfig& t : targets) {
    if (t.name == target.name) return AlreadyExists("a target named " + t.name + " exists");
  }
  targets.push_back(target);
  return Save(data_dir, targets, env);
}

Status RemoveTarget(const std::string& data_dir, const std::string& name, Env& env) {
  HYGIE_ASSIGN_OR_RETURN(std::vector<TargetConfig> targets, LoadTargets(data_dir, env));
  auto it = std::find_if(targets.begin(), targets.end(),
                         [&](const TargetConfig& t) { return t.name == name; });
  if (it == targets.end()) return NotFound("no backup target named " + name);
  targets.erase(it);
  return Save(data_dir, targets, env);
}

Status SetRetention(const std::string& data_dir, const std::string& name,
                    const RetentionPolicy& keep, Env& env) {
  constexpr uint32_t kMaxPoints = 1000;
  if (keep.daily == 0 && keep.weekly == 0 && keep.monthly == 0) {
    return InvalidArgument(
        "a retention keeps at least one daily, weekly or monthly restore point (the newest one "
        "is always kept)");
  }
  if (keep.daily > kMaxPoints || keep.weekly > kMaxPoints || keep.monthly > kMaxPoints) {
    return InvalidArgument("a retention keeps at most 1000 restore points of each kind");
  }
  HYGIE_ASSIGN_OR_RETURN(std::vector<TargetConfig> targets, LoadTargets(data_dir, env));
  auto it = std::find_if(targets.begin(), targets.end(),
                         [&](const TargetConfig& t) { return t.name == name; });
  if (it == targets.end()) return NotFound("no backup target named " + name);
  it->keep = keep;
  return Save(data_dir, targets, env);
}

Result<std::unique_ptr<Target>> OpenTarget(const TargetConfig& target, Env& env) {
  if (target.kind == TargetConfig::Kind::kDirectory) {
    HYGIE_RETURN_IF_ERROR(env.CreateDirs(target.path, 0700));
    return std::unique_ptr<Target>(new DirectoryTarget(target.path, env));
  }
  struct stat st;
  if (::stat(target.credentials_file.c_str(), &st) != 0) {
    return NotFound("cannot read the credentials file " + target.credentials_file);
  }
  if ((st.st_mode & 077) != 0) {
    return FailedPrecondition("the credentials file " + target.credentials_file +
                              " is readable by others: chmod 600 it");
  }
  HYGIE_ASSIGN_OR_RETURN(std::string text, env.ReadFile(target.credentials_file, 64 << 10));
  rapidjson::Document d;
  d.Parse(text.data(), text.size());
  crypto::Wipe(std::span<uint8_t>(reinterpret_cast<uint8_t*>(text.data()), text.size()));
  if (d.HasParseError() || !d.IsObject() || !d.HasMember("access_key_id") ||
      !d["access_key_id"].IsString() || !d.HasMember("secret_access_key") ||
      !d["secret_access_key"].IsString()) {
    return InvalidArgument("the credentials file " + target.credentials_file +
                           " must be {\"access_key_id\": \"...\", \"secret_access_key\": \"...\"}");
  }
  S3ClientConfig config;
  config.endpoint = target.endpoint;
  config.region = target.region;
  config.bucket = target.bucket;
  config.access_key_id = d["access_key_id"].GetString();
  std::string_view secret(d["secret_access_key"].GetString(),
                          d["secret_access_key"].GetStringLength());
  config.secret_key = crypto::SecretKey::FromBytes(AsBytes(secret));
  config.ca_file = target.ca_file;
  return std::unique_ptr<Target>(
      new S3Target(std::move(config), int64_t{target.retention_days} * 86400));
}

}  // namespace hygie::backup
