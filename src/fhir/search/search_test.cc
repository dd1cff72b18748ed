// The indexer and the planner together: resources are indexed, searches planned, and the plans
// evaluated against the index entries by a small reference matcher (the semantics a Store
// implements), so each test checks that one side finds what the other wrote.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "crypto/keyed_hash.h"
#include "fhir/resource.h"
#include "fhir/search/index_keys.h"
#include "fhir/search/indexer.h"
#include "fhir/search/query.h"

namespace hygie::fhir::search {
namespace {

crypto::SecretKey Key() {
  Bytes b(32, 42);
  return crypto::SecretKey::FromBytes(b);
}

struct Indexed {
  std::string type;
  std::string id;
  storage::IndexEntries entries;
  std::string json;
};

bool RangeOk(const std::vector<storage::RangeCmp>& conj, double lo, double hi, bool number) {
  for (const auto& c : conj) {
    double col = c.column == storage::RangeCmp::kLo ? lo : hi;
    double bound = number ? c.number : static_cast<double>(c.instant);
    bool ok = false;
    switch (c.op) {
      case storage::RangeCmp::kLt:
        ok = col < bound;
        break;
      case storage::RangeCmp::kLe:
        ok = col <= bound;
        break;
      case storage::RangeCmp::kGt:
        ok = col > bound;
        break;
      case storage::RangeCmp::kGe:
        ok = col >= bound;
        break;
    }
    if (!ok) return false;
  }
  return true;
}

bool TermMatches(const storage::SearchTerm& t, const Indexed& r) {
  bool m = false;
  switch (t.kind) {
    case storage::SearchTerm::kHash:
      for (uint64_t h : t.hashes) {
        m |= std::binary_search(r.entries.hashes.begin(), r.entries.hashes.end(), h);
      }
      break;
    case storage::SearchTerm::kDate:
      for (const auto& d : r.entries.dates) {
        if (d.key != t.key) continue;
        for (const auto& conj : t.ranges) {
          m |= RangeOk(conj, static_cast<double>(d.lo), static_cast<double>(d.hi), false);
        }
      }
      break;
    case storage::SearchTerm::kNumber:
      for (const auto& n : r.entries.numbers) {
        if (n.key != t.key) continue;
        for (const auto& conj : t.ranges) m |= RangeOk(conj, n.lo, n.hi, true);
      }
      break;
    case storage::SearchTerm::kId:
      m = std::find(t.ids.begin(), t.ids.end(), r.id) != t.ids.end();
      break;
    case storage::SearchTerm::kLastUpdated:
    case storage::SearchTerm::kNone:
      m = false;
      break;
  }
  return t.negate ? !m : m;
}

class SearchTest : public ::testing::Test {
 protected:
  SearchTest() : key_(Key()), hasher_(key_) {}

  void Add(const std::string& id, const std::string& json) {
    auto r = Resource::Parse(json);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    std::string type(r->resource_type());
    resources_.push_back({type, id, Indexer::Get().Index(r->doc(), type, hasher_, "acme"), json});
  }

  Result<SearchPlan> Plan(const std::string& type,
                          std::vector<std::pair<std::string, std::string>> params,
                          bool strict = false) {
    PlanInput in;
    in.type = type;
    in.params = std::move(params);
    in.tenant = "acme";
    in.hasher = &hasher_;
    in.strict = strict;
    in.now_us = 1642204800000000;  // 2022-01-15T00:00:00Z
    in.resolve_chain = [this](const storage::SearchQuery& q, const std::vector<StringCheck>& c) {
      std::vector<std::string> ids = Match(q, c);
      return Result<std::vector<std::string>>(std::move(ids));
    };
    return PlanSearch(in);
  }

