#pragma once
// AWS Signature Version 4 for S3 requests signed in the Authorization header
// ("Signature Calculations for the Authorization Header: Transferring Payload in a Single
// Chunk"): the canonical request, the string to sign, the signing key derived from the secret
// key, and the headers to send (x-amz-date, x-amz-content-sha256, Authorization). HMAC-SHA256
// and SHA-256 come from crypto/primitives (OpenSSL).
//
// The secret key stays in a crypto::SecretKey: it is never copied into a std::string, and the
// derived keys are wiped after use. Nothing here logs. Stateless free functions; thread-safe.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "crypto/secret.h"

namespace hygie::backup::sigv4 {

// S3's URI encoding: every byte but A-Z a-z 0-9 - . _ ~ as %XX (upper-case hex); '/' kept when
// encode_slash is false (object key names in a path), encoded otherwise (query names and values).
std::string UriEncode(std::string_view text, bool encode_slash);

// Hex SHA-256 of a payload (the value of x-amz-content-sha256).
std::string PayloadHash(std::string_view payload);
// Hex SHA-256 of the empty payload.
inline constexpr std::string_view kEmptyPayloadHash =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct Credentials {
  std::string access_key_id;
  crypto::SecretKey secret_key;  // the secret access key's characters as bytes
};

// A request to sign. Query parameters and header values are given raw (not encoded); the path
// is already URI-encoded (as sent on the request line).
struct Request {
  std::string method;  // "GET", "PUT"...
  std::string path;    // URI-encoded absolute path, e.g. "/bucket/test%24file.text"
  std::vector<std::pair<std::string, std::string>> query;    // raw names and values
  std::vector<std::pair<std::string, std::string>> headers;  // must include host; any case
  std::string payload_hash;  // hex SHA-256 of the body (or "UNSIGNED-PAYLOAD")
};

// The canonical query string: names and values URI-encoded, sorted by name then value, "n=v"
// joined by '&' (a parameter without a value is "n=").
std::string CanonicalQueryString(const std::vector<std::pair<std::string, std::string>>& query);

// The canonical request and the ';'-joined lower-case names of the signed headers (every header
// of the request is signed).
struct CanonicalForm {
  std::string canonical_request;
  std::string signed_headers;
};
CanonicalForm Canonicalize(const Request& request);

// "AWS4-HMAC-SHA256\n<amz_date>\n<scope>\n<hex sha256 of the canonical request>".
// amz_date is "YYYYMMDDTHHMMSSZ"; scope is "<YYYYMMDD>/<region>/<service>/aws4_request".
std::string StringToSign(std::string_view amz_date, std::string_view scope,
                         std::string_view canonical_request);
std::string CredentialScope(std::string_view amz_date, std::string_view region,
                            std::string_view service);

// HMAC chain from "AWS4" + secret over date (YYYYMMDD), region, service and "aws4_request".
crypto::SecretKey SigningKey(const crypto::SecretKey& secret_key, std::string_view date,
                             std::string_view region, std::string_view service);

// Hex HMAC-SHA256 of the string to sign under the signing key.
std::string Signature(const crypto::SecretKey& signing_key, std::string_view string_to_sign);

// "YYYYMMDDTHHMMSSZ" for a Unix time in seconds (UTC).
std::string AmzDate(int64_t unix_seconds);

// Signs `request` at `unix_seconds`: sets x-amz-date and x-amz-content-sha256 (from
// payload_hash) in its headers, then adds the Authorization header
// "AWS4-HMAC-SHA256 Credential=<id>/<scope>, SignedHeaders=<...>, Signature=<hex>".
// kInvalidArgument if the request has no host header or the credentials are empty.
Status Sign(Request& request, const Credentials& credentials, std::string_view region,
            std::string_view service, int64_t unix_seconds);

}  // namespace hygie::backup::sigv4
