#pragma once
// Retention of a tenant's audit records: how long record bodies are kept before retention
// replaces them by their hashes. The CNIL recommends 6 months to 1 year for access logs, up to
// 3 years when justified: the default is 365 days, settable from 183 to 1096. Settings live in
// DATA/audit-retention.json ({"tenant": days, ...}); the _system tree follows "_system".
//
// Thread-safety: functions read and write the file; callers serialize writers.

#include <string>

#include "core/env.h"
#include "core/status.h"

namespace hygie::tenancy {

inline constexpr int kDefaultAuditRetentionDays = 365;
inline constexpr int kMinAuditRetentionDays = 183;
inline constexpr int kMaxAuditRetentionDays = 1096;

// The retention of a tenant (or "_system"); the default when none was set.
Result<int> AuditRetentionDays(const std::string& data_dir, const std::string& tenant);
// kInvalidArgument outside [kMinAuditRetentionDays, kMaxAuditRetentionDays]. The file is
// replaced through env.WriteFileAtomic (mode 0600).
Status SetAuditRetentionDays(const std::string& data_dir, const std::string& tenant, int days,
                             Env& env = Env::Default());

}  // namespace hygie::tenancy
