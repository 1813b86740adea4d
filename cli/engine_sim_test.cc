// The whole offline pipeline (registry → SNP verifier → binding → policy)
// in-process on simulated evidence: the binding rule and the simulation
// trust switch, each with a failing counterpart.
#include <cstdlib>

#include "cli/simulate.h"
#include "gtest/gtest.h"
#include "appraisal/engine.h"
#include "appraisal/registry_factory.h"
#include "verifier/crypto/digest.h"

namespace rp {
namespace {

class EngineSimTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(::testing::TempDir() + "/engine_sim_root");
    auto root = sim::LoadOrCreateSimulationRoot(*dir_);
    ASSERT_TRUE(root.ok()) << root.status();
    root_ = new sim::SimulationRoot(std::move(*root));
  }
  static void TearDownTestSuite() {
    delete root_;
    delete dir_;
  }

  std::unique_ptr<appraisal::Engine> MakeEngine(bool trust_sim) {
    attestation::v1::SimulationConfig sc;
    sc.set_trust_simulation_root(trust_sim);
    sc.set_dir(*dir_);
    auto reg = appraisal::MakeDefaultRegistry(sc);
    EXPECT_TRUE(reg.ok()) << reg.status();
    auto e = appraisal::Engine::Create(std::move(*reg), nullptr);
    EXPECT_TRUE(e.ok());
    return std::move(*e);
  }

  static policy::LoadedPolicy DevPolicy() {
    // No collateral source here, so no CRL for the simulation ARK: the
    // policy relaxes the revocation check by name (else it would reject).
    return *policy::ParsePolicy(
        "id: dev\nallowed_bindings: [attest-v1, nonce]\nallow_simulated: true\n"
        "sev_snp: {require_revocation_check: false}\n",
        "dev");
  }

  static std::string* dir_;
  static sim::SimulationRoot* root_;
};
std::string* EngineSimTest::dir_ = nullptr;

const core::Check& Bundle(const policy::Appraisal& a, const std::string& name) {
  for (const auto& c : a.bundle_checks) {
    if (c.name == name) return c;
  }
  static const core::Check kMissing{"(missing)", core::CheckStatus::kFail, "MISSING", "", {}};
  return kMissing;
}
sim::SimulationRoot* EngineSimTest::root_ = nullptr;

TEST_F(EngineSimTest, BoundEvidenceIsAcceptedWithSimulationWarning) {
  std::string nonce = ToString(crypto::RandomBytes(32));
  auto ev = sim::SimulateSnpEvidence(*root_, nonce, absl::Now(), {});
  ASSERT_TRUE(ev.ok()) << ev.status();
  auto engine = MakeEngine(true);
  auto a = engine->Run(ev->bundle, DevPolicy(),
                       appraisal::RunOptions{absl::Now(), Bytes(nonce.begin(), nonce.end())});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->verdict, policy::Verdict::kWarning) << a->ToJson().dump(1);
  ASSERT_EQ(a->bundle_checks.size(), 2u);
  EXPECT_EQ(Bundle(*a, "nonce").status, core::CheckStatus::kPass);
  EXPECT_EQ(Bundle(*a, "binding").status, core::CheckStatus::kPass);
  EXPECT_TRUE(a->key_bound);
  // Warning only because of the two relaxations the policy names.
  for (const auto& c : a->devices[0].device.checks) {
    if (c.status == core::CheckStatus::kNotChecked && c.affects_status) {
      EXPECT_FALSE(c.relaxed_by.empty()) << c.name;
    }
  }
  EXPECT_EQ(a->reasons, (std::vector<std::string>{"CRL_UNAVAILABLE", "SIMULATED_EVIDENCE"}));
  // Without the relaxation the revocation check is required.
  auto strict = policy::ParsePolicy(
      "id: dev2\nallowed_bindings: [attest-v1]\nallow_simulated: true\n", "dev2");
  ASSERT_TRUE(strict.ok());
  auto s = engine->Run(ev->bundle, *strict,
                       appraisal::RunOptions{absl::Now(), Bytes(nonce.begin(), nonce.end())});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->verdict, policy::Verdict::kContraindicated);
  EXPECT_NE(std::find(s->reasons.begin(), s->reasons.end(), "REQUIRED_CHECK_NOT_PERFORMED"),
            s->reasons.end());
  EXPECT_TRUE(a->simulated);
  // The default policy refuses simulated evidence.
  auto d = engine->Run(ev->bundle, policy::DefaultPolicy(),
                       appraisal::RunOptions{absl::Now(), Bytes(nonce.begin(), nonce.end())});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->verdict, policy::Verdict::kContraindicated);
}

