// JWE (RFC 7516) for key release: a secret encrypted to the TEE key that an
// attestation token names in cnf.jwk, and its decryption on the workload side.
//
// Allowed and nothing else:
//   enc  A256GCM (256-bit CEK, 96-bit IV, 128-bit tag, AAD = ASCII(BASE64URL(
//        UTF8(protected header))), RFC 7516 §5.1 step 14);
//   alg  ECDH-ES+A256KW on P-256, P-384 or P-521 (RFC 7518 §4.6: ephemeral key
//        in "epk", Concat KDF with SHA-256, empty apu/apv, then AES-256 key
//        wrap of the CEK, RFC 3394), or RSA-OAEP-256 (RFC 7518 §4.3: OAEP with
//        SHA-256 and MGF1-SHA-256) with a modulus of at least 2048 bits.
// Refused: RSA1_5, RSA-OAEP (SHA-1), dir, ECDH-ES (direct), A*KW, PBES2,
// A*CBC-HS*, A128/A192GCM, "zip", "crit", unprotected headers, JWE JSON "aad"
// and the general (multi-recipient) serialization.
//
// Everything goes in the protected header (nothing unprotected): alg, enc,
// epk (ECDH only), kid (the recipient key's RFC 7638 thumbprint) and the
// caller's string members (e.g. ear_jti, resource) — so the ciphertext is
// bound to the key, the authorising token and the resource.
//
// CEKs, ECDH shared secrets, KEKs and decrypted plaintext live in SecretBytes
// (wiped when freed). OpenSSL 3 only: EVP_PKEY_derive (ECDH), EVP_KDF "SSKDF"
// (= JOSE Concat KDF), EVP_aes_256_wrap, EVP_aes_256_gcm, RSA OAEP.
#ifndef RP_RELEASE_JWE_H_
#define RP_RELEASE_JWE_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "attestation/v1/attestation.pb.h"
#include "release/secret_bytes.h"
#include "verifier/common/encoding.h"

