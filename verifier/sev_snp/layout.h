// Wire layout of the AMD SEV-SNP ATTESTATION_REPORT and of the TCB_VERSION
// word, and the AMD KDS certificate extension OIDs.
//
// Source: AMD SEV-SNP ABI specification #56860, Table "ATTESTATION_REPORT
// Structure" (report versions 2..5) and "TCB_VERSION"; AMD KDS
// specification #57230 ("VCEK certificate extensions"). The table as used
// here, cross-checked against 20 real reports whose AMD signatures verify,
// is in specs/sev-snp.md §1-§3. Every offset below has a golden test
// (layout_test.cc) against real vendor bytes.
//
// All integers in the report are little-endian.
#ifndef RP_VERIFIER_SEV_SNP_LAYOUT_H_
#define RP_VERIFIER_SEV_SNP_LAYOUT_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace rp::sev_snp {

// --- ATTESTATION_REPORT (SNP ABI Table "ATTESTATION_REPORT", spec §1) -------

inline constexpr size_t kReportSize = 0x4A0;  // 1184 bytes, every version

// Offsets and sizes, in report order.
inline constexpr size_t kVersionOffset = 0x000;   // u32 VERSION
inline constexpr size_t kGuestSvnOffset = 0x004;  // u32 GUEST_SVN
inline constexpr size_t kPolicyOffset = 0x008;    // u64 POLICY (§1.1)
inline constexpr size_t kFamilyIdOffset = 0x010;  // 16 B FAMILY_ID
inline constexpr size_t kFamilyIdSize = 16;
inline constexpr size_t kImageIdOffset = 0x020;  // 16 B IMAGE_ID
inline constexpr size_t kImageIdSize = 16;
inline constexpr size_t kVmplOffset = 0x030;           // u32 VMPL
inline constexpr size_t kSignatureAlgoOffset = 0x034;  // u32 SIGNATURE_ALGO
inline constexpr size_t kCurrentTcbOffset = 0x038;     // 8 B TCB_VERSION
inline constexpr size_t kPlatformInfoOffset =
    0x040;  // u64 PLATFORM_INFO (§1.2)
inline constexpr size_t kSignerInfoOffset =
    0x048;  // u32 signer info (§1, KEY_INFO)
inline constexpr size_t kReserved04COffset = 0x04C;  // 4 B MBZ
inline constexpr size_t kReserved04CSize = 4;
inline constexpr size_t kReportDataOffset = 0x050;  // 64 B REPORT_DATA
inline constexpr size_t kReportDataSize = 64;
inline constexpr size_t kMeasurementOffset = 0x090;  // 48 B MEASUREMENT
inline constexpr size_t kMeasurementSize = 48;
inline constexpr size_t kHostDataOffset = 0x0C0;  // 32 B HOST_DATA
inline constexpr size_t kHostDataSize = 32;
inline constexpr size_t kIdKeyDigestOffset = 0x0E0;  // 48 B ID_KEY_DIGEST
inline constexpr size_t kIdKeyDigestSize = 48;
inline constexpr size_t kAuthorKeyDigestOffset =
    0x110;  // 48 B AUTHOR_KEY_DIGEST
