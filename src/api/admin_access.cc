#include "api/admin_access.h"

#include <rapidjson/document.h>

#include <optional>

#include "api/fhir_internal.h"
#include "core/clock.h"
#include "crypto/primitives.h"
#include "tenancy/tenant.h"

namespace hygie::api {

using http::Response;

namespace {

constexpr std::string_view kJson = "application/json; charset=utf-8";

Response Json(int status, std::string body) {
  body.push_back('\n');
  return MakeResponse(status, std::move(body), kJson);
}

Response Invalid(std::string_view diagnostics) {
  return Outcome(400, "invalid", diagnostics, "HYGIE-ACCESS-INVALID");
}

Response Forbidden(std::string_view diagnostics) {
  return Outcome(403, "forbidden", diagnostics, "HYGIE-ACCESS-DENIED");
}

Response FromGrantStatus(const Status& s) {
  switch (s.code()) {
    case Code::kInvalidArgument:
      return Invalid(s.message());
    case Code::kNotFound:
      return Outcome(404, "not-found", "no such grant", "HYGIE-ACCESS-GRANT-UNKNOWN");
    case Code::kAlreadyExists:
      return Outcome(409, "conflict", s.message(), "HYGIE-ACCESS-CONFLICT");
    case Code::kFailedPrecondition:
      return Outcome(409, "conflict", s.message(), "HYGIE-ACCESS-REVOKED");
    default:
      return FromStatus(s);
  }
}

auth::Accessor AccessorOf(const AdminCaller& c) {
  return auth::Accessor{c.subject, c.role, c.professional_id};
}

// The audit record of a change, for the tenant's trail.
audit::Record ChangeRecord(const AdminCaller& c, const std::string& tenant, std::string interaction,
                           char action, const std::string& grant_id, std::string detail) {
  audit::Record r;
  r.time_us = SystemClock::Get().NowMicros();
  r.request_id = crypto::RandomId();
  r.tenant = tenant;
  r.subject = c.subject;
  r.client_id = c.client_id;
  r.role = c.role;
  r.professional_id = c.professional_id;
  r.staff = c.role == auth::RoleName(auth::Role::kHostOperator);
  r.peer = c.peer;
  r.interaction = std::move(interaction);
  r.action = action;
  r.resource_id = grant_id;
  r.status = 200;
  r.detail = std::move(detail);
  return r;
}

std::optional<Response> RecordFirst(const AccessAdminHooks& hooks, const std::string& tenant,
                                    audit::Record record) {
  Status s = hooks.record_in_tenant_tree ? hooks.record_in_tenant_tree(tenant, std::move(record))
                                         : Unavailable("no audit journal to record access changes");
  if (s.ok()) return std::nullopt;
  return Outcome(503, "transient", "the audit journal cannot record this act, so it was not done",
                 "HYGIE-AUDIT-UNAVAILABLE");
}

// Parses a POST body into a request (owner and tenant set by the caller).
Result<auth::GrantRequest> ParseGrantBody(std::string_view body, int64_t now) {
  rapidjson::Document doc;
  if (doc.Parse(body.data(), body.size()).HasParseError() || !doc.IsObject()) {
    return InvalidArgument("the body must be a JSON object");
  }
  auth::GrantRequest rq;
  std::string role, kind = "normal", start, end, duration;
  bool has_role = false;
  for (const auto& m : doc.GetObject()) {
    std::string_view name(m.name.GetString(), m.name.GetStringLength());
    const rapidjson::Value& v = m.value;
    auto text = [&](std::string* out) -> Status {
      if (!v.IsString()) return InvalidArgument("\"" + std::string(name) + "\" must be a string");
      out->assign(v.GetString(), v.GetStringLength());
      return Status::Ok();
    };
    if (name == "subject") {
      HYGIE_RETURN_IF_ERROR(text(&rq.subject));
    } else if (name == "role") {
      HYGIE_RETURN_IF_ERROR(text(&role));
      has_role = true;
    } else if (name == "reason") {
      HYGIE_RETURN_IF_ERROR(text(&rq.reason));
    } else if (name == "kind") {
      HYGIE_RETURN_IF_ERROR(text(&kind));
    } else if (name == "start") {
      HYGIE_RETURN_IF_ERROR(text(&start));
    } else if (name == "end") {
      HYGIE_RETURN_IF_ERROR(text(&end));
    } else if (name == "duration") {
      HYGIE_RETURN_IF_ERROR(text(&duration));
    } else if (name == "emergency") {
      if (!v.IsBool()) return InvalidArgument("\"emergency\" must be true or false");
      rq.emergency = v.GetBool();
    } else {
      return InvalidArgument("unknown member \"" + std::string(name) + "\"");
    }
  }
  auto k = auth::ParseGrantKind(kind);
  if (!k) return InvalidArgument("\"kind\" must be normal or break-glass");
  rq.kind = *k;
  if (has_role) {
    auto r = auth::ParseRole(role);
    if (!r) return InvalidArgument("\"role\" is not a Hygie role");
    rq.role = *r;
  } else if (rq.kind == auth::GrantKind::kBreakGlass) {
    rq.role = auth::Role::kHostOperator;
  } else {
    return InvalidArgument("\"role\" is required");
  }
  if (!start.empty()) {
    auto t = ParseInstant(start);
    if (!t.ok()) return InvalidArgument("\"start\" must be an instant with a time zone");
    rq.start = *t / 1000000;
  }
  if (end.empty() == duration.empty()) {
    return InvalidArgument("give exactly one of \"end\" and \"duration\"");
  }
  if (!end.empty()) {
    auto t = ParseInstant(end);
    if (!t.ok()) return InvalidArgument("\"end\" must be an instant with a time zone");
    rq.end = *t / 1000000;
  } else {
    HYGIE_ASSIGN_OR_RETURN(int64_t d, auth::ParseDurationSeconds(duration));
    rq.end = (rq.start != 0 ? rq.start : now) + d;
  }
  return rq;
}

Result<std::string> ParseRevokeReason(std::string_view body) {
  rapidjson::Document doc;
  if (body.empty() || doc.Parse(body.data(), body.size()).HasParseError() || !doc.IsObject()) {
    return InvalidArgument("a revocation needs a JSON body {\"reason\": \"...\"}");
  }
  std::string reason;
  for (const auto& m : doc.GetObject()) {
    std::string_view name(m.name.GetString(), m.name.GetStringLength());
    if (name != "reason" || !m.value.IsString()) {
      return InvalidArgument("a revocation body holds only \"reason\", a string");
    }
    reason.assign(m.value.GetString(), m.value.GetStringLength());
  }
  if (reason.empty()) return InvalidArgument("\"reason\" is required");
  return reason;
}

}  // namespace

std::string AccessAdminInteraction(std::string_view method,
                                   const std::vector<std::string>& segments) {
  if (segments.size() == 2 && segments[1] == "grants") {
    if (method == "GET") return "access-list";
    if (method == "POST") return "access-grant";
  }
  if (segments.size() == 3 && segments[1] == "grants" && method == "DELETE") {
    return "access-revoke";
  }
  if (segments.size() == 2 && segments[1] == "review" && method == "GET") return "access-review";
  return "access-admin";
}

Response HandleAccessAdmin(auth::GrantStore& store, std::string_view method,
                           const std::vector<std::string>& segments, std::string_view body,
                           const AdminCaller& caller, int64_t now, const AccessAdminHooks& hooks) {
  if (segments.size() < 2 || segments.size() > 3 ||
      (segments[1] != "grants" && segments[1] != "review") ||
      (segments[1] == "review" && segments.size() != 2)) {
    return Outcome(404, "not-found", "no such admin resource", "HYGIE-NOT-FOUND");
  }
  const std::string& tenant = segments[0];
  // The tenant wall first, so that the answer cannot depend on what exists there.
  if (caller.tenant != tenant) {
    return Outcome(403, "forbidden", "the token is not valid for this tenant",
                   "HYGIE-TENANT-MISMATCH");
  }
  if (!tenancy::IsValidTenantName(tenant) ||
      (hooks.tenant_exists && !hooks.tenant_exists(tenant))) {
    return Outcome(404, "not-found", "unknown tenant", "HYGIE-TENANT-UNKNOWN");
  }
  auth::Accessor who = AccessorOf(caller);
  const bool host = caller.role == auth::RoleName(auth::Role::kHostOperator);
  auto admin = [&] {
    return store.Decide(who, tenant, now, auth::Intent::kAdministerTenant).allowed;
  };

  if (segments.size() == 2 && method == "GET") {
    bool may = host || admin() || store.Decide(who, tenant, now, auth::Intent::kReadAudit).allowed;
    if (!may) return Forbidden("reading access rights needs the tenant-admin or auditor role");
    if (segments[1] == "grants")
      return Json(200, auth::GrantListJson(tenant, store.List(tenant), now));
    return Json(200, auth::ReviewJson(tenant, store.Review(tenant, now), now));
  }

  if (segments.size() == 2 && segments[1] == "grants" && method == "POST") {
    auto rq = ParseGrantBody(body, now);
    if (!rq.ok()) return Invalid(rq.status().message());
    rq->tenant = tenant;
    rq->owner = caller.subject;
    if (rq->emergency) {
      if (!host) return Forbidden("an emergency break-glass is made by a host operator");
      if (rq->subject != caller.subject) {
        return Forbidden("a host operator makes an emergency break-glass for itself only");
      }
    } else if (!admin()) {
      return Forbidden("granting access rights needs the tenant-admin role");
    }
    rq->id = crypto::RandomId();
    Status valid = auth::ValidateGrantRequest(*rq, now);
    if (!valid.ok()) return Invalid(valid.message());
    std::string detail;
    if (rq->kind == auth::GrantKind::kBreakGlass) {
      detail = std::string(rq->emergency ? "emergency break-glass" : "break-glass") +
               ": read access to health data for host staff " + rq->subject + " until " +
               FormatInstant(rq->end * 1000000);
    } else {
      detail = "role " + std::string(auth::RoleName(rq->role)) + " for " + rq->subject + " until " +
               FormatInstant(rq->end * 1000000);
    }
    audit::Record record = ChangeRecord(
        caller, tenant,
        rq->kind == auth::GrantKind::kBreakGlass ? "access-break-glass" : "access-grant", 'C',
        rq->id, std::move(detail));
    if (auto refused = RecordFirst(hooks, tenant, std::move(record))) return *refused;
    auto g = store.Create(*rq, now);
    if (!g.ok()) return FromGrantStatus(g.status());
    return Json(201, auth::GrantJson(*g, now));
  }

  if (segments.size() == 3 && segments[1] == "grants" && method == "DELETE") {
    const std::string& id = segments[2];
    auto reason = ParseRevokeReason(body);
    if (!reason.ok()) return Invalid(reason.status().message());
    auto g = store.Get(tenant, id);
    if (!g.ok()) return FromGrantStatus(g.status());
    bool may = admin() || (host && g->kind == auth::GrantKind::kBreakGlass);
    if (!may) return Forbidden("revoking access rights needs the tenant-admin role");
    if (g->revoked != 0) return FromGrantStatus(FailedPrecondition("grant already revoked"));
    audit::Record record = ChangeRecord(
        caller, tenant,
        g->kind == auth::GrantKind::kBreakGlass ? "access-break-glass" : "access-revoke", 'D', id,
        "grant of " + g->subject + " revoked");
    if (auto refused = RecordFirst(hooks, tenant, std::move(record))) return *refused;
    auto revoked = store.Revoke(tenant, id, caller.subject, *reason, now);
    if (!revoked.ok()) return FromGrantStatus(revoked.status());
    return Json(200, auth::GrantJson(*revoked, now));
  }

  return Outcome(405, "not-supported", "method not allowed", "HYGIE-METHOD");
}

}  // namespace hygie::api
