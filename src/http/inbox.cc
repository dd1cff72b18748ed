#include "http/inbox.h"

#include <boost/asio/post.hpp>
#include <utility>

namespace hygie::http {

Inbox::Inbox(boost::asio::io_context& context) : service(context), context_(context) {}

Inbox::~Inbox() { DeleteAll(head_); }

Inbox& Inbox::Of(boost::asio::io_context& context) {
  // The io_context overload of use_service hands the service its io_context.
  return boost::asio::use_service<Inbox>(context);
}

void Inbox::Push(std::unique_ptr<InboxItem> item) {
  if (context_.get_executor().running_in_this_thread()) {
    item.release()->Run();
    return;
  }
  bool post = false;
  {
    std::lock_guard lock(mu_);
    InboxItem* raw = item.release();
    if (tail_ != nullptr) {
      tail_->next_ = raw;
    } else {
      head_ = raw;
    }
    tail_ = raw;
    if (!scheduled_) post = scheduled_ = true;
  }
  if (post) boost::asio::post(context_, [this] { Drain(); });
}

void Inbox::Drain() {
  InboxItem* item = nullptr;
  {
    std::lock_guard lock(mu_);
    item = std::exchange(head_, nullptr);
    tail_ = nullptr;
    scheduled_ = false;
  }
  while (item != nullptr) {
    InboxItem* next = std::exchange(item->next_, nullptr);
    item->Run();
    item = next;
  }
}

void Inbox::shutdown() {
  InboxItem* head = nullptr;
  {
    std::lock_guard lock(mu_);
    head = std::exchange(head_, nullptr);
    tail_ = nullptr;
  }
  DeleteAll(head);
}

void Inbox::DeleteAll(InboxItem* head) {
  while (head != nullptr) delete std::exchange(head, head->next_);
}

}  // namespace hygie::http
