// search_load: latency of FHIR searches on a tenant loaded by tenant_gen.
//
// For each kind of search, builds --queries targets (after --warmup unmeasured ones) from the
// values tenant_gen wrote to its --sample-out file, runs them at --concurrency connections, one
// query in flight each, and prints per kind: queries, p50/p90/p99/max latency, queries/s, and
// the mean number of matches and of included resources per page. The kinds:
//   token       Observation?code=http://loinc.org|CODE&_count=50&_include=Observation:subject
//   reference   Observation?subject=Patient/ID&_count=50&_include=Observation:encounter
//   date        Observation?date=geYYYY-MM-01&date=ltNEXT-MONTH-01&_count=50
//               &_include=Observation:subject
//   string      Patient?family=PREFIX&_count=50&_include=Patient:general-practitioner
//               (PREFIX: the first three letters of a family name used)
//   identifier
//   Patient?identifier=urn:oid:1.2.250.1.213.1.4.8|NIR&_include=Patient:general-practitioner
// Only the first page is read. Latency runs from just before the request is written to the end
// of the response; checking the body (a searchset Bundle, at most _count matches) is not timed.
//
// Exit code: 0 when every answer was a 200 searchset Bundle with at most _count matches, 1
// otherwise, 2 on a usage error.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <rapidjson/document.h>
#include <CLI/CLI.hpp>

#include "histogram.h"
#include "http_client.h"

namespace hygie::bench {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::string_view kNirSystem = "urn:oid:1.2.250.1.213.1.4.8";
constexpr int kMaxErrorBodies = 5;

struct Options {
  std::string url = "http://127.0.0.1:8080";
  std::string tenant = "bench";
  std::string token;
  std::string token_file;
  std::string sample;
  std::vector<std::string> kinds = {"token", "reference", "date", "string"};
  int queries = 1000;
  int warmup = 20;
  int concurrency = 8;
  int count = 50;
  uint64_t seed = 1;
  double timeout_s = 30;
  uint64_t max_errors = 50;
  bool json = false;
  bool print_queries = false;
};

// What tenant_gen's --sample-out holds that the queries need.
struct Sample {
  std::vector<std::string> loinc_codes;  // with at least one observation
  std::vector<std::string> families;
  std::vector<std::string> patient_ids;  // server ids of sampled patients
  std::vector<std::string> nirs;
  int first_year = 0, first_month = 0, last_year = 0, last_month = 0;
};

std::optional<Sample> LoadSample(const std::string& path, std::string* error) {
  std::ifstream in(path);
  std::stringstream content;
  content << in.rdbuf();
  if (!in) {
    *error = "cannot read --sample " + path;
    return std::nullopt;
  }
  const std::string text = content.str();
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    *error = "--sample is not a JSON object (write it with tenant_gen --sample-out)";
    return std::nullopt;
  }
  Sample s;
  auto string_of = [](const rapidjson::Value& v, const char* key) -> std::string {
    if (!v.IsObject()) return {};
    const auto it = v.FindMember(key);
    return it != v.MemberEnd() && it->value.IsString()
               ? std::string(it->value.GetString(), it->value.GetStringLength())
               : std::string();
  };
  auto array_of = [&doc](const char* key) -> const rapidjson::Value* {
    const auto it = doc.FindMember(key);
    return it != doc.MemberEnd() && it->value.IsArray() ? &it->value : nullptr;
  };
  if (const auto* codes = array_of("observation_codes")) {
    for (const auto& c : codes->GetArray()) {
      const auto count = c.IsObject() ? c.FindMember("count") : c.MemberEnd();
      if (count != c.MemberEnd() && count->value.IsUint64() && count->value.GetUint64() == 0) {
        continue;
      }
      if (std::string code = string_of(c, "code"); !code.empty()) s.loinc_codes.push_back(code);
    }
  }
  if (const auto* families = array_of("families")) {
    for (const auto& f : families->GetArray()) {
      if (f.IsString()) s.families.emplace_back(f.GetString(), f.GetStringLength());
    }
  }
  if (const auto* patients = array_of("sample_patients")) {
    for (const auto& p : patients->GetArray()) {
      if (std::string id = string_of(p, "id"); !id.empty()) s.patient_ids.push_back(id);
      if (std::string nir = string_of(p, "nir"); !nir.empty()) s.nirs.push_back(nir);
    }
  }
  const std::string first = string_of(doc, "date_first");
  const std::string last = string_of(doc, "date_last");
  if (first.size() < 7 || last.size() < 7 ||
      std::sscanf(first.c_str(), "%4d-%2d", &s.first_year, &s.first_month) != 2 ||
      std::sscanf(last.c_str(), "%4d-%2d", &s.last_year, &s.last_month) != 2) {
    *error = "--sample has no date_first/date_last";
    return std::nullopt;
  }
  return s;
}

