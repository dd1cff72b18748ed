#include "backup/s3_client.h"

#include <openssl/evp.h>
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <utility>

#include "backup/s3_xml.h"
#include "backup/sigv4.h"
#include "core/bytes.h"
#include "crypto/primitives.h"
#include "http/client.h"

namespace hygie::backup {
namespace {

constexpr size_t kMaxErrorMessage = 200;

// "2030-01-01T00:00:00Z", with or without a fraction of a second; 0 if unreadable.
int64_t ParseIsoTime(const std::string& text) {
  struct tm tm {};
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6) {
    return 0;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(::timegm(&tm));
}

std::string FormatIsoTime(int64_t unix_seconds) {
  return FormatInstant(unix_seconds * 1000000);  // "2030-01-01T00:00:00.000Z"
}

std::string ContentMd5(std::string_view body) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(body.data(), body.size(), digest, &length, EVP_md5(), nullptr) != 1) return "";
  return crypto::Base64Encode(ByteView(digest, length));
}

bool IsValidBucketName(const std::string& bucket) {
  if (bucket.size() < 3 || bucket.size() > 63) return false;
  for (char c : bucket) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
  }
  return true;
}

// Printable ASCII only, at most kMaxErrorMessage characters.
std::string Sanitize(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (out.size() >= kMaxErrorMessage) break;
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  return out;
}

void Redact(std::string& text, std::string_view secret) {
  if (secret.size() < 4) return;
  for (size_t at = text.find(secret); at != std::string::npos; at = text.find(secret)) {
    text.replace(at, secret.size(), "[redacted]");
  }
}

const char* XmlLockMode(LockMode mode) { return LockModeName(mode); }

}  // namespace

const char* LockModeName(LockMode mode) {
  switch (mode) {
    case LockMode::kCompliance:
      return "COMPLIANCE";
    case LockMode::kGovernance:
      return "GOVERNANCE";
    case LockMode::kNone:
      break;
  }
  return "";
}

// One S3 operation: what to send and how to name it in errors.
struct S3Client::Call {
  const char* operation;  // "PutObject"...
  std::string method;
  std::string key;  // empty: the bucket itself
  std::vector<std::pair<std::string, std::string>> query;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool head_not_found_ok = false;  // a 404 is an answer (HeadObject)
};

struct S3Client::Response {
  http::HttpResponse http;
};

S3Client::S3Client(S3ClientConfig config, const Clock& clock)
    : config_(std::move(config)), clock_(clock) {
  while (!config_.endpoint.empty() && config_.endpoint.back() == '/') config_.endpoint.pop_back();
}

