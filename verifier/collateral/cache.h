// Caching decorator for a collateral source: memory + optional disk, with
// freshness read from the collateral, stale serving within a caller's grace,
// negative caching and coalescing of concurrent misses.
#ifndef RP_VERIFIER_COLLATERAL_CACHE_H_
#define RP_VERIFIER_COLLATERAL_CACHE_H_

#include <cstddef>
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
  size_t max_memory_entries = 10000;
};

// Thread-safe; one instance serves all request threads. Lookup order:
// memory → disk → (negative cache) → upstream. Concurrent misses for one key
// make exactly one upstream call; the others wait for its result.
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

  absl::StatusOr<std::optional<Bytes>> Get(std::string_view key) const override;
  absl::StatusOr<std::optional<CollateralItem>> GetItem(std::string_view key,
                                                        const GetOptions& options) const override;
  std::string Describe() const override;

 private:
  struct Flight;
  struct Negative {
    absl::Status error;
    absl::Time until;
  };

  CachingSource(const CacheOptions& options, std::shared_ptr<const CollateralSource> upstream,
                const Clock& clock, CollateralObserver& observer)
      : options_(options), upstream_(std::move(upstream)), clock_(clock), observer_(observer) {}

  std::optional<CollateralItem> LoadFromDisk(const std::string& key, absl::Time now) const;
  void StoreToDisk(const std::string& key, const CollateralItem& item) const;
  void StoreInMemory(const std::string& key, const CollateralItem& item) const;
  absl::StatusOr<std::optional<CollateralItem>> FetchCoalesced(const std::string& key,
                                                               const GetOptions& options) const;
  absl::StatusOr<std::optional<CollateralItem>> StaleOrFail(
      const std::string& key, const std::optional<CollateralItem>& cached, absl::Duration grace,
      absl::Time now, const absl::Status& why) const;

  const CacheOptions options_;
  const std::shared_ptr<const CollateralSource> upstream_;
  const Clock& clock_;
  CollateralObserver& observer_;

  mutable absl::Mutex mu_;
  mutable std::map<std::string, CollateralItem> memory_ ABSL_GUARDED_BY(mu_);
  mutable std::map<std::string, absl::Time> not_found_until_ ABSL_GUARDED_BY(mu_);
  mutable std::map<std::string, Negative> negative_ ABSL_GUARDED_BY(mu_);
  mutable std::map<std::string, std::shared_ptr<Flight>> in_flight_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rp::collateral

#endif  // RP_VERIFIER_COLLATERAL_CACHE_H_