namespace rp::release {

inline constexpr char kAlgEcdhEsA256kw[] = "ECDH-ES+A256KW";
inline constexpr char kAlgRsaOaep256[] = "RSA-OAEP-256";
inline constexpr char kEncA256gcm[] = "A256GCM";

// Bounds (attacker-controlled inputs on the decrypt side; sanity on encrypt).
inline constexpr size_t kMaxJwePlaintextBytes = 1 << 20;           // 1 MiB
inline constexpr size_t kMaxJweBytes = 2 * kMaxJwePlaintextBytes;  // serialized
inline constexpr int kMinRsaModulusBits = 2048;
// The cap bounds the cost of the SP 800-56B public-key check per release.
inline constexpr int kMaxRsaModulusBits = 4096;
inline constexpr size_t kMaxExtraHeaderMembers = 16;
inline constexpr size_t kMaxExtraHeaderValueBytes = 1024;

// The key management algorithm we use for `recipient`:
//   EC P-256 / P-384 / P-521          -> "ECDH-ES+A256KW"
//   RSA, modulus 2048..4096 bits      -> "RSA-OAEP-256"
// The JWK's own "alg", when set, must be that algorithm, and its "use", when
// set, must be "enc". Errors:
//   INVALID_ARGUMENT     malformed JWK (missing/undecodable members, point not
//                        on the curve, even modulus, ...);
//   FAILED_PRECONDITION  a well-formed key we refuse to wrap to: another kty
//                        (OKP, oct) or curve, RSA outside 2048..4096 bits, alg
//                        RSA1_5 / RSA-OAEP / dir / anything else, use other
//                        than enc.
absl::StatusOr<std::string> KeyManagementFor(
    const attestation::v1::Jwk& recipient);

struct JweOptions {
  // RFC 7638 SHA-256 thumbprint of `recipient`, base64url. Empty: computed.
  // Set: must equal the computed thumbprint (INVALID_ARGUMENT otherwise).
  std::string kid;
  // Extra protected-header members with string values (e.g. "ear_jti",
  // "resource"). Names registered by RFC 7515/7516/7518 (alg, enc, epk, kid,
  // zip, crit, typ, cty, jku, jwk, x5u, x5c, x5t, x5t#S256, apu, apv, iv, tag,
  // p2s, p2c) are refused; values must be valid UTF-8, <= 1024 bytes.
  std::map<std::string, std::string> extra_protected;
  // false: compact serialization (five dot-separated parts).
  // true: flattened JSON serialization {"protected","encrypted_key","iv",
  // "ciphertext","tag"} — the Trustee KBS Response shape (no "aad", no
  // unprotected header).
  bool flattened = false;
};

// Encrypts `plaintext` (1 .. kMaxJwePlaintextBytes) to `recipient` (public
// members only are used). Fresh CEK, IV and (ECDH) ephemeral key per call.
absl::StatusOr<std::string> EncryptToJwk(const attestation::v1::Jwk& recipient,
                                         std::span<const uint8_t> plaintext,
                                         const JweOptions& options = {});

struct DecryptOptions {
  // The protected "kid" must be present and equal the RFC 7638 thumbprint of
  // the decrypting key (our JWEs always carry it). false: a missing kid is
  // accepted, but a present one must still match.
  bool require_kid = true;
  // When non-empty, the protected "kid" must equal this too.
  std::string expected_kid;
  // Each must be a protected-header member with exactly this string value.
  std::map<std::string, std::string> expected_members;
};

struct DecryptedJwe {
  SecretBytes plaintext;
  std::string alg;  // key management algorithm that was used
  std::string kid;  // "" when absent (require_kid = false)
  // Every string-valued protected-header member (alg, enc, kid, extras).
  std::map<std::string, std::string> protected_strings;
};

// Decrypts a JWE in compact or flattened JSON serialization (detected by a
// leading '{') with the recipient's private key (PEM: PKCS#8, or traditional
// EC/RSA). Refuses every algorithm but the two above with A256GCM, any
// header member we do not understand the security of (zip, crit, apu, apv,
// jku, jwk, x5u, x5c), an unprotected header, an epk on another curve than
// the key (or off its curve), and a key of the wrong type or size.
// Errors: INVALID_ARGUMENT for malformed or refused input and for failed
// decryption (tag mismatch; key unwrap failure is reported the same way);
// FAILED_PRECONDITION when the JWE is for another key (kid, key type or
// curve mismatch) or the expected header members differ.
absl::StatusOr<DecryptedJwe> Decrypt(std::string_view jwe,
                                     std::string_view private_key_pem,
                                     const DecryptOptions& options = {});

// RFC 7638 thumbprint (base64url) of a private or public key's public part:
// EC P-256/P-384/P-521 or RSA. What `kid` must be for that key.
absl::StatusOr<std::string> ThumbprintOfKeyPem(std::string_view pem);
// Public JWK (kty, crv/x/y or n/e; alg set by KeyManagementFor; kid = the
// thumbprint) of a PEM private or public key. For tools and tests.
absl::StatusOr<attestation::v1::Jwk> PublicJwkOfKeyPem(std::string_view pem);

// Building blocks, exposed for known-answer tests only.
namespace jwe_internal {

// JOSE Concat KDF (RFC 7518 §4.6.2, NIST SP 800-56A §5.8.1) with SHA-256:
// OtherInfo = len(alg_id)||alg_id || len(apu)||apu || len(apv)||apv ||
// keydatalen_bits (32-bit big-endian lengths). Computed with OpenSSL SSKDF.
absl::StatusOr<SecretBytes> ConcatKdfSha256(
    std::span<const uint8_t> shared_secret, std::string_view algorithm_id,
    std::span<const uint8_t> apu, std::span<const uint8_t> apv,
    size_t keydatalen_bits);
// RFC 3394 AES key wrap / unwrap with a 256-bit KEK (default IV A6..A6).
absl::StatusOr<Bytes> AesKeyWrap256(std::span<const uint8_t> kek,
                                    std::span<const uint8_t> key);
absl::StatusOr<SecretBytes> AesKeyUnwrap256(std::span<const uint8_t> kek,
                                            std::span<const uint8_t> wrapped);

}  // namespace jwe_internal

}  // namespace rp::release

#endif  // RP_RELEASE_JWE_H_
