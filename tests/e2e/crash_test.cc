// End-to-end crash test: writers hammer the server, which is killed (SIGKILL) at a random
// moment with requests in flight; after a restart every acknowledged write must read back
// byte for byte (durability: a 2xx means the write is on stable storage).

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "support/harness.h"

namespace hygie::e2e {
namespace {

constexpr int kIterations = 20;
constexpr int kThreads = 8;
constexpr int kHotResources = 4;

struct Ack {
  std::string type;
  std::string id;
  uint64_t version = 0;
  std::string body;
};

// One writer: creates resources and updates its own and the shared "hot" ones until the
// server stops answering.
void Writer(uint16_t port, const std::string& token, const std::string& base, int iteration,
            int thread, std::atomic<bool>& stop, std::mutex& mu, std::vector<Ack>& acks,
            std::atomic<int>& unexpected, std::string& first_unexpected) {
  HttpClient client(port);
  std::mt19937_64 rng(std::random_device{}());
  std::vector<std::pair<std::string, std::string>> own;  // (type, id)
  for (int n = 0; !stop.load(); ++n) {
    const std::string tag = "it" + std::to_string(iteration) + "-th" + std::to_string(thread) +
                            "-n" + std::to_string(n) + "-" + RandomToken(6);
    int choice = static_cast<int>(rng() % 10);
    std::string method, target, type, id, body;
    if (choice < 4 || own.empty()) {
      type = rng() % 2 == 0 ? "Patient" : "Observation";
      method = "POST";
      target = base + "/" + type;
      body = type == "Patient"
                 ? R"({"resourceType":"Patient","name":[{"text":")" + tag + R"("}]})"
                 : R"({"resourceType":"Observation","status":"final","code":{"text":")" + tag +
                       R"("}})";
    } else {
      if (choice < 8) {
        std::tie(type, id) = own[rng() % own.size()];
      } else {
        type = "Patient";
        id = "hot-" + std::to_string(rng() % kHotResources);
      }
      method = "PUT";
      target = base + "/" + type + "/" + id;
      body = type == "Patient" ? R"({"resourceType":"Patient","id":")" + id +
                                     R"(","name":[{"text":")" + tag + R"("}]})"
                               : R"({"resourceType":"Observation","id":")" + id +
                                     R"(","status":"amended","code":{"text":")" + tag + R"("}})";
    }
    HttpResponse res = client.Fhir(method, target, token, body);
    if (res.status == 0) break;  // the server is gone
    if (res.status == 200 || res.status == 201) {
      rapidjson::Document doc = ParseJson(res.body);
      Ack ack;
      ack.type = type;
      ack.id = JsonString(doc, "id");
      std::string v = doc.IsObject() && doc.HasMember("meta") ? JsonString(doc["meta"], "versionId")
                                                              : std::string();
      ack.version = v.empty() ? 0 : std::stoull(v);
      ack.body = res.body;
      if (ack.id.empty() || ack.version == 0 || res.Header("etag") != "W/\"" + v + "\"") {
        std::lock_guard lock(mu);
        if (unexpected.fetch_add(1) == 0) first_unexpected = "bad 2xx body: " + res.body;
        continue;
      }
      if (method == "POST") own.emplace_back(type, ack.id);
      std::lock_guard lock(mu);
      acks.push_back(std::move(ack));
    } else if (res.status != 409) {
      // 409: too many concurrent updates of a hot resource; a legitimate refusal.
      std::lock_guard lock(mu);
      if (unexpected.fetch_add(1) == 0) {
        first_unexpected =
            method + " " + target + " -> " + std::to_string(res.status) + " " + res.body;
      }
    }
  }
}

