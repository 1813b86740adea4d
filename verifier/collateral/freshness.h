// How long a collateral item stays fresh, read from the item itself.
#ifndef RP_VERIFIER_COLLATERAL_FRESHNESS_H_
#define RP_VERIFIER_COLLATERAL_FRESHNESS_H_

#include <optional>
#include <span>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace rp::collateral {

enum class CollateralKind {
  kCrl,           // basename contains "crl" and ends .der/.pem/.crl (DER or PEM)
  kDerCertificate,  // other *.der (e.g. VCEK)
  kPemCertificates, // *.pem (cert_chain.pem)
  kOcspResponse,  // .../ocsp/<issuer-sha256>-<serial>.der: nextUpdate
  kIntelSignedJson,  // intel/...json: tcbInfo / enclaveIdentity nextUpdate
  kOther,         // JSON, XML, ...: freshness from HTTP headers or the ceiling
};

CollateralKind KindOfKey(std::string_view key);

// The expiry written in the item: a CRL's nextUpdate, the earliest notAfter
// of the certificates. nullopt for kOther. An error when the key's kind says
// CRL/certificate and the bytes do not parse as one (or a CRL has no
// nextUpdate).
absl::StatusOr<std::optional<absl::Time>> ContentExpiry(std::string_view key,
                                                        std::span<const uint8_t> data);

// fresh_until = the content expiry if known, else the HTTP hint if any,
// else fetched_at + ceiling; always at most fetched_at + ceiling. Unparseable
// content falls back to the HTTP hint / ceiling.
absl::Time ComputeFreshUntil(std::string_view key, std::span<const uint8_t> data,
                             std::optional<absl::Time> http_expires, absl::Time fetched_at,
                             absl::Duration ceiling);

// Freshness hint from Cache-Control (no-store / no-cache → now, max-age=N →
// now + N) or else Expires (an HTTP-date). nullopt when neither is usable.
std::optional<absl::Time> HttpFreshUntil(std::string_view cache_control, std::string_view expires,
                                         absl::Time now);

}  // namespace rp::collateral

#endif  // RP_VERIFIER_COLLATERAL_FRESHNESS_H_
