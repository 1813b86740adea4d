// Parsing of the AMD SEV-SNP ATTESTATION_REPORT (versions 2..5) into an
// immutable typed value. Parsing does no cryptography: the result is
// UNVERIFIED until SnpVerifier has checked the chain and the signature.
#ifndef RP_VERIFIER_SEV_SNP_REPORT_H_
#define RP_VERIFIER_SEV_SNP_REPORT_H_

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "verifier/sev_snp/layout.h"

namespace rp::sev_snp {

// AMD product line. It fixes the TCB layout, the pinned ARK/ASK/ASVK and the
// KDS path (spec §3.1). Siena and Bergamo (Zen4c) are kGenoa.
enum class Product { kUnknown, kMilan, kGenoa, kTurin };

// "Milan" | "Genoa" | "Turin" | "Unknown" (the KDS path component).
std::string_view ProductName(Product product);
// From a report's CPUID_FAM_ID / CPUID_MOD_ID (v3+), spec §3.1:
// family 19h models 00h-0Fh Milan; 10h-1Fh and A0h-AFh Genoa; family 1Ah
// models 00h-11h Turin; anything else kUnknown.
Product ProductFromCpuid(uint8_t family, uint8_t model);
// From a KDS productName ("Milan-B0", "Genoa", "Turin"): the prefix before
// the first '-' must be a known product line. The stepping suffix is
// ignored on purpose (KDS writes "Milan-B0" on B1 silicon, spec §3.2).
Product ProductFromCertName(std::string_view product_name);

// Why a report failed to parse. Each maps onto one stable reason code.
enum class ReportError {
  kNone,
  kTruncated,                 // REPORT_TRUNCATED
  kTrailingBytes,             // REPORT_TRAILING_BYTES
  kVersionUnsupported,        // REPORT_VERSION_UNSUPPORTED
  kSignatureAlgoUnsupported,  // REPORT_SIGNATURE_ALGO_UNSUPPORTED
  kReservedNonzero,           // REPORT_RESERVED_NONZERO
  kPolicyInvalid,             // REPORT_POLICY_INVALID
  kUnsigned,                  // REPORT_UNSIGNED
  kSigningKeyInvalid,         // REPORT_SIGNING_KEY_INVALID
};

// The stable reason code ("REPORT_TRUNCATED", ...; "OK" for kNone).
std::string_view ReportErrorReason(ReportError error);
// The ReportError carried by a status from ParseReportUnverified (kNone for
// OK or for a status that did not come from the parser).
ReportError ReportErrorOf(const absl::Status& status);

// An 8-byte TCB_VERSION exactly as on the wire. Its meaning depends on the
// product line (spec §2), so decoding takes a Product.
struct TcbVersion {
  std::array<uint8_t, kTcbSize> raw{};
  // The 16 lower-case hex characters of the raw bytes in wire order
  // ("0001000200000047"); used in claims and collateral keys.
  std::string Hex() const;
  bool operator==(const TcbVersion&) const = default;
};

// A TCB split into its security patch levels. fmc is set for Turin only.
struct TcbParts {
  std::optional<uint8_t> fmc;
  uint8_t bootloader = 0;
  uint8_t tee = 0;
  uint8_t snp = 0;
  uint8_t microcode = 0;
  bool operator==(const TcbParts&) const = default;
};

// Decodes with the product's layout; nullopt for kUnknown.
std::optional<TcbParts> DecodeTcb(const TcbVersion& tcb, Product product);
// Inverse of DecodeTcb (reserved bytes zero). For kUnknown the legacy
// layout is used; for legacy products parts.fmc is ignored.
TcbVersion EncodeTcb(const TcbParts& parts, Product product);
// Component-wise a >= b (never as one integer: microcode sits in the top
// byte). False for kUnknown.
bool TcbAtLeast(const TcbVersion& a, const TcbVersion& b, Product product);

// Firmware version MAJOR.MINOR.BUILD ("1.55.61").
struct FirmwareVersion {
  uint8_t major = 0;
  uint8_t minor = 0;
  uint8_t build = 0;
  std::string ToString() const;
  bool operator==(const FirmwareVersion&) const = default;
};

// A decoded, structurally valid but UNVERIFIED attestation report. A value
// type: the parser fills it once and nothing changes it afterwards (the
// verifier holds it const). Field names follow the SNP ABI table.
struct SnpReport {
  uint32_t version = 0;
  uint32_t guest_svn = 0;
  uint64_t policy = 0;
  std::array<uint8_t, kFamilyIdSize> family_id{};
  std::array<uint8_t, kImageIdSize> image_id{};
  uint32_t vmpl = 0;
  uint32_t signature_algo = 0;
  TcbVersion current_tcb;
  uint64_t platform_info = 0;
  uint32_t signer_info = 0;
  std::array<uint8_t, kReportDataSize> report_data{};
  std::array<uint8_t, kMeasurementSize> measurement{};
  std::array<uint8_t, kHostDataSize> host_data{};
  std::array<uint8_t, kIdKeyDigestSize> id_key_digest{};
  std::array<uint8_t, kAuthorKeyDigestSize> author_key_digest{};
  std::array<uint8_t, kReportIdSize> report_id{};
  std::array<uint8_t, kReportIdMaSize> report_id_ma{};
  TcbVersion reported_tcb;
  // v3+ only (zero in v2, where these bytes are reserved).
  uint8_t cpuid_fam_id = 0;
  uint8_t cpuid_mod_id = 0;
  uint8_t cpuid_step = 0;
  std::array<uint8_t, kChipIdSize> chip_id{};
  TcbVersion committed_tcb;
  FirmwareVersion current_version;
  FirmwareVersion committed_version;
  TcbVersion launch_tcb;
  // v5 only (zero before v5, where these bytes are reserved).
  uint64_t launch_mit_vector = 0;
  uint64_t current_mit_vector = 0;
  // ECDSA P-384 signature components, little-endian, as on the wire.
  std::array<uint8_t, kSignatureComponentSize> signature_r{};
  std::array<uint8_t, kSignatureComponentSize> signature_s{};