inline constexpr size_t kAuthorKeyDigestSize = 48;
inline constexpr size_t kReportIdOffset = 0x140;  // 32 B REPORT_ID
inline constexpr size_t kReportIdSize = 32;
inline constexpr size_t kReportIdMaOffset = 0x160;  // 32 B REPORT_ID_MA
inline constexpr size_t kReportIdMaSize = 32;
inline constexpr size_t kReportedTcbOffset = 0x180;  // 8 B REPORTED_TCB
inline constexpr size_t kCpuidFamIdOffset = 0x188;   // u8 CPUID_FAM_ID (v3+)
inline constexpr size_t kCpuidModIdOffset = 0x189;   // u8 CPUID_MOD_ID (v3+)
inline constexpr size_t kCpuidStepOffset = 0x18A;    // u8 CPUID_STEP (v3+)
inline constexpr size_t kReserved18BOffset = 0x18B;  // 21 B MBZ (v3+)
inline constexpr size_t kReserved18BSize = 21;
inline constexpr size_t kReserved188V2Size = 24;  // v2: 0x188..0x19F MBZ
inline constexpr size_t kChipIdOffset = 0x1A0;    // 64 B CHIP_ID
inline constexpr size_t kChipIdSize = 64;
inline constexpr size_t kTurinChipIdSize = 8;         // Turin: bytes 0..7 only
inline constexpr size_t kCommittedTcbOffset = 0x1E0;  // 8 B COMMITTED_TCB
inline constexpr size_t kCurrentBuildOffset = 0x1E8;  // u8 CURRENT_BUILD
inline constexpr size_t kCurrentMinorOffset = 0x1E9;  // u8 CURRENT_MINOR
inline constexpr size_t kCurrentMajorOffset = 0x1EA;  // u8 CURRENT_MAJOR
inline constexpr size_t kReserved1EBOffset = 0x1EB;   // u8 MBZ
inline constexpr size_t kCommittedBuildOffset = 0x1EC;   // u8 COMMITTED_BUILD
inline constexpr size_t kCommittedMinorOffset = 0x1ED;   // u8 COMMITTED_MINOR
inline constexpr size_t kCommittedMajorOffset = 0x1EE;   // u8 COMMITTED_MAJOR
inline constexpr size_t kReserved1EFOffset = 0x1EF;      // u8 MBZ
inline constexpr size_t kLaunchTcbOffset = 0x1F0;        // 8 B LAUNCH_TCB
inline constexpr size_t kLaunchMitVectorOffset = 0x1F8;  // u64 (v5; MBZ before)
inline constexpr size_t kCurrentMitVectorOffset =
    0x200;                                           // u64 (v5; MBZ before)
inline constexpr size_t kReserved208Offset = 0x208;  // 152 B MBZ
inline constexpr size_t kReserved208Size = 152;
inline constexpr size_t kSignatureOffset = 0x2A0;   // 512 B SIGNATURE
inline constexpr size_t kSignatureROffset = 0x2A0;  // 72 B r, little-endian
inline constexpr size_t kSignatureSOffset = 0x2E8;  // 72 B s, little-endian
inline constexpr size_t kSignatureComponentSize = 72;
inline constexpr size_t kSignatureTailOffset =
    0x330;  // 368 B MBZ (rest of SIGNATURE)
inline constexpr size_t kSignatureTailSize = 368;

inline constexpr size_t kTcbSize = 8;

// The signature covers exactly bytes 0x000..0x29F (spec §1, "Signed bytes").
inline constexpr size_t kSignedOffset = 0x000;
inline constexpr size_t kSignedSize = 0x2A0;

static_assert(kSignatureTailOffset + kSignatureTailSize == kReportSize);
static_assert(kReserved208Offset + kReserved208Size == kSignatureOffset);
static_assert(kSignatureSOffset + kSignatureComponentSize ==
              kSignatureTailOffset);
static_assert(kReserved18BOffset + kReserved18BSize == kChipIdOffset);
static_assert(kCpuidFamIdOffset + kReserved188V2Size == kChipIdOffset);

// Report versions this parser accepts (spec §1: 2, 3, 4, 5 seen in the wild;
// v4 has the v3 layout, v5 adds the mitigation vectors).
inline constexpr uint32_t kMinReportVersion = 2;
inline constexpr uint32_t kMaxReportVersion = 5;
inline constexpr uint32_t kFirstVersionWithCpuid = 3;
inline constexpr uint32_t kFirstVersionWithMitVectors = 5;

// SIGNATURE_ALGO: 1 = ECDSA P-384 with SHA-384, the only value defined.
inline constexpr uint32_t kSignatureAlgoEcdsaP384Sha384 = 1;

// --- POLICY bits (u64 at 0x008), spec §1.1 ---------------------------------
inline constexpr uint64_t kPolicyAbiMinorMask = 0xFFull;  // bits 7:0
inline constexpr uint64_t kPolicyAbiMajorShift = 8;       // bits 15:8
inline constexpr uint64_t kPolicyAbiMajorMask = 0xFF00ull;
inline constexpr uint64_t kPolicySmt = 1ull << 16;
inline constexpr uint64_t kPolicyReservedMustBeOne = 1ull << 17;
inline constexpr uint64_t kPolicyMigrateMa = 1ull << 18;
inline constexpr uint64_t kPolicyDebug = 1ull << 19;
inline constexpr uint64_t kPolicySingleSocket = 1ull << 20;
inline constexpr uint64_t kPolicyCxlAllow = 1ull << 21;
inline constexpr uint64_t kPolicyMemAes256Xts = 1ull << 22;
inline constexpr uint64_t kPolicyRaplDis = 1ull << 23;
inline constexpr uint64_t kPolicyCiphertextHiding = 1ull << 24;
inline constexpr uint64_t kPolicyPageSwapDisable = 1ull << 25;
inline constexpr uint64_t kPolicyReservedMbzMask =
    ~((1ull << 26) - 1);  // bits 63:26

