// Signs attestation tokens: JWS compact serialization (RFC 7515) of a JWT
// (RFC 7519) with ES256 or ES384, kid = RFC 7638 thumbprint. ARCHITECTURE §6.
#ifndef RP_SERVER_TOKEN_TOKEN_ISSUER_H_
#define RP_SERVER_TOKEN_TOKEN_ISSUER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "attestation/v1/config.pb.h"
#include "nlohmann/json.hpp"
#include "server/token/key_manager.h"
#include "verifier/common/clock.h"

namespace rp::token {

inline constexpr absl::Duration kDefaultTokenLifetime = absl::Seconds(300);
inline constexpr char kDefaultIssuer[] = "attestation-rp";

// Issues signed tokens with the key manager's current key.
//
// Thread-safe: immutable after Create; the clock and key manager must be
// thread-safe and outlive the issuer.
class TokenIssuer {
 public:
  // `config.algorithm` ("" => ES256) must be the key manager's algorithm;
  // `config.lifetime_seconds` 0 => 300, negative is an error;
  // `config.issuer` "" => "attestation-rp".
  static absl::StatusOr<std::unique_ptr<TokenIssuer>> Create(
      const attestation::v1::TokenConfig& config, Clock& clock,
      KeyManager& keys);

  TokenIssuer(const TokenIssuer&) = delete;
  TokenIssuer& operator=(const TokenIssuer&) = delete;

  // Signs `claims` (a JSON object, or null for none). The issuer owns the
  // registered claims iat, nbf (= iat), exp (= iat + lifetime), jti (16
  // random bytes, base64url) and iss: values for them in `claims` are
  // replaced. Header: {"alg":"ES256"|"ES384","kid":...,"typ":"JWT"}.
  // INVALID_ARGUMENT if `claims` is not an object or holds invalid UTF-8.
  absl::StatusOr<std::string> Issue(nlohmann::json claims) const;

  absl::Duration lifetime() const { return lifetime_; }
  const std::string& issuer() const { return issuer_; }

 private:
  TokenIssuer(absl::Duration lifetime, std::string issuer, Clock& clock,
              KeyManager& keys)
      : lifetime_(lifetime),
        issuer_(std::move(issuer)),
        clock_(clock),
        keys_(keys) {}

  const absl::Duration lifetime_;
  const std::string issuer_;
  Clock& clock_;
  KeyManager& keys_;
};

}  // namespace rp::token

#endif  // RP_SERVER_TOKEN_TOKEN_ISSUER_H_
