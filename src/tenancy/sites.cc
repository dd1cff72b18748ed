#include "tenancy/sites.h"

#include <rapidjson/document.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <optional>
#include <unordered_set>
#include <utility>

namespace hygie::tenancy {
namespace {

constexpr size_t kMaxOperatorLength = 200;     // characters (code points)
constexpr size_t kMaxCertificateLength = 100;  // characters (code points)
constexpr size_t kMaxSites = 1000;
constexpr uint64_t kMaxFileBytes = 4u << 20;

// ISO 3166-1 alpha-2: every officially assigned code (249), sorted.
constexpr std::array<std::string_view, 249> kCountryCodes = {
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
};

// The EEA (see IsEea), sorted.
constexpr std::array<std::string_view, 37> kEeaCodes = {
    "AT", "AX", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GF",
    "GP", "GR", "HR", "HU", "IE", "IS", "IT", "LI", "LT", "LU", "LV", "MF", "MQ",
    "MT", "NL", "NO", "PL", "PT", "RE", "RO", "SE", "SI", "SK", "YT",
};

static_assert(std::is_sorted(kCountryCodes.begin(), kCountryCodes.end()));
static_assert(std::is_sorted(kEeaCodes.begin(), kEeaCodes.end()));

// Codes people write that ISO 3166-1 reserves but does not assign, with the one meant.
constexpr std::pair<std::string_view, std::string_view> kReservedHints[] = {
    {"UK", "GB"}, {"EL", "GR"}, {"EU", ""}, {"FX", "FR"}};

template <size_t N>
bool InSorted(const std::array<std::string_view, N>& table, std::string_view code) {
  return std::binary_search(table.begin(), table.end(), code);
}

// Decodes one UTF-8 sequence at `text[*at]`; nullopt when it is not well-formed (overlong
// forms, surrogates and code points past U+10FFFF are not).
std::optional<char32_t> NextCodePoint(std::string_view text, size_t* at) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char b0 = byte(*at);
  size_t length = 0;
  char32_t cp = 0;
  char32_t min = 0;
  if (b0 < 0x80) {
    ++*at;
    return b0;
  } else if ((b0 & 0xE0) == 0xC0) {
    length = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    length = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    length = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return std::nullopt;
  }
  if (*at + length > text.size()) return std::nullopt;
  for (size_t i = 1; i < length; ++i) {
    const unsigned char b = byte(*at + i);
    if ((b & 0xC0) != 0x80) return std::nullopt;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;
  *at += length;
  return cp;
}

// Characters that do not print, or that change how the text around them prints: C0 and C1
// controls, DEL, line and paragraph separators, bidirectional controls, the byte order mark.
bool IsPrintable(char32_t cp) {
  if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) return false;
  if (cp == 0x2028 || cp == 0x2029 || cp == 0xFEFF) return false;
  if ((cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069)) return false;
  if (cp == 0x200E || cp == 0x200F || cp == 0x061C) return false;
  return true;
}

Status ValidateText(std::string_view what, std::string_view text, size_t max_chars) {
  const std::string rule = std::string(what) + " must be 1 to " + std::to_string(max_chars) +
                           " printable characters (UTF-8)";
  size_t chars = 0;
  bool visible = false;
  for (size_t at = 0; at < text.size();) {
    const std::optional<char32_t> cp = NextCodePoint(text, &at);
    if (!cp) return InvalidArgument(std::string(what) + " is not valid UTF-8");
    if (!IsPrintable(*cp)) {
      return InvalidArgument(std::string(what) + " holds a control character; " + rule);
    }
    if (*cp != ' ') visible = true;
    if (++chars > max_chars) return InvalidArgument(std::string(what) + " is too long; " + rule);
  }
  if (!visible) return InvalidArgument(std::string(what) + " is empty; " + rule);
  return Status::Ok();
}

// A short, printable rendering of user input for a message.
std::string Quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text.substr(0, 64)) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7F && c != '"' && c != '\\') {
      out += c;
    } else {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "\\x%02x", u);
      out += hex;
    }
  }
  if (text.size() > 64) out += "...";
  return out + "\"";
}

