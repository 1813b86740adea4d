#include "server/limits/rate_limiter.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace rp::server::limits {

InMemoryRateLimitStore::InMemoryRateLimitStore(size_t max_keys, const Clock& clock)
    : max_keys_(std::max<size_t>(max_keys, 1)), clock_(clock) {}

RateDecision InMemoryRateLimitStore::TakeFrom(Bucket& b, const RateLimit& limit, absl::Time now) {
  const double burst = std::max(limit.burst, 1.0);
  // A clock that goes backwards refills nothing (never a negative refill).
  const double elapsed = std::max(0.0, absl::ToDoubleSeconds(now - b.updated));
  b.tokens = std::min(burst, b.tokens + elapsed * limit.rate_per_second);
  b.updated = now;
  RateDecision d;
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
  } else {
    d.allowed = false;
    d.retry_after = absl::Seconds((1.0 - b.tokens) / limit.rate_per_second);
    if (d.retry_after <= absl::ZeroDuration()) d.retry_after = absl::Nanoseconds(1);
  }
  b.full_at = now + absl::Seconds((burst - b.tokens) / limit.rate_per_second);
  return d;
}

void InMemoryRateLimitStore::PurgeLocked(absl::Time now) {
  while (!by_full_at_.empty() && by_full_at_.begin()->first <= now) {
    buckets_.erase(by_full_at_.begin()->second);
    by_full_at_.erase(by_full_at_.begin());
  }
}

absl::StatusOr<RateDecision> InMemoryRateLimitStore::Take(std::string_view scope,
                                                          std::string_view key,
                                                          const RateLimit& limit) {
  if (limit.unlimited()) return RateDecision{};
  const absl::Time now = clock_.Now();
  // scope NUL key (absl::StrCat does not take std::string_view here).
  std::string full_key(scope);
  full_key.push_back('\0');
  full_key.append(key.substr(0, kMaxKeyBytes));
  absl::MutexLock lock(&mu_);
  PurgeLocked(now);
  auto it = buckets_.find(full_key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_keys_) {
      // Every tracked bucket is still in use: share one per scope rather
      // than forget a bucket that is not full (that would refill it).
      ++overflow_takes_;
      auto [o, inserted] = overflow_.try_emplace(std::string(scope));
      if (inserted) {
        o->second.tokens = std::max(limit.burst, 1.0);
        o->second.updated = now;
      }
      return TakeFrom(o->second, limit, now);
    }
    Bucket fresh;
    fresh.tokens = std::max(limit.burst, 1.0);
    fresh.updated = now;
    it = buckets_.emplace(full_key, fresh).first;
  } else {
    by_full_at_.erase({it->second.full_at, full_key});
  }
  const RateDecision d = TakeFrom(it->second, limit, now);
  by_full_at_.emplace(it->second.full_at, std::move(full_key));
  return d;
}

size_t InMemoryRateLimitStore::size() const {
  absl::MutexLock lock(&mu_);
  return buckets_.size();
}

uint64_t InMemoryRateLimitStore::overflow_takes() const {
  absl::MutexLock lock(&mu_);
  return overflow_takes_;
}

std::string_view RpcName(Rpc rpc) {
  switch (rpc) {
    case Rpc::kGetChallenge:
      return "GetChallenge";
    case Rpc::kAttest:
      return "Attest";
  }
  return "unknown";
}

int64_t RetryAfterSeconds(absl::Duration d) {
  const int64_t s = absl::ToInt64Seconds(absl::Ceil(d, absl::Seconds(1)));
  return std::max<int64_t>(s, 1);
}

Admission RequestLimiter::Admit(Rpc rpc, std::string_view peer_key) const {
  const RateLimit& limit = rpc == Rpc::kGetChallenge ? limits_.get_challenge : limits_.attest;
  Admission a;
  if (limit.unlimited()) return a;
  absl::StatusOr<RateDecision> d = store_.Take(RpcName(rpc), peer_key, limit);
  if (!d.ok()) {
    // Cannot tell whether the peer is over its limit: fail closed, retryable.
    a.status = absl::UnavailableError(
        absl::StrCat("rate limiter unavailable: ", d.status().message()));
    return a;
  }
  if (d->allowed) return a;
  a.retry_after_seconds = RetryAfterSeconds(d->retry_after);
  a.status = absl::ResourceExhaustedError(absl::StrCat(
      "rate limit: ", std::string(RpcName(rpc)), " allows ", limit.rate_per_second, "/s (burst ",
      limit.burst, ") per client; retry after ", a.retry_after_seconds, " s"));
  return a;
}

}  // namespace rp::server::limits
