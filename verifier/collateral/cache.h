// Caching decorator for a collateral source: memory + optional disk, with
// freshness read from the collateral, stale serving within a caller's grace,
// negative caching and coalescing of concurrent misses.
#ifndef RP_VERIFIER_COLLATERAL_CACHE_H_
#define RP_VERIFIER_COLLATERAL_CACHE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "verifier/common/lru.h"
#include "verifier/collateral/observer.h"
#include "verifier/collateral/source.h"
#include "verifier/common/clock.h"

namespace rp::collateral {

struct CacheOptions {
  // "" = memory only. Otherwise items are stored at <disk_dir>/<key> — the
  // offline-directory layout (ARCHITECTURE §4), so the directory can be used
  // as an offline bundle — with a sidecar <key>.meta.json
  // {"fetched_at","fresh_until","source"} (RFC 3339 times).
  std::string disk_dir;
  // Ceiling on every item's freshness.
  absl::Duration max_ttl = absl::Hours(24);
  // A failed upstream fetch is remembered this long: lookups in that window
  // get the same error (or a stale-within-grace item) without a request.
  absl::Duration negative_ttl = absl::Seconds(30);
  // An upstream "not found" is remembered this long.
  absl::Duration not_found_ttl = absl::Minutes(5);
  // A stale item is not re-fetched more often than this (an upstream that
  // keeps serving an expired CRL is not asked on every lookup).
  absl::Duration min_refresh_interval = absl::Seconds(30);
  // Grace used by Get() (GetItem takes it from the caller).
  absl::Duration default_stale_grace = absl::ZeroDuration();

  // Caps. Keys reach the cache from evidence (CHIP_IDs, FMSPCs, TCB
  // levels), so every tier is bounded and evicts least recently used
  // entries first. Evictions are reported to the observer per tier.
  // Fetched items in memory: entries and bytes (data + key + overhead).
  size_t max_memory_entries = 10000;
  uint64_t max_memory_bytes = 64ull << 20;
  // Remembered failures and not-founds (one LRU for both). Expired ones
  // are also purged: the oldest on every insert, all of them at least once
  // per min(negative_ttl, not_found_ttl) (and at least once a minute).
  size_t max_negative_entries = 10000;
  // The disk tier (disk_dir): items the cache wrote (those with a
  // .meta.json sidecar), data + sidecar bytes. Files placed by hand (no
  // sidecar) are never evicted and not counted. Recency is tracked in
  // memory (hits in either tier count as an access) and starts from the
  // files' modification times when the cache opens the directory. Every
  // CachingSource on the same directory in one process shares one index,
  // with the caps of the first one created.
  uint64_t max_disk_bytes = 512ull << 20;
  size_t max_disk_files = 100000;
};

// Sizes of the tiers now and evictions so far (tests, diagnostics).
struct CacheStats {
  size_t memory_entries = 0;
  uint64_t memory_bytes = 0;
  size_t negative_entries = 0;
  size_t disk_files = 0;  // cache-written items (data + sidecar = one)
  uint64_t disk_bytes = 0;
  uint64_t evicted_memory = 0;
  uint64_t evicted_negative = 0;
  uint64_t evicted_disk = 0;  // by this cache instance
};

class DiskIndex;

// Thread-safe; one instance serves all request threads. Lookup order:
// memory → disk → (negative cache) → upstream. Concurrent misses for one key
// make exactly one upstream call; the others wait for its result. Every
// tier is an LRU under the caps in CacheOptions, so lookups of arbitrary
// keys (random CHIP_IDs, FMSPCs) cost bounded memory and disk.
//
// Freshness (fresh_until), capped at fetched_at + max_ttl:
//   CRLs (DER or PEM)            → nextUpdate
//   certificates (*.der, *.pem)  → earliest notAfter
//   anything else                → HTTP Cache-Control max-age / Expires, else the cap.
// Past fresh_until the item is refreshed from upstream. If that fails (or
// the refreshed item is itself past its freshness), the item is served with
// stale=true while now <= fresh_until + grace, else the lookup fails closed
// with FAILED_PRECONDITION "collateral <key> stale since T, grace G exceeded".
// Disk writes are atomic (temp file + rename). Disk read/write problems make
// the cache behave as memory-only for that item; they are not errors, but a
// failed write is reported to the observer (CacheOutcome::kDiskError).
class CachingSource : public CollateralSource {
 public:
  // `clock` and `observer` must outlive the cache.
  static absl::StatusOr<std::unique_ptr<CachingSource>> Create(
      const CacheOptions& options, std::shared_ptr<const CollateralSource> upstream,
      const Clock& clock, CollateralObserver& observer = CollateralObserver::Noop());
  ~CachingSource() override;

  absl::StatusOr<std::optional<Bytes>> Get(std::string_view key) const override;
  absl::StatusOr<std::optional<CollateralItem>> GetItem(std::string_view key,
                                                        const GetOptions& options) const override;
  std::string Describe() const override;

  CacheStats Stats() const;

 private:
  struct Flight;
  // A remembered failure (error set) or not-found (error OK).
  struct Negative {
    absl::Status error;
    absl::Time until;
  };

  CachingSource(const CacheOptions& options, std::shared_ptr<const CollateralSource> upstream,
                const Clock& clock, CollateralObserver& observer,
                std::shared_ptr<DiskIndex> disk_index);

  std::optional<CollateralItem> LoadFromDisk(const std::string& key, absl::Time now) const;
  void StoreToDisk(const std::string& key, const CollateralItem& item) const;
  void StoreInMemory(const std::string& key, const CollateralItem& item) const;
  void RememberNegative(const std::string& key, Negative negative, absl::Time now) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::optional<CollateralItem>> FetchCoalesced(const std::string& key,
                                                               const GetOptions& options) const;
  absl::StatusOr<std::optional<CollateralItem>> StaleOrFail(
      const std::string& key, const std::optional<CollateralItem>& cached, absl::Duration grace,
      absl::Time now, const absl::Status& why) const;

  const CacheOptions options_;
  const std::shared_ptr<const CollateralSource> upstream_;
  const Clock& clock_;
  CollateralObserver& observer_;
  const std::shared_ptr<DiskIndex> disk_index_;  // null when memory only
  const absl::Duration sweep_interval_;

  mutable absl::Mutex mu_;
  mutable LruMap<CollateralItem> memory_ ABSL_GUARDED_BY(mu_);
  mutable LruMap<Negative> negative_ ABSL_GUARDED_BY(mu_);
  mutable absl::Time next_sweep_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  mutable uint64_t evicted_memory_ ABSL_GUARDED_BY(mu_) = 0;
  mutable uint64_t evicted_negative_ ABSL_GUARDED_BY(mu_) = 0;
  mutable std::atomic<uint64_t> evicted_disk_{0};
  // Bounded by the number of concurrent callers (each waits on its flight).
  mutable std::map<std::string, std::shared_ptr<Flight>> in_flight_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rp::collateral

#endif  // RP_VERIFIER_COLLATERAL_CACHE_H_
