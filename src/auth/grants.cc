#include "auth/grants.h"

#include "core/file_lock.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "core/clock.h"
#include "core/log.h"
#include "crypto/primitives.h"
#include "tenancy/tenant.h"

namespace hygie::auth {

namespace {

constexpr int kFileFormat = 1;

Status Errno(std::string_view what, const std::string& path) {
  return Unavailable(std::string(what) + " " + path + ": " + std::strerror(errno));
}

// Printable text without control characters (UTF-8 bytes >= 0x80 are allowed).
bool IsPlainText(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

bool IsBlank(std::string_view s) { return s.find_first_not_of(" \t") == std::string_view::npos; }

bool IsValidGrantId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

Status CheckName(std::string_view what, std::string_view value) {
  if (value.empty() || value.size() > kMaxSubjectBytes || !IsPlainText(value) || IsBlank(value)) {
    return InvalidArgument(std::string(what) + " must be 1 to " + std::to_string(kMaxSubjectBytes) +
                           " printable characters");
  }
  return Status::Ok();
}

Status CheckReason(std::string_view what, std::string_view reason) {
  if (reason.empty() || IsBlank(reason)) return InvalidArgument(std::string(what) + " is required");
  if (reason.size() > kMaxReasonBytes) {
    return InvalidArgument(std::string(what) + " must be at most " +
                           std::to_string(kMaxReasonBytes) + " bytes");
  }
  if (!IsPlainText(reason)) {
    return InvalidArgument(std::string(what) + " must not hold control characters");
  }
  return Status::Ok();
}

// The identity of a file's current version: a rename gives a new inode, a write a new mtime.
std::string FileIdentity(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return {};
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" +
         std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec);
}

std::string EncodeFile(const std::string& tenant, const std::vector<Grant>& grants) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("format");
  w.Int(kFileFormat);
  w.Key("tenant");
  w.String(tenant);
  w.Key("grants");
  w.StartArray();
  for (const Grant& g : grants) {
    w.StartObject();
    w.Key("id");
    w.String(g.id);
    w.Key("subject");
    w.String(g.subject);
    w.Key("role");
    w.String(std::string(RoleName(g.role)));
    w.Key("kind");
    w.String(std::string(GrantKindName(g.kind)));
    w.Key("emergency");
    w.Bool(g.emergency);
    w.Key("owner");
    w.String(g.owner);
    w.Key("reason");
    w.String(g.reason);
    w.Key("start");
    w.Int64(g.start);
    w.Key("end");
    w.Int64(g.end);
    w.Key("created");
    w.Int64(g.created);
    w.Key("revoked");
    w.Int64(g.revoked);
    w.Key("revoker");
    w.String(g.revoker);
    w.Key("revokeReason");
    w.String(g.revoke_reason);
    w.Key("lastUsed");
    w.Int64(g.last_used);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize()) + "\n";
}

Result<std::vector<Grant>> DecodeFile(const std::string& path, const std::string& tenant,
                                      const std::string& text) {
  Status damaged = DataLoss(path + " is damaged");
  rapidjson::Document doc;
  if (doc.Parse(text.data(), text.size()).HasParseError() || !doc.IsObject()) return damaged;
  auto format = doc.FindMember("format");
  auto ten = doc.FindMember("tenant");
  auto list = doc.FindMember("grants");
  if (format == doc.MemberEnd() || !format->value.IsInt() || ten == doc.MemberEnd() ||
      !ten->value.IsString() || list == doc.MemberEnd() || !list->value.IsArray()) {
    return damaged;
  }
  if (format->value.GetInt() != kFileFormat) {
    return FailedPrecondition(path + " has an unknown format " +
                              std::to_string(format->value.GetInt()));
  }
  if (tenant != ten->value.GetString()) return DataLoss(path + " names another tenant");
  std::vector<Grant> out;
  for (const auto& v : list->value.GetArray()) {
    if (!v.IsObject()) return damaged;
    auto str = [&](const char* name, std::string* dst) {
      auto it = v.FindMember(name);
      if (it == v.MemberEnd() || !it->value.IsString()) return false;
      dst->assign(it->value.GetString(), it->value.GetStringLength());
      return true;
    };
    auto num = [&](const char* name, int64_t* dst) {
      auto it = v.FindMember(name);
      if (it == v.MemberEnd() || !it->value.IsInt64()) return false;
      *dst = it->value.GetInt64();
      return true;
    };
    Grant g;
    g.tenant = tenant;
    std::string role, kind;
    auto em = v.FindMember("emergency");
    if (!str("id", &g.id) || !str("subject", &g.subject) || !str("role", &role) ||
        !str("kind", &kind) || !str("owner", &g.owner) || !str("reason", &g.reason) ||
        !num("start", &g.start) || !num("end", &g.end) || !num("created", &g.created) ||
        !num("revoked", &g.revoked) || !str("revoker", &g.revoker) ||
        !str("revokeReason", &g.revoke_reason) || !num("lastUsed", &g.last_used) ||
        em == v.MemberEnd() || !em->value.IsBool()) {
      return damaged;
    }
    g.emergency = em->value.GetBool();
    auto r = ParseRole(role);
    auto k = ParseGrantKind(kind);
    if (!r || !k || !IsValidGrantId(g.id)) return damaged;
    g.role = *r;
    g.kind = *k;
    out.push_back(std::move(g));
  }
  return out;
}

// Grants are immutable but for revocation and last use: the union by id, where a revocation
// (the earliest) and the latest use win. Keeps the order of `a`, then the newcomers of `b`
// (files list grants in the order they were made).
std::vector<Grant> Merge(std::vector<Grant> a, const std::vector<Grant>& b) {
  std::unordered_map<std::string, size_t> at;
  for (size_t i = 0; i < a.size(); ++i) at.emplace(a[i].id, i);
  for (const Grant& g : b) {
    auto it = at.find(g.id);
    if (it == at.end()) {
      at.emplace(g.id, a.size());
      a.push_back(g);
      continue;
    }
    Grant& m = a[it->second];
    if (g.revoked != 0 && (m.revoked == 0 || g.revoked < m.revoked)) {
      m.revoked = g.revoked;
      m.revoker = g.revoker;
      m.revoke_reason = g.revoke_reason;
    }
    m.last_used = std::max(m.last_used, g.last_used);
  }
  return a;
}

}  // namespace