// The first `n` characters (UTF-8 code points) of `s`.
std::string Utf8Prefix(std::string_view s, int n) {
  size_t end = 0;
  int seen = 0;
  while (end < s.size()) {
    if ((static_cast<unsigned char>(s[end]) & 0xC0) != 0x80 && seen++ == n) break;
    ++end;
  }
  return std::string(s.substr(0, end));
}

// Builds `n` query targets (path and query) of `kind`. Returns an empty list with *error set
// when the sample has nothing to build them from.
std::vector<std::string> BuildQueries(const std::string& kind, const Sample& s, const Options& opt,
                                      const std::string& base, int n, std::mt19937_64* rng,
                                      std::string* error) {
  std::vector<std::string> out;
  auto pick = [rng](const std::vector<std::string>& v) -> const std::string& {
    return v[(*rng)() % v.size()];
  };
  const std::string page = fmt::format("&_count={}", opt.count);
  if (kind == "token") {
    if (s.loinc_codes.empty()) *error = "the sample has no observation codes";
    for (int i = 0; error->empty() && i < n; ++i) {
      out.push_back(fmt::format("{}/Observation?code={}{}&_include=Observation:subject", base,
                                PercentEncode("http://loinc.org|" + pick(s.loinc_codes)), page));
    }
  } else if (kind == "reference") {
    if (s.patient_ids.empty()) {
      *error = "the sample has no patient ids (made by a dry run, or the load failed)";
    }
    for (int i = 0; error->empty() && i < n; ++i) {
      out.push_back(fmt::format("{}/Observation?subject={}{}&_include=Observation:encounter", base,
                                PercentEncode("Patient/" + pick(s.patient_ids)), page));
    }
  } else if (kind == "date") {
    const int first = s.first_year * 12 + s.first_month - 1;
    const int last = s.last_year * 12 + s.last_month - 1;
    if (last < first) *error = "the sample's date_last is before its date_first";
    for (int i = 0; error->empty() && i < n; ++i) {
      const int m = first + static_cast<int>((*rng)() % static_cast<uint64_t>(last - first + 1));
      out.push_back(
          fmt::format("{}/Observation?date=ge{:04}-{:02}-01&date=lt{:04}-{:02}-01{}"
                      "&_include=Observation:subject",
                      base, m / 12, m % 12 + 1, (m + 1) / 12, (m + 1) % 12 + 1, page));
    }
  } else if (kind == "string") {
    if (s.families.empty()) *error = "the sample has no family names";
    for (int i = 0; error->empty() && i < n; ++i) {
      out.push_back(fmt::format("{}/Patient?family={}{}&_include=Patient:general-practitioner",
                                base, PercentEncode(Utf8Prefix(pick(s.families), 3)), page));
    }
  } else if (kind == "identifier") {
    if (s.nirs.empty()) *error = "the sample has no patient identifiers";
    for (int i = 0; error->empty() && i < n; ++i) {
      out.push_back(fmt::format("{}/Patient?identifier={}{}&_include=Patient:general-practitioner",
                                base, PercentEncode(std::string(kNirSystem) + "|" + pick(s.nirs)),
                                page));
    }
  } else {
    *error = "unknown kind " + kind;
  }
  return error->empty() ? out : std::vector<std::string>{};
}

