// OCSP (RFC 6960): request building and response verification at an
// explicit time, with the signer authorized by hand (never the system store).
//
// Stable mapping. A verified response gives OcspResult::reason_code:
//   certStatus good                       -> "OK"
//   certStatus revoked, reason != 6       -> "CERT_REVOKED"  (revocation_reason = CRLReason or -1)
//   certStatus revoked, certificateHold   -> "CERT_ON_HOLD"  (revocation_reason = 6)
//   certStatus unknown                    -> "OCSP_UNKNOWN"
// A response that cannot be trusted is an error Status whose message starts
// with the code ("OCSP_STALE: ...") and which carries the code as a payload
// (read it with GetOcspError). Checks run in this order; the first failure
// wins:
//   OCSP_MALFORMED            not DER, trailing bytes, over kMaxOcspResponseBytes,
//                             no BasicOCSPResponse, too many certificates,
//                             duplicate nonce or duplicate single responses
//   OCSP_RESPONDER_ERROR      responseStatus != successful (tryLater, unauthorized, ...)
//   OCSP_SIGNER_UNAUTHORIZED  the responder is neither the issuer nor a certificate
//                             issued (and signed) by the issuer carrying the
//                             id-kp-OCSPSigning EKU and valid at `at`
//   OCSP_SIGNATURE_INVALID    the responder is authorized but the signature over
//                             tbsResponseData does not verify with its key
//   OCSP_CERTID_MISMATCH      no SingleResponse for this certificate's certID
//   OCSP_NONCE_MISSING        a nonce was expected and the response has none
//                             (unless allow_missing_nonce)
//   OCSP_NONCE_MISMATCH       the response's nonce differs from the expected one
//   OCSP_NOT_YET_VALID        thisUpdate > at + skew
//   OCSP_STALE                at > nextUpdate + skew, or no nextUpdate (unless
//                             allow_missing_next_update)
// Status codes: INVALID_ARGUMENT for content problems, FAILED_PRECONDITION for
// the two time checks (a fresh fetch may pass), UNAVAILABLE for responder
// errors (tryLater is retryable). Callers should map on GetOcspError, not on
// the absl code.
//
// All functions are thread-safe (no shared state); the caller owns inputs.
// Transport (HTTP POST with timeouts and size caps) is not done here: it sits
// behind the collateral fetcher so that network access stays injected.
#ifndef RP_VERIFIER_CRYPTO_OCSP_H_
#define RP_VERIFIER_CRYPTO_OCSP_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "verifier/common/encoding.h"
#include "verifier/crypto/openssl_ptr.h"

namespace rp::crypto {

// Cap on a response we parse (and on what a fetcher should accept).
inline constexpr size_t kMaxOcspResponseBytes = 64 * 1024;
// Cap on certificates carried in a response (each may be tried as signer).
inline constexpr size_t kMaxOcspResponseCerts = 8;
// Length of the random nonce we send (RFC 8954 recommends 32 octets).
inline constexpr size_t kOcspNonceBytes = 32;

struct OcspRequestSpec {
  // Send a nonce (id-pkix-ocsp-nonce). Turn off for responders that reject
  // or ignore nonces (pre-signed responses from CDNs).
  bool with_nonce = true;
};

struct OcspRequest {
  Bytes der;                 // DER OCSPRequest, ready to POST
  Bytes nonce;               // raw nonce octets (empty without nonce)
  Bytes issuer_key_hash;     // SHA-256 of the issuer's subjectPublicKey bits
  std::string serial_hex;    // the certificate's serial, as SerialHex()
};

// Builds an unsigned request for one certificate. The certID uses SHA-1,
// which is what deployed responders expect (RFC 6960 §4.1.1; RFC 5019 §2.1.1
// requires SHA-1 for lightweight responders); it only identifies the
// certificate and gives no security by itself, the response signature does.
absl::StatusOr<OcspRequest> BuildOcspRequest(const X509* cert, const X509* issuer,
                                             const OcspRequestSpec& spec);

// A request built only when a responder is actually asked (an answer from a
// cache or offline directory needs none), remembering what was sent: the
// nonce a fresh answer must echo, and a build error, which callers report as
// a failed request (never as an unreachable responder). `cert` and `issuer`
// must outlive the object. Not thread-safe (one lookup).
class OcspRequestOnDemand {
 public:
  OcspRequestOnDemand(const X509* cert, const X509* issuer, OcspRequestSpec spec)
      : cert_(cert), issuer_(issuer), spec_(spec) {}
  // Builds the request (again if called again) and returns its DER.
  absl::StatusOr<Bytes> Build();
  // The last request built, if any.
  const std::optional<OcspRequest>& sent() const { return sent_; }
  // OK unless Build failed.
  const absl::Status& error() const { return error_; }

