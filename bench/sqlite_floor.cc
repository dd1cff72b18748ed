// sqlite_floor: the raw SQLite floor under Hygie's writes and reads: the same schema as the
// embedded engine, the same durability (WAL, synchronous=FULL, every acknowledged insert
// committed), ~2 KiB incompressible blobs standing in for sealed bodies; no HTTP, no crypto,
// no JSON. What Hygie's create path reaches is to be read against this number.
//
// Modes:
//   group   --clients threads each submit one insert at a time to one writer thread, which
//           takes everything queued (up to --max-batch), runs it in one transaction with one
//           COMMIT, then wakes the clients of that group (group commit, as the server does).
//   serial  the same, but the writer commits each insert in its own transaction (one fsync
//           per insert): the reference without group commit.
//   read    --preload rows are written first; then --clients threads, each with its own
//           read-only connection, run point SELECTs by (type, id) of random preloaded ids.
//
// Each write is what the engine does for a create: check the current version, insert the
// version row, upsert the current-version row. Latency is per insert from submission to the
// client's wake-up (or per SELECT), into a log-linear histogram.
//
// Exit code: 0 on success, 1 on any SQLite failure, 2 on a usage error.

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <random>
#include <semaphore>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "core/status.h"
#include "histogram.h"

namespace hygie::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr std::string_view kType = "Patient";

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS resource_version(
  seq INTEGER PRIMARY KEY,
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  version INTEGER NOT NULL,
  ts INTEGER NOT NULL,
  deleted INTEGER NOT NULL,
  key_id INTEGER NOT NULL,
  body BLOB,
  UNIQUE(type, id, version));
CREATE TABLE IF NOT EXISTS resource_current(
  type TEXT NOT NULL,
  id TEXT NOT NULL,
  version INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY(type, id)) WITHOUT ROWID;
)sql";

struct Options {
  std::string dir;
  std::string mode = "group";
  int clients = 16;
  double duration_s = 10;
  double warmup_s = 1;
  size_t body_size = 2048;
  size_t max_batch = 512;
  int64_t preload = 100000;
  int cache_kib = 2048;
  bool json = false;
};

Status SqliteError(sqlite3* db, std::string_view what) {
  return Unavailable(fmt::format("{}: {}", what, db ? sqlite3_errmsg(db) : "out of memory"));
}

Status Exec(sqlite3* db, const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    Status s = Unavailable(fmt::format("{}: {}", sql, error ? error : "?"));
    sqlite3_free(error);
    return s;
  }
  return Status::Ok();
}

// Owns a connection; closes it on destruction.
struct Db {
  sqlite3* db = nullptr;
  Db() = default;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db() { sqlite3_close_v2(db); }
};

// Owns a prepared statement.
struct Stmt {
  sqlite3_stmt* stmt = nullptr;
  Stmt() = default;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() { sqlite3_finalize(stmt); }
};

Status Open(const std::string& path, bool read_only, int cache_kib, Db* out) {
  const int flags =
      (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
      SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &out->db, flags, nullptr) != SQLITE_OK) {
    return SqliteError(out->db, "open " + path);
  }
  sqlite3_busy_timeout(out->db, 10000);
  HYGIE_RETURN_IF_ERROR(Exec(out->db, "PRAGMA journal_mode=WAL"));
  HYGIE_RETURN_IF_ERROR(Exec(out->db, "PRAGMA synchronous=FULL"));
  return Exec(out->db, fmt::format("PRAGMA cache_size=-{}", cache_kib).c_str());
}

Status Prepare(sqlite3* db, const char* sql, Stmt* out) {
  if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &out->stmt, nullptr) !=
      SQLITE_OK) {
    return SqliteError(db, sql);
  }
  return Status::Ok();
}

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A 32-hex-digit random id, like a UUID without dashes.
std::string RandomId(std::mt19937_64& rng) { return fmt::format("{:016x}{:016x}", rng(), rng()); }

