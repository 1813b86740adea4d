#include "verifier/core/binding.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "verifier/common/status_macros.h"
#include "verifier/crypto/digest.h"
#include "verifier/crypto/keys.h"

namespace rp::core {

absl::StatusOr<std::string> BindingProfile(const attestation::v1::EvidenceBundle& bundle) {
  const std::string& b = bundle.binding();
  if (b.empty() || b == kBindingAttestV1) return std::string(kBindingAttestV1);
  if (b == kBindingAttestV2 || b == kBindingNonce || b == kBindingNone) return b;
  return absl::InvalidArgumentError(absl::StrCat(
      "binding '", b.substr(0, 32), "' is unknown (attest-v1 | attest-v2 | nonce | none)"));
}

RuntimeClaims BundleRuntimeClaims(const attestation::v1::EvidenceBundle& bundle) {
  return RuntimeClaims(bundle.runtime_claims().begin(), bundle.runtime_claims().end());
}

namespace {

// The SHA-512 input shared by attest-v1 and attest-v2: label, nonce, TEE-key
// thumbprint, then (v2) the runtime-claims digest, then every report digest.
absl::StatusOr<Bytes> ExpectedReportData(std::string_view label, std::span<const uint8_t> nonce,
                                         const attestation::v1::Jwk& tee_key,
                                         const RuntimeClaims* runtime_claims,
                                         const std::vector<Bytes>& gpu_reports,
                                         const std::vector<Bytes>& switch_reports) {
  if (nonce.size() != kNonceSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("binding: nonce is ", nonce.size(), " bytes, expected 32"));
  }
  if (tee_key.kty().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("binding: ", std::string(label), " needs tee_public_key (JWK)"));
  }
  crypto::JwkPublic jwk{tee_key.kty(), tee_key.crv(), tee_key.x(),
                        tee_key.y(),   tee_key.n(),   tee_key.e()};
  auto thumb = crypto::JwkThumbprintSha256(jwk);
  if (!thumb.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("binding: tee_public_key: ", thumb.status().message()));
  }
  Bytes msg(label.begin(), label.end());
  msg.insert(msg.end(), nonce.begin(), nonce.end());
  msg.insert(msg.end(), thumb->begin(), thumb->end());
  if (runtime_claims != nullptr) {
    auto digest = RuntimeClaimsDigest(*runtime_claims);
    if (!digest.ok()) return Annotate(digest.status(), "binding");
    msg.insert(msg.end(), digest->begin(), digest->end());
  }
  // GPUs first, then NVSwitches, each list in bundle order.
  for (const std::vector<Bytes>* list : {&gpu_reports, &switch_reports}) {
    for (const Bytes& report : *list) {
      Bytes d = crypto::Sha256(report);
      msg.insert(msg.end(), d.begin(), d.end());
    }
  }
  return crypto::Sha512(msg);
}

}  // namespace

absl::StatusOr<Bytes> ExpectedAttestV1ReportData(std::span<const uint8_t> nonce,
                                                 const attestation::v1::Jwk& tee_key,
                                                 const std::vector<Bytes>& gpu_reports,
                                                 const std::vector<Bytes>& switch_reports) {
  return ExpectedReportData(kBindingAttestV1, nonce, tee_key, nullptr, gpu_reports,
                            switch_reports);
}

absl::StatusOr<Bytes> ExpectedAttestV2ReportData(std::span<const uint8_t> nonce,
                                                 const attestation::v1::Jwk& tee_key,
                                                 const RuntimeClaims& runtime_claims,
                                                 const std::vector<Bytes>& gpu_reports,
                                                 const std::vector<Bytes>& switch_reports) {
  return ExpectedReportData(kBindingAttestV2, nonce, tee_key, &runtime_claims, gpu_reports,
                            switch_reports);
}

namespace {
Check Make(CheckStatus s, std::string reason, std::string detail) {
  Check c;
  c.name = "binding";
  c.status = s;
  c.reason = std::move(reason);
  c.detail = std::move(detail);
  c.component = Component::kInstanceIdentity;
  return c;
}
}  // namespace