  bool has_cpuid() const { return version >= kFirstVersionWithCpuid; }
  bool has_mit_vectors() const {
    return version >= kFirstVersionWithMitVectors;
  }
  // Signer info fields (spec §1, §1.3).
  bool author_key_en() const { return (signer_info & kSignerAuthorKeyEn) != 0; }
  bool mask_chip_key() const { return (signer_info & kSignerMaskChipKey) != 0; }
  uint32_t signing_key() const {
    return (signer_info & kSignerSigningKeyMask) >> kSignerSigningKeyShift;
  }
  // Product line from CPUID (v3+); kUnknown for v2 (it must then come from
  // the endorsement certificate).
  Product ProductFromReport() const {
    return has_cpuid() ? ProductFromCpuid(cpuid_fam_id, cpuid_mod_id)
                       : Product::kUnknown;
  }
  bool ChipIdIsZero() const;

  bool operator==(const SnpReport&) const = default;
};

// Parses exactly kReportSize bytes (spec §5 steps 1-2). Checks, in order:
// size (REPORT_TRUNCATED / REPORT_TRAILING_BYTES), VERSION in 2..5,
// SIGNATURE_ALGO = 1, SIGNING_KEY in {0 VCEK, 1 VLEK} (7 = unsigned is
// REPORT_UNSIGNED), signer-info bits 31:5 zero, POLICY bit 17 set and bits
// 63:26 clear, and every must-be-zero range zero. Errors are
// INVALID_ARGUMENT carrying a ReportError (see ReportErrorOf) and a message
// with the field, offset and value.
absl::StatusOr<SnpReport> ParseReportUnverified(std::span<const uint8_t> data);

}  // namespace rp::sev_snp

#endif  // RP_VERIFIER_SEV_SNP_REPORT_H_
