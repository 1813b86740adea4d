// Strict verification of our attestation tokens against a JWK Set. Used by
// `attestctl token verify` and by tests; relying parties may use any JOSE
// library (tests/integration/jose checks one independent implementation).
#ifndef RP_SERVER_TOKEN_TOKEN_VERIFIER_H_
#define RP_SERVER_TOKEN_TOKEN_VERIFIER_H_

#include <cstddef>
#include <string_view>

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
absl::StatusOr<nlohmann::json> VerifyToken(std::string_view jwt,
                                           const nlohmann::json& jwks,
                                           absl::Time now,
                                           absl::Duration leeway);

}  // namespace rp::token

#endif  // RP_SERVER_TOKEN_TOKEN_VERIFIER_H_