// What one kind's run added up.
struct KindStats {
  LatencyHistogram latency;
  uint64_t matches = 0;   // entries with search.mode "match" (or no mode), measured queries
  uint64_t included = 0;  // entries with search.mode "include"
  uint64_t bytes = 0;     // response bodies, measured queries
  uint64_t failed = 0;    // non-200, transport error, not a searchset, too many matches
  std::map<int, uint64_t> status;

  void Merge(const KindStats& o) {
    latency.Merge(o.latency);
    matches += o.matches;
    included += o.included;
    bytes += o.bytes;
    failed += o.failed;
    for (const auto& [code, n] : o.status) status[code] += n;
  }
};

// Checks a search answer; counts its matches and includes. Returns an error message or "".
std::string CheckPage(const std::string& body, int count, uint64_t* matches, uint64_t* included) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) return "the body is not a JSON object";
  const auto type = doc.FindMember("type");
  const auto rt = doc.FindMember("resourceType");
  if (rt == doc.MemberEnd() || !rt->value.IsString() ||
      std::string_view(rt->value.GetString()) != "Bundle" || type == doc.MemberEnd() ||
      !type->value.IsString() || std::string_view(type->value.GetString()) != "searchset") {
    return "the body is not a searchset Bundle";
  }
  uint64_t m = 0, inc = 0;
  const auto entries = doc.FindMember("entry");
  if (entries != doc.MemberEnd() && entries->value.IsArray()) {
    for (const auto& e : entries->value.GetArray()) {
      std::string_view mode = "match";
      if (e.IsObject()) {
        const auto search = e.FindMember("search");
        if (search != e.MemberEnd() && search->value.IsObject()) {
          const auto md = search->value.FindMember("mode");
          if (md != search->value.MemberEnd() && md->value.IsString()) {
            mode = md->value.GetString();
          }
        }
      }
      if (mode == "include") {
        ++inc;
      } else if (mode == "match") {
        ++m;
      }
    }
  }
  *matches += m;
  *included += inc;
  if (m > static_cast<uint64_t>(count)) {
    return fmt::format("{} matches on a page of _count={}", m, count);
  }
  return "";
}

KindStats RunKind(const Options& opt, const ServerTarget& target,
                  const std::vector<std::string>& queries, double* seconds,
                  std::atomic<int64_t>* errors_left, std::vector<std::string>* error_messages) {
  std::atomic<size_t> next{0};
  std::mutex mutex;
  KindStats total;
  Clock::time_point measured_start{};
  std::atomic<bool> start_set{false};
  Clock::time_point last_end{};
  const size_t warmup = static_cast<size_t>(std::min<int>(opt.warmup, queries.size()));
  auto worker = [&] {
    HttpClient client(target, std::chrono::duration_cast<Clock::duration>(
                                  std::chrono::duration<double>(opt.timeout_s)));
    HttpResponse response;
    KindStats mine;
    Clock::time_point my_end{};
    for (size_t i = next++; i < queries.size() && errors_left->load() > 0; i = next++) {
      const bool measured = i >= warmup;
      if (measured && !start_set.exchange(true)) {
        std::lock_guard<std::mutex> lock(mutex);
        measured_start = Clock::now();
      }
      const auto t0 = Clock::now();
      const bool answered = client.Send("GET", queries[i], "", "", &response);
      const auto t1 = Clock::now();
      std::string problem;
      uint64_t m = 0, inc = 0;
      if (!answered) {
        problem = response.error;
      } else {
        ++mine.status[response.status];
        problem = response.status == 200
                      ? CheckPage(response.body, opt.count, &m, &inc)
                      : fmt::format("HTTP {}: {}", response.status, response.body.substr(0, 2000));
      }
      if (!problem.empty()) {
        ++mine.failed;
        if (errors_left->fetch_sub(1) > 0) {
          std::lock_guard<std::mutex> lock(mutex);
          if (error_messages->size() < kMaxErrorBodies) {
            error_messages->push_back(fmt::format("{}: {}", queries[i], problem));
            fmt::print(stderr, "search_load: error: {}\n", error_messages->back());
          }
        }
        continue;
      }
      if (!measured) continue;
      mine.latency.Record(static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()));
      mine.matches += m;
      mine.included += inc;
      mine.bytes += response.body.size();
      my_end = t1;
    }
    std::lock_guard<std::mutex> lock(mutex);
    total.Merge(mine);
    last_end = std::max(last_end, my_end);
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < opt.concurrency; ++i) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  *seconds = start_set.load() && last_end > measured_start
                 ? std::chrono::duration<double>(last_end - measured_start).count()
                 : 0;
  return total;
}

