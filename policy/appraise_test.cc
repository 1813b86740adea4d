#include "policy/appraise.h"

#include <functional>

#include "gtest/gtest.h"
#include "verifier/common/encoding.h"
#include "verifier/crypto/digest.h"

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
  d.claims["product"] = "Genoa";
  d.claims["reported_tcb"] = {{"bootloader", 9}, {"tee", 0}, {"snp", 23}, {"microcode", 72}};
  d.Pass("sev_snp.report_signature", Component::kHardware);
  d.Pass("sev_snp.revocation", Component::kHardware);
  d.evidence_authentic = true;
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
       "REQUIRED_CHECK_NOT_PERFORMED"},
      {"revocation required by default", "id: p\n",
       [](auto& d) {
         d.checks[1] = core::Check{"sev_snp.revocation", CheckStatus::kNotChecked,
                                   "CRL_UNAVAILABLE", "no CRL", Component::kHardware};
       },
       "REQUIRED_CHECK_NOT_PERFORMED"},
      {"not authentic", "id: p\n", [](auto& d) { d.evidence_authentic = false; },
       "EVIDENCE_NOT_AUTHENTIC"},
      {"claims missing", "id: p\n", [](auto& d) { d.claims.erase("vmpl"); },
       "CLAIMS_UNAVAILABLE"},
      {"reported tcb too old", "id: p\nsev_snp: {min_reported_tcb: {Genoa: {microcode: 73}}}\n",
       [](auto&) {}, "TCB_TOO_OLD"},
      {"reported tcb component missing",
       "id: p\nsev_snp: {min_reported_tcb: {Genoa: {fmc: 0}}}\n", [](auto&) {}, "TCB_TOO_OLD"},
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
        std::string(c.reason) != "HOST_DATA_NOT_ALLOWED" && std::string(c.reason) != "REPORT_VERSION_TOO_OLD" &&
        std::string(c.reason) != "TCB_TOO_OLD") {
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

TEST(Appraise, NotCheckedRejectsUnlessThePolicyRelaxesItByName) {
  core::DeviceResult d = SnpDevice();
  d.checks[1] = core::Check{"sev_snp.revocation", CheckStatus::kNotChecked, "CRL_UNAVAILABLE",
                            "", Component::kHardware};
  // Default: the revocation check is required.
  Appraisal a = AppraiseAll(DefaultPolicy(), "attest-v1", {d}, {BindingPass()});
  EXPECT_EQ(a.verdict, Verdict::kContraindicated);
  EXPECT_EQ(a.devices[0].trust_vector.at("hardware"), kTierContraindicated);
  EXPECT_EQ(a.reasons,
            (std::vector<std::string>{"CRL_UNAVAILABLE", "REQUIRED_CHECK_NOT_PERFORMED"}));
  const core::Check* req = Find(a.devices[0], "policy.required_checks");
  ASSERT_NE(req, nullptr);
  EXPECT_NE(req->detail.find("sev_snp.revocation (CRL_UNAVAILABLE)"), std::string::npos);
  // Relaxed by its named knob: a warning that says which knob.
  Appraisal b = AppraiseAll(Policy("id: p\nsev_snp: {require_revocation_check: false}\n"),
                            "attest-v1", {d}, {BindingPass()});
  EXPECT_EQ(b.verdict, Verdict::kWarning);
  EXPECT_EQ(b.devices[0].trust_vector.at("hardware"), kTierWarning);
  EXPECT_EQ(b.reasons, std::vector<std::string>{"CRL_UNAVAILABLE"});
  EXPECT_EQ(Find(b.devices[0], "sev_snp.revocation")->relaxed_by,
            "sev_snp.require_revocation_check: false");
  // By optional_checks, exact or prefix.
  for (const char* pattern : {"sev_snp.revocation", "sev_snp.*"}) {
    Appraisal c = AppraiseAll(
        Policy(std::string("id: p\noptional_checks: [") + pattern + "]\n"), "attest-v1", {d},
        {BindingPass()});
    EXPECT_EQ(c.verdict, Verdict::kWarning) << pattern;
  }
  // Another knob or a near-miss name relaxes nothing.
  for (const char* yaml : {"id: p\noptional_checks: [sev_snp.revocatio]\n",
                           "id: p\noptional_checks: [sev_snp.revocation.*]\n",
                           "id: p\ntdx: {require_revocation_check: false}\n",
                           "id: p\ncollateral_grace_seconds: 3600\n"}) {
    Appraisal c = AppraiseAll(Policy(yaml), "attest-v1", {d}, {BindingPass()});
    EXPECT_EQ(c.verdict, Verdict::kContraindicated) << yaml;
  }
}

TEST(Appraise, VerifiersCannotRelaxOrGoInformational) {
  core::DeviceResult d = SnpDevice();
  core::Check& c = d.NotChecked("sev_snp.revocation", Component::kHardware, "CRL_UNAVAILABLE", "");
  c.relaxed_by = "a verifier's own idea";
  c.affects_status = false;
  d.checks.erase(d.checks.begin() + 1);  // the passing revocation check
  Appraisal a = AppraiseAll(DefaultPolicy(), "attest-v1", {d}, {BindingPass()});
  EXPECT_EQ(a.verdict, Verdict::kContraindicated);
  EXPECT_TRUE(Find(a.devices[0], "sev_snp.revocation")->relaxed_by.empty());
  EXPECT_TRUE(Find(a.devices[0], "sev_snp.revocation")->affects_status);
  // The named informational verifier checks stay informational.
  core::DeviceResult g = SnpDevice();
  g.NotChecked("nvidia.fwid", Component::kExecutables, "FWID_NOT_REPORTED", "")
      .affects_status = false;
  Appraisal b = AppraiseAll(DefaultPolicy(), "attest-v1", {g}, {BindingPass()});
  EXPECT_EQ(b.verdict, Verdict::kAffirming) << nlohmann::json(b.reasons).dump();
}

TEST(Appraise, NonAuthenticEvidenceIsNeitherAppraisedNorInTheToken) {
  core::DeviceResult d = SnpDevice();
  d.evidence_authentic = false;
  d.claims["measurement"] = std::string(96, 'f');  // forged, would match the allowlist
  Appraisal a = AppraiseAll(
      Policy(std::string("id: p\nsev_snp: {measurements: [") + std::string(96, 'f') + "]}\n"),
      "attest-v1", {d}, {BindingPass()});
  EXPECT_EQ(a.verdict, Verdict::kContraindicated);
  EXPECT_EQ(Find(a.devices[0], "policy.sev_snp.measurement"), nullptr);
  nlohmann::json ear = a.EarClaims(nullptr, "t");
  EXPECT_TRUE(ear["submods"]["cpu0"]["claims"].empty());
  EXPECT_EQ(ear["submods"]["cpu0"]["claims-omitted"], "evidence-not-authentic");
  nlohmann::json result = a.ToJson();
  EXPECT_TRUE(result["submods"]["cpu0"]["claims"].empty());
  EXPECT_EQ(result["submods"]["cpu0"]["unverified_claims"]["measurement"], std::string(96, 'f'));
}

TEST(Appraise, CnfAndBindingOnlyWhenTheKeyIsBound) {
  attestation::v1::Jwk jwk;
  jwk.set_kty("EC");
  jwk.set_crv("P-256");
  jwk.set_x("xx");
  jwk.set_y("yy");
  struct Row {
    const char* profile;
    core::Check binding;
    bool cnf;
  };
  const Row rows[] = {
      {"attest-v1", BindingPass(), true},
      {"nonce", BindingPass(), false},  // report data = nonce: the key is not bound
      {"attest-v1",
       {"binding", CheckStatus::kFail, "BINDING_MISMATCH", "", Component::kInstanceIdentity},
       false},
      {"attest-v1",
       {"binding", CheckStatus::kNotChecked, "NONCE_NOT_PROVIDED", "",
        Component::kInstanceIdentity},
       false},
      {"attest-v1",
       {"binding", CheckStatus::kNotChecked, "BINDING_NO_CPU_EVIDENCE", "",
        Component::kInstanceIdentity},
       false},
  };
  // Members outside the key type's thumbprint were never bound: dropped.
  {
    attestation::v1::Jwk extra = jwk;
    extra.set_n("attacker-n");
    extra.set_e("AQAB");
    Appraisal a = AppraiseAll(DefaultPolicy(), "attest-v1", {SnpDevice()}, {BindingPass()});
    nlohmann::json cnf = a.EarClaims(&extra, "t")["cnf"]["jwk"];
    // Plus `alg`, which the verifier sets from kty (not a thumbprint member).
    EXPECT_EQ(cnf, (nlohmann::json{{"kty", "EC"},
                                   {"crv", "P-256"},
                                   {"x", "xx"},
                                   {"y", "yy"},
                                   {"alg", "ECDH-ES+A256KW"}}));
  }
  for (const Row& r : rows) {
    Appraisal a = AppraiseAll(Policy("id: p\nallowed_bindings: [attest-v1, nonce]\n"),
                              r.profile, {SnpDevice()}, {r.binding});
    nlohmann::json ear = a.EarClaims(&jwk, "t");
    EXPECT_EQ(ear.contains("cnf"), r.cnf) << r.profile << " " << r.binding.reason;
    EXPECT_EQ(ear.contains("sub"), r.cnf) << r.profile << " " << r.binding.reason;
    EXPECT_EQ(ear.contains("binding"), r.binding.status == CheckStatus::kPass) << r.profile;
  }
}

// Key-release gates (docs/key-release.md): cnf.jwk.alg says how to wrap to
// the key, decided by kty whatever alg the bundle's JWK names; sub is
// "tee:" + the RFC 7638 thumbprint (hashes computed independently).
TEST(Appraise, CnfAlgAndSubForKeyReleaseGates) {
  Appraisal a = AppraiseAll(DefaultPolicy(), "attest-v1", {SnpDevice()}, {BindingPass()});
  attestation::v1::Jwk ec;
  ec.set_kty("EC");
  ec.set_crv("P-256");
  ec.set_x("xx");
  ec.set_y("yy");
  ec.set_alg("RSA1_5");  // the attester's choice: ignored
  nlohmann::json ear = a.EarClaims(&ec, "t");
  EXPECT_EQ(ear["cnf"]["jwk"]["alg"], "ECDH-ES+A256KW");
  // sha256('{"crv":"P-256","kty":"EC","x":"xx","y":"yy"}'), base64url.
  EXPECT_EQ(ear["sub"], "tee:SEi9d4cBshuN6b_P6QJwjxHR1T8z7LazAFlYcaYHfcg");

  attestation::v1::Jwk rsa;
  rsa.set_kty("RSA");
  rsa.set_n("nn");
  rsa.set_e("AQAB");
  rsa.set_alg("RSA-OAEP");  // SHA-1 OAEP: ignored too
  ear = a.EarClaims(&rsa, "t");
  EXPECT_EQ(ear["cnf"]["jwk"],
            (nlohmann::json{{"kty", "RSA"}, {"n", "nn"}, {"e", "AQAB"}, {"alg", "RSA-OAEP-256"}}));
  // sha256('{"e":"AQAB","kty":"RSA","n":"nn"}'), base64url.
  EXPECT_EQ(ear["sub"], "tee:e88UMwkuOE5gKawYftdfBL1CmD7xJVh0tK_mzTnU_cc");

  // A key type without a wrapping algorithm here (OKP) gets neither.
  attestation::v1::Jwk okp;
  okp.set_kty("OKP");
  okp.set_crv("X25519");
  okp.set_x("xx");
  ear = a.EarClaims(&okp, "t");
  EXPECT_FALSE(ear.contains("cnf"));
  EXPECT_FALSE(ear.contains("sub"));
  // No key at all: neither.
  ear = a.EarClaims(nullptr, "t");
  EXPECT_FALSE(ear.contains("cnf"));
  EXPECT_FALSE(ear.contains("sub"));
}

TEST(Appraise, GpuOnlyEvidenceNeedsThePolicysConsent) {
  core::DeviceResult g;
  g.tee = "nvidia-gpu";
  g.name = "gpu0";
  g.evidence_authentic = true;
  g.claims = {{"cc_mode", "cc"}, {"measurements_match", true}};
  g.Pass("nvidia.report_signature", Component::kHardware);
  core::Check no_cpu{"binding", CheckStatus::kNotChecked, "BINDING_NO_CPU_EVIDENCE", "",
                     Component::kInstanceIdentity};
  Appraisal a = AppraiseAll(DefaultPolicy(), "attest-v1", {g}, {no_cpu});
  EXPECT_EQ(a.verdict, Verdict::kContraindicated);
  Appraisal b =
      AppraiseAll(Policy("id: p\nrequire_cpu_evidence: false\n"), "attest-v1", {g}, {no_cpu});
  EXPECT_EQ(b.verdict, Verdict::kWarning) << nlohmann::json(b.reasons).dump();
  EXPECT_EQ(b.bundle_checks[0].relaxed_by, "require_cpu_evidence: false");
}

TEST(Appraise, FreshnessIsWaivedOnlyByTheCaller) {
  core::Check no_nonce{"nonce", CheckStatus::kNotChecked, "NONCE_NOT_PROVIDED", "",
                       Component::kInstanceIdentity};
  Appraisal a = AppraiseAll(DefaultPolicy(), "attest-v1", {SnpDevice()}, {no_nonce, BindingPass()});
  EXPECT_EQ(a.verdict, Verdict::kContraindicated);
  // No policy document can waive it: optional_checks never covers the
  // freshness / binding checks (they have their own knobs), even by prefix.
  auto p = ParsePolicy("id: p\noptional_checks: [nvidia.*]\n", "t");
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(ParsePolicy("id: p\noptional_checks: [nonce]\n", "t").ok());
  EXPECT_FALSE(ParsePolicy("id: p\noptional_checks: [binding]\n", "t").ok());
  EXPECT_FALSE(ParsePolicy("id: p\noptional_checks: [policy.*]\n", "t").ok());
  core::DeviceResult d = SnpDevice();
  d.NotChecked("nvidia.nonce", Component::kInstanceIdentity, "NONCE_NOT_PROVIDED", "");
  Appraisal c = AppraiseAll(*p, "attest-v1", {d}, {BindingPass()});
  EXPECT_EQ(c.verdict, Verdict::kContraindicated);
  // Only the caller of an offline check can (attestctl --no-freshness).
  RelaxationContext offline;
  offline.allow_no_freshness = true;
  Appraisal b = AppraiseAll(DefaultPolicy(), "attest-v1", {SnpDevice()}, {no_nonce, BindingPass()},
                            offline);
  EXPECT_EQ(b.verdict, Verdict::kWarning);
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

// ---- Token profiles (docs/token.md#profiles) ----

TEST(TokenProfile, CompactKeepsKeyClaimsAndDropsTheRest) {
  core::DeviceResult d = SnpDevice();
  d.claims["chip_id"] = std::string(128, 'c');
  d.claims["report_data"] = std::string(128, 'd');
  d.collateral.push_back({"vcek", "amd/vcek/x.der", std::string(64, 'e'), "", "bundle"});
  d.Fail("sev_snp.extra", Component::kHardware, "SOME_REASON", "");
  Appraisal a = AppraiseAll(DefaultPolicy(), "attest-v1", {d}, {BindingPass()});
  const nlohmann::json compact = a.EarClaims(nullptr, "t");  // the default profile
  EXPECT_EQ(compact["token_profile"], "compact");
  const nlohmann::json& cpu = compact["submods"]["cpu0"];
  for (const char* k : {"measurement", "host_data", "vmpl", "policy", "reported_tcb", "product"}) {
    EXPECT_EQ(cpu["claims"][k], d.claims[k]) << k;
  }
  EXPECT_FALSE(cpu["claims"].contains("chip_id"));
  EXPECT_FALSE(cpu["claims"].contains("report_data"));
  EXPECT_FALSE(cpu["claims"].contains("signing_key"));
  EXPECT_FALSE(cpu.contains("collateral"));
  EXPECT_FALSE(cpu.contains("reasons"));
  EXPECT_EQ(cpu["ear.status"], "contraindicated");
  // The bundle-level reasons still list every device's reasons.
  EXPECT_EQ(compact["reasons"], nlohmann::json({"SOME_REASON"}));

  EarOptions full;
  full.profile = TokenProfile::kFull;
  const nlohmann::json f = a.EarClaims(nullptr, "t", full);
  EXPECT_EQ(f["token_profile"], "full");
  EXPECT_EQ(f["submods"]["cpu0"]["claims"], d.claims);
  EXPECT_EQ(f["submods"]["cpu0"]["reasons"], nlohmann::json({"SOME_REASON"}));
  EXPECT_EQ(f["submods"]["cpu0"]["collateral"][0]["kind"], "vcek");

  // What a policy's release rules name is kept too.
  EarOptions extra;
  extra.extra_claims = {"chip_id", "not_a_claim"};
  extra.extra_device_members = {"collateral"};
  const nlohmann::json e = a.EarClaims(nullptr, "t", extra);
  EXPECT_EQ(e["submods"]["cpu0"]["claims"]["chip_id"], d.claims["chip_id"]);
  EXPECT_FALSE(e["submods"]["cpu0"]["claims"].contains("not_a_claim"));
  EXPECT_FALSE(e["submods"]["cpu0"]["claims"].contains("report_data"));
  EXPECT_EQ(e["submods"]["cpu0"]["collateral"], f["submods"]["cpu0"]["collateral"]);
  EXPECT_FALSE(e["submods"]["cpu0"].contains("reasons"));
}

TEST(TokenProfile, BothProfilesCarryTheHashOfTheCanonicalResult) {
  Appraisal a = AppraiseAll(DefaultPolicy(), "attest-v1", {SnpDevice()}, {BindingPass()});
  a.nonce = Bytes(32, 9);
  absl::StatusOr<std::string> result = a.CanonicalResultJson();
  ASSERT_TRUE(result.ok()) << result.status();
  // The canonical form is the result JSON itself, compact and sorted.
  EXPECT_EQ(nlohmann::json::parse(*result), a.ToJson());
  EXPECT_EQ(*result, a.ToJson().dump());  // ASCII names: nlohmann's order is JCS order
  const std::string want = HexEncode(crypto::Sha256(AsBytes(*result)));
  EarOptions full;
  full.profile = TokenProfile::kFull;
  EXPECT_EQ(a.EarClaims(nullptr, "t")["appraisal_sha256"], want);
  EXPECT_EQ(a.EarClaims(nullptr, "t", full)["appraisal_sha256"], want);
  // A different result, a different hash.
  Appraisal b = a;
  b.devices[0].device.claims["vmpl"] = 1;
  EXPECT_NE(b.EarClaims(nullptr, "t")["appraisal_sha256"], want);
  // A precomputed hash (the server's) is used as given.
  EarOptions given;
  given.result_sha256 = std::string(64, '0');
  EXPECT_EQ(a.EarClaims(nullptr, "t", given)["appraisal_sha256"], std::string(64, '0'));
}

TEST(TokenProfile, NonAuthenticEvidenceHasNoClaimsInEitherProfile) {
  core::DeviceResult d = SnpDevice();
  d.evidence_authentic = false;
  Appraisal a = AppraiseAll(DefaultPolicy(), "attest-v1", {d}, {BindingPass()});
  EarOptions full;
  full.profile = TokenProfile::kFull;
  EarOptions compact;
  compact.extra_claims = {"measurement"};
  for (const nlohmann::json& t : {a.EarClaims(nullptr, "t", compact), a.EarClaims(nullptr, "t", full)}) {
    EXPECT_TRUE(t["submods"]["cpu0"]["claims"].empty());
    EXPECT_EQ(t["submods"]["cpu0"]["claims-omitted"], "evidence-not-authentic");
  }
}

TEST(TokenProfile, ParseAndPolicySetting) {
  EXPECT_EQ(ParseTokenProfile("compact", "f").value(), TokenProfile::kCompact);
  EXPECT_EQ(ParseTokenProfile("full", "f").value(), TokenProfile::kFull);
  for (const char* bad : {"", "Full", "minimal", "compact "}) {
    absl::StatusOr<TokenProfile> p = ParseTokenProfile(bad, "token.profile");
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(p.status().message().find("token.profile"), std::string_view::npos);
  }
  EXPECT_EQ(Policy("id: p\ntoken_profile: full\n").policy.token_profile(), "full");
  EXPECT_EQ(Policy("id: p\ntoken_profile: compact\n").policy.token_profile(), "compact");
  absl::StatusOr<LoadedPolicy> bad = ParsePolicy("id: p\ntoken_profile: tiny\n", "pol.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "pol.yaml: token_profile: 'tiny' is not compact | full");
}

}  // namespace
}  // namespace rp::policy
