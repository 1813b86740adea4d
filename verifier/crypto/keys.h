// EC keys for token signing and JWK handling.
#ifndef RP_VERIFIER_CRYPTO_KEYS_H_
#define RP_VERIFIER_CRYPTO_KEYS_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "verifier/common/encoding.h"
#include "verifier/crypto/openssl_ptr.h"

namespace rp::crypto {

// Public members of a JWK (RFC 7517/7518), base64url strings as in JSON.
struct JwkPublic {
  std::string kty;  // EC | RSA | OKP
  std::string crv;  // P-256 | P-384 | P-521 | Ed25519 ...
  std::string x, y; // EC / OKP
  std::string n, e; // RSA
};

// RFC 7638 thumbprint (SHA-256 over the canonical JSON of the required
// members). Errors for unknown kty or missing members.
absl::StatusOr<Bytes> JwkThumbprintSha256(const JwkPublic& jwk);
// EC public key from a JWK (P-256/P-384); checks the point is on the curve.
absl::StatusOr<OpensslPtr<EVP_PKEY>> EcPublicKeyFromJwk(const JwkPublic& jwk);
// JWK of an EC key's public part.
absl::StatusOr<JwkPublic> EcPublicJwk(const EVP_PKEY* key);

// New EC key pair on "P-256" or "P-384".
absl::StatusOr<OpensslPtr<EVP_PKEY>> GenerateEcKey(std::string_view curve);
absl::StatusOr<OpensslPtr<EVP_PKEY>> ParsePrivateKeyPem(std::string_view pem);
absl::StatusOr<OpensslPtr<EVP_PKEY>> ParsePublicKeyPem(std::string_view pem);
std::string PrivateKeyPem(const EVP_PKEY* key);  // PKCS#8
std::string PublicKeyPem(const EVP_PKEY* key);   // SPKI

// ECDSA signature as r||s (P1363/JOSE), big-endian, fixed width per curve.
absl::StatusOr<Bytes> SignEcdsaP1363(const EVP_PKEY* key, std::span<const uint8_t> message,
                                     bool sha384);

}  // namespace rp::crypto

#endif  // RP_VERIFIER_CRYPTO_KEYS_H_
