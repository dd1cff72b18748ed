#pragma once
// The spool: where the command line leaves an audit record while a running server owns the
// journal, for the server to move into the journal within a second (docs/audit-journal.md,
// "Spool").
//
// A spooled record is never clear text that can be changed unseen: each file is numbered (1, 2,
// 3, ... over the installation's life, under a lock) and sealed with an HMAC-SHA256 under a key
// derived from the installation's _system audit seed, over its number, its tree and the record.
// Two small sealed files tell what to expect: `counter` (the highest number handed out) and
// `ingested` (the highest number moved into the journal, with the digests of the last batch, so
// that a file left by a crash after the move is told apart from a replay). So an altered or
// renamed file (bad seal, or a name that is not its number), a removed one (a number between
// `ingested` and `counter` without a file) and a replayed one (a number already ingested) are
// each found, by ScanSpool, by `hygie audit verify` and by the server, which journals what it
// finds (audit-spool-rejected, audit-spool-missing), sets such files aside in `rejected/`, and
// reports them on /readyz.
//
//   _spool/00000000000000000012.rec   line 1 {"v":1,"n":12,"tree":"_system"}, line 2 the record
//                                     (EncodeRecord), line 3 base64 HMAC of label | line 1 | \n |
//                                     line 2
//   _spool/counter, _spool/ingested   one JSON line and its base64 HMAC
//   _spool/rejected/                  files the server refused, kept for the operator
//
// Plain functions; SpoolRecord takes an advisory lock (_spool/lock) so that several commands
// number their records one after the other.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "audit/record.h"
#include "core/env.h"
#include "core/status.h"
#include "crypto/secret.h"

namespace hygie::audit {

// The spool's HMAC key, from the installation's _system audit seed.
Result<crypto::SecretKey> SpoolKey(const crypto::SecretKey& system_seed);

struct SpoolEntry {
  uint64_t n = 0;
  std::string tree;
  Record record;
  std::string path;
  std::string digest;  // hex SHA-256 of the file
};

struct SpoolProblem {
  enum Kind { kAltered, kMissing, kReplayed, kCounter, kRejected } kind;
  std::string file;  // the file (or, for kMissing, the number's would-be name)
  std::string detail;
};
std::string_view SpoolProblemName(SpoolProblem::Kind kind);

struct SpoolScan {
  uint64_t counter = 0;             // the highest number handed out (the counter, or a newer file)
  uint64_t ingested = 0;            // the highest number moved into the journal
  bool counter_sound = false;       // the counter file exists, verifies and is not behind
  std::vector<SpoolEntry> pending;  // sealed files after `ingested`, in number order
  // Numbers after `ingested` without any file, the first 100 of them (one more problem counts
  // the others).
  std::vector<uint64_t> missing;
  std::vector<std::string> bad_files;  // altered or replayed files (to set aside)
  std::vector<std::string> leftovers;  // files of the last batch moved (a crash before removal)
  std::vector<SpoolProblem> problems;  // everything wrong, by file
  bool ok() const { return problems.empty(); }
};

// Reads DIR/_spool: every file's seal and number, the counter and the ingested mark. A spool
// that does not exist is empty. Errors only for what cannot be read at all.
Result<SpoolScan> ScanSpool(const std::string& audit_dir, const crypto::SecretKey& key,
                            Env& env = Env::Default());

// Spools a record for `tree` under the next number (the command line, while a server owns the
// journal). Fails closed (kDataLoss) when the counter or the ingested mark does not verify.
Status SpoolRecord(const std::string& audit_dir, const crypto::SecretKey& key, const Record& record,
                   std::string_view tree, Env& env = Env::Default());

// After the records of `batch`, and what the scan found wrong, are durable in the journal:
// writes the ingested mark (`through`, normally scan.counter), seals the counter again when it
// was unsound, removes the batch's files and the leftovers, and moves `bad_files` into
// rejected/.
Status FinishIngest(const std::string& audit_dir, const crypto::SecretKey& key, uint64_t through,
                    const std::vector<SpoolEntry>& batch, const SpoolScan& scan,
                    Env& env = Env::Default());

}  // namespace hygie::audit
