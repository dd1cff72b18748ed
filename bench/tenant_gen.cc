// tenant_gen: fills a Hygie tenant with realistic clinical data through FHIR transaction
// Bundles (POST [base]), to measure the load rate at size and to give search_load a tenant of
// a million resources or more.
//
// Each bundle holds one Practitioner (the general practitioner and prescriber of its patients)
// and --bundle-patients patients, each with: a Patient (INS-NIR identifier, local IPP, French
// name, birth date, gender, address, telecom), about 4 Encounters, 12 Observations (LOINC vital
// signs and laboratory results, UCUM valueQuantity, over 5 years), 2 Conditions (SNOMED CT) and
// 2 MedicationRequests (ATC), about 21 resources per patient. Entries have urn:uuid: fullUrls,
// reference each other and are created with POST. The content is a function of --seed alone:
// the same seed gives the same bundles byte for byte, whatever the concurrency.
//
// Prints progress every --progress seconds (stderr) and one final line (stdout) of key=value
// pairs: resources, seconds, resources_per_s, bundle latency p50/p99 and raw_json_bytes (the
// sum of the sizes of every resource sent, as serialized in the bundles). --sample-out writes
// the identifiers, codes, names and dates used, with the server ids of sampled patients taken
// from the transaction-response, for search_load.
//
// Exit code: 0 when every bundle got a 2xx, 1 otherwise, 2 on a usage error.

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <CLI/CLI.hpp>

#include "histogram.h"
#include "http_client.h"

