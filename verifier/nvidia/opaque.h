// NVIDIA opaque data of a GPU/NVSwitch MEASUREMENTS response (spec
// nvidia-gpu.md §1.4): a sequence of TLVs `type` u16 LE, `length` u16 LE,
// `value[length]` that must consume OpaqueLength exactly.
//
// Decoding rules (stricter than both NVIDIA SDKs, spec §6):
//  - a type may occur once (OPAQUE_FIELD_DUPLICATE);
//  - types 0 and 255 (INVALID) are rejected; other unknown types are kept
//    as raw bytes (`OpaqueData::other`) and reported as hex, never dropped;
//  - NVDEC0_STATUS and PROTECTED_PCIE_STATUS must be 0xAA or 0x55;
//  - OPAQUE_DATA_VERSION > 1 is not understood (OPAQUE_VERSION_UNSUPPORTED).
// Parsing does no crypto: the values are as claimed by the device until the
// report signature is verified.
#ifndef RP_VERIFIER_NVIDIA_OPAQUE_H_
#define RP_VERIFIER_NVIDIA_OPAQUE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "verifier/common/encoding.h"

namespace rp::nvidia {

// Field types (NVIDIA's OPAQUE_FIELD_ID_*; spec §1.4 table).
namespace opaque_type {
inline constexpr uint16_t kCertIssuerName = 1;
inline constexpr uint16_t kCertAuthorityKeyIdentifier = 2;
inline constexpr uint16_t kDriverVersion = 3;
inline constexpr uint16_t kGpuInfo = 4;
inline constexpr uint16_t kSku = 5;
inline constexpr uint16_t kVbiosVersion = 6;
inline constexpr uint16_t kManufacturerId = 7;
inline constexpr uint16_t kTamperDetection = 8;
inline constexpr uint16_t kSmc = 9;
inline constexpr uint16_t kVpr = 10;
inline constexpr uint16_t kNvdec0Status = 11;
inline constexpr uint16_t kMsrsCnt = 12;
inline constexpr uint16_t kCprInfo = 13;
inline constexpr uint16_t kBoardId = 14;
inline constexpr uint16_t kChipSku = 15;
inline constexpr uint16_t kChipSkuMod = 16;
inline constexpr uint16_t kProject = 17;
inline constexpr uint16_t kProjectSku = 18;
inline constexpr uint16_t kProjectSkuMod = 19;
inline constexpr uint16_t kFwid = 20;
inline constexpr uint16_t kProtectedPcieStatus = 21;
inline constexpr uint16_t kSwitchPdi = 22;
inline constexpr uint16_t kFloorsweptPorts = 23;
inline constexpr uint16_t kPositionId = 24;
inline constexpr uint16_t kLockSwitchStatus = 25;
inline constexpr uint16_t kGpuLinkConn = 32;
inline constexpr uint16_t kSysEnableStatus = 33;
inline constexpr uint16_t kOpaqueDataVersion = 34;
inline constexpr uint16_t kChipInfo = 35;
inline constexpr uint16_t kFeatureFlag = 36;
inline constexpr uint16_t kInvalid = 255;
}  // namespace opaque_type

// Status bytes of NVDEC0_STATUS / PROTECTED_PCIE_STATUS.
inline constexpr uint8_t kStatusEnabled = 0xAA;
inline constexpr uint8_t kStatusDisabled = 0x55;

inline constexpr size_t kFwidSize = 48;        // SHA-384
inline constexpr size_t kVbiosVersionSize = 8;
inline constexpr size_t kPdiSize = 8;
inline constexpr uint64_t kMaxOpaqueDataVersion = 1;

// FEATURE_FLAG values (nvtrust / Trustee numbering, which the data supports;
// the C++ SDK's enum swaps SPT and MPT, spec §6).
inline constexpr uint64_t kFeatureSpt = 0;
inline constexpr uint64_t kFeatureMpt = 1;
inline constexpr uint64_t kFeaturePpcie = 2;

struct OpaqueField {
  uint16_t type = 0;
  Bytes value;
  bool operator==(const OpaqueField&) const = default;
};

// Decoded opaque data. Immutable value; absent fields are nullopt.
struct OpaqueData {
  std::vector<OpaqueField> fields;  // every TLV in wire order (raw)

  std::optional<std::string> driver_version;   // "550.90.07" (NUL stripped)
  std::optional<std::string> vbios_version;    // "96.00.9F.00.01"
  std::optional<Bytes> gpu_info;
  std::optional<uint32_t> board_id;
  std::optional<std::string> chip_sku;          // "882"
  std::optional<std::string> chip_sku_mod;
  std::optional<std::string> project;           // "1010", "G520"
  std::optional<std::string> project_sku;       // "0200"
  std::optional<std::string> project_sku_mod;
  std::optional<std::string> chip_info;         // "GB202" (Blackwell)
  std::optional<uint8_t> nvdec0_status;         // 0xAA / 0x55
  std::optional<std::vector<uint32_t>> msrscnt;  // per-index update counters
  std::optional<Bytes> cpr_info;
  std::optional<Bytes> fwid;                    // 48 bytes
  std::optional<uint8_t> protected_pcie_status;  // 0xAA / 0x55
  // SWITCH_PDI entries as on the wire (8 bytes each, duplicates kept).
  std::optional<std::vector<Bytes>> switch_pdis;
  std::optional<Bytes> sys_enable_status;
  std::optional<uint64_t> opaque_data_version;
  std::optional<uint64_t> feature_flag;
  // Fields not decoded above (known types without a decoder and unknown
  // types), by type.
  std::map<uint16_t, Bytes> other;

  bool operator==(const OpaqueData&) const = default;
};

// Parses the OpaqueData bytes of a MEASUREMENTS response. Errors are
// INVALID_ARGUMENT whose message starts with a stable code
// (OPAQUE_MALFORMED, OPAQUE_FIELD_DUPLICATE, OPAQUE_VERSION_UNSUPPORTED).
absl::StatusOr<OpaqueData> ParseOpaqueData(std::span<const uint8_t> data);

// VBIOS_VERSION (8 bytes) as NVIDIA formats it: hex of bytes
// [3].[2].[1].[0].[4], upper case ("009f009601000000" -> "96.00.9F.00.01").
std::string FormatVbiosVersion(std::span<const uint8_t> raw);

// "DRIVER_VERSION", ..., or "TYPE_<n>" for unknown types.
std::string OpaqueFieldName(uint16_t type);

// SWITCH_PDI entries as NVIDIA's SDK compares them: each PDI byte-reversed,
// upper-case hex, duplicates removed, sorted.
std::vector<std::string> NormalizedSwitchPdis(const std::vector<Bytes>& pdis);

}  // namespace rp::nvidia

#endif  // RP_VERIFIER_NVIDIA_OPAQUE_H_
