// The SEV-SNP vendor rules, one named function each (STYLE §12), in the
// order of spec §5. They take parsed values and return an outcome; the
// SnpVerifier only gathers inputs and records the outcomes as checks.
//
// Also here: small named predicates for the appraisal policy layer (debug,
// migration agent, VMPL, minimum TCB). Those are NOT checks of this
// verifier; policy/ decides with them (or with the equivalent claims).
#ifndef RP_VERIFIER_SEV_SNP_RULES_H_
#define RP_VERIFIER_SEV_SNP_RULES_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "verifier/core/result.h"
#include "verifier/crypto/crl.h"
#include "verifier/crypto/openssl_ptr.h"
#include "verifier/crypto/x509.h"
#include "verifier/sev_snp/report.h"
#include "verifier/sev_snp/vcek.h"

namespace rp::sev_snp {

// Check names, in the order the verifier records them (spec §5).
inline constexpr char kCheckReportFormat[] = "sev_snp.report_format";
inline constexpr char kCheckProduct[] = "sev_snp.product";
inline constexpr char kCheckEndorsementKey[] = "sev_snp.endorsement_key";
inline constexpr char kCheckSigningKeyType[] = "sev_snp.signing_key_type";
inline constexpr char kCheckCertChain[] = "sev_snp.cert_chain";
inline constexpr char kCheckRevocation[] = "sev_snp.revocation";
inline constexpr char kCheckTcbMatch[] = "sev_snp.tcb_match";
inline constexpr char kCheckChipId[] = "sev_snp.chip_id";
inline constexpr char kCheckCertProduct[] = "sev_snp.cert_product";
inline constexpr char kCheckReportSignature[] = "sev_snp.report_signature";

// Stable reason codes (docs/claims/sev-snp.md). Parse failures use
// ReportErrorReason() (REPORT_TRUNCATED, ...).
namespace reason {
inline constexpr char kOk[] = "OK";
inline constexpr char kProductUnknown[] = "PRODUCT_UNKNOWN";
inline constexpr char kEndorsementCertMissing[] = "ENDORSEMENT_CERT_MISSING";
inline constexpr char kEndorsementCertAmbiguous[] =
    "ENDORSEMENT_CERT_AMBIGUOUS";
inline constexpr char kCertMalformed[] = "CERT_MALFORMED";
inline constexpr char kSigningKeyMismatch[] = "SIGNING_KEY_MISMATCH";
inline constexpr char kCertKeyInvalid[] = "CERT_KEY_INVALID";
inline constexpr char kChainUntrustedRoot[] = "CHAIN_UNTRUSTED_ROOT";
inline constexpr char kChainSignatureInvalid[] = "CHAIN_SIGNATURE_INVALID";
inline constexpr char kCertExpired[] = "CERT_EXPIRED";
inline constexpr char kCertNotYetValid[] = "CERT_NOT_YET_VALID";
inline constexpr char kChainShapeInvalid[] = "CHAIN_SHAPE_INVALID";
inline constexpr char kChainInvalid[] = "CHAIN_INVALID";
inline constexpr char kCertRevoked[] = "CERT_REVOKED";
inline constexpr char kCrlSignatureInvalid[] = "CRL_SIGNATURE_INVALID";
inline constexpr char kCrlIssuerMismatch[] = "CRL_ISSUER_MISMATCH";
inline constexpr char kCrlNotCurrent[] = "CRL_NOT_CURRENT";
inline constexpr char kCrlUnavailable[] = "CRL_UNAVAILABLE";
inline constexpr char kCrlMalformed[] = "CRL_MALFORMED";
inline constexpr char kTcbMismatch[] = "TCB_MISMATCH";
inline constexpr char kChipIdMismatch[] = "CHIP_ID_MISMATCH";
inline constexpr char kChipIdMasked[] = "CHIP_ID_MASKED";
inline constexpr char kCertExtensionsInvalid[] = "CERT_EXTENSIONS_INVALID";
inline constexpr char kCertProductMismatch[] = "CERT_PRODUCT_MISMATCH";
inline constexpr char kSignatureInvalid[] = "SIGNATURE_INVALID";
// A check that could not run because an earlier one failed (detail says
// which); the earlier failure already rejects the evidence.
inline constexpr char kPrerequisiteFailed[] = "PREREQUISITE_FAILED";
}  // namespace reason

// The result of one rule: becomes one core::Check.
struct RuleOutcome {
  core::CheckStatus status = core::CheckStatus::kNotChecked;
  std::string reason;
  std::string detail;

