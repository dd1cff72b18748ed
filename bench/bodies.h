#pragma once
// Sample FHIR R4 bodies for the benchmarks: a French Patient (INS-NIR identifier, names,
// addresses, telecom, extensions) and an Observation (LOINC code, valueQuantity, components,
// referenceRange, note), each about 2 KiB, as templates with two slots:
//   $ID$      replaced by `"id":"<id>",` for an update, or by nothing for a create;
//   $UNIQUE$  replaced by a per-request unique value (a valid 15-digit NIR for the Patient,
//             a laboratory accession number for the Observation), so no two bodies are equal.
// Every name, number and address here is invented.
//
// Thread-safety: BodyTemplate is immutable after construction; Render() is const and may run
// on many threads at once with distinct outputs.

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hygie::bench {

inline constexpr std::string_view kPatientTemplate =
    R"json({"resourceType":"Patient",$ID$)json"
    R"json("meta":{"profile":["https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient"]},)json"
    R"json("extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthPlace",)json"
    R"json("valueAddress":{"city":"Villeurbanne","postalCode":"69100","country":"FRA"}},)json"
    R"json({"url":"https://hl7.fr/ig/fhir/core/StructureDefinition/)json"
    R"json(fr-core-patient-birth-list-given-name","valueString":"Camille Marie Louise"},)json"
    R"json({"url":"http://hl7.org/fhir/StructureDefinition/patient-nationality","extension":)json"
    R"json([{"url":"code","valueCodeableConcept":{"coding":[{"system":"urn:iso:std:iso:3166",)json"
    R"json("code":"FRA","display":"France"}]}}]}],)json"
    R"json("identifier":[{"use":"official","type":{"coding":[{"system":)json"
    R"json("https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203","code":"INS-NIR",)json"
    R"json("display":"NIR définitif"}]},"system":"urn:oid:1.2.250.1.213.1.4.8",)json"
    R"json("value":"$UNIQUE$"},{"use":"usual","type":{"coding":[{"system":)json"
    R"json("http://terminology.hl7.org/CodeSystem/v2-0203","code":"PI"}]},)json"
    R"json("system":"urn:oid:1.2.250.1.71.4.2.7.1.999","value":"IPP-0042-7731"}],)json"
    R"json("active":true,)json"
    R"json("name":[{"use":"official","family":"Lefèvre","given":["Camille","Marie","Louise"]},)json"
    R"json({"use":"maiden","family":"Dubois-Garnier","given":["Camille"]}],)json"
    R"json("telecom":[{"system":"phone","value":"+33 6 12 34 56 78","use":"mobile"},)json"
    R"json({"system":"phone","value":"+33 4 72 10 20 30","use":"home"},)json"
    R"json({"system":"email","value":"camille.lefevre@exemple.fr","use":"home"}],)json"
    R"json("gender":"female","birthDate":"1984-03-17",)json"
    R"json("address":[{"use":"home","type":"physical",)json"
    R"json("line":["12 rue de la République","Bâtiment B, 3e étage"],"city":"Lyon",)json"
    R"json("district":"Rhône","postalCode":"69002","country":"FRA",)json"
    R"json("extension":[{"url":"http://hl7.org/fhir/StructureDefinition/geolocation",)json"
    R"json("extension":[{"url":"latitude","valueDecimal":45.7603},)json"
    R"json({"url":"longitude","valueDecimal":4.8357}]}]},)json"
    R"json({"use":"old","line":["5 allée des Tilleuls"],"city":"Marseille",)json"
    R"json("postalCode":"13008","country":"FRA","period":{"end":"2019-06-30"}}],)json"
    R"json("maritalStatus":{"coding":[{"system":)json"
    R"json("http://terminology.hl7.org/CodeSystem/v3-MaritalStatus","code":"M",)json"
    R"json("display":"Married"}]},)json"
    R"json("contact":[{"relationship":[{"coding":[{"system":)json"
    R"json("http://terminology.hl7.org/CodeSystem/v2-0131","code":"N",)json"
    R"json("display":"Next-of-Kin"}]}],"name":{"family":"Lefèvre","given":["Julien"]},)json"
    R"json("telecom":[{"system":"phone","value":"+33 6 98 76 54 32","use":"mobile"}]}],)json"
    R"json("communication":[{"language":{"coding":[{"system":"urn:ietf:bcp:47",)json"
    R"json("code":"fr-FR","display":"Français (France)"}]},"preferred":true}],)json"
    R"json("generalPractitioner":[{"identifier":{"system":"urn:oid:1.2.250.1.71.4.2.1",)json"
    R"json("value":"810001234567"},"display":"Dr Antoine Moreau"}]})json";

