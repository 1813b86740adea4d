// NVIDIA GPU and NVSwitch evidence verifier (spec nvidia-gpu.md §5 steps
// 0-9 and 16). Reference measurements (RIMs, steps 10-15) are NOT compared
// here: a GpuRimAppraiser supplied by the integration gets the verified,
// parsed report after this verifier's own checks (see below).
#ifndef RP_VERIFIER_NVIDIA_VERIFIER_H_
#define RP_VERIFIER_NVIDIA_VERIFIER_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "attestation/v1/attestation.pb.h"
#include "verifier/core/result.h"
#include "verifier/core/verifier.h"
#include "verifier/crypto/openssl_ptr.h"
#include "verifier/nvidia/chain.h"
#include "verifier/nvidia/spdm.h"

namespace rp::nvidia {

// Check names, in the order they are recorded (docs/claims/nvidia-gpu.md).
inline constexpr char kCheckDeviceCount[] = "nvidia.device_count";
inline constexpr char kCheckArch[] = "nvidia.arch";
inline constexpr char kCheckReportFormat[] = "nvidia.report_format";
inline constexpr char kCheckCertChain[] = "nvidia.cert_chain";
inline constexpr char kCheckDeviceClass[] = "nvidia.device_class";
inline constexpr char kCheckReportSignature[] = "nvidia.report_signature";
inline constexpr char kCheckFwid[] = "nvidia.fwid";
inline constexpr char kCheckNonce[] = "nvidia.nonce";
inline constexpr char kCheckOpaqueFields[] = "nvidia.opaque_fields";
inline constexpr char kCheckCcMode[] = "nvidia.cc_mode";
inline constexpr char kCheckCertOcsp[] = "nvidia.cert_ocsp";
inline constexpr char kCheckUniqueDevice[] = "nvidia.unique_device";
inline constexpr char kCheckGpuModes[] = "nvidia.gpu_modes";
inline constexpr char kCheckPpcieSwitches[] = "nvidia.ppcie_switches";
inline constexpr char kCheckPpcieTopology[] = "nvidia.ppcie_topology";
inline constexpr char kCheckDriverRim[] = "nvidia.driver_rim";
inline constexpr char kCheckVbiosRim[] = "nvidia.vbios_rim";

// Stable reason codes (docs/claims/nvidia-gpu.md). Report parse failures
// use ReportErrorReason() (REPORT_MALFORMED, REPORT_TRAILING_BYTES, ...);
// OCSP response errors use crypto::OcspErrorName (OCSP_SIGNATURE_INVALID...).
namespace reason {
inline constexpr char kOk[] = "OK";
inline constexpr char kTooManyDevices[] = "TOO_MANY_DEVICES";
inline constexpr char kArchUnsupported[] = "ARCH_UNSUPPORTED";
inline constexpr char kArchMismatch[] = "ARCH_MISMATCH";
inline constexpr char kEvidenceEmpty[] = "EVIDENCE_EMPTY";
inline constexpr char kCertChainMalformed[] = "CERT_CHAIN_MALFORMED";
inline constexpr char kCertChainLength[] = "CERT_CHAIN_LENGTH";
inline constexpr char kCertChainInvalid[] = "CERT_CHAIN_INVALID";
inline constexpr char kCertChainUntrustedRoot[] = "CERT_CHAIN_UNTRUSTED_ROOT";
inline constexpr char kCertExpired[] = "CERT_EXPIRED";
inline constexpr char kCertNotYetValid[] = "CERT_NOT_YET_VALID";
inline constexpr char kLeafKeyInvalid[] = "LEAF_KEY_INVALID";
inline constexpr char kSignatureInvalid[] = "SIGNATURE_INVALID";
inline constexpr char kFwidMismatch[] = "FWID_MISMATCH";
inline constexpr char kFwidCertMissing[] = "FWID_CERT_MISSING";
inline constexpr char kFwidCertMalformed[] = "FWID_CERT_MALFORMED";
inline constexpr char kFwidNotReported[] = "FWID_NOT_REPORTED";
inline constexpr char kNonceMismatch[] = "NONCE_MISMATCH";
inline constexpr char kNonceNotProvided[] = "NONCE_NOT_PROVIDED";
inline constexpr char kNonceInconsistent[] = "NONCE_INCONSISTENT";
inline constexpr char kOpaqueFieldMissing[] = "OPAQUE_FIELD_MISSING";
inline constexpr char kCcModeOff[] = "CC_MODE_OFF";
inline constexpr char kDevtoolsMode[] = "DEVTOOLS_MODE";
inline constexpr char kCcModeInconsistent[] = "CC_MODE_INCONSISTENT";
inline constexpr char kCcModeUnknown[] = "CC_MODE_UNKNOWN";
inline constexpr char kMixedGpuModes[] = "MIXED_GPU_MODES";
inline constexpr char kDuplicateDevice[] = "DUPLICATE_DEVICE";
inline constexpr char kPpcieSwitchEvidenceMissing[] = "PPCIE_SWITCH_EVIDENCE_MISSING";
inline constexpr char kPpcieTopologyMismatch[] = "PPCIE_TOPOLOGY_MISMATCH";
inline constexpr char kPpcieTopologyNotChecked[] = "PPCIE_TOPOLOGY_NOT_CHECKED";
inline constexpr char kCertRevoked[] = "CERT_REVOKED";
inline constexpr char kCertOnHold[] = "CERT_ON_HOLD";
inline constexpr char kCertOnHoldAllowed[] = "CERT_ON_HOLD_ALLOWED";
inline constexpr char kOcspUnknown[] = "OCSP_UNKNOWN";
inline constexpr char kOcspUnknownAllowed[] = "OCSP_UNKNOWN_ALLOWED";
inline constexpr char kOcspUnavailable[] = "OCSP_UNAVAILABLE";
inline constexpr char kOcspNotConfigured[] = "OCSP_NOT_CONFIGURED";
inline constexpr char kRimNotIntegrated[] = "RIM_NOT_INTEGRATED";
inline constexpr char kPrerequisiteFailed[] = "PREREQUISITE_FAILED";
// The verified device certificate says GPU but the entry is in
// switch_evidence_list, or NVSwitch but it is in evidence_list.
inline constexpr char kDeviceClassMismatch[] = "DEVICE_CLASS_MISMATCH";
// The verified device certificate is neither a known GPU nor an NVSwitch.
inline constexpr char kDeviceClassUnknown[] = "DEVICE_CLASS_UNKNOWN";
// An NVSwitch report without PROTECTED_PCIE_STATUS: its mode is not stated
// by signed evidence.
inline constexpr char kSwitchModeNotReported[] = "SWITCH_MODE_NOT_REPORTED";
// NVSwitch BIOS RIMs are not appraised (no reference-value comparison).
inline constexpr char kSwitchRimNotSupported[] = "SWITCH_RIM_NOT_SUPPORTED";
}  // namespace reason

// What a device is, by its verified certificate chain: the BROM
// certificate's CN (chain[1], the hwmodel claim) names the chip — "GH100 A01
// GSP BROM" / "GB100 A01 GSP BROM" / "GB20X ..." for GPUs, "LS_10 A01 FSP
// BROM" for the LS10 NVSwitch. NVIDIA's provisioning CAs issue it, so unlike
// the list an entry sits in, the attester cannot choose it.
enum class DeviceClass { kGpu, kNvSwitch };
// nullopt for a name that is neither.
std::optional<DeviceClass> DeviceClassFromHwmodel(std::string_view hwmodel);

// What the RIM integration needs from one device whose report signature
// and chain verified. Borrowed: valid only during the appraiser call.
struct VerifiedGpu {
  GpuArch arch = GpuArch::kHopper;
  bool is_switch = false;
  const GpuReport* report = nullptr;  // measurements, opaque data
  std::string ueid;
  std::string hwmodel;
  // Shortcuts into report->opaque ("" when absent).
  std::string driver_version;   // "550.90.07"
  std::string vbios_version;    // "96.00.9F.00.01"
  std::string project, project_sku, chip_sku, chip_info;
  // NVDEC0_STATUS == 0xAA (compare index 35); nullopt when the report has no
  // NVDEC0_STATUS field: the RIM appraisal then compares index 35 and says
  // NVDEC0_STATUS_MISSING (a missing field never skips a comparison).
  std::optional<bool> nvdec0_enabled;
  // SPDM index (1-based) -> measurement value.
  std::map<int, Bytes> measurements;
};

// Hook for reference-measurement appraisal (the RIM library). Called once
// per GPU whose signature and chain verified; it records its own checks
// (kCheckDriverRim / kCheckVbiosRim) and claims on `device`. Thread-safe.
class GpuRimAppraiser {
 public:
  virtual ~GpuRimAppraiser() = default;
  virtual absl::Status Appraise(const VerifiedGpu& gpu, const core::VerifyContext& ctx,
                                core::DeviceResult& device) const = 0;
};

struct NvidiaTrustConfig {
  // Production anchors ("NVIDIA Device Identity CA"), PEM. Each must match
  // the compiled SPKI pin unless allow_unpinned_roots_for_test.
  std::vector<std::string> device_roots_pem;
  // Simulation roots (demo/dev only): results chained to them say
  // simulated=true.
  std::vector<std::string> simulation_roots_pem;
  bool allow_unpinned_roots_for_test = false;
  // OCSP responder for device chains ("" = offline/cache only).
  std::string ocsp_url;
  GpuOcspPolicy ocsp_policy;
  // PPCIe without switch evidence: fail (default) or a not-checked warning.
  bool require_switch_evidence_for_ppcie = true;
  // HGX: 8 GPUs and 4 NVSwitches per node.
  size_t max_gpus = 8;
  size_t max_switches = 4;
  // Optional, not owned; must outlive the verifier. Null: the RIM checks are
  // recorded as not-checked RIM_NOT_INTEGRATED.
  const GpuRimAppraiser* rim_appraiser = nullptr;

