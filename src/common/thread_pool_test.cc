#include "common/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>

namespace sluice {
namespace {

TEST(ThreadPoolTest, RunsEverythingBeforeDestruction) {
  std::atomic<int> n{0};
  {
    ThreadPool pool(4);
    for (int i = 0; i < 1000; ++i) pool.Submit([&] { n++; });
  }
  EXPECT_EQ(n.load(), 1000);
}

}  // namespace
}  // namespace sluice
