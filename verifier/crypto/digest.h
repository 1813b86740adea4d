// Hashes, HMAC and randomness.
#ifndef RP_VERIFIER_CRYPTO_DIGEST_H_
#define RP_VERIFIER_CRYPTO_DIGEST_H_

#include <cstdint>
#include <span>

#include "absl/status/statusor.h"
#include "verifier/common/encoding.h"

namespace rp::crypto {

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
