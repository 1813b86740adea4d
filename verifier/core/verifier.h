// The plugin interface every evidence type implements (STYLE §8).
#ifndef RP_VERIFIER_CORE_VERIFIER_H_
#define RP_VERIFIER_CORE_VERIFIER_H_

#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "attestation/v1/attestation.pb.h"
#include "verifier/collateral/ocsp_fetcher.h"
#include "verifier/collateral/source.h"
#include "verifier/common/encoding.h"
#include "verifier/core/result.h"

namespace rp::core {

enum class TeeType { kSevSnp, kTdx, kNvidia };

struct VerifyContext {
  absl::Time at;                                   // verification time
  const collateral::CollateralSource* collateral;  // never null
  std::optional<Bytes> expected_nonce;             // GPU requester nonce
  // Policy-set grace for collateral past its freshness (GetOptions::
  // stale_grace). Zero: stale collateral is refused (fail closed). Last
  // member, defaulted, so existing aggregate initialisers keep compiling.
  absl::Duration collateral_grace = absl::ZeroDuration();
  // OCSP responses (NVIDIA device and RIM chains). Null: only what
  // `collateral` holds under nvidia/ocsp/ is used (offline).
  const collateral::OcspFetcher* ocsp = nullptr;
};

// Verifies one evidence type of a bundle. Implementations are immutable
// after construction and safe to call from many threads.
//
// Returns one DeviceResult per device. A malformed or failing piece of
// evidence is a DeviceResult with a failed check (a verdict), not an error;
// errors are for bundle-level misuse (INVALID_ARGUMENT) or collateral that
// is unavailable but retryable (UNAVAILABLE).
class EvidenceVerifier {
 public:
  virtual ~EvidenceVerifier() = default;
  virtual absl::StatusOr<std::vector<DeviceResult>> Verify(
      const attestation::v1::EvidenceBundle& bundle, const VerifyContext& ctx) const = 0;
};

}  // namespace rp::core

#endif  // RP_VERIFIER_CORE_VERIFIER_H_
