// JSON library choice for Hygie: RapidJSON versus simdjson on realistic FHIR bodies.
// Results and the decision: docs/json-choice.md.
//
// Measured per body (a ~2 KiB Patient and a ~2 KiB Observation):
//   (a) parse only: RapidJSON DOM with the flags Resource::Parse had when the library was
//       chosen (iterative, UTF-8 validation, full precision) and, for reference, each flag alone
//       and the flags it has now (numbers kept as text instead of full precision: FHIR decimals
//       keep their precision); simdjson DOM (validates UTF-8 and every value); simdjson On
//       Demand with a full walk (it validates UTF-8 up front but values only when visited, so
//       everything is visited); hygie::fhir::Resource::Parse (RapidJSON plus the depth,
//       duplicate-name and control-character checks, numbers kept as text).
//   (b) the write path of the server: parse, set id and meta.versionId/lastUpdated, serialize.
//       RapidJSON does it natively. simdjson has no mutable DOM and no serializer, so its
//       variant parses with simdjson and copies into a RapidJSON document to mutate and write:
//       two libraries.
//
// simdjson is linked by CMake (bench loop of CMakeLists.txt). The Resource benchmarks need the
// fhir module, which a build restricted by HYGIE_MODULES may lack: they are compiled only when
// HYGIE_JSON_BENCH_WITH_FHIR is defined. By hand, from the repository root, in one line:
//   g++ -O2 -std=c++20 -DNDEBUG -DRAPIDJSON_HAS_STDSTRING=1 -DHYGIE_JSON_BENCH_WITH_FHIR=1
//     -Isrc bench/json_bench.cc src/fhir/resource.cc src/fhir/r4_types.cc src/core/status.cc
//     -lsimdjson -lbenchmark -lpthread -o /tmp/json_bench
// Run: /tmp/json_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true

#include <cstdint>
#include <string>
#include <string_view>

#include <benchmark/benchmark.h>
#include <rapidjson/document.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <simdjson.h>

#if defined(HYGIE_JSON_BENCH_WITH_FHIR)
#include "fhir/resource.h"
#endif

namespace {

// Synthetic data: no real person.
constexpr std::string_view kPatient = R"({
  "resourceType": "Patient",
  "id": "3f9c2a71-5d4e-4b8a-9c1f-0e6b7a2d4c85",
  "meta": {
    "versionId": "3",
    "lastUpdated": "2024-05-14T09:31:27.412+02:00",
    "profile": ["http://interopsante.org/fhir/StructureDefinition/FrPatient"],
    "security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
                  "code": "N"}]
  },
  "extension": [
    {"url": "http://interopsante.org/fhir/StructureDefinition/FrPatientBirthPlace",
     "valueAddress": {"city": "Villeurbanne", "postalCode": "69100", "country": "FR"}},
    {"url": "http://hl7.org/fhir/StructureDefinition/patient-nationality",
     "extension": [{"url": "code", "valueCodeableConcept": {"coding": [
       {"system": "urn:iso:std:iso:3166", "code": "FRA"}]}}]}
  ],
  "identifier": [
    {"use": "official",
     "type": {"coding": [{"system": "http://interopsante.org/CodeSystem/v2-0203",
                          "code": "INS-NIR", "display": "NIR"}]},
     "system": "urn:oid:1.2.250.1.213.1.4.8", "value": "284037512345678"},
    {"use": "usual", "system": "urn:oid:1.2.250.1.71.4.2.7", "value": "IPP-00482913"}
  ],
  "active": true,
  "name": [
    {"use": "official", "family": "Lefèvre", "given": ["Élodie", "Marie", "Anaïs"]},
    {"use": "maiden", "family": "Garnier"}
  ],
  "telecom": [
    {"system": "phone", "value": "+33 6 12 34 56 78", "use": "mobile", "rank": 1},
    {"system": "email", "value": "elodie.lefevre@example.org", "use": "home"}
  ],
  "gender": "female",
  "birthDate": "1984-03-12",
  "deceasedBoolean": false,
  "address": [
    {"use": "home", "type": "physical", "line": ["12 rue des Lilas", "Bâtiment C, 3e étage"],
     "city": "Lyon", "postalCode": "69003", "country": "FR",
     "period": {"start": "2019-09-01"}}
  ],
  "maritalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus",
                                "code": "M", "display": "Married"}]},
  "multipleBirthBoolean": false,
  "contact": [
    {"relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0131",
                                   "code": "N", "display": "Next-of-Kin"}]}],
     "name": {"family": "Lefèvre", "given": ["Julien"]},
     "telecom": [{"system": "phone", "value": "+33 6 98 76 54 32"}]}
  ],
  "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "fr-FR"}]},
                     "preferred": true}],
  "generalPractitioner": [{"reference": "Practitioner/8d2e61f0", "display": "Dr Paul Morel"}],
  "managingOrganization": {"reference": "Organization/chu-lyon"}
})";

