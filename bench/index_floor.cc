// index_floor: the embedded engine's cost of the search index, through the Store API (no HTTP,
// no crypto, no JSON): --clients threads each commit batches of --batch resources (each a
// ~2 KiB body, --hashes index hashes, one date entry and --numbers number entries) until the
// tenant holds --resources resources; the load rate (overall and over the last interval) is
// printed every --report resources. Then, from --readers threads, --searches searches of each
// shape: a token (one hash shared by many resources) in row id order, a token AND a date range
// in row id order, and a reference-like hash sorted by date descending, each with --limit
// results; latency percentiles are printed. Resource ids ascend with creation order (as the
// server's time-ordered ids), or are random with --random-ids.
//
// Hash mix per resource: 60% from a vocabulary of 50 values (codes, statuses), 20% from 10,000
// values (references), 20% unique (identifiers).
//
// Exit code: 0 on success, 1 on a storage failure, 2 on a usage error.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "storage/store.h"

namespace hygie::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;
using storage::SearchQuery;
using storage::SearchTerm;
using storage::SortKey;

constexpr uint64_t kCommon = 50;
constexpr uint64_t kRefs = 10000;
constexpr uint64_t kDateKey = 0x5eed;
constexpr uint64_t kNumberKey = 0x4e75;
constexpr int64_t kDateSpan = 1'000'000'000;

uint64_t Mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  return x ^ (x >> 33);
}

struct Options {
  std::string dir;
  uint64_t resources = 100000;
  int clients = 16;
  int batch = 20;
  int hashes = 35;
  int numbers = 3;
  uint64_t report = 100000;
  int searches = 2000;
  int readers = 2;
  size_t limit = 50;
  bool random_ids = false;
};

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

