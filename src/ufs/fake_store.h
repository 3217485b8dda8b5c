// FakeStore: an in-memory UnderStore with named fault points, for deterministic tests
// of the layers above (the read-through engine, the worker).
//
// Fault points (all settable at any time, from any thread):
//   SetLatency(d)            every call sleeps d first (a slow object store)
//   FailNthCall(op, n, st)   the n-th future call of `op` (1 = the next one) fails with st
//   FailAll(op, st)          every call of `op` fails with st until ClearFaults()
//   TruncateReads(n)         reads return at most n bytes (a truncated body)
//   CorruptReads(true)       reads flip the bits of the first byte returned
//   Replace(key, data)       the object changes behind the cache's back: new bytes, new
//                            version (ETag) — same as Put, named for intent
// Calls are counted per operation (CallCount) so tests can assert "one under-store read".
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/units.h"
#include "ufs/under_store.h"

namespace sluice::ufs {

enum class FakeOp { kStat, kList, kRead, kWrite, kDelete };

class FakeStore : public UnderStore {
 public:
  explicit FakeStore(std::string uri = "mem://fake");

  // Test set-up: stores `data` under `key` with a fresh ETag and mtime.
  void Put(std::string_view key, std::string_view data, const ObjectHeaders& headers = {});
  void Replace(std::string_view key, std::string_view data) { Put(key, data); }
  void Erase(std::string_view key);

  void SetLatency(Duration d) { latency_ns_ = d.count(); }
  void FailNthCall(FakeOp op, int n, Status status);
  void FailAll(FakeOp op, Status status);
  void TruncateReads(int64_t max_bytes) { truncate_reads_ = max_bytes; }
  void CorruptReads(bool on) { corrupt_reads_ = on; }
  void ClearFaults();

  uint64_t CallCount(FakeOp op) const;
  uint64_t BytesRead() const { return bytes_read_; }

  // UnderStore
  const std::string& Uri() const override { return uri_; }
  Result<ObjectInfo> Stat(std::string_view key) override;
  Result<ListPage> List(const ListOptions& options) override;
  Result<std::string> Read(std::string_view key, uint64_t offset, uint64_t length,
                           std::string_view expected_version = {}) override;
  Result<ReadResult> ReadWithInfo(std::string_view key, uint64_t offset,
                                  uint64_t length) override;
  Result<std::unique_ptr<Writer>> OpenWrite(std::string_view key,
                                            const ObjectHeaders& headers) override;
  using UnderStore::OpenWrite;
  Status Delete(std::string_view key) override;
  UnderStoreStats GetStats() const override;

 private:
  struct Object {
    std::string data;
    std::shared_ptr<const ObjectHeaders> headers;
    std::string etag;
    int64_t mtime_ns = 0;
  };
  // Counts the call, sleeps, and returns an injected fault if one is due.
  Status Enter(FakeOp op);
  ObjectInfo InfoOf(const std::string& key, const Object& o) const;

  const std::string uri_;
  mutable std::mutex mu_;
  std::map<std::string, Object> objects_;  // GUARDED_BY(mu_)
  std::map<FakeOp, std::pair<int, Status>>
      nth_faults_;                       // GUARDED_BY(mu_): op -> (countdown, status)
  std::map<FakeOp, Status> all_faults_;  // GUARDED_BY(mu_)
  std::atomic<uint64_t> calls_[5] = {};
  std::atomic<uint64_t> generation_{0};
  std::atomic<int64_t> latency_ns_{0};
  std::atomic<int64_t> truncate_reads_{-1};
  std::atomic<bool> corrupt_reads_{false};
  std::atomic<uint64_t> bytes_read_{0};
  std::atomic<uint64_t> errors_{0};
};

}  // namespace sluice::ufs
