#include "core/fault_env.h"

#include <utility>

namespace hygie {

namespace {

std::string_view OpName(FaultInjectionEnv::Op op) {
  switch (op) {
    case FaultInjectionEnv::Op::kOpen:
      return "open";
    case FaultInjectionEnv::Op::kAppend:
      return "append";
    case FaultInjectionEnv::Op::kSync:
      return "sync";
    case FaultInjectionEnv::Op::kClose:
      return "close";
    case FaultInjectionEnv::Op::kRename:
      return "rename";
    case FaultInjectionEnv::Op::kRemove:
      return "remove";
    case FaultInjectionEnv::Op::kSyncDir:
      return "sync directory";
    case FaultInjectionEnv::Op::kCreateDirs:
      return "create directories";
    case FaultInjectionEnv::Op::kRead:
      return "read";
  }
  return "?";
}

std::string WithoutTrailingSlashes(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

}  // namespace

class FaultInjectionEnv::File final : public WritableFile {
 public:
  File(FaultInjectionEnv& env, std::shared_ptr<FileState> state, std::unique_ptr<WritableFile> base)
      : env_(env), state_(std::move(state)), base_(std::move(base)) {}
  ~File() override {
    if (!closed_) Close().IgnoreError();
  }

  Status Append(std::string_view data) override {
    std::lock_guard lock(env_.mu_);
    return env_.AppendLocked(*state_, *base_, data);
  }
  Status Sync() override {
    std::lock_guard lock(env_.mu_);
    return env_.SyncLocked(*state_, *base_);
  }
  Status Close() override {
    if (closed_) return Status::Ok();
    closed_ = true;
    std::lock_guard lock(env_.mu_);
    return env_.CloseLocked(*state_, *base_);
  }