Result<S3Client::Response> S3Client::Send(const Call& call) const {
  const std::string what = std::string("S3 ") + call.operation + " " + config_.bucket +
                           (call.key.empty() ? "" : "/" + call.key);
  if (!IsValidBucketName(config_.bucket)) return InvalidArgument(what + ": invalid bucket name");
  if (call.key.size() > 1024) return InvalidArgument(what.substr(0, 80) + "...: key too long");
  const size_t scheme = config_.endpoint.find("://");
  if (scheme == std::string::npos ||
      config_.endpoint.find_first_of("/?#", scheme + 3) != std::string::npos) {
    return InvalidArgument(what + ": the endpoint must be scheme://host[:port] without a path");
  }
  Result<std::string> host = http::HostHeaderOf(config_.endpoint);
  if (!host.ok()) return InvalidArgument(what + ": " + host.status().message());

  sigv4::Request request;
  request.method = call.method;
  request.path = "/" + config_.bucket;
  if (!call.key.empty()) request.path += "/" + sigv4::UriEncode(call.key, /*encode_slash=*/false);
  request.query = call.query;
  request.headers = call.headers;
  request.headers.emplace_back("Host", *host);
  request.payload_hash = sigv4::PayloadHash(call.body);
  const sigv4::Credentials credentials{config_.access_key_id,
                                       crypto::SecretKey::FromBytes(config_.secret_key.bytes())};
  HYGIE_RETURN_IF_ERROR(
      sigv4::Sign(request, credentials, config_.region, "s3", clock_.NowSeconds()));

  http::HttpRequest outgoing;
  outgoing.method = call.method;
  outgoing.url = config_.endpoint + request.path;
  const std::string query = sigv4::CanonicalQueryString(request.query);
  if (!query.empty()) outgoing.url += "?" + query;
  outgoing.headers = std::move(request.headers);
  outgoing.body = call.body;
  http::HttpClientOptions options;
  options.timeout_ms = config_.timeout_ms;
  options.max_response_bytes = config_.max_response_bytes;
  options.ca_file = config_.ca_file;
  options.allow_plain_http = true;  // still loopback only
  options.user_agent = "hygie-backup";

  Result<http::HttpResponse> answer = http::SendHttpRequest(outgoing, options);
  if (!answer.ok()) return Status(answer.status().code(), what + ": " + answer.status().message());
  const int status = answer->status;
  if (status >= 200 && status < 300) return Response{std::move(*answer)};
  if (status == 404 && call.head_not_found_ok) return Response{std::move(*answer)};

  // An S3 error: <Error><Code>...</Code><Message>...</Message></Error> (none for HEAD).
  std::string s3_code;
  std::string s3_message;
  if (std::optional<S3ErrorBody> error = ParseS3Error(answer->body)) {
    s3_code = Sanitize(error->code);
    s3_message = Sanitize(error->message);
  }
  std::string message = what + ": " + (s3_code.empty() ? "error" : s3_code) + " (HTTP " +
                        std::to_string(status) + ")";
  if (!s3_message.empty()) message += ": " + s3_message;
  Redact(message, AsChars(config_.secret_key.bytes()));
  Redact(message, config_.access_key_id);
  if (status == 403) return PermissionDenied(message);
  if (status == 404) return NotFound(message);
  if (status == 409) return FailedPrecondition(message);
  if (status == 400) return InvalidArgument(message);
  if (status >= 400 && status < 500) return FailedPrecondition(message);
  return Unavailable(message);
}

Status S3Client::CreateBucket(bool object_lock_enabled) const {
  Call call{"CreateBucket", "PUT"};
  if (object_lock_enabled) call.headers.emplace_back("x-amz-bucket-object-lock-enabled", "true");
  if (config_.region != "us-east-1") {
    call.body =
        "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<LocationConstraint>" +
        config_.region + "</LocationConstraint></CreateBucketConfiguration>";
  }
  HYGIE_ASSIGN_OR_RETURN(Response response, Send(call));
  (void)response;
  return Status::Ok();
}

Result<PutObjectResult> S3Client::PutObject(const std::string& key, const std::string& body,
                                            const PutObjectOptions& options) const {
  if (key.empty()) return InvalidArgument("S3 PutObject: empty key");
  Call call{"PutObject", "PUT", key};
  if (options.lock_mode != LockMode::kNone) {
    if (options.retain_until <= 0) {
      return InvalidArgument("S3 PutObject " + key + ": a lock mode needs a retain-until date");
    }
    call.headers.emplace_back("x-amz-object-lock-mode", LockModeName(options.lock_mode));
    call.headers.emplace_back("x-amz-object-lock-retain-until-date",
                              FormatIsoTime(options.retain_until));
  }
  if (!options.content_md5.empty()) {
    call.headers.emplace_back("Content-MD5", options.content_md5);
  } else if (options.send_content_md5) {
    call.headers.emplace_back("Content-MD5", ContentMd5(body));
  }
  call.headers.emplace_back("Content-Type", "application/octet-stream");
  call.body = body;
  HYGIE_ASSIGN_OR_RETURN(Response response, Send(call));
  return PutObjectResult{StripQuotes(response.http.Header("etag")),
                         response.http.Header("x-amz-version-id")};
}

namespace {

S3ObjectInfo InfoFromHeaders(const http::HttpResponse& response) {
  S3ObjectInfo info;
  info.size = ParseS3Int(response.Header("content-length"));
  info.etag = StripQuotes(response.Header("etag"));
  info.version_id = response.Header("x-amz-version-id");
  info.lock_mode = ParseLockMode(response.Header("x-amz-object-lock-mode"));
  info.retain_until = ParseIsoTime(response.Header("x-amz-object-lock-retain-until-date"));
  info.delete_marker = response.Header("x-amz-delete-marker") == "true";
  return info;
}

}  // namespace