  // The string checks on one resource, as the API applies them to the candidates.
  static bool Passes(const Indexed& r, const std::vector<StringCheck>& checks) {
    auto parsed = Resource::Parse(r.json);
    if (!parsed.ok()) return false;
    for (const StringCheck& check : checks) {
      if (check.type != r.type) continue;
      bool any = false;
      for (const std::string& v :
           Indexer::Get().StringValues(parsed->doc(), r.type, check.param, !check.exact)) {
        for (const std::string& want : check.normalized) {
          any |= check.exact ? v == want : v.starts_with(want);
        }
      }
      if (!any) return false;
    }
    return true;
  }

  std::vector<std::string> Match(const storage::SearchQuery& q,
                                 const std::vector<StringCheck>& checks = {}) {
    std::vector<std::string> ids;
    for (const Indexed& r : resources_) {
      if (!q.types.empty() && std::find(q.types.begin(), q.types.end(), r.type) == q.types.end()) {
        continue;
      }
      bool all = true;
      for (const auto& clause : q.clauses) {
        bool any = false;
        for (const auto& t : clause) any |= TermMatches(t, r);
        all &= any;
      }
      if (all && Passes(r, checks)) ids.push_back(r.id);
    }
    return ids;
  }

  // The candidates the index alone selects (before the string checks).
  std::vector<std::string> Candidates(const std::string& type,
                                      std::vector<std::pair<std::string, std::string>> params) {
    auto plan = Plan(type, std::move(params));
    EXPECT_TRUE(plan.ok()) << plan.status().ToString();
    if (!plan.ok()) return {"<error>"};
    return Match(plan->query);
  }

  std::vector<std::string> Find(const std::string& type,
                                std::vector<std::pair<std::string, std::string>> params) {
    auto plan = Plan(type, std::move(params));
    EXPECT_TRUE(plan.ok()) << plan.status().ToString();
    if (!plan.ok()) return {"<error>"};
    return Match(plan->query, plan->checks);
  }