// ---- names ----

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kTenantAdmin:
      return "tenant-admin";
    case Role::kPractitioner:
      return "practitioner";
    case Role::kService:
      return "service";
    case Role::kAuditor:
      return "auditor";
    case Role::kHostOperator:
      return "host-operator";
  }
  return "";
}

std::optional<Role> ParseRole(std::string_view name) {
  for (Role r : {Role::kTenantAdmin, Role::kPractitioner, Role::kService, Role::kAuditor,
                 Role::kHostOperator}) {
    if (RoleName(r) == name) return r;
  }
  return std::nullopt;
}

std::string_view GrantKindName(GrantKind kind) {
  return kind == GrantKind::kBreakGlass ? "break-glass" : "normal";
}

std::optional<GrantKind> ParseGrantKind(std::string_view name) {
  if (name == "normal") return GrantKind::kNormal;
  if (name == "break-glass") return GrantKind::kBreakGlass;
  return std::nullopt;
}

std::string_view IntentName(Intent intent) {
  switch (intent) {
    case Intent::kReadHealthData:
      return "read-health-data";
    case Intent::kWriteHealthData:
      return "write-health-data";
    case Intent::kReadAudit:
      return "read-audit";
    case Intent::kAdministerTenant:
      return "administer-tenant";
    case Intent::kAdministerHost:
      return "administer-host";
  }
  return "";
}

bool Grant::Matches(std::string_view sub, std::string_view professional_id) const {
  if (subject.starts_with(kProfessionalSubjectPrefix)) {
    std::string_view pro = std::string_view(subject).substr(kProfessionalSubjectPrefix.size());
    return !professional_id.empty() && pro == professional_id;
  }
  return !sub.empty() && subject == sub;
}

