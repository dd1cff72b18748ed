#include "api/reindex.h"

#include <string>
#include <vector>

#include "api/codec.h"
#include "core/log.h"
#include "fhir/resource.h"
#include "fhir/search/indexer.h"

namespace hygie::api {

Status RebuildIndex(storage::TenantStore& store, const crypto::TenantKeys& keys,
                    const crypto::KeyedHasher& hasher, const Clock& clock,
                    const std::function<void(uint64_t)>& progress) {
  const auto& indexer = fhir::search::Indexer::Get();
  uint64_t after = 0;
  uint64_t done = 0;
  int64_t started = clock.NowMicros();
  log::Info("tenant {}: building the search index", keys.tenant());
  while (true) {
    HYGIE_ASSIGN_OR_RETURN(std::vector<storage::SearchHit> hits, store.ScanCurrent("", after, 500));
    storage::WriteBatch batch;
    for (const storage::SearchHit& hit : hits) {
      const storage::VersionRecord& r = hit.record;
      HYGIE_ASSIGN_OR_RETURN(std::string json,
                             OpenResource(keys, r.type, r.id, r.version, r.key_id, r.body));
      HYGIE_ASSIGN_OR_RETURN(fhir::Resource resource, fhir::Resource::Parse(json));
      storage::IndexWrite w;
      w.type = r.type;
      w.id = r.id;
      w.version = r.version;
      w.index = indexer.Index(resource.doc(), r.type, hasher, keys.tenant());
      batch.reindex.push_back(std::move(w));
      after = hit.rowid;
    }
    if (hits.empty()) batch.set_index_version = kIndexVersion;
    // A resource updated meanwhile fails its IndexWrite precondition: its new version carries
    // its own entries, so the batch is retried without it by scanning again from the same place.
    Status s = store.CommitAndWait(std::move(batch));
    if (!s.ok() && s.code() != Code::kNotFound) return s;
    done += hits.size();
    if (progress) progress(done);
    if (hits.empty()) break;
    if (done % 10000 < 500) {
      log::Info("tenant {}: {} resources indexed", keys.tenant(), done);
    }
  }
  log::Info("tenant {}: search index built ({} resources, {} ms)", keys.tenant(), done,
            (clock.NowMicros() - started) / 1000);
  return Status::Ok();
}

}  // namespace hygie::api
