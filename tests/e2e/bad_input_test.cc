// End-to-end tests of bad input: every refusal is a 4xx OperationOutcome, nothing is written,
// no request gets a 5xx, and the server keeps serving afterwards.

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "support/harness.h"

namespace hygie::e2e {
namespace {

namespace fs = std::filesystem;

const std::string kPatient = R"({"resourceType":"Patient","active":true})";

class BadInputTest : public ::testing::Test {
 protected:
  explicit BadInputTest(const ServeOptions& serve = {}) : dep_("acme", serve) {}
  void SetUp() override {
    errors_before_ = ServerErrorResponses();
    total_before_ = Total();
    ASSERT_GE(total_before_, 0);
  }
  void TearDown() override {
    EXPECT_EQ(ServerErrorResponses(), errors_before_) << "a request got a 5xx";
    ExpectStillServes();
  }

  int64_t Total() { return HistoryTotal(client_, dep_.token(), dep_.Base() + "/_history"); }

  // The server answers normally: a create and a read.
  void ExpectStillServes() {
    HttpClient fresh(dep_.port());
    HttpResponse r = fresh.Fhir("POST", dep_.Base() + "/Patient", dep_.token(), kPatient);
    ASSERT_EQ(r.status, 201) << "server no longer serves: " << r.body << dep_.server().Log();
    std::string id = JsonString(ParseJson(r.body), "id");
    EXPECT_EQ(fresh.Fhir("GET", dep_.Base() + "/Patient/" + id, dep_.token()).status, 200);
  }

  // `res` is a refusal with `status` and an OperationOutcome body.
  static void ExpectRefused(const HttpResponse& res, int status, const std::string& what) {
    EXPECT_EQ(res.status, status) << what << "\n" << res.body;
    EXPECT_TRUE(IsOperationOutcome(res.body)) << what << "\n" << res.body;
  }