Result<int64_t> ParseDurationSeconds(std::string_view text) {
  Status bad = InvalidArgument(
      "a duration is a number of seconds, or a number followed by s, m, "
      "h or d (e.g. 8h)");
  if (text.empty()) return bad;
  int64_t unit = 1;
  switch (text.back()) {
    case 's':
      text.remove_suffix(1);
      break;
    case 'm':
      unit = 60;
      text.remove_suffix(1);
      break;
    case 'h':
      unit = 3600;
      text.remove_suffix(1);
      break;
    case 'd':
      unit = 86400;
      text.remove_suffix(1);
      break;
    default:
      break;
  }
  if (text.empty() || text.size() > 9 || text.find_first_not_of("0123456789") != text.npos) {
    return bad;
  }
  int64_t n = std::stoll(std::string(text)) * unit;
  if (n <= 0) return bad;
  return n;
}

// ---- store ----

struct GrantStore::TenantGrants {
  std::vector<Grant> grants;         // GUARDED_BY(mu_)
  std::string identity;              // of the file the grants were read from; GUARDED_BY(mu_)
  std::atomic<int64_t> checked{-1};  // the second of the last identity check
};

GrantStore::GrantStore(std::string dir, Options options)
    : dir_(std::move(dir)), options_(std::move(options)) {}

GrantStore::~GrantStore() {
  Status s = Flush();
  if (!s.ok()) log::Error("access grants: last uses not written: {}", s.message());
}

Result<std::unique_ptr<GrantStore>> GrantStore::Open(const std::string& data_dir, Options options) {
  std::string dir = data_dir + "/grants";
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return Errno("cannot create", dir);
  std::unique_ptr<GrantStore> store(new GrantStore(dir, std::move(options)));
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return Errno("cannot read", dir);
  std::vector<std::string> tenants;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.size() > 5 && n.ends_with(".json")) {
      std::string t = n.substr(0, n.size() - 5);
      if (tenancy::IsValidTenantName(t)) tenants.push_back(t);
    }
  }
  ::closedir(d);
  for (const std::string& t : tenants) {
    std::string identity;
    HYGIE_ASSIGN_OR_RETURN(std::vector<Grant> grants, store->ReadTenantFile(t, &identity));
    auto tg = std::make_unique<TenantGrants>();
    for (const Grant& g : grants) store->tenant_of_[g.id] = t;
    tg->grants = std::move(grants);
    tg->identity = std::move(identity);
    store->tenants_.emplace(t, std::move(tg));
  }
  return store;
}

Result<std::vector<Grant>> GrantStore::ReadTenantFile(const std::string& tenant,
                                                      std::string* identity) const {
  std::string path = dir_ + "/" + tenant + ".json";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      identity->clear();
      return std::vector<Grant>();
    }
    return Errno("cannot open", path);
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    Status s = Errno("cannot stat", path);
    ::close(fd);
    return s;
  }
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status s = Errno("cannot read", path);
      ::close(fd);
      return s;
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  *identity = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" +
              std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
              std::to_string(st.st_mtim.tv_nsec);
  return DecodeFile(path, tenant, text);
}

Status GrantStore::Update(const std::string& tenant,
                          const std::function<Status(std::vector<Grant>& grants)>& change) {
  if (!tenancy::IsValidTenantName(tenant)) return InvalidArgument("invalid tenant name");
  std::lock_guard write_lock(write_mu_);
  HYGIE_ASSIGN_OR_RETURN(FileLock lock, FileLock::Take(dir_ + "/.lock"));
  std::string identity;
  HYGIE_ASSIGN_OR_RETURN(std::vector<Grant> grants, ReadTenantFile(tenant, &identity));
  {
    std::shared_lock lock_mem(mu_);
    auto it = tenants_.find(tenant);
    if (it != tenants_.end()) grants = Merge(std::move(grants), it->second->grants);
  }
  {
    std::lock_guard use_lock(use_mu_);
    for (Grant& g : grants) {
      auto u = uses_.find(g.id);
      if (u != uses_.end()) g.last_used = std::max(g.last_used, u->second);
    }
  }
  HYGIE_RETURN_IF_ERROR(change(grants));
  std::string path = dir_ + "/" + tenant + ".json";
  Status written_status = options_.env->WriteFileAtomic(path, EncodeFile(tenant, grants), 0600);
  if (!written_status.ok()) {
    return Unavailable("cannot write " + path + ": " + written_status.message());
  }
  std::string written = FileIdentity(path);
  {
    std::unique_lock lock_mem(mu_);
    auto& tg = tenants_[tenant];
    if (!tg) tg = std::make_unique<TenantGrants>();
    for (const Grant& g : grants) tenant_of_[g.id] = tenant;
    tg->grants = grants;
    tg->identity = written;
  }
  {
    std::lock_guard use_lock(use_mu_);
    for (const Grant& g : grants) {
      auto u = uses_.find(g.id);
      if (u != uses_.end() && u->second <= g.last_used) uses_.erase(u);
    }
  }
  return Status::Ok();
}

