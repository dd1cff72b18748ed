#include "cli/commands.h"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>

#include "api/fhir_api.h"
#include "auth/scopes.h"
#include "auth/token.h"
#include "cli/installation.h"
#include "core/clock.h"
#include "core/log.h"
#include "fhir/resource.h"
#include "http/server.h"
#include "storage/store.h"
#include "tenancy/tenant.h"

namespace hygie::cli {

namespace {

int Fail(const Status& s) {
  std::cerr << "hygie: " << s.message() << "\n";
  return 1;
}

int Usage(const std::string& message) {
  std::cerr << "hygie: " << message << "\n";
  return 2;
}

// Splits "ADDR:PORT" or "[v6]:PORT".
bool ParseListen(const std::string& listen, std::string* addr, uint16_t* port) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  std::string a = listen.substr(0, colon);
  if (a.size() > 2 && a.front() == '[' && a.back() == ']') a = a.substr(1, a.size() - 2);
  std::string p = listen.substr(colon + 1);
  if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  int v = std::stoi(p);
  if (v > 65535) return false;
  *addr = a;
  *port = static_cast<uint16_t>(v);
  return true;
}

}  // namespace

int64_t ParseTtl(const std::string& text) {
  if (text.empty()) return -1;
  int64_t unit = 1;
  std::string digits = text;
  switch (text.back()) {
    case 's':
      unit = 1;
      digits.pop_back();
      break;
    case 'm':
      unit = 60;
      digits.pop_back();
      break;
    case 'h':
      unit = 3600;
      digits.pop_back();
      break;
    default:
      break;
  }
  if (digits.empty() || digits.size() > 9 ||
      digits.find_first_not_of("0123456789") != std::string::npos) {
    return -1;
  }
  return std::stoll(digits) * unit;
}

int RunInit(const Options& o) {
  InitOptions init{o.data_dir, o.kek_file, o.passphrase_env};
  Status s = InitInstallation(init);
  if (!s.ok()) return Fail(s);
  std::cerr << "hygie: data directory " << o.data_dir << " created\n"
            << "  next: hygie tenant create NAME --data " << o.data_dir << "\n";
  return 0;
}

int RunTenantCreate(const Options& o) {
  if (!tenancy::IsValidTenantName(o.tenant)) {
    return Usage(
        "tenant name must be 2 to 63 characters of a-z, 0-9 and '-', not starting or "
        "ending with '-'");
  }
  auto inst = OpenInstallation(o.data_dir, o.passphrase_env);
  if (!inst.ok()) return Fail(inst.status());
  Status s = inst->keyring->AddTenant(o.tenant);
  if (!s.ok()) return Fail(s);
  std::cerr << "hygie: tenant " << o.tenant << " created\n";
  return 0;
}

int RunTenantList(const Options& o) {
  auto inst = OpenInstallation(o.data_dir, o.passphrase_env);
  if (!inst.ok()) return Fail(inst.status());
  for (const std::string& t : inst->keyring->Tenants()) std::cout << t << "\n";
  return 0;
}

int RunKeyRotate(const Options& o) {
  auto inst = OpenInstallation(o.data_dir, o.passphrase_env);
  if (!inst.ok()) return Fail(inst.status());
  auto id = inst->keyring->RotateDataKey(o.tenant);
  if (!id.ok()) return Fail(id.status());
  std::cerr << "hygie: tenant " << o.tenant << " now seals new data with data key " << *id
            << "; older keys stay for reading\n";
  return 0;
}