// --- PLATFORM_INFO bits (u64 at 0x040), spec §1.2 --------------------------
inline constexpr uint64_t kPlatformSmtEn = 1ull << 0;
inline constexpr uint64_t kPlatformTsmeEn = 1ull << 1;
inline constexpr uint64_t kPlatformEccEn = 1ull << 2;
inline constexpr uint64_t kPlatformRaplDis = 1ull << 3;
inline constexpr uint64_t kPlatformCiphertextHidingEn = 1ull << 4;
inline constexpr uint64_t kPlatformAliasCheckComplete = 1ull << 5;
inline constexpr uint64_t kPlatformIommuWriteSafe =
    1ull << 6;  // Turin (tinfoil-go #115)
inline constexpr uint64_t kPlatformTioEn = 1ull << 7;
// Bits 63:8 are reserved but NOT rejected: new firmware adds bits here (bit 6
// and 7 arrived that way and broke go-sev-guest); they are reported in raw.

// --- Signer info (u32 at 0x048), spec §1 and §1.3 --------------------------
inline constexpr uint32_t kSignerAuthorKeyEn = 1u << 0;
inline constexpr uint32_t kSignerMaskChipKey = 1u << 1;
inline constexpr uint32_t kSignerSigningKeyShift = 2;  // bits 4:2
inline constexpr uint32_t kSignerSigningKeyMask = 0x7u << 2;
inline constexpr uint32_t kSignerReservedMask = ~0x1Fu;  // bits 31:5 MBZ
inline constexpr uint32_t kSigningKeyVcek = 0;
inline constexpr uint32_t kSigningKeyVlek = 1;
inline constexpr uint32_t kSigningKeyNone = 7;  // unsigned report

// --- TCB_VERSION byte positions (spec §2) ----------------------------------
// Milan / Genoa (incl. Siena, Bergamo): byte 0 BOOT_LOADER, 1 TEE,
// 2..5 reserved, 6 SNP, 7 MICROCODE.
inline constexpr size_t kLegacyTcbBootloaderByte = 0;
inline constexpr size_t kLegacyTcbTeeByte = 1;
inline constexpr size_t kLegacyTcbSnpByte = 6;
inline constexpr size_t kLegacyTcbMicrocodeByte = 7;
// Turin (family 1Ah) and later: byte 0 FMC, 1 BOOT_LOADER, 2 TEE, 3 SNP,
// 4..6 reserved, 7 MICROCODE.
inline constexpr size_t kTurinTcbFmcByte = 0;
inline constexpr size_t kTurinTcbBootloaderByte = 1;
inline constexpr size_t kTurinTcbTeeByte = 2;
inline constexpr size_t kTurinTcbSnpByte = 3;
inline constexpr size_t kTurinTcbMicrocodeByte = 7;

// --- CPUID → product line (spec §3.1) --------------------------------------
inline constexpr uint8_t kCpuFamilyZen3Zen4 =
    0x19;                                        // Milan, Genoa, Siena, Bergamo
inline constexpr uint8_t kCpuFamilyZen5 = 0x1A;  // Turin

// --- AMD KDS certificate extensions (KDS spec #57230; spec §3.2) -----------
inline constexpr std::string_view kOidStructVersion = "1.3.6.1.4.1.3704.1.1";
inline constexpr std::string_view kOidProductName = "1.3.6.1.4.1.3704.1.2";
inline constexpr std::string_view kOidBlSpl = "1.3.6.1.4.1.3704.1.3.1";
inline constexpr std::string_view kOidTeeSpl = "1.3.6.1.4.1.3704.1.3.2";
inline constexpr std::string_view kOidSnpSpl = "1.3.6.1.4.1.3704.1.3.3";
inline constexpr std::string_view kOidSpl4 = "1.3.6.1.4.1.3704.1.3.4";
inline constexpr std::string_view kOidSpl5 = "1.3.6.1.4.1.3704.1.3.5";
inline constexpr std::string_view kOidSpl6 = "1.3.6.1.4.1.3704.1.3.6";
inline constexpr std::string_view kOidSpl7 = "1.3.6.1.4.1.3704.1.3.7";
inline constexpr std::string_view kOidUcodeSpl = "1.3.6.1.4.1.3704.1.3.8";
inline constexpr std::string_view kOidFmcSpl =
    "1.3.6.1.4.1.3704.1.3.9";  // Turin only