void GrantStore::MaybeReload(const std::string& tenant, int64_t now) {
  TenantGrants* tg = nullptr;
  {
    std::shared_lock lock(mu_);
    auto it = tenants_.find(tenant);
    if (it != tenants_.end()) tg = it->second.get();
  }
  if (tg == nullptr) {
    if (!tenancy::IsValidTenantName(tenant)) return;
    std::unique_lock lock(mu_);
    auto& slot = tenants_[tenant];
    if (!slot) slot = std::make_unique<TenantGrants>();
    tg = slot.get();
  }
  int64_t prev = tg->checked.load();
  if (prev == now || !tg->checked.compare_exchange_strong(prev, now)) return;
  std::string path = dir_ + "/" + tenant + ".json";
  std::string identity = FileIdentity(path);
  {
    std::shared_lock lock(mu_);
    if (identity == tg->identity) return;
  }
  std::lock_guard write_lock(write_mu_);
  auto grants = ReadTenantFile(tenant, &identity);
  if (!grants.ok()) {
    log::Error("access grants of {}: {}", tenant, grants.status().message());
    return;
  }
  std::unique_lock lock(mu_);
  tg->grants = Merge(std::move(grants).value(), tg->grants);
  for (const Grant& g : tg->grants) tenant_of_[g.id] = tenant;
  tg->identity = identity;
}

Status ValidateGrantRequest(const GrantRequest& rq, int64_t now) {
  if (!tenancy::IsValidTenantName(rq.tenant)) {
    return InvalidArgument("tenant name must be 2 to 63 characters of a-z, 0-9 and '-'");
  }
  HYGIE_RETURN_IF_ERROR(CheckName("subject", rq.subject));
  if (rq.subject == kProfessionalSubjectPrefix) {
    return InvalidArgument("subject \"pro:\" must be followed by a professional id");
  }
  HYGIE_RETURN_IF_ERROR(CheckName("owner", rq.owner));
  HYGIE_RETURN_IF_ERROR(CheckReason("reason", rq.reason));
  if (!rq.id.empty() && !IsValidGrantId(rq.id)) {
    return InvalidArgument("grant id must be 1 to 64 characters of a-z, 0-9 and '-'");
  }
  int64_t max_length = kMaxGrantSeconds;
  if (rq.kind == GrantKind::kNormal) {
    if (rq.role == Role::kHostOperator) {
      return InvalidArgument(
          "host-operator is a role of the host: a tenant gives its staff health-data access "
          "only through a break-glass grant");
    }
    if (rq.emergency) return InvalidArgument("only a break-glass grant can be an emergency");
  } else {
    if (rq.role != Role::kHostOperator) {
      return InvalidArgument("a break-glass grant is for a host operator (role host-operator)");
    }
    max_length = kMaxBreakGlassSeconds;
  }
  int64_t start = rq.start == 0 ? now : rq.start;
  if (start < now - kMaxBackdateSeconds) {
    return InvalidArgument("a grant cannot start in the past");
  }
  if (start > now + kMaxGrantSeconds) return InvalidArgument("a grant starts within a year");
  if (rq.end == 0) return InvalidArgument("a grant needs an end");
  if (rq.end <= start || rq.end <= now)
    return InvalidArgument(
        "the end must be after the start "
        "and in the future");
  if (rq.end - start > max_length) {
    return InvalidArgument(rq.kind == GrantKind::kBreakGlass
                               ? "a break-glass grant lasts at most 72 hours"
                               : "a grant lasts at most 366 days");
  }
  return Status::Ok();
}