Status ValidateCountry(std::string_view country) {
  const std::string rule =
      "the country must be an ISO 3166-1 alpha-2 code in upper case, e.g. FR, DE";
  if (country.size() == 2 &&
      std::all_of(country.begin(), country.end(), [](char c) { return c >= 'a' && c <= 'z'; })) {
    std::string upper(country);
    for (char& c : upper) c = static_cast<char>(c - 'a' + 'A');
    return InvalidArgument("country " + Quoted(country) + " must be in upper case (" + upper +
                           "); " + rule);
  }
  if (country.size() != 2 ||
      !std::all_of(country.begin(), country.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
    return InvalidArgument("country " + Quoted(country) + " is not two letters; " + rule);
  }
  if (!InSorted(kCountryCodes, country)) {
    for (const auto& [reserved, meant] : kReservedHints) {
      if (country != reserved) continue;
      return InvalidArgument("country " + std::string(country) +
                             " is reserved, not an assigned ISO 3166-1 code" +
                             (meant.empty() ? std::string() : "; use " + std::string(meant)));
    }
    return InvalidArgument("country " + std::string(country) +
                           " is not an assigned ISO 3166-1 alpha-2 code; " + rule);
  }
  return Status::Ok();
}

std::string_view StringOf(const rapidjson::Value& v) {
  return {v.GetString(), v.GetStringLength()};
}

std::string DamagedMessage(const std::string& path, std::string_view why) {
  return path + " is damaged (" + std::string(why) + "); restore it from a backup or fix it";
}

Result<Site> SiteFromJson(const std::string& path, const rapidjson::Value& v) {
  if (!v.IsObject()) return DataLoss(DamagedMessage(path, "a site is not an object"));
  Site site;
  struct Field {
    const char* name;
    std::string* out;
  };
  const Field fields[] = {{"name", &site.name},
                          {"country", &site.country},
                          {"operator", &site.operator_name},
                          {"hds_certificate", &site.hds_certificate},
                          {"hds_valid_until", &site.hds_valid_until}};
  std::unordered_set<std::string_view> seen;
  for (const auto& m : v.GetObject()) {
    const std::string_view name = StringOf(m.name);
    if (!seen.insert(name).second) {
      return DataLoss(DamagedMessage(path, "a member appears twice in a site"));
    }
    bool known = false;
    for (const Field& f : fields) {
      if (name != f.name) continue;
      if (!m.value.IsString()) {
        return DataLoss(DamagedMessage(path, "\"" + std::string(name) + "\" is not a string"));
      }
      *f.out = std::string(StringOf(m.value));
      known = true;
    }
    if (name == "holds_data") {
      if (!m.value.IsBool()) return DataLoss(DamagedMessage(path, "\"holds_data\" is not a bool"));
      site.holds_data = m.value.GetBool();
      known = true;
    }
    if (!known) return DataLoss(DamagedMessage(path, "unknown member in a site"));
  }
  for (const Field& f : fields) {
    if (!seen.contains(f.name)) {
      return DataLoss(DamagedMessage(path, "a site lacks \"" + std::string(f.name) + "\""));
    }
  }
  if (Status valid = ValidateSite(site); !valid.ok()) {
    return DataLoss(DamagedMessage(path, valid.message()));
  }
  return site;
}

Status WriteSites(const std::string& data_dir, std::vector<Site> sites, Env& env) {
  std::sort(sites.begin(), sites.end(),
            [](const Site& a, const Site& b) { return a.name < b.name; });
  return env.WriteFileAtomic(SitesPath(data_dir), SitesToJson(sites), 0600);
}

}  // namespace

bool IsValidSiteName(std::string_view name) {
  return name.size() >= 2 && name.size() <= 63 && std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
         });
}

bool IsCountryCode(std::string_view code) { return InSorted(kCountryCodes, code); }

bool IsEea(std::string_view country) { return InSorted(kEeaCodes, country); }

