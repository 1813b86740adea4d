// Metrics hooks for the collateral subsystem. The server wires a Prometheus
// implementation; tests use CountingObserver.
#ifndef RP_VERIFIER_COLLATERAL_OBSERVER_H_
#define RP_VERIFIER_COLLATERAL_OBSERVER_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace rp::collateral {

// Outcome of one attempt to get an item from an upstream source.
enum class FetchResult {
  kOk,            // item returned
  kNotFound,      // upstream said 404 / the key is not mapped
  kError,         // transport error, timeout, 5xx, unparseable body
  kRateLimited,   // local token bucket empty, or upstream 429 / Retry-After window
  kBreakerOpen,   // circuit breaker refused the call
  kInvalidKey,    // key rejected before any request
};

enum class CacheOutcome {
  kHit,          // fresh entry (memory or disk)
  kMiss,         // no usable entry: went upstream
  kStale,        // served past freshness within the caller's grace
  kNegativeHit,  // a recent failure / not-found answered without going upstream
  kStaleRefused, // stale beyond grace: failed closed
  kDiskError,    // the disk cache could not be written (served from memory)
};

enum class BreakerState { kClosed, kOpen, kHalfOpen };

// Cache tiers that are capped (cache.h); evictions are reported per tier.
enum class CacheTier {
  kMemory,    // fetched items in memory (entry and byte caps)
  kNegative,  // remembered failures and not-founds (entry cap)
  kDisk,      // the cache directory (file and byte caps)
};

std::string_view FetchResultName(FetchResult r);
std::string_view CacheOutcomeName(CacheOutcome o);
std::string_view BreakerStateName(BreakerState s);
std::string_view CacheTierName(CacheTier t);  // memory | negative | disk

// Every method may be called concurrently from any thread and must not block
// for long. Defaults do nothing. `upstream` / `source` are short names such
// as "amd-kds" or "offline:/var/lib/rp".
class CollateralObserver {
 public:
  virtual ~CollateralObserver() = default;
  // An upstream (its limiter and breaker) was created, closed: lets metrics
  // start its series at zero instead of at its first request.
  virtual void OnUpstreamCreated(std::string_view /*upstream*/) {}
  virtual void OnFetch(std::string_view /*source*/, FetchResult /*result*/) {}
  virtual void OnCacheLookup(CacheOutcome /*outcome*/) {}
  virtual void OnUpstreamLatency(std::string_view /*upstream*/, absl::Duration /*latency*/) {}
  virtual void OnBreakerStateChange(std::string_view /*upstream*/, BreakerState /*from*/,
                                    BreakerState /*to*/) {}
  // `count` entries left `tier` to make room under its caps (expired entries
  // purged on schedule are not evictions).
  virtual void OnCacheEviction(CacheTier /*tier*/, int64_t /*count*/) {}

  // A process-wide observer that does nothing (the default dependency).
  static CollateralObserver& Noop();
};

// Thread-safe counters keyed by a readable name:
//   "fetch/<source>/<result>", "cache/<outcome>", "latency/<upstream>" (count),
//   "breaker/<upstream>/<to-state>", "evict/<tier>" (summed counts).
class CountingObserver : public CollateralObserver {
 public:
  void OnFetch(std::string_view source, FetchResult result) override;
  void OnCacheLookup(CacheOutcome outcome) override;
  void OnUpstreamLatency(std::string_view upstream, absl::Duration latency) override;
  void OnBreakerStateChange(std::string_view upstream, BreakerState from,
                            BreakerState to) override;
  void OnCacheEviction(CacheTier tier, int64_t count) override;

  int64_t Count(std::string_view name) const;
  std::map<std::string, int64_t> Snapshot() const;

 private:
  void Bump(std::string name, int64_t by = 1);
  mutable absl::Mutex mu_;
  std::map<std::string, int64_t> counts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rp::collateral

#endif  // RP_VERIFIER_COLLATERAL_OBSERVER_H_
