#pragma once
// Tenants: the customers of a host. A tenant is a wall: its own storage namespace, keys and
// (later) audit log. Names are [a-z0-9-]{2,63}, not starting or ending with '-'.

#include <string_view>

namespace hygie::tenancy {

bool IsValidTenantName(std::string_view name);

}  // namespace hygie::tenancy
