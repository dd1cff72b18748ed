#include "backup/s3_xml.h"

#include <expat.h>

#include <cstdlib>
#include <utility>

namespace hygie::backup {
namespace {

// ---- A small XML tree over expat (S3 answers are small documents) ----

struct XmlNode {
  std::string name;  // local name as written (S3 uses a default namespace, no prefixes)
  std::string text;
  std::vector<XmlNode> children;

  const XmlNode* Child(std::string_view child) const {
    for (const XmlNode& node : children) {
      if (node.name == child) return &node;
    }
    return nullptr;
  }
  std::string ChildText(std::string_view child) const {
    const XmlNode* node = Child(child);
    return node == nullptr ? "" : node->text;
  }
};

struct XmlBuilder {
  XmlNode root;
  std::vector<XmlNode*> stack;
  bool too_deep = false;
  bool has_root = false;
};

void XMLCALL OnStart(void* data, const XML_Char* name, const XML_Char** /*attributes*/) {
  auto* b = static_cast<XmlBuilder*>(data);
  if (b->stack.size() >= kMaxS3XmlDepth) {
    b->too_deep = true;
    return;
  }
  if (b->stack.empty()) {
    b->root.name = name;
    b->has_root = true;
    b->stack.push_back(&b->root);
    return;
  }
  // Only the innermost open element's children grow: the pointers to its ancestors stay valid.
  XmlNode& child = b->stack.back()->children.emplace_back();
  child.name = name;
  b->stack.push_back(&child);
}

void XMLCALL OnEnd(void* data, const XML_Char* /*name*/) {
  auto* b = static_cast<XmlBuilder*>(data);
  if (b->too_deep || b->stack.empty()) return;
  b->stack.pop_back();
}

void XMLCALL OnText(void* data, const XML_Char* text, int length) {
  auto* b = static_cast<XmlBuilder*>(data);
  if (b->too_deep || b->stack.empty()) return;
  b->stack.back()->text.append(text, static_cast<size_t>(length));
}

Result<XmlNode> ParseXml(std::string_view text) {
  XML_Parser parser = XML_ParserCreate(nullptr);
  if (parser == nullptr) return Internal("cannot create an XML parser");
  XmlBuilder builder;
  XML_SetUserData(parser, &builder);
  XML_SetElementHandler(parser, OnStart, OnEnd);
  XML_SetCharacterDataHandler(parser, OnText);
  const XML_Status status =
      XML_Parse(parser, text.data(), static_cast<int>(text.size()), /*isFinal=*/1);
  std::string error;
  if (status != XML_STATUS_OK) error = XML_ErrorString(XML_GetErrorCode(parser));
  XML_ParserFree(parser);
  if (!error.empty()) return Unavailable("malformed S3 answer (XML: " + error + ")");
  if (builder.too_deep) return Unavailable("malformed S3 answer (XML nested too deep)");
  if (!builder.has_root) return Unavailable("malformed S3 answer (no XML element)");
  return std::move(builder.root);
}

}  // namespace

std::optional<S3ErrorBody> ParseS3Error(std::string_view body) {
  if (body.empty()) return std::nullopt;
  Result<XmlNode> xml = ParseXml(body);
  if (!xml.ok() || xml->name != "Error") return std::nullopt;
  return S3ErrorBody{xml->ChildText("Code"), xml->ChildText("Message")};
}

Result<ListObjectsPage> ParseListObjectsPage(std::string_view body) {
  HYGIE_ASSIGN_OR_RETURN(XmlNode xml, ParseXml(body));
  if (xml.name != "ListBucketResult") return Unavailable("S3 ListObjectsV2: unexpected answer");
  ListObjectsPage page;
  for (const XmlNode& node : xml.children) {
    if (node.name != "Contents") continue;
    page.objects.push_back(ListedObject{node.ChildText("Key"), ParseS3Int(node.ChildText("Size")),
                                        StripQuotes(node.ChildText("ETag"))});
  }
  page.truncated = xml.ChildText("IsTruncated") == "true";
  page.next_token = xml.ChildText("NextContinuationToken");
  return page;
}

Result<ListVersionsPage> ParseListVersionsPage(std::string_view body) {
  HYGIE_ASSIGN_OR_RETURN(XmlNode xml, ParseXml(body));
  if (xml.name != "ListVersionsResult") {
    return Unavailable("S3 ListObjectVersions: unexpected answer");
  }
  ListVersionsPage page;
  for (const XmlNode& node : xml.children) {
    if (node.name != "Version" && node.name != "DeleteMarker") continue;
    ObjectVersion version;
    version.key = node.ChildText("Key");
    version.version_id = node.ChildText("VersionId");
    version.is_latest = node.ChildText("IsLatest") == "true";
    version.is_delete_marker = node.name == "DeleteMarker";
    version.size = ParseS3Int(node.ChildText("Size"));
    version.etag = StripQuotes(node.ChildText("ETag"));
    page.versions.push_back(std::move(version));
  }
  page.truncated = xml.ChildText("IsTruncated") == "true";
  page.next_key_marker = xml.ChildText("NextKeyMarker");
  page.next_version_marker = xml.ChildText("NextVersionIdMarker");
  return page;
}

Result<ObjectLockConfiguration> ParseObjectLockConfiguration(std::string_view body) {
  HYGIE_ASSIGN_OR_RETURN(XmlNode xml, ParseXml(body));
  if (xml.name != "ObjectLockConfiguration") {
    return Unavailable("S3 GetObjectLockConfiguration: unexpected answer");
  }
  ObjectLockConfiguration config;
  config.enabled = xml.ChildText("ObjectLockEnabled") == "Enabled";
  if (const XmlNode* rule = xml.Child("Rule"); rule != nullptr) {
    if (const XmlNode* retention = rule->Child("DefaultRetention"); retention != nullptr) {
      config.default_mode = ParseLockMode(retention->ChildText("Mode"));
      config.default_days = static_cast<int>(ParseS3Int(retention->ChildText("Days")));
    }
  }
  return config;
}

std::string StripQuotes(std::string etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    etag = etag.substr(1, etag.size() - 2);
  }
  return etag;
}

int64_t ParseS3Int(const std::string& text) {
  if (text.empty()) return 0;
  char* end = nullptr;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  return end != nullptr && *end == '\0' ? value : 0;
}

LockMode ParseLockMode(const std::string& text) {
  if (text == "COMPLIANCE") return LockMode::kCompliance;
  if (text == "GOVERNANCE") return LockMode::kGovernance;
  return LockMode::kNone;
}

}  // namespace hygie::backup
