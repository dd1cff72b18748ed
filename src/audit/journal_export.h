#pragma once
// Export of an audit tree's files for backups: the durable bytes of a tree directory, in
// chunks that rebuild the same files when appended in order, and the cut of a rebuilt tree at
// a point in time (docs/backup-format.md).
//
// Only what is certainly durable is exported: record frames up to the tree size of the newest
// checkpoint (a checkpoint is signed after its records are synced), and complete checkpoint
// frames whose tree size is exported too. The files are read, never written, so a running
// journal may own the tree meanwhile.
//
// Plain functions; thread-safe for distinct cursors.

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace hygie::audit {

struct FileChunk {
  std::string file;  // a name in the tree directory
  uint64_t offset = 0;
  std::string bytes;
};

// How far a tree has been exported.
struct ExportCursor {
  bool verifier_key = false;   // verifier.key exported
  uint64_t records = 0;        // records exported (the next record's index)
  uint64_t segment_first = 0;  // the segment being exported (first record index)
  uint64_t segment_bytes = 0;  // its bytes exported
  uint64_t checkpoint_bytes = 0;
  uint64_t checkpoints = 0;
};

// Chunks of `tree_dir` after `cursor`, about `max_bytes` at most (at least one frame when any
// is due); advances *cursor past them. An empty result: nothing new. kNotFound when the tree
// directory does not exist; kDataLoss for files that do not parse.
Result<std::vector<FileChunk>> ExportTree(const std::string& tree_dir, ExportCursor* cursor,
                                          size_t max_bytes);

// Cuts a rebuilt tree directory to its records with time <= until_us (the first record after
// it and everything later goes), and its checkpoints to those of tree sizes <= the records
// kept. Returns the records kept and, in *covered, the size of the newest checkpoint kept.
Result<uint64_t> CutTree(const std::string& tree_dir, int64_t until_us, uint64_t* covered);

}  // namespace hygie::audit
