// OCSP for a verified RIM signing chain (specs/nvidia-gpu.md §2.4): one
// request per certificate below the root, top down (CA, L3, L4 signer),
// each answered response verified with crypto::VerifyOcspResponse against
// its (already validated) issuer at the verification time.
//
// Where responses come from: with an OcspFetcher, from it (offline
// directory / cache / POST to the responder); without one, only from
// `offline` under nvidia/ocsp/<crypto::OcspCacheKey(...)>.der, and when
// nothing is there the result is not-checked OCSP_NOT_CONFIGURED — never a
// silent pass. Responder URL: RimTrustConfig::ocsp_url_override, else the
// certificate's AIA OCSP URL (NVIDIA RIM certificates carry
// http://ocsp.ndis.nvidia.com).
//
// Per certificate:             result              knob
//   good                       pass OK
//   revoked (not hold)         fail CERT_REVOKED
//   revoked, certificateHold   fail CERT_ON_HOLD   allow_hold → not-checked
//   unknown                    fail OCSP_UNKNOWN   allow_unknown → not-checked
//   no response / responder    fail OCSP_UNAVAILABLE  soft_fail_unreachable → not-checked
//     error (tryLater, ...)
//   untrustworthy response     fail OCSP_<code> (OCSP_SIGNATURE_INVALID, OCSP_STALE, ...)
// The chain's result is the worst (fail > not-checked > pass); its reason
// is that of the first certificate (top down) with the worst status.
// Thread-safe (no shared state).
#ifndef RP_VERIFIER_NVIDIA_RIM_RIM_OCSP_H_
#define RP_VERIFIER_NVIDIA_RIM_RIM_OCSP_H_

#include <string>
#include <vector>

#include <openssl/x509.h>

#include "absl/time/time.h"
#include "verifier/collateral/ocsp_fetcher.h"
#include "verifier/collateral/source.h"
#include "verifier/core/result.h"
#include "verifier/nvidia/rim/rim_signature.h"

namespace rp::nvidia::rim {

struct CertOcspResult {
  std::string subject;     // CN
  std::string serial_hex;
  std::string key;         // nvidia/ocsp/<...>.der
  core::CheckStatus status = core::CheckStatus::kNotChecked;
  std::string reason;      // OK, CERT_REVOKED, ...
  std::string ocsp_status; // "good" | "revoked" | "unknown" | "unavailable" | "invalid" | "not-checked"
  int revocation_reason = -1;
  std::string detail;
  bool stale = false;      // served past freshness within the grace
  // The response that was judged (empty when none was): for the result's
  // collateral list.
  std::string response_sha256;  // lower-case hex
  std::string source;
  absl::Time next_update = absl::InfinitePast();
};

struct ChainOcspResult {
  core::CheckStatus status = core::CheckStatus::kNotChecked;
  std::string reason;
  std::string detail;
  std::vector<CertOcspResult> certs;  // top down
};

struct RimOcspContext {
  absl::Time at;
  const collateral::OcspFetcher* fetcher = nullptr;  // may be null
  const collateral::CollateralSource* offline = nullptr;  // may be null
  absl::Duration grace = absl::ZeroDuration();
};

// `path` = a validated chain leaf..root (RimVerification::path), at least 2.
ChainOcspResult CheckRimChainOcsp(const std::vector<crypto::OpensslPtr<X509>>& path,
                                  const RimTrustConfig& trust, const RimOcspContext& ctx);

}  // namespace rp::nvidia::rim

#endif  // RP_VERIFIER_NVIDIA_RIM_RIM_OCSP_H_