Result<Grant> GrantStore::Create(const GrantRequest& rq, int64_t now) {
  HYGIE_RETURN_IF_ERROR(ValidateGrantRequest(rq, now));
  int64_t start = rq.start == 0 ? now : rq.start;
  Grant g;
  g.id = rq.id.empty() ? crypto::RandomId() : rq.id;
  g.tenant = rq.tenant;
  g.subject = rq.subject;
  g.role = rq.role;
  g.kind = rq.kind;
  g.emergency = rq.emergency;
  g.owner = rq.owner;
  g.reason = rq.reason;
  g.start = start;
  g.end = rq.end;
  g.created = now;
  HYGIE_RETURN_IF_ERROR(Update(rq.tenant, [&](std::vector<Grant>& grants) -> Status {
    {
      std::shared_lock lock(mu_);
      auto other = tenant_of_.find(g.id);
      if (other != tenant_of_.end() && other->second != rq.tenant) {
        return AlreadyExists("grant id already in use");
      }
    }
    for (const Grant& e : grants) {
      if (e.id == g.id) return AlreadyExists("grant id already in use");
    }
    grants.push_back(g);
    return Status::Ok();
  }));
  if (g.emergency) {
    log::Warn("access grants: emergency break-glass grant {} on tenant {} until {}", g.id, g.tenant,
              FormatInstant(g.end * 1000000));
    if (options_.on_emergency) options_.on_emergency(g);
  }
  return g;
}

Result<Grant> GrantStore::Revoke(const std::string& tenant, const std::string& id,
                                 const std::string& revoker, const std::string& reason,
                                 int64_t now) {
  HYGIE_RETURN_IF_ERROR(CheckName("revoker", revoker));
  HYGIE_RETURN_IF_ERROR(CheckReason("revocation reason", reason));
  if (!tenancy::IsValidTenantName(tenant)) return NotFound("no such grant");
  Grant out;
  HYGIE_RETURN_IF_ERROR(Update(tenant, [&](std::vector<Grant>& grants) -> Status {
    for (Grant& g : grants) {
      if (g.id != id) continue;
      if (g.revoked != 0) return FailedPrecondition("grant already revoked");
      g.revoked = now;
      g.revoker = revoker;
      g.revoke_reason = reason;
      out = g;
      return Status::Ok();
    }
    return NotFound("no such grant");
  }));
  return out;
}

Grant GrantStore::WithUse(const Grant& g) const {
  Grant out = g;
  std::lock_guard lock(use_mu_);
  auto u = uses_.find(g.id);
  if (u != uses_.end()) out.last_used = std::max(out.last_used, u->second);
  return out;
}

std::vector<Grant> GrantStore::List(const std::string& tenant) const {
  std::vector<Grant> out;
  std::shared_lock lock(mu_);
  auto it = tenants_.find(tenant);
  if (it == tenants_.end()) return out;
  for (const Grant& g : it->second->grants) out.push_back(WithUse(g));
  return out;
}

Result<Grant> GrantStore::Get(const std::string& tenant, const std::string& id) const {
  std::shared_lock lock(mu_);
  auto it = tenants_.find(tenant);
  if (it != tenants_.end()) {
    for (const Grant& g : it->second->grants) {
      if (g.id == id) return WithUse(g);
    }
  }
  return NotFound("no such grant");
}

void GrantStore::RecordUse(const std::string& grant_id, int64_t time) {
  {
    std::shared_lock lock(mu_);
    if (tenant_of_.find(grant_id) == tenant_of_.end()) return;
  }
  {
    std::lock_guard lock(use_mu_);
    int64_t& t = uses_[grant_id];
    t = std::max(t, time);
  }
  MaybeFlush(time);
}

void GrantStore::MaybeFlush(int64_t now) {
  int64_t next = next_use_flush_.load();
  if (now < next) return;
  if (!next_use_flush_.compare_exchange_strong(next, now + options_.use_flush_interval_seconds)) {
    return;  // another thread flushes
  }
  Status s = Flush();
  if (!s.ok()) log::Error("access grants: last uses not written: {}", s.message());
}

