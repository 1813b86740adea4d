// The replicas' shared single-use and rate-limit state on Redis
// (ARCHITECTURE §11, docs/scale-out.md): the same interfaces as the
// in-memory stores, so callers do not change.
//
// Keys (binary-safe arguments, never formatted into a command string):
//   rp:<namespace>:n:<base64url(SHA-256(nonce))>     challenge nonces
//   rp:<namespace>:j:<base64url(SHA-256(id))>        key-release token ids
//   rp:<namespace>:rl:<scope>:<base64url(SHA-256(peer))>  token buckets
#ifndef RP_SERVER_REDIS_REDIS_STORES_H_
#define RP_SERVER_REDIS_REDIS_STORES_H_

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/limits/rate_limiter.h"
#include "server/nonce/replay_store.h"
#include "server/redis/redis_client.h"
#include "verifier/common/clock.h"

namespace rp::server::redis {

// Outcomes of MarkUsed, for rp_nonce_store_requests_total{kind,result}.
enum class MarkResult { kFirst, kReplay, kError };
std::string_view MarkResultName(MarkResult r);  // first | replay | error

class ReplayObserver {
 public:
  virtual ~ReplayObserver() = default;
  virtual void OnMarkUsed(std::string_view kind, MarkResult result, absl::Duration latency) = 0;
};

struct ReplayOptions {
  // > 0: after the SET, `WAIT wait_replicas wait_timeout`; fewer replica
  // acknowledgements => UNAVAILABLE (the nonce stays burnt: fail closed).
  int wait_replicas = 0;
  absl::Duration wait_timeout = absl::Milliseconds(50);
  // How long before its expiry a record's subject was issued at the latest
  // (nonces: the challenge lifetime; token ids: token lifetime + leeway).
  // With the store's epoch (below) it tells which records Redis may have
  // forgotten.
  absl::Duration lifetime = absl::Minutes(5);
};

// The store's epoch: `rp:<ns>:epoch` holds the unix ms at which Redis
// started holding our records. Redis that restarts without persistence (or
// is flushed, or fails over to a replica that missed writes of a whole
// period) loses the key with the records; the next MarkUsed then starts a
// new epoch at the end of the caller's current second (challenge times are
// whole seconds), and every record whose subject was issued before the
// epoch (expires_at - lifetime < epoch) is refused (UNAVAILABLE): Redis
// cannot vouch that it was not used before the loss.
// Clients get a new challenge / token. Replicas need synchronised clocks
// (NTP); a replica ahead by d narrows nothing beyond d.
inline constexpr char kEpochKeySuffix[] = "epoch";

// SET the epoch key NX to the start of the caller's current second (at
// replica start, so that a fresh Redis does not refuse the first
// challenges). Returns the epoch.
absl::StatusOr<absl::Time> EnsureEpoch(RedisClient& client, std::string_view key_prefix,
                                       const Clock& clock);

// One atomic script: check the epoch (above), then
// `SET <key> 1 NX PXAT <expires_at ms>`: OK => first use, nil => replay,
// anything else (error reply, timeout, no connection, a record older than
// the epoch) => UNAVAILABLE, and the caller rejects
// (NONCE_STORE_UNAVAILABLE). The key expires with the challenge, so Redis
// holds only unexpired nonces.
//
// Redis must not evict these keys: run it with maxmemory-policy noeviction
// (the default); with noeviction a full Redis answers SET with an OOM error,
// which is UNAVAILABLE here, never a silent "first use".
class RedisReplayStore final : public nonce::ReplayStore {
 public:
  // `kind` is "nonce" (prefix rp:<ns>:n:) or "jti" (rp:<ns>:j:); `key_prefix`
  // comes from KeyPrefix(namespace). All references outlive the store.
  RedisReplayStore(RedisClient& client, std::string_view key_prefix, std::string_view kind,
                   ReplayOptions options, const Clock& clock);

  absl::StatusOr<bool> MarkUsed(std::span<const uint8_t> nonce, absl::Time expires_at) override;

  // The Redis key of `nonce` (for tests and operators).
  std::string KeyFor(std::span<const uint8_t> nonce) const;

 private:
  RedisClient& client_;
  const std::string prefix_;
  const std::string epoch_key_;
  const ReplayOptions options_;
  const Clock& clock_;
};

// Any ReplayStore (Redis or in memory), with each MarkUsed reported to an
// observer (metrics) under `kind`.
class ObservedReplayStore final : public nonce::ReplayStore {
 public:
  ObservedReplayStore(nonce::ReplayStore& inner, std::string_view kind, const Clock& clock,
                      ReplayObserver& observer)
      : inner_(inner), kind_(kind), clock_(clock), observer_(observer) {}

  absl::StatusOr<bool> MarkUsed(std::span<const uint8_t> nonce, absl::Time expires_at) override;

 private:
  nonce::ReplayStore& inner_;
  const std::string kind_;
  const Clock& clock_;
  ReplayObserver& observer_;
};

// Token buckets in Redis: one Lua script per Take does the same arithmetic
// as InMemoryRateLimitStore atomically (refill from the caller's clock, take
// one token, PEXPIRE the bucket when it would be full again), so every
// replica enforces one budget per peer. Errors => UNAVAILABLE.
class RedisRateLimitStore final : public limits::RateLimitStore {
 public:
  RedisRateLimitStore(RedisClient& client, std::string_view key_prefix, const Clock& clock);

  absl::StatusOr<limits::RateDecision> Take(std::string_view scope, std::string_view key,
                                            const limits::RateLimit& limit) override;

 private:
  RedisClient& client_;
  const std::string prefix_;
  const Clock& clock_;
};

// Redis first; when Redis cannot answer, the replica's own in-memory
// buckets (a limit per replica instead of one shared limit: still limited,
// and GetChallenge keeps working while Redis is down). `on_fallback` is
// called for each fallback (metrics); may be empty.
class FallbackRateLimitStore final : public limits::RateLimitStore {
 public:
  FallbackRateLimitStore(limits::RateLimitStore& primary, limits::RateLimitStore& fallback,
                         std::function<void()> on_fallback)
      : primary_(primary), fallback_(fallback), on_fallback_(std::move(on_fallback)) {}

  absl::StatusOr<limits::RateDecision> Take(std::string_view scope, std::string_view key,
                                            const limits::RateLimit& limit) override;

 private:
  limits::RateLimitStore& primary_;
  limits::RateLimitStore& fallback_;
  std::function<void()> on_fallback_;
};

}  // namespace rp::server::redis

#endif  // RP_SERVER_REDIS_REDIS_STORES_H_