// The writes of one create, as the engine does them, on the writer's connection.
class Writer {
 public:
  Status Init(sqlite3* db, size_t body_size) {
    db_ = db;
    HYGIE_RETURN_IF_ERROR(Exec(db, kSchema));
    HYGIE_RETURN_IF_ERROR(
        Prepare(db, "SELECT version FROM resource_current WHERE type=?1 AND id=?2", &check_));
    HYGIE_RETURN_IF_ERROR(Prepare(db,
                                  "INSERT INTO resource_version(type,id,version,ts,deleted,"
                                  "key_id,body) VALUES(?1,?2,?3,?4,0,1,?5)",
                                  &insert_version_));
    HYGIE_RETURN_IF_ERROR(Prepare(db,
                                  "INSERT INTO resource_current(type,id,version,seq) "
                                  "VALUES(?1,?2,?3,?4) ON CONFLICT(type,id) DO UPDATE SET "
                                  "version=excluded.version, seq=excluded.seq",
                                  &upsert_current_));
    HYGIE_RETURN_IF_ERROR(Prepare(db, "BEGIN IMMEDIATE", &begin_));
    HYGIE_RETURN_IF_ERROR(Prepare(db, "COMMIT", &commit_));
    HYGIE_RETURN_IF_ERROR(Prepare(db, "ROLLBACK", &rollback_));
    // Incompressible bytes, as a sealed (AES-GCM) body would be.
    std::mt19937_64 rng(42);
    body_.resize(body_size);
    for (auto& b : body_) b = static_cast<unsigned char>(rng());
    return Status::Ok();
  }

  Status Begin() { return Step(begin_.stmt, "BEGIN"); }
  Status Commit() { return Step(commit_.stmt, "COMMIT"); }
  void Rollback() { Step(rollback_.stmt, "ROLLBACK").IgnoreError(); }

  // Inserts version 1 of (kType, id).
  Status Insert(const std::string& id, uint64_t n) {
    std::memcpy(body_.data(), &n, std::min(sizeof n, body_.size()));  // bodies differ
    sqlite3_stmt* s = check_.stmt;
    sqlite3_bind_text(s, 1, kType.data(), static_cast<int>(kType.size()), SQLITE_STATIC);
    sqlite3_bind_text(s, 2, id.data(), static_cast<int>(id.size()), SQLITE_STATIC);
    const int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc == SQLITE_ROW) return Conflict("id exists");
    if (rc != SQLITE_DONE) return SqliteError(db_, "check");

    s = insert_version_.stmt;
    sqlite3_bind_text(s, 1, kType.data(), static_cast<int>(kType.size()), SQLITE_STATIC);
    sqlite3_bind_text(s, 2, id.data(), static_cast<int>(id.size()), SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, 1);
    sqlite3_bind_int64(s, 4, NowMicros());
    sqlite3_bind_blob(s, 5, body_.data(), static_cast<int>(body_.size()), SQLITE_STATIC);
    HYGIE_RETURN_IF_ERROR(Step(s, "insert version"));
    const int64_t seq = sqlite3_last_insert_rowid(db_);

    s = upsert_current_.stmt;
    sqlite3_bind_text(s, 1, kType.data(), static_cast<int>(kType.size()), SQLITE_STATIC);
    sqlite3_bind_text(s, 2, id.data(), static_cast<int>(id.size()), SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, 1);
    sqlite3_bind_int64(s, 4, seq);
    return Step(s, "upsert current");
  }

 private:
  Status Step(sqlite3_stmt* s, std::string_view what) {
    const int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? Status::Ok() : SqliteError(db_, what);
  }

  sqlite3* db_ = nullptr;
  Stmt check_, insert_version_, upsert_current_, begin_, commit_, rollback_;
  std::vector<unsigned char> body_;
};

struct Window {
  SteadyClock::time_point start, end;
  bool Contains(SteadyClock::time_point t) const { return t >= start && t < end; }
};

Window MakeWindow(const Options& opt) {
  auto secs = [](double s) {
    return std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(s));
  };
  Window w;
  w.start = SteadyClock::now() + secs(opt.warmup_s);
  w.end = w.start + secs(opt.duration_s);
  return w;
}

// One insert waiting in the writer's queue; lives on its client's stack.
struct Pending {
  const std::string* id = nullptr;
  uint64_t n = 0;
  bool ok = false;
  std::binary_semaphore done{0};
};

