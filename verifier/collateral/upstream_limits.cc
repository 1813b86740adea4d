#include "verifier/collateral/upstream_limits.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace rp::collateral {

UpstreamPermit::UpstreamPermit(UpstreamPermit&& other) noexcept
    : limiter_(other.limiter_), probe_(other.probe_) {
  other.limiter_ = nullptr;
}

UpstreamPermit::~UpstreamPermit() { Report(Outcome::kNeutral); }

void UpstreamPermit::Report(Outcome outcome) {
  if (limiter_ == nullptr) return;
  UpstreamLimiter* l = limiter_;
  limiter_ = nullptr;
  l->Finish(probe_, outcome);
}

absl::StatusOr<std::unique_ptr<UpstreamLimiter>> UpstreamLimiter::Create(
    std::string name, const UpstreamLimitsOptions& options, const Clock& clock,
    CollateralObserver& observer) {
  if (options.max_concurrency < 1) {
    return absl::InvalidArgumentError("upstream limits: max_concurrency must be >= 1");
  }
  if (options.rate_per_second > 0 && options.burst < 1) {
    return absl::InvalidArgumentError("upstream limits: burst must be >= 1");
  }
  if (options.breaker_failure_threshold < 1) {
    return absl::InvalidArgumentError("upstream limits: breaker_failure_threshold must be >= 1");
  }
  if (options.breaker_cooldown < absl::ZeroDuration() ||
      options.concurrency_wait < absl::ZeroDuration() ||
      options.max_retry_after < absl::ZeroDuration() ||
      options.default_retry_after < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("upstream limits: durations must not be negative");
  }
  return std::unique_ptr<UpstreamLimiter>(
      new UpstreamLimiter(std::move(name), options, clock, observer));
}

UpstreamLimiter::UpstreamLimiter(std::string name, const UpstreamLimitsOptions& options,
                                 const Clock& clock, CollateralObserver& observer)
    : name_(std::move(name)),
      options_(options),
      clock_(clock),
      observer_(observer),
      tokens_(options.burst),
      last_refill_(clock.Now()) {
  observer_.OnUpstreamCreated(name_);
}

void UpstreamLimiter::SetStateLocked(BreakerState to) {
  if (state_ == to) return;
  const BreakerState from = state_;
  state_ = to;
  observer_.OnBreakerStateChange(name_, from, to);
}

void UpstreamLimiter::RefreshStateLocked(absl::Time now) {
  if (state_ == BreakerState::kOpen && now >= open_until_) {
    SetStateLocked(BreakerState::kHalfOpen);
  }
}

BreakerState UpstreamLimiter::breaker_state() {
  absl::MutexLock l(&mu_);
  RefreshStateLocked(clock_.Now());
  return state_;
}

