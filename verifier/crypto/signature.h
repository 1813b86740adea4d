// Signature verification primitives. Each returns OK only for a valid
// signature; any error (bad key type, malformed signature, mismatch) is a
// non-OK status whose message says which.
#ifndef RP_VERIFIER_CRYPTO_SIGNATURE_H_
#define RP_VERIFIER_CRYPTO_SIGNATURE_H_

#include <cstdint>
#include <span>

#include <openssl/evp.h>

#include "absl/status/status.h"

namespace rp::crypto {

enum class Endian { kBig, kLittle };
enum class HashAlg { kSha256, kSha384, kSha512 };

// ECDSA over `message` (hashed here with `hash`) with the signature given as
// raw integers r and s of any width (e.g. SEV-SNP: 72-byte little-endian;
// SPDM / JOSE: big-endian halves of r||s). The key must be an EC key.
// Returns FAILED_PRECONDITION for a wrong key type, INVALID_ARGUMENT for a
// malformed signature (zero, >= order), UNAUTHENTICATED for a mismatch.
absl::Status VerifyEcdsaRaw(const EVP_PKEY* key, std::span<const uint8_t> message,
                            std::span<const uint8_t> r, std::span<const uint8_t> s,
                            Endian endian, HashAlg hash);

// ECDSA with the signature as r||s (IEEE P1363 / JOSE), big-endian, each
// half the curve size. Rejects a signature whose length is not 2*curve size.
absl::Status VerifyEcdsaP1363(const EVP_PKEY* key, std::span<const uint8_t> message,
                              std::span<const uint8_t> signature, HashAlg hash);

// RSASSA-PSS with MGF1 using the same hash; salt_len in bytes.
absl::Status VerifyRsaPss(const EVP_PKEY* key, std::span<const uint8_t> message,
                          std::span<const uint8_t> signature, HashAlg hash, int salt_len);

// Curve of an EC key: "P-256", "P-384", "P-521" or "" if not an EC key.
const char* EcCurveName(const EVP_PKEY* key);

}  // namespace rp::crypto

#endif  // RP_VERIFIER_CRYPTO_SIGNATURE_H_