int Run(const Options& opt) {
  std::filesystem::remove_all(opt.dir);
  auto store = storage::OpenSqliteStore(opt.dir);
  if (!store.ok()) {
    fmt::print(stderr, "open: {}\n", store.status().ToString());
    return 1;
  }
  auto tenant = (*store)->OpenTenant("bench");
  if (!tenant.ok()) return 1;
  std::shared_ptr<storage::TenantStore> t = *tenant;

  std::atomic<uint64_t> next{0};
  std::atomic<uint64_t> loaded{0};
  std::atomic<int> failures{0};
  std::string body(2048, 'x');
  auto start = SteadyClock::now();
  std::mutex report_mu;
  uint64_t last_done = 0;
  auto last = start;
  std::vector<std::thread> clients;
  const uint64_t batch = static_cast<uint64_t>(opt.batch);
  for (int c = 0; c < opt.clients; ++c) {
    clients.emplace_back([&, c] {
      std::mt19937_64 rng(static_cast<uint64_t>(c) * 7919 + 1);
      while (true) {
        uint64_t first = next.fetch_add(batch);
        if (first >= opt.resources) return;
        uint64_t end = std::min(first + batch, opt.resources);
        storage::WriteBatch b;
        for (uint64_t n = first; n < end; ++n) {
          storage::VersionWrite& w = b.versions.emplace_back();
          w.record.type = "Observation";
          w.record.id = fmt::format("{:016x}", opt.random_ids ? Mix(n + 1) : n + 1);
          w.record.version = 1;
          w.record.last_updated_us = static_cast<int64_t>(n);
          w.record.key_id = 1;
          w.record.body.assign(body.begin(), body.end());
          for (int i = 0; i < opt.hashes; ++i) {
            uint64_t r = rng() % 10;
            if (r < 6) {
              w.index.hashes.push_back(Mix(1 + (rng() % kCommon)));
            } else if (r < 8) {
              w.index.hashes.push_back(Mix(1000 + (rng() % kRefs)));
            } else {
              w.index.hashes.push_back(rng());
            }
          }
          int64_t ts = static_cast<int64_t>(rng() % kDateSpan);
          w.index.dates.push_back({kDateKey, ts, ts + 1000});
          for (int i = 0; i < opt.numbers; ++i) {
            double v = static_cast<double>(rng() % 100000) / 100.0;
            w.index.numbers.push_back({kNumberKey + static_cast<uint64_t>(i), v, v});
          }
        }
        if (!t->CommitAndWait(std::move(b)).ok()) failures++;
        uint64_t done = loaded.fetch_add(end - first) + (end - first);
        if (done / opt.report != (done - (end - first)) / opt.report) {
          std::lock_guard<std::mutex> lock(report_mu);
          auto now = SteadyClock::now();
          double s = std::chrono::duration<double>(now - start).count();
          double ds = std::chrono::duration<double>(now - last).count();
          fmt::print("{:>10} resources  {:8.1f} s  {:8.0f} res/s overall  {:8.0f} res/s last {}\n",
                     done, s, static_cast<double>(done) / s,
                     static_cast<double>(done - last_done) / ds, done - last_done);
          std::fflush(stdout);
          last = now;
          last_done = done;
        }
      }
    });
  }
  for (auto& c : clients) c.join();
  double load_s = std::chrono::duration<double>(SteadyClock::now() - start).count();
  fmt::print("load: {} resources in {:.1f} s: {:.0f} res/s, {} failed batches\n", opt.resources,
             load_s, static_cast<double>(opt.resources) / load_s, failures.load());

  const char* const kShapes[] = {"token (common hash), row id order",
                                 "token AND date range (1/20), row id order",
                                 "reference, sort date desc"};
  for (int shape = 0; shape < 3; ++shape) {
    std::vector<std::vector<double>> lat(static_cast<size_t>(opt.readers));
    std::vector<std::thread> readers;
    std::atomic<size_t> results{0};
    for (int r = 0; r < opt.readers; ++r) {
      readers.emplace_back([&, r] {
        std::mt19937_64 rng(static_cast<uint64_t>(r) + 99);
        for (int i = 0; i < opt.searches / opt.readers; ++i) {
          SearchQuery q;
          q.types = {"Observation"};
          SearchTerm term;
          term.kind = SearchTerm::kHash;
          if (shape < 2) {
            term.hashes = {Mix(1 + (rng() % kCommon))};
          } else {
            term.hashes = {Mix(1000 + (rng() % kRefs))};
            q.sort = {SortKey{SortKey::kDate, kDateKey, true}};
          }
          q.clauses = {{term}};
          if (shape == 1) {
            // An overlap with a window of 1/20 of the date span.
            int64_t lo = static_cast<int64_t>(rng() % (kDateSpan - kDateSpan / 20));
            SearchTerm date;
            date.kind = SearchTerm::kDate;
            date.key = kDateKey;
            date.ranges = {
                {storage::RangeCmp{storage::RangeCmp::kHi, storage::RangeCmp::kGe, 0, lo},
                 storage::RangeCmp{storage::RangeCmp::kLo, storage::RangeCmp::kLe, 0,
                                   lo + kDateSpan / 20}}};
            q.clauses.push_back({date});
          }
          q.limit = opt.limit;
          auto t0 = SteadyClock::now();
          auto hits = t->Search(q);
          double ms = std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count();
          if (!hits.ok()) {
            failures++;
            continue;
          }
          results += hits->size();
          lat[static_cast<size_t>(r)].push_back(ms);
        }
      });
    }
    for (auto& r : readers) r.join();
    std::vector<double> all;
    for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
    size_t n = all.size();
    fmt::print("{}: {} searches, {:.1f} hits avg, p50 {:.2f} ms, p99 {:.2f} ms, max {:.2f} ms\n",
               kShapes[shape], n,
               n ? static_cast<double>(results.load()) / static_cast<double>(n) : 0.0,
               Percentile(all, 0.5), Percentile(all, 0.99), Percentile(all, 1.0));
  }
  (*store)->Close();
  return failures.load() == 0 ? 0 : 1;
}

}  // namespace
}  // namespace hygie::bench

int main(int argc, char** argv) {
  hygie::bench::Options opt;
  CLI::App app{"Search index cost of the embedded engine: indexed load, then token searches"};
  app.add_option("--dir", opt.dir, "Data directory (recreated)")->required();
  app.add_option("--resources,-n", opt.resources, "Resources to load");
  app.add_option("--clients,-c", opt.clients, "Committing client threads");
  app.add_option("--batch", opt.batch, "Resources per committed batch");
  app.add_option("--numbers", opt.numbers, "Number index entries per resource");
  app.add_option("--hashes", opt.hashes, "Index hashes per resource");
  app.add_option("--report", opt.report, "Print the load rate every N resources");
  app.add_option("--searches", opt.searches, "Searches per shape");
  app.add_option("--readers", opt.readers, "Search threads");
  app.add_option("--limit", opt.limit, "Results per search");
  app.add_flag("--random-ids", opt.random_ids,
               "Random resource ids (default: ids ascending with creation, as the server's "
               "time-ordered ids)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (opt.report == 0 || opt.readers <= 0 || opt.clients <= 0 || opt.batch <= 0) return 2;
  return hygie::bench::Run(opt);
}
