#include "policy/registry_factory.h"

#include "absl/strings/str_cat.h"
#include "policy/yaml_json.h"
#include "verifier/sev_snp/roots.h"
#include "verifier/sev_snp/verifier.h"

namespace rp::policy {

absl::StatusOr<std::unique_ptr<core::Registry>> MakeDefaultRegistry(
    const attestation::v1::SimulationConfig& simulation) {
  auto registry = std::make_unique<core::Registry>();
  sev_snp::TrustConfig trust = sev_snp::TrustConfig::Default();
  if (simulation.trust_simulation_root()) {
    const std::string path = absl::StrCat(simulation.dir(), "/ark.pem");
    auto pem = ReadSmallFile(path, 64 * 1024);
    if (!pem.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("simulation root trusted but not readable: ", pem.status().message(),
                       " (create it with `attestctl simulate init --sim-dir ", simulation.dir(),
                       "`)"));
    }
    for (auto p : {sev_snp::Product::kMilan, sev_snp::Product::kGenoa, sev_snp::Product::kTurin}) {
      trust.simulation_roots_pem[p].push_back(*pem);
    }
  }
  auto snp = sev_snp::SnpVerifier::Create(std::move(trust));
  if (!snp.ok()) return snp.status();
  if (auto st = registry->Register(core::TeeType::kSevSnp, std::move(*snp)); !st.ok()) return st;
  // TDX and NVIDIA verifiers are registered here when they exist; until
  // then the engine answers UNIMPLEMENTED for those evidence types.
  return registry;
}

}  // namespace rp::policy