namespace hygie::bench {
namespace {

using Clock = std::chrono::steady_clock;
using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

constexpr std::string_view kNirSystem = "urn:oid:1.2.250.1.213.1.4.8";
constexpr std::string_view kIppSystem = "urn:oid:1.2.250.1.71.4.2.7.1.999";
constexpr std::string_view kRppsSystem = "urn:oid:1.2.250.1.71.4.2.1";
constexpr std::string_view kLoinc = "http://loinc.org";
constexpr std::string_view kSnomed = "http://snomed.info/sct";
constexpr std::string_view kAtc = "http://www.whocc.no/atc";
constexpr std::string_view kUcum = "http://unitsofmeasure.org";
constexpr int kFirstYear = 2020;  // clinical dates fall in [2020-01-01, 2024-12-31]
constexpr int kYears = 5;
constexpr int kMaxErrorBodies = 5;

// ---- Reference tables (invented people, real places and codes) ----

constexpr std::array<std::string_view, 100> kFamilies = {
    "Martin",    "Bernard",  "Thomas",   "Petit",    "Robert",   "Richard",   "Durand",
    "Dubois",    "Moreau",   "Laurent",  "Simon",    "Michel",   "Lefèvre",   "Leroy",
    "Roux",      "David",    "Bertrand", "Morel",    "Fournier", "Girard",    "Bonnet",
    "Dupont",    "Lambert",  "Fontaine", "Rousseau", "Vincent",  "Muller",    "Lefebvre",
    "Faure",     "André",    "Mercier",  "Blanc",    "Guérin",   "Boyer",     "Garnier",
    "Chevalier", "François", "Legrand",  "Gauthier", "Garcia",   "Perrin",    "Robin",
    "Clément",   "Morin",    "Nicolas",  "Henry",    "Roussel",  "Mathieu",   "Gautier",
    "Masson",    "Marchand", "Duval",    "Denis",    "Dumont",   "Marie",     "Lemaire",
    "Noël",      "Meyer",    "Dufour",   "Meunier",  "Brun",     "Blanchard", "Giraud",
    "Joly",      "Rivière",  "Lucas",    "Brunet",   "Gaillard", "Barbier",   "Arnaud",
    "Martinez",  "Gérard",   "Roche",    "Renard",   "Schmitt",  "Roy",       "Leroux",
    "Colin",     "Vidal",    "Caron",    "Picard",   "Roger",    "Fabre",     "Aubert",
    "Lemoine",   "Renaud",   "Dumas",    "Lacroix",  "Olivier",  "Philippe",  "Bourgeois",
    "Pierre",    "Benoît",   "Rey",      "Leclerc",  "Payet",    "Rolland",   "Leclercq",
    "Guillaume", "Lecomte"};

constexpr std::array<std::string_view, 40> kGivenFemale = {
    "Marie",   "Camille",   "Léa",      "Manon",   "Chloé",     "Emma",      "Inès",
    "Jade",    "Louise",    "Alice",    "Sarah",   "Juliette",  "Lucie",     "Anaïs",
    "Élodie",  "Nathalie",  "Isabelle", "Sylvie",  "Catherine", "Françoise", "Monique",
    "Martine", "Christine", "Sophie",   "Valérie", "Sandrine",  "Céline",    "Aurélie",
    "Julie",   "Pauline",   "Mathilde", "Claire",  "Hélène",    "Margaux",   "Zoé",
    "Agathe",  "Jeanne",    "Colette",  "Odile",   "Geneviève"};

constexpr std::array<std::string_view, 40> kGivenMale = {
    "Jean",     "Pierre",  "Michel",  "Philippe", "Alain",     "Nicolas", "Christophe", "Patrick",
    "Daniel",   "Thierry", "Julien",  "Thomas",   "Lucas",     "Hugo",    "Louis",      "Gabriel",
    "Arthur",   "Jules",   "Antoine", "Maxime",   "Alexandre", "Quentin", "Romain",     "Sébastien",
    "Frédéric", "Laurent", "Olivier", "Éric",     "François",  "Bernard", "Jacques",    "André",
    "René",     "Mathieu", "Vincent", "Benoît",   "Rémi",      "Théo",    "Paul",       "Étienne"};

constexpr std::array<std::string_view, 20> kStreets = {
    "rue de la République",     "avenue Jean Jaurès", "rue Victor Hugo",
    "boulevard Gambetta",       "rue Pasteur",        "place de la Mairie",
    "rue du Général de Gaulle", "allée des Tilleuls", "rue des Écoles",
    "chemin des Vignes",        "rue de la Gare",     "avenue de la Libération",
    "rue Jules Ferry",          "rue du Moulin",      "impasse des Lilas",
    "rue Émile Zola",           "quai Saint-Antoine", "rue Nationale",
    "rue de l'Église",          "cours Lafayette"};

struct City {
  std::string_view name;
  std::string_view postal_code;
  std::string_view department;  // two digits, also in the NIR
};
constexpr std::array<City, 30> kCities = {{
    {"Paris", "75011", "75"},         {"Paris", "75015", "75"},
    {"Marseille", "13008", "13"},     {"Lyon", "69003", "69"},
    {"Toulouse", "31000", "31"},      {"Nice", "06000", "06"},
    {"Nantes", "44000", "44"},        {"Montpellier", "34000", "34"},
    {"Strasbourg", "67000", "67"},    {"Bordeaux", "33000", "33"},
    {"Lille", "59000", "59"},         {"Rennes", "35000", "35"},
    {"Reims", "51100", "51"},         {"Toulon", "83000", "83"},
    {"Saint-Étienne", "42000", "42"}, {"Le Havre", "76600", "76"},
    {"Grenoble", "38000", "38"},      {"Dijon", "21000", "21"},
    {"Angers", "49000", "49"},        {"Nîmes", "30000", "30"},
    {"Villeurbanne", "69100", "69"},  {"Clermont-Ferrand", "63000", "63"},
    {"Le Mans", "72000", "72"},       {"Aix-en-Provence", "13100", "13"},
    {"Brest", "29200", "29"},         {"Tours", "37000", "37"},
    {"Amiens", "80000", "80"},        {"Limoges", "87000", "87"},
    {"Metz", "57000", "57"},          {"Besançon", "25000", "25"},
}};

struct ObservationKind {
  std::string_view code;
  std::string_view display;
  std::string_view unit;  // UCUM code, also the display unit
  double low, high;       // values drawn in [low, high]
  double normal_low, normal_high;
  int decimals;
  bool vital;  // category vital-signs, else laboratory
};
constexpr std::array<ObservationKind, 17> kObservations = {{
    {"8867-4", "Heart rate", "/min", 45, 130, 60, 100, 0, true},
    {"8480-6", "Systolic blood pressure", "mm[Hg]", 95, 185, 100, 140, 0, true},
    {"8462-4", "Diastolic blood pressure", "mm[Hg]", 55, 110, 60, 90, 0, true},
    {"8310-5", "Body temperature", "Cel", 35.8, 39.8, 36.1, 37.8, 1, true},
    {"29463-7", "Body weight", "kg", 45, 130, 0, 0, 1, true},
    {"8302-2", "Body height", "cm", 148, 198, 0, 0, 0, true},
    {"9279-1", "Respiratory rate", "/min", 10, 28, 12, 20, 0, true},
    {"59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%", 86, 100, 95, 100, 0,
     true},
    {"39156-5", "Body mass index (BMI) [Ratio]", "kg/m2", 17, 42, 18.5, 25, 1, true},
    {"2339-0", "Glucose [Mass/volume] in Blood", "mg/dL", 60, 260, 70, 110, 0, false},
    {"2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", 0.5, 2.8, 0.6, 1.2, 2,
     false},
    {"718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 8.5, 17.5, 12, 16, 1, false},
    {"2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "mg/dL", 120, 320, 0, 200, 0, false},
    {"4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", 4.2, 11.5, 4, 5.6, 1, false},
    {"6690-2", "Leukocytes [#/volume] in Blood by Automated count", "10*3/uL", 2.5, 18, 4, 10, 1,
     false},
    {"2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", 3.0, 6.0, 3.5, 5.1, 1,
     false},
    {"2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", 128, 150, 136, 145, 0, false},
}};
constexpr size_t kFirstLab = 9;  // kObservations[0..8] are vital signs

struct Coded {
  std::string_view code;
  std::string_view display;
};
constexpr std::array<Coded, 12> kConditions = {{
    {"44054006", "Diabetes mellitus type 2"},
    {"38341003", "Hypertensive disorder, systemic arterial"},
    {"195967001", "Asthma"},
    {"13645005", "Chronic obstructive lung disease"},
    {"49436004", "Atrial fibrillation"},
    {"35489007", "Depressive disorder"},
    {"414545008", "Ischemic heart disease"},
    {"709044004", "Chronic kidney disease"},
    {"55822004", "Hyperlipidemia"},
    {"84114007", "Heart failure"},
    {"69896004", "Rheumatoid arthritis"},
    {"399211009", "History of myocardial infarction"},
}};

struct Medication {
  std::string_view code;  // ATC
  std::string_view display;
  std::string_view dosage;
};
constexpr std::array<Medication, 12> kMedications = {{
    {"A10BA02", "metformine", "1 comprimé de 850 mg matin et soir au cours des repas"},
    {"C09AA05", "ramipril", "1 comprimé de 5 mg le matin"},
    {"C10AA05", "atorvastatine", "1 comprimé de 20 mg le soir"},
    {"N02BE01", "paracétamol", "1 g toutes les 6 heures si douleur, maximum 4 g par jour"},
    {"B01AC06", "acide acétylsalicylique", "75 mg par jour"},
    {"C07AB07", "bisoprolol", "1 comprimé de 2,5 mg le matin"},
    {"R03AC02", "salbutamol", "2 bouffées en cas de gêne respiratoire"},
    {"N06AB10", "escitalopram", "1 comprimé de 10 mg le matin"},
    {"C03CA01", "furosémide", "1 comprimé de 40 mg le matin"},
    {"A02BC01", "oméprazole", "1 gélule de 20 mg le matin à jeun"},
    {"B01AF01", "rivaroxaban", "1 comprimé de 20 mg au cours du repas du soir"},
    {"H03AA01", "lévothyroxine sodique", "1 comprimé de 75 µg le matin à jeun"},
}};

struct EncounterKind {
  std::string_view class_code;  // v3-ActCode
  std::string_view class_display;
  std::string_view type_code;  // SNOMED CT
  std::string_view type_display;
  int min_minutes, max_minutes;
};
constexpr std::array<EncounterKind, 4> kEncounters = {{
    {"AMB", "ambulatory", "185349003", "Encounter for check up", 15, 45},
    {"AMB", "ambulatory", "390906007", "Follow-up encounter", 15, 40},
    {"EMER", "emergency", "50849002", "Emergency room admission", 120, 600},
    {"IMP", "inpatient encounter", "32485007", "Hospital admission", 1440, 8640},
}};

// ---- Deterministic randomness ----

uint64_t SplitMix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// A small generator seeded from (seed, stream, index): every patient and bundle has its own, so
// content never depends on which thread made it or when.
class Rng {
 public:
  Rng(uint64_t seed, uint64_t stream, uint64_t index)
      : state_(SplitMix(SplitMix(SplitMix(seed) ^ stream) ^ index)) {}
  uint64_t Next() { return SplitMix(state_++); }
  // Uniform in [lo, hi].
  int64_t Range(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(Next() % static_cast<uint64_t>(hi - lo + 1));
  }
  double Unit() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  bool Chance(double p) { return Unit() < p; }
  template <typename T, size_t N>
  const T& Pick(const std::array<T, N>& a) {
    return a[Next() % N];
  }

 private:
  uint64_t state_;
};

enum Stream : uint64_t {
  kBundleStream = 1,
  kPatientStream = 2,
  kPractitionerStream = 3,
  kPlanStream = 4
};

// ---- Dates ----

std::chrono::sys_days DayOf(int offset) {
  return std::chrono::sys_days{std::chrono::year{kFirstYear} / 1 / 1} + std::chrono::days{offset};
}
int DaysInWindow() {
  return static_cast<int>(
      (std::chrono::sys_days{std::chrono::year{kFirstYear + kYears} / 1 / 1} - DayOf(0)).count());
}
std::string FormatDate(std::chrono::sys_days day) {
  const std::chrono::year_month_day ymd{day};
  return fmt::format("{:04}-{:02}-{:02}", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
}
// A local date-time (Europe/Paris, written with a fixed +01:00 offset) `minutes` after midnight
// of `day`.
std::string FormatDateTime(std::chrono::sys_days day, int64_t minutes) {
  day += std::chrono::days{minutes / 1440};
  minutes %= 1440;
  return fmt::format("{}T{:02}:{:02}:00+01:00", FormatDate(day), minutes / 60, minutes % 60);
}

// A v4-shaped UUID from the generator.
std::string Uuid(Rng& rng) {
  const uint64_t a = rng.Next();
  const uint64_t b = rng.Next();
  return fmt::format("urn:uuid:{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}", a >> 32, (a >> 16) & 0xffff,
                     a & 0xfff, 0x8000 | ((b >> 48) & 0x3fff), b & 0xffffffffffffull);
}

// ---- What a bundle is made of ----

// What the search benchmark needs to know about one patient.
struct PatientFacts {
  uint64_t index = 0;
  std::string nir;
  std::string ipp;
  std::string family;
  std::string given;
  std::string birth_date;
  std::string id;  // the server's id, from the transaction-response (empty in a dry run)
};

// The shape of one patient, drawn first so the planner can count resources cheaply.
struct PatientPlan {
  int encounters, observations, conditions, medications;
  int resources() const { return 1 + encounters + observations + conditions + medications; }
};

PatientPlan PlanPatient(uint64_t seed, uint64_t index) {
  Rng rng(seed, kPlanStream, index);
  PatientPlan p;
  p.encounters = static_cast<int>(rng.Range(2, 6));
  p.observations = static_cast<int>(rng.Range(8, 16));
  p.conditions = static_cast<int>(rng.Range(1, 3));
  p.medications = static_cast<int>(rng.Range(1, 3));
  return p;
}

struct BuiltBundle {
  std::string json;
  int resources = 0;
  uint64_t raw_json_bytes = 0;  // sum of the serialized sizes of the entries' resources
  std::vector<PatientFacts> patients;
  std::vector<size_t> patient_entries;  // entry index of each patient's Patient resource
  std::array<uint64_t, kObservations.size()> observation_counts{};
  std::array<uint64_t, kConditions.size()> condition_counts{};
};

// Writes one bundle. Each member writes one entry; Entry() brackets a resource so its
// serialized size is known.
class BundleBuilder {
 public:
  explicit BundleBuilder(BuiltBundle* out) : out_(out), w_(buffer_) {}

  void Begin() {
    w_.StartObject();
    Str("resourceType", "Bundle");
    Str("type", "transaction");
    w_.Key("entry");
    w_.StartArray();
  }

  std::string Finish() {
    w_.EndArray();
    w_.EndObject();
    return std::string(buffer_.GetString(), buffer_.GetSize());
  }

  void Practitioner(Rng& rng, const std::string& full_url) {
    BeginEntry(full_url, "Practitioner");
    const bool female = rng.Chance(0.5);
    Str("resourceType", "Practitioner");
    w_.Key("identifier");
    w_.StartArray();
    w_.StartObject();
    Str("system", kRppsSystem);
    Str("value", fmt::format("10{:09}", rng.Range(0, 999999999)));
    w_.EndObject();
    w_.EndArray();
    Bool("active", true);
    w_.Key("name");
    w_.StartArray();
    w_.StartObject();
    Str("family", rng.Pick(kFamilies));
    w_.Key("given");
    w_.StartArray();
    Str(female ? rng.Pick(kGivenFemale) : rng.Pick(kGivenMale));
    w_.EndArray();
    w_.Key("prefix");
    w_.StartArray();
    Str("Dr");
    w_.EndArray();
    w_.EndObject();
    w_.EndArray();
    const City& city = rng.Pick(kCities);
    w_.Key("address");
    w_.StartArray();
    w_.StartObject();
    Str("use", "work");
    Str("city", city.name);
    Str("postalCode", city.postal_code);
    Str("country", "FRA");
    w_.EndObject();
    w_.EndArray();
    Str("gender", female ? "female" : "male");
    EndEntry();
  }

  // One patient and its clinical record; facts about it go to *facts.
  void Patient(uint64_t seed, uint64_t index, const std::string& practitioner,
               PatientFacts* facts) {
    const PatientPlan plan = PlanPatient(seed, index);
    Rng rng(seed, kPatientStream, index);

    const std::string patient_url = Uuid(rng);
    const bool female = rng.Chance(0.52);
    const std::string_view family = rng.Pick(kFamilies);
    const std::string_view given = female ? rng.Pick(kGivenFemale) : rng.Pick(kGivenMale);
    const std::string_view given2 = female ? rng.Pick(kGivenFemale) : rng.Pick(kGivenMale);
    const City& city = rng.Pick(kCities);
    const int age_days = static_cast<int>(rng.Range(18 * 365, 95 * 365));
    const std::chrono::sys_days birth = DayOf(DaysInWindow()) - std::chrono::days{age_days};
    const std::chrono::year_month_day birth_ymd{birth};
    // INS-NIR: sex, year, month, department, commune, order, then the key 97 - (n mod 97).
    const uint64_t nir13 =
        (female ? 2 : 1) * 1000000000000ull +
        static_cast<uint64_t>(static_cast<int>(birth_ymd.year()) % 100) * 10000000000ull +
        static_cast<uint64_t>(static_cast<unsigned>(birth_ymd.month())) * 100000000ull +
        static_cast<uint64_t>(std::stoi(std::string(city.department))) * 1000000ull +
        static_cast<uint64_t>(rng.Range(1, 999)) * 1000ull +
        static_cast<uint64_t>(rng.Range(1, 999));
    facts->index = index;
    facts->nir = fmt::format("{:013}{:02}", nir13, 97 - nir13 % 97);
    facts->ipp = fmt::format("IPP-{:x}-{:08}", seed, index);
    facts->family = family;
    facts->given = given;
    facts->birth_date = FormatDate(birth);

    out_->patient_entries.push_back(entries_);
    BeginEntry(patient_url, "Patient");
    Str("resourceType", "Patient");
    w_.Key("identifier");
    w_.StartArray();
    w_.StartObject();
    Str("use", "official");
    w_.Key("type");
    Coding("https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203", "INS-NIR", "NIR définitif");
    Str("system", kNirSystem);
    Str("value", facts->nir);
    w_.EndObject();
    w_.StartObject();
    Str("use", "usual");
    w_.Key("type");
    Coding("http://terminology.hl7.org/CodeSystem/v2-0203", "PI", "Patient internal identifier");
    Str("system", kIppSystem);
    Str("value", facts->ipp);
    w_.EndObject();
    w_.EndArray();
    Bool("active", true);
    w_.Key("name");
    w_.StartArray();
    w_.StartObject();
    Str("use", "official");
    Str("family", family);
    w_.Key("given");
    w_.StartArray();
    Str(given);
    if (given2 != given) Str(given2);
    w_.EndArray();
    w_.EndObject();
    w_.EndArray();
    w_.Key("telecom");
    w_.StartArray();
    w_.StartObject();
    Str("system", "phone");
    Str("value", fmt::format("+33 6 {:02} {:02} {:02} {:02}", rng.Range(0, 99), rng.Range(0, 99),
                             rng.Range(0, 99), rng.Range(0, 99)));
    Str("use", "mobile");
    w_.EndObject();
    if (rng.Chance(0.6)) {
      w_.StartObject();
      Str("system", "email");
      Str("value", fmt::format("patient.{}@exemple.fr", index));
      Str("use", "home");
      w_.EndObject();
    }
    w_.EndArray();
    Str("gender", female ? "female" : "male");
    Str("birthDate", facts->birth_date);
    w_.Key("address");
    w_.StartArray();
    w_.StartObject();
    Str("use", "home");
    Str("type", "physical");
    w_.Key("line");
    w_.StartArray();
    Str(fmt::format("{} {}", rng.Range(1, 180), rng.Pick(kStreets)));
    w_.EndArray();
    Str("city", city.name);
    Str("postalCode", city.postal_code);
    Str("country", "FRA");
    w_.EndObject();
    w_.EndArray();
    w_.Key("generalPractitioner");
    w_.StartArray();
    Reference(practitioner);
    w_.EndArray();
    EndEntry();

    // Encounters, spread over the window; observations, conditions and prescriptions hang off
    // them.
    struct Visit {
      std::string url;
      std::chrono::sys_days day;
      int64_t start_minute;
      int64_t minutes;
    };
    std::vector<Visit> visits;
    for (int e = 0; e < plan.encounters; ++e) {
      const EncounterKind& kind = rng.Pick(kEncounters);
      Visit v{Uuid(rng), DayOf(static_cast<int>(rng.Range(0, DaysInWindow() - 1))),
              rng.Range(7 * 60, 19 * 60), rng.Range(kind.min_minutes, kind.max_minutes)};
      BeginEntry(v.url, "Encounter");
      Str("resourceType", "Encounter");
      Str("status", "finished");
      w_.Key("class");
      w_.StartObject();
      Str("system", "http://terminology.hl7.org/CodeSystem/v3-ActCode");
      Str("code", kind.class_code);
      Str("display", kind.class_display);
      w_.EndObject();
      w_.Key("type");
      w_.StartArray();
      Coding(kSnomed, kind.type_code, kind.type_display);
      w_.EndArray();
      w_.Key("subject");
      Reference(patient_url);
      w_.Key("participant");
      w_.StartArray();
      w_.StartObject();
      w_.Key("individual");
      Reference(practitioner);
      w_.EndObject();
      w_.EndArray();
      w_.Key("period");
      w_.StartObject();
      Str("start", FormatDateTime(v.day, v.start_minute));
      Str("end", FormatDateTime(v.day, v.start_minute + v.minutes));
      w_.EndObject();
      w_.Key("serviceProvider");
      w_.StartObject();
      Str("display", fmt::format("CHU de {}", city.name));
      w_.EndObject();
      EndEntry();
      visits.push_back(std::move(v));
    }

    for (int o = 0; o < plan.observations; ++o) {
      const size_t k = rng.Chance(0.6)
                           ? static_cast<size_t>(rng.Range(0, kFirstLab - 1))
                           : static_cast<size_t>(rng.Range(kFirstLab, kObservations.size() - 1));
      const ObservationKind& kind = kObservations[k];
      const Visit& v = visits[rng.Next() % visits.size()];
      const double scale = std::pow(10.0, kind.decimals);
      const double value =
          std::round((kind.low + rng.Unit() * (kind.high - kind.low)) * scale) / scale;
      ++out_->observation_counts[k];
      BeginEntry(Uuid(rng), "Observation");
      Str("resourceType", "Observation");
      Str("status", "final");
      w_.Key("category");
      w_.StartArray();
      Coding("http://terminology.hl7.org/CodeSystem/observation-category",
             kind.vital ? "vital-signs" : "laboratory", kind.vital ? "Vital Signs" : "Laboratory");
      w_.EndArray();
      w_.Key("code");
      Coding(kLoinc, kind.code, kind.display);
      w_.Key("subject");
      Reference(patient_url);
      w_.Key("encounter");
      Reference(v.url);
      Str("effectiveDateTime",
          FormatDateTime(v.day, v.start_minute + rng.Range(0, std::max<int64_t>(v.minutes, 1))));
      w_.Key("performer");
      w_.StartArray();
      Reference(practitioner);
      w_.EndArray();
      w_.Key("valueQuantity");
      w_.StartObject();
      w_.Key("value");
      if (kind.decimals == 0) {
        w_.Int64(static_cast<int64_t>(value));
      } else {
        w_.Double(value);
      }
      Str("unit", kind.unit);
      Str("system", kUcum);
      Str("code", kind.unit);
      w_.EndObject();
      if (kind.normal_high > 0) {
        const std::string_view flag = value < kind.normal_low    ? "L"
                                      : value > kind.normal_high ? "H"
                                                                 : "N";
        w_.Key("interpretation");
        w_.StartArray();
        Coding("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", flag,
               flag == "L"   ? "Low"
               : flag == "H" ? "High"
                             : "Normal");
        w_.EndArray();
        w_.Key("referenceRange");
        w_.StartArray();
        w_.StartObject();
        w_.Key("low");
        Quantity(kind.normal_low, kind.unit);
        w_.Key("high");
        Quantity(kind.normal_high, kind.unit);
        w_.EndObject();
        w_.EndArray();
      }
      EndEntry();
    }

    std::set<size_t> conditions;
    while (conditions.size() < static_cast<size_t>(plan.conditions)) {
      conditions.insert(rng.Next() % kConditions.size());
    }
    for (const size_t c : conditions) {
      const Visit& v = visits[rng.Next() % visits.size()];
      ++out_->condition_counts[c];
      BeginEntry(Uuid(rng), "Condition");
      Str("resourceType", "Condition");
      w_.Key("clinicalStatus");
      Coding("http://terminology.hl7.org/CodeSystem/condition-clinical",
             rng.Chance(0.8) ? "active" : "resolved", "");
      w_.Key("verificationStatus");
      Coding("http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed",
             "Confirmed");
      w_.Key("category");
      w_.StartArray();
      Coding("http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item",
             "Problem List Item");
      w_.EndArray();
      w_.Key("code");
      Coding(kSnomed, kConditions[c].code, kConditions[c].display);
      w_.Key("subject");
      Reference(patient_url);
      w_.Key("encounter");
      Reference(v.url);
      Str("onsetDateTime", FormatDate(v.day - std::chrono::days{rng.Range(0, 3650)}));
      Str("recordedDate", FormatDate(v.day));
      EndEntry();
    }

    for (int m = 0; m < plan.medications; ++m) {
      const Medication& med = rng.Pick(kMedications);
      const Visit& v = visits[rng.Next() % visits.size()];
      BeginEntry(Uuid(rng), "MedicationRequest");
      Str("resourceType", "MedicationRequest");
      Str("status", rng.Chance(0.7) ? "active" : "completed");
      Str("intent", "order");
      w_.Key("medicationCodeableConcept");
      Coding(kAtc, med.code, med.display);
      w_.Key("subject");
      Reference(patient_url);
      w_.Key("encounter");
      Reference(v.url);
      Str("authoredOn", FormatDateTime(v.day, v.start_minute + v.minutes / 2));
      w_.Key("requester");
      Reference(practitioner);
      w_.Key("dosageInstruction");
      w_.StartArray();
      w_.StartObject();
      Str("text", med.dosage);
      w_.EndObject();
      w_.EndArray();
      EndEntry();
    }
  }

 private:
  void BeginEntry(const std::string& full_url, std::string_view type) {
    w_.StartObject();
    Str("fullUrl", full_url);
    w_.Key("request");
    w_.StartObject();
    Str("method", "POST");
    Str("url", type);
    w_.EndObject();
    w_.Key("resource");
    resource_start_ = buffer_.GetSize();
    w_.StartObject();
  }

  void EndEntry() {
    w_.EndObject();
    // The resource is what follows "resource", minus the ':' the writer puts first.
    out_->raw_json_bytes += buffer_.GetSize() - resource_start_ - 1;
    ++out_->resources;
    ++entries_;
    w_.EndObject();
  }

  void Str(std::string_view s) { w_.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); }
  void Str(std::string_view key, std::string_view value) {
    w_.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
    Str(value);
  }
  void Bool(std::string_view key, bool value) {
    w_.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
    w_.Bool(value);
  }
  // A CodeableConcept with one coding (and no display when `display` is empty).
  void Coding(std::string_view system, std::string_view code, std::string_view display) {
    w_.StartObject();
    w_.Key("coding");
    w_.StartArray();
    w_.StartObject();
    Str("system", system);
    Str("code", code);
    if (!display.empty()) Str("display", display);
    w_.EndObject();
    w_.EndArray();
    w_.EndObject();
  }
  void Reference(const std::string& url) {
    w_.StartObject();
    Str("reference", url);
    w_.EndObject();
  }
  void Quantity(double value, std::string_view unit) {
    w_.StartObject();
    w_.Key("value");
    if (value == std::floor(value)) {
      w_.Int64(static_cast<int64_t>(value));
    } else {
      w_.Double(value);
    }
    Str("unit", unit);
    Str("system", kUcum);
    Str("code", unit);
    w_.EndObject();
  }

  BuiltBundle* out_;
  rapidjson::StringBuffer buffer_;
  JsonWriter w_;
  size_t resource_start_ = 0;
  size_t entries_ = 0;
};

// Which patients go in which bundle: bundle b takes the next K patients, K drawn from
// (seed, b). Handed out in order under a lock so the split never depends on the threads.
struct BundlePlan {
  uint64_t bundle = 0;
  uint64_t first_patient = 0;
  int patients = 0;
};

class Planner {
 public:
  Planner(uint64_t seed, uint64_t max_patients, uint64_t max_resources, int min_k, int max_k)
      : seed_(seed),
        max_patients_(max_patients),
        max_resources_(max_resources),
        min_k_(min_k),
        max_k_(max_k) {}

  std::optional<BundlePlan> Next() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopped_ || next_patient_ >= max_patients_ || planned_resources_ >= max_resources_) {
      return std::nullopt;
    }
    BundlePlan plan{next_bundle_, next_patient_, 0};
    Rng rng(seed_, kBundleStream, next_bundle_++);
    const int k = static_cast<int>(rng.Range(min_k_, max_k_));
    planned_resources_ += 1;  // the bundle's Practitioner
    while (plan.patients < k && next_patient_ < max_patients_ &&
           planned_resources_ < max_resources_) {
      planned_resources_ += static_cast<uint64_t>(PlanPatient(seed_, next_patient_).resources());
      ++next_patient_;
      ++plan.patients;
    }
    return plan;
  }

  void Stop() {
    std::lock_guard<std::mutex> lock(mutex_);
    stopped_ = true;
  }

 private:
  std::mutex mutex_;
  const uint64_t seed_;
  const uint64_t max_patients_;
  const uint64_t max_resources_;
  const int min_k_;
  const int max_k_;
  uint64_t next_bundle_ = 0;
  uint64_t next_patient_ = 0;
  uint64_t planned_resources_ = 0;
  bool stopped_ = false;
};

BuiltBundle Build(uint64_t seed, const BundlePlan& plan) {
  BuiltBundle out;
  BundleBuilder b(&out);
  b.Begin();
  Rng rng(seed, kPractitionerStream, plan.bundle);
  const std::string practitioner = Uuid(rng);
  b.Practitioner(rng, practitioner);
  for (int i = 0; i < plan.patients; ++i) {
    out.patients.emplace_back();
    b.Patient(seed, plan.first_patient + static_cast<uint64_t>(i), practitioner,
              &out.patients.back());
  }
  out.json = b.Finish();
  return out;
}

// The id in a transaction-response entry's response.location ("Patient/123/_history/1",
// possibly absolute). Empty if absent.
std::string IdFromLocation(std::string_view location) {
  size_t at = location.find("Patient/");
  if (at == std::string_view::npos) return {};
  location.remove_prefix(at + 8);
  return std::string(location.substr(0, location.find('/')));
}

// ---- The run ----

struct Options {
  std::string url = "http://127.0.0.1:8080";
  std::string tenant = "bench";
  std::string token;
  std::string token_file;
  uint64_t patients = 0;
  uint64_t resources = 0;
  int concurrency = 16;
  std::string bundle_patients = "1..5";
  uint64_t seed = 1;
  double timeout_s = 120;
  double progress_s = 5;
  uint64_t max_errors = 100;
  uint64_t sample_every = 97;
  std::string sample_out;
  bool dry_run = false;
};

// Everything the workers add up; guarded by `mutex` except the atomics.
struct Totals {
  std::atomic<uint64_t> resources{0};
  std::atomic<uint64_t> bundles{0};
  std::atomic<uint64_t> patients{0};
  std::atomic<uint64_t> raw_json_bytes{0};
  std::atomic<uint64_t> errors{0};
  std::mutex mutex;
  LatencyHistogram latency;
  std::vector<std::string> error_messages;
  std::vector<PatientFacts> sample;
  std::array<uint64_t, kObservations.size()> observation_counts{};
  std::array<uint64_t, kConditions.size()> condition_counts{};
  std::set<std::string> families;
};

void Absorb(const BuiltBundle& b, const Options& opt, Totals* totals) {
  totals->resources += static_cast<uint64_t>(b.resources);
  totals->patients += b.patients.size();
  totals->raw_json_bytes += b.raw_json_bytes;
  ++totals->bundles;
  std::lock_guard<std::mutex> lock(totals->mutex);
  for (size_t i = 0; i < kObservations.size(); ++i) {
    totals->observation_counts[i] += b.observation_counts[i];
  }
  for (size_t i = 0; i < kConditions.size(); ++i) {
    totals->condition_counts[i] += b.condition_counts[i];
  }
  for (const PatientFacts& p : b.patients) {
    totals->families.insert(p.family);
    if (p.index < 50 || p.index % opt.sample_every == 0) totals->sample.push_back(p);
  }
}

void RecordError(std::string message, Totals* totals) {
  ++totals->errors;
  std::lock_guard<std::mutex> lock(totals->mutex);
  if (totals->error_messages.size() < kMaxErrorBodies) {
    if (message.size() > 2000) message = message.substr(0, 2000) + "...";
    totals->error_messages.push_back(message);
    fmt::print(stderr, "tenant_gen: error: {}\n", totals->error_messages.back());
  }
}

void Worker(const Options& opt, const ServerTarget& target, Planner* planner, Totals* totals) {
  HttpClient client(target, std::chrono::duration_cast<Clock::duration>(
                                std::chrono::duration<double>(opt.timeout_s)));
  LatencyHistogram latency;
  HttpResponse response;
  while (std::optional<BundlePlan> plan = planner->Next()) {
    BuiltBundle b = Build(opt.seed, *plan);
    const auto t0 = Clock::now();
    const bool answered =
        client.Send("POST", target.fhir_base, "application/fhir+json", b.json, &response);
    const auto t1 = Clock::now();
    if (!answered || response.status < 200 || response.status >= 300) {
      RecordError(answered ? fmt::format("bundle {}: HTTP {}: {}", plan->bundle, response.status,
                                         response.body)
                           : fmt::format("bundle {}: {}", plan->bundle, response.error),
                  totals);
      if (totals->errors.load() >= opt.max_errors) planner->Stop();
      continue;
    }
    latency.Record(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()));
    // Server ids of the patients, from the transaction-response (entries in request order).
    rapidjson::Document doc;
    doc.Parse(response.body.data(), response.body.size());
    if (!doc.HasParseError() && doc.IsObject() && doc.HasMember("entry") &&
        doc["entry"].IsArray()) {
      const auto& entries = doc["entry"].GetArray();
      for (size_t i = 0; i < b.patients.size(); ++i) {
        const size_t e = b.patient_entries[i];
        if (e >= entries.Size() || !entries[e].IsObject()) continue;
        const auto& entry = entries[e];
        const auto r = entry.FindMember("response");
        if (r == entry.MemberEnd() || !r->value.IsObject()) continue;
        const auto loc = r->value.FindMember("location");
        if (loc == r->value.MemberEnd() || !loc->value.IsString()) continue;
        b.patients[i].id = IdFromLocation(loc->value.GetString());
      }
    }
    Absorb(b, opt, totals);
  }
  std::lock_guard<std::mutex> lock(totals->mutex);
  totals->latency.Merge(latency);
}

void WriteSample(const Options& opt, const Totals& t, const std::string& path) {
  rapidjson::StringBuffer buffer;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buffer);
  auto str = [&w](std::string_view s) {
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  };
  w.StartObject();
  w.Key("tool");
  str("tenant_gen");
  w.Key("tenant");
  str(opt.tenant);
  w.Key("seed");
  w.Uint64(opt.seed);
  w.Key("patients");
  w.Uint64(t.patients.load());
  w.Key("resources");
  w.Uint64(t.resources.load());
  w.Key("raw_json_bytes");
  w.Uint64(t.raw_json_bytes.load());
  w.Key("date_first");
  str(FormatDate(DayOf(0)));
  w.Key("date_last");
  str(FormatDate(DayOf(DaysInWindow() - 1)));
  w.Key("observation_codes");
  w.StartArray();
  for (size_t i = 0; i < kObservations.size(); ++i) {
    w.StartObject();
    w.Key("system");
    str(kLoinc);
    w.Key("code");
    str(kObservations[i].code);
    w.Key("count");
    w.Uint64(t.observation_counts[i]);
    w.EndObject();
  }
  w.EndArray();
  w.Key("condition_codes");
  w.StartArray();
  for (size_t i = 0; i < kConditions.size(); ++i) {
    w.StartObject();
    w.Key("system");
    str(kSnomed);
    w.Key("code");
    str(kConditions[i].code);
    w.Key("count");
    w.Uint64(t.condition_counts[i]);
    w.EndObject();
  }
  w.EndArray();
  w.Key("families");
  w.StartArray();
  for (const std::string& f : t.families) str(f);
  w.EndArray();
  w.Key("sample_patients");
  w.StartArray();
  std::vector<PatientFacts> sample = t.sample;
  std::sort(sample.begin(), sample.end(),
            [](const PatientFacts& a, const PatientFacts& b) { return a.index < b.index; });
  for (const PatientFacts& p : sample) {
    w.StartObject();
    w.Key("index");
    w.Uint64(p.index);
    w.Key("id");
    str(p.id);
    w.Key("nir");
    str(p.nir);
    w.Key("ipp");
    str(p.ipp);
    w.Key("family");
    str(p.family);
    w.Key("given");
    str(p.given);
    w.Key("birth_date");
    str(p.birth_date);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  std::ofstream out(path, std::ios::trunc);
  out << buffer.GetString() << '\n';
  if (!out) fmt::print(stderr, "tenant_gen: cannot write --sample-out {}\n", path);
}

int Main(int argc, char** argv) {
  Options opt;
  CLI::App app{"Fills a Hygie tenant with clinical data through FHIR transaction bundles",
               "tenant_gen"};
  app.add_option("--url", opt.url, "Base URL, http://host:port[/prefix]")->capture_default_str();
  app.add_option("--tenant", opt.tenant, "Tenant in /fhir/{tenant}/")->capture_default_str();
  auto* token = app.add_option("--token", opt.token, "Bearer token (prefer --token-file)");
  app.add_option("--token-file", opt.token_file,
                 "File holding the bearer token (default: $HYGIE_TOKEN)")
      ->check(CLI::ExistingFile)
      ->excludes(token);
  app.add_option("--patients", opt.patients, "Patients to create (about 21 resources each)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{100000000}));
  app.add_option("--resources", opt.resources,
                 "Stop after the patient that brings the total to this many resources")
      ->check(CLI::Range(uint64_t{1}, uint64_t{10000000000}));
  app.add_option("--concurrency,-c", opt.concurrency, "Connections, one bundle in flight each")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--bundle-patients", opt.bundle_patients,
                 "Patients per bundle: K, or A..B drawn per bundle")
      ->capture_default_str();
  app.add_option("--seed", opt.seed, "Content seed")->capture_default_str();
  app.add_option("--timeout", opt.timeout_s, "Seconds before a bundle in flight fails")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--progress", opt.progress_s, "Seconds between progress lines (0: none)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--max-errors", opt.max_errors, "Stop after this many failed bundles")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40))
      ->capture_default_str();
  app.add_option("--sample-every", opt.sample_every,
                 "Sample patient i when i < 50 or i is a multiple of this")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40))
      ->capture_default_str();
  app.add_option("--sample-out", opt.sample_out, "Write identifiers, codes and dates used here");
  app.add_flag("--dry-run", opt.dry_run,
               "Print the first bundle to stdout, build the others without sending them");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  int min_k = 0, max_k = 0;
  {
    const std::string& s = opt.bundle_patients;
    const size_t dots = s.find("..");
    try {
      min_k = std::stoi(s.substr(0, dots));
      max_k = dots == std::string::npos ? min_k : std::stoi(s.substr(dots + 2));
    } catch (const std::exception&) {
      min_k = 0;
    }
    if (min_k < 1 || max_k < min_k || max_k > 1000) {
      fmt::print(stderr,
                 "tenant_gen: --bundle-patients wants K or A..B with 1 <= A <= B <= 1000\n");
      return 2;
    }
  }
  if (opt.patients == 0 && opt.resources == 0) opt.patients = 1000;
  Planner planner(opt.seed, opt.patients == 0 ? UINT64_MAX : opt.patients,
                  opt.resources == 0 ? UINT64_MAX : opt.resources, min_k, max_k);
  Totals totals;

  if (opt.dry_run) {
    const auto t0 = Clock::now();
    bool first = true;
    while (std::optional<BundlePlan> plan = planner.Next()) {
      BuiltBundle b = Build(opt.seed, *plan);
      if (first) fmt::print("{}\n", b.json);
      first = false;
      totals.latency.Record(b.json.size());  // bundle sizes, not latencies, in a dry run
      Absorb(b, opt, &totals);
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    fmt::print(stderr,
               "tenant_gen: dry run resources={} patients={} bundles={} raw_json_bytes={} "
               "bundle_bytes_p50={} bundle_bytes_max={} build_seconds={:.2f}\n",
               totals.resources.load(), totals.patients.load(), totals.bundles.load(),
               totals.raw_json_bytes.load(), totals.latency.Quantile(0.5), totals.latency.max(),
               seconds);
    if (!opt.sample_out.empty()) WriteSample(opt, totals, opt.sample_out);
    return 0;
  }

  std::string error;
  const std::optional<ServerTarget> target =
      ServerTarget::Make(opt.url, opt.tenant, opt.token, opt.token_file, "HYGIE_TOKEN",
                         "hygie-tenant-gen/" HYGIE_VERSION, &error);
  if (!target) {
    fmt::print(stderr, "tenant_gen: {}\n", error);
    return 2;
  }

  const auto t0 = Clock::now();
  std::vector<std::thread> workers;
  std::atomic<int> running{opt.concurrency};
  for (int i = 0; i < opt.concurrency; ++i) {
    workers.emplace_back([&] {
      Worker(opt, *target, &planner, &totals);
      --running;
    });
  }
  if (opt.progress_s > 0) {
    auto next = t0;
    uint64_t last_resources = 0;
    while (running.load() > 0) {
      next += std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(opt.progress_s));
      while (running.load() > 0 && Clock::now() < next) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      if (running.load() == 0) break;
      const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
      const uint64_t r = totals.resources.load();
      fmt::print(stderr,
                 "tenant_gen: {:7.1f} s  resources {}  ({:.0f}/s overall, {:.0f}/s last "
                 "{:.0f} s)  bundles {}  errors {}\n",
                 elapsed, r, r / elapsed, (r - last_resources) / opt.progress_s, opt.progress_s,
                 totals.bundles.load(), totals.errors.load());
      last_resources = r;
    }
  }
  for (auto& w : workers) w.join();
  if (totals.errors.load() >= opt.max_errors) {
    fmt::print(stderr, "tenant_gen: stopped after {} failed bundles (--max-errors)\n",
               totals.errors.load());
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();

  if (!opt.sample_out.empty()) WriteSample(opt, totals, opt.sample_out);
  const uint64_t resources = totals.resources.load();
  fmt::print(
      "tenant_gen: done resources={} patients={} bundles={} errors={} seconds={:.2f} "
      "resources_per_s={:.0f} bundle_p50_ms={:.2f} bundle_p99_ms={:.2f} bundle_max_ms={:.2f} "
      "raw_json_bytes={} concurrency={} seed={}\n",
      resources, totals.patients.load(), totals.bundles.load(), totals.errors.load(), seconds,
      seconds > 0 ? resources / seconds : 0.0, totals.latency.Quantile(0.5) / 1e6,
      totals.latency.Quantile(0.99) / 1e6, totals.latency.max() / 1e6, totals.raw_json_bytes.load(),
      opt.concurrency, opt.seed);
  return totals.errors.load() == 0 && resources > 0 ? 0 : 1;
}

}  // namespace
}  // namespace hygie::bench

int main(int argc, char** argv) { return hygie::bench::Main(argc, argv); }
