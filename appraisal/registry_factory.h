// Builds the registry of every verifier this build has. Called by the
// server's main and by `attestctl verify` (the only places that build real
// implementations).
#ifndef RP_APPRAISAL_REGISTRY_FACTORY_H_
#define RP_APPRAISAL_REGISTRY_FACTORY_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "attestation/v1/config.pb.h"
#include "verifier/core/registry.h"

namespace rp::appraisal {

struct RegistryOptions {
  // NVIDIA OCSP responder for device certificates ("" = offline / cache only;
  // RIM certificates use their AIA unless offline).
  std::string nvidia_ocsp_url;
  bool offline = false;  // never contact an OCSP responder
};

// Files of a simulation directory (`attestctl simulate init`): the roots the
// simulator signs with, trusted only when the configuration says so.
inline constexpr char kSimSnpRoot[] = "ark.pem";
inline constexpr char kSimTdxRoot[] = "tdx_root.pem";
inline constexpr char kSimGpuRoot[] = "gpu_root.pem";
inline constexpr char kSimRimRoot[] = "rim_root.pem";

// SEV-SNP with the pinned AMD roots, TDX with the pinned Intel SGX Root CA,
// NVIDIA GPUs with the pinned Device Identity CA and RIMs under the pinned
// CoRIM signing root; plus, only when `simulation.trust_simulation_root()`,
// the simulation roots from `<simulation.dir>/` (a missing SNP root is an
// error, never silently off; the TDX / GPU / RIM roots are used when
// present). Results chained to a simulation root say simulated=true.
absl::StatusOr<std::unique_ptr<core::Registry>> MakeDefaultRegistry(
    const attestation::v1::SimulationConfig& simulation, const RegistryOptions& options = {});

}  // namespace rp::appraisal

#endif  // RP_APPRAISAL_REGISTRY_FACTORY_H_
