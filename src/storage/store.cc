#include "storage/store.h"

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

}  // namespace hygie::storage
