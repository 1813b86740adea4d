// The one verification pipeline used by the server and by `attestctl
// verify`: parse + verify every piece of evidence (registry of verifiers),
// check the binding, hand the devices to the policy (policy/appraise.h), and
// produce the Appraisal (result and EAR claims for the token).
#ifndef RP_APPRAISAL_ENGINE_H_
#define RP_APPRAISAL_ENGINE_H_

#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "attestation/v1/attestation.pb.h"
#include "policy/appraisal.h"
#include "verifier/collateral/ocsp_fetcher.h"
#include "verifier/collateral/source.h"
#include "verifier/common/encoding.h"
#include "verifier/core/registry.h"

namespace rp::appraisal {

using policy::Appraisal;
using policy::LoadedPolicy;

struct RunOptions {
  absl::Time at;                        // verification time
  // The nonce this verifier issued (online: from the checked challenge;
  // attestctl: --nonce / --challenge). A nonce that only the bundle names
  // is never trusted as fresh.
  std::optional<Bytes> expected_nonce;
  // Offline checking of third-party evidence (attestctl --no-freshness):
  // without an expected nonce the freshness check is not-checked but
  // relaxed (the result is at best a warning), and the binding is checked
  // against the nonce the bundle names. Never set by the server.
  bool allow_no_freshness = false;
};

// Immutable after Create; thread-safe.
class Engine {
 public:
  static absl::StatusOr<std::unique_ptr<Engine>> Create(
      std::unique_ptr<core::Registry> registry,
      std::shared_ptr<const collateral::CollateralSource> collateral,
      std::shared_ptr<const collateral::OcspFetcher> ocsp = nullptr);

  // INVALID_ARGUMENT for a malformed bundle, UNIMPLEMENTED for an evidence
  // type without a verifier, UNAVAILABLE for retryable collateral failures.
  // Everything else is an Appraisal (possibly contraindicated).
  absl::StatusOr<Appraisal> Run(const attestation::v1::EvidenceBundle& bundle,
                                const LoadedPolicy& policy, const RunOptions& options) const;

 private:
  Engine(std::unique_ptr<core::Registry> registry,
         std::shared_ptr<const collateral::CollateralSource> collateral,
         std::shared_ptr<const collateral::OcspFetcher> ocsp)
      : registry_(std::move(registry)),
        collateral_(std::move(collateral)),
        ocsp_(std::move(ocsp)) {}
  std::unique_ptr<core::Registry> registry_;
  std::shared_ptr<const collateral::CollateralSource> collateral_;
  std::shared_ptr<const collateral::OcspFetcher> ocsp_;  // may be null (offline)
};

}  // namespace rp::appraisal

#endif  // RP_APPRAISAL_ENGINE_H_
