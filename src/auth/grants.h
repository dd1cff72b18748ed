#pragma once
// Access rights ("habilitations"): roles, grants and the access decision.
//
// Roles. The token's "role" claim is a subject's baseline role:
//   tenant-admin   manages the grants of its tenant (administer-tenant); reads its audit trail.
//   practitioner,  read and write health data; their SMART scopes decide what, exactly (the
//   service        decision here only says whether the role may touch health data at all).
//   auditor        reads the audit trail (AuditEvent) of its tenant, nothing else.
//   host-operator  the host's staff: administers the installation (tenants, keys, backups,
//                  supervision: administer-host). Never reads a tenant's audit trail or health
//                  data on its own: reading health data needs an active break-glass grant for
//                  that tenant and that subject, and never writes health data. Every access it
//                  is allowed is marked as a staff access.
// A token without a role claim is a plain SMART client: its scopes alone decide on health data
// (it is treated as "service"); it neither reads audit trails nor administers. A role claim
// that names no known role is refused for everything.
//
// Grants. A grant gives, inside one tenant and for a bounded time [start, end), either
//   - a role (kNormal: tenant-admin, practitioner, service or auditor; never host-operator,
//     which is the host's and not a tenant's to give) to a subject, on top of its baseline
//     role (e.g. a tenant admin makes someone an auditor for three months), or
//   - break-glass access (kBreakGlass, role host-operator): a host operator may read the
//     tenant's health data. The tenant grants it, or, in an emergency, the host operator
//     creates it for itself with a mandatory reason (`emergency`): the tenant must then be
//     alerted (the command line and the admin API record it in the tenant's own audit trail,
//     and Options::on_emergency is called).
// A grant's subject is a token "sub" or, written "pro:<id>", a professional id claim (RPPS,
// IDNPS). Every grant carries its owner (who granted), a reason, creation time, revocation
// (time, revoker, reason) and its last use. Grants are never deleted: they are evidence.
//
// Storage: DATA/grants/<tenant>.json (mode 0600, directory 0700), rewritten whole and atomically
// (Env::WriteFileAtomic: temporary file, fsync, rename, directory fsync) under an exclusive flock
// of DATA/grants/.lock.
// Every write first merges what is on disk (grants are immutable except for their revocation
// and last use; revocation and the latest use win), so a command-line process and a server may
// share a data directory: the server notices a changed file within a second (Decide checks the
// file's identity at most once per second per tenant). Last uses are kept in memory and written
// at most every Options::use_flush_interval_seconds, or on Flush() and on destruction.
//
// Times are seconds since the Unix epoch, UTC.
//
// Thread-safety: GrantStore is thread-safe. Free functions are stateless.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/env.h"
#include "core/status.h"

namespace hygie::auth {

enum class Role { kTenantAdmin, kPractitioner, kService, kAuditor, kHostOperator };

// "tenant-admin", "practitioner", "service", "auditor", "host-operator".
std::string_view RoleName(Role role);
// The role of a name above; nullopt for anything else (including "").
std::optional<Role> ParseRole(std::string_view name);

enum class GrantKind { kNormal, kBreakGlass };
std::string_view GrantKindName(GrantKind kind);  // "normal", "break-glass"
std::optional<GrantKind> ParseGrantKind(std::string_view name);

inline constexpr size_t kMaxReasonBytes = 500;
inline constexpr size_t kMaxSubjectBytes = 256;
inline constexpr int64_t kMaxGrantSeconds = 366LL * 86400;     // a normal grant: 1 year
inline constexpr int64_t kMaxBreakGlassSeconds = 72LL * 3600;  // a break-glass grant: 72 h
// How far in the past a grant may start (clock skew between the granter and the server).
inline constexpr int64_t kMaxBackdateSeconds = 300;
// A grant in force and unused for this long is flagged by Review.
inline constexpr int64_t kUnusedReviewSeconds = 90LL * 86400;
// Prefix of a grant subject that names a professional id instead of a token subject.
inline constexpr std::string_view kProfessionalSubjectPrefix = "pro:";

struct Grant {
  std::string id;  // random ([a-z2-7]{26}) unless the request chose one
  std::string tenant;
  std::string subject;  // token "sub", or "pro:<professional id>"
  Role role = Role::kPractitioner;
  GrantKind kind = GrantKind::kNormal;
  bool emergency = false;  // a break-glass grant a host operator made for itself
  std::string owner;       // who granted (a token subject or a system user)
  std::string reason;
  int64_t start = 0;
  int64_t end = 0;  // exclusive
  int64_t created = 0;
  int64_t revoked = 0;  // 0: not revoked
  std::string revoker;
  std::string revoke_reason;
  int64_t last_used = 0;  // 0: never used

