// Intel TDX quote wire layout (all integers little-endian). Source: Intel
// "TDX DCAP Quoting Library API", Appendix A (quote v4: A.3, quote v5: A.4;
// TD report body 1.0 / 1.5; QE certification data type 6; PCK chain type 5)
// and /work/shared/specs/tdx.md. Golden-tested against real quotes in
// layout_test.cc (quote_test.cc).
#ifndef RP_VERIFIER_TDX_LAYOUT_H_
#define RP_VERIFIER_TDX_LAYOUT_H_

#include <array>
#include <cstddef>
#include <cstdint>

namespace rp::tdx {

// --- Header (48 bytes) -------------------------------------------------------
inline constexpr size_t kHeaderSize = 48;
inline constexpr size_t kHeaderVersionOffset = 0;         // u16
inline constexpr size_t kHeaderAttKeyTypeOffset = 2;      // u16
inline constexpr size_t kHeaderTeeTypeOffset = 4;         // u32
inline constexpr size_t kHeaderReservedOffset = 8;        // u16 x2
inline constexpr size_t kHeaderQeVendorIdOffset = 12;     // 16 bytes
inline constexpr size_t kHeaderUserDataOffset = 28;       // 20 bytes
inline constexpr size_t kQeVendorIdSize = 16;
inline constexpr size_t kUserDataSize = 20;

inline constexpr uint16_t kQuoteVersion4 = 4;
inline constexpr uint16_t kQuoteVersion5 = 5;
inline constexpr uint16_t kAttestationKeyTypeEcdsaP256 = 2;
inline constexpr uint32_t kTeeTypeTdx = 0x81;
inline constexpr uint32_t kTeeTypeSgx = 0x00;
// Intel's QE vendor ID 939A7233-F79C-4CA9-940A-0DB3957F0607.
inline constexpr std::array<uint8_t, 16> kIntelQeVendorId = {
    0x93, 0x9A, 0x72, 0x33, 0xF7, 0x9C, 0x4C, 0xA9,
    0x94, 0x0A, 0x0D, 0xB3, 0x95, 0x7F, 0x06, 0x07};

// --- v5 body descriptor (6 bytes) --------------------------------------------
inline constexpr size_t kBodyDescriptorSize = 6;  // type u16, size u32
inline constexpr uint16_t kBodyTypeTd10 = 2;      // TD report 1.0
inline constexpr uint16_t kBodyTypeTd15 = 3;      // TD report 1.5

// --- TD report body (offsets within the body) --------------------------------
inline constexpr size_t kTd10BodySize = 584;
inline constexpr size_t kTd15BodySize = 648;
inline constexpr size_t kTeeTcbSvnOffset = 0;       // 16
inline constexpr size_t kMrSeamOffset = 16;         // 48
inline constexpr size_t kMrSignerSeamOffset = 64;   // 48
inline constexpr size_t kSeamAttributesOffset = 112;  // 8
inline constexpr size_t kTdAttributesOffset = 120;  // 8
inline constexpr size_t kXfamOffset = 128;          // 8
inline constexpr size_t kMrTdOffset = 136;          // 48
inline constexpr size_t kMrConfigIdOffset = 184;    // 48
inline constexpr size_t kMrOwnerOffset = 232;       // 48
inline constexpr size_t kMrOwnerConfigOffset = 280; // 48
inline constexpr size_t kRtmr0Offset = 328;         // 4 x 48
inline constexpr size_t kReportDataOffset = 520;    // 64
inline constexpr size_t kTeeTcbSvn2Offset = 584;    // 16 (TD 1.5 only)
inline constexpr size_t kMrServiceTdOffset = 600;   // 48 (TD 1.5 only)
inline constexpr size_t kMeasurementSize = 48;
inline constexpr size_t kReportDataSize = 64;
inline constexpr size_t kTeeTcbSvnSize = 16;

// TDATTRIBUTES bits (TDX module ABI, TDINFO_STRUCT.ATTRIBUTES).
inline constexpr uint64_t kTdAttrDebug = 1ULL << 0;
inline constexpr uint64_t kTdAttrSeptVeDisable = 1ULL << 28;
inline constexpr uint64_t kTdAttrPks = 1ULL << 30;
inline constexpr uint64_t kTdAttrKl = 1ULL << 31;
inline constexpr uint64_t kTdAttrPerfmon = 1ULL << 63;

// --- Signature data ----------------------------------------------------------
inline constexpr size_t kEcdsaSignatureSize = 64;   // r || s, big-endian
inline constexpr size_t kAttestationKeySize = 64;   // x || y, big-endian
inline constexpr uint16_t kCertDataQeReport = 6;    // QE report certification data
inline constexpr uint16_t kCertDataPckChain = 5;    // PCK cert chain (PEM)

// SGX enclave report (QE report), 384 bytes; offsets within it.
inline constexpr size_t kEnclaveReportSize = 384;
inline constexpr size_t kErCpuSvnOffset = 0;          // 16
inline constexpr size_t kErMiscSelectOffset = 16;     // u32
inline constexpr size_t kErAttributesOffset = 48;     // 16
inline constexpr size_t kErMrEnclaveOffset = 64;      // 32
inline constexpr size_t kErMrSignerOffset = 128;      // 32
inline constexpr size_t kErIsvProdIdOffset = 256;     // u16
inline constexpr size_t kErIsvSvnOffset = 258;        // u16
inline constexpr size_t kErReportDataOffset = 320;    // 64

// Cap on a whole quote (real quotes are ~5 KB; the PCK chain is ~3.7 KB).
inline constexpr size_t kMaxQuoteBytes = 64 * 1024;
// Cap on the PCK chain (type 5) text inside a quote.
inline constexpr size_t kMaxPckChainBytes = 16 * 1024;

}  // namespace rp::tdx

#endif  // RP_VERIFIER_TDX_LAYOUT_H_
