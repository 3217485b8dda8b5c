// Per-group byte quotas for a page store (PageStore::SetGroupQuota).
//
// GroupLedger is store-wide: each group's quota, held bytes and pinned bytes, shared by all
// of a store's units (the memory store's shards, the disk store's directories). Its
// counters are atomics, so units update them under their own locks without a store-wide
// lock, and a Put reserves its bytes with one compare-and-swap (GroupQueues::Reserve): a
// group never holds more than its quota, even while puts of that group run in several
// units at once.
//
// GroupQueues is per unit: for each group, the unit's unpinned pages in insertion order
// (oldest first), which are the pages a Put evicts when its group is at its quota.
// Group 0, the default group, can have no quota: its pages are counted but not queued.
// Every operation is O(1) except Reserve, which is linear in the pages it evicts.
//
// Thread-safety: GroupLedger is thread-safe. GroupQueues is not: the owning unit guards
// it, and the GroupSlots in its page entries, with its lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "pagestore/page_store.h"

namespace sluice::pagestore {

struct GroupAccount {
  std::atomic<uint64_t> quota{0};  // bytes; 0: no cap
  std::atomic<uint64_t> bytes{0};  // page bytes held (and reserved) in every unit
  std::atomic<uint64_t> pinned_bytes{0};
};

class GroupLedger {
 public:
  // The account of `group`, created on first use; valid for the ledger's lifetime.
  GroupAccount* Get(uint32_t group);
  // Bytes held for a group (0 for a group never seen).
  uint64_t Bytes(uint32_t group) const;

 private:
  GroupAccount default_;  // group 0: reached without the lock
  mutable std::mutex mu_;
  std::unordered_map<uint32_t, std::unique_ptr<GroupAccount>> accounts_;  // GUARDED_BY(mu_)
};

struct QueuedPage {
  PageKey key;
  uint64_t bytes = 0;
};

// One group's pages in one unit.
struct GroupState {
  uint32_t id = 0;
  GroupAccount* account = nullptr;
  std::list<QueuedPage> queue;  // unpinned pages, oldest first (always empty for group 0)
  uint64_t queued_bytes = 0;
};

// A page's membership in its group, kept in the page's entry.
struct GroupSlot {
  GroupState* state = nullptr;
  std::list<QueuedPage>::iterator pos{};  // valid while the page is queued
};

// The outcome of GroupQueues::Reserve.
struct GroupReservation {
  enum Outcome { kReserved, kShortfall, kRefused };
  Outcome outcome = kRefused;
  // kReserved: the group's oldest pages in this unit that the caller must evict now (with
  // charged = true), and their bytes.
  std::vector<PageKey> victims;
  uint64_t victim_bytes = 0;
  // kShortfall: bytes of the group that must first be evicted from other units.
  uint64_t shortfall = 0;
  uint64_t quota = 0;
  uint64_t delta = 0;  // applied to the account's bytes (mod 2^64), for Cancel
};

// The outcome of GroupQueues::Check.
struct GroupCheck {
  bool refused = false;  // the page cannot fit the group's quota (see Reserve)
  uint64_t quota = 0;
  uint64_t local_frees = 0;  // bytes of the group's pages here that Reserve would evict
};

class GroupQueues {
 public:
  explicit GroupQueues(GroupLedger* ledger) : ledger_(ledger) { default_.account = ledger->Get(0); }
  GroupQueues(const GroupQueues&) = delete;
  GroupQueues& operator=(const GroupQueues&) = delete;

  // The unit's state for `group`, created on first use; valid for the unit's lifetime.
  GroupState* State(uint32_t group);
  // The unit's state for `group`, or null if it never held a page of it.
  GroupState* Find(uint32_t group);

  // Reserves room in `state`'s group for a new page of `size` bytes that replaces
  // `release` bytes of the same group (the replaced page, if it is in this group;
  // `release_pinned` of them pinned). kRefused: the page cannot fit even if every
  // unpinned page of the group went (size > quota, or the pinned rest is too big).
  // kShortfall: evicting the group's pages here is not enough; nothing was reserved.
  // kReserved: the account now counts the new page, minus the replaced page and the
  // victims; the caller evicts the victims and drops the replaced page with
  // charged = true and adds the new page with charged = true, or calls Cancel.
  // `key` (the page being put) is never a victim.
  GroupReservation Reserve(GroupState* state, const PageKey& key, uint64_t size, uint64_t release,
                           uint64_t release_pinned);
  // What Reserve would decide now, without reserving (at least `local_frees` bytes;
  // Reserve evicts whole pages).
  static GroupCheck Check(const GroupState* state, uint64_t size, uint64_t release,
                          uint64_t release_pinned);
  // Undoes a reservation before anything it covers was done.
  static void Cancel(GroupState* state, const GroupReservation& r);
  // Gives back `bytes` of a reservation that will not be used.
  static void Refund(GroupState* state, uint64_t bytes) {
    state->account->bytes.fetch_sub(bytes, std::memory_order_relaxed);
  }

  // A page now held. `charged`: its bytes are already in the account (reserved).
  GroupSlot Add(GroupState* state, const PageKey& key, uint64_t bytes, bool pinned, bool charged);
  // A page no longer held. `charged`: a reservation already took its bytes off.
  void Remove(const GroupSlot& slot, uint64_t bytes, bool pinned, bool charged);
  // A held page was pinned or unpinned (an unpinned page queues as the newest).
  void SetPinned(GroupSlot* slot, const PageKey& key, uint64_t bytes, bool pinned);

 private:
  GroupLedger* const ledger_;
  GroupState default_;                               // group 0
  std::unordered_map<uint32_t, GroupState> groups_;  // others; never erased
};

}  // namespace sluice::pagestore
