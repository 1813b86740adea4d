// The one place that turns a CollateralConfig into collateral sources:
// fetcher → AMD KDS / Intel PCS sources → ChainedSource(offline dir, KDS,
// PCS in source_order) → CachingSource (disk at cache_dir when set), and the
// OCSP fetcher (offline dir → cache → NVIDIA's responder). Used by attestation-server
// and attestctl. Also computes the collateral keys an SEV-SNP report needs,
// for `attestctl collateral fetch`.
#ifndef RP_APPRAISAL_COLLATERAL_STACK_H_
#define RP_APPRAISAL_COLLATERAL_STACK_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "attestation/v1/attestation.pb.h"
#include "attestation/v1/config.pb.h"
#include "verifier/collateral/observer.h"
#include "verifier/collateral/ocsp_fetcher.h"
#include "verifier/collateral/source.h"

namespace rp::appraisal {

// `config` fields left 0/empty take the defaults below.
// `offline_dir` ("" = none) is the "offline" entry of source_order.
// `cache_time`: when set, the cache judges freshness at this fixed time
// (attestctl --at); otherwise the real clock. Upstream rate limits always use
// the real clock. The returned source owns every piece of the stack.
// With neither an offline directory nor KDS the result is an EmptySource.
// `observer` (metrics) must outlive the returned source.
// Defaults for an online collateral: block (the server applies them when the
// block is present).
inline constexpr char kDefaultKdsBaseUrl[] = "https://kdsintf.amd.com";
inline constexpr int64_t kDefaultCollateralConnectTimeoutMs = 5000;
inline constexpr int64_t kDefaultCollateralTimeoutMs = 20000;
inline constexpr int64_t kMaxCollateralResponseBytes = int64_t{4} * 1024 * 1024;
inline constexpr double kDefaultKdsRatePerSecond = 0.1;
inline constexpr double kDefaultKdsBurst = 3;
inline constexpr int32_t kDefaultKdsMaxConcurrency = 4;
inline constexpr int32_t kDefaultKdsBreakerThreshold = 5;
inline constexpr int64_t kDefaultKdsBreakerCooldownSeconds = 60;
inline constexpr int64_t kDefaultCollateralMaxTtlSeconds = 24 * 3600;
inline constexpr int64_t kDefaultCollateralNegativeTtlSeconds = 30;
inline constexpr char kDefaultNvidiaOcspUrl[] = "https://ocsp.ndis.nvidia.com";

struct CollateralStack {
  std::shared_ptr<const collateral::CollateralSource> source;  // never null
  std::shared_ptr<const collateral::OcspFetcher> ocsp;         // never null
  // Responder for NVIDIA device certificates ("" when offline).
  std::string nvidia_ocsp_url;
};

absl::StatusOr<CollateralStack> BuildCollateralStack(
    const attestation::v1::CollateralConfig& config, const std::string& offline_dir,
    std::optional<absl::Time> cache_time = std::nullopt,
    collateral::CollateralObserver& observer = collateral::CollateralObserver::Noop());

// The collateral keys the SEV-SNP verifier asks for when verifying this
// bundle's report without certificates (ARCHITECTURE §4 layout):
// amd/<P>/cert_chain.pem and crl.der (vlek_* for VLEK-signed reports) and,
// for VCEK reports with a CHIP_ID, amd/vcek/<P>/<hwid>-<tcb>.der. <P> is the
// report's product (v3+) or every product (v2). Mirrors the private key
// builders in verifier/sev_snp/verifier.cc.
absl::StatusOr<std::vector<std::string>> SnpCollateralKeys(
    const attestation::v1::EvidenceBundle& bundle);

}  // namespace rp::appraisal

#endif  // RP_APPRAISAL_COLLATERAL_STACK_H_