inline constexpr std::string_view kObservationTemplate =
    R"json({"resourceType":"Observation",$ID$)json"
    R"json("meta":{"profile":["http://hl7.org/fhir/StructureDefinition/oxygensat"]},)json"
    R"json("identifier":[{"use":"official","system":)json"
    R"json("https://labo.chu-exemple.fr/fhir/sid/accession","value":"OBS-$UNIQUE$"}],)json"
    R"json("status":"final",)json"
    R"json("category":[{"coding":[{"system":)json"
    R"json("http://terminology.hl7.org/CodeSystem/observation-category",)json"
    R"json("code":"vital-signs","display":"Vital Signs"}],"text":"Signes vitaux"}],)json"
    R"json("code":{"coding":[{"system":"http://loinc.org","code":"59408-5",)json"
    R"json("display":"Oxygen saturation in Arterial blood by Pulse oximetry"},)json"
    R"json({"system":"http://loinc.org","code":"2708-6",)json"
    R"json("display":"Oxygen saturation in Arterial blood"}],)json"
    R"json("text":"Saturation en oxygène (oxymétrie de pouls)"},)json"
    R"json("subject":{"identifier":{"system":"urn:oid:1.2.250.1.213.1.4.8",)json"
    R"json("value":"284036912345617"},"display":"Camille Lefèvre"},)json"
    R"json("effectiveDateTime":"2024-05-14T09:30:00+02:00",)json"
    R"json("issued":"2024-05-14T09:31:12.250+02:00",)json"
    R"json("performer":[{"identifier":{"system":"urn:oid:1.2.250.1.71.4.2.1",)json"
    R"json("value":"810009876543"},"display":"Dr Claire Bernard"}],)json"
    R"json("valueQuantity":{"value":97,"unit":"%","system":"http://unitsofmeasure.org",)json"
    R"json("code":"%"},)json"
    R"json("interpretation":[{"coding":[{"system":)json"
    R"json("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",)json"
    R"json("code":"N","display":"Normal"}]}],)json"
    R"json("note":[{"authorString":"Infirmière de coordination",)json"
    R"json("time":"2024-05-14T09:32:00+02:00",)json"
    R"json("text":"Mesure réalisée au repos, patiente assise, sous oxygène 2 L/min)json"
    R"json( par lunettes nasales. Contrôle à refaire après sevrage."}],)json"
    R"json("bodySite":{"coding":[{"system":"http://snomed.info/sct","code":"7569003",)json"
    R"json("display":"Finger structure"}],"text":"Index gauche"},)json"
    R"json("method":{"text":"Oxymètre de pouls transcutané"},)json"
    R"json("device":{"display":"Oxymètre de pouls modèle OX-200, n° de série 4471-22"},)json"
    R"json("referenceRange":[{"low":{"value":95,"unit":"%","system":)json"
    R"json("http://unitsofmeasure.org","code":"%"},"high":{"value":100,"unit":"%",)json"
    R"json("system":"http://unitsofmeasure.org","code":"%"},)json"
    R"json("type":{"coding":[{"system":)json"
    R"json("http://terminology.hl7.org/CodeSystem/referencerange-meaning",)json"
    R"json("code":"normal","display":"Normal Range"}]},"text":"Adulte, air ambiant"}],)json"
    R"json("component":[{"code":{"coding":[{"system":"http://loinc.org","code":"3151-8",)json"
    R"json("display":"Inhaled oxygen flow rate"}],"text":"Débit d'oxygène"},)json"
    R"json("valueQuantity":{"value":2,"unit":"L/min","system":"http://unitsofmeasure.org",)json"
    R"json("code":"L/min"}},)json"
    R"json({"code":{"coding":[{"system":"http://loinc.org","code":"3150-0",)json"
    R"json("display":"Inhaled oxygen concentration"}],"text":"FiO2"},)json"
    R"json("valueQuantity":{"value":28,"unit":"%","system":"http://unitsofmeasure.org",)json"
    R"json("code":"%"}}]})json";

// A template split at its slots once; Render() then only appends.
class BodyTemplate {
 public:
  explicit BodyTemplate(std::string_view text) {
    static constexpr std::string_view kId = "$ID$";
    static constexpr std::string_view kUnique = "$UNIQUE$";
    while (!text.empty()) {
      const size_t id_at = text.find(kId);
      const size_t unique_at = text.find(kUnique);
      const size_t at = std::min(id_at, unique_at);
      parts_.push_back({std::string(text.substr(0, at)), Slot::kNone});
      if (at == std::string_view::npos) break;
      const bool is_id = at == id_at;
      parts_.back().slot = is_id ? Slot::kId : Slot::kUnique;
      text.remove_prefix(at + (is_id ? kId.size() : kUnique.size()));
    }
  }

  // Writes the body into *out (cleared first; its capacity is reused). An empty id leaves
  // the `id` element out.
  void Render(std::string_view id, std::string_view unique, std::string* out) const {
    out->clear();
    for (const Part& part : parts_) {
      out->append(part.literal);
      switch (part.slot) {
        case Slot::kNone:
          break;
        case Slot::kId:
          if (!id.empty()) {
            out->append(R"("id":")");
            out->append(id);
            out->append(R"(",)");
          }
          break;
        case Slot::kUnique:
          out->append(unique);
          break;
      }
    }
  }

 private:
  enum class Slot { kNone, kId, kUnique };
  struct Part {
    std::string literal;
    Slot slot;
  };
  std::vector<Part> parts_;
};

// A valid-looking 15-digit NIR (sex, year, month, department, commune, order, then the
// 97-complement key) that differs for every `n` modulo 10^8: department, commune and order
// (the last 8 of the first 13 digits) come from n. Writes exactly 15 characters to out[0..14].
inline void FormatNir(uint64_t n, char* out) {
  // A woman born in March 1984, then 8 digits of n.
  uint64_t body = 2840300000000ull + n % 100000000ull;  // 13 digits
  const uint64_t key = 97 - body % 97;
  for (int i = 12; i >= 0; --i) {
    out[i] = static_cast<char>('0' + body % 10);
    body /= 10;
  }
  out[13] = static_cast<char>('0' + key / 10);
  out[14] = static_cast<char>('0' + key % 10);
}

}  // namespace hygie::bench
