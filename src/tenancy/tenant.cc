#include "tenancy/tenant.h"

namespace hygie::tenancy {

bool IsValidTenantName(std::string_view name) {
  if (name.size() < 2 || name.size() > 63) return false;
  if (name.front() == '-' || name.back() == '-') return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace hygie::tenancy
