// Hashes, HMAC and randomness.
#ifndef RP_VERIFIER_CRYPTO_DIGEST_H_
#define RP_VERIFIER_CRYPTO_DIGEST_H_

#include <cstdint>
#include <span>

#include <openssl/types.h>

#include "absl/status/statusor.h"
#include "verifier/common/encoding.h"

namespace rp::crypto {

// The SHA-2 implementations, fetched from the default library context once.
// Handing EVP_sha256() and friends to EVP_Digest* makes OpenSSL 3 look the
// implementation up in its provider store (a lock and a hash lookup) on every
// call. Falls back to EVP_sha256() etc. if the fetch failed.
const EVP_MD* Sha256Md();
const EVP_MD* Sha384Md();
const EVP_MD* Sha512Md();

Bytes Sha256(std::span<const uint8_t> data);
Bytes Sha384(std::span<const uint8_t> data);
Bytes Sha512(std::span<const uint8_t> data);
Bytes HmacSha256(std::span<const uint8_t> key, std::span<const uint8_t> data);
// Constant-time equality (false on length mismatch).
bool ConstantTimeEquals(std::span<const uint8_t> a, std::span<const uint8_t> b);
// Cryptographically secure random bytes (RAND_bytes); aborts on RNG failure.
Bytes RandomBytes(size_t n);

}  // namespace rp::crypto

#endif  // RP_VERIFIER_CRYPTO_DIGEST_H_
