// Builds the registry of every verifier this build has. Called by the
// server's main and by `attestctl verify` (the only places that build real
// implementations).
#ifndef RP_POLICY_REGISTRY_FACTORY_H_
#define RP_POLICY_REGISTRY_FACTORY_H_

#include <memory>

#include "absl/status/statusor.h"
#include "attestation/v1/config.pb.h"
#include "verifier/core/registry.h"

namespace rp::policy {

// SEV-SNP with the pinned AMD roots; plus, only when
// `simulation.trust_simulation_root()`, the simulation ARK from
// `<simulation.dir>/ark.pem` (missing file → error, never silently off).
absl::StatusOr<std::unique_ptr<core::Registry>> MakeDefaultRegistry(
    const attestation::v1::SimulationConfig& simulation);

}  // namespace rp::policy

#endif  // RP_POLICY_REGISTRY_FACTORY_H_