constexpr std::string_view kObservation = R"({
  "resourceType": "Observation",
  "id": "bp-7c1e9a44-2f3b-4d6e-8a90-5b1c2d3e4f60",
  "meta": {"versionId": "1", "lastUpdated": "2024-05-14T09:35:02.118+02:00",
           "profile": ["http://hl7.org/fhir/StructureDefinition/bp"]},
  "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.9", "value": "OBS-2024-000918273"}],
  "status": "final",
  "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": "vital-signs", "display": "Vital Signs"}],
                "text": "Vital Signs"}],
  "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9",
                       "display": "Blood pressure panel with all children optional"}],
           "text": "Blood pressure systolic & diastolic"},
  "subject": {"reference": "Patient/3f9c2a71-5d4e-4b8a-9c1f-0e6b7a2d4c85"},
  "encounter": {"reference": "Encounter/enc-55201"},
  "effectiveDateTime": "2024-05-14T09:30:00+02:00",
  "issued": "2024-05-14T09:34:58.402+02:00",
  "performer": [{"reference": "Practitioner/8d2e61f0", "display": "Dr Paul Morel"}],
  "interpretation": [{"coding": [{"system":
      "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
      "code": "N", "display": "Normal"}], "text": "Normal"}],
  "bodySite": {"coding": [{"system": "http://snomed.info/sct", "code": "368209003",
                           "display": "Right arm"}]},
  "method": {"coding": [{"system": "http://snomed.info/sct", "code": "37931006",
                         "display": "Auscultation"}]},
  "device": {"reference": "Device/tensio-0042"},
  "note": [{"text": "Mesure au repos, patiente assise depuis 5 minutes."}],
  "component": [
    {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6",
                          "display": "Systolic blood pressure"}]},
     "valueQuantity": {"value": 118.5, "unit": "mmHg", "system": "http://unitsofmeasure.org",
                       "code": "mm[Hg]"},
     "interpretation": [{"coding": [{"system":
         "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
         "code": "N", "display": "Normal"}]}],
     "referenceRange": [{"low": {"value": 90, "unit": "mmHg"},
                         "high": {"value": 140, "unit": "mmHg"}}]},
    {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4",
                          "display": "Diastolic blood pressure"}]},
     "valueQuantity": {"value": 76, "unit": "mmHg", "system": "http://unitsofmeasure.org",
                       "code": "mm[Hg]"},
     "interpretation": [{"coding": [{"system":
         "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
         "code": "N", "display": "Normal"}]}],
     "referenceRange": [{"low": {"value": 60, "unit": "mmHg"},
                         "high": {"value": 90, "unit": "mmHg"}}]}
  ]
})";

constexpr std::string_view kNewId = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d";
constexpr std::string_view kInstant = "2024-06-01T10:20:30.123Z";
constexpr uint64_t kVersion = 4;

// The flags hygie::fhir::Resource::Parse had when the library was chosen (numbers converted to
// double). It now uses kResourceParseFlags below; the baselines keep these for comparison with
// docs/json-choice.md.
constexpr unsigned kRapidFlags = rapidjson::kParseIterativeFlag |
                                 rapidjson::kParseValidateEncodingFlag |
                                 rapidjson::kParseFullPrecisionFlag;

// The flags of hygie::fhir::Resource::Parse now: numbers reach the handler as text.
constexpr unsigned kResourceParseFlags = rapidjson::kParseIterativeFlag |
                                         rapidjson::kParseValidateEncodingFlag |
                                         rapidjson::kParseNumbersAsStringsFlag;

