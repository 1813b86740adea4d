#include "policy/appraise.h"

#include <functional>

#include "gtest/gtest.h"

namespace rp::policy {
namespace {

using core::CheckStatus;
using core::Component;

// A verified-looking SNP device as the verifier would emit it.
core::DeviceResult SnpDevice() {
  core::DeviceResult d;
  d.tee = "sev-snp";
  d.name = "cpu0";
  d.claims = {{"version", 3},
              {"vmpl", 0},
              {"signing_key", "vcek"},
              {"measurement", std::string(96, 'a')},
              {"host_data", std::string(64, '0')},
              {"policy", {{"debug", false}, {"migrate_ma", false}, {"smt", true}}}};
  d.Pass("sev_snp.report_signature", Component::kHardware);
  d.Pass("sev_snp.revocation", Component::kHardware);
  return d;
}

core::Check BindingPass() {
  return core::Check{"binding", CheckStatus::kPass, "OK", "", Component::kInstanceIdentity};
}

LoadedPolicy Policy(const std::string& yaml) {
  auto p = ParsePolicy(yaml, "test");
  EXPECT_TRUE(p.ok()) << p.status();
  return *p;
}

const core::Check* Find(const AppraisedDevice& d, const std::string& name) {
  for (const auto& c : d.device.checks) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

TEST(Appraise, CleanDeviceIsAffirming) {
  Appraisal a = AppraiseAll(DefaultPolicy(), "attest-v1", {SnpDevice()}, {BindingPass()});
  EXPECT_EQ(a.verdict, Verdict::kAffirming);
  ASSERT_EQ(a.devices.size(), 1u);
  EXPECT_EQ(a.devices[0].trust_vector.at("hardware"), kTierAffirming);
  EXPECT_EQ(a.devices[0].trust_vector.at("instance-identity"), kTierAffirming);
  // Unconfigured allowlists are listed but informational.
  const core::Check* m = Find(a.devices[0], "policy.sev_snp.measurement");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->status, CheckStatus::kNotChecked);
  EXPECT_FALSE(m->affects_status);
  EXPECT_TRUE(a.reasons.empty());
}

struct FlipCase {
  const char* name;
  std::string policy;
  std::function<void(core::DeviceResult&)> flip;
  const char* reason;
};

TEST(Appraise, OneFlipRejections) {
  std::vector<FlipCase> cases = {
      {"debug forbidden", "id: p\n", [](auto& d) { d.claims["policy"]["debug"] = true; },
       "DEBUG_ENABLED"},
      {"vmpl too high", "id: p\nsev_snp: {max_vmpl: 0}\n", [](auto& d) { d.claims["vmpl"] = 1; },
       "VMPL_NOT_ALLOWED"},
      {"migration agent", "id: p\n", [](auto& d) { d.claims["policy"]["migrate_ma"] = true; },
       "MIGRATION_AGENT_NOT_ALLOWED"},
      {"smt enforced", "id: p\nsev_snp: {enforce_smt: true}\n", [](auto&) {}, "SMT_NOT_ALLOWED"},
      {"measurement", std::string("id: p\nsev_snp: {measurements: [") + std::string(96, 'b') + "]}\n",
       [](auto&) {}, "MEASUREMENT_NOT_ALLOWED"},
      {"host data", std::string("id: p\nsev_snp: {host_data: [") + std::string(64, '1') + "]}\n",
       [](auto&) {}, "HOST_DATA_NOT_ALLOWED"},
      {"version too old", "id: p\nsev_snp: {min_version: 5}\n", [](auto&) {},
       "REPORT_VERSION_TOO_OLD"},
      {"vlek forbidden", "id: p\nsev_snp: {forbid_vlek: true}\n",
       [](auto& d) { d.claims["signing_key"] = "vlek"; }, "VLEK_NOT_ALLOWED"},
      {"simulated not allowed", "id: p\n", [](auto& d) { d.simulated = true; },
       "SIMULATED_EVIDENCE_NOT_ALLOWED"},
      {"revocation required", "id: p\nsev_snp: {require_revocation_check: true}\n",
       [](auto& d) {
         d.checks[1] = core::Check{"sev_snp.revocation", CheckStatus::kNotChecked,
                                   "CRL_UNAVAILABLE", "no CRL", Component::kHardware};
       },
       "REVOCATION_NOT_CHECKED"},
  };
  for (const auto& c : cases) {
    core::DeviceResult d = SnpDevice();
    c.flip(d);
    Appraisal a = AppraiseAll(Policy(c.policy), "attest-v1", {d}, {BindingPass()});
    EXPECT_EQ(a.verdict, Verdict::kContraindicated) << c.name;
    EXPECT_NE(std::find(a.reasons.begin(), a.reasons.end(), c.reason), a.reasons.end())
        << c.name << ": reasons " << nlohmann::json(a.reasons).dump();
    // And the unflipped device passes the same policy (each row can fail).
    Appraisal ok = AppraiseAll(Policy(c.policy), "attest-v1", {SnpDevice()}, {BindingPass()});
    if (std::string(c.reason) != "SMT_NOT_ALLOWED" && std::string(c.reason) != "MEASUREMENT_NOT_ALLOWED" &&
        std::string(c.reason) != "HOST_DATA_NOT_ALLOWED" && std::string(c.reason) != "REPORT_VERSION_TOO_OLD") {
      EXPECT_EQ(ok.verdict, Verdict::kAffirming) << c.name;
    }
  }
}

TEST(Appraise, AllowedValuesPass) {
  core::DeviceResult d = SnpDevice();
  d.claims["policy"]["debug"] = true;
  d.claims["vmpl"] = 1;
  Appraisal a = AppraiseAll(
      Policy(std::string("id: p\nsev_snp: {allow_debug: true, max_vmpl: 1, measurements: [") +
             std::string(96, 'A') + "]}\n"),
      "attest-v1", {d}, {BindingPass()});
  EXPECT_EQ(a.verdict, Verdict::kAffirming) << nlohmann::json(a.reasons).dump();
}

TEST(Appraise, NotCheckedGivesWarning) {
  core::DeviceResult d = SnpDevice();
  d.checks[1] = core::Check{"sev_snp.revocation", CheckStatus::kNotChecked, "CRL_UNAVAILABLE",
                            "", Component::kHardware};
  Appraisal a = AppraiseAll(DefaultPolicy(), "attest-v1", {d}, {BindingPass()});
  EXPECT_EQ(a.verdict, Verdict::kWarning);
  EXPECT_EQ(a.devices[0].trust_vector.at("hardware"), kTierWarning);
  EXPECT_EQ(a.reasons, std::vector<std::string>{"CRL_UNAVAILABLE"});
}

TEST(Appraise, BindingRules) {
  core::Check none{"binding", CheckStatus::kNotChecked, "BINDING_NONE", "",
                   Component::kInstanceIdentity};
  // 'none' not allowed by the default policy.
  Appraisal a = AppraiseAll(DefaultPolicy(), "none", {SnpDevice()}, {none});
  EXPECT_EQ(a.verdict, Verdict::kContraindicated);
  EXPECT_NE(std::find(a.reasons.begin(), a.reasons.end(), "BINDING_PROFILE_NOT_ALLOWED"),
            a.reasons.end());
  // Allowed explicitly: still at best a warning.
  Appraisal b = AppraiseAll(Policy("id: p\nallowed_bindings: [none]\n"), "none", {SnpDevice()},
                            {none});
  EXPECT_EQ(b.verdict, Verdict::kWarning);
  // A failed binding contraindicates every device.
  core::Check bad{"binding", CheckStatus::kFail, "BINDING_MISMATCH", "",
                  Component::kInstanceIdentity};
  Appraisal c = AppraiseAll(DefaultPolicy(), "attest-v1", {SnpDevice()}, {bad});
  EXPECT_EQ(c.verdict, Verdict::kContraindicated);
  EXPECT_EQ(c.devices[0].status, Verdict::kContraindicated);
}

TEST(Appraise, SimulatedAllowedIsWarning) {
  core::DeviceResult d = SnpDevice();
  d.simulated = true;
  Appraisal a = AppraiseAll(Policy("id: dev\nallow_simulated: true\n"), "attest-v1", {d},
                            {BindingPass()});
  EXPECT_EQ(a.verdict, Verdict::kWarning);
  EXPECT_TRUE(a.simulated);
  nlohmann::json ear = a.EarClaims(nullptr, "test");
  EXPECT_NE(ear["ear.verifier-id"]["build"].get<std::string>().find("SIMULATED"),
            std::string::npos);
}

TEST(Appraise, EmptyDeviceListIsContraindicated) {
  Appraisal a = AppraiseAll(DefaultPolicy(), "attest-v1", {}, {});
  EXPECT_EQ(a.verdict, Verdict::kContraindicated);
}

TEST(Appraise, EarClaimsShape) {
  attestation::v1::Jwk jwk;
  jwk.set_kty("EC");
  jwk.set_crv("P-256");
  jwk.set_x("xx");
  jwk.set_y("yy");
  Appraisal a = AppraiseAll(DefaultPolicy(), "attest-v1", {SnpDevice()}, {BindingPass()});
  a.nonce = Bytes(32, 7);
  nlohmann::json ear = a.EarClaims(&jwk, "dev");
  EXPECT_EQ(ear["eat_profile"], "tag:github.com,2023:veraison/ear");
  EXPECT_EQ(ear["eat_nonce"], Base64UrlEncode(Bytes(32, 7)));
  EXPECT_EQ(ear["cnf"]["jwk"]["crv"], "P-256");
  EXPECT_EQ(ear["submods"]["cpu0"]["ear.status"], "affirming");
  EXPECT_EQ(ear["submods"]["cpu0"]["ear.trustworthiness-vector"]["hardware"], 2);
  EXPECT_EQ(ear["policy"]["sha256"], a.policy_sha256);
}

}  // namespace
}  // namespace rp::policy
