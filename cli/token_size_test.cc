// Token profiles on simulated nodes through the whole offline pipeline (as
// composite_test.cc): SEV-SNP, TDX and TDX + 8 GPUs appraised under
// deploy/policies (allow_simulated on where needed), tokens issued by the
// real TokenIssuer in the compact and the full profile and verified by the
// real VerifyToken. Asserts the compact TDX + 8 GPU token is at most 8 KiB,
// that both profiles carry the SHA-256 of the canonical result, and that the
// policies' release rules decide the same on both profiles. Prints the
// sizes (docs/token.md records them).
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "appraisal/collateral_stack.h"
#include "appraisal/engine.h"
#include "appraisal/registry_factory.h"
#include "cli/simulate.h"
#include "gtest/gtest.h"
#include "policy/appraisal.h"
#include "policy/canonical_json.h"
#include "policy/release_rules.h"
#include "policy/yaml_json.h"
#include "server/token/key_manager.h"
#include "server/token/token_issuer.h"
#include "server/token/token_verifier.h"
#include "verifier/common/clock.h"
#include "verifier/crypto/digest.h"

namespace rp {
namespace {

constexpr size_t kCompactTdx8GpuLimit = 8 * 1024;

class TokenSizeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!sim::CompositeSimulationAvailable()) return;
    dir_ = new std::string(::testing::TempDir() + "/token_size_sim_root");
    auto roots = sim::LoadOrCreateSimulationRoots(*dir_);
    ASSERT_TRUE(roots.ok()) << roots.status();
    roots_ = new sim::SimulationRoots(std::move(*roots));
  }
  static void TearDownTestSuite() {
    delete roots_;
    delete dir_;
    roots_ = nullptr;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!sim::CompositeSimulationAvailable()) GTEST_SKIP() << "built without the builders";
  }

  std::unique_ptr<appraisal::Engine> MakeEngine(absl::Time at) {
    attestation::v1::SimulationConfig sc;
    sc.set_trust_simulation_root(true);
    sc.set_dir(*dir_);
    attestation::v1::CollateralConfig cc;
    cc.set_offline(true);
    auto stack = appraisal::BuildCollateralStack(cc, roots_->CollateralDir(), at);
    EXPECT_TRUE(stack.ok()) << stack.status();
    appraisal::RegistryOptions ro;
    ro.offline = true;
    auto reg = appraisal::MakeDefaultRegistry(sc, ro);
    EXPECT_TRUE(reg.ok()) << reg.status();
    auto e = appraisal::Engine::Create(std::move(*reg), stack->source, stack->ocsp);
    EXPECT_TRUE(e.ok()) << e.status();
    return std::move(*e);
  }

  // deploy/policies/<name>.yaml with allow_simulated: true.
  static policy::LoadedPolicy DeployPolicy(const std::string& name) {
    auto text = ReadSmallFile(std::string(RP_SOURCE_DIR) + "/deploy/policies/" + name + ".yaml",
                              1024 * 1024);
    EXPECT_TRUE(text.ok()) << text.status();
    std::string t = *text;
    const std::string from = "allow_simulated: false";
    if (const size_t at = t.find(from); at != std::string::npos) {
      t.replace(at, from.size(), "allow_simulated: true");
    }
    auto p = policy::ParsePolicy(t, name + " (allow_simulated)");
    EXPECT_TRUE(p.ok()) << p.status();
    return *p;
  }

  struct Issued {
    policy::Appraisal appraisal;
    std::string result_json;  // what the Attest response carries
    std::string compact, full;
  };

  // Simulates, appraises and issues one token per profile, as
  // server/service.cc step (f) does.
  Issued Issue(sim::SimulatedTee tee, int gpus, const policy::LoadedPolicy& pol) {
    Issued out;
    const std::string nonce = ToString(crypto::RandomBytes(32));
    const absl::Time now = absl::Now();
    sim::NodeSimulationOptions o;
    o.tee = tee;
    o.gpus = gpus;
    auto ev = sim::SimulateNode(*roots_, nonce, now, o);
    EXPECT_TRUE(ev.ok()) << ev.status();
    if (!ev.ok()) return out;
    auto a = MakeEngine(now)->Run(ev->bundle, pol,
                                  appraisal::RunOptions{now, Bytes(nonce.begin(), nonce.end())});
    EXPECT_TRUE(a.ok()) << a.status();
    if (!a.ok()) return out;
    out.appraisal = *std::move(a);
    auto canonical = out.appraisal.CanonicalResultJson();
    EXPECT_TRUE(canonical.ok()) << canonical.status();
    out.result_json = *canonical;
    const policy::TokenNeeds needs = policy::ReleaseRuleTokenNeeds(pol.policy);
    for (policy::TokenProfile profile : {policy::TokenProfile::kCompact,
                                         policy::TokenProfile::kFull}) {
      policy::EarOptions opts;
      opts.profile = profile;
      opts.extra_claims = needs.device_claims;
      opts.extra_device_members = needs.device_members;
      opts.result_sha256 = HexEncode(crypto::Sha256(AsBytes(out.result_json)));
      auto jwt = issuer_->Issue(
          out.appraisal.EarClaims(&ev->bundle.tee_public_key(), issuer_->issuer(), opts));
      EXPECT_TRUE(jwt.ok()) << jwt.status();
      (profile == policy::TokenProfile::kCompact ? out.compact : out.full) = *jwt;
    }
    return out;
  }

  // What `attestctl token verify --accept warning` checks (with
  // `any_status`: signature, kid and times only).
  nlohmann::json Verify(const std::string& jwt, bool any_status = false) {
    const nlohmann::json jwks = nlohmann::json::parse(keys_->JwksJson());
    absl::StatusOr<nlohmann::json> claims;
    if (any_status) {
      claims = token::VerifyToken(jwt, jwks, clock_.Now(), absl::Seconds(5));
    } else {
      token::TokenClaimChecks checks;
      checks.issuer = issuer_->issuer();
      checks.accept_statuses = {"affirming", "warning"};
      claims = token::VerifyToken(jwt, jwks, clock_.Now(), absl::Seconds(5), checks);
    }
    EXPECT_TRUE(claims.ok()) << claims.status();
    return claims.ok() ? *claims : nlohmann::json();
  }

  void SetUpIssuer() {
    attestation::v1::TokenConfig config;  // defaults: ES256, compact
    keys_ = token::KeyManager::Create(config).value();
    issuer_ = token::TokenIssuer::Create(config, clock_, *keys_).value();
  }

  static std::string* dir_;
  static sim::SimulationRoots* roots_;
  FakeClock clock_{absl::Now()};
  std::unique_ptr<token::KeyManager> keys_;
  std::unique_ptr<token::TokenIssuer> issuer_;
};
std::string* TokenSizeTest::dir_ = nullptr;
sim::SimulationRoots* TokenSizeTest::roots_ = nullptr;