// Checks that every ack reads back identically and that current versions are not older than
// acknowledged ones. Returns the number of acks checked.
size_t Verify(uint16_t port, const std::string& token, const std::string& base,
              const std::vector<Ack>& acks) {
  HttpClient client(port);
  std::map<std::string, uint64_t> highest;
  std::map<std::string, const Ack*> by_version;
  size_t checked = 0;
  for (const Ack& ack : acks) {
    const std::string key = ack.type + "/" + ack.id;
    const std::string versioned = key + "/" + std::to_string(ack.version);
    auto [it, inserted] = by_version.emplace(versioned, &ack);
    EXPECT_TRUE(inserted || it->second->body == ack.body)
        << versioned << " acknowledged twice with different bodies";
    highest[key] = std::max(highest[key], ack.version);
    HttpResponse r =
        client.Fhir("GET", base + "/" + key + "/_history/" + std::to_string(ack.version), token);
    EXPECT_EQ(r.status, 200) << "acknowledged " << versioned << " lost: " << r.body;
    EXPECT_EQ(r.body, ack.body) << "acknowledged " << versioned << " differs";
    ++checked;
    if (::testing::Test::HasFailure() && checked > 20) break;  // do not flood the log
  }
  for (const auto& [key, version] : highest) {
    HttpResponse r = client.Fhir("GET", base + "/" + key, token);
    EXPECT_EQ(r.status, 200) << key;
    std::string etag = r.Header("etag");
    EXPECT_GE(etag.size(), 5u) << key;
    if (etag.size() < 5) continue;
    uint64_t current = std::stoull(etag.substr(3, etag.size() - 4));
    EXPECT_GE(current, version) << key << " went back in time";
  }
  return checked;
}

TEST(CrashTest, AcknowledgedWritesSurviveKill9) {
  const int64_t errors_before = ServerErrorResponses();
  Installation inst;
  inst.CreateTenant("crash");
  const std::string token = inst.Token("crash");
  const std::string base = "/fhir/crash";
  std::mt19937_64 rng(std::random_device{}());
  std::vector<Ack> all;
  size_t checked = 0;
  int unexpected_total = 0;

  auto server = ServerProcess::Launch(inst.data(), {});
  for (int it = 0; it < kIterations; ++it) {
    ASSERT_NE(server->port(), 0);
    std::atomic<bool> stop{false};
    std::atomic<int> unexpected{0};
    std::string first_unexpected;
    std::mutex mu;
    std::vector<Ack> acks;
    std::vector<std::thread> writers;
    for (int t = 0; t < kThreads; ++t) {
      writers.emplace_back(Writer, server->port(), std::cref(token), std::cref(base), it, t,
                           std::ref(stop), std::ref(mu), std::ref(acks), std::ref(unexpected),
                           std::ref(first_unexpected));
    }
    // The random moment of the crash (a deliberate delay, not a synchronization).
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 301));
    server->Kill();
    stop.store(true);
    for (auto& w : writers) w.join();
    EXPECT_EQ(unexpected.load(), 0) << "iteration " << it << ": " << first_unexpected;
    unexpected_total += unexpected.load();

    server = ServerProcess::Launch(inst.data(), {});
    checked += Verify(server->port(), token, base, acks);
    all.insert(all.end(), acks.begin(), acks.end());
    if (HasFailure()) break;
  }
  // Everything acknowledged in every iteration, once more at the end.
  size_t final_checked = Verify(server->port(), token, base, all);
  EXPECT_EQ(server->Stop(), 0);
  EXPECT_GT(all.size(), static_cast<size_t>(kIterations)) << "too few writes to mean anything";
  // The audit journal came through every kill: it verifies, and holds a record for every
  // acknowledged write (and more: the reads of Verify, the writes not acknowledged).
  CommandResult verified =
      RunHygie({"audit", "verify", "--data", inst.data(), "--tenant", "crash"});
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  size_t at = verified.out.find("OK: ");
  ASSERT_NE(at, std::string::npos) << verified.out;
  EXPECT_GE(std::stoull(verified.out.substr(at + 4)), all.size()) << verified.out;
  EXPECT_EQ(ServerErrorResponses(), errors_before);
  std::cout << "[ crash ] " << kIterations << " kill -9 iterations, " << all.size()
            << " acknowledged writes, " << checked << " checked after their crash, "
            << final_checked << " re-checked at the end, " << unexpected_total
            << " unexpected answers\n";
}

}  // namespace
}  // namespace hygie::e2e