 private:
  const X509* cert_;
  const X509* issuer_;
  OcspRequestSpec spec_;
  std::optional<OcspRequest> sent_;
  absl::Status error_;
};

// Cache / offline-collateral key "<issuer-sha256 hex>-<serial hex>", as in
// nvidia/ocsp/<issuer-sha256>-<serial>.der. `issuer_key_hash` is
// OcspRequest::issuer_key_hash (SHA-256, not the SHA-1 of the certID).
std::string OcspCacheKey(std::span<const uint8_t> issuer_key_hash, std::string_view serial_hex);

// The offline / cache path of the OCSP answer for `cert` issued by `issuer`:
// "nvidia/ocsp/<OcspCacheKey(...)>.der", the key BuildOcspRequest's
// issuer_key_hash and serial_hex give, computed from the two certificates
// directly (a digest of the issuer's key and the serial; no request built).
// INVALID_ARGUMENT for a null certificate, INTERNAL if the key cannot be
// read. A pair for which no request can be built still gets its key: a
// stored answer then fails VerifyOcspResponse (its certID is computed there),
// and asking the responder fails when the request is built.
absl::StatusOr<std::string> NvidiaOcspCollateralKey(const X509* cert, const X509* issuer);

enum class OcspStatus { kGood, kRevoked, kUnknown };

inline constexpr int kCrlReasonCertificateHold = 6;

struct OcspResult {
  OcspStatus status = OcspStatus::kUnknown;
  int revocation_reason = -1;  // CRLReason when revoked and given; -1 otherwise
  absl::Time this_update = absl::InfinitePast();
  absl::Time next_update = absl::InfinitePast();      // InfinitePast if absent
  absl::Time revocation_time = absl::InfinitePast();  // when revoked
  absl::Time produced_at = absl::InfinitePast();
  std::string responder;    // "issuer: <subject>" or "delegated: <subject>"
  std::string reason_code;  // "OK", "CERT_REVOKED", "CERT_ON_HOLD", "OCSP_UNKNOWN"
  std::string detail;       // human-readable, not stable
};

struct OcspVerifyOptions {
  // Tolerated clock difference with the responder for thisUpdate/nextUpdate.
  absl::Duration skew = absl::Minutes(5);
  // Accept a response without a nonce although one was sent (pre-signed
  // responses). Without this a replayed old "good" answer could hide a
  // revocation until its nextUpdate.
  bool allow_missing_nonce = false;
  // Accept a response without nextUpdate ("newer information is always
  // available"). Off by default: such a response never goes stale.
  bool allow_missing_next_update = false;
};

// Verifies `response_der` for `cert` issued by `issuer` at time `at` (see the
// mapping above). `expected_nonce` is OcspRequest::nonce when a nonce was
// sent, nullopt (or empty) otherwise; a response nonce is then ignored.
// `issuer` must already be trusted by the caller (chain verification is not
// done here). A delegated responder certificate must be valid at `at`
// exactly (no skew). Null cert/issuer is INVALID_ARGUMENT without an OCSP
// code.
absl::StatusOr<OcspResult> VerifyOcspResponse(
    std::span<const uint8_t> response_der, const X509* cert, const X509* issuer,
    std::optional<std::span<const uint8_t>> expected_nonce, absl::Time at,
    const OcspVerifyOptions& options);

// The earliest nextUpdate over the response's SingleResponses, read without
// verifying anything (cache freshness only; VerifyOcspResponse decides
// trust). nullopt when a SingleResponse has no nextUpdate. INVALID_ARGUMENT
// when the bytes are not a successful DER OCSPResponse of at most
// kMaxOcspResponseBytes.
absl::StatusOr<std::optional<absl::Time>> OcspResponseNextUpdateUnverified(
    std::span<const uint8_t> response_der);

enum class OcspError {
  kMalformed,
  kResponderError,
  kSignatureInvalid,
  kSignerUnauthorized,
  kCertIdMismatch,
  kNonceMismatch,
  kNonceMissing,
  kNotYetValid,
  kStale,
};

// "OCSP_MALFORMED", "OCSP_RESPONDER_ERROR", ... (stable).
std::string_view OcspErrorName(OcspError error);

// The code of a Status returned by VerifyOcspResponse: from its payload, or,
// if a layer above rebuilt the Status without payloads (Annotate), from the
// "OCSP_...: " token in its message. nullopt for OK and non-OCSP errors.
std::optional<OcspError> GetOcspError(const absl::Status& status);

}  // namespace rp::crypto

#endif  // RP_VERIFIER_CRYPTO_OCSP_H_