 private:
  FaultInjectionEnv& env_;
  std::shared_ptr<FileState> state_;
  std::unique_ptr<WritableFile> base_;
  bool closed_ = false;
};

FaultInjectionEnv::FaultInjectionEnv(Env& base) : base_(base) {}
FaultInjectionEnv::~FaultInjectionEnv() = default;

Status FaultInjectionEnv::Intercept(Op op, const std::string& path) {
  switch (op) {
    case Op::kOpen:
      ++counters_.open;
      break;
    case Op::kAppend:
      ++counters_.append;
      break;
    case Op::kSync:
      ++counters_.sync;
      break;
    case Op::kClose:
      ++counters_.close;
      break;
    case Op::kRename:
      ++counters_.rename;
      break;
    case Op::kRemove:
      ++counters_.remove;
      break;
    case Op::kSyncDir:
      ++counters_.sync_dir;
      break;
    case Op::kCreateDirs:
      ++counters_.create_dirs;
      break;
    case Op::kRead:
      ++counters_.read;
      break;
  }
  if (!fault_) return Status::Ok();
  FaultSpec& f = *fault_;
  if (op == Op::kRead && !f.reads_too) return Status::Ok();
  if (!f.path_prefix.empty() && !path.starts_with(f.path_prefix)) return Status::Ok();
  if (f.skip > 0) {
    --f.skip;
    return Status::Ok();
  }
  if (f.count == 0) return Status::Ok();
  if (f.count != kForever) --f.count;
  ++counters_.failed;
  return Status(f.code, "injected fault: " + std::string(OpName(op)) + " " + path);
}

Result<std::string> FaultInjectionEnv::DurableContent(const std::string& path) {
  HYGIE_ASSIGN_OR_RETURN(std::string content, base_.ReadFile(path));
  auto it = files_.find(path);
  if (it != files_.end() && content.size() > it->second->synced) {
    content.resize(it->second->synced);
  }
  return content;
}

Status FaultInjectionEnv::RememberName(const std::string& path) {
  if (names_.contains(path)) return Status::Ok();
  HYGIE_ASSIGN_OR_RETURN(bool exists, base_.FileExists(path));
  NameUndo undo;
  undo.existed = exists;
  if (exists) {
    HYGIE_ASSIGN_OR_RETURN(undo.content, DurableContent(path));
  }
  names_.emplace(path, std::move(undo));
  return Status::Ok();
}

Status FaultInjectionEnv::WriteWhole(const std::string& path, const std::string& content) {
  HYGIE_ASSIGN_OR_RETURN(auto file, base_.OpenForWrite(path, OpenMode::kTruncate, 0600));
  Status s = file->Append(content);
  if (s.ok()) s = file->Sync();
  Status closed = file->Close();
  return s.ok() ? closed : s;
}

Status FaultInjectionEnv::AppendLocked(FileState& state, WritableFile& base,
                                       std::string_view data) {
  HYGIE_RETURN_IF_ERROR(Intercept(Op::kAppend, state.path));
  if (space_left_ && data.size() > *space_left_) {
    const uint64_t fit = *space_left_;
    *space_left_ = 0;
    ++counters_.failed;
    HYGIE_RETURN_IF_ERROR(base.Append(data.substr(0, fit)));
    state.size += fit;
    return ResourceExhausted("cannot write " + state.path + ": No space left on device (injected)");
  }
  HYGIE_RETURN_IF_ERROR(base.Append(data));
  if (space_left_) *space_left_ -= data.size();
  state.size += data.size();
  return Status::Ok();
}

Status FaultInjectionEnv::SyncLocked(FileState& state, WritableFile& base) {
  HYGIE_RETURN_IF_ERROR(Intercept(Op::kSync, state.path));
  HYGIE_RETURN_IF_ERROR(base.Sync());
  state.synced = state.size;
  return Status::Ok();
}

Status FaultInjectionEnv::CloseLocked(FileState& state, WritableFile& base) {
  Status injected = Intercept(Op::kClose, state.path);
  Status s = base.Close();  // a failed close still closes
  return injected.ok() ? s : injected;
}

Result<std::unique_ptr<WritableFile>> FaultInjectionEnv::OpenForWrite(const std::string& path,
                                                                      OpenMode open_mode,
                                                                      mode_t mode) {
  std::lock_guard lock(mu_);
  HYGIE_RETURN_IF_ERROR(Intercept(Op::kOpen, path));
  HYGIE_ASSIGN_OR_RETURN(bool exists, base_.FileExists(path));
  uint64_t existing_size = 0;
  if (exists && open_mode == OpenMode::kAppend) {
    HYGIE_ASSIGN_OR_RETURN(existing_size, base_.FileSize(path));
  }
  HYGIE_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> base_file,
                         base_.OpenForWrite(path, open_mode, mode));
  std::shared_ptr<FileState>& state = files_[path];
  if (!exists) {
    names_.try_emplace(path, NameUndo{});  // a new name: absent before
    state = std::make_shared<FileState>();
  } else if (open_mode == OpenMode::kTruncate) {
    if (!state) state = std::make_shared<FileState>();
    state->size = state->synced = 0;
  } else if (!state) {
    // Appending to a file this env did not write: what is there counts as durable.
    state = std::make_shared<FileState>();
    state->size = state->synced = existing_size;
  }
  state->path = path;
  return std::unique_ptr<WritableFile>(new File(*this, state, std::move(base_file)));
}

Result<std::string> FaultInjectionEnv::ReadFile(const std::string& path, uint64_t max_bytes) {
  std::lock_guard lock(mu_);
  HYGIE_RETURN_IF_ERROR(Intercept(Op::kRead, path));
  return base_.ReadFile(path, max_bytes);
}

Result<bool> FaultInjectionEnv::FileExists(const std::string& path) {
  std::lock_guard lock(mu_);
  HYGIE_RETURN_IF_ERROR(Intercept(Op::kRead, path));
  return base_.FileExists(path);
}

Result<uint64_t> FaultInjectionEnv::FileSize(const std::string& path) {
  std::lock_guard lock(mu_);
  HYGIE_RETURN_IF_ERROR(Intercept(Op::kRead, path));
  return base_.FileSize(path);
}

Result<std::vector<std::string>> FaultInjectionEnv::ListDir(const std::string& dir) {
  std::lock_guard lock(mu_);
  HYGIE_RETURN_IF_ERROR(Intercept(Op::kRead, dir));
  return base_.ListDir(dir);
}

Status FaultInjectionEnv::CreateDirs(const std::string& dir, mode_t mode) {
  std::lock_guard lock(mu_);
  HYGIE_RETURN_IF_ERROR(Intercept(Op::kCreateDirs, dir));
  return base_.CreateDirs(dir, mode);
}

Status FaultInjectionEnv::RenameFile(const std::string& from, const std::string& to) {
  std::lock_guard lock(mu_);
  HYGIE_RETURN_IF_ERROR(Intercept(Op::kRename, from));
  if (from == to) return base_.RenameFile(from, to);
  // What both names durably held, before the rename changes them.
  HYGIE_RETURN_IF_ERROR(RememberName(from));
  HYGIE_RETURN_IF_ERROR(RememberName(to));
  HYGIE_RETURN_IF_ERROR(base_.RenameFile(from, to));
  files_.erase(to);
  auto it = files_.find(from);
  if (it != files_.end()) {
    std::shared_ptr<FileState> state = std::move(it->second);
    files_.erase(it);
    state->path = to;
    files_[to] = std::move(state);
  }
  return Status::Ok();
}

Status FaultInjectionEnv::RemoveFile(const std::string& path) {
  std::lock_guard lock(mu_);
  HYGIE_RETURN_IF_ERROR(Intercept(Op::kRemove, path));
  HYGIE_RETURN_IF_ERROR(RememberName(path));
  HYGIE_RETURN_IF_ERROR(base_.RemoveFile(path));
  files_.erase(path);
  return Status::Ok();
}

Status FaultInjectionEnv::SyncDir(const std::string& dir) {
  std::lock_guard lock(mu_);
  HYGIE_RETURN_IF_ERROR(Intercept(Op::kSyncDir, dir));
  HYGIE_RETURN_IF_ERROR(base_.SyncDir(dir));
  const std::string d = WithoutTrailingSlashes(dir);
  std::erase_if(names_, [&](const auto& entry) { return DirName(entry.first) == d; });
  return Status::Ok();
}

Status FaultInjectionEnv::DropUnsyncedData() {
  std::lock_guard lock(mu_);
  Status first;
  auto note = [&first](Status s) {
    if (first.ok() && !s.ok()) first = std::move(s);
  };
  // Bytes not synced are lost...
  for (const auto& [path, state] : files_) {
    auto content = base_.ReadFile(path);
    if (!content.ok()) {
      if (content.status().code() != Code::kNotFound) note(content.status());
      continue;
    }
    if (content->size() <= state->synced) continue;
    content->resize(state->synced);
    note(WriteWhole(path, *content));
  }
  // ... and so are name changes not made durable by a SyncDir of their directory.
  for (const auto& [path, undo] : names_) {
    if (undo.existed) {
      note(WriteWhole(path, undo.content));
      continue;
    }
    Status s = base_.RemoveFile(path);
    if (s.code() != Code::kNotFound) note(std::move(s));
  }
  files_.clear();
  names_.clear();
  return first;
}

void FaultInjectionEnv::ResetState() {
  std::lock_guard lock(mu_);
  files_.clear();
  names_.clear();
}

void FaultInjectionEnv::FailCalls(FaultSpec spec) {
  std::lock_guard lock(mu_);
  fault_ = std::move(spec);
}

void FaultInjectionEnv::FailNextCalls(uint64_t n, Code code, std::string path_prefix) {
  FaultSpec spec;
  spec.count = n;
  spec.code = code;
  spec.path_prefix = std::move(path_prefix);
  FailCalls(std::move(spec));
}

void FaultInjectionEnv::ClearFaults() {
  std::lock_guard lock(mu_);
  fault_.reset();
}

void FaultInjectionEnv::SetNoSpaceAfterBytes(uint64_t bytes) {
  std::lock_guard lock(mu_);
  space_left_ = bytes;
}

void FaultInjectionEnv::ClearNoSpace() {
  std::lock_guard lock(mu_);
  space_left_.reset();
}

FaultInjectionEnv::Counters FaultInjectionEnv::counters() const {
  std::lock_guard lock(mu_);
  return counters_;
}

void FaultInjectionEnv::ResetCounters() {
  std::lock_guard lock(mu_);
  counters_ = Counters();
}

}  // namespace hygie
