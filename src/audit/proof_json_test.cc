#include "audit/proof_json.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

namespace hygie::audit {
namespace {

TEST(ProofJsonTest, InclusionAndConsistencyDocuments) {
  ProofJson p;
  p.tree = "acme";
  p.index = 3;
  p.size = 8;
  p.leaf_hash = HashLeaf(ByteView(reinterpret_cast<const uint8_t*>("x"), 1));
  p.proof = {EmptyRoot(), *p.leaf_hash};
  p.checkpoint = "origin\n8\nabc=\n\n— origin sig\n";
  p.record = std::string(R"({"i":3,"t":1,"int":"read","act":"R","st":200})");
  rapidjson::Document d;
  std::string text = WriteProofJson(p);
  ASSERT_FALSE(d.Parse(text.c_str()).HasParseError()) << text;
  EXPECT_STREQ(d["tree"].GetString(), "acme");
  EXPECT_EQ(d["index"].GetUint64(), 3u);
  EXPECT_EQ(d["size"].GetUint64(), 8u);
  EXPECT_FALSE(d.HasMember("size1"));
  ASSERT_EQ(d["proof"].Size(), 2u);
  EXPECT_EQ(std::string(d["proof"][0].GetString()).size(), 44u);  // base64 of 32 bytes
  EXPECT_STREQ(d["checkpoint"].GetString(), p.checkpoint.c_str());
  EXPECT_EQ(d["record"]["i"].GetInt(), 3);

  ProofJson c;
  c.size1 = 2;
  c.size2 = 9;
  c.record = std::string();  // pruned: null
  text = WriteProofJson(c);
  ASSERT_FALSE(d.Parse(text.c_str()).HasParseError()) << text;
  EXPECT_FALSE(d.HasMember("tree"));
  EXPECT_EQ(d["size2"].GetUint64(), 9u);
  EXPECT_TRUE(d["record"].IsNull());
  EXPECT_EQ(d["proof"].Size(), 0u);
}

}  // namespace
}  // namespace hygie::audit
