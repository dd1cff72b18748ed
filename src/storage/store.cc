#include "storage/store.h"

#include <algorithm>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <utility>

namespace hygie::storage {

Status TenantStore::CommitAndWait(WriteBatch batch) {
  // Shared with the callback, so the state outlives whichever side finishes last.
  struct Waiter {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    Status status;
  };
  auto waiter = std::make_shared<Waiter>();
  Commit(std::move(batch), [waiter](Status status) {
    std::lock_guard<std::mutex> lock(waiter->mu);
    waiter->status = std::move(status);
    waiter->done = true;
    waiter->cv.notify_one();
  });
  std::unique_lock<std::mutex> lock(waiter->mu);
  waiter->cv.wait(lock, [&waiter] { return waiter->done; });
  return std::move(waiter->status);
}

namespace {

// Candidates read per page: the first page is the size of the request (most candidates pass in
// the common case), then pages double up to this bound.
constexpr size_t kMaxCandidatePage = 4096;

SearchQuery CandidateQuery(const SearchQuery& query) {
  SearchQuery c = query;
  c.filter = nullptr;
  c.with_bodies = true;
  return c;
}

}  // namespace

Result<std::vector<SearchHit>> SearchFiltered(const SearchQuery& query,
                                              const CandidateSearch& search) {
  std::vector<SearchHit> out;
  if (query.limit == 0) return out;
  SearchQuery c = CandidateQuery(query);
  // Sorted queries page by offset: the offset skips results, so candidates are read from the
  // first one. Unsorted ones page by row id, which candidates share with results.
  const bool sorted = !query.sort.empty();
  uint64_t skip = sorted ? query.offset : 0;
  c.offset = 0;
  size_t page = std::clamp<size_t>(query.limit + static_cast<size_t>(skip), 16, kMaxCandidatePage);
  while (true) {
    c.limit = page;
    HYGIE_ASSIGN_OR_RETURN(std::vector<SearchHit> candidates, search(c));
    for (SearchHit& hit : candidates) {
      HYGIE_ASSIGN_OR_RETURN(bool keep, query.filter(hit));
      if (!keep) continue;
      if (skip > 0) {
        --skip;
        continue;
      }
      if (!query.with_bodies) hit.record.body = Bytes();
      out.push_back(std::move(hit));
      if (out.size() == query.limit) return out;
    }
    if (candidates.size() < page) return out;
    if (sorted) {
      c.offset += candidates.size();
    } else {
      c.after_rowid = candidates.back().rowid;
    }
    page = std::min(page * 2, kMaxCandidatePage);
  }
}

Result<uint64_t> CountFiltered(const SearchQuery& query, const CandidateSearch& search) {
  SearchQuery c = CandidateQuery(query);
  // Every candidate, in row id order (the cheapest order to page by).
  c.sort.clear();
  c.offset = 0;
  c.after_rowid = 0;
  c.limit = kMaxCandidatePage;
  uint64_t n = 0;
  while (true) {
    HYGIE_ASSIGN_OR_RETURN(std::vector<SearchHit> candidates, search(c));
    for (const SearchHit& hit : candidates) {
      HYGIE_ASSIGN_OR_RETURN(bool keep, query.filter(hit));
      if (keep) ++n;
    }
    if (candidates.size() < c.limit) return n;
    c.after_rowid = candidates.back().rowid;
  }
}

}  // namespace hygie::storage