absl::StatusOr<UpstreamPermit> UpstreamLimiter::Acquire() {
  absl::MutexLock l(&mu_);
  // Checks that need no slot come first, so a refusal never waits.
  auto refuse_fast = [&](absl::Time now) -> absl::Status {
    if (now < retry_after_until_) {
      observer_.OnFetch(name_, FetchResult::kRateLimited);
      return absl::UnavailableError(absl::StrCat(name_, ": rate limited by upstream until ",
                                                 FormatRfc3339(retry_after_until_)));
    }
    RefreshStateLocked(now);
    if (state_ == BreakerState::kOpen) {
      observer_.OnFetch(name_, FetchResult::kBreakerOpen);
      return absl::UnavailableError(absl::StrCat(
          name_, ": circuit breaker open until ", FormatRfc3339(open_until_), " after ",
          consecutive_failures_, " consecutive failures"));
    }
    if (state_ == BreakerState::kHalfOpen && probe_in_flight_) {
      observer_.OnFetch(name_, FetchResult::kBreakerOpen);
      return absl::UnavailableError(
          absl::StrCat(name_, ": circuit breaker half-open, a probe request is in flight"));
    }
    return absl::OkStatus();
  };
  absl::Status fast = refuse_fast(clock_.Now());
  if (!fast.ok()) return fast;

  auto slot_free = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return in_flight_ < options_.max_concurrency;
  };
  if (!mu_.AwaitWithTimeout(absl::Condition(&slot_free), options_.concurrency_wait)) {
    observer_.OnFetch(name_, FetchResult::kRateLimited);
    return absl::UnavailableError(absl::StrCat(name_, ": ", options_.max_concurrency,
                                               " requests in flight; waited ",
                                               absl::FormatDuration(options_.concurrency_wait)));
  }
  // State may have changed while waiting.
  const absl::Time now = clock_.Now();
  fast = refuse_fast(now);
  if (!fast.ok()) return fast;

  if (options_.rate_per_second > 0) {
    absl::Time t = now;
    const absl::Time wait_until = absl::Now() + options_.max_token_wait;
    while (true) {
      const double elapsed = std::max(0.0, absl::ToDoubleSeconds(t - last_refill_));
      tokens_ = std::min(options_.burst, tokens_ + elapsed * options_.rate_per_second);
      last_refill_ = std::max(last_refill_, t);
      if (tokens_ >= 1.0) break;
      const absl::Duration due = absl::Seconds((1.0 - tokens_) / options_.rate_per_second);
      if (absl::Now() + due > wait_until) break;
      // Wait (real time, lock released) for the next token, then look again.
      mu_.Unlock();
      absl::SleepFor(due);
      mu_.Lock();
      t = clock_.Now();
    }
    if (tokens_ < 1.0) {
      const absl::Time next =
          t + absl::Seconds((1.0 - tokens_) / options_.rate_per_second);
      observer_.OnFetch(name_, FetchResult::kRateLimited);
      return absl::UnavailableError(absl::StrFormat(
          "%s: local rate limit (%.3g/s, burst %.3g) reached; next request allowed at %s",
          name_, options_.rate_per_second, options_.burst, FormatRfc3339(next)));
    }
    tokens_ -= 1.0;
    if (!slot_free()) {  // filled while this caller slept for its token
      tokens_ += 1.0;
      observer_.OnFetch(name_, FetchResult::kRateLimited);
      return absl::UnavailableError(
          absl::StrCat(name_, ": ", options_.max_concurrency, " requests in flight"));
    }
  }
  const bool probe = state_ == BreakerState::kHalfOpen;
  if (probe) probe_in_flight_ = true;
  ++in_flight_;
  return UpstreamPermit(this, probe);
}

void UpstreamLimiter::Finish(bool probe, UpstreamPermit::Outcome outcome) {
  absl::MutexLock l(&mu_);
  --in_flight_;
  if (probe) probe_in_flight_ = false;
  const absl::Time now = clock_.Now();
  switch (outcome) {
    case UpstreamPermit::Outcome::kSuccess:
      consecutive_failures_ = 0;
      SetStateLocked(BreakerState::kClosed);
      break;
    case UpstreamPermit::Outcome::kFailure:
      ++consecutive_failures_;
      // A failed probe re-opens at once; otherwise open at the threshold.
      if ((state_ == BreakerState::kHalfOpen && probe) ||
          (state_ == BreakerState::kClosed &&
           consecutive_failures_ >= options_.breaker_failure_threshold)) {
        open_until_ = now + options_.breaker_cooldown;
        SetStateLocked(BreakerState::kOpen);
      }
      break;
    case UpstreamPermit::Outcome::kNeutral:
      break;
  }
}

void UpstreamLimiter::RecordRetryAfter(absl::Time until) {
  absl::MutexLock l(&mu_);
  const absl::Time capped = std::min(until, clock_.Now() + options_.max_retry_after);
  retry_after_until_ = std::max(retry_after_until_, capped);
}

std::optional<absl::Time> ParseHttpDate(std::string_view value) {
  absl::Time t;
  std::string err;
  const std::string v(absl::StripAsciiWhitespace(std::string(value)));
  if (absl::ParseTime("%a, %d %b %Y %H:%M:%S GMT", v, absl::UTCTimeZone(), &t, &err)) return t;
  return std::nullopt;
}

std::optional<absl::Time> ParseRetryAfter(std::string_view value, absl::Time now) {
  const std::string v(absl::StripAsciiWhitespace(std::string(value)));
  if (v.empty()) return std::nullopt;
  if (std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    int64_t seconds = 0;
    if (v.size() > 12 || !absl::SimpleAtoi(v, &seconds)) return std::nullopt;
    return now + absl::Seconds(seconds);
  }
  return ParseHttpDate(v);
}

}  // namespace rp::collateral
