// The three HashRing policies (maglev, ketama, jump) and MakeRing.
#include <algorithm>
#include <numeric>
#include <unordered_set>

#include "common/hash.h"
#include "placement/placement.h"
#include "placement/ring_internal.h"

namespace sluice::placement {
namespace {

// Seeds of the two per-member hashes Maglev derives its permutation from.
constexpr uint64_t kMaglevOffsetSeed = 0x6d61676c65762d6fULL;  // "maglev-o"
constexpr uint64_t kMaglevSkipSeed = 0x6d61676c65762d73ULL;    // "maglev-s"

// Member indexes ordered by id, so that the rings that promise it do not depend on the
// order of the id list they were given.
std::vector<uint32_t> OrderById(const std::vector<std::string>& ids) {
  std::vector<uint32_t> order(ids.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return ids[a] < ids[b]; });
  return order;
}

// Appends `member` to `out` unless it is already among the entries from `first` on.
void AppendDistinct(uint32_t member, std::vector<uint32_t>* out, size_t first) {
  if (std::find(out->begin() + first, out->end(), member) == out->end()) out->push_back(member);
}

// Maglev (Eisenbud et al., NSDI 2016): every member walks its own permutation of the
// table's slots (offset and skip from two hashes of its id) and, in turn, claims its next
// free slot until the table is full, so members own within one slot of M/N slots each.
// Members take their turns in id order, so the table depends only on the set of ids.
// Owners: the primary is table[key % M]; further owners are the next distinct members
// found walking the table forward from that slot (every member owns at least one slot,
// since N <= M, so the walk finds them all).
class MaglevRing : public HashRing {
 public:
  MaglevRing(const std::vector<std::string>& ids, uint64_t table_size)
      : table_(table_size, kFree), members_(ids.size()) {
    Populate(ids);
  }

  void Owners(uint64_t key_hash, size_t n, std::vector<uint32_t>* out) const override {
    n = std::min(n, members_);
    const size_t first = out->size();
    const uint64_t m = table_.size();
    for (uint64_t slot = key_hash % m, seen = 0; out->size() - first < n && seen < m; ++seen) {
      AppendDistinct(table_[slot], out, first);
      if (++slot == m) slot = 0;
    }
  }
  size_t size() const override { return members_; }

 private:
  void Populate(const std::vector<std::string>& ids) {
    const uint64_t m = table_.size();
    const std::vector<uint32_t> order = OrderById(ids);
    std::vector<uint64_t> cursor(order.size()), skip(order.size());
    for (size_t t = 0; t < order.size(); ++t) {
      cursor[t] = Hash64(ids[order[t]], kMaglevOffsetSeed) % m;
      skip[t] = Hash64(ids[order[t]], kMaglevSkipSeed) % (m - 1) + 1;
    }
    for (uint64_t filled = 0;;) {
      for (size_t t = 0; t < order.size(); ++t) {
        uint64_t c = cursor[t];
        while (table_[c] != kFree) c = Advance(c, skip[t], m);
        table_[c] = static_cast<uint16_t>(order[t]);
        cursor[t] = Advance(c, skip[t], m);
        if (++filled == m) return;
      }
    }
  }
  static uint64_t Advance(uint64_t slot, uint64_t skip, uint64_t m) {
    slot += skip;
    return slot >= m ? slot - m : slot;
  }

  static constexpr uint16_t kFree = UINT16_MAX;  // internal::kMaxMaglevMembers keeps N below
  std::vector<uint16_t> table_;                  // slot -> member index
  size_t members_;
};

// Ketama-style consistent hashing: `points` points per member at Hash64("<id>#<i>"); a key
// belongs to the first point at or after its hash (wrapping), further owners to the next
// distinct members clockwise.
class KetamaRing : public HashRing {
 public:
  KetamaRing(const std::vector<std::string>& ids, uint32_t points) : members_(ids.size()) {
    ring_.reserve(ids.size() * points);
    for (uint32_t m = 0; m < ids.size(); ++m) {
      for (uint32_t i = 0; i < points; ++i) {
        ring_.push_back({Hash64(ids[m] + "#" + std::to_string(i)), m});
      }
    }
    // Ties (two equal 64-bit points) go to the smaller id, whatever the input order.
    std::sort(ring_.begin(), ring_.end(), [&](const Point& a, const Point& b) {
      return a.hash != b.hash ? a.hash < b.hash : ids[a.member] < ids[b.member];
    });
  }

