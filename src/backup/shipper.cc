#include "backup/shipper.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "core/env.h"
#include "core/log.h"
#include "core/thread_name.h"

namespace hygie::backup {

Shipper::Shipper(ShipperOptions options, std::vector<NamedTarget> targets,
                 std::function<Result<std::vector<ChainSpec>>()> chains, const Clock& clock)
    : options_(std::move(options)),
      targets_(std::move(targets)),
      chains_(std::move(chains)),
      clock_(clock) {}

Shipper::~Shipper() { Stop(); }

void Shipper::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable() || stop_) return;
  thread_ = std::thread([this] {
    SetThreadName("backup");
    Loop();
  });
}

void Shipper::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Shipper::Wake() {
  {
    std::lock_guard lock(mu_);
    wake_ = true;
  }
  cv_.notify_all();
}

void Shipper::Loop() {
  while (true) {
    RunRound();
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::microseconds(options_.interval_us),
                 [this] { return stop_ || wake_; });
    wake_ = false;
    if (stop_) break;
  }
  RunRound();  // what became durable while stopping
}

void Shipper::RunRound() {
  std::lock_guard round(round_mu_);
  auto chains = chains_();
  if (!chains.ok()) {
    log::Error("backup: cannot list what to ship: {}", chains.status().message());
    return;
  }
  for (NamedTarget& t : targets_) {
    for (const ChainSpec& spec : *chains) ShipOne(t, spec);
  }
  WriteStatus();
}

void Shipper::ShipOne(NamedTarget& t, const ChainSpec& spec) {
  auto key = std::make_pair(t.name, spec.id.tenant);
  Status s;
  auto seed = spec.seed();
  ChainHead* head = nullptr;
  Result<ShipResult> shipped = Status(Code::kInternal, "not run");
  if (!seed.ok()) {
    s = seed.status();
  } else {
    auto keys = ChainKeys::Derive(*seed);
    if (!keys.ok()) {
      s = keys.status();
    } else {
      auto it = heads_.find(key);
      if (it == heads_.end()) {
        auto read = ReadHead(*t.target, spec.id, *keys);
        if (read.ok()) it = heads_.emplace(key, std::move(*read)).first;
        s = read.status();
      }
      if (s.ok()) {
        head = &it->second;
        ChainSource source{spec.store.get(), spec.tree_dir};
        shipped = ShipChain(*t.target, spec.id, *keys, source, clock_, options_.ship, head);
        s = shipped.status();
        if (s.ok() && options_.base_interval_us > 0 && !head->empty && !head->last.is_base() &&
            (!head->last.last_base ||
             clock_.NowMicros() - head->last.last_base_us >= options_.base_interval_us)) {
          auto base = MakeBase(*t.target, spec.id, *keys, clock_, options_.base, head);
          s = base.status();
          if (base.ok()) {
            log::Info("backup: base snapshot {} of {} on {}: {} packs, {} reused, {} merged",
                      base->n, spec.id.tenant, t.name, base->packs, base->reused, base->merged);
          }
        }
        // After a failure the target is read again next time: it is the truth.
        if (!s.ok()) {
          heads_.erase(it);
          head = nullptr;
        }
      }
    }
  }
  std::lock_guard lock(mu_);
  ChainStatus& st = status_[key];
  st.target = t.name;
  st.chain = spec.id.tenant;
  if (s.ok()) {
    if (!st.error.empty()) {
      log::Info("backup: {} of {} reaches {} again", spec.id.tenant, spec.id.installation, t.name);
    }
    st.error.clear();
    st.last_ok_us = clock_.NowMicros();
    if (head != nullptr && !head->empty) {
      st.entries = head->entries;
      st.shipped_seq = head->last.shipped_seq;
      st.total_versions = head->last.total_versions;
      st.total_bytes = head->last.total_bytes;
      st.last_entry_us = head->last.created_us;
      st.last_base_us = head->last.last_base ? head->last.last_base_us : 0;
    }
  } else {
    if (st.error != s.message()) {
      log::Error("backup: {} to {}: {} (writes go on; shipping retries every round)",
                 spec.id.tenant, t.name, s.message());
    }
    st.error = s.message();
  }
}

std::vector<ChainStatus> Shipper::Snapshot() const {
  std::lock_guard lock(mu_);
  std::vector<ChainStatus> out;
  for (const auto& [k, v] : status_) out.push_back(v);
  return out;
}

void Shipper::WriteStatus() {
  if (options_.status_file.empty()) return;
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartArray();
  for (const ChainStatus& s : Snapshot()) {
    w.StartObject();
    w.Key("target");
    w.String(s.target.c_str());
    w.Key("chain");
    w.String(s.chain.c_str());
    w.Key("entries");
    w.Uint64(s.entries);
    w.Key("shipped_seq");
    w.Uint64(s.shipped_seq);
    w.Key("total_versions");
    w.Uint64(s.total_versions);
    w.Key("total_bytes");
    w.Uint64(s.total_bytes);
    w.Key("last_entry_us");
    w.Int64(s.last_entry_us);
    w.Key("last_ok_us");
    w.Int64(s.last_ok_us);
    w.Key("last_base_us");
    w.Int64(s.last_base_us);
    w.Key("error");
    w.String(s.error.c_str());
    w.EndObject();
  }
  w.EndArray();
  Status s = Env::Default().WriteFileAtomic(options_.status_file,
                                            std::string(buf.GetString(), buf.GetSize()), 0600);
  if (!s.ok()) log::Warn("backup: cannot write {}: {}", options_.status_file, s.message());
}

Result<std::vector<ChainStatus>> ReadStatusFile(const std::string& path) {
  HYGIE_ASSIGN_OR_RETURN(std::string text, Env::Default().ReadFile(path, 16 << 20));
  rapidjson::Document d;
  d.Parse(text.data(), text.size());
  if (d.HasParseError() || !d.IsArray()) return DataLoss(path + " is damaged");
  std::vector<ChainStatus> out;
  for (const auto& v : d.GetArray()) {
    if (!v.IsObject()) return DataLoss(path + " is damaged");
    ChainStatus s;
    auto str = [&v](const char* k) {
      auto it = v.FindMember(k);
      return it != v.MemberEnd() && it->value.IsString() ? std::string(it->value.GetString())
                                                         : std::string();
    };
    auto u64 = [&v](const char* k) -> uint64_t {
      auto it = v.FindMember(k);
      return it != v.MemberEnd() && it->value.IsUint64() ? it->value.GetUint64() : 0;
    };
    auto i64 = [&v](const char* k) -> int64_t {
      auto it = v.FindMember(k);
      return it != v.MemberEnd() && it->value.IsInt64() ? it->value.GetInt64() : 0;
    };
    s.target = str("target");
    s.chain = str("chain");
    s.entries = u64("entries");
    s.shipped_seq = u64("shipped_seq");
    s.total_versions = u64("total_versions");
    s.total_bytes = u64("total_bytes");
    s.last_entry_us = i64("last_entry_us");
    s.last_ok_us = i64("last_ok_us");
    s.last_base_us = i64("last_base_us");
    s.error = str("error");
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace hygie::backup