Check CheckBinding(const attestation::v1::EvidenceBundle& bundle, std::string_view profile,
                   const std::optional<Bytes>& nonce,
                   const std::optional<Bytes>& cpu_report_data) {
  // Runtime claims are bound by attest-v2 only; under any other profile
  // nothing commits to them (the engine refuses such a bundle before this).
  if (profile != kBindingAttestV2 && !bundle.runtime_claims().empty()) {
    return Make(CheckStatus::kFail, "BINDING_RUNTIME_CLAIMS_UNBOUND",
                absl::StrCat("runtime_claims need binding attest-v2, not '", std::string(profile), "'"));
  }
  if (profile == kBindingNone) {
    return Make(CheckStatus::kNotChecked, "BINDING_NONE",
                "binding profile 'none': the evidence is not tied to a nonce or key");
  }
  if (!nonce.has_value()) {
    return Make(CheckStatus::kNotChecked, "NONCE_NOT_PROVIDED",
                "no nonce to check the report data against (attestctl verify: --nonce / "
                "--challenge, or --no-freshness to use the nonce the bundle names)");
  }
  if (!cpu_report_data.has_value()) {
    return Make(CheckStatus::kNotChecked, "BINDING_NO_VERIFIED_CPU_EVIDENCE",
                "no verified CPU report data to check the binding against");
  }
  if (cpu_report_data->size() != 64) {
    return Make(CheckStatus::kFail, "BINDING_MISMATCH", "report data is not 64 bytes");
  }
  std::span<const uint8_t> rd(*cpu_report_data);
  if (profile == kBindingNonce) {
    if (!crypto::ConstantTimeEquals(rd.first(32), *nonce)) {
      return Make(CheckStatus::kFail, "BINDING_MISMATCH",
                  absl::StrCat("report_data[0:32] = ", HexEncode(rd.first(32)),
                               ", expected the nonce ", HexEncode(*nonce)));
    }
    return Make(CheckStatus::kPass, "OK", "report_data[0:32] equals the nonce");
  }
  std::vector<Bytes> gpu_reports, switch_reports;
  if (bundle.has_nvidia()) {
    for (const auto& e : bundle.nvidia().evidence_list()) {
      gpu_reports.emplace_back(e.evidence().begin(), e.evidence().end());
    }
    for (const auto& e : bundle.nvidia().switch_evidence_list()) {
      switch_reports.emplace_back(e.evidence().begin(), e.evidence().end());
    }
  }
  const bool v2 = profile == kBindingAttestV2;
  const RuntimeClaims claims = BundleRuntimeClaims(bundle);
  if (v2) {
    if (absl::Status st = ValidateRuntimeClaims(claims); !st.ok()) {
      return Make(CheckStatus::kFail, "BINDING_RUNTIME_CLAIMS_INVALID",
                  std::string(st.message()));
    }
  }
  auto expected =
      v2 ? ExpectedAttestV2ReportData(*nonce, bundle.tee_public_key(), claims, gpu_reports,
                                      switch_reports)
         : ExpectedAttestV1ReportData(*nonce, bundle.tee_public_key(), gpu_reports,
                                      switch_reports);
  if (!expected.ok()) {
    return Make(CheckStatus::kFail, "BINDING_KEY_INVALID", std::string(expected.status().message()));
  }
  if (!crypto::ConstantTimeEquals(rd, *expected)) {
    return Make(CheckStatus::kFail, "BINDING_MISMATCH",
                absl::StrCat("report_data = ", HexEncode(rd), ", ", std::string(profile), " over ",
                             v2 ? absl::StrCat(claims.size(), " runtime claim(s), ") : "",
                             gpu_reports.size(), " GPU and ", switch_reports.size(),
                             " NVSwitch report(s) expects ", HexEncode(*expected)));
  }
  return Make(CheckStatus::kPass, "OK",
              absl::StrCat(std::string(profile), ": report data commits to the nonce, the TEE key, ",
                           v2 ? absl::StrCat(claims.size(), " runtime claim(s), ") : "",
                           gpu_reports.size(), " GPU report(s) and ", switch_reports.size(),
                           " NVSwitch report(s)"));
}

}  // namespace rp::core
