#include "appraisal/engine.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "policy/appraise.h"
#include "verifier/common/status_macros.h"
#include "verifier/core/binding.h"
#include "verifier/crypto/verified_memo.h"

namespace rp::appraisal {

namespace {

bool HasCpuEvidence(const attestation::v1::EvidenceBundle& b) {
  return b.has_sev_snp() || b.has_tdx();
}
bool HasNvidiaEvidence(const attestation::v1::EvidenceBundle& b) {
  return b.has_nvidia() &&
         (b.nvidia().evidence_list_size() > 0 || b.nvidia().switch_evidence_list_size() > 0);
}

// Bundle check "nonce": whether the evidence is judged against a nonce the
// relying party issued. Whether the evidence commits to it is "binding".
core::Check FreshnessCheck(const std::optional<Bytes>& expected,
                           const std::optional<Bytes>& bundle_nonce) {
  if (expected.has_value()) {
    return core::Check{"nonce", core::CheckStatus::kPass, "OK",
                       absl::StrCat("expected nonce ", HexEncode(*expected),
                                    " from the relying party's challenge"),
                       core::Component::kInstanceIdentity, /*affects_status=*/true,
                       /*relaxed_by=*/{}};
  }
  return core::Check{
      "nonce", core::CheckStatus::kNotChecked, "NONCE_NOT_PROVIDED",
      bundle_nonce.has_value()
          ? "no nonce from the relying party: the nonce the bundle names is the attester's "
            "word and proves no freshness"
          : "no nonce: freshness cannot be checked",
      core::Component::kInstanceIdentity, /*affects_status=*/true, /*relaxed_by=*/{}};
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
  // Pure checks repeated within this appraisal (the same RIMs' and device
  // chains' OCSP answers for each GPU) run once (verifier/crypto/verified_memo.h).
  const crypto::ScopedRequestMemo request_memo;
  if (!HasCpuEvidence(bundle) && !HasNvidiaEvidence(bundle)) {
    return absl::InvalidArgumentError("evidence bundle has no evidence (sev_snp, tdx or nvidia)");
  }
  if (bundle.has_sev_snp() && bundle.has_tdx()) {
    return absl::InvalidArgumentError("evidence bundle has both sev_snp and tdx evidence");
  }
  ASSIGN_OR_RETURN(std::string profile, core::BindingProfile(bundle));
  // Runtime claims are bound by attest-v2 only; under another profile they
  // would travel unbound, so such a bundle is malformed. Claims outside the
  // accepted subset (size, names, values) are refused before any crypto.
  const core::RuntimeClaims runtime_claims = core::BundleRuntimeClaims(bundle);
  if (!runtime_claims.empty() && profile != core::kBindingAttestV2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "evidence bundle: runtime_claims need binding attest-v2 (binding is ", profile, ")"));
  }
  if (profile == core::kBindingAttestV2) {
    RETURN_IF_ERROR(Annotate(core::ValidateRuntimeClaims(runtime_claims), "evidence bundle"));
  }

  // Freshness: only a nonce the relying party issued (the server's checked
  // challenge, attestctl --nonce / --challenge) proves the evidence is new.
  // A nonce the bundle names is the attester's word: it is used for the
  // binding only under --no-freshness, and never reported as fresh.
  std::optional<Bytes> bundle_nonce;
  if (!bundle.nonce().empty()) {
    auto decoded = HexDecode(bundle.nonce());
    if (!decoded.ok() || decoded->size() != core::kNonceSize) {
      return absl::InvalidArgumentError("bundle nonce must be 32 bytes of hex");
    }
    bundle_nonce = *std::move(decoded);
  }
  if (options.expected_nonce.has_value() && bundle_nonce.has_value() &&
      *options.expected_nonce != *bundle_nonce) {
    return absl::InvalidArgumentError("bundle nonce differs from the challenge nonce");
  }
  // The nonce the binding is checked against: ours, or (--no-freshness)
  // the one the bundle names. Per-device nonce checks (GPU requester
  // nonces) only ever compare with ours: they are about freshness, and the
  // binding already commits to every GPU report.
  std::optional<Bytes> nonce = options.expected_nonce;
  if (!nonce.has_value() && options.allow_no_freshness) nonce = bundle_nonce;

  core::VerifyContext ctx{options.at, collateral_.get(), options.expected_nonce,
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
  bundle_checks.push_back(FreshnessCheck(options.expected_nonce, bundle_nonce));
  if (HasCpuEvidence(bundle)) {
    bundle_checks.push_back(core::CheckBinding(bundle, profile, nonce, cpu_report_data));
  } else {
    // Nothing in GPU evidence names a TEE key: the binding is not performed
    // (a rejection unless the policy sets require_cpu_evidence: false).
    bundle_checks.push_back(core::Check{
        "binding", core::CheckStatus::kNotChecked, "BINDING_NO_CPU_EVIDENCE",
        "no CPU evidence (TDX / SEV-SNP): nothing binds the GPU evidence to a TEE key",
        core::Component::kInstanceIdentity, /*affects_status=*/true, /*relaxed_by=*/{}});
  }
  policy::RelaxationContext relax;
  relax.allow_no_freshness = options.allow_no_freshness;
  Appraisal out =
      policy::AppraiseAll(policy, profile, std::move(devices), std::move(bundle_checks), relax);
  out.nonce = nonce;
  if (out.binding_verified && profile == core::kBindingAttestV2) {
    out.runtime_claims = runtime_claims;
  }
  return out;
}

}  // namespace rp::appraisal
