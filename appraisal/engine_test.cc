#include "appraisal/engine.h"

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "policy/appraisal.h"
#include "verifier/core/registry.h"
#include "verifier/core/verifier.h"

namespace rp::appraisal {
namespace {

using policy::ParsePolicy;
using policy::Verdict;

// A CPU verifier that records the context it was given and, like the SEV-SNP
// verifier with a stale CRL, reports a stale-collateral warning.
class RecordingVerifier : public core::EvidenceVerifier {
 public:
  explicit RecordingVerifier(absl::Duration* grace) : grace_(grace) {}
  absl::StatusOr<std::vector<core::DeviceResult>> Verify(
      const attestation::v1::EvidenceBundle&, const core::VerifyContext& ctx) const override {
    *grace_ = ctx.collateral_grace;
    core::DeviceResult d;
    d.tee = "sev-snp";
    d.report_data = Bytes(64, 0);
    d.Pass("sev_snp.report_signature", core::Component::kHardware);
    d.evidence_authentic = true;
    d.claims = {{"vmpl", 0}, {"version", 3}, {"policy", {{"debug", false}}}};
    if (ctx.collateral_grace > absl::ZeroDuration()) {
      d.NotChecked("sev_snp.collateral_freshness", core::Component::kHardware,
                   "STALE_COLLATERAL", "amd/Milan/crl.der");
    }
    return std::vector<core::DeviceResult>{std::move(d)};
  }

 private:
  absl::Duration* grace_;
};

TEST(PolicyEngine, CollateralGraceReachesTheVerifyContext) {
  absl::Duration seen = absl::InfiniteDuration();
  auto registry = std::make_unique<core::Registry>();
  ASSERT_TRUE(registry
                  ->Register(core::TeeType::kSevSnp,
                             std::make_unique<RecordingVerifier>(&seen))
                  .ok());
  auto engine = Engine::Create(std::move(registry), nullptr);
  ASSERT_TRUE(engine.ok()) << engine.status();
  attestation::v1::EvidenceBundle bundle;
  bundle.mutable_sev_snp()->set_report("r");
  bundle.set_binding("none");
  RunOptions options;
  options.at = absl::FromUnixSeconds(1756684800);
  options.expected_nonce = Bytes(32, 1);

  auto p = ParsePolicy("id: x\nallowed_bindings: [none]\ncollateral_grace_seconds: 3600\n",
                       "p.yaml");
  ASSERT_TRUE(p.ok()) << p.status();
  auto a = (*engine)->Run(bundle, *p, options);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(seen, absl::Hours(1));
  EXPECT_EQ(a->verdict, Verdict::kWarning);
  EXPECT_NE(std::find(a->reasons.begin(), a->reasons.end(), "STALE_COLLATERAL"),
            a->reasons.end());

  // The default policy: no grace (fail closed).
  auto d = ParsePolicy("id: y\nallowed_bindings: [none]\n", "d.yaml");
  ASSERT_TRUE(d.ok());
  a = (*engine)->Run(bundle, *d, options);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(seen, absl::ZeroDuration());
  EXPECT_EQ(std::find(a->reasons.begin(), a->reasons.end(), "STALE_COLLATERAL"),
            a->reasons.end());
}

// A CPU verifier whose report data is fixed: the binding is checked by the
// engine against whichever nonce it trusts.
class FixedReportDataVerifier : public core::EvidenceVerifier {
 public:
  explicit FixedReportDataVerifier(Bytes rd) : rd_(std::move(rd)) {}
  absl::StatusOr<std::vector<core::DeviceResult>> Verify(
      const attestation::v1::EvidenceBundle&, const core::VerifyContext&) const override {
    core::DeviceResult d;
    d.tee = "sev-snp";
    d.report_data = rd_;
    d.evidence_authentic = true;
    d.claims = {{"vmpl", 0}, {"version", 3}, {"policy", {{"debug", false}}}};
    d.Pass("sev_snp.report_signature", core::Component::kHardware);
    return std::vector<core::DeviceResult>{std::move(d)};
  }

 private:
  Bytes rd_;
};

TEST(PolicyEngine, OnlyTheRelyingPartysNonceIsFresh) {
  const Bytes bundle_nonce(32, 0x42);
  attestation::v1::EvidenceBundle bundle;
  bundle.mutable_sev_snp()->set_report("r");
  bundle.set_binding("nonce");
  bundle.set_nonce(HexEncode(bundle_nonce));
  Bytes rd = bundle_nonce;
  rd.resize(64, 0);
  auto registry = std::make_unique<core::Registry>();
  ASSERT_TRUE(registry
                  ->Register(core::TeeType::kSevSnp,
                             std::make_unique<FixedReportDataVerifier>(rd))
                  .ok());
  auto engine = Engine::Create(std::move(registry), nullptr);
  ASSERT_TRUE(engine.ok());
  auto p = ParsePolicy("id: x\nallowed_bindings: [nonce]\n", "p.yaml");
  ASSERT_TRUE(p.ok()) << p.status();
  auto check = [](const policy::Appraisal& a, const std::string& name) {
    for (const auto& c : a.bundle_checks) {
      if (c.name == name) return c;
    }
    return core::Check{"(none)", core::CheckStatus::kFail, "", "", {}};
  };

  // The bundle names a nonce, nobody issued it: not fresh, rejected.
  RunOptions options;
  options.at = absl::FromUnixSeconds(1756684800);
  auto a = (*engine)->Run(bundle, *p, options);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->verdict, Verdict::kContraindicated);
  EXPECT_EQ(check(*a, "nonce").reason, "NONCE_NOT_PROVIDED");
  EXPECT_EQ(check(*a, "binding").reason, "NONCE_NOT_PROVIDED");
  EXPECT_FALSE(a->nonce.has_value());

  // --no-freshness: the binding is checked against the bundle's nonce, the
  // freshness is waived by the caller: at best a warning.
  options.allow_no_freshness = true;
  auto b = (*engine)->Run(bundle, *p, options);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->verdict, Verdict::kWarning) << b->ToJson().dump(1);
  EXPECT_EQ(check(*b, "binding").status, core::CheckStatus::kPass);
  EXPECT_EQ(check(*b, "nonce").relaxed_by.empty(), false);

  // Our nonce: affirming. Another nonce than the bundle names: bad request.
  options.allow_no_freshness = false;
  options.expected_nonce = bundle_nonce;
  auto c = (*engine)->Run(bundle, *p, options);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->verdict, Verdict::kAffirming) << c->ToJson().dump(1);
  options.expected_nonce = Bytes(32, 0x43);
  EXPECT_EQ((*engine)->Run(bundle, *p, options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace rp::appraisal
