// Check names and stable reason codes of the TDX verifier
// (docs/claims/tdx.md). The names are stable API.
#ifndef RP_VERIFIER_TDX_CHECKS_H_
#define RP_VERIFIER_TDX_CHECKS_H_

namespace rp::tdx {

// Check names, in the order TdxVerifier records them.
inline constexpr char kCheckQuoteFormat[] = "tdx.quote_format";
inline constexpr char kCheckPckChain[] = "tdx.pck_chain";
inline constexpr char kCheckPckRevocation[] = "tdx.pck_revocation";
inline constexpr char kCheckPckExtensions[] = "tdx.pck_extensions";
inline constexpr char kCheckQeReportSignature[] = "tdx.qe_report_signature";
inline constexpr char kCheckQeReportData[] = "tdx.qe_report_data";
inline constexpr char kCheckQuoteSignature[] = "tdx.quote_signature";
inline constexpr char kCheckQeIdentityCollateral[] = "tdx.qe_identity_collateral";
inline constexpr char kCheckQeIdentity[] = "tdx.qe_identity";
inline constexpr char kCheckTcbInfoCollateral[] = "tdx.tcb_info_collateral";
// The TCB signing certificate(s) of the TCB info / QE identity used,
// against the root CA CRL: pass only when that CRL was available, current
// and lists none of them; not-checked (COLLATERAL_MISSING) without it.
inline constexpr char kCheckTcbSigningRevocation[] = "tdx.tcb_signing_revocation";
inline constexpr char kCheckTcbInfoMatch[] = "tdx.tcb_info_match";
inline constexpr char kCheckTdxModule[] = "tdx.tdx_module";
inline constexpr char kCheckTcbLevel[] = "tdx.tcb_level";
inline constexpr char kCheckTcbStatus[] = "tdx.tcb_status";
inline constexpr char kCheckCollateralFreshness[] = "tdx.collateral_freshness";

namespace reason {
inline constexpr char kOk[] = "OK";
inline constexpr char kPrerequisiteFailed[] = "PREREQUISITE_FAILED";
// Quote parsing: QuoteErrorReason() (QUOTE_MALFORMED, QUOTE_TOO_LARGE,
// UNSUPPORTED_QUOTE_VERSION, UNSUPPORTED_ATTESTATION_KEY_TYPE,
// UNSUPPORTED_TEE_TYPE, UNKNOWN_QE_VENDOR, UNSUPPORTED_BODY_TYPE,
// UNSUPPORTED_CERTIFICATION_DATA_TYPE, QUOTE_TRAILING_BYTES).
// PCK chain.
inline constexpr char kPckChainMalformed[] = "PCK_CHAIN_MALFORMED";
inline constexpr char kPckChainUntrustedRoot[] = "PCK_CHAIN_UNTRUSTED_ROOT";
inline constexpr char kPckChainInvalid[] = "PCK_CHAIN_INVALID";
inline constexpr char kPckCertExpired[] = "PCK_CERT_EXPIRED";
inline constexpr char kPckCertNotYetValid[] = "PCK_CERT_NOT_YET_VALID";
// Revocation (PCK chain and TCB signing chain).
inline constexpr char kPckRevoked[] = "PCK_REVOKED";
inline constexpr char kPckCaRevoked[] = "PCK_CA_REVOKED";
inline constexpr char kCrlNotCurrent[] = "CRL_NOT_CURRENT";
inline constexpr char kCrlSignatureInvalid[] = "CRL_SIGNATURE_INVALID";
inline constexpr char kCrlIssuerMismatch[] = "CRL_ISSUER_MISMATCH";
inline constexpr char kCrlMalformed[] = "CRL_MALFORMED";
inline constexpr char kCollateralMissing[] = "COLLATERAL_MISSING";
inline constexpr char kStaleCollateral[] = "STALE_COLLATERAL";
inline constexpr char kCollateralStaleBeyondGrace[] = "COLLATERAL_STALE_BEYOND_GRACE";
// PCK extensions.
inline constexpr char kPckExtensionsInvalid[] = "PCK_EXTENSIONS_INVALID";
// Signatures.
inline constexpr char kQeReportSignatureInvalid[] = "QE_REPORT_SIGNATURE_INVALID";
inline constexpr char kQeReportDataMismatch[] = "QE_REPORT_DATA_MISMATCH";
inline constexpr char kAttestationKeyInvalid[] = "ATTESTATION_KEY_INVALID";
inline constexpr char kQuoteSignatureInvalid[] = "QUOTE_SIGNATURE_INVALID";
// TCB signing chain (TCB info and QE identity).
inline constexpr char kTcbSigningChainInvalid[] = "TCB_SIGNING_CHAIN_INVALID";
inline constexpr char kTcbSigningCertRevoked[] = "TCB_SIGNING_CERT_REVOKED";
// QE identity.
inline constexpr char kQeIdentityMissing[] = "QE_IDENTITY_MISSING";
inline constexpr char kQeIdentityMalformed[] = "QE_IDENTITY_MALFORMED";
inline constexpr char kQeIdentityUnsupported[] = "QE_IDENTITY_UNSUPPORTED";
inline constexpr char kQeIdentitySignatureInvalid[] = "QE_IDENTITY_SIGNATURE_INVALID";
inline constexpr char kQeIdentityExpired[] = "QE_IDENTITY_EXPIRED";
inline constexpr char kQeIdentityNotYetValid[] = "QE_IDENTITY_NOT_YET_VALID";
inline constexpr char kQeIdentityMismatch[] = "QE_IDENTITY_MISMATCH";
inline constexpr char kQeTcbLevelNotFound[] = "QE_TCB_LEVEL_NOT_FOUND";
inline constexpr char kQeTcbRevoked[] = "QE_TCB_REVOKED";
// TCB info.
inline constexpr char kTcbInfoMalformed[] = "TCB_INFO_MALFORMED";
inline constexpr char kTcbInfoUnsupported[] = "TCB_INFO_UNSUPPORTED";
inline constexpr char kTcbInfoSignatureInvalid[] = "TCB_INFO_SIGNATURE_INVALID";
inline constexpr char kTcbInfoExpired[] = "TCB_INFO_EXPIRED";
inline constexpr char kTcbInfoNotYetValid[] = "TCB_INFO_NOT_YET_VALID";
inline constexpr char kFmspcMismatch[] = "FMSPC_MISMATCH";
inline constexpr char kPceIdMismatch[] = "PCE_ID_MISMATCH";
inline constexpr char kTdxModuleIdentityNotFound[] = "TDX_MODULE_IDENTITY_NOT_FOUND";
inline constexpr char kTdxModuleIdentityMismatch[] = "TDX_MODULE_IDENTITY_MISMATCH";
inline constexpr char kTdxModuleTcbLevelNotFound[] = "TDX_MODULE_TCB_LEVEL_NOT_FOUND";
inline constexpr char kTcbLevelNotFound[] = "TCB_LEVEL_NOT_FOUND";
inline constexpr char kTcbRevoked[] = "TCB_REVOKED";
// tdx.tcb_status: the platform level matched but the QE's TCB status is
// unknown (QE identity missing, unverifiable or not matching): fail.
inline constexpr char kTcbStatusIncomplete[] = "TCB_STATUS_INCOMPLETE";
}  // namespace reason

}  // namespace rp::tdx

#endif  // RP_VERIFIER_TDX_CHECKS_H_