  // start <= now < end and not revoked (a revocation takes effect at once, whatever the time).
  bool ActiveAt(int64_t now) const { return start <= now && now < end && revoked == 0; }
  // Whether this grant applies to a caller with this subject and professional id.
  bool Matches(std::string_view sub, std::string_view professional_id) const;
};

// What Create needs. Validation (kInvalidArgument on failure, nothing stored):
// - tenant is a valid tenant name; subject is 1..kMaxSubjectBytes printable characters (and,
//   as "pro:<id>", a non-empty id); owner likewise;
// - reason: 1..kMaxReasonBytes bytes, not only spaces, no control characters;
// - kNormal: role is tenant-admin, practitioner, service or auditor; emergency is false;
// - kBreakGlass: role is host-operator;
// - end is required and > max(start, now); start (0: now) is at most kMaxBackdateSeconds in
//   the past and at most kMaxGrantSeconds ahead; end - start <= kMaxGrantSeconds (kNormal) or
//   kMaxBreakGlassSeconds (kBreakGlass);
// - id, when set, is 1..64 characters of [a-z0-9-] (the command line picks it first so that
//   the audit record of the act names it); kAlreadyExists if taken.
struct GrantRequest {
  std::string id;  // empty: a random one
  std::string tenant;
  std::string subject;
  Role role = Role::kPractitioner;
  GrantKind kind = GrantKind::kNormal;
  bool emergency = false;
  std::string owner;
  std::string reason;
  int64_t start = 0;  // 0: now
  int64_t end = 0;
};

// The checks of Create, without storing (for callers that record an act before doing it).
// `now` is the creation time.
Status ValidateGrantRequest(const GrantRequest& request, int64_t now);

// The caller of Decide: the parts of a verified token that matter (see token.h Claims).
struct Accessor {
  std::string subject;          // sub
  std::string role;             // role claim, "" when absent
  std::string professional_id;  // professional_id claim, "" when absent
};

enum class Intent {
  kReadHealthData,
  kWriteHealthData,
  kReadAudit,         // the tenant's audit trail (AuditEvent, proofs)
  kAdministerTenant,  // the tenant's own administration: its grants
  kAdministerHost,    // the installation: tenants, keys, backups, supervision
};
std::string_view IntentName(Intent intent);  // "read-health-data", ...

struct AccessDecision {
  bool allowed = false;
  // When refused: a stable code ("HYGIE-ACCESS-ROLE", "HYGIE-ACCESS-UNKNOWN-ROLE",
  // "HYGIE-ACCESS-NO-BREAK-GLASS", "HYGIE-ACCESS-STAFF-WRITE") and a short sentence without
  // health data. Empty when allowed.
  std::string code;
  std::string reason;
  bool staff = false;        // the caller is host staff (host-operator): mark the access
  std::string grant_id;      // the grant that allowed it; empty when the token's role sufficed
  bool break_glass = false;  // allowed by a break-glass grant
  bool emergency = false;    // ... made by the host operator itself
};

// A grant as an access review sees it.
struct GrantReview {
  Grant grant;
  bool active = false;   // in force now
  bool expired = false;  // past its end
  bool revoked = false;
  bool unused_90_days = false;  // in force, and not used for kUnusedReviewSeconds (counted from
                                // its last use, or from its start when never used)
};

class GrantStore {
 public:
  struct Options {
    // Last uses are written at most this often (from RecordUse/Decide), and on Flush().
    int64_t use_flush_interval_seconds = 60;
    // Called after an emergency break-glass grant is stored (to raise an alert to the tenant).
    // Must not call back into the store.
    std::function<void(const Grant&)> on_emergency;
    // Writes the tenants' files (tests pass a fault-injecting one). Must outlive the store.
    Env* env = &Env::Default();
  };

  // Opens (creating DATA/grants when missing) and loads every tenant's file. kDataLoss when a
  // file is damaged, kUnavailable on I/O errors.
  static Result<std::unique_ptr<GrantStore>> Open(const std::string& data_dir, Options options);
  static Result<std::unique_ptr<GrantStore>> Open(const std::string& data_dir) {
    return Open(data_dir, Options());
  }
  ~GrantStore();  // Flush(), errors logged
  GrantStore(const GrantStore&) = delete;
  GrantStore& operator=(const GrantStore&) = delete;

