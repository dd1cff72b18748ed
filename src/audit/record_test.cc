#include "audit/record.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace hygie::audit {
namespace {

Record FullRecord() {
  Record r;
  r.index = 18446744073709551615ull;
  r.time_us = 1795579529123456;
  r.request_id = "01JDQ8Z3K4ABCDEF";
  r.tenant = "acme";
  r.subject = "dr-house";
  r.client_id = "telemed-app";
  r.issuer = "https://idp.example.org/realms/care";
  r.role = "practitioner";
  r.professional_id = "10003456789";
  r.staff = true;
  r.peer = "2001:db8::7";
  r.purpose = "TREAT";
  r.interaction = "search-type";
  r.action = 'R';
  r.resource_type = "Observation";
  r.resource_id = "obs-1";
  r.version = 42;
  r.operation = "$everything";
  r.query = {{"patient", "hmac-sha256:0123456789abcdef"}, {"_count", "10"}, {"code", ""}};
  r.status = 200;
  r.detail = "quote \" backslash \\ newline \n tab \t é";
  return r;
}

void ExpectSame(const Record& a, const Record& b) {
  EXPECT_EQ(a.index, b.index);
  EXPECT_EQ(a.time_us, b.time_us);
  EXPECT_EQ(a.request_id, b.request_id);
  EXPECT_EQ(a.tenant, b.tenant);
  EXPECT_EQ(a.subject, b.subject);
  EXPECT_EQ(a.client_id, b.client_id);
  EXPECT_EQ(a.issuer, b.issuer);
  EXPECT_EQ(a.role, b.role);
  EXPECT_EQ(a.professional_id, b.professional_id);
  EXPECT_EQ(a.staff, b.staff);
  EXPECT_EQ(a.peer, b.peer);
  EXPECT_EQ(a.purpose, b.purpose);
  EXPECT_EQ(a.interaction, b.interaction);
  EXPECT_EQ(a.action, b.action);
  EXPECT_EQ(a.resource_type, b.resource_type);
  EXPECT_EQ(a.resource_id, b.resource_id);
  EXPECT_EQ(a.version, b.version);
  EXPECT_EQ(a.operation, b.operation);
  EXPECT_EQ(a.query, b.query);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.detail, b.detail);
}

TEST(RecordTest, FullRecordRoundTrips) {
  const Record r = FullRecord();
  const std::string text = EncodeRecord(r);
  auto decoded = DecodeRecord(text);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  ExpectSame(r, *decoded);
  // Decoding then encoding again gives back the same bytes (the Merkle leaf is stable).
  EXPECT_EQ(EncodeRecord(*decoded), text);
}

TEST(RecordTest, MinimalRecordRoundTripsAndOmitsEmptyMembers) {
  Record r;
  r.time_us = 0;
  r.interaction = "login";
  r.action = 'E';
  r.status = 401;
  const std::string text = EncodeRecord(r);
  EXPECT_EQ(text, R"({"i":0,"t":0,"int":"login","act":"E","st":401})");
  auto decoded = DecodeRecord(text);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  ExpectSame(r, *decoded);
}

TEST(RecordTest, MembersInFixedOrder) {
  const std::string text = EncodeRecord(FullRecord());
  const std::vector<std::string> order = {
      "\"i\":",    "\"t\":",   "\"rid\":",   "\"ten\":",  "\"sub\":", "\"cid\":", "\"iss\":",
      "\"role\":", "\"pro\":", "\"staff\":", "\"peer\":", "\"pou\":", "\"int\":", "\"act\":",
      "\"type\":", "\"id\":",  "\"ver\":",   "\"op\":",   "\"q\":",   "\"st\":",  "\"det\":"};
  size_t last = 0;
  for (const auto& key : order) {
    const size_t at = text.find(key);
    ASSERT_NE(at, std::string::npos) << key;
    EXPECT_GE(at, last) << key;
    last = at;
  }
  EXPECT_EQ(text.find(' ', 0), text.find("quote \\\"") + 5);  // compact: the first space is in det
}

TEST(RecordTest, EncodingIsStable) {
  const Record r = FullRecord();
  const std::string a = EncodeRecord(r);
  const Record copy = r;
  EXPECT_EQ(EncodeRecord(copy), a);
  EXPECT_EQ(EncodeRecord(r), a);
  Record other = r;
  other.status = 404;
  EXPECT_NE(EncodeRecord(other), a);
}