  // The compiled pinned root and NVIDIA's responder URL
  // (http://ocsp.ndis.nvidia.com/), fail-closed OCSP policy.
  static NvidiaTrustConfig Default();
  // `root_pem` takes the place of the pinned production root (no pin check).
  static NvidiaTrustConfig ForTest(std::string root_pem);
};

// Verifies bundle.nvidia(): one DeviceResult per evidence_list entry (tee
// "nvidia-gpu", in order) then one per switch_evidence_list entry (tee
// "nvidia-switch"); the tee and the device name follow the list.
//
// Which checks a device gets follows its device class as the VERIFIED
// certificate chain says (DeviceClassFromHwmodel), not the list: a GPU
// report moved into switch_evidence_list still gets every GPU check, and
// .device_class fails DEVICE_CLASS_MISMATCH. Only when the chain did not
// verify (the device fails .cert_chain anyway) does the list decide.
//
// Per device the checks are, in order: .report_format, .cert_chain,
// .device_class, .report_signature, .arch (GPUs), .fwid, .nonce,
// .opaque_fields + .cc_mode, .cert_ocsp, then node-level .unique_device,
// (.nonce NONCE_INCONSISTENT), .gpu_modes (>= 2 GPUs), .ppcie_switches +
// .ppcie_topology (PPCIe GPUs), .driver_rim/.vbios_rim (GPUs: the RIM
// appraiser's checks; NVSwitches: .vbios_rim NOT_CHECKED
// SWITCH_RIM_NOT_SUPPORTED). NVSwitch .opaque_fields needs VBIOS_VERSION;
// NVSwitch .cc_mode passes only for PROTECTED_PCIE_STATUS 0xAA ("ppcie"),
// is NOT_CHECKED SWITCH_MODE_NOT_REPORTED without that field. A node over
// max_gpus/max_switches gets only .device_count. A check whose input failed
// earlier is NOT_CHECKED PREREQUISITE_FAILED, so the caller sees every
// problem. Claims come from the report as parsed; the checks say how far
// they can be trusted. DeviceResult::evidence_authentic is true only when
// the chain verified to a configured root, the report signature verified
// with its leaf key and .fwid did not fail.
//
// Immutable after Create; Verify is safe to call from many threads.
class NvidiaVerifier : public core::EvidenceVerifier {
 public:
  static absl::StatusOr<std::unique_ptr<NvidiaVerifier>> Create(NvidiaTrustConfig config);

