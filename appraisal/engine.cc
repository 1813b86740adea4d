#include "appraisal/engine.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "policy/appraise.h"
#include "verifier/common/status_macros.h"
#include "verifier/core/binding.h"

namespace rp::appraisal {

namespace {

bool HasCpuEvidence(const attestation::v1::EvidenceBundle& b) {
  return b.has_sev_snp() || b.has_tdx();
}
bool HasNvidiaEvidence(const attestation::v1::EvidenceBundle& b) {
  return b.has_nvidia() &&
         (b.nvidia().evidence_list_size() > 0 || b.nvidia().switch_evidence_list_size() > 0);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(
    std::unique_ptr<core::Registry> registry,
    std::shared_ptr<const collateral::CollateralSource> collateral,
    std::shared_ptr<const collateral::OcspFetcher> ocsp) {
  if (registry == nullptr) return absl::InvalidArgumentError("engine: no registry");
  if (collateral == nullptr) collateral = std::make_shared<collateral::EmptySource>();
  return std::unique_ptr<Engine>(
      new Engine(std::move(registry), std::move(collateral), std::move(ocsp)));
}

absl::StatusOr<Appraisal> Engine::Run(const attestation::v1::EvidenceBundle& bundle,
                                      const LoadedPolicy& policy,
                                      const RunOptions& options) const {
  if (!HasCpuEvidence(bundle) && !HasNvidiaEvidence(bundle)) {
    return absl::InvalidArgumentError("evidence bundle has no evidence (sev_snp, tdx or nvidia)");
  }
  if (bundle.has_sev_snp() && bundle.has_tdx()) {
    return absl::InvalidArgumentError("evidence bundle has both sev_snp and tdx evidence");
  }
  ASSIGN_OR_RETURN(std::string profile, core::BindingProfile(bundle));

  std::optional<Bytes> nonce = options.expected_nonce;
  if (!bundle.nonce().empty()) {
    auto decoded = HexDecode(bundle.nonce());
    if (!decoded.ok() || decoded->size() != core::kNonceSize) {
      return absl::InvalidArgumentError("bundle nonce must be 32 bytes of hex");
    }
    if (nonce.has_value() && *nonce != *decoded) {
      return absl::InvalidArgumentError("bundle nonce differs from the challenge nonce");
    }
    nonce = *decoded;
  }

  core::VerifyContext ctx{options.at, collateral_.get(), nonce,
                          absl::Seconds(policy.policy.collateral_grace_seconds()), ocsp_.get()};
  std::vector<core::DeviceResult> devices;
  struct Part {
    bool present;
    core::TeeType type;
    const char* name;
  };
  const Part parts[] = {{bundle.has_sev_snp(), core::TeeType::kSevSnp, "sev_snp"},
                        {bundle.has_tdx(), core::TeeType::kTdx, "tdx"},
                        {HasNvidiaEvidence(bundle), core::TeeType::kNvidia, "nvidia"}};
  for (const Part& part : parts) {
    if (!part.present) continue;
    const core::EvidenceVerifier* v = registry_->Find(part.type);
    if (v == nullptr) {
      return absl::UnimplementedError(absl::StrCat(
          part.name, " evidence: no verifier for this evidence type yet (nothing was verified)"));
    }
    auto results = v->Verify(bundle, ctx);
    if (!results.ok()) return Annotate(results.status(), part.name);
    for (auto& r : *results) devices.push_back(std::move(r));
  }
  int cpu = 0, gpu = 0, sw = 0;
  std::optional<Bytes> cpu_report_data;
  for (auto& d : devices) {
    if (d.tee == "sev-snp" || d.tee == "tdx") {
      d.name = absl::StrCat("cpu", cpu++);
      if (!cpu_report_data.has_value()) cpu_report_data = d.report_data;
    } else if (d.tee == "nvidia-switch") {
      d.name = absl::StrCat("switch", sw++);
    } else {
      d.name = absl::StrCat("gpu", gpu++);
    }
  }
  std::vector<core::Check> bundle_checks;
  if (HasCpuEvidence(bundle)) {
    bundle_checks.push_back(core::CheckBinding(bundle, profile, nonce, cpu_report_data));
  }
  Appraisal out = policy::AppraiseAll(policy, profile, std::move(devices), std::move(bundle_checks));
  out.nonce = nonce;
  return out;
}

}  // namespace rp::appraisal