  crypto::SecretKey key_;
  crypto::KeyedHasher hasher_;
  std::vector<Indexed> resources_;
};

using Ids = std::vector<std::string>;

TEST_F(SearchTest, StringStartsWithCaseAndAccentInsensitive) {
  Add("p1", R"({"resourceType":"Patient","name":[{"family":"Lefèvre","given":["Éloïse"]}]})");
  Add("p2", R"({"resourceType":"Patient","name":[{"family":"Martin","given":["Léa"]}]})");
  EXPECT_EQ(Find("Patient", {{"family", "lef"}}), Ids{"p1"});
  EXPECT_EQ(Find("Patient", {{"family", "LEFEVRE"}}), Ids{"p1"});
  EXPECT_EQ(Find("Patient", {{"name", "eloise"}}), Ids{"p1"});
  EXPECT_EQ(Find("Patient", {{"name", "lea,elo"}}), (Ids{"p1", "p2"}));
  EXPECT_EQ(Find("Patient", {{"family", "tin"}}), Ids{});
  EXPECT_EQ(Find("Patient", {{"family:exact", "Martin"}}), Ids{"p2"});
  EXPECT_EQ(Find("Patient", {{"family:exact", "martin"}}), Ids{});
  auto contains = Plan("Patient", {{"family:contains", "art"}});
  EXPECT_FALSE(contains.ok());
}

TEST_F(SearchTest, PrefixesOfEveryLengthFromFewIndexedOnes) {
  Add("p1", R"({"resourceType":"Patient","name":[{"family":"Abcdefghijklmnopqrstuvwxyz"}]})");
  Add("p2", R"({"resourceType":"Patient","name":[{"family":"Abcdefghijklmnopqrstuvwxyq"}]})");
  Add("p3", R"({"resourceType":"Patient","name":[{"family":"Abcdex"}]})");
  const std::string full = "abcdefghijklmnopqrstuvwxyz";
  for (size_t n = 1; n <= full.size(); ++n) {
    const std::string q = full.substr(0, n);
    Ids want = n <= 5 ? Ids{"p1", "p2", "p3"} : n <= 25 ? Ids{"p1", "p2"} : Ids{"p1"};
    EXPECT_EQ(Find("Patient", {{"family", q}}), want) << q;
  }
  // Longer than the value: nothing.
  EXPECT_EQ(Find("Patient", {{"family", full + "a"}}), Ids{});
  // :exact is the whole value as written, checked on the candidates of its normalized prefix.
  EXPECT_EQ(Find("Patient", {{"family:exact", "Abcdex"}}), Ids{"p3"});
  EXPECT_EQ(Find("Patient", {{"family:exact", "abcdex"}}), Ids{});
  EXPECT_EQ(Find("Patient", {{"family:exact", "Abcde"}}), Ids{});
  EXPECT_EQ(Find("Patient", {{"family:exact", "Abcdex,Abcdefghijklmnopqrstuvwxyz"}}),
            (Ids{"p1", "p3"}));
  EXPECT_EQ(Candidates("Patient", {{"family:exact", "Abcde"}}), (Ids{"p1", "p2", "p3"}));
  // A query longer than any indexed length is found by the 12-character prefix and checked.
  auto plan = Plan("Patient", {{"family", full.substr(0, 20)}});
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->checks.size(), 1u);
  EXPECT_EQ(plan->checks[0].normalized, std::vector<std::string>{full.substr(0, 20)});
  EXPECT_EQ(Candidates("Patient", {{"family", full.substr(0, 20)}}), (Ids{"p1", "p2"}));
  EXPECT_EQ(Find("Patient", {{"family", full.substr(0, 25) + "q"}}), Ids{"p2"});
  // An indexed length needs no check; another length does, and so does every value of its OR.
  EXPECT_TRUE(Plan("Patient", {{"name", "abcd"}})->checks.empty());
  EXPECT_TRUE(Plan("Patient", {{"name", "abcdefghijkl"}})->checks.empty());
  auto mixed = Plan("Patient", {{"family", "abcde,zz"}});
  ASSERT_EQ(mixed->checks.size(), 1u);
  EXPECT_EQ(mixed->checks[0].normalized, (std::vector<std::string>{"abcde", "zz"}));
  // Accents and case are folded before the prefix is taken (é is one code point).
  Add("p4", R"({"resourceType":"Patient","name":[{"family":"Éléonore-Hélène"}]})");
  EXPECT_EQ(Find("Patient", {{"family", "ELEONORE-HEL"}}), Ids{"p4"});
  EXPECT_EQ(Find("Patient", {{"family", "eléonore-hélè"}}), Ids{"p4"});
  EXPECT_EQ(Find("Patient", {{"family", "eleonore-helx"}}), Ids{});
}

// Patient.phonetic has the expression of Patient.name: its values are indexed once, under name.
TEST_F(SearchTest, ParametersWithTheSameExpressionShareTheirEntries) {
  Add("p1", R"({"resourceType":"Patient","name":[{"family":"Lefèvre","given":["Éloïse"]}]})");
  Add("p2", R"({"resourceType":"Patient","gender":"male"})");
  EXPECT_EQ(Indexer::Get().IndexedCode("Patient", "phonetic"), "name");
  EXPECT_EQ(Indexer::Get().IndexedCode("Patient", "name"), "name");
  EXPECT_EQ(Indexer::Get().IndexedCode("Patient", "family"), "family");
  EXPECT_EQ(Find("Patient", {{"phonetic", "ELO"}}), Ids{"p1"});
  EXPECT_EQ(Find("Patient", {{"phonetic", "lefevre"}}), Ids{"p1"});
  EXPECT_EQ(Find("Patient", {{"phonetic:exact", "Lefèvre"}}), Ids{"p1"});
  EXPECT_EQ(Find("Patient", {{"phonetic:missing", "true"}}), Ids{"p2"});
  EXPECT_EQ(Find("Patient", {{"phonetic:missing", "false"}}), Ids{"p1"});
  EXPECT_EQ(Find("Patient", {{"phonetic", "x"}}), Ids{});
}

// Patient.family and .given are parts of Patient.name, address-city of address: their values are
// found through name's (address's) hashes and checked on the candidates; :missing stays theirs.
TEST_F(SearchTest, PartsOfNamesAndAddressesAreFoundThroughTheWhole) {
  Add("p1", R"({"resourceType":"Patient","name":[{"family":"Lefèvre","given":["Éloïse"]}],)"
            R"("address":[{"city":"Lyon","postalCode":"69002"}]})");
  Add("p2", R"({"resourceType":"Patient","name":[{"family":"Eloi","given":["Lefranc"]}]})");
  bool covered = false;
  EXPECT_EQ(Indexer::Get().HashedCode("Patient", "family", &covered), "name");
  EXPECT_TRUE(covered);
  EXPECT_EQ(Indexer::Get().HashedCode("Patient", "given", &covered), "name");
  EXPECT_EQ(Indexer::Get().HashedCode("Patient", "address-city", &covered), "address");
  EXPECT_EQ(Indexer::Get().HashedCode("Practitioner", "family", &covered), "name");
  EXPECT_EQ(Indexer::Get().HashedCode("Patient", "name", &covered), "name");
  EXPECT_FALSE(covered);
  EXPECT_EQ(Indexer::Get().HashedCode("Patient", "phonetic", &covered), "name");
  EXPECT_FALSE(covered);
  // The index finds both for "lef" and "elo"; the checks keep the part searched.
  EXPECT_EQ(Candidates("Patient", {{"family", "lef"}}), (Ids{"p1", "p2"}));
  EXPECT_EQ(Find("Patient", {{"family", "lef"}}), Ids{"p1"});
  EXPECT_EQ(Find("Patient", {{"given", "lef"}}), Ids{"p2"});
  EXPECT_EQ(Find("Patient", {{"family", "elo"}}), Ids{"p2"});
  EXPECT_EQ(Find("Patient", {{"given", "elo"}}), Ids{"p1"});
  EXPECT_EQ(Find("Patient", {{"name", "elo"}}), (Ids{"p1", "p2"}));
  EXPECT_EQ(Find("Patient", {{"family:exact", "Lefèvre"}}), Ids{"p1"});
  EXPECT_EQ(Find("Patient", {{"given:exact", "Lefèvre"}}), Ids{});
  EXPECT_EQ(Find("Patient", {{"address-city", "LY"}}), Ids{"p1"});
  EXPECT_EQ(Find("Patient", {{"address-city", "69"}}), Ids{});
  EXPECT_EQ(Find("Patient", {{"address-postalcode", "69"}}), Ids{"p1"});
  EXPECT_EQ(Find("Patient", {{"address-city:missing", "true"}}), Ids{"p2"});
  EXPECT_EQ(Find("Patient", {{"family:missing", "false"}}), (Ids{"p1", "p2"}));
}

TEST_F(SearchTest, IndexRowsOfAStringDoNotGrowWithItsLength) {
  auto count = [this](const std::string& family) {
    auto r =
        Resource::Parse(R"({"resourceType":"Patient","name":[{"family":")" + family + R"("}]})");
    EXPECT_TRUE(r.ok());
    return Indexer::Get().Index(r->doc(), "Patient", hasher_, "acme").hashes.size();
  };
  const size_t at12 = count(std::string(12, 'a') + "b");
  EXPECT_EQ(count(std::string(200, 'a') + "b"), at12);
  EXPECT_EQ(count(std::string(13, 'c')), at12);
  // Shorter strings have fewer prefixes: 1, 2 and 3 of them for 1 to 3 characters, then one
  // more per indexed length.
  EXPECT_LT(count("abc"), count("abcd"));
  EXPECT_EQ(count("abcd"), count("abcde"));
  EXPECT_LT(count("abcde"), count("abcdef"));
}

TEST_F(SearchTest, Tokens) {
  Add("o1",
      R"({"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]}})");
  Add("o2",
      R"({"resourceType":"Observation","status":"final","code":{"coding":[{"code":"8867-4"}]}})");
  Add("o3",
      R"({"resourceType":"Observation","status":"amended","code":{"coding":[{"system":"http://other","code":"x"}]}})");
  EXPECT_EQ(Find("Observation", {{"code", "8867-4"}}), (Ids{"o1", "o2"}));
  EXPECT_EQ(Find("Observation", {{"code", "http://loinc.org|8867-4"}}), Ids{"o1"});
  EXPECT_EQ(Find("Observation", {{"code", "|8867-4"}}), Ids{"o2"});
  EXPECT_EQ(Find("Observation", {{"code", "http://other|"}}), Ids{"o3"});
  EXPECT_EQ(Find("Observation", {{"status:not", "final"}}), Ids{"o3"});
  EXPECT_EQ(Find("Observation", {{"status", "final"}, {"code", "http://loinc.org|8867-4"}}),
            Ids{"o1"});
  EXPECT_EQ(Find("Observation", {{"_id", "o2,o3"}}), (Ids{"o2", "o3"}));
}

