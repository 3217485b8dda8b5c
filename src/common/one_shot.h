// OneShot<T>: a value that one thread sets once and any number of threads wait for — the
// rendezvous behind single-flight fetches.
//
// Thread-safety: all methods are thread-safe. REQUIRES: Set is called at most once.
#pragma once

#include <condition_variable>
#include <mutex>
#include <optional>

namespace sluice {

template <typename T>
class OneShot {
 public:
  void Set(T value) {
    {
      std::lock_guard lock(mu_);
      value_.emplace(std::move(value));
    }
    cv_.notify_all();
  }

  // Blocks until Set; the value never changes afterwards, so the reference stays valid
  // for the OneShot's lifetime.
  const T& Wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return value_.has_value(); });
    return *value_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<T> value_;  // GUARDED_BY(mu_)
};

}  // namespace sluice
