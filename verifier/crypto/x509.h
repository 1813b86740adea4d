// X.509 parsing and chain verification at an explicit time.
#ifndef RP_VERIFIER_CRYPTO_X509_H_
#define RP_VERIFIER_CRYPTO_X509_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "verifier/common/encoding.h"
#include "verifier/crypto/openssl_ptr.h"

namespace rp::crypto {

inline constexpr size_t kMaxCertificateBytes = 64 * 1024;
inline constexpr size_t kMaxPemBundleBytes = 256 * 1024;

// The certificates these parsers return may be shared with other callers and
// requests (the verified-object memo, verified_memo.h, which also keeps their
// DER digest with them): treat them as read-only, never modify one.
absl::StatusOr<OpensslPtr<X509>> ParseDerCertificate(std::span<const uint8_t> der);
// Every CERTIFICATE block of a PEM text, in order. Fails if there are none,
// more than max_certs, any block is malformed, or the text is too large.
absl::StatusOr<std::vector<OpensslPtr<X509>>> ParsePemCertificates(std::string_view pem,
                                                                   size_t max_certs);
// One certificate given as PEM, DER, or base64 of DER.
absl::StatusOr<OpensslPtr<X509>> ParseCertificateAnyEncoding(std::span<const uint8_t> data);

Bytes CertificateDer(const X509* cert);
// SHA-256 of CertificateDer(cert), without encoding it again when the
// certificate came from the parse memo (which keeps the digest with the
// shared object). Empty for a null or unencodable certificate.
Bytes CertificateDerSha256(const X509* cert);
std::string CertificatePem(const X509* cert);
// SHA-256 of the DER SubjectPublicKeyInfo (for pinning roots).
Bytes SpkiSha256(const X509* cert);
// Value of the first commonName attribute of subject / issuer ("" if none).
std::string SubjectCommonName(const X509* cert);
std::string IssuerCommonName(const X509* cert);
// Serial as lower-case hex without leading zeros ("0" for zero).
std::string SerialHex(const X509* cert);
// Validity bounds. An unreadable time gives InfiniteFuture (notBefore) or
// InfinitePast (notAfter), so such a certificate is never valid.
absl::Time NotBefore(const X509* cert);
absl::Time NotAfter(const X509* cert);
// ASN1_TIME (UTCTime or GeneralizedTime) as an absl::Time in UTC.
absl::StatusOr<absl::Time> Asn1TimeToTime(const ASN1_TIME* t);
// Raw contents of the extnValue OCTET STRING of the extension with this
// dotted OID, nullopt if absent. Error if the extension occurs twice.
absl::StatusOr<std::optional<Bytes>> ExtensionValue(const X509* cert, std::string_view oid);
// Public key owned by the certificate (borrowed; lifetime of `cert`).
const EVP_PKEY* PublicKey(const X509* cert);

// Why a chain failed; the caller maps this onto its stable reason codes.
enum class ChainError {
  kNone,
  kUntrustedRoot,    // does not chain to any of the trusted roots
  kBadSignature,     // a signature in the chain does not verify
  kExpired,          // some certificate is past notAfter at `at`
  kNotYetValid,      // some certificate is before notBefore at `at`
  kWrongShape,       // the built path's length is not the expected one
  kOther,            // anything else OpenSSL reports (message in detail)
};

struct ChainResult {
  ChainError error = ChainError::kNone;
  std::string detail;            // OpenSSL's message and the depth that failed
  // The verified path leaf first, root last (empty on failure). Borrowed
  // from the inputs (owned by the caller's OpensslPtrs).
  std::vector<const X509*> path;
  bool ok() const { return error == ChainError::kNone; }
};

struct ChainOptions {
  absl::Time at;                  // verification time (X509_VERIFY_PARAM_set_time)
  size_t expected_length = 0;     // exact path length incl. root; 0 = any (max 10)
  bool partial_chain = false;     // trust a non-self-signed anchor in `roots`
};

// Verifies leaf → intermediates → one of `roots` (only `roots` are trusted;
// a root also present in `intermediates` gains nothing). No CRL flags, no
// X509_STRICT (AMD VCEKs lack an AKI). Never returns a passing result for an
// error; errors in the inputs (null leaf) are INVALID_ARGUMENT.
absl::StatusOr<ChainResult> VerifyChain(const X509* leaf,
                                        std::span<const X509* const> intermediates,
                                        std::span<const X509* const> roots,
                                        const ChainOptions& options);

// Of `anchors`, those named as the issuer of one of `intermediates` whose
// key verifies that intermediate's signature (X509_verify; the answer, either
// way, is memoised by the two certificates: it depends on nothing else). When
// none qualifies, all of `anchors`, so that VerifyChain reports the failure.
// Handing VerifyChain only these anchors never lets a chain pass that would
// fail with all of them: a dropped anchor signed none of the intermediates.
// Its use: two pinned roots with one subject name (the real and the
// simulated ARK-Milan) make VerifyChain's memo step aside (the path would not
// be forced); with the signer alone, it applies again.
std::vector<const X509*> AnchorsThatSigned(std::span<const X509* const> intermediates,
                                           std::span<const X509* const> anchors);

}  // namespace rp::crypto

#endif  // RP_VERIFIER_CRYPTO_X509_H_
