#pragma once
// The admin API's second factor: a request to /admin/... is served only when the client proved
// more than a bearer token: a client certificate verified by the listener's client CA (mutual
// TLS), or a token whose authentication context shows multi-factor sign-in: amr (RFC 8176)
// holding "mfa", or two different factor kinds (something known: pwd, pin; something held:
// otp, hwk, swk, sc, sms, tel; something the person is: fpt, face, iris, retina, vbm), or an
// acr listed in the configuration (e.g. an eIDAS "substantial" or "high" level).
//
// Thread-safety: pure functions.

#include <string>
#include <string_view>
#include <vector>

#include "auth/token.h"
#include "http/server.h"

namespace hygie::api {

// True when amr/acr show multi-factor authentication (see above).
bool ShowsMultiFactor(const auth::Claims& claims, const std::vector<std::string>& acr_values);

// Empty when the admin request may proceed; otherwise the refusal's reason.
std::string AdminSecondFactorRefusal(bool mtls_configured, const http::RequestContext& ctx,
                                     const auth::Claims& claims,
                                     const std::vector<std::string>& acr_values);

}  // namespace hygie::api