// The writer thread and its queue. Thread-safe: Submit() from any client thread.
class GroupCommitter {
 public:
  GroupCommitter(Writer& writer, size_t max_batch, Window window)
      : writer_(writer), max_batch_(max_batch), window_(window) {}

  void Start() {
    thread_ = std::thread([this] { Loop(); });
  }
  void Stop() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  // Blocks until the insert is durable (true) or failed (false).
  bool Submit(Pending& p) {
    {
      std::lock_guard lock(mu_);
      queue_.push_back(&p);
    }
    cv_.notify_one();
    p.done.acquire();
    return p.ok;
  }
  // Commits that completed inside the window. Read after Stop().
  uint64_t commits_in_window() const { return commits_in_window_; }
  // The first failure, if any. Read after Stop().
  const Status& error() const { return error_; }

 private:
  void Loop() {
    std::vector<Pending*> batch;
    for (;;) {
      batch.clear();
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stop_ and drained
        const size_t n = std::min(queue_.size(), max_batch_);
        batch.assign(queue_.begin(), queue_.begin() + static_cast<ptrdiff_t>(n));
        queue_.erase(queue_.begin(), queue_.begin() + static_cast<ptrdiff_t>(n));
      }
      Status s = writer_.Begin();
      for (size_t i = 0; s.ok() && i < batch.size(); ++i) {
        s = writer_.Insert(*batch[i]->id, batch[i]->n);
      }
      if (s.ok()) s = writer_.Commit();
      if (!s.ok()) {
        writer_.Rollback();
        if (error_.ok()) error_ = s;  // read after Stop() only
      } else {
        if (window_.Contains(SteadyClock::now())) ++commits_in_window_;
      }
      for (Pending* p : batch) {
        p->ok = s.ok();
        p->done.release();
      }
    }
  }

  Writer& writer_;
  const size_t max_batch_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending*> queue_;  // guarded by mu_
  bool stop_ = false;           // guarded by mu_
  std::thread thread_;
  const Window window_;
  // Written by the writer thread, read after Stop().
  uint64_t commits_in_window_ = 0;
  Status error_;
};

void SleepUntil(SteadyClock::time_point t) { std::this_thread::sleep_until(t); }

void Print(const Options& opt, std::string_view what, uint64_t count, const LatencyHistogram& h,
           const std::string& extra_json, const std::string& extra_text) {
  const double rate = static_cast<double>(count) / opt.duration_s;
  if (opt.json) {
    fmt::print(
        R"({{"tool":"sqlite_floor","mode":"{}","clients":{},"body_size":{},"duration_s":{:.3f},)"
        R"("{}":{},"per_s":{:.1f},"latency_us":{{"mean":{:.1f},"p50":{:.1f},"p90":{:.1f},)"
        R"("p99":{:.1f},"p999":{:.1f},"max":{:.1f}}}{}}})"
        "\n",
        opt.mode, opt.clients, opt.body_size, opt.duration_s, what, count, rate, h.mean() / 1e3,
        h.Quantile(0.5) / 1e3, h.Quantile(0.9) / 1e3, h.Quantile(0.99) / 1e3,
        h.Quantile(0.999) / 1e3, h.max() / 1e3, extra_json);
    return;
  }
  fmt::print("sqlite_floor: {} mode, {} clients, {} B bodies, {:.1f} s (+{:.1f} s warmup) in {}\n",
             opt.mode, opt.clients, opt.body_size, opt.duration_s, opt.warmup_s, opt.dir);
  fmt::print("  {:<8} {} = {:.1f}/s{}\n", what, count, rate, extra_text);
  fmt::print(
      "  latency  (ms) p50 {:.3f}  p90 {:.3f}  p99 {:.3f}  p99.9 {:.3f}  max {:.3f}  "
      "mean {:.3f}\n",
      h.Quantile(0.5) / 1e6, h.Quantile(0.9) / 1e6, h.Quantile(0.99) / 1e6, h.Quantile(0.999) / 1e6,
      h.max() / 1e6, h.mean() / 1e6);
}