int RunTokenIssue(const Options& o) {
  int64_t ttl = ParseTtl(o.ttl);
  if (ttl <= 0 || ttl > 24 * 3600) return Usage("--ttl must be between 1s and 24h");
  auto scopes = auth::ScopeSet::Parse(o.scope);
  if (!scopes.ok()) return Usage("--scope: " + scopes.status().message());
  if (scopes->scopes().empty()) return Usage("--scope names no resource scope");
  for (const auth::Scope& sc : scopes->scopes()) {
    if (sc.type != "*" && !fhir::IsResourceType(sc.type)) {
      return Usage("--scope names an unknown resource type: " + sc.type);
    }
  }
  if (!o.patient.empty() && !fhir::IsValidId(o.patient)) {
    return Usage("--patient must be a FHIR id");
  }
  auto inst = OpenInstallation(o.data_dir, o.passphrase_env);
  if (!inst.ok()) return Fail(inst.status());
  if (!inst->keyring->HasTenant(o.tenant)) return Fail(NotFound("unknown tenant " + o.tenant));
  auto key = inst->IssuerKey();
  if (!key.ok()) return Fail(key.status());
  auth::TokenIssuer issuer(std::move(key).value(), inst->issuer, inst->audience,
                           SystemClock::Get());
  auth::Claims claims;
  claims.subject = o.subject;
  claims.tenant = o.tenant;
  claims.scope = o.scope;
  if (!o.patient.empty()) claims.patient = o.patient;
  claims.client_id = "hygie-cli";
  auto token = issuer.Issue(claims, ttl);
  if (!token.ok()) return Fail(token.status());
  std::cout << *token << "\n";
  return 0;
}

int RunServe(const Options& o) {
  log::SetLevel(o.log_level);
  std::string addr;
  uint16_t port = 0;
  if (!ParseListen(o.listen, &addr, &port)) return Usage("--listen must be ADDR:PORT");
  if (o.threads < 1 || o.threads > 256) return Usage("--threads must be between 1 and 256");
  if (o.max_json_depth < 2 || o.max_json_depth > 10000) {
    return Usage("--max-depth must be between 2 and 10000");
  }
  auto inst = OpenInstallation(o.data_dir, o.passphrase_env);
  if (!inst.ok()) return Fail(inst.status());
  auto key = inst->IssuerKey();
  if (!key.ok()) return Fail(key.status());

  http::ServerOptions so;
  so.address = addr;
  so.port = port;
  so.threads = o.threads;
  so.max_body_bytes = o.max_body_bytes;
  so.tls_cert_file = o.tls_cert;
  so.tls_key_file = o.tls_key;
  bool loopback = http::IsLoopbackAddress(addr);
  if (!loopback && so.tls_cert_file.empty()) {
    so.tls_cert_file = inst->tls_cert();
    so.tls_key_file = inst->tls_key();
  }

  auto store = storage::OpenSqliteStore(inst->tenants_dir());
  if (!store.ok()) return Fail(store.status());

  auth::TokenVerifier::Options vo;
  vo.issuer = inst->issuer;
  vo.audience = inst->audience;
  auth::TokenVerifier verifier(vo, {key->Public()}, SystemClock::Get());

  api::ApiOptions ao;
  ao.parse_limits.max_depth = o.max_json_depth;
  ao.public_base_url = o.public_url;
  while (!ao.public_base_url.empty() && ao.public_base_url.back() == '/') {
    ao.public_base_url.pop_back();
  }
  api::FhirApi api(ao, *inst->keyring, **store, verifier, SystemClock::Get());

  {
    http::Server server(
        so,
        [&api](http::Request& req, const http::RequestContext& ctx) {
          return api.Handle(req, ctx);
        },
        [&api](int status, std::string_view reason) { return api.ParserError(status, reason); });
    Status s = server.Start();
    if (!s.ok()) {
      (*store)->Close();
      return Fail(s);
    }
    api.SetReady(true);
    bool tls = !so.tls_cert_file.empty();
    log::Info("hygie {} serving {}://{}:{}/fhir/ (data {})", HYGIE_VERSION, tls ? "https" : "http",
              addr, server.port(), o.data_dir);
    if (!o.port_file.empty()) {
      std::string tmp = o.port_file + ".tmp";
      {
        std::ofstream pf(tmp);
        pf << server.port() << "\n";
      }
      std::rename(tmp.c_str(), o.port_file.c_str());
    }
    server.WaitForSignal();
    log::Info("shutting down: finishing requests in flight");
    api.SetReady(false);
    server.Stop();
    (*store)->Close();
  }
  log::Info("stopped");
  return 0;
}

}  // namespace hygie::cli
