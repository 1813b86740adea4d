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

}  // namespace
}  // namespace rp::appraisal
