#include "tenancy/issuers.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/http.h>

#include <rapidjson/document.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_set>
#include <utility>

#include "tenancy/tenant.h"

namespace hygie::tenancy {
namespace {

constexpr size_t kMaxUrlLength = 2048;
constexpr size_t kMaxClaimNameLength = 128;
constexpr size_t kMaxAudienceLength = 1024;
constexpr size_t kMaxIssuersPerTenant = 32;

bool IsPrintableAscii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

Status ValidateClaimName(std::string_view what, std::string_view name, bool allow_empty) {
  if (name.empty()) {
    if (allow_empty) return Status::Ok();
    return InvalidArgument(std::string(what) + " must not be empty");
  }
  if (name.size() > kMaxClaimNameLength || !IsPrintableAscii(name)) {
    return InvalidArgument(std::string(what) + " must be 1 to 128 printable ASCII characters");
  }
  return Status::Ok();
}

std::string_view StringOf(const rapidjson::Value& v) {
  return {v.GetString(), v.GetStringLength()};
}

bool NoDuplicateMembers(const rapidjson::Value& value, int depth) {
  if (depth > 8) return false;
  if (value.IsObject()) {
    std::unordered_set<std::string_view> names;
    for (const auto& m : value.GetObject()) {
      if (!names.insert(StringOf(m.name)).second) return false;
      if (!NoDuplicateMembers(m.value, depth + 1)) return false;
    }
  } else if (value.IsArray()) {
    for (const auto& e : value.GetArray()) {
      if (!NoDuplicateMembers(e, depth + 1)) return false;
    }
  }
  return true;
}

Result<rapidjson::Document> LoadDocument(const std::string& data_dir) {
  const std::string path = TrustedIssuersPath(data_dir);
  rapidjson::Document doc;
  doc.SetObject();
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec) && !ec) return doc;
    return Unavailable("cannot read " + path);
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(text.data(), text.size());
  if (doc.HasParseError() || !doc.IsObject() || !NoDuplicateMembers(doc, 0)) {
    return DataLoss(path + " is damaged");
  }
  return doc;
}

}  // namespace

Result<TrustedIssuer> TrustedIssuerFromJson(std::string_view json, const std::string& tenant) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return InvalidArgument("a trusted issuer must be a JSON object");
  }
  TrustedIssuer t;
  t.tenant = tenant;
  struct Field {
    const char* name;
    std::string* out;
  };
  const Field fields[] = {{"issuer", &t.issuer},
                          {"audience", &t.audience},
                          {"scope_claim", &t.scope_claim},
                          {"roles_claim", &t.roles_claim},
                          {"default_role", &t.default_role},
                          {"patient_claim", &t.patient_claim},
                          {"professional_id_claim", &t.professional_id_claim}};
  for (const auto& m : doc.GetObject()) {
    const std::string name(StringOf(m.name));
    bool known = false;
    for (const Field& f : fields) {
      if (name != f.name) continue;
      if (!m.value.IsString()) return InvalidArgument("\"" + name + "\" must be a string");
      *f.out = std::string(StringOf(m.value));
      known = true;
    }
    if (name == "role_map") {
      if (!m.value.IsObject()) return InvalidArgument("\"role_map\" must be an object");
      for (const auto& r : m.value.GetObject()) {
        if (!r.value.IsString()) return InvalidArgument("\"role_map\" values must be strings");
        t.role_map.emplace(std::string(StringOf(r.name)), std::string(StringOf(r.value)));
      }
      known = true;
    }
    if (!known) return InvalidArgument("unknown member \"" + name.substr(0, 64) + "\"");
  }
  if (t.issuer.empty() || t.audience.empty()) {
    return InvalidArgument("\"issuer\" and \"audience\" are required");
  }
  HYGIE_RETURN_IF_ERROR(ValidateTrustedIssuer(t));
  return t;
}

namespace {

// Reads one entry of the file; kDataLoss for anything out of shape.
Result<TrustedIssuer> FromJson(const std::string& path, const std::string& tenant,
                               const rapidjson::Value& v) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  if (!v.IsObject() || !v.Accept(w)) return DataLoss(path + " is damaged (tenant " + tenant + ")");
  auto t = TrustedIssuerFromJson(std::string_view(sb.GetString(), sb.GetSize()), tenant);
  if (!t.ok()) return DataLoss(path + " is damaged (tenant " + tenant + ")");
  return t;
}

void AddString(rapidjson::Value& object, const char* name, const std::string& value,
               rapidjson::Document::AllocatorType& a) {
  object.AddMember(rapidjson::StringRef(name), rapidjson::Value(value.c_str(), a), a);
}

rapidjson::Value ToJson(const TrustedIssuer& t, rapidjson::Document::AllocatorType& a) {
  rapidjson::Value v(rapidjson::kObjectType);
  AddString(v, "issuer", t.issuer, a);
  AddString(v, "audience", t.audience, a);
  AddString(v, "scope_claim", t.scope_claim, a);
  AddString(v, "roles_claim", t.roles_claim, a);
  rapidjson::Value map(rapidjson::kObjectType);
  for (const auto& [from, to] : t.role_map) {
    map.AddMember(rapidjson::Value(from.c_str(), a), rapidjson::Value(to.c_str(), a), a);
  }
  v.AddMember("role_map", map, a);
  AddString(v, "default_role", t.default_role, a);
  AddString(v, "patient_claim", t.patient_claim, a);
  AddString(v, "professional_id_claim", t.professional_id_claim, a);
  return v;
}