  Deployment dep_;
  HttpClient client_{dep_.port()};
  int64_t errors_before_ = 0;
  int64_t total_before_ = 0;
};

class BodyLimitTest : public BadInputTest {
 protected:
  static ServeOptions Options() {
    ServeOptions o;
    o.extra_args = {"--max-body", "4096"};
    return o;
  }
  BodyLimitTest() : BadInputTest(Options()) {}
};

class DepthLimitTest : public BadInputTest {
 protected:
  static ServeOptions Options() {
    ServeOptions o;
    o.extra_args = {"--max-depth", "20"};
    return o;
  }
  DepthLimitTest() : BadInputTest(Options()) {}
};

// A Patient whose extension nests `depth` containers in all (counting the resource itself).
// A valid Patient whose JSON nests exactly `depth` levels (objects and arrays), through nested
// extensions: each adds two levels (array, object); the innermost holds a string (odd depths) or
// a CodeableConcept (three more levels: even depths).
std::string NestedPatient(int depth, const std::string& id = "") {
  bool even = depth % 2 == 0;
  int levels = even ? (depth - 4) / 2 : (depth - 1) / 2;
  std::string body = R"({"resourceType":"Patient")";
  if (!id.empty()) body += R"(,"id":")" + id + "\"";
  std::string close;
  for (int i = 0; i < levels; ++i) {
    body += R"(,"extension":[{"url":"http://example.org/n")";
    close = "}]" + close;
  }
  body += even ? R"(,"valueCodeableConcept":{"coding":[{"code":"x"}]})" : R"(,"valueString":"x")";
  // The innermost extension holds the value; a Patient itself cannot.
  if (levels == 0) return R"({"resourceType":"Patient"})";
  return body + close + "}";
}

// The start of a raw response: "HTTP/1.1 400 ..." -> 400; 0 if none.
int RawStatus(const std::string& response) {
  if (!response.starts_with("HTTP/1.")) return 0;
  if (response.size() < 12) return 0;
  return std::atoi(response.substr(9, 3).c_str());
}

TEST_F(BadInputTest, MalformedBodiesAreRefusedAndWriteNothing) {
  const std::vector<std::pair<std::string, std::string>> bodies = {
      {"truncated", R"({"resourceType":"Patient",)"},
      {"empty", ""},
      {"null", "null"},
      {"array", "[]"},
      {"string", R"("Patient")"},
      {"number", "42"},
      {"trailing garbage", kPatient + " x"},
      {"two documents", kPatient + kPatient},
      {"invalid UTF-8 ff fe",
       "{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"\xff\xfe\"}]}"},
      {"overlong UTF-8", "{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"\xc0\xaf\"}]}"},
      {"UTF-8 surrogate",
       "{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"\xed\xa0\x80\"}]}"},
      {"truncated UTF-8", "{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"\xc3\"}]}"},
      {"invalid UTF-8 in a key", "{\"resourceType\":\"Patient\",\"\xff\":1}"},
      {"lone surrogate escape", R"({"resourceType":"Patient","name":[{"family":"\ud800"}]})"},
      {"lone low surrogate escape", R"({"resourceType":"Patient","name":[{"family":"\udc00x"}]})"},
      {"raw control character", "{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"a\x01\"}]}"},
      {"raw NUL", std::string("{\"resourceType\":\"Patient\",\"n\":\"a") + '\0' + "b\"}"},
      {"duplicate resourceType", R"({"resourceType":"Patient","resourceType":"Observation"})"},
      {"duplicate nested member",
       R"({"resourceType":"Patient","name":[{"family":"a","family":"b"}]})"},
      {"no resourceType", R"({"name":[{"family":"a"}]})"},
      {"resourceType not a string", R"({"resourceType":1})"},
      {"unknown resourceType", R"({"resourceType":"Foo"})"},
      {"other resourceType", R"({"resourceType":"Observation","status":"final"})"},
      {"lower-case resourceType", R"({"resourceType":"patient"})"},
      {"NaN", R"({"resourceType":"Patient","x":NaN})"},
      {"huge number", R"({"resourceType":"Patient","x":1e99999})"},
      {"comment", R"({"resourceType":"Patient" /* c */})"},
      {"single quotes", R"({'resourceType':'Patient'})"},
      {"unterminated string", R"({"resourceType":"Patient","x":"abc)"},
      {"bad escape", R"({"resourceType":"Patient","x":"\q"})"},
  };
  const std::string base = dep_.Base();
  for (const auto& [what, body] : bodies) {
    ExpectRefused(client_.Fhir("POST", base + "/Patient", dep_.token(), body), 400, "POST " + what);
    std::string put_body = body;
    ExpectRefused(client_.Fhir("PUT", base + "/Patient/bad-input", dep_.token(), put_body), 400,
                  "PUT " + what);
  }
  EXPECT_EQ(Total(), total_before_);
  EXPECT_EQ(client_.Fhir("GET", base + "/Patient/bad-input", dep_.token()).status, 404);
  // The refusal never echoes the body.
  HttpResponse r = client_.Fhir("POST", base + "/Patient", dep_.token(),
                                R"({"resourceType":"Patient","x":"SECRET-ECHO-CHECK",)");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body.find("SECRET-ECHO-CHECK"), std::string::npos) << r.body;
}

TEST_F(BadInputTest, UpdateIdProblems) {
  const std::string base = dep_.Base();
  HttpResponse created = client_.Fhir("POST", base + "/Patient", dep_.token(), kPatient);
  ASSERT_EQ(created.status, 201);
  const std::string id = JsonString(ParseJson(created.body), "id");
  const int64_t total = Total();

  ExpectRefused(client_.Fhir("PUT", base + "/Patient/" + id, dep_.token(),
                             R"({"resourceType":"Patient","id":"someone-else"})"),
                400, "body id differs from URL id");
  ExpectRefused(client_.Fhir("PUT", base + "/Patient/" + id, dep_.token(), kPatient), 400,
                "PUT without id");
  ExpectRefused(client_.Fhir("PUT", base + "/Patient/" + id, dep_.token(),
                             R"({"resourceType":"Patient","id":5})"),
                400, "id not a string");
  ExpectRefused(client_.Fhir("PUT", base + "/Patient/" + id, dep_.token(),
                             R"({"resourceType":"Patient","id":")" + id + R"( "})"),
                400, "id with a space");
  ExpectRefused(client_.Fhir("PUT", base + "/Patient/" + id, dep_.token(),
                             R"({"resourceType":"Observation","id":")" + id + R"("})"),
                400, "PUT of another type");
  ExpectRefused(client_.Fhir("PUT", base + "/Patient/new-one", dep_.token(),
                             R"({"resourceType":"Patient","id":"NEW-ONE"})"),
                400, "id differs in case");
  for (const std::string etag : {"1", "W/1", "W/\"\"", "W/\"abc\"", "W/\"0\"", "W/\"-1\"",
                                 "W/\"99999999999999999999999\"", "*x"}) {
    ExpectRefused(
        client_.Fhir("PUT", base + "/Patient/" + id, dep_.token(),
                     R"({"resourceType":"Patient","id":")" + id + R"("})", {{"If-Match", etag}}),
        400, "If-Match " + etag);
  }
  EXPECT_EQ(Total(), total);
  HttpResponse read = client_.Fhir("GET", base + "/Patient/" + id, dep_.token());
  EXPECT_EQ(read.body, created.body);
  EXPECT_EQ(client_.Fhir("GET", base + "/Patient/new-one", dep_.token()).status, 404);
}

