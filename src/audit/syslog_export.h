#pragma once
// SyslogExporter: streams the records of the audit journal to a SIEM collector as RFC 5424
// syslog messages, over TCP or over TLS (RFC 5425), octet-counted ("LEN SP MSG") in both cases.
//
// Delivery is at least once. Each tree (tenant or kSystemTree) has a durable cursor, the index
// of the next record to send, kept in STATE_DIR/<tree>.cursor (written tmp + fsync + rename).
// The exporter reads records from the cursor, sends them, and advances and persists the cursor
// only once the collector's TCP stack has acknowledged every byte sent (SIOCOUTQ drops to 0).
// On any error it closes the connection, backs off exponentially (100 ms up to max_backoff_ms),
// reconnects and resends from the persisted cursor: a record may arrive twice, never zero
// times, and every message carries a stable id ("<tree>/<index>") so the collector can drop
// duplicates. Records live in the journal, so nothing is lost while the collector is away.
//
// TLS: TLS 1.2 or later through OpenSSL (Boost.Asio ssl); the collector's certificate must
// chain to ca_file and name the host of the URL (DNS name or IP address); SNI is sent for
// host names. A client certificate is presented when cert_file and key_file are set.
//
// Thread-safety: Start, Stop and Notify may be called from any thread (Start and Stop not
// concurrently with each other); Confirmed and connected are thread-safe. The exporter runs one
// thread of its own.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "audit/record.h"
#include "audit/record_source.h"
#include "core/clock.h"
#include "core/env.h"
#include "core/status.h"

namespace hygie::audit {

struct SyslogOptions {
  std::string url;                  // "tcp://host:port" or "tls://host:port"
  std::string ca_file;              // TLS: CA bundle that must verify the collector (required)
  std::string cert_file, key_file;  // TLS: optional client certificate and its key (PEM)
  std::string hostname;             // HOSTNAME field of the messages; default: gethostname()
  std::string state_dir;            // where the per-tree cursor files live (created if missing)
  int max_backoff_ms = 5000;        // longest wait between two connection attempts
  int io_timeout_ms = 10000;        // connect, handshake, write and acknowledgement deadline
  Env* env = &Env::Default();       // writes the cursor files (WriteFileAtomic); outlives us
};

// One RFC 5424 message (no framing) for record `r` of `tree`, whose JSON text (EncodeRecord) is
// `record_json`:
//   <PRI>1 TIMESTAMP HOSTNAME hygie - MSGID [hygie@32473 tree="T" index="N" id="T/N"
//   status="S"] JSON
// PRI is facility 13 (log audit) * 8 + severity: 6 (informational) below status 400, 4
// (warning) for 4xx, 3 (error) for 5xx and above. TIMESTAMP is RFC 3339 UTC with microseconds.
// MSGID is the interaction when it is 1 to 32 printable US-ASCII characters, else "-".
// SD-PARAM values are escaped per RFC 5424 section 6.3.3; HOSTNAME is reduced to printable
// US-ASCII (at most 255 characters, "-" when empty).
std::string FormatSyslog(const std::string& tree, const Record& r, std::string_view record_json,
                         std::string_view hostname);

class SyslogExporter {
 public:
  // Checks the options (URL scheme, host and port; ca_file for tls://; both or neither of
  // cert_file and key_file; a usable state_dir) and loads the TLS material. kInvalidArgument on
  // bad options, kUnavailable when state_dir cannot be made or a TLS file cannot be loaded.
  // Does not connect: the thread does, once started.
  static Result<std::unique_ptr<SyslogExporter>> Create(SyslogOptions options,
                                                        const RecordSource& source,
                                                        const Clock& clock);
  ~SyslogExporter();  // Stop()
  SyslogExporter(const SyslogExporter&) = delete;
  SyslogExporter& operator=(const SyslogExporter&) = delete;

  // Starts the exporter thread (no-op if running).
  void Start();
  // Stops the thread and waits for it (within about 100 ms of any I/O in progress); the cursors
  // of records not yet acknowledged stay where they were, so a later exporter resends them.
  void Stop();
  // Wakes the thread: records were appended. Without it the thread still looks every 500 ms.
  void Notify();

  // The cursor of a tree: every record of it below this index was acknowledged by the
  // collector (or pruned from the journal before it could be sent). Persists across restarts.
  uint64_t Confirmed(const std::string& tree) const;
  // True while a connection to the collector is open and has not failed.
  bool connected() const { return connected_.load(); }

 private:
  struct Impl;  // the connection (Asio, OpenSSL); defined in syslog_export.cc

  SyslogExporter(SyslogOptions options, const RecordSource& source, const Clock& clock);
  void Run();
  // Sends what each tree has beyond its cursor. Non-ok on a connection or journal failure.
  Status ExportAll();
  Status ExportTree(const std::string& tree);
  uint64_t Cursor(const std::string& tree);  // loads the cursor file on first use
  Status PersistCursor(const std::string& tree, uint64_t next);
  void OnFailure(const Status& status);
  // Waits up to `ms` on the condition variable; returns early on Stop (and on Notify when
  // `wake_on_notify`).
  void Wait(int ms, bool wake_on_notify);
  bool stopping() const { return stop_.load(); }

  const SyslogOptions options_;
  const RecordSource& source_;
  const Clock& clock_;
  std::string hostname_;
  std::unique_ptr<Impl> impl_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool notified_ = false;                    // guarded by mu_
  std::map<std::string, uint64_t> cursors_;  // guarded by mu_ (written by the thread only)
  std::atomic<bool> stop_{false};
  std::atomic<bool> connected_{false};
  bool failing_ = false;         // thread only: a failure was logged, recovery not yet
  bool ever_connected_ = false;  // thread only
  std::thread thread_;
};

}  // namespace hygie::audit
