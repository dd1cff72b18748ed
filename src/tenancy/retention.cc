#include "tenancy/retention.h"

#include <rapidjson/document.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

namespace hygie::tenancy {

namespace {

std::string PathOf(const std::string& data_dir) { return data_dir + "/audit-retention.json"; }

// The settings; none when the file does not exist. A file that exists but cannot be read is an
// error, never "no settings": a save would otherwise replace every tenant's setting.
Result<rapidjson::Document> Load(const std::string& data_dir, Env& env) {
  rapidjson::Document doc;
  doc.SetObject();
  auto text = env.ReadFile(PathOf(data_dir), 1 << 20);
  if (!text.ok()) {
    if (text.status().code() == Code::kNotFound) return doc;
    return Unavailable("cannot read " + PathOf(data_dir) + ": " + text.status().message());
  }
  if (doc.Parse(text->data(), text->size()).HasParseError() || !doc.IsObject()) {
    return DataLoss(PathOf(data_dir) + " is damaged");
  }
  return doc;
}

}  // namespace

Result<int> AuditRetentionDays(const std::string& data_dir, const std::string& tenant) {
  HYGIE_ASSIGN_OR_RETURN(rapidjson::Document doc, Load(data_dir, Env::Default()));
  auto it = doc.FindMember(tenant.c_str());
  if (it == doc.MemberEnd()) return kDefaultAuditRetentionDays;
  if (!it->value.IsInt()) return DataLoss(PathOf(data_dir) + " is damaged");
  return it->value.GetInt();
}

Status SetAuditRetentionDays(const std::string& data_dir, const std::string& tenant, int days,
                             Env& env) {
  if (days < kMinAuditRetentionDays || days > kMaxAuditRetentionDays) {
    return InvalidArgument("audit retention must be between " +
                           std::to_string(kMinAuditRetentionDays) + " and " +
                           std::to_string(kMaxAuditRetentionDays) + " days (6 months to 3 years)");
  }
  HYGIE_ASSIGN_OR_RETURN(rapidjson::Document doc, Load(data_dir, env));
  auto& a = doc.GetAllocator();
  doc.RemoveMember(tenant.c_str());
  doc.AddMember(rapidjson::Value(tenant.c_str(), a), rapidjson::Value(days), a);
  rapidjson::StringBuffer buf;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
  doc.Accept(w);
  const std::string path = PathOf(data_dir);
  const std::string text = std::string(buf.GetString(), buf.GetSize()) + "\n";
  Status s = env.WriteFileAtomic(path, text, 0600);
  if (!s.ok()) return Unavailable("cannot write " + path + ": " + s.message());
  return Status::Ok();
}

}  // namespace hygie::tenancy
