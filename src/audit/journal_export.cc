#include "audit/journal_export.h"

#include <rapidjson/document.h>

#include <algorithm>
#include <charconv>

#include "audit/journal_format.h"
#include "audit/journal_io.h"
#include "core/env.h"

namespace hygie::audit {

namespace {

using journal_io::Mac;

constexpr std::string_view kVerifierKey = "verifier.key";
constexpr std::string_view kCheckpoints = "checkpoints.log";

// The tree size a checkpoint note states (its second line).
Result<uint64_t> NoteSize(std::string_view note) {
  size_t a = note.find('\n');
  if (a == std::string_view::npos) return DataLoss("audit journal: malformed checkpoint");
  size_t b = note.find('\n', a + 1);
  if (b == std::string_view::npos) return DataLoss("audit journal: malformed checkpoint");
  std::string_view digits = note.substr(a + 1, b - a - 1);
  uint64_t size = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), size);
  if (ec != std::errc() || p != digits.data() + digits.size() || digits.empty()) {
    return DataLoss("audit journal: malformed checkpoint size");
  }
  return size;
}

// Checkpoint frames with their byte extents and sizes.
struct CheckpointFrame {
  uint64_t begin = 0;
  uint64_t end = 0;
  uint64_t size = 0;
};

Result<std::vector<CheckpointFrame>> ParseCheckpoints(std::string_view data) {
  uint64_t end = 0;
  std::vector<std::string> notes = journal_io::CheckpointFrames(data, &end);
  std::vector<CheckpointFrame> frames;
  uint64_t offset = 0;
  for (const std::string& note : notes) {
    CheckpointFrame f;
    f.begin = offset;
    f.end = offset + 4 + note.size();
    HYGIE_ASSIGN_OR_RETURN(f.size, NoteSize(note));
    frames.push_back(f);
    offset = f.end;
  }
  return frames;
}

Result<int64_t> RecordTime(std::string_view json) {
  rapidjson::Document d;
  d.Parse(json.data(), json.size());
  if (d.HasParseError() || !d.IsObject()) return DataLoss("audit journal: malformed record");
  auto it = d.FindMember("t");
  if (it == d.MemberEnd() || !it->value.IsInt64()) {
    return DataLoss("audit journal: record without time");
  }
  return it->value.GetInt64();
}

}  // namespace

Result<std::vector<FileChunk>> ExportTree(const std::string& tree_dir, ExportCursor* cursor,
                                          size_t max_bytes) {
  Env& env = Env::Default();
  std::vector<FileChunk> chunks;
  size_t budget = max_bytes;
  auto exists = env.FileExists(tree_dir);
  if (!exists.ok()) return exists.status();
  if (!*exists) return NotFound("audit journal: no tree at " + tree_dir);

  if (!cursor->verifier_key) {
    auto key = env.ReadFile(tree_dir + "/" + std::string(kVerifierKey), 1 << 20);
    if (key.ok()) {
      chunks.push_back({std::string(kVerifierKey), 0, std::move(*key)});
      cursor->verifier_key = true;
    } else if (key.status().code() != Code::kNotFound) {
      return key.status();
    }
  }

  // The durable bound: the newest checkpoint's tree size.
  std::string ckpt_data;
  auto ckpt = env.ReadFile(tree_dir + "/" + std::string(kCheckpoints));
  if (ckpt.ok()) {
    ckpt_data = std::move(*ckpt);
  } else if (ckpt.status().code() != Code::kNotFound) {
    return ckpt.status();
  }
  HYGIE_ASSIGN_OR_RETURN(std::vector<CheckpointFrame> frames, ParseCheckpoints(ckpt_data));
  uint64_t durable = frames.empty() ? 0 : frames.back().size;

  HYGIE_ASSIGN_OR_RETURN(auto segments, journal_io::ListSegments(tree_dir));
  for (const auto& [first, pruned] : segments) {
    if (cursor->records >= durable || budget == 0) break;
    if (first < cursor->segment_first) continue;
    std::string name = journal_io::SegmentName(first, pruned);
    if (first > cursor->segment_first || (first == 0 && cursor->segment_bytes == 0)) {
      // A new segment starts where the previous one ended.
      if (first != cursor->records) break;
      cursor->segment_first = first;
      cursor->segment_bytes = 0;
    }
    HYGIE_ASSIGN_OR_RETURN(std::string data, env.ReadFile(tree_dir + "/" + name));
    if (pruned) {
      if (cursor->segment_bytes != 0) continue;  // exported before its records were pruned
      HYGIE_ASSIGN_OR_RETURN(journal_io::PrunedFile p, journal_io::ParsePruned(data));
      if (p.first + p.count > durable) break;
      cursor->records = p.first + p.count;
      cursor->segment_bytes = data.size();
      budget -= std::min(budget, data.size());
      chunks.push_back({name, 0, std::move(data)});
      continue;
    }
    uint64_t begin = cursor->segment_bytes;
    uint64_t offset = begin;
    if (offset == 0) {
      if (data.size() < format::kSegmentMagic.size() ||
          std::string_view(data).substr(0, format::kSegmentMagic.size()) != format::kSegmentMagic) {
        return DataLoss("audit journal: bad segment header in " + name);
      }
      offset = format::kSegmentMagic.size();
    }
    uint64_t records = cursor->records;
    while (records < durable && offset - begin < budget) {
      uint64_t next = offset;
      std::string_view json;
      Mac mac;
      HYGIE_ASSIGN_OR_RETURN(bool more, journal_io::NextFrame(data, &next, &json, &mac));
      if (!more) break;
      offset = next;
      ++records;
    }
    if (offset == begin) continue;  // nothing new here; a later segment may follow
    chunks.push_back({name, begin, data.substr(begin, offset - begin)});
    budget -= std::min<size_t>(budget, offset - begin);
    cursor->records = records;
    cursor->segment_bytes = offset;
  }

  // Checkpoints of exported sizes.
  uint64_t from = cursor->checkpoint_bytes;
  uint64_t to = from;
  uint64_t count = cursor->checkpoints;
  for (const CheckpointFrame& f : frames) {
    if (f.begin < from) continue;
    if (f.begin != to || f.size > cursor->records) break;
    to = f.end;
    ++count;
  }
  if (to > from) {
    chunks.push_back({std::string(kCheckpoints), from, ckpt_data.substr(from, to - from)});
    cursor->checkpoint_bytes = to;
    cursor->checkpoints = count;
  }
  return chunks;
}