  // Empty vector when the bundle has no nvidia evidence. INVALID_ARGUMENT
  // for a bundle far beyond any node (more than 64 entries); rejected
  // evidence is a verdict, not an error.
  absl::StatusOr<std::vector<core::DeviceResult>> Verify(
      const attestation::v1::EvidenceBundle& bundle,
      const core::VerifyContext& ctx) const override;

  absl::StatusOr<std::vector<core::DeviceResult>> VerifyNvidia(
      const attestation::v1::NvidiaEvidence& ev, const core::VerifyContext& ctx) const;

 private:
  struct Anchor {
    crypto::OpensslPtr<X509> cert;
    bool simulated = false;
  };
  NvidiaVerifier(NvidiaTrustConfig config, std::vector<Anchor> anchors)
      : config_(std::move(config)), anchors_(std::move(anchors)) {}

  const NvidiaTrustConfig config_;
  const std::vector<Anchor> anchors_;
};

// Builds the VerifiedGpu view of a parsed report (for the RIM integration
// and tests). `report` must outlive the result.
VerifiedGpu DescribeVerifiedGpu(const GpuReport& report, GpuArch arch, bool is_switch,
                                std::string ueid, std::string hwmodel);

}  // namespace rp::nvidia

#endif  // RP_VERIFIER_NVIDIA_VERIFIER_H_