TEST_F(EngineSimTest, OtherNonceOrKeyBreaksTheBinding) {
  std::string nonce = ToString(crypto::RandomBytes(32));
  auto ev = sim::SimulateSnpEvidence(*root_, nonce, absl::Now(), {});
  ASSERT_TRUE(ev.ok());
  auto engine = MakeEngine(true);
  Bytes other = crypto::RandomBytes(32);
  auto a = engine->Run(ev->bundle, DevPolicy(), appraisal::RunOptions{absl::Now(), other});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->verdict, policy::Verdict::kContraindicated);
  EXPECT_EQ(Bundle(*a, "binding").reason, "BINDING_MISMATCH");
  EXPECT_FALSE(a->key_bound);
  EXPECT_FALSE(a->EarClaims(&ev->bundle.tee_public_key(), "t").contains("cnf"));

  attestation::v1::EvidenceBundle swapped = ev->bundle;
  auto ev2 = sim::SimulateSnpEvidence(*root_, nonce, absl::Now(), {});
  ASSERT_TRUE(ev2.ok());
  *swapped.mutable_tee_public_key() = ev2->bundle.tee_public_key();  // attacker's key
  auto b = engine->Run(swapped, DevPolicy(),
                       appraisal::RunOptions{absl::Now(), Bytes(nonce.begin(), nonce.end())});
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(Bundle(*b, "binding").reason, "BINDING_MISMATCH");
  EXPECT_FALSE(b->EarClaims(&swapped.tee_public_key(), "t").contains("cnf"));
}

TEST_F(EngineSimTest, SimulationRootUntrustedByDefault) {
  std::string nonce = ToString(crypto::RandomBytes(32));
  auto ev = sim::SimulateSnpEvidence(*root_, nonce, absl::Now(), {});
  ASSERT_TRUE(ev.ok());
  auto engine = MakeEngine(false);
  auto a = engine->Run(ev->bundle, DevPolicy(),
                       appraisal::RunOptions{absl::Now(), Bytes(nonce.begin(), nonce.end())});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->verdict, policy::Verdict::kContraindicated);
  EXPECT_NE(std::find(a->reasons.begin(), a->reasons.end(), "CHAIN_UNTRUSTED_ROOT"),
            a->reasons.end());
}

TEST_F(EngineSimTest, DebugAndVmplAreAppraised) {
  std::string nonce = ToString(crypto::RandomBytes(32));
  sim::SnpSimulationOptions o;
  o.debug = true;
  o.vmpl = 2;
  auto ev = sim::SimulateSnpEvidence(*root_, nonce, absl::Now(), o);
  ASSERT_TRUE(ev.ok());
  auto engine = MakeEngine(true);
  auto p = *policy::ParsePolicy("id: strict\nallow_simulated: true\nsev_snp: {max_vmpl: 0}\n", "s");
  auto a = engine->Run(ev->bundle, p,
                       appraisal::RunOptions{absl::Now(), Bytes(nonce.begin(), nonce.end())});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->verdict, policy::Verdict::kContraindicated);
  for (const char* r : {"DEBUG_ENABLED", "VMPL_NOT_ALLOWED"}) {
    EXPECT_NE(std::find(a->reasons.begin(), a->reasons.end(), r), a->reasons.end()) << r;
  }
}

TEST_F(EngineSimTest, BundleMisuseIsInvalidArgument) {
  auto engine = MakeEngine(false);
  attestation::v1::EvidenceBundle empty;
  EXPECT_EQ(engine->Run(empty, DevPolicy(), {absl::Now(), std::nullopt}).status().code(),
            absl::StatusCode::kInvalidArgument);
  attestation::v1::EvidenceBundle both;
  both.mutable_sev_snp()->set_report("x");
  both.mutable_tdx()->set_quote("y");
  EXPECT_EQ(engine->Run(both, DevPolicy(), {absl::Now(), std::nullopt}).status().code(),
            absl::StatusCode::kInvalidArgument);
  // A malformed quote is a verdict, not an error.
  attestation::v1::EvidenceBundle tdx;
  tdx.mutable_tdx()->set_quote("y");
  auto garbage = engine->Run(tdx, DevPolicy(), {absl::Now(), std::nullopt});
  ASSERT_TRUE(garbage.ok()) << garbage.status();
  EXPECT_EQ(garbage->verdict, policy::Verdict::kContraindicated);
}

}  // namespace
}  // namespace rp
