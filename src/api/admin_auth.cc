#include "api/admin_auth.h"

#include <algorithm>
#include <array>

namespace hygie::api {
namespace {

// RFC 8176 methods by factor kind: 1 knowledge, 2 possession, 3 inherence.
int FactorKind(std::string_view method) {
  static constexpr std::array<std::string_view, 2> kKnow = {"pwd", "pin"};
  static constexpr std::array<std::string_view, 6> kHave = {"otp", "hwk", "swk",
                                                            "sc",  "sms", "tel"};
  static constexpr std::array<std::string_view, 5> kAre = {"fpt", "face", "iris", "retina", "vbm"};
  auto in = [method](const auto& list) {
    return std::find(list.begin(), list.end(), method) != list.end();
  };
  if (in(kKnow)) return 1;
  if (in(kHave)) return 2;
  if (in(kAre)) return 3;
  return 0;
}

}  // namespace

bool ShowsMultiFactor(const auth::Claims& claims, const std::vector<std::string>& acr_values) {
  if (!claims.acr.empty() &&
      std::find(acr_values.begin(), acr_values.end(), claims.acr) != acr_values.end()) {
    return true;
  }
  int kinds = 0;
  for (const std::string& m : claims.amr) {
    if (m == "mfa") return true;
    int k = FactorKind(m);
    if (k != 0) kinds |= 1 << k;
  }
  return __builtin_popcount(static_cast<unsigned>(kinds)) >= 2;
}

std::string AdminSecondFactorRefusal(bool mtls_configured, const http::RequestContext& ctx,
                                     const auth::Claims& claims,
                                     const std::vector<std::string>& acr_values) {
  if (mtls_configured && ctx.client_cert_verified) return {};
  if (ShowsMultiFactor(claims, acr_values)) return {};
  return mtls_configured
             ? "the admin API needs a client certificate from the configured CA, or a token "
               "showing multi-factor authentication (amr or acr)"
             : "the admin API needs a token showing multi-factor authentication (amr or acr)";
}

}  // namespace hygie::api