inline constexpr std::string_view kOidHwId = "1.3.6.1.4.1.3704.1.4";
inline constexpr std::string_view kOidCspId =
    "1.3.6.1.4.1.3704.1.5";  // VLEK only

// structVersion values (spec §3.2).
inline constexpr int kStructVersionLegacy = 0;  // Milan, Genoa
inline constexpr int kStructVersionTurin = 1;   // Turin

// Expected certificate chain length: VCEK/VLEK → ASK/ASVK → ARK (spec §3.1).
inline constexpr size_t kChainLength = 3;

// --- Golden-test table -------------------------------------------------------
// {field, offset, size} for every named field; layout_test.cc checks each
// against real reports and expected.json.
struct FieldLayout {
  std::string_view name;
  size_t offset;
  size_t size;
};

inline constexpr FieldLayout kReportFields[] = {
    {"version", kVersionOffset, 4},
    {"guest_svn", kGuestSvnOffset, 4},
    {"policy", kPolicyOffset, 8},
    {"family_id", kFamilyIdOffset, kFamilyIdSize},
    {"image_id", kImageIdOffset, kImageIdSize},
    {"vmpl", kVmplOffset, 4},
    {"sig_algo", kSignatureAlgoOffset, 4},
    {"current_tcb", kCurrentTcbOffset, kTcbSize},
    {"platform_info", kPlatformInfoOffset, 8},
    {"signer_info", kSignerInfoOffset, 4},
    {"reserved_04c", kReserved04COffset, kReserved04CSize},
    {"report_data", kReportDataOffset, kReportDataSize},
    {"measurement", kMeasurementOffset, kMeasurementSize},
    {"host_data", kHostDataOffset, kHostDataSize},
    {"id_key_digest", kIdKeyDigestOffset, kIdKeyDigestSize},
    {"author_key_digest", kAuthorKeyDigestOffset, kAuthorKeyDigestSize},
    {"report_id", kReportIdOffset, kReportIdSize},
    {"report_id_ma", kReportIdMaOffset, kReportIdMaSize},
    {"reported_tcb", kReportedTcbOffset, kTcbSize},
    {"cpuid_fam_id", kCpuidFamIdOffset, 1},
    {"cpuid_mod_id", kCpuidModIdOffset, 1},
    {"cpuid_step", kCpuidStepOffset, 1},
    {"reserved_18b", kReserved18BOffset, kReserved18BSize},
    {"chip_id", kChipIdOffset, kChipIdSize},
    {"committed_tcb", kCommittedTcbOffset, kTcbSize},
    {"current_build", kCurrentBuildOffset, 1},
    {"current_minor", kCurrentMinorOffset, 1},
    {"current_major", kCurrentMajorOffset, 1},
    {"reserved_1eb", kReserved1EBOffset, 1},
    {"committed_build", kCommittedBuildOffset, 1},
    {"committed_minor", kCommittedMinorOffset, 1},
    {"committed_major", kCommittedMajorOffset, 1},
    {"reserved_1ef", kReserved1EFOffset, 1},
    {"launch_tcb", kLaunchTcbOffset, kTcbSize},
    {"launch_mit_vector", kLaunchMitVectorOffset, 8},
    {"current_mit_vector", kCurrentMitVectorOffset, 8},
    {"reserved_208", kReserved208Offset, kReserved208Size},
    {"sig_r", kSignatureROffset, kSignatureComponentSize},
    {"sig_s", kSignatureSOffset, kSignatureComponentSize},
    {"sig_tail", kSignatureTailOffset, kSignatureTailSize},
};

}  // namespace rp::sev_snp

#endif  // RP_VERIFIER_SEV_SNP_LAYOUT_H_
