#include "common/one_shot.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace sluice {
namespace {

TEST(OneShotTest, EveryWaiterSeesTheOneValue) {
  OneShot<std::string> shot;
  std::atomic<int> seen{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < 8; ++i) {
    waiters.emplace_back([&] {
      if (shot.Wait() == "page") seen++;
    });
  }
  shot.Set("page");
  for (auto& t : waiters) t.join();
  EXPECT_EQ(seen.load(), 8);
  EXPECT_EQ(shot.Wait(), "page");  // after Set, Wait returns at once
}

}  // namespace
}  // namespace sluice