bool IsValidDate(std::string_view date) {
  if (date.size() != 10 || date[4] != '-' || date[7] != '-') return false;
  int parts[3] = {0, 0, 0};
  const size_t starts[3] = {0, 5, 8};
  const size_t lengths[3] = {4, 2, 2};
  for (int p = 0; p < 3; ++p) {
    for (size_t i = 0; i < lengths[p]; ++i) {
      const char c = date[starts[p] + i];
      if (c < '0' || c > '9') return false;
      parts[p] = parts[p] * 10 + (c - '0');
    }
  }
  if (parts[0] < 1) return false;
  const std::chrono::year_month_day ymd{std::chrono::year(parts[0]),
                                        std::chrono::month(static_cast<unsigned>(parts[1])),
                                        std::chrono::day(static_cast<unsigned>(parts[2]))};
  return ymd.ok();
}

std::string UtcDate(int64_t micros) {
  const std::chrono::sys_days days = std::chrono::floor<std::chrono::days>(
      std::chrono::sys_time<std::chrono::microseconds>(std::chrono::microseconds(micros)));
  const std::chrono::year_month_day ymd(days);
  char out[16];
  std::snprintf(out, sizeof(out), "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return out;
}

Status ValidateSite(const Site& site) {
  if (!IsValidSiteName(site.name)) {
    return InvalidArgument("site name " + Quoted(site.name) +
                           " must be 2 to 63 characters among a-z, 0-9 and '-'");
  }
  HYGIE_RETURN_IF_ERROR(ValidateCountry(site.country));
  HYGIE_RETURN_IF_ERROR(ValidateText("the operator", site.operator_name, kMaxOperatorLength));
  HYGIE_RETURN_IF_ERROR(
      ValidateText("the HDS certificate number", site.hds_certificate, kMaxCertificateLength));
  if (!IsValidDate(site.hds_valid_until)) {
    return InvalidArgument("the HDS certificate's valid-until date " +
                           Quoted(site.hds_valid_until) +
                           " is not a real date written YYYY-MM-DD, e.g. 2027-06-30");
  }
  return Status::Ok();
}

std::string SitesPath(const std::string& data_dir) { return data_dir + "/sites.json"; }

std::string SitesToJson(const std::vector<Site>& sites) {
  rapidjson::Document doc(rapidjson::kObjectType);
  auto& a = doc.GetAllocator();
  rapidjson::Value list(rapidjson::kArrayType);
  for (const Site& s : sites) {
    rapidjson::Value v(rapidjson::kObjectType);
    v.AddMember("name", rapidjson::Value(s.name.c_str(), a), a);
    v.AddMember("country", rapidjson::Value(s.country.c_str(), a), a);
    v.AddMember("operator", rapidjson::Value(s.operator_name.c_str(), a), a);
    v.AddMember("hds_certificate", rapidjson::Value(s.hds_certificate.c_str(), a), a);
    v.AddMember("hds_valid_until", rapidjson::Value(s.hds_valid_until.c_str(), a), a);
    v.AddMember("holds_data", s.holds_data, a);
    list.PushBack(v, a);
  }
  doc.AddMember("sites", list, a);
  rapidjson::StringBuffer buf;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
  doc.Accept(w);
  return std::string(buf.GetString(), buf.GetSize()) + "\n";
}

Result<std::vector<Site>> LoadSites(const std::string& data_dir, Env& env) {
  const std::string path = SitesPath(data_dir);
  Result<std::string> text = env.ReadFile(path, kMaxFileBytes);
  if (!text.ok()) {
    if (text.status().code() == Code::kNotFound) return std::vector<Site>{};
    if (text.status().code() == Code::kResourceExhausted) {
      return DataLoss(DamagedMessage(path, "larger than 4 MiB"));
    }
    return text.status();
  }
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(text->data(), text->size());
  if (doc.HasParseError()) return DataLoss(DamagedMessage(path, "not JSON"));
  if (!doc.IsObject() || doc.MemberCount() != 1 || !doc.HasMember("sites") ||
      !doc["sites"].IsArray()) {
    return DataLoss(DamagedMessage(path, "expected {\"sites\": [...]}"));
  }
  std::vector<Site> sites;
  std::unordered_set<std::string> names;
  int holding_data = 0;
  for (const auto& entry : doc["sites"].GetArray()) {
    HYGIE_ASSIGN_OR_RETURN(Site site, SiteFromJson(path, entry));
    if (!names.insert(site.name).second) {
      return DataLoss(DamagedMessage(path, "two sites are named " + site.name));
    }
    if (site.holds_data) ++holding_data;
    sites.push_back(std::move(site));
  }
  if (holding_data > 1) return DataLoss(DamagedMessage(path, "two sites hold the data"));
  std::sort(sites.begin(), sites.end(),
            [](const Site& a, const Site& b) { return a.name < b.name; });
  return sites;
}

Status AddSite(const std::string& data_dir, const Site& site, Env& env) {
  HYGIE_RETURN_IF_ERROR(ValidateSite(site));
  // Loading validates every existing entry: a damaged file is never rewritten.
  HYGIE_ASSIGN_OR_RETURN(std::vector<Site> sites, LoadSites(data_dir, env));
  for (const Site& s : sites) {
    if (s.name == site.name) return AlreadyExists("a site named " + site.name + " exists");
  }
  if (site.holds_data) {
    if (!IsEea(site.country)) {
      return FailedPrecondition("site " + site.name + " is in " + site.country +
                                ", outside the European Economic Area: it cannot hold the "
                                "data directory (HDS EXI 28)");
    }
    for (const Site& s : sites) {
      if (s.holds_data) {
        return FailedPrecondition("site " + s.name +
                                  " already holds the data directory; at most one site does "
                                  "(remove it first to declare another)");
      }
    }
  }
  if (sites.size() >= kMaxSites) {
    return ResourceExhausted("at most " + std::to_string(kMaxSites) + " sites");
  }
  sites.push_back(site);
  return WriteSites(data_dir, std::move(sites), env);
}

Status RemoveSite(const std::string& data_dir, std::string_view name, Env& env) {
  HYGIE_ASSIGN_OR_RETURN(std::vector<Site> sites, LoadSites(data_dir, env));
  const size_t before = sites.size();
  std::erase_if(sites, [&](const Site& s) { return s.name == name; });
  if (sites.size() == before) return NotFound("no site is named " + Quoted(name));
  return WriteSites(data_dir, std::move(sites), env);
}

Result<Site> DataSite(const std::vector<Site>& sites) {
  for (const Site& s : sites) {
    if (s.holds_data) return s;
  }
  return FailedPrecondition(
      "no site is declared as holding the data directory; declare it with `hygie site add NAME "
      "--data DIR --data-site --country CC --operator ... --hds-cert ... --hds-valid-until "
      "YYYY-MM-DD`");
}

Status CheckBackupSite(const std::vector<Site>& sites, std::string_view name,
                       std::string_view today) {
  if (!IsValidDate(today)) return InvalidArgument("today must be a date YYYY-MM-DD");
  const auto it =
      std::find_if(sites.begin(), sites.end(), [&](const Site& s) { return s.name == name; });
  if (it == sites.end()) {
    return NotFound("no site is named " + Quoted(name) +
                    "; register it first with `hygie site add`");
  }
  const Site& site = *it;
  if (!IsEea(site.country)) {
    return FailedPrecondition("site " + site.name + " is in " + site.country +
                              ", outside the European Economic Area: health data may not be "
                              "stored or backed up there (HDS EXI 28)");
  }
  if (site.holds_data) {
    return FailedPrecondition("site " + site.name +
                              " holds the data directory: a backup must be on a site distinct "
                              "from the data's");
  }
  HYGIE_ASSIGN_OR_RETURN(Site data_site, DataSite(sites));
  (void)data_site;
  // Both are YYYY-MM-DD: their order as text is their order as dates.
  if (site.hds_valid_until < today) {
    return FailedPrecondition(
        "the HDS certificate " + site.hds_certificate + " of site " + site.name +
        " was valid until " + site.hds_valid_until +
        ": it has expired, and a backup must go to an HDS-certified site; record its renewed "
        "certificate (remove and add the site again)");
  }
  return Status::Ok();
}

}  // namespace hygie::tenancy