TEST_F(BadInputTest, WrongContentType) {
  const std::string base = dep_.Base();
  for (const std::string ct : {"text/plain", "application/xml", "application/fhir+xml",
                               "application/fhir+jsonx", "multipart/form-data", "json"}) {
    ExpectRefused(
        client_.Fhir("POST", base + "/Patient", dep_.token(), kPatient, {{"Content-Type", ct}}),
        415, "POST " + ct);
    ExpectRefused(
        client_.Fhir("PUT", base + "/Patient/ct-test", dep_.token(),
                     R"({"resourceType":"Patient","id":"ct-test"})", {{"Content-Type", ct}}),
        415, "PUT " + ct);
  }
  EXPECT_EQ(Total(), total_before_);
  // The JSON types are accepted, with parameters.
  for (const std::string ct : {"application/json", "application/fhir+json; charset=utf-8",
                               "application/fhir+json;fhirVersion=4.0"}) {
    EXPECT_EQ(
        client_.Fhir("POST", base + "/Patient", dep_.token(), kPatient, {{"Content-Type", ct}})
            .status,
        201)
        << ct;
  }
  EXPECT_EQ(Total(), total_before_ + 3);
}

TEST_F(BadInputTest, UnknownTypesBadIdsAndEndpoints) {
  const std::string base = dep_.Base();
  const std::string& tok = dep_.token();
  ExpectRefused(client_.Fhir("GET", base + "/Foo", tok), 404, "GET unknown type");
  ExpectRefused(client_.Fhir("POST", base + "/Foo", tok, R"({"resourceType":"Foo"})"), 404,
                "POST unknown type");
  ExpectRefused(client_.Fhir("GET", base + "/Foo/1", tok), 404, "read unknown type");
  ExpectRefused(client_.Fhir("GET", base + "/patient/1", tok), 404, "lower-case type");
  ExpectRefused(client_.Fhir("GET", base + "/Resource/1", tok), 404, "abstract type");
  ExpectRefused(client_.Fhir("GET", base + "/Patient/bad_id!", tok), 400, "bad id");
  ExpectRefused(client_.Fhir("PUT", base + "/Patient/bad_id!", tok,
                             R"({"resourceType":"Patient","id":"bad_id!"})"),
                400, "PUT bad id");
  ExpectRefused(client_.Fhir("DELETE", base + "/Patient/bad_id!", tok), 400, "DELETE bad id");
  ExpectRefused(client_.Fhir("GET", base + "/Patient/" + std::string(65, 'a'), tok), 400,
                "65-character id");
  ExpectRefused(client_.Fhir("GET", base + "/Patient/a%2Fb", tok), 400, "encoded slash in id");
  ExpectRefused(client_.Fhir("GET", base + "/Patient/a%00b", tok), 400, "NUL in id");
  ExpectRefused(client_.Fhir("GET", base + "/Patient/%C3%A9", tok), 400, "non-ASCII id");
  ExpectRefused(client_.Fhir("GET", base + "/Patient/x/_history/abc", tok), 400, "version abc");
  ExpectRefused(client_.Fhir("GET", base + "/Patient/x/_history/-1", tok), 400, "version -1");
  ExpectRefused(client_.Fhir("GET", base + "/Patient/x/_history/99999999999999999999999", tok), 400,
                "huge version");
  ExpectRefused(client_.Fhir("GET", base + "/Patient/x/_history/1/extra", tok), 404,
                "extra segment");
  ExpectRefused(client_.Fhir("GET", base + "/Patient/x/foo", tok), 404, "unknown operation");
  // PATCH takes a JSON Patch document only.
  ExpectRefused(client_.Fhir("PATCH", base + "/Patient/x", tok, kPatient), 415, "PATCH");
  ExpectRefused(client_.Fhir("POST", base + "/Patient/x", tok, kPatient), 405, "POST on id");
  // A conditional delete needs a search.
  ExpectRefused(client_.Fhir("DELETE", base + "/Patient", tok), 400, "DELETE on type");
  ExpectRefused(client_.Fhir("POST", base + "/_history", tok, kPatient), 405, "POST history");
  ExpectRefused(client_.Fhir("GET", "/fhir", tok), 404, "no tenant");
  HttpResponse dotdot = client_.Fhir("GET", base + "/Patient/..", tok);
  EXPECT_TRUE(dotdot.status == 400 || dotdot.status == 404) << dotdot.status;
  EXPECT_TRUE(IsOperationOutcome(dotdot.body));
  EXPECT_EQ(Total(), total_before_);
}