TEST_F(TokenSizeTest, CompactTdxWithEightGpusFitsInEightKiB) {
  SetUpIssuer();
  EXPECT_EQ(issuer_->profile(), "compact");
  const policy::LoadedPolicy strict = DeployPolicy("strict-production");
  struct Scenario {
    const char* name;
    sim::SimulatedTee tee;
    int gpus;
  };
  const Scenario scenarios[] = {{"SEV-SNP", sim::SimulatedTee::kSnp, 0},
                                {"TDX", sim::SimulatedTee::kTdx, 0},
                                {"TDX + 8 GPUs", sim::SimulatedTee::kTdx, 8}};
  std::printf("token sizes (bytes, ES256 JWS; policy strict-production with allow_simulated)\n");
  std::printf("%-14s %8s %8s %12s\n", "scenario", "compact", "full", "result_json");
  for (const Scenario& s : scenarios) {
    Issued t = Issue(s.tee, s.gpus, strict);
    ASSERT_FALSE(t.compact.empty());
    std::printf("%-14s %8zu %8zu %12zu\n", s.name, t.compact.size(), t.full.size(),
                t.result_json.size());
    EXPECT_LT(t.compact.size(), t.full.size()) << s.name;
    // Both verify as every token does, and say their profile.
    const nlohmann::json c = Verify(t.compact), f = Verify(t.full);
    EXPECT_EQ(c["token_profile"], "compact");
    EXPECT_EQ(f["token_profile"], "full");
    // Both carry the hash of the one full result; a relying party
    // recomputes it from the response's result_json.
    const std::string want = HexEncode(crypto::Sha256(AsBytes(t.result_json)));
    EXPECT_EQ(c["appraisal_sha256"], want);
    EXPECT_EQ(f["appraisal_sha256"], want);
    // Everything but device claims, reasons and collateral is the same.
    for (const char* k : {"ear.status", "policy", "binding", "cnf", "sub", "eat_nonce", "reasons",
                          "ear.verifier-id"}) {
      EXPECT_EQ(c.value(k, nlohmann::json()), f.value(k, nlohmann::json())) << k;
    }
    ASSERT_EQ(c["submods"].size(), static_cast<size_t>(1 + s.gpus));
    for (const auto& [dev, sub] : c["submods"].items()) {
      for (const char* k : {"ear.status", "ear.trustworthiness-vector", "ear.appraisal-policy-id",
                            "tee"}) {
        EXPECT_EQ(sub[k], f["submods"][dev][k]) << dev << " " << k;
      }
      EXPECT_FALSE(sub.contains("collateral")) << dev;
      EXPECT_TRUE(f["submods"][dev].contains("collateral")) << dev;
      // Each compact claim is the full token's claim, unchanged.
      for (const auto& [name, value] : sub["claims"].items()) {
        EXPECT_EQ(value, f["submods"][dev]["claims"][name]) << dev << " " << name;
      }
    }
    if (s.gpus == 8) {
      EXPECT_LE(t.compact.size(), kCompactTdx8GpuLimit)
          << "compact TDX + 8 GPU token: " << t.compact.size() << " bytes";
      EXPECT_EQ(c["submods"]["gpu7"]["claims"]["measurements_match"], true);
      EXPECT_EQ(c["submods"]["gpu7"]["claims"]["cc_mode"], "cc");
      EXPECT_FALSE(c["submods"]["gpu7"]["claims"].contains("ocsp"));
      EXPECT_TRUE(f["submods"]["gpu7"]["claims"].contains("ocsp"));
    }
  }
}

