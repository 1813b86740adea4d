#include "server/redis/redis_stores.h"

#include <cmath>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "verifier/common/encoding.h"
#include "verifier/crypto/digest.h"
#include "verifier/common/absl_view.h"

namespace rp::server::redis {
namespace {

std::string HashedKey(std::string_view prefix, std::span<const uint8_t> id) {
  return absl::StrCat(AbslView(prefix), Base64UrlEncode(crypto::Sha256(id)));
}

// KEYS[1] the bucket (hash t = tokens, u = updated ms).
// ARGV: now_ms, rate per second, burst. Returns {allowed 0|1, retry_after_ms}.
// The caller's clock is the time source (time is an input); a replica whose
// clock is behind the bucket's gets no refill rather than a negative one.
// KEYS[1] the record, KEYS[2] the epoch. ARGV: expires_at ms (PXAT),
// caller's now ms, issued-at-the-latest ms. Returns {1 first | 0 replay |
// -1 older than the epoch, epoch ms}; error replies pass through.
constexpr char kMarkScript[] = R"lua(
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  -- Lost (or never had) our records: the epoch is the END of the current
  -- second, since challenges carry whole-second times.
  epoch = tostring(math.floor(tonumber(ARGV[2]) / 1000) * 1000 + 1000)
  redis.call('SET', KEYS[2], epoch)
end
if tonumber(ARGV[3]) < tonumber(epoch) then
  return {-1, tonumber(epoch)}
end
if redis.call('SET', KEYS[1], '1', 'NX', 'PXAT', ARGV[1]) then
  return {1, tonumber(epoch)}
end
return {0, tonumber(epoch)}
)lua";

constexpr char kTakeScript[] = R"lua(
local now = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 't', 'u')
local tokens = tonumber(b[1])
local updated = tonumber(b[2])
if tokens == nil or updated == nil then
  tokens = burst
  updated = now
end
if now > updated then
  tokens = math.min(burst, tokens + (now - updated) * rate / 1000)
  updated = now
end
local allowed = 0
local retry_ms = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  retry_ms = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'u', tostring(updated))
local full_ms = math.ceil((burst - tokens) * 1000 / rate)
if full_ms < 1 then full_ms = 1 end
redis.call('PEXPIRE', KEYS[1], full_ms)
return {allowed, retry_ms}
)lua";

}  // namespace

std::string_view MarkResultName(MarkResult r) {
  switch (r) {
    case MarkResult::kFirst:
      return "first";
    case MarkResult::kReplay:
      return "replay";
    case MarkResult::kError:
      return "error";
  }
  return "error";
}

RedisReplayStore::RedisReplayStore(RedisClient& client, std::string_view key_prefix,
                                   std::string_view kind, ReplayOptions options,
                                   const Clock& clock)
    : client_(client),
      prefix_(absl::StrCat(AbslView(key_prefix), kind == "jti" ? "j:" : "n:")),
      epoch_key_(absl::StrCat(AbslView(key_prefix), kEpochKeySuffix)),
      options_(options),
      clock_(clock) {}

std::string RedisReplayStore::KeyFor(std::span<const uint8_t> nonce) const {
  return HashedKey(prefix_, nonce);
}

absl::StatusOr<bool> ObservedReplayStore::MarkUsed(std::span<const uint8_t> nonce,
                                                   absl::Time expires_at) {
  const absl::Time start = clock_.Now();
  absl::StatusOr<bool> r = inner_.MarkUsed(nonce, expires_at);
  const MarkResult m = !r.ok() ? MarkResult::kError
                               : (*r ? MarkResult::kFirst : MarkResult::kReplay);
  observer_.OnMarkUsed(kind_, m, clock_.Now() - start);
  return r;
}

