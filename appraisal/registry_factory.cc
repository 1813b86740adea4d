#include "appraisal/registry_factory.h"

#include <filesystem>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "policy/yaml_json.h"
#include "verifier/nvidia/rim/appraise.h"
#include "verifier/nvidia/verifier.h"
#include "verifier/sev_snp/roots.h"
#include "verifier/sev_snp/verifier.h"
#include "verifier/tdx/roots.h"
#include "verifier/tdx/verifier.h"

namespace rp::appraisal {
namespace {

// Connects the GPU verifier to the RIM library: after a GPU's signature and
// chain verified, fetch, authenticate and compare its driver and VBIOS RIMs.
class RimAppraiser : public nvidia::GpuRimAppraiser {
 public:
  RimAppraiser(nvidia::rim::RimTrustConfig trust, bool offline)
      : trust_(std::move(trust)), offline_(offline) {}

  absl::Status Appraise(const nvidia::VerifiedGpu& gpu, const core::VerifyContext& ctx,
                        core::DeviceResult& device) const override {
    nvidia::rim::RimInputs in;
    in.arch = gpu.arch == nvidia::GpuArch::kBlackwell ? nvidia::rim::GpuArch::kBlackwell
                                                      : nvidia::rim::GpuArch::kHopper;
    in.chip_info = gpu.chip_info;
    in.driver_version = gpu.driver_version;
    in.vbios_version = gpu.vbios_version;
    in.project = gpu.project;
    in.project_sku = gpu.project_sku;
    in.chip_sku = gpu.chip_sku;
    for (const auto& [index, value] : gpu.measurements) {
      in.measurements[static_cast<uint32_t>(index)] = value;
    }
    in.nvdec0_enabled = gpu.nvdec0_enabled;
    nvidia::rim::RimContext rc;
    rc.at = ctx.at;
    rc.collateral = ctx.collateral;
    // Offline: RIM certificates name a responder (AIA) that must not be
    // contacted; stored responses in the collateral directory still count,
    // and without one the check is not-checked (OCSP_NOT_CONFIGURED).
    rc.ocsp = offline_ ? nullptr : ctx.ocsp;
    rc.grace = ctx.collateral_grace;
    return nvidia::rim::AppraiseGpuMeasurements(in, trust_, rc, device);
  }

 private:
  const nvidia::rim::RimTrustConfig trust_;
  const bool offline_;
};

// Owns the RIM appraiser the GPU verifier points to.
class GpuVerifierWithRims : public core::EvidenceVerifier {
 public:
  GpuVerifierWithRims(std::unique_ptr<RimAppraiser> rims,
                      std::unique_ptr<nvidia::NvidiaVerifier> gpus)
      : rims_(std::move(rims)), gpus_(std::move(gpus)) {}
  absl::StatusOr<std::vector<core::DeviceResult>> Verify(
      const attestation::v1::EvidenceBundle& bundle, const core::VerifyContext& ctx) const override {
    return gpus_->Verify(bundle, ctx);
  }

 private:
  const std::unique_ptr<RimAppraiser> rims_;  // before gpus_: outlives it
  const std::unique_ptr<nvidia::NvidiaVerifier> gpus_;
};

// The simulation root `name` in the simulation directory: nullopt when the
// file does not exist; an error when it exists but cannot be read.
absl::StatusOr<std::optional<std::string>> SimRoot(const attestation::v1::SimulationConfig& sim,
                                                   const char* name) {
  const std::string path = absl::StrCat(sim.dir(), "/", name);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::optional<std::string>();
  auto pem = ReadSmallFile(path, 64 * 1024);
  if (!pem.ok()) return pem.status();
  return std::optional<std::string>(*std::move(pem));
}

}  // namespace

absl::StatusOr<std::unique_ptr<core::Registry>> MakeDefaultRegistry(
    const attestation::v1::SimulationConfig& simulation, const RegistryOptions& options) {
  auto registry = std::make_unique<core::Registry>();
  const bool sim = simulation.trust_simulation_root();

  // AMD SEV-SNP.
  sev_snp::TrustConfig trust = sev_snp::TrustConfig::Default();
  if (sim) {
    const std::string path = absl::StrCat(simulation.dir(), "/", kSimSnpRoot);
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

  // Intel TDX.
  tdx::TdxTrustConfig tdx_trust = tdx::TdxTrustConfig::Default();
  if (sim) {
    auto root = SimRoot(simulation, kSimTdxRoot);
    if (!root.ok()) return root.status();
    if (root->has_value()) tdx_trust.simulation_root_pems.push_back(**root);
  }
  auto tdx_verifier = tdx::TdxVerifier::Create(std::move(tdx_trust));
  if (!tdx_verifier.ok()) return tdx_verifier.status();
  if (auto st = registry->Register(core::TeeType::kTdx, std::move(*tdx_verifier)); !st.ok()) {
    return st;
  }

  // NVIDIA GPUs and NVSwitches, with RIM appraisal. OCSP answers the policy
  // may relax (hold, unknown, unreachable) are failed here; the policy turns
  // them into warnings when it allows them (policy/appraise.cc).
  nvidia::rim::RimTrustConfig rim_trust;
  if (sim) {
    auto root = SimRoot(simulation, kSimRimRoot);
    if (!root.ok()) return root.status();
    if (root->has_value()) rim_trust.extra_root_pems.push_back(**root);
  }
  // RIM certificates name their responder (AIA); an offline collateral
  // stack answers OCSP from its directory / cache only.
  auto rims = std::make_unique<RimAppraiser>(std::move(rim_trust), options.offline);
  nvidia::NvidiaTrustConfig gpu_trust = nvidia::NvidiaTrustConfig::Default();
  gpu_trust.ocsp_url = options.offline ? "" : options.nvidia_ocsp_url;
  if (sim) {
    auto root = SimRoot(simulation, kSimGpuRoot);
    if (!root.ok()) return root.status();
    if (root->has_value()) gpu_trust.simulation_roots_pem.push_back(**root);
  }
  gpu_trust.rim_appraiser = rims.get();
  auto gpus = nvidia::NvidiaVerifier::Create(std::move(gpu_trust));
  if (!gpus.ok()) return gpus.status();
  if (auto st = registry->Register(
          core::TeeType::kNvidia,
          std::make_unique<GpuVerifierWithRims>(std::move(rims), *std::move(gpus)));
      !st.ok()) {
    return st;
  }
  return registry;
}

}  // namespace rp::appraisal
