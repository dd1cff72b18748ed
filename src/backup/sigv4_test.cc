#include "backup/sigv4.h"

#include <gtest/gtest.h>

#include <string>

#include "core/bytes.h"

namespace hygie::backup::sigv4 {
namespace {

// The examples of the Amazon S3 API reference, "Signature Calculations for the Authorization
// Header: Transferring Payload in a Single Chunk (AWS Signature Version 4)".
constexpr const char* kAccessKeyId = "AKIAIOSFODNN7EXAMPLE";
constexpr const char* kSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
constexpr const char* kHost = "examplebucket.s3.amazonaws.com";
constexpr int64_t kExampleTime = 1369353600;  // 2013-05-24T00:00:00Z

Credentials ExampleCredentials() {
  return Credentials{kAccessKeyId, crypto::SecretKey::FromBytes(AsBytes(kSecret))};
}

std::string HeaderOf(const Request& request, const std::string& name) {
  for (const auto& [key, value] : request.headers) {
    if (key == name) return value;
  }
  return "";
}

std::string SignatureOf(const Request& request) {
  const std::string authorization = HeaderOf(request, "Authorization");
  const size_t at = authorization.find("Signature=");
  return at == std::string::npos ? "" : authorization.substr(at + 10);
}

TEST(SigV4Test, GetObjectExample) {
  Request request{"GET",
                  "/test.txt",
                  {},
                  {{"Host", kHost}, {"Range", "bytes=0-9"}},
                  std::string(kEmptyPayloadHash)};
  ASSERT_TRUE(Sign(request, ExampleCredentials(), "us-east-1", "s3", kExampleTime).ok());
  EXPECT_EQ(HeaderOf(request, "x-amz-date"), "20130524T000000Z");
  EXPECT_EQ(HeaderOf(request, "x-amz-content-sha256"), kEmptyPayloadHash);
  EXPECT_EQ(HeaderOf(request, "Authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4Test, PutObjectExampleStepByStep) {
  const std::string body = "Welcome to Amazon S3.";
  EXPECT_EQ(PayloadHash(body), "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  Request request{"PUT",
                  "/" + UriEncode("test$file.text", false),
                  {},
                  {{"Host", kHost},
                   {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                   {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
                   {"x-amz-date", "20130524T000000Z"},
                   {"x-amz-content-sha256", PayloadHash(body)}},
                  PayloadHash(body)};
  const CanonicalForm form = Canonicalize(request);
  EXPECT_EQ(
      form.canonical_request,
      "PUT\n/test%24file.text\n\n"
      "date:Fri, 24 May 2013 00:00:00 GMT\n"
      "host:examplebucket.s3.amazonaws.com\n"
      "x-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n"
      "x-amz-date:20130524T000000Z\n"
      "x-amz-storage-class:REDUCED_REDUNDANCY\n\n"
      "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
      "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  const std::string scope = CredentialScope("20130524T000000Z", "us-east-1", "s3");
  EXPECT_EQ(scope, "20130524/us-east-1/s3/aws4_request");
  const std::string string_to_sign =
      StringToSign("20130524T000000Z", scope, form.canonical_request);
  EXPECT_EQ(string_to_sign,
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
            "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d");
  const crypto::SecretKey key =
      SigningKey(crypto::SecretKey::FromBytes(AsBytes(kSecret)), "20130524", "us-east-1", "s3");
  EXPECT_EQ(Signature(key, string_to_sign),
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");

  // Sign() replaces the x-amz-date and x-amz-content-sha256 given and signs the same way.
  ASSERT_TRUE(Sign(request, ExampleCredentials(), "us-east-1", "s3", kExampleTime).ok());
  EXPECT_EQ(SignatureOf(request),
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
  int dates = 0;
  for (const auto& header : request.headers) dates += header.first == "x-amz-date" ? 1 : 0;
  EXPECT_EQ(dates, 1);
}

TEST(SigV4Test, GetBucketLifecycleExample) {
  Request request{
      "GET", "/", {{"lifecycle", ""}}, {{"Host", kHost}}, std::string(kEmptyPayloadHash)};
  ASSERT_TRUE(Sign(request, ExampleCredentials(), "us-east-1", "s3", kExampleTime).ok());
  EXPECT_EQ(SignatureOf(request),
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

TEST(SigV4Test, ListObjectsExampleSortsTheQuery) {
  Request request{"GET",
                  "/",
                  {{"prefix", "J"}, {"max-keys", "2"}},
                  {{"Host", kHost}},
                  std::string(kEmptyPayloadHash)};
  ASSERT_TRUE(Sign(request, ExampleCredentials(), "us-east-1", "s3", kExampleTime).ok());
  EXPECT_EQ(SignatureOf(request),
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST(SigV4Test, AnotherSecretOrTimeGivesAnotherSignature) {
  Request a{"GET", "/test.txt", {}, {{"Host", kHost}}, std::string(kEmptyPayloadHash)};
  Request b = a;
  Request c = a;
  ASSERT_TRUE(Sign(a, ExampleCredentials(), "us-east-1", "s3", kExampleTime).ok());
  Credentials other{kAccessKeyId, crypto::SecretKey::FromBytes(AsBytes("another-secret"))};
  ASSERT_TRUE(Sign(b, other, "us-east-1", "s3", kExampleTime).ok());
  ASSERT_TRUE(Sign(c, ExampleCredentials(), "us-east-1", "s3", kExampleTime + 1).ok());
  EXPECT_NE(SignatureOf(a), SignatureOf(b));
  EXPECT_NE(SignatureOf(a), SignatureOf(c));
  // The secret itself is never part of what is sent.
  for (const auto& header : a.headers) {
    EXPECT_EQ(header.second.find(kSecret), std::string::npos) << header.first;
  }
}

TEST(SigV4Test, RefusesRequestsWithoutHostOrCredentials) {
  Request no_host{"GET", "/", {}, {}, std::string(kEmptyPayloadHash)};
  EXPECT_EQ(Sign(no_host, ExampleCredentials(), "us-east-1", "s3", kExampleTime).code(),
            Code::kInvalidArgument);
  Request request{"GET", "/", {}, {{"host", kHost}}, std::string(kEmptyPayloadHash)};
  Credentials empty{kAccessKeyId, crypto::SecretKey()};
  EXPECT_EQ(Sign(request, empty, "us-east-1", "s3", kExampleTime).code(), Code::kInvalidArgument);
}

TEST(SigV4Test, UriEncodesTheS3Way) {
  EXPECT_EQ(UriEncode("A-z_0.9~", true), "A-z_0.9~");
  EXPECT_EQ(UriEncode("a b+c", true), "a%20b%2Bc");
  EXPECT_EQ(UriEncode("packs/2026/p 1.zst", false), "packs/2026/p%201.zst");
  EXPECT_EQ(UriEncode("a/b", true), "a%2Fb");
  EXPECT_EQ(UriEncode("=&?#%*!'()", true), "%3D%26%3F%23%25%2A%21%27%28%29");
  EXPECT_EQ(UriEncode("\xc3\xa9t\xc3\xa9", true), "%C3%A9t%C3%A9");
  EXPECT_EQ(CanonicalQueryString({{"versions", ""}, {"prefix", "a/b c"}}),
            "prefix=a%2Fb%20c&versions=");
}

TEST(SigV4Test, CanonicalHeadersTrimAndJoin) {
  Request request{"GET",
                  "/",
                  {},
                  {{"Host", kHost}, {"X-Amz-Meta-A", "  one   two  "}, {"x-amz-meta-a", "three"}},
                  std::string(kEmptyPayloadHash)};
  const CanonicalForm form = Canonicalize(request);
  EXPECT_NE(form.canonical_request.find("\nx-amz-meta-a:one two,three\n"), std::string::npos)
      << form.canonical_request;
  EXPECT_EQ(form.signed_headers, "host;x-amz-meta-a");
}

TEST(SigV4Test, FormatsTheAmzDate) {
  EXPECT_EQ(AmzDate(0), "19700101T000000Z");
  EXPECT_EQ(AmzDate(kExampleTime), "20130524T000000Z");
  EXPECT_EQ(AmzDate(951782400), "20000229T000000Z");
}

}  // namespace
}  // namespace hygie::backup::sigv4
