// The NVIDIA GPU measurement appraisal (specs/nvidia-gpu.md §3.3, §3.4, §5
// steps 9-15): fetch the driver and VBIOS RIMs by id, authenticate them
// (XML-DSig + chain + OCSP), check their versions against the report, check
// that their active indices are disjoint, and compare every active golden
// measurement with the runtime value.
//
// Checks appended to the DeviceResult (reasons in reasons.h and
// docs/claims/nvidia-rim.md):
//   nvidia.driver_rim.signature / .cert_chain / .ocsp / .version_match / .identity
//   nvidia.vbios_rim.signature  / .cert_chain / .ocsp / .version_match / .identity
//   nvidia.rim.indices_disjoint
//   nvidia.measurements
//   nvidia.rim.nvdec0 (informational, only without an NVDEC0 status)
//   nvidia.rim.collateral_freshness (only when stale collateral was used)
// Claims: rim_ids, driver_rim, vbios_rim (with tag_id, identity_match), oemid,
// measurements_match, mismatched_indices, mismatch_records.
//
// Golden values are only ever read from a RIM whose signature verified, whose
// chain leads to a trusted root (valid now, or valid up to its expiry — an
// expired RIM still fails its cert_chain check) and whose signed identity
// fits the requested RIM id (.identity, RIM_ID_MISMATCH otherwise): a tagId
// in RIM-id form must equal the id (NVIDIA's own RIMs carry an opaque digest
// there), name/product/PlatformModel must be the report's chip (Hopper
// "GH100", Blackwell "GB..."). NVIDIA's signed VBIOS RIMs do not name the
// project / SKU that the VBIOS RIM id contains; those parts of the id are
// bound only by the store or RIM service that maps the id to the RIM.
//
// Index alignment: runtime measurements are keyed by the SPDM measurement
// block index (1-based, as in the report); RIM index = block index - 1
// (verified on the real H100 545.00 set). mismatched_indices are RIM indices.
//
// Thread-safe; no state.
#ifndef RP_VERIFIER_NVIDIA_RIM_APPRAISE_H_
#define RP_VERIFIER_NVIDIA_RIM_APPRAISE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "verifier/collateral/ocsp_fetcher.h"
#include "verifier/collateral/source.h"
#include "verifier/common/encoding.h"
#include "verifier/core/result.h"
#include "verifier/nvidia/rim/rim.h"
#include "verifier/nvidia/rim/rim_signature.h"
#include "verifier/nvidia/rim/rim_source.h"

namespace rp::nvidia::rim {

// The fields of a parsed (and signature-verified) GPU report that the
// appraisal needs.
struct RimInputs {
  GpuArch arch = GpuArch::kHopper;
  std::string chip_info;       // CHIP_INFO (Blackwell driver RIM id; "" → GB100)
  std::string driver_version;  // DRIVER_VERSION, e.g. "545.00" (NULs are ignored)
  std::string vbios_version;   // formatted, e.g. "96.00.5E.00.01"
  std::string project;         // PROJECT, e.g. "1010"
  std::string project_sku;     // PROJECT_SKU, e.g. "0200"
  std::string chip_sku;        // CHIP_SKU, e.g. "882"
  // SPDM measurement block index (1-based) → digest (48 bytes for SHA-384).
  std::map<uint32_t, Bytes> measurements;
  // NVDEC0_STATUS: 0xAA → true (compare index 35), 0x55 → false (skip it),
  // absent → nullopt (index 35 is compared: the stricter choice).
  std::optional<bool> nvdec0_enabled;
};

struct RimContext {
  absl::Time at;                                         // verification time
  const collateral::CollateralSource* collateral = nullptr;  // RIMs (and offline OCSP); never null
  const collateral::OcspFetcher* ocsp = nullptr;         // null: offline OCSP only
  absl::Duration grace = absl::ZeroDuration();           // GetOptions::stale_grace
};

// RIM index of NVDEC0's measurement (spec §1.4 / §3.4).
inline constexpr uint32_t kNvdec0RimIndex = 35;

// Appends the checks and claims above to `out`. Returns OK in every case but
// one: a RIM fetch failed in a retryable way (the source's UNAVAILABLE /
// DEADLINE_EXCEEDED, e.g. the RIM service is down). Then the checks are
// appended as well (signature fail RIM_UNAVAILABLE) and the status is
// returned so that the caller can answer UNAVAILABLE instead of a verdict
// (STYLE §5). INVALID_ARGUMENT if ctx.collateral is null.
absl::Status AppraiseGpuMeasurements(const RimInputs& inputs, const RimTrustConfig& trust,
                                     const RimContext& ctx, core::DeviceResult& out);

// The comparison alone (§3.4), on RIMs the caller has authenticated.
struct MeasurementComparison {
  bool indices_disjoint = true;
  std::vector<uint32_t> overlapping;  // active in both
  std::vector<uint32_t> compared;     // RIM indices compared
  std::vector<uint32_t> mismatched;   // RIM indices, ascending
  bool nvdec0_skipped = false;
  nlohmann::json records = nlohmann::json::array();
};
MeasurementComparison CompareMeasurements(const Rim& driver, const Rim& vbios,
                                          const std::map<uint32_t, Bytes>& runtime_by_block,
                                          std::optional<bool> nvdec0_enabled);

}  // namespace rp::nvidia::rim

#endif  // RP_VERIFIER_NVIDIA_RIM_APPRAISE_H_