  // Validates (see GrantRequest), stores durably and returns the grant. `now` is the creation
  // time. On any error nothing is stored.
  Result<Grant> Create(const GrantRequest& request, int64_t now);
  // Ends a grant from `now` on. kNotFound for an unknown id in that tenant,
  // kFailedPrecondition when already revoked, kInvalidArgument for a bad revoker or reason.
  Result<Grant> Revoke(const std::string& tenant, const std::string& id, const std::string& revoker,
                       const std::string& reason, int64_t now);
  // Every grant of a tenant (revoked and expired ones too), in the order they were made.
  std::vector<Grant> List(const std::string& tenant) const;
  Result<Grant> Get(const std::string& tenant, const std::string& id) const;
  // Notes a use of a grant (in memory; written at most every use_flush_interval_seconds).
  // Unknown ids are ignored.
  void RecordUse(const std::string& grant_id, int64_t time);
  // Writes pending last uses now.
  Status Flush();
  // Every grant of a tenant with its review flags at `now`, in the order they were made.
  std::vector<GrantReview> Review(const std::string& tenant, int64_t now) const;

  // The access decision for `who` acting on `tenant` at `now` (the caller has already checked
  // that the token is valid and that its tenant claim names `tenant`). Effective roles: the
  // baseline role of the token plus the roles of the subject's normal grants active at `now` in
  // `tenant`. A grant that allows an access which the baseline role alone would not is
  // recorded as used (RecordUse). Rules:
  //   read/write health data: practitioner, service (or no role claim); host-operator: read
  //     only, with an active break-glass grant for this tenant and subject; never write.
  //   read audit: auditor, tenant-admin.
  //   administer tenant: tenant-admin.
  //   administer host: host-operator (the token's role only; no grant gives it).
  // Every allowed access by a host-operator is staff.
  AccessDecision Decide(const Accessor& who, const std::string& tenant, int64_t now, Intent intent);

 private:
  struct TenantGrants;
  GrantStore(std::string dir, Options options);
  // Loads DATA/grants/<tenant>.json; an empty list when it does not exist.
  Result<std::vector<Grant>> ReadTenantFile(const std::string& tenant, std::string* identity) const;
  // Under the directory lock: merges the file and memory, applies `change`, writes, and installs
  // the result in memory.
  Status Update(const std::string& tenant,
                const std::function<Status(std::vector<Grant>& grants)>& change);
  // Reloads a tenant's file when another process changed it (at most once per second).
  void MaybeReload(const std::string& tenant, int64_t now);
  void MaybeFlush(int64_t now);
  // Overlays in-memory last uses. Caller holds mu_ (shared).
  Grant WithUse(const Grant& g) const;

  const std::string dir_;  // DATA/grants
  const Options options_;
  std::mutex write_mu_;  // serializes Update() within the process (the flock is per process)
  mutable std::shared_mutex mu_;
  std::map<std::string, std::unique_ptr<TenantGrants>> tenants_;  // GUARDED_BY(mu_)
  std::unordered_map<std::string, std::string> tenant_of_;  // grant id -> tenant; GUARDED_BY(mu_)
  mutable std::mutex use_mu_;
  std::unordered_map<std::string, int64_t> uses_;  // grant id -> newest use; GUARDED_BY(use_mu_)
  std::atomic<int64_t> next_use_flush_{0};
};

// "3600", "90s", "15m", "8h", "30d" -> seconds; kInvalidArgument when malformed or not positive.
Result<int64_t> ParseDurationSeconds(std::string_view text);

// JSON views (RapidJSON), times as FHIR instants:
// {"id","tenant","subject","role","kind","emergency","owner","reason","start","end","created",
//  "revoked"?,"revoker"?,"revokeReason"?,"lastUsed"?,"status":"pending|active|expired|revoked"}
std::string GrantJson(const Grant& grant, int64_t now);
// {"tenant","grants":[<grant>...]}
std::string GrantListJson(const std::string& tenant, const std::vector<Grant>& grants, int64_t now);
// {"tenant","time","grants":[<grant> + "flags":["revoked","expired","unused-90-days",
//  "emergency","break-glass"]...]}
std::string ReviewJson(const std::string& tenant, const std::vector<GrantReview>& review,
                       int64_t now);
// "pending", "active", "expired" or "revoked" at `now`.
std::string_view GrantStatusAt(const Grant& grant, int64_t now);
// The flags of a review line, in the order above.
std::vector<std::string> ReviewFlags(const GrantReview& review);

}  // namespace hygie::auth
