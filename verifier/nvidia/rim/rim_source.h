// Finding RIMs: RIM ids from report fields (specs/nvidia-gpu.md §3.2), the
// collateral key nvidia/rims/<RIM_ID>.xml (offline directory / cache), and
// NVIDIA's RIM service as a collateral source:
//   nvidia/rims/<ID>.xml → GET <base>/v1/rim/<ID>
//   → JSON {"id": "<ID>", "rim": "<base64 XML>", ...}; the item is the XML.
// The service's `id` must equal the requested id; otherwise the fetch fails
// with a message containing "RIM_ID_MISMATCH". Bodies that are not such JSON
// or whose XML does not parse as a RIM are refused (UNAVAILABLE, not cached).
// Nothing here verifies a RIM: that is VerifyRim's job, every time a RIM is
// used.
#ifndef RP_VERIFIER_NVIDIA_RIM_RIM_SOURCE_H_
#define RP_VERIFIER_NVIDIA_RIM_RIM_SOURCE_H_

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "verifier/collateral/http_fetcher.h"
#include "verifier/collateral/http_source.h"
#include "verifier/collateral/observer.h"
#include "verifier/common/clock.h"
#include "verifier/common/encoding.h"

namespace rp::nvidia::rim {

enum class GpuArch { kHopper, kBlackwell };

// At most this many characters in a RIM id (real ids are ~40).
inline constexpr size_t kMaxRimIdLength = 128;

// Driver RIM id. Hopper: NV_GPU_DRIVER_GH100_<ver>; Blackwell:
// NV_GPU_CC_DRIVER_<CHIP_INFO>_<ver>, with "GB100" when CHIP_INFO is absent
// (empty), as NVIDIA's C++ SDK does. Inputs are the report's opaque strings:
// NUL bytes are removed, letters upper-cased. INVALID_ARGUMENT ("RIM_ID_INVALID: ...")
// for characters outside [A-Za-z0-9] (chip) / [A-Za-z0-9.] (version) or an
// empty version.
absl::StatusOr<std::string> DriverRimId(GpuArch arch, std::string_view chip_info,
                                        std::string_view driver_version);

// VBIOS RIM id NV_GPU_VBIOS_<PROJECT>_<PROJECT_SKU>_<CHIP_SKU>_<VER>, VER =
// the formatted VBIOS version ("96.00.5E.00.01") without dots, upper case.
absl::StatusOr<std::string> VbiosRimId(std::string_view project, std::string_view project_sku,
                                       std::string_view chip_sku, std::string_view vbios_version);

// [A-Z0-9_.] only, starts with "NV_", at most kMaxRimIdLength.
bool IsValidRimId(std::string_view rim_id);

// "nvidia/rims/<RIM_ID>.xml" (the id must be valid).
std::string RimCollateralKey(std::string_view rim_id);

inline constexpr char kNvidiaRimServiceDefaultBaseUrl[] = "https://rim.attestation.nvidia.com";

struct NvidiaRimServiceOptions {
  std::string base_url = kNvidiaRimServiceDefaultBaseUrl;  // trailing '/' allowed
  collateral::UpstreamLimitsOptions limits;
};

// URL for `key`: nullopt for keys outside nvidia/rims/; INVALID_ARGUMENT for
// a malformed nvidia/rims/ key.
absl::StatusOr<std::optional<std::string>> NvidiaRimServiceUrlForKey(std::string_view base_url,
                                                                     std::string_view key);

// The XML of a RIM service response body for `key` (JSON, `id` must match,
// `rim` base64). Bounded by collateral::kMaxCollateralItemBytes.
absl::StatusOr<Bytes> ExtractRimFromServiceResponse(std::string_view key,
                                                    std::span<const uint8_t> body);

// NvidiaRimServiceSource: an HttpCollateralSource named "nvidia-rim" with
// the mapping above. `fetcher`, `clock`, `observer` must outlive it.
absl::StatusOr<std::unique_ptr<collateral::HttpCollateralSource>> CreateNvidiaRimServiceSource(
    const NvidiaRimServiceOptions& options, const collateral::HttpFetcher& fetcher,
    const Clock& clock, collateral::CollateralObserver& observer =
                            collateral::CollateralObserver::Noop());

}  // namespace rp::nvidia::rim

#endif  // RP_VERIFIER_NVIDIA_RIM_RIM_SOURCE_H_
