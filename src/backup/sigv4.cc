#include "backup/sigv4.h"

#include <time.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>

#include "core/bytes.h"
#include "crypto/primitives.h"

namespace hygie::backup::sigv4 {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Trims the value and collapses runs of spaces into one, as the canonical headers require.
std::string CanonicalValue(std::string_view value) {
  std::string out;
  bool in_space = false;
  for (char c : value) {
    if (c == ' ' || c == '\t') {
      in_space = true;
      continue;
    }
    if (in_space && !out.empty()) out += ' ';
    in_space = false;
    out += c;
  }
  return out;
}

}  // namespace

std::string UriEncode(std::string_view text, bool encode_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~' || (c == '/' && !encode_slash)) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

std::string PayloadHash(std::string_view payload) {
  return HexEncode(crypto::Sha256(AsBytes(payload)));
}

std::string CanonicalQueryString(const std::vector<std::pair<std::string, std::string>>& query) {
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(query.size());
  for (const auto& [name, value] : query) {
    encoded.emplace_back(UriEncode(name, true), UriEncode(value, true));
  }
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) out += '&';
    out += name;
    out += '=';
    out += value;
  }
  return out;
}

CanonicalForm Canonicalize(const Request& request) {
  // Lower-case names, sorted; repeated headers joined by ','.
  std::map<std::string, std::string> headers;
  for (const auto& [name, value] : request.headers) {
    std::string& slot = headers[Lower(name)];
    if (!slot.empty()) slot += ',';
    slot += CanonicalValue(value);
  }
  CanonicalForm form;
  std::string canonical_headers;
  for (const auto& [name, value] : headers) {
    canonical_headers += name + ":" + value + "\n";
    if (!form.signed_headers.empty()) form.signed_headers += ';';
    form.signed_headers += name;
  }
  form.canonical_request = request.method + "\n" + request.path + "\n" +
                           CanonicalQueryString(request.query) + "\n" + canonical_headers + "\n" +
                           form.signed_headers + "\n" + request.payload_hash;
  return form;
}

std::string CredentialScope(std::string_view amz_date, std::string_view region,
                            std::string_view service) {
  return std::string(amz_date.substr(0, 8)) + "/" + std::string(region) + "/" +
         std::string(service) + "/aws4_request";
}

std::string StringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request) {
  return "AWS4-HMAC-SHA256\n" + std::string(amz_date) + "\n" + std::string(scope) + "\n" +
         HexEncode(crypto::Sha256(AsBytes(canonical_request)));
}

crypto::SecretKey SigningKey(const crypto::SecretKey& secret_key, std::string_view date,
                             std::string_view region, std::string_view service) {
  Bytes material = ToBytes("AWS4");
  material.insert(material.end(), secret_key.bytes().begin(), secret_key.bytes().end());
  crypto::SecretKey key = crypto::SecretKey::FromBytes(material);
  crypto::Wipe(material);
  for (std::string_view step : {date, region, service, std::string_view("aws4_request")}) {
    Bytes next = crypto::HmacSha256(key, AsBytes(step));
    key = crypto::SecretKey::FromBytes(next);
    crypto::Wipe(next);
  }
  return key;
}

std::string Signature(const crypto::SecretKey& signing_key, std::string_view string_to_sign) {
  return HexEncode(crypto::HmacSha256(signing_key, AsBytes(string_to_sign)));
}

std::string AmzDate(int64_t unix_seconds) {
  const time_t t = static_cast<time_t>(unix_seconds);
  struct tm tm {};
  ::gmtime_r(&t, &tm);
  char buf[80];
  std::snprintf(buf, sizeof(buf), "%04d%02d%02dT%02d%02d%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

Status Sign(Request& request, const Credentials& credentials, std::string_view region,
            std::string_view service, int64_t unix_seconds) {
  if (credentials.access_key_id.empty() || credentials.secret_key.empty()) {
    return InvalidArgument("S3 credentials are missing");
  }
  bool has_host = false;
  std::erase_if(request.headers, [&has_host](const auto& header) {
    const std::string name = Lower(header.first);
    has_host = has_host || name == "host";
    return name == "x-amz-date" || name == "x-amz-content-sha256" || name == "authorization";
  });
  if (!has_host) return InvalidArgument("a signed request needs a host header");

  const std::string amz_date = AmzDate(unix_seconds);
  request.headers.emplace_back("x-amz-date", amz_date);
  request.headers.emplace_back("x-amz-content-sha256", request.payload_hash);
  const CanonicalForm form = Canonicalize(request);
  const std::string scope = CredentialScope(amz_date, region, service);
  const crypto::SecretKey signing_key =
      SigningKey(credentials.secret_key, amz_date.substr(0, 8), region, service);
  const std::string signature =
      Signature(signing_key, StringToSign(amz_date, scope, form.canonical_request));
  request.headers.emplace_back(
      "Authorization", "AWS4-HMAC-SHA256 Credential=" + credentials.access_key_id + "/" + scope +
                           ", SignedHeaders=" + form.signed_headers + ", Signature=" + signature);
  return Status::Ok();
}

}  // namespace hygie::backup::sigv4
