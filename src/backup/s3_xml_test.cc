// The readers of S3 answers (s3_xml.h), on answers as Ceph RGW writes them and on bodies that
// are not what they expect.
#include "backup/s3_xml.h"

#include <gtest/gtest.h>

#include <string>

namespace hygie::backup {
namespace {

constexpr std::string_view kNs = " xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"";

TEST(S3XmlTest, ReadsAnError) {
  auto error = ParseS3Error(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code>"
      "<Message>Access Denied</Message><RequestId>tx0</RequestId></Error>");
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code, "AccessDenied");
  EXPECT_EQ(error->message, "Access Denied");
  EXPECT_FALSE(ParseS3Error("").has_value());
  EXPECT_FALSE(ParseS3Error("<ListBucketResult/>").has_value());
  EXPECT_FALSE(ParseS3Error("<Error><Code>").has_value());
}

TEST(S3XmlTest, ReadsAPageOfObjects) {
  auto page = ParseListObjectsPage(
      "<ListBucketResult" + std::string(kNs) +
      "><IsTruncated>true</IsTruncated><NextContinuationToken>t2</NextContinuationToken>"
      "<Contents><Key>a/1</Key><Size>912</Size><ETag>&quot;9b2c&quot;</ETag></Contents>"
      "<Contents><Key>a/2</Key><Size>x</Size></Contents></ListBucketResult>");
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[0].key, "a/1");
  EXPECT_EQ(page->objects[0].size, 912);
  EXPECT_EQ(page->objects[0].etag, "9b2c");
  EXPECT_EQ(page->objects[1].size, 0);  // not a number
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_token, "t2");
  EXPECT_EQ(ParseListObjectsPage("<Error/>").status().code(), Code::kUnavailable);
}

TEST(S3XmlTest, ReadsAPageOfVersions) {
  auto page = ParseListVersionsPage(
      "<ListVersionsResult><IsTruncated>false</IsTruncated><Version><Key>k</Key>"
      "<VersionId>v1</VersionId><IsLatest>true</IsLatest><ETag>\"e\"</ETag><Size>3</Size>"
      "</Version><DeleteMarker><Key>k</Key><VersionId>v2</VersionId></DeleteMarker>"
      "</ListVersionsResult>");
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->versions.size(), 2u);
  EXPECT_TRUE(page->versions[0].is_latest);
  EXPECT_EQ(page->versions[0].etag, "e");
  EXPECT_TRUE(page->versions[1].is_delete_marker);
  EXPECT_FALSE(page->truncated);
}

TEST(S3XmlTest, ReadsTheObjectLockConfiguration) {
  auto config = ParseObjectLockConfiguration(
      "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule>"
      "<DefaultRetention><Mode>COMPLIANCE</Mode><Days>30</Days></DefaultRetention></Rule>"
      "</ObjectLockConfiguration>");
  ASSERT_TRUE(config.ok());
  EXPECT_TRUE(config->enabled);
  EXPECT_EQ(config->default_mode, LockMode::kCompliance);
  EXPECT_EQ(config->default_days, 30);
}

TEST(S3XmlTest, RefusesWhatIsNotAnAnswer) {
  std::string deep = "<ListBucketResult>";
  for (int i = 0; i < kMaxS3XmlDepth + 1; ++i) deep += "<x>";
  for (int i = 0; i < kMaxS3XmlDepth + 1; ++i) deep += "</x>";
  deep += "</ListBucketResult>";
  for (const std::string& body :
       {std::string(), std::string("not xml"), std::string("<a></b>"), deep,
        std::string("<!DOCTYPE a [<!ENTITY b \"bb\"><!ENTITY c \"&b;&b;\">]>"
                    "<ListBucketResult>&c;&d;</ListBucketResult>")}) {
    auto page = ParseListObjectsPage(body);
    EXPECT_EQ(page.status().code(), Code::kUnavailable) << body;
  }
}

}  // namespace
}  // namespace hygie::backup
