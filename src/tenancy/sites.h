#pragma once
// Sites: the physical places where the host keeps health data (its data directory, replicas,
// backups), with the facts the HDS rules ask for: country, operator, HDS certificate number and
// how long that certificate is valid. HDS EXI 28 allows health data to be stored only inside the
// European Economic Area, so every place Hygie writes health data to is a registered site, and
// a target outside the EEA is refused (CheckBackupSite).
//
// The registry lives in DATA/sites.json (mode 0600), written through Env::WriteFileAtomic:
//
//   {"sites": [{"name": "paris-1", "country": "FR", "operator": "...",
//               "hds_certificate": "...", "hds_valid_until": "2027-06-30",
//               "holds_data": true}, ...]}
//
// sorted by name. At most one site holds the data directory (`holds_data`); that site must be
// in the EEA. A site outside the EEA may be registered (it is a fact worth recording, e.g. a
// remote-access location for the transfer register) but never receives health data.
//
// Thread-safety: the file functions read and write the file; callers serialize writers.
// Everything else is stateless.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/env.h"
#include "core/status.h"

namespace hygie::tenancy {

struct Site {
  std::string name;             // [a-z0-9-]{2,63}
  std::string country;          // ISO 3166-1 alpha-2, upper case, an assigned code ("FR")
  std::string operator_name;    // who runs the site: 1 to 200 printable UTF-8 characters
  std::string hds_certificate;  // HDS certificate number: 1 to 100 printable UTF-8 characters
  std::string hds_valid_until;  // last day the certificate is valid, "YYYY-MM-DD"
  bool holds_data = false;      // this site holds the data directory

  bool operator==(const Site&) const = default;
};

// [a-z0-9-]{2,63}.
bool IsValidSiteName(std::string_view name);
// An assigned ISO 3166-1 alpha-2 code, upper case (the 249 codes of ISO 3166-1:2020 as
// maintained; exceptionally reserved codes such as "UK" or "EL" are not assigned codes).
bool IsCountryCode(std::string_view code);
// Inside the European Economic Area: the 27 EU member states, Iceland, Liechtenstein and
// Norway, and the parts of member states that ISO 3166-1 codes separately but that are in the
// EU: Åland (AX), French Guiana (GF), Guadeloupe (GP), Martinique (MQ), Mayotte (YT), Réunion
// (RE) and Saint-Martin (MF). Not in it: Greenland, the Faroe Islands, Svalbard, the overseas
// countries and territories (e.g. New Caledonia, French Polynesia), Switzerland, the UK.
bool IsEea(std::string_view country);
// "YYYY-MM-DD", a real date of the Gregorian calendar, year 0001 to 9999.
bool IsValidDate(std::string_view date);
// The UTC date of a time (microseconds since the epoch), "YYYY-MM-DD".
std::string UtcDate(int64_t micros);

// kInvalidArgument naming the first malformed field and what it should be.
Status ValidateSite(const Site& site);

// DATA/sites.json
std::string SitesPath(const std::string& data_dir);
// The file's text for these sites, in this order ({"sites": [...]}, pretty-printed); also what
// `hygie site list --json` prints.
std::string SitesToJson(const std::vector<Site>& sites);
// Every site, sorted by name; empty when the file does not exist. kDataLoss when the file is
// damaged (not JSON, a member out of shape or unknown, an invalid site, two sites of one name,
// two sites holding the data).
Result<std::vector<Site>> LoadSites(const std::string& data_dir, Env& env = Env::Default());
// Registers a site. kInvalidArgument when it does not validate; kAlreadyExists when a site has
// that name; kFailedPrecondition when it holds the data and another site already does, or when
// it holds the data and is outside the EEA. On failure the file is unchanged.
Status AddSite(const std::string& data_dir, const Site& site, Env& env = Env::Default());
// kNotFound when no site has that name. On failure the file is unchanged.
Status RemoveSite(const std::string& data_dir, std::string_view name, Env& env = Env::Default());

// The site that holds the data directory; kFailedPrecondition, saying how to declare one, when
// none does.
Result<Site> DataSite(const std::vector<Site>& sites);

// Ok when site `name` may receive a backup of the data on `today` ("YYYY-MM-DD", UTC; see
// UtcDate): it is registered (else kNotFound), in the EEA, not the site holding the data, a
// data site is declared, and its HDS certificate is valid on `today` (the valid-until day
// included). Otherwise kFailedPrecondition saying which rule refuses it.
Status CheckBackupSite(const std::vector<Site>& sites, std::string_view name,
                       std::string_view today);

}  // namespace hygie::tenancy