TEST_F(SearchTest, IdentifiersAndMissing) {
  Add("p1",
      R"({"resourceType":"Patient","identifier":[{"system":"urn:oid:1.2.250.1.213.1.4.8","value":"1234"}],"birthDate":"1980-05-01"})");
  Add("p2", R"({"resourceType":"Patient","gender":"female"})");
  EXPECT_EQ(Find("Patient", {{"identifier", "urn:oid:1.2.250.1.213.1.4.8|1234"}}), Ids{"p1"});
  EXPECT_EQ(Find("Patient", {{"birthdate:missing", "true"}}), Ids{"p2"});
  EXPECT_EQ(Find("Patient", {{"birthdate:missing", "false"}}), Ids{"p1"});
  EXPECT_EQ(Find("Patient", {{"gender", "female"}}), Ids{"p2"});
}

TEST_F(SearchTest, References) {
  Add("o1",
      R"({"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p1"}})");
  Add("o2",
      R"({"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"https://h.example/fhir/acme/Patient/p2"}})");
  Add("o3",
      R"({"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Group/g1"}})");
  EXPECT_EQ(Find("Observation", {{"subject", "Patient/p1"}}), Ids{"o1"});
  EXPECT_EQ(Find("Observation", {{"subject", "p2"}}), Ids{"o2"});
  EXPECT_EQ(Find("Observation", {{"subject:Patient", "p2"}}), Ids{"o2"});
  EXPECT_EQ(Find("Observation", {{"subject", "http://other.example/fhir/acme/Patient/p1"}}),
            Ids{"o1"});
  EXPECT_EQ(Find("Observation", {{"patient", "p1,p2"}}), (Ids{"o1", "o2"}));
  EXPECT_EQ(Find("Observation", {{"patient", "g1"}}), Ids{});  // patient is subject as Patient
}

