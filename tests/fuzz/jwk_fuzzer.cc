// libFuzzer target: the TEE public key (JWK) a key release wraps to
// (release/jwe.h KeyManagementFor + EncryptToJwk). The key is the
// attester's: it reaches the release path as cnf.jwk, derived from the
// evidence. The input is a JSON object whose string members fill the Jwk
// as release_service.cc CnfKey does (other members are skipped here).
// Invariants: no crash / sanitizer report; errors are INVALID_ARGUMENT or
// FAILED_PRECONDITION; when KeyManagementFor accepts the key it returns
// ECDH-ES+A256KW for kty EC and RSA-OAEP-256 for kty RSA, and EncryptToJwk
// to that key succeeds and yields a five-part compact JWE (accept => usable,
// never a half-checked key that fails later).
#include <algorithm>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "attestation/v1/attestation.pb.h"
#include "nlohmann/json.hpp"
#include "release/jwe.h"
#include "tests/fuzz/fuzz_util.h"

namespace {
constexpr char kT[] = "jwk_fuzzer";
using rp::fuzz::Fail;

void CheckCode(const absl::Status& s) {
  if (s.code() != absl::StatusCode::kInvalidArgument &&
      s.code() != absl::StatusCode::kFailedPrecondition) {
    Fail(kT, "error code is neither INVALID_ARGUMENT nor FAILED_PRECONDITION");
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const rp::fuzz::ClearOpensslErrors clear_errors;
  if (size > 16 * 1024) return 0;  // a JWK is small; RSA checks cost O(n^2)
  const nlohmann::json j =
      nlohmann::json::parse(rp::fuzz::AsText(data, size), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return 0;
  attestation::v1::Jwk jwk;
  for (const auto& [k, v] : j.items()) {
    if (!v.is_string()) continue;
    const std::string s = v.get<std::string>();
    if (k == "kty") jwk.set_kty(s);
    else if (k == "crv") jwk.set_crv(s);
    else if (k == "x") jwk.set_x(s);
    else if (k == "y") jwk.set_y(s);
    else if (k == "n") jwk.set_n(s);
    else if (k == "e") jwk.set_e(s);
    else if (k == "alg") jwk.set_alg(s);
    else if (k == "kid") jwk.set_kid(s);
    else if (k == "use") jwk.set_use(s);
  }
  absl::StatusOr<std::string> alg = rp::release::KeyManagementFor(jwk);
  if (!alg.ok()) {
    CheckCode(alg.status());
    return 0;
  }
  if (jwk.kty() == "EC" ? *alg != rp::release::kAlgEcdhEsA256kw
                        : (jwk.kty() != "RSA" || *alg != rp::release::kAlgRsaOaep256)) {
    Fail(kT, "accepted key with an algorithm that does not match its kty");
  }
  const uint8_t pt[] = {'k', 'e', 'y'};
  rp::release::JweOptions o;
  o.kid = jwk.kid();  // a kid given in the JWK must be the thumbprint (else refused)
  absl::StatusOr<std::string> jwe = rp::release::EncryptToJwk(jwk, pt, o);
  if (!jwe.ok()) {
    if (!jwk.kid().empty()) {
      CheckCode(jwe.status());
      return 0;
    }
    Fail(kT, "KeyManagementFor accepted a key EncryptToJwk cannot use");
  }
  if (std::count(jwe->begin(), jwe->end(), '.') != 4) Fail(kT, "not a five-part compact JWE");
  return 0;
}