void ParseRapid(std::string_view json, rapidjson::Document& doc) {
  rapidjson::MemoryStream stream(json.data(), json.size());
  doc.ParseStream<kRapidFlags, rapidjson::UTF8<>>(stream);
}

void SetString(rapidjson::Value& object, const char* name, std::string_view text,
               rapidjson::Document::AllocatorType& allocator) {
  rapidjson::Value value(text.data(), static_cast<rapidjson::SizeType>(text.size()), allocator);
  auto it = object.FindMember(name);
  if (it != object.MemberEnd()) {
    it->value = std::move(value);
  } else {
    object.AddMember(rapidjson::StringRef(name), std::move(value), allocator);
  }
}

// What Resource::SetId + SetVersionMeta + Serialize do, on a bare Document.
std::string MutateAndWrite(rapidjson::Document& doc) {
  auto& allocator = doc.GetAllocator();
  SetString(doc, "id", kNewId, allocator);
  auto meta = doc.FindMember("meta");
  if (meta == doc.MemberEnd()) {
    doc.AddMember("meta", rapidjson::Value(rapidjson::kObjectType), allocator);
    meta = doc.FindMember("meta");
  }
  SetString(meta->value, "versionId", std::to_string(kVersion), allocator);
  SetString(meta->value, "lastUpdated", kInstant, allocator);
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  doc.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

void BM_RapidJson_Parse(benchmark::State& state, std::string_view json) {
  for (auto _ : state) {
    rapidjson::Document doc;
    ParseRapid(json, doc);
    if (doc.HasParseError()) {
      state.SkipWithError("parse failed");
      break;
    }
    benchmark::DoNotOptimize(doc.MemberCount());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * json.size()));
  state.counters["body_bytes"] = static_cast<double>(json.size());
}
BENCHMARK_CAPTURE(BM_RapidJson_Parse, Patient, kPatient);
BENCHMARK_CAPTURE(BM_RapidJson_Parse, Observation, kObservation);

// Reference only: what each of the flags of Resource::Parse costs, one at a time, from
// RapidJSON's defaults (recursive descent, no UTF-8 validation, fast but inexact decimal
// conversion; not acceptable for Hygie).
template <unsigned kFlags>
void ParseWith(std::string_view json, rapidjson::Document& doc) {
  rapidjson::MemoryStream stream(json.data(), json.size());
  doc.ParseStream<kFlags, rapidjson::UTF8<>>(stream);
}

void BM_RapidJson_ParseFlag(benchmark::State& state, std::string_view json,
                            void (*parse)(std::string_view, rapidjson::Document&)) {
  for (auto _ : state) {
    rapidjson::Document doc;
    parse(json, doc);
    if (doc.HasParseError()) {
      state.SkipWithError("parse failed");
      break;
    }
    benchmark::DoNotOptimize(doc.MemberCount());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * json.size()));
}
BENCHMARK_CAPTURE(BM_RapidJson_ParseFlag, Patient_UnsafeDefaults, kPatient,
                  &ParseWith<rapidjson::kParseDefaultFlags>);
BENCHMARK_CAPTURE(BM_RapidJson_ParseFlag, Patient_OnlyIterative, kPatient,
                  &ParseWith<rapidjson::kParseIterativeFlag>);
BENCHMARK_CAPTURE(BM_RapidJson_ParseFlag, Patient_OnlyValidateEncoding, kPatient,
                  &ParseWith<rapidjson::kParseValidateEncodingFlag>);
BENCHMARK_CAPTURE(BM_RapidJson_ParseFlag, Patient_OnlyFullPrecision, kPatient,
                  &ParseWith<rapidjson::kParseFullPrecisionFlag>);
BENCHMARK_CAPTURE(BM_RapidJson_ParseFlag, Patient_OnlyNumbersAsStrings, kPatient,
                  &ParseWith<rapidjson::kParseNumbersAsStringsFlag>);
BENCHMARK_CAPTURE(BM_RapidJson_ParseFlag, Patient_ResourceParseFlags, kPatient,
                  &ParseWith<kResourceParseFlags>);
