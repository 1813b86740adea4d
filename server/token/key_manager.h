// Token signing keys: one current (signs), optionally one next (published
// ahead of use) and previous keys (kept so that their tokens stay verifiable
// until they expire). ARCHITECTURE §6.
#ifndef RP_SERVER_TOKEN_KEY_MANAGER_H_
#define RP_SERVER_TOKEN_KEY_MANAGER_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "attestation/v1/attestation.pb.h"
#include "attestation/v1/config.pb.h"
#include "verifier/crypto/keys.h"
#include "verifier/crypto/openssl_ptr.h"

namespace rp::token {

// JWS algorithms we sign and verify with (RFC 7518 §3.4).
enum class JwsAlgorithm { kEs256, kEs384 };

// "ES256" | "ES384".
std::string_view JwsAlgorithmName(JwsAlgorithm alg);
// JWK curve the algorithm requires: "P-256" | "P-384".
std::string_view JwsAlgorithmCurve(JwsAlgorithm alg);
// Parses "ES256" / "ES384"; "" means the default (ES256). Anything else
// ("none", "HS256", "RS256", ...) is INVALID_ARGUMENT.
absl::StatusOr<JwsAlgorithm> ParseJwsAlgorithm(std::string_view name);

enum class KeyStatus { kCurrent, kNext, kPrevious };
std::string_view KeyStatusName(KeyStatus status);  // current | next | previous

// One signing key pair. Immutable and shared: a token being signed keeps its
// key alive across a concurrent Rotate().
struct SigningKey {
  crypto::OpensslPtr<EVP_PKEY> key;  // private key, read-only after creation
  JwsAlgorithm alg = JwsAlgorithm::kEs256;
  crypto::JwkPublic jwk;  // public part
  std::string kid;        // base64url(RFC 7638 SHA-256 thumbprint)
};

// Holds the signing keys and rotates them.
//
// Invariants (checked by the factories): exactly one current key, at most one
// next key; current and next match the configured algorithm (ES256 needs
// P-256, ES384 needs P-384); previous keys may be on either supported curve
// (tokens signed before an algorithm change stay verifiable); no key twice.
// Thread-safe: all methods take an internal absl::Mutex, the const ones as
// readers (every Attest reads Current(); only Rotate writes).
class KeyManager {
 public:
  // Previous keys kept after Rotate(), newest first; older ones are retired.
  // Rotate no more often than the token lifetime, or the retired key's tokens
  // stop verifying early.
  static constexpr size_t kMaxPreviousKeys = 3;

  struct KeySpec {
    crypto::OpensslPtr<EVP_PKEY> key;
    KeyStatus status = KeyStatus::kCurrent;
    std::string source;  // for error messages, e.g. the PEM file name
  };

  // From configuration: `config.algorithm` ("" => ES256) and `config.keys`
  // (PEM files with status current|next|previous). With no keys configured,
  // one current key is generated (embedded default; single replica only).
  static absl::StatusOr<std::unique_ptr<KeyManager>> Create(
      const attestation::v1::TokenConfig& config);
  // From keys already in memory (tests, tools). Empty `keys` => generated.
  static absl::StatusOr<std::unique_ptr<KeyManager>> CreateFromKeys(
      JwsAlgorithm alg, std::vector<KeySpec> keys);

  KeyManager(const KeyManager&) = delete;
  KeyManager& operator=(const KeyManager&) = delete;

  JwsAlgorithm algorithm() const { return alg_; }

  // The key to sign with now.
  std::shared_ptr<const SigningKey> Current() const;

  // The next key (or a newly generated one) becomes current, the old current
  // becomes the newest previous key, and a new next key is generated and
  // published. On error nothing changes.
  absl::Status Rotate();

  // Every active key (current, next, previous - in that order) as public
  // JWKs with kid, alg and use "sig".
  attestation::v1::Jwks Jwks() const;
  // The same as a JWK Set JSON document: {"keys":[{...}, ...]}.
  std::string JwksJson() const;

  // Status of the key with `kid`, or NOT_FOUND.
  absl::StatusOr<KeyStatus> StatusOf(std::string_view kid) const;

 private:
  explicit KeyManager(JwsAlgorithm alg) : alg_(alg) {}

  const JwsAlgorithm alg_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const SigningKey> current_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const SigningKey> next_ ABSL_GUARDED_BY(mu_);  // may be null
  std::vector<std::shared_ptr<const SigningKey>> previous_
      ABSL_GUARDED_BY(mu_);  // newest first
};

}  // namespace rp::token

#endif  // RP_SERVER_TOKEN_KEY_MANAGER_H_