Status GrantStore::Flush() {
  std::vector<std::string> ids;
  {
    std::lock_guard use_lock(use_mu_);
    for (const auto& [id, time] : uses_) ids.push_back(id);
  }
  std::set<std::string> tenants;
  {
    std::shared_lock lock(mu_);
    for (const std::string& id : ids) {
      auto t = tenant_of_.find(id);
      if (t != tenant_of_.end()) tenants.insert(t->second);
    }
  }
  Status first;
  for (const std::string& t : tenants) {
    Status s = Update(t, [](std::vector<Grant>&) { return Status::Ok(); });
    if (!s.ok() && first.ok()) first = s;
  }
  return first;
}

std::vector<GrantReview> GrantStore::Review(const std::string& tenant, int64_t now) const {
  std::vector<GrantReview> out;
  for (Grant& g : List(tenant)) {
    GrantReview r;
    r.revoked = g.revoked != 0;
    r.expired = now >= g.end;
    r.active = g.ActiveAt(now);
    int64_t since = g.last_used != 0 ? g.last_used : g.start;
    r.unused_90_days = r.active && now - since >= kUnusedReviewSeconds;
    r.grant = std::move(g);
    out.push_back(std::move(r));
  }
  return out;
}

AccessDecision GrantStore::Decide(const Accessor& who, const std::string& tenant, int64_t now,
                                  Intent intent) {
  AccessDecision d;
  std::optional<Role> baseline;
  if (!who.role.empty()) {
    baseline = ParseRole(who.role);
    if (!baseline) {
      d.code = "HYGIE-ACCESS-UNKNOWN-ROLE";
      d.reason = "the token's role is not a Hygie role";
      return d;
    }
  }
  const bool host = baseline == Role::kHostOperator;
  auto refuse = [&](std::string code, std::string reason) {
    d.allowed = false;
    d.code = std::move(code);
    d.reason = std::move(reason);
    return d;
  };
  auto allow = [&](const std::string& grant_id) {
    d.allowed = true;
    d.staff = host;
    d.grant_id = grant_id;
    d.code.clear();
    d.reason.clear();
    if (!grant_id.empty()) RecordUse(grant_id, now);
    return d;
  };

  if (intent == Intent::kAdministerHost) {
    if (host) return allow("");
    return refuse("HYGIE-ACCESS-ROLE", "administering the host needs the host-operator role");
  }

  MaybeReload(tenant, now);
  // The subject's active grants in this tenant: roles (normal grants) and break-glass; of
  // several, the one that lasts longest.
  std::map<Role, std::pair<int64_t, std::string>> granted;  // role -> (end, grant id)
  std::optional<Grant> glass;
  {
    std::shared_lock lock(mu_);
    auto it = tenants_.find(tenant);
    if (it != tenants_.end()) {
      for (const Grant& g : it->second->grants) {
        if (!g.ActiveAt(now) || !g.Matches(who.subject, who.professional_id)) continue;
        if (g.kind == GrantKind::kBreakGlass) {
          if (!glass || g.end > glass->end) glass = g;
        } else {
          auto [slot, fresh] = granted.try_emplace(g.role, g.end, g.id);
          if (!fresh && g.end > slot->second.first) slot->second = {g.end, g.id};
        }
      }
    }
  }
  // The grant id giving one of `roles`: "" when the baseline role is one of them, nullopt when
  // neither the baseline nor a grant gives any.
  auto has = [&](std::initializer_list<Role> roles) -> std::optional<std::string> {
    for (Role r : roles) {
      if (baseline == r) return std::string();
    }
    for (Role r : roles) {
      auto it = granted.find(r);
      if (it != granted.end()) return it->second.second;
    }
    return std::nullopt;
  };

  switch (intent) {
    case Intent::kReadHealthData:
    case Intent::kWriteHealthData: {
      if (host) {
        if (intent == Intent::kWriteHealthData) {
          return refuse("HYGIE-ACCESS-STAFF-WRITE", "host staff never write health data");
        }
        if (!glass) {
          return refuse("HYGIE-ACCESS-NO-BREAK-GLASS",
                        "host staff read health data only with an active break-glass grant of "
                        "this tenant");
        }
        d.break_glass = true;
        d.emergency = glass->emergency;
        return allow(glass->id);
      }
      if (!baseline) return allow("");  // a SMART client: its scopes decide
      if (auto id = has({Role::kPractitioner, Role::kService})) return allow(*id);
      return refuse("HYGIE-ACCESS-ROLE", "the role " + std::string(RoleName(*baseline)) +
                                             " does not access health data");
    }
    case Intent::kReadAudit:
      if (auto id = has({Role::kAuditor, Role::kTenantAdmin})) return allow(*id);
      return refuse("HYGIE-ACCESS-ROLE",
                    "reading the audit trail needs the auditor or "
                    "tenant-admin role");
    case Intent::kAdministerTenant:
      if (auto id = has({Role::kTenantAdmin})) return allow(*id);
      return refuse("HYGIE-ACCESS-ROLE", "administering the tenant needs the tenant-admin role");
    case Intent::kAdministerHost:
      break;
  }
  return refuse("HYGIE-ACCESS-ROLE", "not allowed");
}

