#pragma once
// RecordSource: read access to the records of the audit journal, tree by tree, as the
// exporters (syslog, AuditEvent reads) need it. The Journal implements it.
//
// Thread-safety: implementations are thread-safe.

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace hygie::audit {

class RecordSource {
 public:
  virtual ~RecordSource() = default;
  // Names of the trees (tenants and kSystemTree), sorted.
  virtual std::vector<std::string> Trees() const = 0;
  // Number of durable records in a tree (0 for an unknown tree).
  virtual uint64_t Size(const std::string& tree) const = 0;
  // Appends to `out` the JSON texts (EncodeRecord) of records [from, from + max) of a tree
  // that are durable, in order. Records whose bodies were pruned by retention are skipped:
  // *next is set to the index after the last record considered, so a reader resumes there.
  virtual Status Read(const std::string& tree, uint64_t from, size_t max,
                      std::vector<std::string>* out, uint64_t* next) const = 0;
};

}  // namespace hygie::audit
