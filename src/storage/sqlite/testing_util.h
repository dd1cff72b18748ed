#pragma once
// Test helpers for the storage engine tests: a temporary directory removed on destruction,
// builders for version writes, and a gate that holds the writer thread inside a commit
// callback so a test can queue batches and know they will form one group.
//
// Thread-safety: TempDir is thread-compatible; Gate and CallbackLog are thread-safe.

#include <stdlib.h>

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/status.h"
#include "core/temp_dir.h"
#include "storage/store.h"

namespace hygie::storage::testing {

using test_support::TempDir;

inline VersionWrite MakeWrite(std::string type, std::string id, uint64_t version,
                              uint64_t expected_current, std::string body,
                              int64_t last_updated_us = 1'700'000'000'000'000, bool deleted = false,
                              uint32_t key_id = 7) {
  VersionWrite w;
  w.record.type = std::move(type);
  w.record.id = std::move(id);
  w.record.version = version;
  w.record.last_updated_us = last_updated_us;
  w.record.deleted = deleted;
  w.record.key_id = key_id;
  w.record.body = ToBytes(body);
  w.expected_current = expected_current;
  return w;
}

inline WriteBatch MakeBatch(std::vector<VersionWrite> writes) {
  WriteBatch b;
  b.versions = std::move(writes);
  return b;
}

// Blocks the thread that calls Wait() until Open() is called; WaitEntered() returns once a
// thread is blocked in Wait() (or has passed it).
class Gate {
 public:
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    entered_ = true;
    cv_.notify_all();
    cv_.wait(lock, [this] { return open_; });
  }
  void WaitEntered() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return entered_; });
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  bool entered_ = false;
};

// Records the statuses given to commit callbacks, by slot, and lets a test wait for them.
class CallbackLog {
 public:
  explicit CallbackLog(size_t slots) : statuses_(slots), calls_(slots, 0) {}
  CommitCallback Slot(size_t i) {
    return [this, i](Status s) {
      std::lock_guard<std::mutex> lock(mu_);
      statuses_[i] = std::move(s);
      calls_[i]++;
      total_++;
      cv_.notify_all();
    };
  }
  void WaitForCalls(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this, n] { return total_ >= n; });
  }
  Status status(size_t i) {
    std::lock_guard<std::mutex> lock(mu_);
    return statuses_[i];
  }
  int calls(size_t i) {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_[i];
  }
  size_t total() {
    std::lock_guard<std::mutex> lock(mu_);
    return total_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Status> statuses_;
  std::vector<int> calls_;
  size_t total_ = 0;
};

}  // namespace hygie::storage::testing
