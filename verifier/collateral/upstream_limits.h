// Per-upstream admission control: a concurrency cap, a token-bucket rate
// limit, a circuit breaker and the upstream's own Retry-After window.
#ifndef RP_VERIFIER_COLLATERAL_UPSTREAM_LIMITS_H_
#define RP_VERIFIER_COLLATERAL_UPSTREAM_LIMITS_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "verifier/collateral/observer.h"
#include "verifier/common/clock.h"

namespace rp::collateral {

struct UpstreamLimitsOptions {
  // At most this many requests in flight; more wait (real time) up to
  // concurrency_wait, then fail with UNAVAILABLE.
  int max_concurrency = 4;
  absl::Duration concurrency_wait = absl::Seconds(30);
  // Token bucket. AMD KDS allows about one VCEK per 10 s per IP, hence the
  // defaults. rate_per_second <= 0 disables the bucket. An empty bucket
  // fails fast (UNAVAILABLE, with the time of the next token) rather than
  // queueing: callers are verification requests with their own deadlines.
  double rate_per_second = 0.1;
  double burst = 1;
  // Batch callers (`attestctl collateral fetch|warm`) may instead wait for
  // the next token when it is due within this much real time; 0 = fail fast.
  absl::Duration max_token_wait = absl::ZeroDuration();
  // Breaker: open after this many consecutive failures, half-open (one probe
  // at a time) after the cool-down, closed on a success.
  int breaker_failure_threshold = 5;
  absl::Duration breaker_cooldown = absl::Seconds(60);
  // Upper bound on how long a Retry-After is honoured (a hostile or broken
  // upstream cannot switch us off for days), and the window used for a 429
  // without Retry-After.
  absl::Duration max_retry_after = absl::Hours(1);
  absl::Duration default_retry_after = absl::Seconds(60);
};

class UpstreamLimiter;

// Admission to contact the upstream once. Move-only; the destructor frees
// the concurrency slot. Report the outcome once; an unreported permit counts
// as neutral (neither success nor failure).
class UpstreamPermit {
 public:
  enum class Outcome { kSuccess, kFailure, kNeutral };
  UpstreamPermit(UpstreamPermit&& other) noexcept;
  UpstreamPermit& operator=(UpstreamPermit&&) = delete;
  UpstreamPermit(const UpstreamPermit&) = delete;
  ~UpstreamPermit();
  void Report(Outcome outcome);

 private:
  friend class UpstreamLimiter;
  UpstreamPermit(UpstreamLimiter* limiter, bool probe) : limiter_(limiter), probe_(probe) {}
  UpstreamLimiter* limiter_;  // not owned; null once moved from or reported
  bool probe_;
};

// Thread-safe. Time for the bucket, breaker and Retry-After comes from the
// injected clock; only the concurrency wait uses real time.
class UpstreamLimiter {
 public:
  static absl::StatusOr<std::unique_ptr<UpstreamLimiter>> Create(std::string name,
                                                                 const UpstreamLimitsOptions& options,
                                                                 const Clock& clock,
                                                                 CollateralObserver& observer);

  // A permit, or UNAVAILABLE saying why not (Retry-After window, breaker
  // open, rate limit, concurrency wait exceeded). Refusals are reported to
  // the observer as kRateLimited / kBreakerOpen.
  absl::StatusOr<UpstreamPermit> Acquire();

  // The upstream asked us to stay away until `until` (capped by
  // max_retry_after from now).
  void RecordRetryAfter(absl::Time until);

  // Current breaker state (applies a due open → half-open transition).
  BreakerState breaker_state();
  const std::string& name() const { return name_; }

 private:
  friend class UpstreamPermit;
  UpstreamLimiter(std::string name, const UpstreamLimitsOptions& options, const Clock& clock,
                  CollateralObserver& observer);
  void Finish(bool probe, UpstreamPermit::Outcome outcome);
  void SetStateLocked(BreakerState to) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves open → half-open when the cool-down has passed.
  void RefreshStateLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string name_;
  const UpstreamLimitsOptions options_;
  const Clock& clock_;
  CollateralObserver& observer_;

  mutable absl::Mutex mu_;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  double tokens_ ABSL_GUARDED_BY(mu_);
  absl::Time last_refill_ ABSL_GUARDED_BY(mu_);
  BreakerState state_ ABSL_GUARDED_BY(mu_) = BreakerState::kClosed;
  int consecutive_failures_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time open_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool probe_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time retry_after_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

// Retry-After value: delta seconds or an HTTP-date (RFC 9110 §10.2.3),
// relative to `now`. nullopt when unparseable.
std::optional<absl::Time> ParseRetryAfter(std::string_view value, absl::Time now);
// IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT".
std::optional<absl::Time> ParseHttpDate(std::string_view value);

}  // namespace rp::collateral

#endif  // RP_VERIFIER_COLLATERAL_UPSTREAM_LIMITS_H_
