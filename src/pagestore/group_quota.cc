#include "pagestore/group_quota.h"

#include <algorithm>

namespace sluice::pagestore {

constexpr auto kRelaxed = std::memory_order_relaxed;

GroupAccount* GroupLedger::Get(uint32_t group) {
  if (group == 0) return &default_;
  std::lock_guard lock(mu_);
  std::unique_ptr<GroupAccount>& account = accounts_[group];
  if (!account) account = std::make_unique<GroupAccount>();
  return account.get();
}

uint64_t GroupLedger::Bytes(uint32_t group) const {
  if (group == 0) return default_.bytes.load(kRelaxed);
  std::lock_guard lock(mu_);
  auto it = accounts_.find(group);
  return it == accounts_.end() ? 0 : it->second->bytes.load(kRelaxed);
}

GroupState* GroupQueues::State(uint32_t group) {
  if (group == 0) return &default_;
  auto [it, inserted] = groups_.try_emplace(group);
  if (inserted) {
    it->second.id = group;
    it->second.account = ledger_->Get(group);
  }
  return &it->second;
}

GroupState* GroupQueues::Find(uint32_t group) {
  if (group == 0) return &default_;
  auto it = groups_.find(group);
  return it == groups_.end() ? nullptr : &it->second;
}

GroupReservation GroupQueues::Reserve(GroupState* state, const PageKey& key, uint64_t size,
                                      uint64_t release, uint64_t release_pinned) {
  GroupReservation r;
  GroupAccount& account = *state->account;
  r.quota = state->id == 0 ? 0 : account.quota.load(kRelaxed);
  if (r.quota == 0) {          // no cap: just count
    r.delta = size - release;  // mod 2^64: a smaller page lowers the count
    account.bytes.fetch_add(r.delta, kRelaxed);
    r.outcome = GroupReservation::kReserved;
    return r;
  }
  const uint64_t pinned = account.pinned_bytes.load(kRelaxed) - release_pinned;
  if (size > r.quota || pinned + size > r.quota) {
    r.outcome = GroupReservation::kRefused;
    return r;
  }
  uint64_t current = account.bytes.load(kRelaxed);
  for (;;) {
    r.victims.clear();
    r.victim_bytes = 0;
    // `current` counts the replaced page, which is held here under the caller's lock.
    const uint64_t after = current - release + size;
    if (after > r.quota) {
      const uint64_t need = after - r.quota;
      // Queued here, less the replaced page when it is queued (same group, unpinned).
      const uint64_t evictable = state->queued_bytes - (release - release_pinned);
      if (evictable < need) {
        r.outcome = GroupReservation::kShortfall;
        r.shortfall = need - evictable;
        return r;
      }
      for (const QueuedPage& page : state->queue) {
        if (r.victim_bytes >= need) break;
        if (page.key == key) continue;  // the replaced page: already in `release`
        r.victims.push_back(page.key);
        r.victim_bytes += page.bytes;
      }
    }
    const uint64_t next = after - r.victim_bytes;
    if (account.bytes.compare_exchange_weak(current, next, kRelaxed)) {
      r.delta = next - current;
      r.outcome = GroupReservation::kReserved;
      return r;
    }
  }
}

GroupCheck GroupQueues::Check(const GroupState* state, uint64_t size, uint64_t release,
                              uint64_t release_pinned) {
  GroupCheck c;
  const GroupAccount& account = *state->account;
  c.quota = state->id == 0 ? 0 : account.quota.load(kRelaxed);
  if (c.quota == 0) return c;
  const uint64_t pinned = account.pinned_bytes.load(kRelaxed) - release_pinned;
  if (size > c.quota || pinned + size > c.quota) {
    c.refused = true;
    return c;
  }
  const uint64_t after = account.bytes.load(kRelaxed) - release + size;
  if (after > c.quota) {
    const uint64_t evictable = state->queued_bytes - (release - release_pinned);
    c.local_frees = std::min(after - c.quota, evictable);
  }
  return c;
}

void GroupQueues::Cancel(GroupState* state, const GroupReservation& r) {
  state->account->bytes.fetch_sub(r.delta, kRelaxed);
}

GroupSlot GroupQueues::Add(GroupState* state, const PageKey& key, uint64_t bytes, bool pinned,
                           bool charged) {
  GroupSlot slot{state, {}};
  if (!charged) state->account->bytes.fetch_add(bytes, kRelaxed);
  if (pinned) {
    state->account->pinned_bytes.fetch_add(bytes, kRelaxed);
  } else if (state->id != 0) {
    slot.pos = state->queue.insert(state->queue.end(), QueuedPage{key, bytes});
    state->queued_bytes += bytes;
  }
  return slot;
}

void GroupQueues::Remove(const GroupSlot& slot, uint64_t bytes, bool pinned, bool charged) {
  GroupState* state = slot.state;
  if (!charged) state->account->bytes.fetch_sub(bytes, kRelaxed);
  if (pinned) {
    state->account->pinned_bytes.fetch_sub(bytes, kRelaxed);
  } else if (state->id != 0) {
    state->queue.erase(slot.pos);
    state->queued_bytes -= bytes;
  }
}

void GroupQueues::SetPinned(GroupSlot* slot, const PageKey& key, uint64_t bytes, bool pinned) {
  GroupState* state = slot->state;
  if (pinned) {
    state->account->pinned_bytes.fetch_add(bytes, kRelaxed);
    if (state->id != 0) {
      state->queue.erase(slot->pos);
      state->queued_bytes -= bytes;
    }
  } else {
    state->account->pinned_bytes.fetch_sub(bytes, kRelaxed);
    if (state->id != 0) {
      slot->pos = state->queue.insert(state->queue.end(), QueuedPage{key, bytes});
      state->queued_bytes += bytes;
    }
  }
}

}  // namespace sluice::pagestore
