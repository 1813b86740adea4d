// Authenticating a RIM: XML-DSig with xmlsec1 plus our own X.509 path
// validation to the pinned NVIDIA CoRIM signing root (specs/nvidia-gpu.md
// §3.1, §5 step 12).
//
// Trust is never decided by xmlsec1: it gets no keys manager and no
// certificate store. We parse the X509Data certificates ourselves, validate
// leaf (first certificate) → intermediates → a trusted root with
// crypto::VerifyChain at the caller's time, and hand xmlsec1 exactly the
// leaf's public key (KeyInfo is not used to find a key). The signature
// structure is checked before xmlsec1 runs: exactly one enveloped
// ds:Signature, C14N 1.1, ecdsa-sha384 over a P-384 key, exactly one
// Reference with URI="" and the transforms enveloped-signature + C14N 1.1,
// SHA-384 digest. xmlsec1 is additionally restricted to those transforms and
// to the empty Reference URI.
//
// Thread safety: VerifyRim may be called from many threads. libxml2 and
// xmlsec1 are initialised once (std::call_once); every call uses its own
// document and xmlSecDSigCtx; xmlsec1 error messages go to a thread-local
// buffer.
#ifndef RP_VERIFIER_NVIDIA_RIM_RIM_SIGNATURE_H_
#define RP_VERIFIER_NVIDIA_RIM_RIM_SIGNATURE_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "verifier/crypto/openssl_ptr.h"
#include "verifier/nvidia/rim/rim.h"

namespace rp::nvidia::rim {

// Algorithm identifiers accepted (and the only ones).
inline constexpr char kC14n11Alg[] = "http://www.w3.org/2006/12/xml-c14n11";
inline constexpr char kEcdsaSha384Alg[] = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384";
inline constexpr char kSha384DigestAlg[] = "http://www.w3.org/2001/04/xmldsig-more#sha384";
inline constexpr char kEnvelopedAlg[] = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

inline constexpr size_t kMaxRimCertificates = 8;

// Which RIM signers are trusted and how revocation is handled. Build once
// from configuration; plain value.
struct RimTrustConfig {
  // The compiled-in NVIDIA CoRIM signing Root CA. Production: true and no
  // extra roots.
  bool trust_nvidia_root = true;
  // Additional trusted roots (PEM), for tests and `attestctl simulate` only.
  std::vector<std::string> extra_root_pems;
  // Exact path length including the root (NVIDIA: L4 → L3 → CA → root = 4);
  // 0 = any length up to 10.
  size_t expected_chain_length = 4;

  // OCSP for the RIM chain (spec §2.4); see rim_ocsp.h.
  std::string ocsp_url_override;   // "" = the AIA OCSP URL of each certificate
  bool ocsp_nonce = true;          // send a nonce and require it in fresh answers
  bool allow_hold = false;         // certificateHold → not-checked (warning), not fail
  bool allow_unknown = false;      // unknown → not-checked (warning), not fail
  bool soft_fail_unreachable = false;  // no response obtainable → not-checked, not fail
};

// Result of one step: reason "OK" or a stable code from reasons.h.
struct StepOutcome {
  std::string reason = "NOT_RUN";
  std::string detail;
  bool ok() const { return reason == "OK"; }
};

// Everything VerifyRim learned. `rim` is read from the same parsed tree that
// the signature covers (URI="" + enveloped: the whole document except the
// Signature element).
struct RimVerification {
  Rim rim;
  StepOutcome signature;  // OK, RIM_SIGNATURE_INVALID, RIM_DIGEST_MISMATCH, RIM_ALGORITHM_UNSUPPORTED
  StepOutcome chain;      // OK, RIM_CHAIN_INVALID, RIM_SIGNER_EXPIRED
  // X509Data certificates in document order (leaf first).
  std::vector<crypto::OpensslPtr<X509>> embedded_certs;
  // The validated path leaf..root (own references); empty unless chain.ok().
  std::vector<crypto::OpensslPtr<X509>> path;
  std::string signer;         // leaf subject CN
  std::string signer_serial;  // leaf serial (hex)
  absl::Time signer_not_after = absl::InfinitePast();
  // Earliest notAfter over the embedded certificates (expiry of the chain).
  absl::Time chain_not_after = absl::InfinitePast();
  // True when the path ends at the compiled-in NVIDIA root (false: an extra
  // test/simulation root).
  bool nvidia_root = false;
  // chain.reason == RIM_SIGNER_EXPIRED, and the same chain verifies (to a
  // trusted root, all signatures good) one second before the earliest
  // notAfter of the embedded certificates: authentic but expired.
  bool expired_but_otherwise_valid = false;
  // SHA-256 of the document bytes.
  Bytes xml_sha256;

  bool ok() const { return signature.ok() && chain.ok(); }
};

// Parses `xml` (ParseRimUnverified rules) and verifies signature and chain at
// `at`. Returns an error only when the document is not a well-formed RIM
// ("RIM_MALFORMED: ...") or `trust` holds an unparsable extra root
// (INVALID_ARGUMENT); every signature or chain problem is reported in
// the outcome fields. The signature is checked with the leaf key even when
// the chain fails, so both outcomes are always meaningful; a RIM is
// authentic only if ok(). RimVerification::xml_sha256 is SHA-256(xml), for
// the caller's collateral record (hashed once: the verified-object memo keys
// on it too).
absl::StatusOr<RimVerification> VerifyRim(std::string_view xml, const RimTrustConfig& trust,
                                          absl::Time at);

// The trusted roots `trust` names, parsed (pinned NVIDIA root first).
absl::StatusOr<std::vector<crypto::OpensslPtr<X509>>> TrustedRimRoots(
    const RimTrustConfig& trust);

}  // namespace rp::nvidia::rim

#endif  // RP_VERIFIER_NVIDIA_RIM_RIM_SIGNATURE_H_