TEST_F(SearchTest, Chaining) {
  Add("p1",
      R"({"resourceType":"Patient","identifier":[{"system":"s","value":"42"}],"name":[{"family":"Durand"}]})");
  Add("p2", R"({"resourceType":"Patient","name":[{"family":"Petit"}]})");
  Add("o1",
      R"({"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p1"}})");
  Add("o2",
      R"({"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p2"}})");
  EXPECT_EQ(Find("Observation", {{"subject:Patient.identifier", "s|42"}}), Ids{"o1"});
  EXPECT_EQ(Find("Observation", {{"patient.family", "pet"}}), Ids{"o2"});
  EXPECT_EQ(Find("Observation", {{"subject:Patient.family", "nobody"}}), Ids{});
  EXPECT_FALSE(Plan("Observation", {{"subject:Patient.organization.name", "x"}}).ok());
}

TEST_F(SearchTest, DatesWithPrefixes) {
  Add("e1",
      R"({"resourceType":"Observation","status":"final","code":{"text":"x"},"effectiveDateTime":"2022-01-15T10:00:00Z"})");
  Add("e2",
      R"({"resourceType":"Observation","status":"final","code":{"text":"x"},"effectivePeriod":{"start":"2022-02-01","end":"2022-02-10"}})");
  Add("e3",
      R"({"resourceType":"Observation","status":"final","code":{"text":"x"},"effectiveDateTime":"2021"})");
  EXPECT_EQ(Find("Observation", {{"date", "2022-01"}}), Ids{"e1"});
  EXPECT_EQ(Find("Observation", {{"date", "2022"}}), (Ids{"e1", "e2"}));
  EXPECT_EQ(Find("Observation", {{"date", "ge2022-01-01"}, {"date", "lt2022-02-01"}}), Ids{"e1"});
  EXPECT_EQ(Find("Observation", {{"date", "gt2022-01-31"}}), Ids{"e2"});
  EXPECT_EQ(Find("Observation", {{"date", "lt2022-01-01"}}), Ids{"e3"});
  EXPECT_EQ(Find("Observation", {{"date", "sa2021-12-31"}}), (Ids{"e1", "e2"}));
  EXPECT_EQ(Find("Observation", {{"date", "eb2022-01-01"}}), Ids{"e3"});
  EXPECT_EQ(Find("Observation", {{"date", "ne2022-01-15"}}), (Ids{"e2", "e3"}));
  EXPECT_EQ(Find("Observation", {{"date", "le2021-06-01"}}), Ids{"e3"});
  EXPECT_EQ(Find("Observation", {{"date", "ap2022-01-15"}}), Ids{"e1"});
  EXPECT_FALSE(Plan("Observation", {{"date", "2022-13-01"}}).ok());
}