absl::StatusOr<bool> RedisReplayStore::MarkUsed(std::span<const uint8_t> nonce,
                                                absl::Time expires_at) {
  if (absl::Status st = nonce::CheckRecordable(nonce, expires_at, clock_.Now()); !st.ok()) {
    return st;
  }
  const std::string key = KeyFor(nonce);
  const std::string pxat = absl::StrCat(absl::ToUnixMillis(expires_at));
  const std::string now_ms = absl::StrCat(absl::ToUnixMillis(clock_.Now()));
  const std::string issued_ms = absl::StrCat(absl::ToUnixMillis(expires_at - options_.lifetime));
  absl::StatusOr<Reply> set = client_.Command(
      {"EVAL", kMarkScript, "2", key, epoch_key_, pxat, now_ms, issued_ms});
  if (!set.ok()) return set.status();  // UNAVAILABLE
  if (set->type != Reply::Type::kArray || set->elements.size() != 2 ||
      set->elements[0].type != Reply::Type::kInteger) {
    // An OOM error (noeviction and full), READONLY (a replica), NOPERM …:
    // we cannot tell, so the caller fails closed.
    return absl::UnavailableError(absl::StrCat("redis: SET NX answered ", set->Describe()));
  }
  const int64_t outcome = set->elements[0].integer;
  if (outcome == -1) {
    return absl::UnavailableError(absl::StrCat(
        "redis: the store's records start at ",
        FormatRfc3339(absl::FromUnixMillis(set->elements[1].integer)),
        " (Redis lost its data: restart without persistence, flush or failover); this was "
        "issued before then, so its earlier use cannot be ruled out"));
  }
  if (outcome == 0) return false;
  if (options_.wait_replicas > 0) {
    const std::string n = absl::StrCat(options_.wait_replicas);
    const std::string ms = absl::StrCat(std::max<int64_t>(1, absl::ToInt64Milliseconds(
                                                                 options_.wait_timeout)));
    absl::StatusOr<Reply> wait = client_.Command({"WAIT", n, ms});
    if (!wait.ok()) {
      return absl::UnavailableError(absl::StrCat("redis: WAIT: ", wait.status().message()));
    }
    if (wait->type != Reply::Type::kInteger || wait->integer < options_.wait_replicas) {
      // The nonce is recorded on the primary but may be lost on failover:
      // refuse it now (it stays burnt) rather than issue a token for it.
      return absl::UnavailableError(absl::StrCat("redis: WAIT ", n, " ", ms, " answered ",
                                                 wait->Describe(), ", fewer replicas than ",
                                                 options_.wait_replicas, " acknowledged"));
    }
  }
  return true;
}

absl::StatusOr<absl::Time> EnsureEpoch(RedisClient& client, std::string_view key_prefix,
                                       const Clock& clock) {
  const std::string key = absl::StrCat(AbslView(key_prefix), kEpochKeySuffix);
  // At replica start: the start of the current second (challenges carry
  // whole-second times, so one issued in this second is not refused).
  const std::string now_ms = absl::StrCat(absl::ToUnixSeconds(clock.Now()) * 1000);
  absl::StatusOr<Reply> set = client.Command({"SET", key, now_ms, "NX", "GET"});
  if (!set.ok()) return set.status();
  if (set->type == Reply::Type::kNil) return absl::FromUnixMillis(std::stoll(now_ms));
  int64_t ms = 0;
  if (set->type != Reply::Type::kString || !absl::SimpleAtoi(set->str, &ms)) {
    return absl::UnavailableError(absl::StrCat("redis: epoch key answered ", set->Describe()));
  }
  return absl::FromUnixMillis(ms);
}

RedisRateLimitStore::RedisRateLimitStore(RedisClient& client, std::string_view key_prefix,
                                         const Clock& clock)
    : client_(client), prefix_(absl::StrCat(AbslView(key_prefix), "rl:")), clock_(clock) {}

absl::StatusOr<limits::RateDecision> RedisRateLimitStore::Take(std::string_view scope,
                                                               std::string_view key,
                                                               const limits::RateLimit& limit) {
  if (limit.unlimited()) return limits::RateDecision{};
  if (scope.size() > 64) return absl::InvalidArgumentError("rate limit: scope too long");
  const std::string bucket =
      absl::StrCat(prefix_, AbslView(scope), ":", Base64UrlEncode(crypto::Sha256(AsBytes(key))));
  const std::string now_ms = absl::StrCat(absl::ToUnixMillis(clock_.Now()));
  const std::string rate = absl::StrFormat("%.6f", limit.rate_per_second);
  const std::string burst = absl::StrFormat("%.6f", std::max(1.0, limit.burst));
  absl::StatusOr<Reply> r =
      client_.Command({"EVAL", kTakeScript, "1", bucket, now_ms, rate, burst});
  if (!r.ok()) {
    return absl::UnavailableError(absl::StrCat("rate limit store: ", r.status().message()));
  }
  if (r->type != Reply::Type::kArray || r->elements.size() != 2 ||
      r->elements[0].type != Reply::Type::kInteger ||
      r->elements[1].type != Reply::Type::kInteger) {
    return absl::UnavailableError(
        absl::StrCat("rate limit store: script answered ", r->Describe()));
  }
  limits::RateDecision d;
  d.allowed = r->elements[0].integer == 1;
  if (!d.allowed) {
    d.retry_after = absl::Milliseconds(std::max<int64_t>(1, r->elements[1].integer));
  }
  return d;
}

absl::StatusOr<limits::RateDecision> FallbackRateLimitStore::Take(
    std::string_view scope, std::string_view key, const limits::RateLimit& limit) {
  absl::StatusOr<limits::RateDecision> d = primary_.Take(scope, key, limit);
  if (d.ok()) return d;
  if (on_fallback_) on_fallback_();
  return fallback_.Take(scope, key, limit);
}

}  // namespace rp::server::redis