TEST_F(BadInputTest, TenantProblems) {
  // Another tenant's token: refused before anything about the URL's tenant is looked at.
  dep_.inst().CreateTenant("other");
  const std::string other = dep_.inst().Token("other");
  ExpectRefused(client_.Fhir("GET", dep_.Base() + "/Patient/x", other), 403, "other token");
  ExpectRefused(client_.Fhir("POST", dep_.Base() + "/Patient", other, kPatient), 403,
                "other token create");

  // A token (made with the installation's key) for a valid tenant name that does not exist.
  LibTokenOptions ghost_opts;
  ghost_opts.tenant = "ghost";
  const std::string ghost = LibToken(dep_.data(), ghost_opts);
  ASSERT_FALSE(ghost.empty());
  ExpectRefused(client_.Fhir("POST", "/fhir/ghost/Patient", ghost, kPatient), 404,
                "unknown tenant create");
  ExpectRefused(client_.Fhir("GET", "/fhir/ghost/Patient/x", ghost), 404, "unknown tenant read");
  ExpectRefused(client_.Fhir("GET", "/fhir/ghost/_history", ghost), 404, "unknown tenant history");
  EXPECT_FALSE(fs::exists(dep_.data() + "/tenants/ghost")) << "no namespace for a ghost";
  // The ghost's token does not open real tenants.
  ExpectRefused(client_.Fhir("GET", dep_.Base() + "/_history", ghost), 403, "ghost token on acme");

  // Tenant names that are not names, with tokens that carry exactly them.
  for (const std::string name : {"Bad_Name", "..", "a", "x%2F..%2F..", "%2e%2e"}) {
    LibTokenOptions o;
    o.tenant = name;
    const std::string tok = LibToken(dep_.data(), o);
    HttpResponse r = client_.Fhir("POST", "/fhir/" + name + "/Patient", tok, kPatient);
    EXPECT_TRUE(r.status == 403 || r.status == 404) << name << " " << r.status;
    EXPECT_TRUE(IsOperationOutcome(r.body)) << name;
  }
  // Nothing was created anywhere for them.
  std::vector<std::string> namespaces;
  for (const auto& e : fs::directory_iterator(dep_.data() + "/tenants")) {
    namespaces.push_back(e.path().filename().string());
  }
  EXPECT_EQ(namespaces, std::vector<std::string>{"acme"});
  EXPECT_FALSE(fs::exists(dep_.data() + "/x"));
  EXPECT_EQ(Total(), total_before_);
}

TEST_F(BadInputTest, HostileQueryStrings) {
  const std::string base = dep_.Base();
  const std::string& tok = dep_.token();
  HttpResponse created = client_.Fhir("POST", base + "/Patient", tok, kPatient);
  ASSERT_EQ(created.status, 201);
  const std::string id = JsonString(ParseJson(created.body), "id");
  const int64_t total = Total();

  ExpectRefused(client_.Fhir("GET", base + "/Patient/" + id + "?x=%zz", tok), 400, "%zz");
  ExpectRefused(client_.Fhir("GET", base + "/Patient/" + id + "?x=%", tok), 400, "lone %");
  ExpectRefused(client_.Fhir("GET", base + "/Patient/" + id + "?x=%4", tok), 400, "%4");
  ExpectRefused(client_.Fhir("GET", base + "/Patient/%zz", tok), 400, "%zz in path");
  ExpectRefused(client_.Fhir("GET", base + "/Patient/" + id + "?_format=xml", tok), 406,
                "_format=xml");
  for (const std::string q :
       {"_count=abc", "_count=-1", "_count=99999999999999999999999", "_count=", "_count=1.5",
        "_cursor=0", "_cursor=abc", "_cursor=-5", "_since=yesterday", "_since=2026-13-45",
        "foo=bar", "_count=1&_sort=x", "_count=%00", "_since=%zz"}) {
    ExpectRefused(client_.Fhir("GET", base + "/_history?" + q, tok), 400, "history ?" + q);
    ExpectRefused(client_.Fhir("GET", base + "/Patient/_history?" + q, tok), 400,
                  "type history ?" + q);
  }
  // Clamped, not refused.
  EXPECT_EQ(client_.Fhir("GET", base + "/_history?_count=100000000", tok).status, 200);
  // A very long query string: refused by the size limit or by the router, never a 5xx.
  HttpResponse longq = client_.Fhir("GET", base + "/_history?foo=" + std::string(15000, 'a'), tok);
  EXPECT_GE(longq.status, 400);
  EXPECT_LT(longq.status, 500);
  HttpResponse longer = client_.Fhir("GET", base + "/_history?foo=" + std::string(40000, 'a'), tok);
  EXPECT_TRUE(longer.status == 0 || (longer.status >= 400 && longer.status < 500)) << longer.status;
  EXPECT_EQ(Total(), total);
}