// Replaces the file (a fresh temporary of mode 0600, never a planted link; fsync, rename,
// directory fsync).
Status WriteDocument(const std::string& data_dir, const rapidjson::Document& doc, Env& env) {
  rapidjson::StringBuffer buf;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
  if (!doc.Accept(w)) return Internal("cannot write trusted issuers");
  const std::string path = TrustedIssuersPath(data_dir);
  const std::string text = std::string(buf.GetString(), buf.GetSize()) + "\n";
  Status s = env.WriteFileAtomic(path, text, 0600);
  if (!s.ok()) return Unavailable("cannot write " + path + ": " + s.message());
  return Status::Ok();
}

}  // namespace

bool IsGrantableRole(std::string_view role) {
  return role == "practitioner" || role == "service" || role == "auditor" || role == "tenant-admin";
}

Status ValidateTrustedIssuer(const TrustedIssuer& t) {
  if (!IsValidTenantName(t.tenant)) return InvalidArgument("invalid tenant name");
  if (t.issuer.empty()) return InvalidArgument("issuer URL must not be empty");
  HYGIE_ASSIGN_OR_RETURN(HttpUrl url, ParseHttpUrl(t.issuer));
  if (!url.tls && !IsLoopbackHost(url.host)) {
    return InvalidArgument("issuer URL must be https (http only on a loopback host)");
  }
  if (t.issuer.find('?') != std::string::npos) {
    return InvalidArgument("issuer URL must not have a query");
  }
  if (t.audience.empty() || t.audience.size() > kMaxAudienceLength) {
    return InvalidArgument("audience must be 1 to 1024 characters");
  }
  if (t.audience.find('\0') != std::string::npos) return InvalidArgument("invalid audience");
  HYGIE_RETURN_IF_ERROR(ValidateClaimName("scope claim", t.scope_claim, false));
  HYGIE_RETURN_IF_ERROR(ValidateClaimName("roles claim", t.roles_claim, true));
  HYGIE_RETURN_IF_ERROR(ValidateClaimName("patient claim", t.patient_claim, true));
  HYGIE_RETURN_IF_ERROR(ValidateClaimName("professional id claim", t.professional_id_claim, true));
  if (!t.role_map.empty() && t.roles_claim.empty()) {
    return InvalidArgument("a role map needs a roles claim");
  }
  for (const auto& [from, to] : t.role_map) {
    if (from.empty() || from.size() > 256 || from.find('\0') != std::string::npos) {
      return InvalidArgument("role map entries must name a role of 1 to 256 characters");
    }
    if (!IsGrantableRole(to)) {
      return InvalidArgument("role map target " + to +
                             " is not one of practitioner, service, auditor, tenant-admin");
    }
  }
  if (!t.default_role.empty() && !IsGrantableRole(t.default_role)) {
    return InvalidArgument("default role " + t.default_role +
                           " is not one of practitioner, service, auditor, tenant-admin");
  }
  return Status::Ok();
}

std::string TrustedIssuersPath(const std::string& data_dir) {
  return data_dir + "/trusted-issuers.json";
}

Result<std::vector<TrustedIssuer>> LoadTrustedIssuers(const std::string& data_dir) {
  HYGIE_ASSIGN_OR_RETURN(rapidjson::Document doc, LoadDocument(data_dir));
  const std::string path = TrustedIssuersPath(data_dir);
  std::vector<TrustedIssuer> out;
  for (const auto& m : doc.GetObject()) {
    const std::string tenant(StringOf(m.name));
    if (!m.value.IsArray()) return DataLoss(path + " is damaged (tenant " + tenant + ")");
    for (const auto& entry : m.value.GetArray()) {
      HYGIE_ASSIGN_OR_RETURN(TrustedIssuer t, FromJson(path, tenant, entry));
      out.push_back(std::move(t));
    }
  }
  return out;
}

Result<std::vector<TrustedIssuer>> ListTrustedIssuers(const std::string& data_dir,
                                                      const std::string& tenant) {
  HYGIE_ASSIGN_OR_RETURN(std::vector<TrustedIssuer> all, LoadTrustedIssuers(data_dir));
  std::erase_if(all, [&](const TrustedIssuer& t) { return t.tenant != tenant; });
  return all;
}

