// Signs attestation tokens: JWS compact serialization (RFC 7515) of a JWT
// (RFC 7519) with ES256 or ES384, kid = RFC 7638 thumbprint. ARCHITECTURE §6.
#ifndef RP_SERVER_TOKEN_TOKEN_ISSUER_H_
#define RP_SERVER_TOKEN_TOKEN_ISSUER_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "attestation/v1/config.pb.h"
#include "nlohmann/json.hpp"
#include "server/token/key_manager.h"
#include "verifier/common/clock.h"

namespace rp::token {

inline constexpr absl::Duration kDefaultTokenLifetime = absl::Seconds(300);
inline constexpr char kDefaultIssuer[] = "attestation-rp";
// Bounds on TokenConfig.audiences (docs/key-release.md).
inline constexpr size_t kMaxAudiences = 64;
inline constexpr size_t kMaxAudienceLength = 256;

// OK iff `audiences` is a valid TokenConfig.audiences list: at most
// kMaxAudiences entries, each 1..kMaxAudienceLength printable ASCII
// characters without spaces (0x21..0x7e), no duplicates. The message names
// the offending entry as `field`[i].
absl::Status ValidateAudiences(const std::vector<std::string>& audiences,
                               std::string_view field = "token.audiences");

// Issues signed tokens with the key manager's current key.
//
// Thread-safe: immutable after Create; the clock and key manager must be
// thread-safe and outlive the issuer.
class TokenIssuer {
 public:
  // `config.algorithm` ("" => ES256) must be the key manager's algorithm;
  // `config.lifetime_seconds` 0 => 300, negative is an error;
  // `config.issuer` "" => "attestation-rp"; `config.audiences` must pass
  // ValidateAudiences; `config.profile` "" | "compact" | "full".
  static absl::StatusOr<std::unique_ptr<TokenIssuer>> Create(
      const attestation::v1::TokenConfig& config, Clock& clock,
      KeyManager& keys);

  TokenIssuer(const TokenIssuer&) = delete;
  TokenIssuer& operator=(const TokenIssuer&) = delete;

  // The rule for a requested audience (AttestRequest.audience): with no
  // configured audiences it must be empty (the token gets no `aud`); with
  // some, it must be one of them (so it is required). INVALID_ARGUMENT
  // otherwise; the message quotes at most 64 characters of it, escaped.
  absl::Status CheckAudience(std::string_view audience) const;

  // Signs `claims` (a JSON object, or null for none). The issuer owns the
  // registered claims iat, nbf (= iat), exp (= iat + lifetime), jti (16
  // random bytes, base64url), iss and aud: values for them in `claims` are
  // replaced (aud removed when `audience` is empty). `audience` must pass
  // CheckAudience; when non-empty it becomes `aud` (a single string).
  // Header: {"alg":"ES256"|"ES384","kid":...,"typ":"JWT"}.
  // INVALID_ARGUMENT if `claims` is not an object, holds invalid UTF-8, or
  // the audience is refused. `jti`, when given, receives the token's jti (the
  // Attest audit record's request id) without decoding the token again.
  absl::StatusOr<std::string> Issue(nlohmann::json claims, std::string_view audience = {},
                                    std::string* jti = nullptr) const;

  absl::Duration lifetime() const { return lifetime_; }
  const std::string& issuer() const { return issuer_; }
  const std::vector<std::string>& audiences() const { return audiences_; }
  // The default token profile (config.profile: "" => "compact", or "full");
  // a policy's token_profile overrides it (server/service.cc).
  const std::string& profile() const { return profile_; }

 private:
  TokenIssuer(absl::Duration lifetime, std::string issuer,
              std::vector<std::string> audiences, std::string profile, Clock& clock,
              KeyManager& keys)
      : lifetime_(lifetime),
        issuer_(std::move(issuer)),
        audiences_(std::move(audiences)),
        profile_(std::move(profile)),
        clock_(clock),
        keys_(keys) {}

  const absl::Duration lifetime_;
  const std::string issuer_;
  const std::vector<std::string> audiences_;
  const std::string profile_;
  Clock& clock_;
  KeyManager& keys_;
};

}  // namespace rp::token

#endif  // RP_SERVER_TOKEN_TOKEN_ISSUER_H_