int RunWrites(const Options& opt, const std::string& path) {
  Db db;
  Writer writer;
  Status s = Open(path, false, opt.cache_kib, &db);
  if (s.ok()) s = writer.Init(db.db, opt.body_size);
  if (!s.ok()) {
    fmt::print(stderr, "sqlite_floor: {}\n", s.ToString());
    return 1;
  }
  const Window window = MakeWindow(opt);
  GroupCommitter committer(writer, opt.mode == "serial" ? 1 : opt.max_batch, window);
  committer.Start();
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> failed{0};
  std::vector<LatencyHistogram> latency(opt.clients);
  std::vector<uint64_t> done(opt.clients, 0);
  std::vector<std::thread> clients;
  for (int c = 0; c < opt.clients; ++c) {
    clients.emplace_back([&, c] {
      std::mt19937_64 rng(std::random_device{}() ^ static_cast<uint64_t>(c));
      Pending p;
      std::string id;
      for (uint64_t n = 0; !stop.load(std::memory_order_relaxed); ++n) {
        id = RandomId(rng);
        p.id = &id;
        p.n = n;
        const auto t0 = SteadyClock::now();
        const bool ok = committer.Submit(p);
        const auto t1 = SteadyClock::now();
        if (!ok) {
          failed.fetch_add(1);
          return;
        }
        if (window.Contains(t1)) {
          latency[c].Record(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
          ++done[c];
        }
      }
    });
  }
  SleepUntil(window.end);
  stop = true;
  for (auto& t : clients) t.join();
  committer.Stop();

  if (!committer.error().ok() || failed.load() > 0) {
    fmt::print(stderr, "sqlite_floor: {} inserts failed: {}\n", failed.load(),
               committer.error().ToString());
    return 1;
  }
  LatencyHistogram all;
  uint64_t count = 0;
  for (int c = 0; c < opt.clients; ++c) {
    all.Merge(latency[c]);
    count += done[c];
  }
  const uint64_t commits = committer.commits_in_window();
  const double group = commits == 0 ? 0 : static_cast<double>(count) / commits;
  Print(opt, "inserts", count, all,
        fmt::format(R"(,"commits":{},"commits_per_s":{:.1f},"mean_group":{:.2f})", commits,
                    commits / opt.duration_s, group),
        fmt::format(" ({} commits = {:.1f}/s, {:.2f} inserts per commit)", commits,
                    commits / opt.duration_s, group));
  return 0;
}

int RunReads(const Options& opt, const std::string& path) {
  // Preload: large transactions, then checkpoint so readers see a compact WAL.
  std::vector<std::string> ids;
  ids.reserve(static_cast<size_t>(opt.preload));
  {
    Db db;
    Writer writer;
    Status s = Open(path, false, opt.cache_kib, &db);
    if (s.ok()) s = writer.Init(db.db, opt.body_size);
    std::mt19937_64 rng(7);
    const auto t0 = SteadyClock::now();
    for (int64_t done = 0; s.ok() && done < opt.preload;) {
      s = writer.Begin();
      for (int i = 0; s.ok() && i < 10000 && done < opt.preload; ++i, ++done) {
        ids.push_back(RandomId(rng));
        s = writer.Insert(ids.back(), static_cast<uint64_t>(done));
      }
      if (s.ok()) s = writer.Commit();
    }
    if (s.ok()) s = Exec(db.db, "PRAGMA wal_checkpoint(TRUNCATE)");
    if (!s.ok()) {
      fmt::print(stderr, "sqlite_floor: preload: {}\n", s.ToString());
      return 1;
    }
    if (!opt.json) {
      fmt::print("preload: {} rows in {:.2f} s\n", ids.size(),
                 std::chrono::duration<double>(SteadyClock::now() - t0).count());
    }
  }

  const Window window = MakeWindow(opt);
  std::atomic<bool> stop{false};
  std::vector<LatencyHistogram> latency(opt.clients);
  std::vector<uint64_t> done(opt.clients, 0);
  std::vector<Status> errors(opt.clients);
  std::vector<std::thread> readers;
  for (int c = 0; c < opt.clients; ++c) {
    readers.emplace_back([&, c] {
      Db db;
      Stmt select;
      Status s = Open(path, true, opt.cache_kib, &db);
      if (s.ok()) {
        s = Prepare(db.db,
                    "SELECT v.version, v.ts, v.deleted, v.key_id, v.body FROM resource_current c "
                    "JOIN resource_version v ON v.seq = c.seq WHERE c.type=?1 AND c.id=?2",
                    &select);
      }
      std::mt19937_64 rng(std::random_device{}() ^ static_cast<uint64_t>(c));
      std::vector<unsigned char> body;
      body.reserve(opt.body_size);
      while (s.ok() && !stop.load(std::memory_order_relaxed)) {
        const std::string& id = ids[rng() % ids.size()];
        const auto t0 = SteadyClock::now();
        sqlite3_stmt* q = select.stmt;
        sqlite3_bind_text(q, 1, kType.data(), static_cast<int>(kType.size()), SQLITE_STATIC);
        sqlite3_bind_text(q, 2, id.data(), static_cast<int>(id.size()), SQLITE_STATIC);
        if (sqlite3_step(q) == SQLITE_ROW) {
          const auto* blob = static_cast<const unsigned char*>(sqlite3_column_blob(q, 4));
          body.assign(blob, blob + sqlite3_column_bytes(q, 4));  // the caller gets a copy
        } else {
          s = SqliteError(db.db, "select " + id);
        }
        sqlite3_reset(q);
        const auto t1 = SteadyClock::now();
        if (body.size() != opt.body_size) s = DataLoss("wrong body size");
        if (window.Contains(t1)) {
          latency[c].Record(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
          ++done[c];
        }
      }
      errors[c] = s;
    });
  }
  SleepUntil(window.end);
  stop = true;
  for (auto& t : readers) t.join();
  for (const Status& s : errors) {
    if (!s.ok()) {
      fmt::print(stderr, "sqlite_floor: read: {}\n", s.ToString());
      return 1;
    }
  }
  LatencyHistogram all;
  uint64_t count = 0;
  for (int c = 0; c < opt.clients; ++c) {
    all.Merge(latency[c]);
    count += done[c];
  }
  Print(opt, "reads", count, all, fmt::format(R"(,"rows":{})", ids.size()),
        fmt::format(" over {} rows", ids.size()));
  return 0;
}

int Main(int argc, char** argv) {
  Options opt;
  CLI::App app{"Raw SQLite floor for Hygie's writes (WAL, synchronous=FULL) and reads",
               "sqlite_floor"};
  app.add_option("--dir", opt.dir, "Directory for the database (floor.db, recreated)")->required();
  app.add_option("--mode", opt.mode, "group | serial | read")
      ->check(CLI::IsMember({"group", "serial", "read"}))
      ->capture_default_str();
  app.add_option("--clients,-c", opt.clients, "Client (or reader) threads")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_option("--duration,-d", opt.duration_s, "Measured seconds")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--warmup", opt.warmup_s, "Seconds before measuring")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--body-size", opt.body_size, "Bytes per body blob")
      ->check(CLI::Range(size_t{8}, size_t{1} << 24))
      ->capture_default_str();
  app.add_option("--max-batch", opt.max_batch, "group mode: most inserts per commit")
      ->check(CLI::Range(size_t{1}, size_t{1} << 20))
      ->capture_default_str();
  app.add_option("--preload", opt.preload, "read mode: rows written first")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 32))
      ->capture_default_str();
  app.add_option("--cache-kib", opt.cache_kib, "SQLite page cache per connection, KiB")
      ->check(CLI::Range(64, 1 << 22))
      ->capture_default_str();
  app.add_flag("--json", opt.json, "Print the results as one JSON line");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(opt.dir, ec);
  if (ec) {
    fmt::print(stderr, "sqlite_floor: cannot create {}: {}\n", opt.dir, ec.message());
    return 1;
  }
  const std::string path = (fs::path(opt.dir) / "floor.db").string();
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) fs::remove(path + suffix, ec);

  const int rc = opt.mode == "read" ? RunReads(opt, path) : RunWrites(opt, path);
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) fs::remove(path + suffix, ec);
  return rc;
}

}  // namespace
}  // namespace hygie::bench

int main(int argc, char** argv) { return hygie::bench::Main(argc, argv); }