Status AddTrustedIssuer(const std::string& data_dir, const TrustedIssuer& issuer, Env& env) {
  HYGIE_RETURN_IF_ERROR(ValidateTrustedIssuer(issuer));
  // Loading validates every existing entry: a damaged file is never rewritten.
  HYGIE_ASSIGN_OR_RETURN(std::vector<TrustedIssuer> all, LoadTrustedIssuers(data_dir));
  size_t count = 0;
  for (const TrustedIssuer& t : all) {
    if (t.tenant != issuer.tenant) continue;
    if (t.issuer == issuer.issuer) {
      return AlreadyExists("tenant " + issuer.tenant + " already trusts " + issuer.issuer);
    }
    ++count;
  }
  if (count >= kMaxIssuersPerTenant) {
    return ResourceExhausted("a tenant trusts at most " + std::to_string(kMaxIssuersPerTenant) +
                             " issuers");
  }
  HYGIE_ASSIGN_OR_RETURN(rapidjson::Document doc, LoadDocument(data_dir));
  auto& a = doc.GetAllocator();
  auto it = doc.FindMember(issuer.tenant.c_str());
  if (it == doc.MemberEnd()) {
    doc.AddMember(rapidjson::Value(issuer.tenant.c_str(), a),
                  rapidjson::Value(rapidjson::kArrayType), a);
    it = doc.FindMember(issuer.tenant.c_str());
  }
  it->value.PushBack(ToJson(issuer, a), a);
  return WriteDocument(data_dir, doc, env);
}

Status RemoveTrustedIssuer(const std::string& data_dir, const std::string& tenant,
                           const std::string& issuer, Env& env) {
  HYGIE_ASSIGN_OR_RETURN(std::vector<TrustedIssuer> all, LoadTrustedIssuers(data_dir));
  (void)all;  // validates the file before it is rewritten
  HYGIE_ASSIGN_OR_RETURN(rapidjson::Document doc, LoadDocument(data_dir));
  auto it = doc.FindMember(tenant.c_str());
  if (it == doc.MemberEnd()) return NotFound("tenant " + tenant + " does not trust " + issuer);
  auto& list = it->value;
  bool removed = false;
  for (auto e = list.Begin(); e != list.End(); ++e) {
    const auto member = e->FindMember("issuer");
    if (member != e->MemberEnd() && StringOf(member->value) == issuer) {
      list.Erase(e);
      removed = true;
      break;
    }
  }
  if (!removed) return NotFound("tenant " + tenant + " does not trust " + issuer);
  if (list.Empty()) doc.RemoveMember(it);
  return WriteDocument(data_dir, doc, env);
}

Result<HttpUrl> ParseHttpUrl(std::string_view url) {
  if (url.empty() || url.size() > kMaxUrlLength || !IsPrintableAscii(url) ||
      url.find('\\') != std::string_view::npos) {
    return InvalidArgument("URL must be at most 2048 printable ASCII characters");
  }
  const bool tls = url.starts_with("https://");
  if (!tls && !url.starts_with("http://")) return InvalidArgument("URL must be http(s)://");
  const std::string text(url);
  int ssl = 0;
  int port = 0;
  char* user = nullptr;
  char* host = nullptr;
  char* path = nullptr;
  char* query = nullptr;
  char* frag = nullptr;
  const int ok =
      OSSL_HTTP_parse_url(text.c_str(), &ssl, &user, &host, nullptr, &port, &path, &query, &frag);
  HttpUrl out;
  Status status = Status::Ok();
  if (ok != 1 || host == nullptr || path == nullptr) {
    status = InvalidArgument("malformed URL");
  } else if (user != nullptr && user[0] != '\0') {
    status = InvalidArgument("URL must not carry user information");
  } else if (frag != nullptr && frag[0] != '\0') {
    status = InvalidArgument("URL must not have a fragment");
  } else if (host[0] == '\0' || port <= 0 || port > 65535 || (ssl != 0) != tls) {
    status = InvalidArgument("malformed URL");
  } else {
    out.tls = tls;
    out.host = host;
    // OpenSSL 3.0 keeps the brackets of an IPv6 literal; later versions drop them.
    if (out.host.size() > 2 && out.host.front() == '[' && out.host.back() == ']') {
      out.host = out.host.substr(1, out.host.size() - 2);
    }
    out.port = static_cast<uint16_t>(port);
    out.target = path[0] == '/' ? path : std::string("/") + path;
    if (query != nullptr && query[0] != '\0') out.target += std::string("?") + query;
  }
  OPENSSL_free(user);
  OPENSSL_free(host);
  OPENSSL_free(path);
  OPENSSL_free(query);
  OPENSSL_free(frag);
  if (!status.ok()) return status;
  return out;
}

bool IsLoopbackHost(std::string_view host) {
  if (host.size() == 9) {
    std::string lower(host);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; });
    if (lower == "localhost") return true;
  }
  const std::string text(host);
  in_addr v4;
  if (::inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6;
  if (::inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    return std::memcmp(&v6, &in6addr_loopback, sizeof(v6)) == 0;
  }
  return false;
}

Status CheckSecureUrl(std::string_view url) {
  HYGIE_ASSIGN_OR_RETURN(HttpUrl parsed, ParseHttpUrl(url));
  if (!parsed.tls && !IsLoopbackHost(parsed.host)) {
    return InvalidArgument("URL must be https (http only on a loopback host)");
  }
  return Status::Ok();
}

}  // namespace hygie::tenancy