TEST_F(SearchTest, QuantitiesAndNumbers) {
  Add("q1",
      R"({"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":5.4,"unit":"mg","system":"http://unitsofmeasure.org","code":"mg"}})");
  Add("q2",
      R"({"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":120,"unit":"mmHg","system":"http://unitsofmeasure.org","code":"mm[Hg]"}})");
  EXPECT_EQ(Find("Observation", {{"value-quantity", "5.4|http://unitsofmeasure.org|mg"}}),
            Ids{"q1"});
  EXPECT_EQ(Find("Observation", {{"value-quantity", "5.4||mg"}}), Ids{"q1"});
  EXPECT_EQ(Find("Observation", {{"value-quantity", "gt100"}}), Ids{"q2"});
  EXPECT_EQ(Find("Observation", {{"value-quantity", "le5.4"}}), Ids{"q1"});
  EXPECT_EQ(Find("Observation", {{"value-quantity", "5"}}), Ids{"q1"});  // 5 is [4.5, 5.5]
  Add("r1",
      R"({"resourceType":"RiskAssessment","status":"final","subject":{"reference":"Patient/x"},"prediction":[{"probabilityDecimal":0.25}]})");
  EXPECT_EQ(Find("RiskAssessment", {{"probability", "0.25"}}), Ids{"r1"});
  EXPECT_EQ(Find("RiskAssessment", {{"probability", "gt0.3"}}), Ids{});
}

TEST_F(SearchTest, UnknownParametersWarnOrFail) {
  auto lenient = Plan("Patient", {{"shoe-size", "42"}});
  ASSERT_TRUE(lenient.ok());
  ASSERT_EQ(lenient->warnings.size(), 1u);
  EXPECT_EQ(lenient->warnings[0].severity, "warning");
  EXPECT_TRUE(lenient->query.clauses.empty());
  EXPECT_FALSE(Plan("Patient", {{"shoe-size", "42"}}, /*strict=*/true).ok());
  EXPECT_FALSE(Plan("Patient", {{"_text", "x"}}).ok());
  EXPECT_FALSE(Plan("Patient", {{"_count", "-1"}}).ok());
  EXPECT_FALSE(Plan("Patient", {{"_sort", "name"}}).ok());  // no clear strings to sort on
  EXPECT_FALSE(Plan("Patient", {{"_include", "Observation:subject"}}).ok());
}

TEST_F(SearchTest, ResultParameters) {
  auto plan = Plan("Observation", {{"_count", "10"},
                                   {"_sort", "-date,_id"},
                                   {"_include", "Observation:subject:Patient"},
                                   {"_revinclude", "Provenance:target"},
                                   {"_total", "accurate"},
                                   {"_elements", "status,code"}});
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->count, 10u);
  ASSERT_EQ(plan->query.sort.size(), 2u);
  EXPECT_EQ(plan->query.sort[0].kind, storage::SortKey::kDate);
  EXPECT_TRUE(plan->query.sort[0].descending);
  ASSERT_EQ(plan->includes.size(), 1u);
  EXPECT_EQ(plan->includes[0].target_type, "Patient");
  ASSERT_EQ(plan->revincludes.size(), 1u);
  EXPECT_EQ(plan->total, TotalMode::kAccurate);
  EXPECT_EQ(plan->elements, (std::vector<std::string>{"status", "code"}));
  auto cap = Plan("Observation", {{"_count", "100000"}});
  ASSERT_TRUE(cap.ok());
  EXPECT_EQ(cap->count, 1000u);
}

TEST_F(SearchTest, TagsAndProfilesAreSearchable) {
  Add("p1",
      R"({"resourceType":"Patient","meta":{"tag":[{"system":"urn:t","code":"vip"}],"profile":["http://example.org/p"]}})");
  Add("p2", R"({"resourceType":"Patient"})");
  EXPECT_EQ(Find("Patient", {{"_tag", "urn:t|vip"}}), Ids{"p1"});
  EXPECT_EQ(Find("Patient", {{"_profile", "http://example.org/p"}}), Ids{"p1"});
  EXPECT_EQ(Find("", {{"_tag", "vip"}}), Ids{"p1"});  // system level
}

TEST_F(SearchTest, Compartment) {
  Add("o1",
      R"({"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p1"}})");
  Add("o2",
      R"({"resourceType":"Observation","status":"final","code":{"text":"x"},"performer":[{"reference":"Patient/p1"}]})");
  Add("o3",
      R"({"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p2"}})");
  PlanInput in;
  in.type = "Observation";
  in.tenant = "acme";
  in.hasher = &hasher_;
  in.compartment_patient = "p1";
  auto plan = PlanSearch(in);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(Match(plan->query), (Ids{"o1", "o2"}));
}

TEST(SplitOrTest, EscapedCommas) {
  EXPECT_EQ(SplitOr("a,b\\,c"), (std::vector<std::string>{"a", "b,c"}));
  EXPECT_TRUE(SplitOr("").empty());
}

TEST(LocalReferenceTest, Forms) {
  EXPECT_EQ(LocalReference("Patient/1", "t").value_or(""), "Patient/1");
  EXPECT_EQ(LocalReference("Patient/1/_history/2", "t").value_or(""), "Patient/1");
  EXPECT_EQ(LocalReference("https://x/fhir/t/Patient/1", "t").value_or(""), "Patient/1");
  EXPECT_FALSE(LocalReference("https://x/fhir/other/Patient/1", "t").has_value());
  EXPECT_FALSE(LocalReference("#c1", "t").has_value());
  EXPECT_FALSE(LocalReference("Nope/1", "t").has_value());
  EXPECT_FALSE(LocalReference("urn:uuid:1234", "t").has_value());
}

}  // namespace
}  // namespace hygie::fhir::search