// ---- JSON views ----

std::string_view GrantStatusAt(const Grant& g, int64_t now) {
  if (g.revoked != 0) return "revoked";
  if (now >= g.end) return "expired";
  if (now < g.start) return "pending";
  return "active";
}

std::vector<std::string> ReviewFlags(const GrantReview& r) {
  std::vector<std::string> flags;
  if (r.revoked) flags.emplace_back("revoked");
  if (r.expired) flags.emplace_back("expired");
  if (r.unused_90_days) flags.emplace_back("unused-90-days");
  if (r.grant.emergency) flags.emplace_back("emergency");
  if (r.grant.kind == GrantKind::kBreakGlass) flags.emplace_back("break-glass");
  return flags;
}

namespace {

std::string Instant(int64_t seconds) { return FormatInstant(seconds * 1000000); }

template <typename Writer>
void WriteGrant(Writer& w, const Grant& g, int64_t now, const GrantReview* review) {
  w.StartObject();
  w.Key("id");
  w.String(g.id);
  w.Key("tenant");
  w.String(g.tenant);
  w.Key("subject");
  w.String(g.subject);
  w.Key("role");
  w.String(std::string(RoleName(g.role)));
  w.Key("kind");
  w.String(std::string(GrantKindName(g.kind)));
  w.Key("emergency");
  w.Bool(g.emergency);
  w.Key("owner");
  w.String(g.owner);
  w.Key("reason");
  w.String(g.reason);
  w.Key("start");
  w.String(Instant(g.start));
  w.Key("end");
  w.String(Instant(g.end));
  w.Key("created");
  w.String(Instant(g.created));
  if (g.revoked != 0) {
    w.Key("revoked");
    w.String(Instant(g.revoked));
    w.Key("revoker");
    w.String(g.revoker);
    w.Key("revokeReason");
    w.String(g.revoke_reason);
  }
  if (g.last_used != 0) {
    w.Key("lastUsed");
    w.String(Instant(g.last_used));
  }
  w.Key("status");
  w.String(std::string(GrantStatusAt(g, now)));
  if (review != nullptr) {
    w.Key("flags");
    w.StartArray();
    for (const std::string& f : ReviewFlags(*review)) w.String(f);
    w.EndArray();
  }
  w.EndObject();
}

}  // namespace

std::string GrantJson(const Grant& grant, int64_t now) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  WriteGrant(w, grant, now, nullptr);
  return std::string(buf.GetString(), buf.GetSize());
}

std::string GrantListJson(const std::string& tenant, const std::vector<Grant>& grants,
                          int64_t now) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("tenant");
  w.String(tenant);
  w.Key("grants");
  w.StartArray();
  for (const Grant& g : grants) WriteGrant(w, g, now, nullptr);
  w.EndArray();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

std::string ReviewJson(const std::string& tenant, const std::vector<GrantReview>& review,
                       int64_t now) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("tenant");
  w.String(tenant);
  w.Key("time");
  w.String(Instant(now));
  w.Key("grants");
  w.StartArray();
  for (const GrantReview& r : review) WriteGrant(w, r.grant, now, &r);
  w.EndArray();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace hygie::auth
