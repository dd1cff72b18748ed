#pragma once
// Completions handed to an io_context from other threads, gathered: the first one of a burst
// posts one drain, the others join it. A group commit that ends fifty requests of one I/O thread
// costs that thread one wake-up and one post, not fifty.
//
// Each io_context has one Inbox (an Asio service: Inbox::Of(context)). Push is thread-safe;
// items run on a thread that runs the context, in the order they were pushed.

#include <memory>
#include <mutex>
#include <utility>

#include <boost/asio/execution_context.hpp>
#include <boost/asio/io_context.hpp>

namespace hygie::http {

// Something to run on the context's thread. Run() owns the item (it deletes it, or hands it on).
class InboxItem {
 public:
  virtual ~InboxItem() = default;
  virtual void Run() = 0;

 private:
  friend class Inbox;
  InboxItem* next_ = nullptr;
};

class Inbox : public boost::asio::execution_context::service {
 public:
  using key_type = Inbox;
  static inline boost::asio::execution_context::id id;

  // Asio makes it, once per io_context (see Of).
  explicit Inbox(boost::asio::io_context& context);
  ~Inbox() override;

  // The inbox of `context`.
  static Inbox& Of(boost::asio::io_context& context);

  // Runs `item` on a thread of this inbox's context: at once when called from one, else in the
  // next drain.
  void Push(std::unique_ptr<InboxItem> item);

 private:
  void shutdown() override;
  void Drain();
  void DeleteAll(InboxItem* head);

  boost::asio::io_context& context_;
  std::mutex mu_;
  InboxItem* head_ = nullptr;  // GUARDED_BY(mu_)
  InboxItem* tail_ = nullptr;  // GUARDED_BY(mu_)
  bool scheduled_ = false;     // a drain is posted and has not taken the list yet
};

// The io_context an executor runs its work on directly (an io_context's executor, tracking work
// or not), or null (a strand, another kind of executor).
template <typename Executor>
boost::asio::io_context* IoContextOf(const Executor& ex) {
  using Plain = boost::asio::io_context::executor_type;
  using Tracked = decltype(boost::asio::require(std::declval<Plain>(),
                                                boost::asio::execution::outstanding_work.tracked));
  if (const auto* e = ex.template target<Plain>()) {
    return &boost::asio::query(*e, boost::asio::execution::context);
  }
  if (const auto* e = ex.template target<Tracked>()) {
    return &boost::asio::query(*e, boost::asio::execution::context);
  }
  return nullptr;
}

}  // namespace hygie::http
