// Challenges for GetChallenge/Attest: a random nonce with issue and expiry
// times, authenticated by an HMAC key the replicas share, single use.
//
// Wire rule (stable; replicas and versions must agree):
//   mac = HMAC-SHA256(key, "rp-challenge-v1" || nonce(32) || iat || exp)
// where iat and exp are unix seconds, 8 bytes each, big-endian, signed
// 64-bit two's complement.
#ifndef RP_SERVER_NONCE_NONCE_SERVICE_H_
#define RP_SERVER_NONCE_NONCE_SERVICE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "attestation/v1/attestation.pb.h"
#include "server/nonce/replay_store.h"
#include "verifier/common/clock.h"
#include "verifier/common/encoding.h"

namespace rp::nonce {

inline constexpr size_t kNonceBytes = 32;
inline constexpr size_t kMacBytes = 32;
inline constexpr size_t kMinHmacKeyBytes = 32;
// Issue times up to this far ahead of our clock are accepted (replica skew).
inline constexpr absl::Duration kMaxClockSkew = absl::Seconds(60);
// Upper bound for a challenge lifetime; keeps the replay set bounded in time.
inline constexpr absl::Duration kMaxLifetime = absl::Hours(24);

enum class ChallengeOutcome { kOk, kInvalid, kExpired, kReplayed, kStoreError };

// Stable reason code of an outcome: "OK", "NONCE_INVALID", "NONCE_EXPIRED",
// "NONCE_REPLAYED", "NONCE_STORE_UNAVAILABLE".
std::string_view ChallengeReason(ChallengeOutcome outcome);

// Result of NonceService::Consume. A failed check is a verdict, not a
// transport error: the caller turns it into a rejection with `reason`
// (kStoreError alone is retryable, as UNAVAILABLE).
struct ChallengeCheck {
  ChallengeOutcome outcome = ChallengeOutcome::kInvalid;
  std::string reason;  // ChallengeReason(outcome)
  std::string detail;  // human text: which field, expected vs actual
  // kStoreError only: the store's code. RESOURCE_EXHAUSTED = full of unexpired
  // nonces (the challenge was not consumed and may be retried later);
  // anything else = the backend could not answer.
  absl::StatusCode store_code = absl::StatusCode::kOk;

  bool ok() const { return outcome == ChallengeOutcome::kOk; }
};

// Issues and consumes challenges.
//
// Stateless apart from the replay store: any replica holding the same key
// can check a challenge another issued. Thread-safe: const after Create; the
// clock and the replay store must be thread-safe and outlive the service.
class NonceService {
 public:
  // `hmac_key` must be at least 32 bytes; `lifetime` in (0, 24 h], whole
  // seconds (fractions are truncated).
  static absl::StatusOr<std::unique_ptr<NonceService>> Create(
      Bytes hmac_key, absl::Duration lifetime, Clock& clock,
      ReplayStore& replay_store);

  NonceService(const NonceService&) = delete;
  NonceService& operator=(const NonceService&) = delete;

  // A fresh challenge: 32 random bytes, iat = now (unix seconds, floor),
  // exp = iat + lifetime, and its MAC.
  attestation::v1::Challenge Issue() const;

  // Checks a challenge presented by a client and, if it is valid and
  // unexpired, marks it used. In order:
  //   sizes (nonce 32, mac 32)           -> NONCE_INVALID
  //   MAC (constant time)                -> NONCE_INVALID
  //   exp > iat, exp - iat <= 24 h       -> NONCE_INVALID
  //   iat <= now + 60 s                  -> NONCE_INVALID
  //   now < exp                          -> NONCE_EXPIRED
  //   replay store: first use            -> NONCE_REPLAYED /
  //   NONCE_STORE_UNAVAILABLE
  // The replay store is touched only after the MAC and expiry pass, so
  // forged or stale challenges cannot fill it. exp - iat may differ from this
  // service's lifetime (another replica's configuration) when the MAC holds.
  ChallengeCheck Consume(const attestation::v1::Challenge& challenge) const;

  absl::Duration lifetime() const { return absl::Seconds(lifetime_seconds_); }

 private:
  NonceService(Bytes hmac_key, int64_t lifetime_seconds, Clock& clock,
               ReplayStore& replay_store)
      : hmac_key_(std::move(hmac_key)),
        lifetime_seconds_(lifetime_seconds),
        clock_(clock),
        replay_store_(replay_store) {}

  Bytes Mac(std::span<const uint8_t> nonce, int64_t iat, int64_t exp) const;
  ChallengeCheck CheckStateless(const attestation::v1::Challenge& challenge,
                                absl::Time now) const;

  const Bytes hmac_key_;
  const int64_t lifetime_seconds_;
  Clock& clock_;
  ReplayStore& replay_store_;
};

// Compact text form of a challenge for the CLI and HTTP clients:
// base64url without padding of nonce(32) || iat(8, BE) || exp(8, BE) || mac(32)
// (80 bytes, 107 characters). A challenge whose nonce or mac has the wrong
// size encodes to something DecodeChallenge refuses.
std::string EncodeChallenge(const attestation::v1::Challenge& challenge);
// Strict inverse of EncodeChallenge: only the unpadded base64url alphabet,
// exactly 107 characters, canonical trailing bits. Does not check the MAC.
absl::StatusOr<attestation::v1::Challenge> DecodeChallenge(
    std::string_view text);

// The challenge HMAC key. An empty `path` yields a fresh random 32-byte key
// (single replica only: others could not check its challenges). Otherwise
// the file holds either the key as hex (whitespace around it ignored; at
// least 64 hex digits) or the raw key bytes; either way at least 32 bytes.
absl::StatusOr<Bytes> LoadOrGenerateHmacKey(std::string_view path);

}  // namespace rp::nonce

#endif  // RP_SERVER_NONCE_NONCE_SERVICE_H_
