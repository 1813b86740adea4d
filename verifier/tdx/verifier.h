// Intel TDX evidence verifier (specs/tdx.md steps 1-9). Appraisal (debug,
// measurement allowlists, acceptable TCB statuses) belongs to policy/.
#ifndef RP_VERIFIER_TDX_VERIFIER_H_
#define RP_VERIFIER_TDX_VERIFIER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "attestation/v1/attestation.pb.h"
#include "verifier/core/result.h"
#include "verifier/core/verifier.h"
#include "verifier/crypto/openssl_ptr.h"
#include "verifier/tdx/roots.h"

namespace rp::tdx {

// Collateral keys (offline-directory layout, docs/claims/tdx.md) read from
// VerifyContext::collateral (the server's copy; always looked up, also when
// the bundle carries the item: see collateral_choice.h). `fmspc` is
// lower-case hex; `ca` is "platform" or "processor".
std::string QvlCollateralKey(std::string_view fmspc);       // intel/collateral/<fmspc>.json
std::string TcbInfoKey(std::string_view fmspc);             // intel/tcb_info/<fmspc>.json
std::string TcbInfoIssuerChainKey(std::string_view fmspc);  // intel/tcb_info/<fmspc>.issuer_chain.pem
std::string QeIdentityKey();                                // intel/qe_identity.json
std::string QeIdentityIssuerChainKey();                     // intel/qe_identity.issuer_chain.pem
std::string PckCrlKey(std::string_view ca);                 // intel/pck_crl_<ca>.der
std::string RootCaCrlKey();                                 // intel/root_ca.crl

// Verifies bundle.tdx(): one DeviceResult (tee "tdx") with the checks, in
// order: tdx.quote_format, .pck_chain, .pck_revocation, .pck_extensions,
// .qe_report_signature, .qe_report_data, .quote_signature,
// .qe_identity_collateral, .qe_identity, .tcb_info_collateral,
// .tcb_signing_revocation, .tcb_info_match, .tdx_module, .tcb_level,
// .tcb_status (and .collateral_freshness when stale collateral was used).
// After a parse failure only quote_format is recorded; otherwise every
// check is recorded (NOT_CHECKED / PREREQUISITE_FAILED when its inputs are
// missing). Revocation checks pass only when the CRL was there; a missing
// CRL leaves them NOT_CHECKED (COLLATERAL_MISSING). A missing or
// unverifiable QE identity FAILS, and so does tcb_status then
// (TCB_STATUS_INCOMPLETE).
// Each collateral item is the server's copy unless the bundle's verified
// and is not older (collateral_choice.h); details and the token's
// collateral list say which copy was used and why.
// DeviceResult.report_data is set, and evidence_authentic is true, only
// when the PCK chain, the QE report signature, the QE report data binding
// and the quote signature all passed and PCK revocation did not fail.
//
// Immutable after Create; Verify is safe to call from many threads.
class TdxVerifier : public core::EvidenceVerifier {
 public:
  // INVALID_ARGUMENT for a malformed root or one that does not match the
  // compiled Intel pin (unless ForTest).
  static absl::StatusOr<std::unique_ptr<TdxVerifier>> Create(TdxTrustConfig config);

  // Empty when the bundle has no tdx evidence. Errors only for a missing
  // collateral source or when the source fails (its status, annotated).
  absl::StatusOr<std::vector<core::DeviceResult>> Verify(
      const attestation::v1::EvidenceBundle& bundle,
      const core::VerifyContext& ctx) const override;

  absl::StatusOr<core::DeviceResult> VerifyEvidence(const attestation::v1::TdxEvidence& ev,
                                                    const core::VerifyContext& ctx) const;

 private:
  TdxVerifier(std::vector<crypto::OpensslPtr<X509>> intel_roots,
              std::vector<crypto::OpensslPtr<X509>> simulation_roots)
      : intel_roots_(std::move(intel_roots)), simulation_roots_(std::move(simulation_roots)) {}

  const std::vector<crypto::OpensslPtr<X509>> intel_roots_;
  const std::vector<crypto::OpensslPtr<X509>> simulation_roots_;
};

}  // namespace rp::tdx

#endif  // RP_VERIFIER_TDX_VERIFIER_H_