Result<GetObjectResult> S3Client::GetObject(const std::string& key,
                                            const std::string& version_id) const {
  if (key.empty()) return InvalidArgument("S3 GetObject: empty key");
  Call call{"GetObject", "GET", key};
  if (!version_id.empty()) call.query.emplace_back("versionId", version_id);
  HYGIE_ASSIGN_OR_RETURN(Response response, Send(call));
  GetObjectResult result;
  result.info = InfoFromHeaders(response.http);
  result.body = std::move(response.http.body);
  result.info.size = static_cast<int64_t>(result.body.size());
  return result;
}

Result<std::optional<S3ObjectInfo>> S3Client::HeadObject(const std::string& key,
                                                         const std::string& version_id) const {
  if (key.empty()) return InvalidArgument("S3 HeadObject: empty key");
  Call call{"HeadObject", "HEAD", key};
  if (!version_id.empty()) call.query.emplace_back("versionId", version_id);
  call.head_not_found_ok = true;
  HYGIE_ASSIGN_OR_RETURN(Response response, Send(call));
  if (response.http.status == 404) return std::optional<S3ObjectInfo>();
  return std::optional<S3ObjectInfo>(InfoFromHeaders(response.http));
}

Result<std::vector<ListedObject>> S3Client::ListObjects(const std::string& prefix,
                                                        int page_size) const {
  if (page_size < 1 || page_size > 1000) return InvalidArgument("S3 ListObjects: page size");
  std::vector<ListedObject> objects;
  std::string token;
  for (;;) {
    Call call{"ListObjectsV2", "GET"};
    call.query = {{"list-type", "2"}, {"max-keys", std::to_string(page_size)}};
    if (!prefix.empty()) call.query.emplace_back("prefix", prefix);
    if (!token.empty()) call.query.emplace_back("continuation-token", token);
    HYGIE_ASSIGN_OR_RETURN(Response response, Send(call));
    HYGIE_ASSIGN_OR_RETURN(ListObjectsPage page, ParseListObjectsPage(response.http.body));
    for (ListedObject& object : page.objects) objects.push_back(std::move(object));
    if (!page.truncated) break;
    std::string next = std::move(page.next_token);
    if (next.empty() || next == token) {
      return Unavailable("S3 ListObjectsV2: truncated answer without a continuation token");
    }
    token = std::move(next);
  }
  return objects;
}

Result<std::vector<ObjectVersion>> S3Client::ListObjectVersions(const std::string& prefix,
                                                                int page_size) const {
  if (page_size < 1 || page_size > 1000) {
    return InvalidArgument("S3 ListObjectVersions: page size");
  }
  std::vector<ObjectVersion> versions;
  std::string key_marker;
  std::string version_marker;
  for (;;) {
    Call call{"ListObjectVersions", "GET"};
    call.query = {{"versions", ""}, {"max-keys", std::to_string(page_size)}};
    if (!prefix.empty()) call.query.emplace_back("prefix", prefix);
    if (!key_marker.empty()) call.query.emplace_back("key-marker", key_marker);
    if (!version_marker.empty()) call.query.emplace_back("version-id-marker", version_marker);
    HYGIE_ASSIGN_OR_RETURN(Response response, Send(call));
    HYGIE_ASSIGN_OR_RETURN(ListVersionsPage page, ParseListVersionsPage(response.http.body));
    for (ObjectVersion& version : page.versions) versions.push_back(std::move(version));
    if (!page.truncated) break;
    std::string next_key = std::move(page.next_key_marker);
    std::string next_version = std::move(page.next_version_marker);
    if (next_key.empty() || (next_key == key_marker && next_version == version_marker)) {
      return Unavailable("S3 ListObjectVersions: truncated answer without a marker");
    }
    key_marker = std::move(next_key);
    version_marker = std::move(next_version);
  }
  return versions;
}