  bool passed() const { return status == core::CheckStatus::kPass; }
  static RuleOutcome Pass(std::string detail = "");
  static RuleOutcome Fail(std::string reason, std::string detail);
  static RuleOutcome NotChecked(std::string reason, std::string detail);
};

// sev_snp.product (spec §5 step 3). v3+: from CPUID; v2: from the
// endorsement certificate's productName prefix (`cert_ext` may be null when
// there is no certificate). Sets *out to the product on success.
RuleOutcome DetermineProduct(const SnpReport& report,
                             const KdsExtensions* cert_ext, Product* out);

// Where the endorsement certificate came from.
enum class LeafSource { kBundleVcek, kBundleVlek, kCollateral };

// What the signing-key rule needs to know about the leaf.
struct LeafFacts {
  LeafSource source = LeafSource::kBundleVcek;
  std::string subject_cn;
  std::string issuer_cn;
  std::string curve;  // crypto::EcCurveName: "P-384", or "" when not EC
};
LeafFacts DescribeLeaf(const X509* leaf, LeafSource source);

// sev_snp.signing_key_type (spec §1.3, §5 step 5). Defeats the key
// confusion attack (ARK→ASVK→VLEK offered where ARK→ASK→VCEK is due):
// SIGNING_KEY=0 needs a VCEK (CN "SEV-VCEK", issuer "SEV-<P>", given as
// vcek or fetched); SIGNING_KEY=1 needs a VLEK (CN "SEV-VLEK", issuer
// "SEV-VLEK-<P>", given as vlek). The key must be EC P-384 (CERT_KEY_INVALID).
RuleOutcome CheckSigningKeyType(const SnpReport& report, Product product,
                                const LeafFacts& leaf);

// sev_snp.cert_chain: maps a chain result onto reason codes.
RuleOutcome ChainOutcome(const crypto::ChainResult& result);
// AMD signs ASK/ASVK/VCEK/VLEK and the ARK with RSASSA-PSS (spec §3.1);
// anything else under an AMD root is not AMD's doing. Returns "" when every
// certificate in `path` is RSASSA-PSS signed, else a description.
std::string NonPssSignatureInPath(std::span<const X509* const> path);

// sev_snp.revocation (spec §3.5). AMD CRLs are issued by the ARK and list
// revoked ASK/ASVKs, so `subject` is the intermediate and `issuer` the root.
// `crl` null means no CRL was available (NOT_CHECKED CRL_UNAVAILABLE).
RuleOutcome CheckRevocation(const X509_CRL* crl, const X509* issuer,
                            const X509* subject, absl::Time at);

// sev_snp.tcb_match (spec §3.2): the certificate's SPLs equal the
// REPORTED_TCB components (Turin: including fmc). Compared component-wise.
RuleOutcome CheckTcbMatch(const SnpReport& report, Product product,
                          const KdsExtensions& ext);

// sev_snp.chip_id (spec §1.3, §3.2). VCEK: no cspID, hwID present with the
// product's size and equal to CHIP_ID (Turin: 8 bytes, rest of CHIP_ID
// zero); an all-zero CHIP_ID is NOT_CHECKED (CHIP_ID_MASKED). VLEK: no hwID,
// cspID present.
RuleOutcome CheckChipId(const SnpReport& report, Product product,
                        const KdsExtensions& ext);

// sev_snp.cert_product (spec §5 step 7): structVersion (0 Milan/Genoa,
// 1 Turin) and the productName prefix match the product line; the stepping
// suffix is ignored (KDS writes it wrong).
RuleOutcome CheckCertProduct(Product product, const KdsExtensions& ext);

// sev_snp.report_signature (spec §1): ECDSA P-384 / SHA-384 over bytes
// 0x000..0x29F of `report_bytes`, r and s little-endian at 0x2A0 / 0x2E8.
RuleOutcome CheckReportSignature(std::span<const uint8_t> report_bytes,
                                 const EVP_PKEY* key);

// --- Predicates for the appraisal policy layer (spec §7) -------------------
// DEBUG=1 lets the hypervisor read and write guest memory.
bool PolicyDebug(const SnpReport& report);
// MIGRATE_MA=1 lets a migration agent export guest state.
bool PolicyMigrateMa(const SnpReport& report);
bool PolicySmt(const SnpReport& report);
bool PolicySingleSocket(const SnpReport& report);
// The VMPL that requested the report (0 is the most privileged).
bool VmplAtMost(const SnpReport& report, uint32_t max_vmpl);
// REPORTED_TCB >= minimum, component-wise (false for kUnknown).
bool ReportedTcbAtLeast(const SnpReport& report, Product product,
                        const TcbVersion& minimum);
// LAUNCH_TCB >= minimum, component-wise.
bool LaunchTcbAtLeast(const SnpReport& report, Product product,
                      const TcbVersion& minimum);
// COMMITTED_TCB == CURRENT_TCB and committed == current firmware version
// (no provisional firmware).
bool CommittedMatchesCurrent(const SnpReport& report);
// Every bit of `required` set in the report's mitigation vector (v5).
bool CurrentMitVectorHas(const SnpReport& report, uint64_t required);

}  // namespace rp::sev_snp

#endif  // RP_VERIFIER_SEV_SNP_RULES_H_
