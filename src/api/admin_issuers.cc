#include "api/admin_issuers.h"

#include <mutex>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "api/fhir_internal.h"
#include "tenancy/issuers.h"

namespace hygie::api {
namespace {

std::mutex& FileMutex() {
  static std::mutex mu;
  return mu;
}

std::string ListJson(const std::vector<tenancy::TrustedIssuer>& issuers) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  auto str = [&w](const char* name, const std::string& value) {
    w.Key(name);
    w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  };
  w.StartObject();
  w.Key("issuers");
  w.StartArray();
  for (const tenancy::TrustedIssuer& t : issuers) {
    w.StartObject();
    str("issuer", t.issuer);
    str("audience", t.audience);
    str("scope_claim", t.scope_claim);
    str("roles_claim", t.roles_claim);
    w.Key("role_map");
    w.StartObject();
    for (const auto& [from, to] : t.role_map) {
      w.Key(from.data(), static_cast<rapidjson::SizeType>(from.size()));
      w.String(to.data(), static_cast<rapidjson::SizeType>(to.size()));
    }
    w.EndObject();
    str("default_role", t.default_role);
    str("patient_claim", t.patient_claim);
    str("professional_id_claim", t.professional_id_claim);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize()) + "\n";
}

}  // namespace

http::Response HandleIssuerAdmin(std::string_view method, const std::string& tenant,
                                 const std::vector<std::string>& rest,
                                 const std::vector<std::pair<std::string, std::string>>& query,
                                 std::string_view body, std::string_view caller_role,
                                 const audit::Record& base_record, const IssuerAdminHooks& hooks) {
  if (!rest.empty()) return Outcome(404, "not-found", "no such endpoint", "HYGIE-NO-ENDPOINT");
  const bool get = method == "GET";
  const bool post = method == "POST";
  const bool del = method == "DELETE";
  if (!get && !post && !del) return Outcome(405, "not-supported", "method not allowed");
  if (caller_role != "tenant-admin" && !(get && caller_role == "host-operator")) {
    return Outcome(403, "forbidden",
                   "trusted issuers are managed by the tenant's administrator (role tenant-admin)",
                   "HYGIE-ACCESS-ROLE");
  }
  std::lock_guard lock(FileMutex());
  if (get) {
    auto list = tenancy::ListTrustedIssuers(hooks.data_dir, tenant);
    if (!list.ok()) return FromStatus(list.status());
    return MakeResponse(200, ListJson(*list), "application/json");
  }

  audit::Record record = base_record;
  record.tenant = tenant;
  tenancy::TrustedIssuer issuer;
  if (post) {
    auto parsed = tenancy::TrustedIssuerFromJson(body, tenant);
    if (!parsed.ok()) {
      return Outcome(400, "invalid", parsed.status().message(), "HYGIE-ISSUER-INVALID");
    }
    issuer = std::move(parsed).value();
    record.interaction = "issuer-add";
    record.action = 'C';
  } else {
    for (const auto& [k, v] : query) {
      if (k == "issuer") issuer.issuer = v;
    }
    if (issuer.issuer.empty()) {
      return Outcome(400, "required", "the issuer to remove is named by ?issuer=URL",
                     "HYGIE-ISSUER-INVALID");
    }
    record.interaction = "issuer-remove";
    record.action = 'D';
  }
  // An issuer URL is configuration, not health data: the record names it in clear.
  record.query = {{"issuer", issuer.issuer}};
  Status recorded = hooks.record_in_tenant_tree ? hooks.record_in_tenant_tree(tenant, record)
                                                : Unavailable("no audit journal");
  if (!recorded.ok()) {
    return Outcome(503, "transient", "the audit journal cannot record this change",
                   "HYGIE-AUDIT-UNAVAILABLE");
  }
  Status s = post ? tenancy::AddTrustedIssuer(hooks.data_dir, issuer)
                  : tenancy::RemoveTrustedIssuer(hooks.data_dir, tenant, issuer.issuer);
  if (!s.ok()) {
    if (s.code() == Code::kAlreadyExists) {
      return Outcome(409, "duplicate", s.message(), "HYGIE-ISSUER-EXISTS");
    }
    if (s.code() == Code::kNotFound) {
      return Outcome(404, "not-found", s.message(), "HYGIE-ISSUER-UNKNOWN");
    }
    if (s.code() == Code::kInvalidArgument) {
      return Outcome(400, "invalid", s.message(), "HYGIE-ISSUER-INVALID");
    }
    return FromStatus(s);
  }
  if (hooks.reload) hooks.reload();
  auto list = tenancy::ListTrustedIssuers(hooks.data_dir, tenant);
  if (!list.ok()) return FromStatus(list.status());
  return MakeResponse(post ? 201 : 200, ListJson(*list), "application/json");
}

}  // namespace hygie::api
