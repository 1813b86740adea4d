// libFuzzer target: JWE decryption (release/jwe.h Decrypt: compact and
// flattened JSON serializations, protected header JSON, epk JWK, base64url,
// ECDH-ES+A256KW / RSA-OAEP-256 key unwrap, A256GCM). Each input is tried
// against two fixed recipient keys (EC P-256 and RSA-2048,
// jwe_fuzzer_keys.h); the seeds are real JWEs to them of the plaintext
// "secret-key-material" (made with release/jwe_tool).
// Invariants: no crash / sanitizer report / unbounded allocation; errors
// are INVALID_ARGUMENT or FAILED_PRECONDITION; a success (1) decrypts to
// exactly the seeds' plaintext (the fuzzer cannot encrypt, so any other
// plaintext would be a forgery), (2) names alg ECDH-ES+A256KW or
// RSA-OAEP-256 matching the key type, and (3) has kid = the key's RFC 7638
// thumbprint.
#include <cstdint>
#include <string>

#include "openssl/err.h"
#include "absl/status/status.h"
#include "release/jwe.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/fuzz/jwe_fuzzer_keys.h"

namespace {
constexpr char kT[] = "jwe_fuzzer";
using rp::fuzz::Fail;
constexpr std::string_view kPlaintext = "secret-key-material";

void Try(std::string_view jwe, const char* pem, const std::string& thumbprint, const char* alg) {
  absl::StatusOr<rp::release::DecryptedJwe> d = rp::release::Decrypt(jwe, pem);
  if (!d.ok()) {
    const absl::StatusCode c = d.status().code();
    if (c != absl::StatusCode::kInvalidArgument && c != absl::StatusCode::kFailedPrecondition) {
      Fail(kT, "error code is neither INVALID_ARGUMENT nor FAILED_PRECONDITION");
    }
    return;
  }
  const std::string_view pt(reinterpret_cast<const char*>(d->plaintext.data()), d->plaintext.size());
  if (pt != kPlaintext) Fail(kT, "decrypted to a plaintext nobody encrypted (forgery)");
  if (d->alg != alg) Fail(kT, "key management algorithm does not match the key");
  if (d->kid != thumbprint) Fail(kT, "kid is not the key's thumbprint");
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string ec_kid = *rp::release::ThumbprintOfKeyPem(rp::fuzz::kFuzzEcP256KeyPem);
  static const std::string rsa_kid = *rp::release::ThumbprintOfKeyPem(rp::fuzz::kFuzzRsa2048KeyPem);
  const std::string_view jwe = rp::fuzz::AsText(data, size);
  Try(jwe, rp::fuzz::kFuzzEcP256KeyPem, ec_kid, rp::release::kAlgEcdhEsA256kw);
  Try(jwe, rp::fuzz::kFuzzRsa2048KeyPem, rsa_kid, rp::release::kAlgRsaOaep256);
  ERR_clear_error();  // queued OpenSSL errors would make libFuzzer scan for leaks per input
  return 0;
}