int Main(int argc, char** argv) {
  Options opt;
  CLI::App app{"Latency of FHIR searches on a tenant loaded by tenant_gen", "search_load"};
  app.add_option("--url", opt.url, "Base URL, http://host:port[/prefix]")->capture_default_str();
  app.add_option("--tenant", opt.tenant, "Tenant in /fhir/{tenant}/")->capture_default_str();
  auto* token = app.add_option("--token", opt.token, "Bearer token (prefer --token-file)");
  app.add_option("--token-file", opt.token_file,
                 "File holding the bearer token (default: $HYGIE_TOKEN)")
      ->check(CLI::ExistingFile)
      ->excludes(token);
  app.add_option("--sample", opt.sample, "tenant_gen's --sample-out file")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--kinds", opt.kinds,
                 "Comma-separated: token, reference, date, string, identifier")
      ->delimiter(',')
      ->check(CLI::IsMember({"token", "reference", "date", "string", "identifier"}))
      ->capture_default_str();
  app.add_option("--queries,-n", opt.queries, "Measured queries per kind")
      ->check(CLI::Range(1, 100000000))
      ->capture_default_str();
  app.add_option("--warmup", opt.warmup, "Unmeasured queries per kind, first")
      ->check(CLI::Range(0, 100000000))
      ->capture_default_str();
  app.add_option("--concurrency,-c", opt.concurrency, "Connections, one query in flight each")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--count", opt.count, "_count of every query")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--seed", opt.seed, "Seed of the parameter choices")->capture_default_str();
  app.add_option("--timeout", opt.timeout_s, "Seconds before a query in flight fails")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--max-errors", opt.max_errors, "Stop after this many failed queries")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40))
      ->capture_default_str();
  app.add_flag("--json", opt.json, "Print the results as one JSON line");
  app.add_flag("--print-queries", opt.print_queries,
               "Print the queries that would be sent, send nothing");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  std::string error;
  const std::optional<Sample> sample = LoadSample(opt.sample, &error);
  if (!sample) {
    fmt::print(stderr, "search_load: {}\n", error);
    return 2;
  }
  std::optional<ServerTarget> target;
  std::string base = "/fhir/" + opt.tenant;
  if (!opt.print_queries) {
    target = ServerTarget::Make(opt.url, opt.tenant, opt.token, opt.token_file, "HYGIE_TOKEN",
                                "hygie-search-load/" HYGIE_VERSION, &error);
    if (!target) {
      fmt::print(stderr, "search_load: {}\n", error);
      return 2;
    }
    base = target->fhir_base;
  }

  std::mt19937_64 rng(opt.seed);
  std::vector<std::pair<std::string, std::vector<std::string>>> plans;
  for (const std::string& kind : opt.kinds) {
    std::vector<std::string> queries =
        BuildQueries(kind, *sample, opt, base, opt.warmup + opt.queries, &rng, &error);
    if (queries.empty()) {
      fmt::print(stderr, "search_load: {}: {}\n", kind, error);
      return 1;
    }
    plans.emplace_back(kind, std::move(queries));
  }
  if (opt.print_queries) {
    for (const auto& [kind, queries] : plans) {
      for (const std::string& q : queries) fmt::print("{} {}\n", kind, q);
    }
    return 0;
  }

  std::atomic<int64_t> errors_left{static_cast<int64_t>(opt.max_errors)};
  std::vector<std::string> error_messages;
  std::string json_kinds;
  uint64_t failed = 0;
  if (!opt.json) {
    fmt::print("search_load: {} tenant {}, {} connections, {} queries per kind (+{} warmup)\n",
               opt.url, opt.tenant, opt.concurrency, opt.queries, opt.warmup);
    fmt::print("  {:<10} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9} {:>8} {:>6}\n", "kind",
               "queries", "p50 ms", "p90 ms", "p99 ms", "max ms", "mean ms", "q/s", "matches",
               "included", "failed");
  }
  for (const auto& [kind, queries] : plans) {
    double seconds = 0;
    const KindStats s = RunKind(opt, *target, queries, &seconds, &errors_left, &error_messages);
    failed += s.failed;
    const uint64_t n = s.latency.count();
    const double per_page_m = n == 0 ? 0.0 : static_cast<double>(s.matches) / n;
    const double per_page_i = n == 0 ? 0.0 : static_cast<double>(s.included) / n;
    const double qps = seconds > 0 ? n / seconds : 0.0;
    std::string status;
    for (const auto& [code, count] : s.status) {
      status += fmt::format(R"({}"{}":{})", status.empty() ? "" : ",", code, count);
    }
    if (opt.json) {
      json_kinds += fmt::format(
          R"({}"{}":{{"queries":{},"qps":{:.1f},"p50_us":{:.1f},"p90_us":{:.1f},"p99_us":{:.1f},)"
          R"("max_us":{:.1f},"mean_us":{:.1f},"matches_per_page":{:.2f},)"
          R"("included_per_page":{:.2f},"bytes_per_page":{:.0f},"failed":{},"status":{{{}}}}})",
          json_kinds.empty() ? "" : ",", kind, n, qps, s.latency.Quantile(0.5) / 1e3,
          s.latency.Quantile(0.9) / 1e3, s.latency.Quantile(0.99) / 1e3, s.latency.max() / 1e3,
          s.latency.mean() / 1e3, per_page_m, per_page_i,
          n == 0 ? 0.0 : static_cast<double>(s.bytes) / n, s.failed, status);
    } else {
      fmt::print(
          "  {:<10} {:>7} {:>8.2f} {:>8.2f} {:>8.2f} {:>8.2f} {:>8.2f} {:>8.0f} {:>9.1f} "
          "{:>8.1f} {:>6}\n",
          kind, n, s.latency.Quantile(0.5) / 1e6, s.latency.Quantile(0.9) / 1e6,
          s.latency.Quantile(0.99) / 1e6, s.latency.max() / 1e6, s.latency.mean() / 1e6, qps,
          per_page_m, per_page_i, s.failed);
      fmt::print("  {:<10} e.g. {}\n", "", queries.back());
    }
    if (errors_left.load() <= 0) break;
  }
  if (opt.json) {
    fmt::print(R"({{"tool":"search_load","concurrency":{},"count":{},"failed":{},"kinds":{{{}}}}})"
               "\n",
               opt.concurrency, opt.count, failed, json_kinds);
  }
  if (failed > 0) {
    fmt::print(stderr, "search_load: {} queries failed{}\n", failed,
               errors_left.load() <= 0 ? " (stopped at --max-errors)" : "");
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace hygie::bench

int main(int argc, char** argv) { return hygie::bench::Main(argc, argv); }