// The rules of the deploy policies decide the same on a compact and a full
// token: they find every claim they name in both.
TEST_F(TokenSizeTest, DeployPolicyRulesDecideTheSameOnBothProfiles) {
  SetUpIssuer();
  for (const char* name : {"strict-production", "fleet", "demo", "offline-airgapped"}) {
    const policy::LoadedPolicy pol = DeployPolicy(name);
    Issued t = Issue(sim::SimulatedTee::kTdx, 8, pol);
    ASSERT_FALSE(t.compact.empty()) << name;
    const nlohmann::json c = Verify(t.compact, true), f = Verify(t.full, true);
    const std::vector<policy::RuleResult> rc = policy::EvaluateReleaseRules(pol.policy, c);
    const std::vector<policy::RuleResult> rf = policy::EvaluateReleaseRules(pol.policy, f);
    ASSERT_EQ(rc.size(), rf.size());
    ASSERT_FALSE(rc.empty()) << name;
    for (size_t i = 0; i < rc.size(); ++i) {
      EXPECT_EQ(rc[i].allowed, rf[i].allowed) << name << " " << rc[i].name;
      EXPECT_EQ(rc[i].failed, rf[i].failed) << name << " " << rc[i].name;
    }
  }
}

}  // namespace
}  // namespace rp