TEST_F(BadInputTest, MalformedHttpRequests) {
  const uint16_t port = dep_.port();
  struct Case {
    std::string what;
    std::string bytes;
  };
  const std::string auth = "Authorization: Bearer " + dep_.token() + "\r\n";
  const std::vector<Case> cases = {
      {"garbage request line", "GARBAGE\r\n\r\n"},
      {"no version", "GET /healthz\r\n\r\n"},
      {"header without colon", "GET /healthz HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n"},
      {"bad content-length", "POST " + dep_.Base() + "/Patient HTTP/1.1\r\nHost: x\r\n" + auth +
                                 "Content-Length: abc\r\n\r\n"},
      {"negative content-length", "POST " + dep_.Base() + "/Patient HTTP/1.1\r\nHost: x\r\n" +
                                      auth + "Content-Length: -1\r\n\r\n"},
      {"two content-lengths", "POST " + dep_.Base() + "/Patient HTTP/1.1\r\nHost: x\r\n" + auth +
                                  "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"},
      {"bad chunk size",
       "POST " + dep_.Base() + "/Patient HTTP/1.1\r\nHost: x\r\n" + auth +
           "Transfer-Encoding: chunked\r\nContent-Type: application/fhir+json\r\n\r\nzz\r\n"},
      {"Content-Length and chunked (smuggling)",
       "POST " + dep_.Base() + "/Patient HTTP/1.1\r\nHost: x\r\n" + auth +
           "Content-Type: application/fhir+json\r\nContent-Length: 5\r\n"
           "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"},
      {"NUL in header", std::string("GET /healthz HTTP/1.1\r\nHost: x") + '\0' + "y\r\n\r\n"},
      {"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"},
      {"huge header",
       "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(40000, 'a') + "\r\n\r\n"},
      {"many headers",
       [] {
         std::string s = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
         for (int i = 0; i < 3000; ++i) s += "X-H" + std::to_string(i) + ": v\r\n";
         return s + "\r\n";
       }()},
  };
  for (const auto& c : cases) {
    std::string response = RawExchange(port, c.bytes, 3000);
    int status = RawStatus(response);
    // A 4xx answer (then the connection closes), never silence or a 5xx.
    EXPECT_TRUE(status >= 400 && status < 500) << c.what << ": " << response.substr(0, 200);
    // One answer at most: nothing after a malformed request is taken as another request.
    size_t answers = 0;
    for (size_t pos = response.find("HTTP/1."); pos != std::string::npos;
         pos = response.find("HTTP/1.", pos + 1)) {
      if (pos == 0 || response[pos - 1] == '\n') ++answers;
    }
    EXPECT_LE(answers, 1u) << c.what << ": " << response;
    if (status != 0) {
      size_t body = response.find("\r\n\r\n");
      ASSERT_NE(body, std::string::npos) << c.what;
      EXPECT_TRUE(IsOperationOutcome(response.substr(body + 4))) << c.what << ": " << response;
    }
  }
  // Headers over the limit get 431, not a dropped connection.
  for (const auto& c : cases) {
    if (c.what == "huge header") {
      EXPECT_EQ(RawStatus(RawExchange(port, c.bytes, 3000)), 431);
    }
  }
  EXPECT_EQ(Total(), total_before_);
}

TEST_F(BadInputTest, ExtremeNestingWithDefaultLimit) {
  const std::string base = dep_.Base();
  ExpectRefused(client_.Fhir("POST", base + "/Patient", dep_.token(), std::string(100000, '[')),
                400, "100000 [");
  ExpectRefused(client_.Fhir("POST", base + "/Patient", dep_.token(),
                             R"({"resourceType":"Patient","x":)" + std::string(100000, '[')),
                400, "100000 [ inside a resource");
  std::string objects;
  for (int i = 0; i < 50000; ++i) objects += R"({"a":)";
  ExpectRefused(client_.Fhir("POST", base + "/Patient", dep_.token(), objects), 400,
                "50000 objects");
  ExpectRefused(client_.Fhir("POST", base + "/Patient", dep_.token(), NestedPatient(100000)), 400,
                "100000 closed levels");
  // The default limit is 64 levels.
  ExpectRefused(client_.Fhir("POST", base + "/Patient", dep_.token(), NestedPatient(65)), 400,
                "65 levels");
  EXPECT_EQ(Total(), total_before_);
  EXPECT_EQ(client_.Fhir("POST", base + "/Patient", dep_.token(), NestedPatient(64)).status, 201);
  EXPECT_EQ(client_.Request("GET", "/healthz").status, 200);
  total_before_ = Total();
}

TEST_F(DepthLimitTest, DepthOverTheConfiguredLimitIsRefused) {
  const std::string base = dep_.Base();
  for (int depth : {21, 22, 30, 1000}) {
    ExpectRefused(client_.Fhir("POST", base + "/Patient", dep_.token(), NestedPatient(depth)), 400,
                  std::to_string(depth) + " levels");
    ExpectRefused(
        client_.Fhir("PUT", base + "/Patient/deep", dep_.token(), NestedPatient(depth, "deep")),
        400, "PUT " + std::to_string(depth) + " levels");
  }
  EXPECT_EQ(Total(), total_before_);
  HttpResponse at_limit = client_.Fhir("POST", base + "/Patient", dep_.token(), NestedPatient(20));
  EXPECT_EQ(at_limit.status, 201) << at_limit.body;
  total_before_ = Total();
}

TEST_F(BodyLimitTest, BodyOverTheLimitGets413) {
  const std::string base = dep_.Base();
  auto padded = [](size_t size) {
    std::string head =
        R"({"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">)";
    std::string tail = R"(</div>"}})";
    return head + std::string(size - head.size() - tail.size(), 'a') + tail;
  };
  HttpResponse big = client_.Fhir("POST", base + "/Patient", dep_.token(), padded(5000));
  ExpectRefused(big, 413, "5000 bytes");
  // A body far over the limit: the server answers 413 before the client has finished
  // sending (a client that stops at its first write error never sees it, so read raw).
  std::string huge_body = padded(1 << 20);
  std::string huge =
      RawExchange(dep_.port(),
                  "POST " + base +
                      "/Patient HTTP/1.1\r\nHost: x\r\n"
                      "Authorization: Bearer " +
                      dep_.token() + "\r\nContent-Type: application/fhir+json\r\nContent-Length: " +
                      std::to_string(huge_body.size()) + "\r\n\r\n" + huge_body,
                  3000);
  EXPECT_EQ(RawStatus(huge), 413) << huge.substr(0, 200);
  // Chunked bodies count too.
  std::string chunked = "POST " + dep_.Base() +
                        "/Patient HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + dep_.token() +
                        "\r\nContent-Type: application/fhir+json\r\nTransfer-Encoding: "
                        "chunked\r\n\r\n";
  std::string payload = padded(5000);
  for (size_t off = 0; off < payload.size(); off += 1000) {
    std::string piece = payload.substr(off, 1000);
    char size_hex[16];
    std::snprintf(size_hex, sizeof size_hex, "%zx", piece.size());
    chunked += std::string(size_hex) + "\r\n" + piece + "\r\n";
  }
  chunked += "0\r\n\r\n";
  std::string raw = RawExchange(dep_.port(), chunked, 3000);
  EXPECT_EQ(RawStatus(raw), 413) << raw.substr(0, 200);
  EXPECT_EQ(Total(), total_before_);
  // Under the limit is fine.
  HttpResponse ok = client_.Fhir("POST", base + "/Patient", dep_.token(), padded(4000));
  EXPECT_EQ(ok.status, 201) << ok.body;
  total_before_ = Total();
}

}  // namespace
}  // namespace hygie::e2e