Result<uint64_t> CutTree(const std::string& tree_dir, int64_t until_us, uint64_t* covered) {
  Env& env = Env::Default();
  HYGIE_ASSIGN_OR_RETURN(auto segments, journal_io::ListSegments(tree_dir));
  uint64_t kept = 0;
  bool cut = false;
  for (const auto& [first, pruned] : segments) {
    std::string path = tree_dir + "/" + journal_io::SegmentName(first, pruned);
    if (cut) {
      HYGIE_RETURN_IF_ERROR(env.RemoveFile(path));
      continue;
    }
    HYGIE_ASSIGN_OR_RETURN(std::string data, env.ReadFile(path));
    if (pruned) {
      // Only leaf hashes are left: no times to cut by; kept whole.
      HYGIE_ASSIGN_OR_RETURN(journal_io::PrunedFile p, journal_io::ParsePruned(data));
      kept = p.first + p.count;
      continue;
    }
    uint64_t offset = format::kSegmentMagic.size();
    uint64_t records = first;
    while (true) {
      uint64_t next = offset;
      std::string_view json;
      Mac mac;
      HYGIE_ASSIGN_OR_RETURN(bool more, journal_io::NextFrame(data, &next, &json, &mac));
      if (!more) break;
      HYGIE_ASSIGN_OR_RETURN(int64_t t, RecordTime(json));
      if (t > until_us) {
        cut = true;
        break;
      }
      offset = next;
      ++records;
    }
    kept = records;
    if (offset < data.size()) {
      if (offset == format::kSegmentMagic.size() && first > 0) {
        HYGIE_RETURN_IF_ERROR(env.RemoveFile(path));
      } else {
        HYGIE_RETURN_IF_ERROR(env.WriteFileAtomic(path, std::string_view(data).substr(0, offset)));
      }
    }
  }
  std::string ckpt_path = tree_dir + "/" + std::string(kCheckpoints);
  *covered = 0;
  auto ckpt = env.ReadFile(ckpt_path);
  if (ckpt.ok()) {
    HYGIE_ASSIGN_OR_RETURN(std::vector<CheckpointFrame> frames, ParseCheckpoints(*ckpt));
    uint64_t end = 0;
    for (const CheckpointFrame& f : frames) {
      if (f.size > kept) break;
      end = f.end;
      *covered = f.size;
    }
    if (end < ckpt->size()) {
      HYGIE_RETURN_IF_ERROR(env.WriteFileAtomic(ckpt_path, std::string_view(*ckpt).substr(0, end)));
    }
  } else if (ckpt.status().code() != Code::kNotFound) {
    return ckpt.status();
  }
  return kept;
}

}  // namespace hygie::audit