BENCHMARK_CAPTURE(BM_RapidJson_ParseFlag, Observation_ResourceParseFlags, kObservation,
                  &ParseWith<kResourceParseFlags>);

void BM_RapidJson_WritePath(benchmark::State& state, std::string_view json) {
  for (auto _ : state) {
    rapidjson::Document doc;
    ParseRapid(json, doc);
    if (doc.HasParseError()) {
      state.SkipWithError("parse failed");
      break;
    }
    std::string out = MutateAndWrite(doc);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * json.size()));
}
BENCHMARK_CAPTURE(BM_RapidJson_WritePath, Patient, kPatient);
BENCHMARK_CAPTURE(BM_RapidJson_WritePath, Observation, kObservation);

// One parser per thread, reused, as a server would. parse(ptr, len) copies the body into a
// padded buffer (simdjson reads past the end): the server would pay that copy too.
void BM_Simdjson_DomParse(benchmark::State& state, std::string_view json) {
  simdjson::dom::parser parser;
  for (auto _ : state) {
    simdjson::dom::element root;
    if (parser.parse(json.data(), json.size()).get(root) != simdjson::SUCCESS) {
      state.SkipWithError("parse failed");
      break;
    }
    benchmark::DoNotOptimize(root);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * json.size()));
}
BENCHMARK_CAPTURE(BM_Simdjson_DomParse, Patient, kPatient);
BENCHMARK_CAPTURE(BM_Simdjson_DomParse, Observation, kObservation);

// On Demand checks syntax only where it walks: walk everything, unescaping every string and
// converting every number, to compare like with like.
simdjson::error_code Walk(simdjson::ondemand::value value, size_t& count) {
  simdjson::ondemand::json_type type;
  if (auto e = value.type().get(type)) return e;
  switch (type) {
    case simdjson::ondemand::json_type::object: {
      simdjson::ondemand::object object;
      if (auto e = value.get_object().get(object)) return e;
      for (auto field : object) {
        std::string_view key;
        if (auto e = field.unescaped_key().get(key)) return e;
        count += key.size();
        simdjson::ondemand::value child;
        if (auto e = field.value().get(child)) return e;
        if (auto e = Walk(child, count)) return e;
      }
      return simdjson::SUCCESS;
    }
    case simdjson::ondemand::json_type::array: {
      simdjson::ondemand::array array;
      if (auto e = value.get_array().get(array)) return e;
      for (auto element : array) {
        simdjson::ondemand::value child;
        if (auto e = element.get(child)) return e;
        if (auto e = Walk(child, count)) return e;
      }
      return simdjson::SUCCESS;
    }
    case simdjson::ondemand::json_type::string: {
      std::string_view s;
      if (auto e = value.get_string().get(s)) return e;
      count += s.size();
      return simdjson::SUCCESS;
    }
    case simdjson::ondemand::json_type::number: {
      double d;
      if (auto e = value.get_double().get(d)) return e;
      count += d > 0 ? 1 : 0;
      return simdjson::SUCCESS;
    }
    case simdjson::ondemand::json_type::boolean: {
      bool b;
      if (auto e = value.get_bool().get(b)) return e;
      count += b ? 1 : 0;
      return simdjson::SUCCESS;
    }
    case simdjson::ondemand::json_type::null:
      return value.is_null() ? simdjson::SUCCESS : simdjson::INCORRECT_TYPE;
  }
  return simdjson::SUCCESS;
}

void BM_Simdjson_OndemandFullWalk(benchmark::State& state, std::string_view json) {
  simdjson::ondemand::parser parser;
  for (auto _ : state) {
    simdjson::padded_string padded(json);  // the copy the server would make
    simdjson::ondemand::document doc;
    size_t count = 0;
    simdjson::ondemand::object root;
    bool ok = parser.iterate(padded).get(doc) == simdjson::SUCCESS &&
              doc.get_object().get(root) == simdjson::SUCCESS;
    if (ok) {
      for (auto field : root) {
        std::string_view key;
        simdjson::ondemand::value child;
        if (field.unescaped_key().get(key) || field.value().get(child) || Walk(child, count)) {
          ok = false;
          break;
        }
      }
    }
    if (!ok) {
      state.SkipWithError("parse failed");
      break;
    }
    benchmark::DoNotOptimize(count);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * json.size()));
}
BENCHMARK_CAPTURE(BM_Simdjson_OndemandFullWalk, Patient, kPatient);
BENCHMARK_CAPTURE(BM_Simdjson_OndemandFullWalk, Observation, kObservation);

