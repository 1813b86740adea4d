// Strict verification of our attestation tokens against a JWK Set. Used by
// `attestctl token verify` and by tests; relying parties may use any JOSE
// library (tests/integration/jose checks one independent implementation).
#ifndef RP_SERVER_TOKEN_TOKEN_VERIFIER_H_
#define RP_SERVER_TOKEN_TOKEN_VERIFIER_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace rp::token {

// Tokens longer than this are refused before any parsing.
inline constexpr size_t kMaxTokenBytes = 256 * 1024;

// Verifies a JWS compact JWT and returns its payload (claims).
//
// Strict, in this order; the first failure is returned with a "jwt: ..."
// message:
//  - exactly three non-empty dot-separated parts, each unpadded base64url
//    with canonical trailing bits; header and payload JSON objects without
//    duplicate member names (INVALID_ARGUMENT);
//  - header "alg" is ES256 or ES384 ("none", HS*, RS*, anything else is
//    refused: the JWKS, not the token, decides the key type); "crit" is
//    refused; "typ", if present, is "JWT" (INVALID_ARGUMENT);
//  - header "kid" names exactly one key in `jwks` ({"keys":[...]}), which is
//    kty EC on the curve the alg needs (ES256: P-256, ES384: P-384), and
//    whose "alg"/"use", if present, are that alg / "sig" (NOT_FOUND for an
//    unknown kid, INVALID_ARGUMENT for a mismatched key);
//  - the P1363 signature over "<header>.<payload>" verifies
//    (UNAUTHENTICATED);
//  - "exp" is present and now < exp + leeway; "nbf", if present,
//    nbf - leeway <= now; "iat", if present, is a number (UNAUTHENTICATED
//    for expired / not yet valid, INVALID_ARGUMENT for a malformed claim).
// `leeway` must not be negative.
//
// This checks that the token is ours and valid now, NOT that it says what a
// relying party needs (a contraindicated token verifies here). Relying
// parties use the overload with TokenClaimChecks below.
absl::StatusOr<nlohmann::json> VerifyToken(std::string_view jwt,
                                           const nlohmann::json& jwks,
                                           absl::Time now,
                                           absl::Duration leeway);

// What a relying party requires of the claims, beyond signature and time.
// The defaults accept nothing: an issuer must be named (or any_issuer set
// explicitly) and only "affirming" is accepted.
struct TokenClaimChecks {
  // "iss" must equal this exactly (RFC 7519 §4.1.1: case-sensitive string).
  // The server sets iss to its config token.issuer (default
  // "attestation-rp"), which need not be a URL, so it cannot be derived from
  // where the JWKS came from: the relying party names it.
  std::string issuer;
  // Skip the iss check. Must be set explicitly; with it `issuer` must be "".
  bool any_issuer = false;
  // RFC 7519 §4.1.3: when set, the token must carry "aud" (a string or an
  // array of strings) containing it. When unset, a token that carries "aud"
  // is rejected (it is meant for someone who identifies themselves).
  std::optional<std::string> audience;
  // Accepted top-level "ear.status" values: a non-empty subset of
  // {"affirming", "warning"}; "contraindicated" can never be accepted. Every
  // submods.*.ear.status present must be accepted too.
  std::vector<std::string> accept_statuses = {"affirming"};
};

// INVALID_ARGUMENT when `checks` itself is unusable (no issuer and not
// any_issuer, issuer together with any_issuer, an empty or unknown accept
// status): a usage error, not a verdict on the token.
absl::Status ValidateClaimChecks(const TokenClaimChecks& checks);

// Applies `checks` to verified claims. PERMISSION_DENIED ("jwt: ...") when
// the token is well-formed but not acceptable (iss / aud mismatch, aud
// present but none expected, ear.status not accepted); INVALID_ARGUMENT for
// a missing or malformed iss / aud / ear.status, or unusable `checks`.
absl::Status CheckClaims(const nlohmann::json& claims,
                         const TokenClaimChecks& checks);

// VerifyToken (signature, kid, times) followed by CheckClaims.
absl::StatusOr<nlohmann::json> VerifyToken(std::string_view jwt,
                                           const nlohmann::json& jwks,
                                           absl::Time now,
                                           absl::Duration leeway,
                                           const TokenClaimChecks& checks);

}  // namespace rp::token

#endif  // RP_SERVER_TOKEN_TOKEN_VERIFIER_H_
