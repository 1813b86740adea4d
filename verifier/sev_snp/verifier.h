// SEV-SNP evidence verifier (spec §5 steps 1-8, 10). Appraisal (step 9:
// debug, VMPL, measurement allowlists, minimum TCB) belongs to policy/.
#ifndef RP_VERIFIER_SEV_SNP_VERIFIER_H_
#define RP_VERIFIER_SEV_SNP_VERIFIER_H_

#include <map>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "attestation/v1/attestation.pb.h"
#include "verifier/core/result.h"
#include "verifier/core/verifier.h"
#include "verifier/crypto/openssl_ptr.h"
#include "verifier/sev_snp/report.h"
#include "verifier/sev_snp/roots.h"

namespace rp::sev_snp {

// Collateral keys (offline-directory layout, ARCHITECTURE §4) the verifier
// asks its CollateralSource for; exposed so prefetching uses the same names.
// VCEK: amd/vcek/<P>/<hwid hex>-<REPORTED_TCB raw 16 hex>.der, hwid = CHIP_ID
// (Turin: its first 8 bytes). Chain / CRL: amd/<P>/[vlek_]cert_chain.pem and
// amd/<P>/[vlek_]crl.der.
std::string VcekCollateralKey(Product product, const SnpReport& report);
std::string CertChainCollateralKey(Product product, bool vlek);
std::string CrlCollateralKey(Product product, bool vlek);

// Verifies bundle.sev_snp(): one DeviceResult (tee "sev-snp") whose checks
// are, in order: sev_snp.report_format, .product, .endorsement_key,
// .signing_key_type, .cert_chain, .revocation, .tcb_match, .chip_id,
// .cert_product, .report_signature. After a parse failure only
// report_format is recorded; after any other failure the remaining checks
// still run where their inputs exist (others are NOT_CHECKED with
// PREREQUISITE_FAILED), so the caller sees every problem at once.
// DeviceResult.report_data is set only when both the chain and the report
// signature verified; DeviceResult.simulated when the chain ends at a
// simulation root.
//
// Collateral keys read from ctx.collateral (ARCHITECTURE §4):
//   amd/vcek/<P>/<hwid>-<tcb>.der   VCEK when the bundle has none (hwid:
//   CHIP_ID
//                                   in lower-case hex, Turin its first 8 bytes;
//                                   tcb: REPORTED_TCB raw, 16 hex characters)
//   amd/<P>/cert_chain.pem          ASK then ARK (vlek_cert_chain.pem for
//   VLEKs) amd/<P>/crl.der                 ARK-issued CRL (vlek_crl.der for
//   VLEKs)
// An intermediate that is neither in the bundle nor in collateral comes from
// the compiled-in set. An ARK in the bundle or collateral is never trusted:
// it is dropped, with a note if it differs from the pinned one.
//
// Immutable after Create; Verify is safe to call from many threads.
class SnpVerifier : public core::EvidenceVerifier {
 public:
  // Parses and validates `config`: every AMD ARK must match its compiled
  // SPKI pin (unless built by TrustConfig::ForTest). INVALID_ARGUMENT on a
  // malformed or unpinned anchor.
  static absl::StatusOr<std::unique_ptr<SnpVerifier>> Create(
      TrustConfig config);

  // Empty vector when the bundle has no sev_snp evidence. Errors only when
  // the collateral source fails while fetching a VCEK (its status,
  // annotated), never for rejected evidence.
  absl::StatusOr<std::vector<core::DeviceResult>> Verify(
      const attestation::v1::EvidenceBundle& bundle,
      const core::VerifyContext& ctx) const override;

  // The same for one piece of evidence. A VCEK in the bundle is a hint:
  // when the report does not verify with it, the server-held VCEK for the
  // report's chip and TCB (collateral) is tried, so that leaving the VCEK
  // out never does better than sending a wrong one.
  absl::StatusOr<core::DeviceResult> VerifyEvidence(
      const attestation::v1::SevSnpEvidence& ev,
      const core::VerifyContext& ctx) const;

  // Parsed anchors for one product line (public for the implementation's
  // helpers; not part of the API).
  struct Anchors {
    crypto::OpensslPtr<X509> ark;  // null when only simulation roots exist
    Bytes ark_der;
    crypto::OpensslPtr<X509> ask;   // compiled-in/config fallback, may be null
    crypto::OpensslPtr<X509> asvk;  // may be null
    std::vector<crypto::OpensslPtr<X509>> simulation_roots;
  };

 private:
  absl::StatusOr<core::DeviceResult> VerifyEvidenceOnce(
      const attestation::v1::SevSnpEvidence& ev,
      const core::VerifyContext& ctx) const;

  explicit SnpVerifier(std::map<Product, Anchors> anchors)
      : anchors_(std::move(anchors)) {}

  const std::map<Product, Anchors> anchors_;
};

}  // namespace rp::sev_snp

#endif  // RP_VERIFIER_SEV_SNP_VERIFIER_H_