// simdjson DOM -> RapidJSON value (simdjson has no mutable tree and no writer).
void CopyToRapid(simdjson::dom::element in, rapidjson::Value& out,
                 rapidjson::Document::AllocatorType& allocator) {
  using simdjson::dom::element_type;
  switch (in.type()) {
    case element_type::OBJECT: {
      out.SetObject();
      for (auto field : simdjson::dom::object(in)) {
        rapidjson::Value key(field.key.data(), static_cast<rapidjson::SizeType>(field.key.size()),
                             allocator);
        rapidjson::Value value;
        CopyToRapid(field.value, value, allocator);
        out.AddMember(key, value, allocator);
      }
      break;
    }
    case element_type::ARRAY: {
      out.SetArray();
      for (auto child : simdjson::dom::array(in)) {
        rapidjson::Value value;
        CopyToRapid(child, value, allocator);
        out.PushBack(value, allocator);
      }
      break;
    }
    case element_type::STRING: {
      std::string_view s = in.get_string().value_unsafe();
      out.SetString(s.data(), static_cast<rapidjson::SizeType>(s.size()), allocator);
      break;
    }
    case element_type::INT64:
      out.SetInt64(in.get_int64().value_unsafe());
      break;
    case element_type::UINT64:
      out.SetUint64(in.get_uint64().value_unsafe());
      break;
    case element_type::DOUBLE:
      out.SetDouble(in.get_double().value_unsafe());
      break;
    case element_type::BOOL:
      out.SetBool(in.get_bool().value_unsafe());
      break;
    case element_type::NULL_VALUE:
      out.SetNull();
      break;
  }
}

void BM_SimdjsonPlusRapidJson_WritePath(benchmark::State& state, std::string_view json) {
  simdjson::dom::parser parser;
  for (auto _ : state) {
    simdjson::dom::element root;
    if (parser.parse(json.data(), json.size()).get(root) != simdjson::SUCCESS) {
      state.SkipWithError("parse failed");
      break;
    }
    rapidjson::Document doc;
    CopyToRapid(root, doc, doc.GetAllocator());
    std::string out = MutateAndWrite(doc);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * json.size()));
}
BENCHMARK_CAPTURE(BM_SimdjsonPlusRapidJson_WritePath, Patient, kPatient);
BENCHMARK_CAPTURE(BM_SimdjsonPlusRapidJson_WritePath, Observation, kObservation);

#if defined(HYGIE_JSON_BENCH_WITH_FHIR)

void BM_HygieResource_Parse(benchmark::State& state, std::string_view json) {
  for (auto _ : state) {
    auto r = hygie::fhir::Resource::Parse(json);
    if (!r.ok()) {
      state.SkipWithError("parse failed");
      break;
    }
    benchmark::DoNotOptimize(r.ok());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * json.size()));
}
BENCHMARK_CAPTURE(BM_HygieResource_Parse, Patient, kPatient);
BENCHMARK_CAPTURE(BM_HygieResource_Parse, Observation, kObservation);

void BM_HygieResource_WritePath(benchmark::State& state, std::string_view json) {
  for (auto _ : state) {
    auto r = hygie::fhir::Resource::Parse(json);
    if (!r.ok()) {
      state.SkipWithError("parse failed");
      break;
    }
    r->SetId(kNewId);
    r->SetVersionMeta(kVersion, kInstant);
    std::string out = r->Serialize();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * json.size()));
}
BENCHMARK_CAPTURE(BM_HygieResource_WritePath, Patient, kPatient);
BENCHMARK_CAPTURE(BM_HygieResource_WritePath, Observation, kObservation);

#endif  // HYGIE_JSON_BENCH_WITH_FHIR

}  // namespace

BENCHMARK_MAIN();
