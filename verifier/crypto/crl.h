// CRL checks done by hand (AMD publishes only ARK-issued CRLs, so OpenSSL's
// store-based CRL checking cannot be used on a full SNP chain).
#ifndef RP_VERIFIER_CRYPTO_CRL_H_
#define RP_VERIFIER_CRYPTO_CRL_H_

#include <cstdint>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "verifier/crypto/openssl_ptr.h"

namespace rp::crypto {

inline constexpr size_t kMaxCrlBytes = 1024 * 1024;

// DER or PEM; rejects anything over kMaxCrlBytes.
absl::StatusOr<OpensslPtr<X509_CRL>> ParseCrl(std::span<const uint8_t> data);

enum class CrlOutcome {
  kNotRevoked,
  kRevoked,
  kBadSignature,   // CRL not signed by `issuer`
  kWrongIssuer,    // CRL issuer name != issuer's subject
  kNotYetValid,    // thisUpdate > at
  kExpired,        // nextUpdate <= at (or missing nextUpdate)
};

struct CrlCheck {
  CrlOutcome outcome = CrlOutcome::kExpired;
  std::string detail;
  absl::Time this_update;
  absl::Time next_update;
  absl::Time revocation_time;   // when kRevoked
  int revocation_reason = -1;   // CRLReason when present
};

// Verifies the CRL's signature with `issuer`'s key, its issuer name, its
// validity window at `at`, then looks up `subject`'s serial. The checks run
// in that order and the first failure is returned.
CrlCheck CheckCrl(const X509_CRL* crl, const X509* issuer, const X509* subject, absl::Time at);

}  // namespace rp::crypto

#endif  // RP_VERIFIER_CRYPTO_CRL_H_
