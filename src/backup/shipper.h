#pragma once
// Shipper: continuous backups while the server runs. A background thread ("backup") ships, every
// interval (default 10 s) and when woken, each chain (every tenant, and the _system audit tree)
// to each target. It only reads the stores (their read connections) and the journal's files, so
// the request path does not wait for it; a target that is down makes no request fail: the
// shipper logs the error once, the lag grows, and it catches up by itself when the target
// answers again.
//
// Thread-safety: Start, Stop, Wake and Snapshot may be called from any thread.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "backup/chain.h"
#include "backup/targets.h"
#include "core/clock.h"
#include "crypto/secret.h"

namespace hygie::backup {

// One chain to ship: its id, the seed its keys derive from, and where it ships from.
struct ChainSpec {
  ChainId id;
  std::function<Result<crypto::SecretKey>()> seed;
  std::shared_ptr<storage::TenantStore> store;  // null for the _system chain
  std::string tree_dir;
};

struct ShipperOptions {
  int64_t interval_us = 10'000'000;
  ShipOptions ship;
  // A chain gets a new base snapshot when its newest is this old (or it has none); 0: never.
  int64_t base_interval_us = 86'400'000'000;
  BaseOptions base;
  // Where the shipper writes what it last did (backup status reads it); empty: nowhere.
  std::string status_file;
};

// What the shipper last did for one chain on one target.
struct ChainStatus {
  std::string target;
  std::string chain;
  uint64_t entries = 0;      // manifest entries on the target
  uint64_t shipped_seq = 0;  // newest version shipped
  uint64_t total_versions = 0;
  uint64_t total_bytes = 0;
  int64_t last_entry_us = 0;  // when the newest entry was made
  int64_t last_ok_us = 0;     // the last round that reached the target
  int64_t last_base_us = 0;   // when the newest base snapshot was made (0: none)
  std::string error;          // the last round's error, if it failed
};

class Shipper {
 public:
  struct NamedTarget {
    std::string name;
    std::unique_ptr<Target> target;
  };
  Shipper(ShipperOptions options, std::vector<NamedTarget> targets,
          std::function<Result<std::vector<ChainSpec>>()> chains, const Clock& clock);
  ~Shipper();  // Stop()
  Shipper(const Shipper&) = delete;
  Shipper& operator=(const Shipper&) = delete;

  void Start();
  // Runs a last round (what is durable now reaches the targets), then stops. Idempotent.
  void Stop();
  // Starts a round now.
  void Wake();
  // Runs one round on the caller's thread (the command line's `backup now`, tests).
  void RunRound();
  std::vector<ChainStatus> Snapshot() const;

 private:
  void Loop();
  void ShipOne(NamedTarget& t, const ChainSpec& spec);
  void WriteStatus();

  ShipperOptions options_;
  std::vector<NamedTarget> targets_;
  std::function<Result<std::vector<ChainSpec>>()> chains_;
  const Clock& clock_;
  std::mutex round_mu_;  // one round at a time
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                                                  // GUARDED_BY(mu_)
  bool wake_ = false;                                                  // GUARDED_BY(mu_)
  std::map<std::pair<std::string, std::string>, ChainStatus> status_;  // GUARDED_BY(mu_)
  std::map<std::pair<std::string, std::string>, ChainHead> heads_;     // GUARDED_BY(round_mu_)
  std::thread thread_;
};

// The status file's contents, as Shipper writes it; kNotFound when there is none.
Result<std::vector<ChainStatus>> ReadStatusFile(const std::string& path);

}  // namespace hygie::backup
