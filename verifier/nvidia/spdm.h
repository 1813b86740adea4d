// NVIDIA GPU / NVSwitch attestation report: an SPDM 1.1 GET_MEASUREMENTS
// request immediately followed by the signed MEASUREMENTS response (DMTF
// DSP0274 1.1.x §10.11; layout and observed values: spec nvidia-gpu.md §1.2).
//
//   request  (37 B): SPDMVersion 0x11 | 0xE0 | Param1 (bit0: signature
//                    requested) | Param2 (0xFF: all) | Nonce[32] | SlotID
//   response:        SPDMVersion 0x11 | 0x60 | Param1 | Param2 (slot) |
//                    NumberOfBlocks | MeasurementRecordLength u24 LE |
//                    MeasurementRecord | Nonce[32] | OpaqueLength u16 LE |
//                    OpaqueData | Signature[96]
//   measurement block: Index | MeasurementSpecification (0x01 = DMTF) |
//                    MeasurementSize u16 LE | DMTF: ValueType | ValueSize
//                    u16 LE | Value
//
// The signature (ECDSA P-384 / SHA-384, raw r||s big-endian) covers every
// byte before it, request included, so the requester nonce is signed.
//
// ParseGpuReportUnverified does no crypto. Every read is bounded; trailing
// bytes, duplicate or zero block indices, non-DMTF blocks and inconsistent
// lengths are errors.
#ifndef RP_VERIFIER_NVIDIA_SPDM_H_
#define RP_VERIFIER_NVIDIA_SPDM_H_

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "verifier/common/encoding.h"
#include "verifier/nvidia/opaque.h"

namespace rp::nvidia {

// Wire constants (spec §1.2; DSP0274 1.1 Table 4 / §10.11).
inline constexpr uint8_t kSpdmVersion11 = 0x11;
inline constexpr uint8_t kSpdmGetMeasurements = 0xE0;
inline constexpr uint8_t kSpdmMeasurements = 0x60;
inline constexpr uint8_t kParam1SignatureRequested = 0x01;
inline constexpr uint8_t kMeasurementSpecDmtf = 0x01;
inline constexpr size_t kSpdmRequestSize = 37;
inline constexpr size_t kSpdmNonceSize = 32;
inline constexpr size_t kRequesterNonceOffset = 4;
inline constexpr size_t kSignatureSize = 96;  // P-384 r||s
// Real reports are 3.9-4.3 KB; this leaves room for 255 blocks and large
// opaque data while capping the work (STYLE §11).
inline constexpr size_t kMaxReportSize = 32 * 1024;

struct MeasurementBlock {
  uint8_t index = 0;       // 1-based SPDM index (RIM index = index - 1)
  uint8_t value_type = 0;  // DMTFSpecMeasurementValueType (bit 7: raw)
  Bytes value;             // 48-byte SHA-384 on real reports
  bool operator==(const MeasurementBlock&) const = default;
};

// An immutable parsed report. Values are as the device claims them until
// the signature is verified with the leaf key of a verified chain.
struct GpuReport {
  Bytes raw;  // the whole report as received
  // Request.
  uint8_t request_param1 = 0;
  uint8_t request_param2 = 0;
  uint8_t request_slot_id = 0;
  std::array<uint8_t, kSpdmNonceSize> requester_nonce{};
  // Response.
  uint8_t response_param1 = 0;
  uint8_t response_param2 = 0;
  std::vector<MeasurementBlock> blocks;  // wire order
  std::array<uint8_t, kSpdmNonceSize> responder_nonce{};
  Bytes opaque_raw;
  OpaqueData opaque;
  std::array<uint8_t, kSignatureSize> signature{};

  // Bytes covered by the signature: raw[0, raw.size() - 96).
  std::span<const uint8_t> SignedBytes() const {
    return std::span<const uint8_t>(raw).first(raw.size() - kSignatureSize);
  }
  // The block with this 1-based index, or null.
  const MeasurementBlock* Block(uint8_t index) const;
  bool operator==(const GpuReport&) const = default;
};

// Parses request + response. Errors are INVALID_ARGUMENT with a message
// "<CODE>: <what, offset, expected vs actual>", CODE one of
// REPORT_MALFORMED, REPORT_TOO_LARGE, REPORT_TRAILING_BYTES,
// SPDM_VERSION_UNSUPPORTED, MEASUREMENT_BLOCK_INVALID,
// MEASUREMENT_INDEX_DUPLICATE, OPAQUE_MALFORMED, OPAQUE_FIELD_DUPLICATE,
// OPAQUE_VERSION_UNSUPPORTED.
absl::StatusOr<GpuReport> ParseGpuReportUnverified(std::span<const uint8_t> data);

// The stable code at the start of a parse error ("REPORT_MALFORMED" when
// the message carries none).
std::string ReportErrorReason(const absl::Status& status);

}  // namespace rp::nvidia

#endif  // RP_VERIFIER_NVIDIA_SPDM_H_
