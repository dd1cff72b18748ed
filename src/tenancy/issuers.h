#pragma once
// Trusted token issuers: the external OpenID Connect providers (e.g. Pro Santé Connect, a
// hospital's identity provider) whose access tokens a tenant accepts, and how their claims map
// to Hygie's. They live in DATA/trusted-issuers.json:
//
//   {"<tenant>": [{"issuer": "https://...", "audience": "...", "scope_claim": "scope",
//                  "roles_claim": "", "role_map": {"from": "to"}, "default_role": "",
//                  "patient_claim": "patient", "professional_id_claim": ""}, ...], ...}
//
// replaced whole through Env::WriteFileAtomic (temporary file, fsync, rename, directory fsync;
// mode 0600). An issuer is named by its URL:
// https, or http only on a loopback host (127.0.0.0/8, ::1, localhost), no user, query or
// fragment. Roles an issuer may grant are "practitioner", "service", "auditor" and
// "tenant-admin": a customer's provider never makes host staff ("host-operator").
//
// Also here, because the issuer configuration, the token verifier and the HTTP client all need
// them: URL splitting (OpenSSL's OSSL_HTTP_parse_url) and the loopback test.
//
// Thread-safety: the file functions read and write the file; callers serialize writers.
// Everything else is stateless.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/env.h"
#include "core/status.h"

namespace hygie::tenancy {

struct TrustedIssuer {
  std::string issuer;    // exact "iss" value and discovery base
  std::string audience;  // required "aud" value
  std::string tenant;    // the tenant its tokens act on (never taken from the token)
  // Claim mapping. A claim name may be a dotted path into nested objects
  // ("realm_access.roles") when no top-level claim has the name itself.
  std::string scope_claim = "scope";            // string (space-separated) or array of strings
  std::string roles_claim;                      // "" : roles are not read from the token
  std::map<std::string, std::string> role_map;  // token role -> Hygie role
  std::string default_role;                     // when no mapped role is found ("" : none)
  std::string patient_claim = "patient";        // "" : never set a patient context
  std::string professional_id_claim;            // e.g. an RPPS claim; "" : none

  bool operator==(const TrustedIssuer&) const = default;
};

// The roles a trusted issuer may grant.
bool IsGrantableRole(std::string_view role);

// kInvalidArgument with a reason when the configuration is not usable (see above; claim names
// are 1 to 128 printable ASCII characters).
Status ValidateTrustedIssuer(const TrustedIssuer& issuer);

// One issuer as a JSON object (the file's entries, the admin API's body): "issuer" and
// "audience" required, the claim settings optional, any other member refused. kInvalidArgument
// with a reason.
Result<TrustedIssuer> TrustedIssuerFromJson(std::string_view json, const std::string& tenant);

// DATA/trusted-issuers.json
std::string TrustedIssuersPath(const std::string& data_dir);
// Every tenant's issuers; empty when the file does not exist. kDataLoss when it is damaged.
Result<std::vector<TrustedIssuer>> LoadTrustedIssuers(const std::string& data_dir);
// One tenant's issuers.
Result<std::vector<TrustedIssuer>> ListTrustedIssuers(const std::string& data_dir,
                                                      const std::string& tenant);
// Adds an issuer to its tenant. kAlreadyExists when the tenant already trusts that issuer URL;
// kInvalidArgument when it does not validate. The caller checks that the tenant exists.
Status AddTrustedIssuer(const std::string& data_dir, const TrustedIssuer& issuer,
                        Env& env = Env::Default());
// kNotFound when the tenant does not trust that issuer.
Status RemoveTrustedIssuer(const std::string& data_dir, const std::string& tenant,
                           const std::string& issuer, Env& env = Env::Default());

// An absolute http(s) URL, split.
struct HttpUrl {
  bool tls = false;    // https
  std::string host;    // without IPv6 brackets
  uint16_t port = 0;   // explicit or the scheme's default
  std::string target;  // path and query, at least "/"
};
// kInvalidArgument for anything but http:// or https:// with a host, or with user info or a
// fragment.
Result<HttpUrl> ParseHttpUrl(std::string_view url);
// 127.0.0.0/8, ::1 or "localhost" (any case).
bool IsLoopbackHost(std::string_view host);
// Ok for an https URL, or an http URL on a loopback host.
Status CheckSecureUrl(std::string_view url);

}  // namespace hygie::tenancy
