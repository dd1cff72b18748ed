#include "http/inbox.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <memory>
#include <thread>
#include <vector>

namespace hygie::http {
namespace {

namespace asio = boost::asio;

struct Counters {
  std::vector<int> ran;
  std::vector<std::thread::id> threads;
  std::atomic<int> destroyed{0};
};

class Item : public InboxItem {
 public:
  Item(Counters& c, int n) : c_(c), n_(n) {}
  ~Item() override { ++c_.destroyed; }
  void Run() override {
    std::unique_ptr<Item> own(this);
    c_.ran.push_back(n_);
    c_.threads.push_back(std::this_thread::get_id());
  }

 private:
  Counters& c_;
  int n_;
};

TEST(InboxTest, BurstFromAnotherThreadCostsOnePostAndKeepsOrder) {
  asio::io_context context(1);
  Counters c;
  std::thread pusher([&] {
    for (int i = 0; i < 100; ++i) {
      Inbox::Of(context).Push(std::make_unique<Item>(c, i));
    }
  });
  pusher.join();
  EXPECT_TRUE(c.ran.empty());     // nothing runs outside the context's thread
  EXPECT_EQ(context.poll(), 1u);  // one drain for the whole burst
  ASSERT_EQ(c.ran.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(c.ran[i], i);
  for (const auto& id : c.threads) EXPECT_EQ(id, std::this_thread::get_id());
  EXPECT_EQ(c.destroyed.load(), 100);

  // After a drain, the next push posts again.
  std::thread([&] { Inbox::Of(context).Push(std::make_unique<Item>(c, 100)); }).join();
  context.restart();
  EXPECT_EQ(context.poll(), 1u);
  EXPECT_EQ(c.ran.back(), 100);
}

TEST(InboxTest, PushOnTheContextsThreadRunsAtOnce) {
  asio::io_context context(1);
  Counters c;
  asio::post(context, [&] {
    Inbox::Of(context).Push(std::make_unique<Item>(c, 7));
    EXPECT_EQ(c.ran.size(), 1u);  // ran inline, before this handler returns
  });
  EXPECT_EQ(context.run(), 1u);
  ASSERT_EQ(c.ran.size(), 1u);
  EXPECT_EQ(c.ran[0], 7);
}

TEST(InboxTest, ItemsLeftWhenTheContextGoesAreDestroyedNotRun) {
  Counters c;
  {
    asio::io_context context(1);
    std::thread([&] {
      for (int i = 0; i < 3; ++i) {
        Inbox::Of(context).Push(std::make_unique<Item>(c, i));
      }
    }).join();
  }
  EXPECT_TRUE(c.ran.empty());
  EXPECT_EQ(c.destroyed.load(), 3);
}

TEST(InboxTest, IoContextOfKnowsContextsNotStrands) {
  asio::io_context context(1);
  asio::any_io_executor plain = context.get_executor();
  asio::any_io_executor tracked =
      asio::require(context.get_executor(), asio::execution::outstanding_work.tracked);
  asio::any_io_executor strand = asio::make_strand(context);
  EXPECT_EQ(IoContextOf(plain), &context);
  EXPECT_EQ(IoContextOf(tracked), &context);
  EXPECT_EQ(IoContextOf(strand), nullptr);
}

}  // namespace
}  // namespace hygie::http
