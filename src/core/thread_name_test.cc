#include "core/thread_name.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <string>
#include <thread>

namespace hygie {
namespace {

std::string NameOf(pthread_t t) {
  char buf[64] = {};
  EXPECT_EQ(::pthread_getname_np(t, buf, sizeof buf), 0);
  return buf;
}

TEST(ThreadNameTest, ShortNamesAreKeptWhole) {
  EXPECT_EQ(ThreadName("io-0"), "io-0");
  EXPECT_EQ(ThreadName("store:123456789"), "store:123456789");  // exactly 15 bytes
}

TEST(ThreadNameTest, LongNamesAreCutAtFifteenBytesOnACharacterBoundary) {
  EXPECT_EQ(ThreadName("journal:a-very-long-tenant"), "journal:a-very-");
  // "é" is two bytes; byte 15 would split the second one.
  EXPECT_EQ(ThreadName("store:ééééééééé"), "store:éééé");
  EXPECT_LE(ThreadName("store:ééééééééé").size(), kMaxThreadNameBytes);
}

TEST(ThreadNameTest, TheKernelShowsTheName) {
  std::string seen;
  std::thread([&] {
    SetThreadName("journal:a-very-long-tenant");
    seen = NameOf(::pthread_self());
  }).join();
  EXPECT_EQ(seen, "journal:a-very-");
}

}  // namespace
}  // namespace hygie