  void Owners(uint64_t key_hash, size_t n, std::vector<uint32_t>* out) const override {
    n = std::min(n, members_);
    const size_t first = out->size();
    auto it = std::lower_bound(ring_.begin(), ring_.end(), key_hash,
                               [](const Point& p, uint64_t h) { return p.hash < h; });
    size_t i = static_cast<size_t>(it - ring_.begin());
    for (size_t seen = 0; out->size() - first < n && seen < ring_.size(); ++seen, ++i) {
      if (i == ring_.size()) i = 0;
      AppendDistinct(ring_[i].member, out, first);
    }
  }
  size_t size() const override { return members_; }

 private:
  struct Point {
    uint64_t hash;
    uint32_t member;
  };
  std::vector<Point> ring_;  // sorted by hash
  size_t members_;
};

// Jump consistent hash (Lamping & Veach 2014) over the members in the order given. Owner
// candidates are JumpHash(Rehash(key, k)) for k = 0, 1, 2, ...; the first n distinct ones
// are the owners (each candidate is itself a jump hash, so adding or removing the last
// member moves the minimum for replicas too). After a bounded number of candidates the
// remaining owners are the next indexes after the last one found, which keeps the result
// deterministic when n is close to N.
class JumpRing : public HashRing {
 public:
  explicit JumpRing(size_t members) : members_(members) {}

  void Owners(uint64_t key_hash, size_t n, std::vector<uint32_t>* out) const override {
    n = std::min(n, members_);
    if (n == 0) return;
    const size_t first = out->size();
    const uint64_t max_candidates = 8 * members_ + 32;
    for (uint64_t k = 0; out->size() - first < n && k < max_candidates; ++k) {
      AppendDistinct(JumpHash(k == 0 ? key_hash : Rehash(key_hash, k)), out, first);
    }
    for (uint32_t i = out->back(); out->size() - first < n;) {
      i = static_cast<uint32_t>((i + 1) % members_);
      AppendDistinct(i, out, first);
    }
  }
  size_t size() const override { return members_; }

 private:
  uint32_t JumpHash(uint64_t key) const {
    int64_t b = -1, j = 0;
    while (j < static_cast<int64_t>(members_)) {
      b = j;
      key = key * 2862933555777941757ULL + 1;
      const double step = static_cast<double>(1LL << 31) / static_cast<double>((key >> 33) + 1);
      j = static_cast<int64_t>(static_cast<double>(b + 1) * step);
    }
    return static_cast<uint32_t>(b);
  }
  // SplitMix64 of key + k * golden ratio: arithmetic only, so the same on every platform.
  static uint64_t Rehash(uint64_t key, uint64_t k) {
    uint64_t z = key + k * 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  size_t members_;
};

Status CheckIds(const std::vector<std::string>& ids) {
  if (ids.empty()) return Status::InvalidArgument("placement: a ring needs at least one member");
  std::unordered_set<std::string_view> seen;
  for (const std::string& id : ids) {
    if (id.empty()) return Status::InvalidArgument("placement: empty member id");
    if (!seen.insert(id).second) {
      return Status::InvalidArgument("placement: duplicate member id '" + id + "'");
    }
  }
  return Status::OK();
}

}  // namespace

Result<std::unique_ptr<HashRing>> MakeRing(const RingSettings& settings,
                                           const std::vector<std::string>& member_ids) {
  SLUICE_RETURN_IF_ERROR(settings.Validate());
  SLUICE_RETURN_IF_ERROR(CheckIds(member_ids));
  const uint32_t points = internal::ResolvedVirtualPoints(settings);
  std::unique_ptr<HashRing> ring;
  if (settings.policy == "maglev") {
    if (member_ids.size() > points || member_ids.size() > internal::kMaxMaglevMembers) {
      return Status::InvalidArgument("placement: " + std::to_string(member_ids.size()) +
                                     " members do not fit a maglev table of " +
                                     std::to_string(points) + " slots");
    }
    ring = std::make_unique<MaglevRing>(member_ids, points);
  } else if (settings.policy == "ketama") {
    ring = std::make_unique<KetamaRing>(member_ids, points);
  } else {
    ring = std::make_unique<JumpRing>(member_ids.size());
  }
  return ring;
}

}  // namespace sluice::placement