Result<DeleteObjectResult> S3Client::DeleteObject(const std::string& key,
                                                  const DeleteObjectOptions& options) const {
  if (key.empty()) return InvalidArgument("S3 DeleteObject: empty key");
  Call call{"DeleteObject", "DELETE", key};
  if (!options.version_id.empty()) call.query.emplace_back("versionId", options.version_id);
  if (options.bypass_governance) {
    call.headers.emplace_back("x-amz-bypass-governance-retention", "true");
  }
  HYGIE_ASSIGN_OR_RETURN(Response response, Send(call));
  return DeleteObjectResult{response.http.Header("x-amz-version-id"),
                            response.http.Header("x-amz-delete-marker") == "true"};
}

Status S3Client::PutObjectRetention(const std::string& key, const std::string& version_id,
                                    LockMode mode, int64_t retain_until,
                                    bool bypass_governance) const {
  if (key.empty()) return InvalidArgument("S3 PutObjectRetention: empty key");
  if (mode == LockMode::kNone) return InvalidArgument("S3 PutObjectRetention: no lock mode");
  Call call{"PutObjectRetention", "PUT", key};
  call.query.emplace_back("retention", "");
  if (!version_id.empty()) call.query.emplace_back("versionId", version_id);
  if (bypass_governance) call.headers.emplace_back("x-amz-bypass-governance-retention", "true");
  call.body = std::string("<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Mode>") +
              XmlLockMode(mode) + "</Mode><RetainUntilDate>" + FormatIsoTime(retain_until) +
              "</RetainUntilDate></Retention>";
  call.headers.emplace_back("Content-MD5", ContentMd5(call.body));
  HYGIE_ASSIGN_OR_RETURN(Response response, Send(call));
  (void)response;
  return Status::Ok();
}

Status S3Client::PutBucketPolicy(const std::string& policy_json) const {
  Call call{"PutBucketPolicy", "PUT"};
  call.query.emplace_back("policy", "");
  call.body = policy_json;
  call.headers.emplace_back("Content-Type", "application/json");
  call.headers.emplace_back("Content-MD5", ContentMd5(call.body));
  HYGIE_ASSIGN_OR_RETURN(Response response, Send(call));
  (void)response;
  return Status::Ok();
}

Status S3Client::PutBucketVersioning(bool enabled) const {
  Call call{"PutBucketVersioning", "PUT"};
  call.query.emplace_back("versioning", "");
  call.body = std::string(
                  "<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                  "<Status>") +
              (enabled ? "Enabled" : "Suspended") + "</Status></VersioningConfiguration>";
  call.headers.emplace_back("Content-MD5", ContentMd5(call.body));
  HYGIE_ASSIGN_OR_RETURN(Response response, Send(call));
  (void)response;
  return Status::Ok();
}

Result<ObjectLockConfiguration> S3Client::GetObjectLockConfiguration() const {
  Call call{"GetObjectLockConfiguration", "GET"};
  call.query.emplace_back("object-lock", "");
  Result<Response> response = Send(call);
  if (response.status().code() == Code::kNotFound) return ObjectLockConfiguration{};
  if (!response.ok()) return response.status();
  return ParseObjectLockConfiguration(response->http.body);
}

Status S3Client::PutObjectLockConfiguration(LockMode default_mode, int default_days) const {
  Call call{"PutObjectLockConfiguration", "PUT"};
  call.query.emplace_back("object-lock", "");
  call.body =
      "<ObjectLockConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<ObjectLockEnabled>Enabled</ObjectLockEnabled>";
  if (default_mode != LockMode::kNone) {
    if (default_days <= 0) return InvalidArgument("S3 PutObjectLockConfiguration: days");
    call.body += std::string("<Rule><DefaultRetention><Mode>") + XmlLockMode(default_mode) +
                 "</Mode><Days>" + std::to_string(default_days) +
                 "</Days></DefaultRetention></Rule>";
  }
  call.body += "</ObjectLockConfiguration>";
  call.headers.emplace_back("Content-MD5", ContentMd5(call.body));
  HYGIE_ASSIGN_OR_RETURN(Response response, Send(call));
  (void)response;
  return Status::Ok();
}

}  // namespace hygie::backup
