// Per-peer token buckets for the public RPCs (docs/hardening.md).
//
// RateLimitStore is the storage interface: one atomic "take a token" per
// call, so that a shared backend (Redis, issue 12: a Lua script doing the same
// arithmetic, keyed by scope and peer, with the entry's TTL = time until the
// bucket is full again) can replace the in-memory one without changing
// callers. RequestLimiter maps RPCs to limits and answers RESOURCE_EXHAUSTED
// with a retry hint.
#ifndef RP_SERVER_LIMITS_RATE_LIMITER_H_
#define RP_SERVER_LIMITS_RATE_LIMITER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "verifier/common/clock.h"

namespace rp::server::limits {

// A token bucket: `burst` requests at once, refilled at `rate_per_second`.
// rate_per_second <= 0 means no limit.
struct RateLimit {
  double rate_per_second = 0;
  double burst = 1;
  bool unlimited() const { return rate_per_second <= 0; }
};

struct RateDecision {
  bool allowed = true;
  // When refused: how long until the next token (> 0).
  absl::Duration retry_after = absl::ZeroDuration();
};

// Token buckets keyed by (scope, key): scope names the limit (an RPC), key
// the peer. A bucket starts full. Thread-safe.
class RateLimitStore {
 public:
  virtual ~RateLimitStore() = default;
  // Takes one token. Errors mean the backend could not answer; callers fail
  // closed (UNAVAILABLE).
  virtual absl::StatusOr<RateDecision> Take(std::string_view scope, std::string_view key,
                                            const RateLimit& limit) = 0;
};

// In-process buckets with bounded memory.
//
// A bucket is forgotten as soon as it would be full again (idle for
// (burst - tokens) / rate): a forgotten bucket and a new one are the same,
// so forgetting never lets anyone through sooner. At most `max_keys` buckets
// are held; while that many are active, further new keys share one overflow
// bucket per scope (an attacker spraying source addresses then competes with
// itself there, and the peers already tracked keep their own budgets).
class InMemoryRateLimitStore final : public RateLimitStore {
 public:
  // Keys longer than this are truncated (peer keys are short).
  static constexpr size_t kMaxKeyBytes = 160;

  InMemoryRateLimitStore(size_t max_keys, const Clock& clock);

  absl::StatusOr<RateDecision> Take(std::string_view scope, std::string_view key,
                                    const RateLimit& limit) override;

  size_t size() const;             // buckets held (overflow buckets excluded)
  uint64_t overflow_takes() const;  // calls answered by an overflow bucket

 private:
  struct Bucket {
    double tokens = 0;
    absl::Time updated;
    absl::Time full_at;  // when tokens reach burst again
  };
  // Refill, take, and update full_at. Returns the decision.
  static RateDecision TakeFrom(Bucket& b, const RateLimit& limit, absl::Time now);
  void PurgeLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t max_keys_;
  const Clock& clock_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
  std::set<std::pair<absl::Time, std::string>> by_full_at_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Bucket> overflow_ ABSL_GUARDED_BY(mu_);  // per scope
  uint64_t overflow_takes_ ABSL_GUARDED_BY(mu_) = 0;
};

enum class Rpc { kGetChallenge, kAttest };
std::string_view RpcName(Rpc rpc);

struct RequestLimits {
  RateLimit get_challenge;
  RateLimit attest;
};

// Whole seconds for a retry-after header: rounded up, at least 1.
int64_t RetryAfterSeconds(absl::Duration d);

// The outcome of an admission check.
struct Admission {
  absl::Status status;  // OK, RESOURCE_EXHAUSTED or UNAVAILABLE
  int64_t retry_after_seconds = 0;  // > 0 with RESOURCE_EXHAUSTED
  bool ok() const { return status.ok(); }
};

// Admission of one RPC from one peer. Thread-safe; `store` must outlive it.
class RequestLimiter {
 public:
  RequestLimiter(RateLimitStore& store, RequestLimits limits) : store_(store), limits_(limits) {}

  // RESOURCE_EXHAUSTED "rate limit: <rpc> ... retry after N s" (N in
  // retry_after_seconds) when the peer's bucket is empty; UNAVAILABLE when
  // the store fails.
  Admission Admit(Rpc rpc, std::string_view peer_key) const;

 private:
  RateLimitStore& store_;
  const RequestLimits limits_;
};

}  // namespace rp::server::limits

#endif  // RP_SERVER_LIMITS_RATE_LIMITER_H_