TEST(RecordTest, InvalidUtf8IsReplacedSoTheRecordStaysReadable) {
  Record r;
  r.interaction = "login";
  r.detail = std::string("bad \xC3\x28 byte \xFF end");
  r.peer = std::string("\xED\xA0\x80");  // a UTF-16 surrogate encoded in UTF-8
  auto decoded = DecodeRecord(EncodeRecord(r));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->detail, "bad \xEF\xBF\xBD( byte \xEF\xBF\xBD end");
  EXPECT_EQ(decoded->peer, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(RecordTest, MemberOrderAndEmptyOptionalMembersAreAccepted) {
  auto r =
      DecodeRecord(R"({"st":200,"act":"C","int":"create","t":5,"i":3,"sub":"","staff":false})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->index, 3u);
  EXPECT_EQ(r->time_us, 5);
  EXPECT_EQ(r->action, 'C');
  EXPECT_EQ(r->status, 200);
  EXPECT_FALSE(r->staff);
}

TEST(RecordTest, MalformedTextsAreDataLoss) {
  const std::vector<std::string> bad = {
      "",
      "not json",
      "[]",
      "\"text\"",
      R"({"i":0,"t":0,"int":"read","act":"R","st":200)",               // truncated
      R"({"i":0,"t":0,"int":"read","act":"R","st":200} {})",           // trailing value
      R"({"i":0,"t":0,"int":"read","act":"R","st":200,"x":1})",        // unknown member
      R"({"i":0,"t":0,"int":"read","act":"R","st":200,"i":1})",        // repeated member
      R"({"t":0,"int":"read","act":"R","st":200})",                    // no index
      R"({"i":0,"int":"read","act":"R","st":200})",                    // no time
      R"({"i":0,"t":0,"act":"R","st":200})",                           // no interaction
      R"({"i":0,"t":0,"int":"read","st":200})",                        // no action
      R"({"i":0,"t":0,"int":"read","act":"R"})",                       // no status
      R"({"i":-1,"t":0,"int":"read","act":"R","st":200})",             // negative index
      R"({"i":0,"t":-5,"int":"read","act":"R","st":200})",             // negative time
      R"({"i":1.5,"t":0,"int":"read","act":"R","st":200})",            // fraction
      R"({"i":"0","t":0,"int":"read","act":"R","st":200})",            // index as string
      R"({"i":0,"t":0,"int":"read","act":"X","st":200})",              // unknown action
      R"({"i":0,"t":0,"int":"read","act":"RR","st":200})",             // two letters
      R"({"i":0,"t":0,"int":"read","act":"","st":200})",               // empty action
      R"({"i":0,"t":0,"int":"read","act":"r","st":200})",              // lower case
      R"({"i":0,"t":0,"int":7,"act":"R","st":200})",                   // interaction not string
      R"({"i":0,"t":0,"int":"read","act":"R","st":-200})",             // negative status
      R"({"i":0,"t":0,"int":"read","act":"R","st":1000})",             // status out of range
      R"({"i":0,"t":0,"int":"read","act":"R","st":"200"})",            // status as string
      R"({"i":0,"t":0,"int":"read","act":"R","st":200,"staff":1})",    // staff not boolean
      R"({"i":0,"t":0,"int":"read","act":"R","st":200,"ver":-2})",     // negative version
      R"({"i":0,"t":0,"int":"read","act":"R","st":200,"sub":null})",   // null
      R"({"i":0,"t":0,"int":"read","act":"R","st":200,"q":{}})",       // query not array
      R"({"i":0,"t":0,"int":"read","act":"R","st":200,"q":[["a"]]})",  // one-element pair
      R"({"i":0,"t":0,"int":"read","act":"R","st":200,"q":[["a","b","c"]]})",  // three
      R"({"i":0,"t":0,"int":"read","act":"R","st":200,"q":[["a",1]]})",        // number value
      R"({"i":0,"t":0,"int":"read","act":"R","st":200,"q":["a=b"]})",          // not a pair
      std::string(R"({"i":0,"t":0,"int":"read","act":"R","st":200,"det":")") + "\xFF\"}",
  };
  for (const auto& text : bad) {
    auto r = DecodeRecord(text);
    EXPECT_EQ(r.status().code(), Code::kDataLoss) << text;
  }
}

TEST(RecordTest, EveryActionRoundTrips) {
  for (char action : {'C', 'R', 'U', 'D', 'E'}) {
    Record r;
    r.interaction = "read";
    r.action = action;
    auto decoded = DecodeRecord(EncodeRecord(r));
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_EQ(decoded->action, action);
  }
}

// ClearAct leaves what a record says of its request and resets what it says of the act: the
// record then encodes as one made with the request's members alone.
TEST(RecordTest, ClearActKeepsTheRequestAndResetsTheAct) {
  Record full = FullRecord();
  Record request;
  request.index = full.index;
  request.time_us = full.time_us;
  request.request_id = full.request_id;
  request.tenant = full.tenant;
  request.subject = full.subject;
  request.client_id = full.client_id;
  request.issuer = full.issuer;
  request.role = full.role;
  request.professional_id = full.professional_id;
  request.staff = full.staff;
  request.peer = full.peer;
  request.purpose = full.purpose;
  ASSERT_NE(EncodeRecord(full), EncodeRecord(request));
  ClearAct(full);
  EXPECT_EQ(EncodeRecord(full), EncodeRecord(request));
  EXPECT_FALSE(full.request_id.empty());
}

}  // namespace
}  // namespace hygie::audit
