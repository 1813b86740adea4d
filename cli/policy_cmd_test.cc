#include "cli/policy_cmd.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "policy/appraise.h"
#include "policy/appraisal.h"
#include "verifier/common/encoding.h"

namespace rp::cli {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

const std::string kRoot = RP_SOURCE_DIR;

// A scratch directory removed at the end of the test.
class PolicyCmdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           absl::StrCat("policy_cmd_test_", ::getpid(), "_",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }

  fs::path dir_;
};

constexpr char kPolicy[] = R"yaml(id: rp-test
version: "7"
sev_snp: {require_revocation_check: false}
release_rules:
  - name: kms/model-key
    all_of:
      - {claim: /ear.status, op: in, values: [affirming, warning]}
      - {claim: /submods/cpu0/claims/vmpl, op: le, value: "0"}
      - {claim: /policy/id, op: eq, value: rp-test}
  - name: k8s/admission
    all_of:
      - {claim: /submods/gpu0/ear.status, op: eq, value: affirming}
)yaml";

// A device as the SEV-SNP verifier would emit it.
core::DeviceResult SnpDevice() {
  core::DeviceResult d;
  d.tee = "sev-snp";
  d.name = "cpu0";
  d.claims = {{"version", 3},
              {"vmpl", 0},
              {"signing_key", "vcek"},
              {"measurement", std::string(96, 'a')},
              {"policy", {{"debug", false}, {"migrate_ma", false}, {"smt", true}}}};
  d.Pass("sev_snp.report_signature", core::Component::kHardware);
  d.NotChecked("sev_snp.revocation", core::Component::kHardware, "CRL_UNAVAILABLE", "no CRL");
  d.collateral.push_back(core::CollateralRef{"cert_chain", "amd/Milan/cert_chain.pem",
                                             std::string(64, 'c'), "", "bundle"});
  d.evidence_authentic = true;
  return d;
}

policy::Appraisal SampleAppraisal(const std::string& policy_yaml) {
  auto lp = policy::ParsePolicy(policy_yaml, "test");
  EXPECT_TRUE(lp.ok()) << lp.status();
  core::Check binding{"binding", core::CheckStatus::kPass, "OK", "",
                      core::Component::kInstanceIdentity};
  policy::Appraisal a = policy::AppraiseAll(*lp, "attest-v1", {SnpDevice()}, {binding});
  a.nonce = Bytes(32, 0x5a);
  return a;
}

TEST_F(PolicyCmdTest, CheckPrintsIdentity) {
  std::ostringstream out, err;
  const std::string file = kRoot + "/deploy/policies/strict-production.yaml";
  EXPECT_EQ(RunPolicyCheck(file, out, err), kPolicyOk) << err.str();
  auto lp = policy::LoadPolicyFile(file);
  ASSERT_TRUE(lp.ok());
  EXPECT_EQ(out.str(), absl::StrCat("OK strict-production 1 sha256=", lp->sha256_hex, "\n"));
  EXPECT_THAT(out.str(), MatchesRegex("OK strict-production 1 sha256=[0-9a-f]{64}\n"));
  EXPECT_EQ(err.str(), "");
}

TEST_F(PolicyCmdTest, CheckEveryDeployPolicy) {
  for (const auto& e : fs::directory_iterator(kRoot + "/deploy/policies")) {
    if (e.path().extension() != ".yaml") continue;
    std::ostringstream out, err;
    EXPECT_EQ(RunPolicyCheck(e.path().string(), out, err), kPolicyOk) << err.str();
  }
}

TEST_F(PolicyCmdTest, CheckPrintsThePreciseError) {
  struct Case {
    const char* yaml;
    const char* error;  // after "<file>: "
  };
  const Case cases[] = {
      {"id: x\nrelease_rules:\n  - {name: r, all_of: [{claim: /a, op: gt, value: '1'}]}\n",
       "release_rules[0].all_of[0].op: 'gt' is not eq | ne | in | ge | le | matches | exists"},
      // Dotted claim paths are refused with the pointer to write.
      {"id: x\nrelease_rules:\n  - {name: r, all_of: [{claim: submods.gpu0.ear.status, op: "
       "exists}]}\n",
       "release_rules[0].all_of[0].claim: 'submods.gpu0.ear.status' is not a JSON Pointer (RFC "
       "6901); dotted paths are ambiguous and no longer accepted: write '/submods/gpu0/ear.status'"},
      {"id: x\nrelease_rules:\n  - {name: r, all_of: [{count: 'gpu*', op: ge, value: '7.5'}]}\n",
       "release_rules[0].all_of[0].value: '7.5' is not an integer 0..64 (a number of submods)"},
      {"id: x\nnvidia: {mode: full}\n", "nvidia.mode: 'full' is not cc | ppcie | any"},
      {"id: x\nrelease_rules:\n  - {name: r}\n",
       "release_rules[0]: needs at least one all_of or any_of condition (an empty rule would "
       "allow everything)"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.yaml);
    const std::string file = Write("bad.yaml", c.yaml);
    std::ostringstream out, err;
    EXPECT_EQ(RunPolicyCheck(file, out, err), kPolicyError);
    EXPECT_EQ(out.str(), "");
    EXPECT_EQ(err.str(), absl::StrCat(file, ": ", c.error, "\n"));
  }
  std::ostringstream out, err;
  EXPECT_EQ(RunPolicyCheck((dir_ / "missing.yaml").string(), out, err), kPolicyError);
  EXPECT_THAT(err.str(), HasSubstr("cannot open"));
}

TEST_F(PolicyCmdTest, ResultToTokenClaimsMatchesEarClaims) {
  policy::Appraisal a = SampleAppraisal(
      "id: rp-test\nversion: \"7\"\nsev_snp: {require_revocation_check: false}\n");
  auto converted = ResultToTokenClaims(a.ToJson());
  ASSERT_TRUE(converted.ok()) << converted.status();
  // A result has every claim: it corresponds to a full-profile token (with
  // the same appraisal_sha256).
  policy::EarOptions full;
  full.profile = policy::TokenProfile::kFull;
  nlohmann::json ear = a.EarClaims(nullptr, "test", full);
  EXPECT_EQ((*converted)["token_profile"], "full");
  EXPECT_EQ((*converted)["appraisal_sha256"].get<std::string>().size(), 64u);
  // Only the issuer knows its identity.
  ear.erase("ear.verifier-id");
  EXPECT_EQ(*converted, ear) << converted->dump(2) << "\n---\n" << ear.dump(2);
  EXPECT_EQ((*converted)["submods"]["cpu0"]["reasons"], nlohmann::json({"CRL_UNAVAILABLE"}));
  EXPECT_EQ((*converted)["submods"]["cpu0"]["collateral"][0]["kind"], "cert_chain");

  EXPECT_FALSE(ResultToTokenClaims(nlohmann::json::object()).ok());
  EXPECT_FALSE(ResultToTokenClaims({{"verdict", 1}, {"submods", nlohmann::json::object()}}).ok());
  EXPECT_FALSE(ResultToTokenClaims({{"verdict", "affirming"},
                                    {"submods", nlohmann::json::object()},
                                    {"nonce", "zz"}})
                   .ok());
}

TEST_F(PolicyCmdTest, EvalResultJson) {
  const std::string pol = Write("p.yaml", kPolicy);
  policy::Appraisal a = SampleAppraisal(kPolicy);
  const std::string result = Write("result.json", a.ToJson().dump(2));
  std::ostringstream out, err;
  // cpu0 has a warning (no CRL) and there is no gpu0: the first rule allows,
  // the second denies.
  EXPECT_EQ(RunPolicyEval(pol, result, out, err), kPolicyDenied);
  EXPECT_EQ(out.str(),
            "allowed kms/model-key\n"
            "denied  k8s/admission\n"
            "  - all_of[0]: /submods/gpu0/ear.status is missing\n"
            "2 rule(s) in rp-test@7: 1 allowed, 1 denied\n");
  EXPECT_THAT(err.str(), HasSubstr("is a verification result"));
}

// A policy that tolerates a RIM mismatch as a warning (so one bad GPU leaves
// the node a warning, not contraindicated), with a key rule in the old
// gpu0-only shape and one that quantifies over every GPU.
constexpr char kGpuPolicy[] = R"yaml(id: rp-gpus
version: "2"
sev_snp: {require_revocation_check: false}
nvidia: {allow_rim_mismatch: true}
release_rules:
  - name: kms/gpu0-only
    all_of:
      - {claim: /ear.status, op: in, values: [affirming, warning]}
      - {claim: /submods/gpu0/claims/measurements_match, op: eq, value: "true"}
      - {claim: /submods/gpu0/claims/cc_mode, op: eq, value: cc}
  - name: kms/model-key
    all_of:
      - {claim: /ear.status, op: in, values: [affirming, warning]}
      - {count: "gpu*", op: ge, value: "8"}
      - {every: "gpu*", claim: /claims/measurements_match, op: eq, value: "true"}
      - {every: "gpu*", claim: /claims/cc_mode, op: eq, value: cc}
      - {every: "gpu*", claim: /claims/driver_version, op: ge, value: "550.54.14"}
)yaml";

// A GPU as the NVIDIA verifier would emit it (authentic evidence).
core::DeviceResult GpuDevice(int index, bool measurements_match) {
  core::DeviceResult d;
  d.tee = "nvidia-gpu";
  d.name = absl::StrCat("gpu", index);
  d.claims = {{"arch", "HOPPER"},
              {"cc_mode", "cc"},
              {"device_class", "gpu"},
              {"driver_version", "550.90.07"},
              {"vbios_version", "96.00.9F.00.01"},
              {"measurements_match", measurements_match}};
  d.Pass("nvidia.report_signature", core::Component::kHardware);
  d.evidence_authentic = true;
  return d;
}

policy::Appraisal GpuNodeAppraisal(int gpus, int bad_gpu) {
  auto lp = policy::ParsePolicy(kGpuPolicy, "test");
  EXPECT_TRUE(lp.ok()) << lp.status();
  core::Check binding{"binding", core::CheckStatus::kPass, "OK", "",
                      core::Component::kInstanceIdentity};
  std::vector<core::DeviceResult> devices = {SnpDevice()};
  for (int i = 0; i < gpus; ++i) devices.push_back(GpuDevice(i, i != bad_gpu));
  policy::Appraisal a = policy::AppraiseAll(*lp, "attest-v1", devices, {binding});
  a.nonce = Bytes(32, 0x5a);
  return a;
}

// The issue's case through `attestctl policy eval` on a saved result: 8 GPUs,
// gpu0 fine, gpu5's measurements do not match. The gpu0-only rule lets the
// key out; the every-GPU rule denies and names gpu5.
TEST_F(PolicyCmdTest, EvalEightGpusOneBad) {
  const std::string pol = Write("gpus.yaml", kGpuPolicy);
  const nlohmann::json result = GpuNodeAppraisal(8, /*bad_gpu=*/5).ToJson();
  ASSERT_EQ(result["verdict"], "warning") << result.dump(2);
  const std::string file = Write("result.json", result.dump(2));
  std::ostringstream out, err;
  EXPECT_EQ(RunPolicyEval(pol, file, out, err), kPolicyDenied) << err.str();
  EXPECT_EQ(out.str(),
            "allowed kms/gpu0-only\n"
            "denied  kms/model-key\n"
            "  - all_of[2]: every gpu* (1 of 8 failed): /submods/gpu5/claims/measurements_match "
            "is 'false', not eq 'true'\n"
            "2 rule(s) in rp-gpus@2: 1 allowed, 1 denied\n");

  // All 8 good: both allow.
  const std::string good = Write("good.json", GpuNodeAppraisal(8, -1).ToJson().dump());
  std::ostringstream out2, err2;
  EXPECT_EQ(RunPolicyEval(pol, good, out2, err2), kPolicyOk) << out2.str() << err2.str();

  // 7 GPUs, all good: the count denies.
  const std::string seven = Write("seven.json", GpuNodeAppraisal(7, -1).ToJson().dump());
  std::ostringstream out3, err3;
  EXPECT_EQ(RunPolicyEval(pol, seven, out3, err3), kPolicyDenied);
  EXPECT_THAT(out3.str(), HasSubstr("denied  kms/model-key\n"
                                    "  - all_of[1]: count gpu* '7' is not ge '8'\n"));
}

TEST_F(PolicyCmdTest, EvalTokenClaimsAllAllowed) {
  const std::string pol = Write("p.yaml", kPolicy);
  nlohmann::json claims = SampleAppraisal(kPolicy).EarClaims(nullptr, "test");
  claims["submods"]["gpu0"] = {{"ear.status", "affirming"}, {"tee", "nvidia-gpu"}};
  const std::string file = Write("claims.json", claims.dump());
  std::ostringstream out, err;
  EXPECT_EQ(RunPolicyEval(pol, file, out, err), kPolicyOk) << out.str() << err.str();
  EXPECT_EQ(out.str(),
            "allowed kms/model-key\n"
            "allowed k8s/admission\n"
            "2 rule(s) in rp-test@7: 2 allowed, 0 denied\n");
  EXPECT_EQ(err.str(), "");
}

TEST_F(PolicyCmdTest, EvalUnverifiedJwt) {
  const std::string pol = Write("p.yaml", kPolicy);
  nlohmann::json claims = SampleAppraisal(kPolicy).EarClaims(nullptr, "test");
  claims["ear.status"] = "contraindicated";
  const std::string jwt =
      absl::StrCat(Base64UrlEncode(AsBytes(R"({"alg":"ES256","typ":"JWT","kid":"k"})")), ".",
                   Base64UrlEncode(AsBytes(claims.dump())), ".c2ln");
  const std::string file = Write("token.jwt", jwt + "\n");
  std::ostringstream out, err;
  EXPECT_EQ(RunPolicyEval(pol, file, out, err), kPolicyDenied);
  EXPECT_THAT(out.str(), HasSubstr("denied  kms/model-key\n  - all_of[0]: /ear.status "
                                   "'contraindicated' is not in [affirming, warning]\n"));
  EXPECT_THAT(err.str(), HasSubstr("signature was NOT verified"));
}

TEST_F(PolicyCmdTest, EvalErrors) {
  const std::string pol = Write("p.yaml", kPolicy);
  const std::string bad_pol = Write("bad.yaml", "id: x\nrelease_rules: [{name: r}]\n");
  const std::string claims = Write("claims.json", "{}");
  struct Case {
    std::string policy, input, error;
  };
  const Case cases[] = {
      {bad_pol, claims, "needs at least one all_of or any_of condition"},
      {pol, Write("text.txt", "hello"), "neither JSON nor a compact JWT"},
      {pol, Write("array.json", "[1, 2]"), "expected a JSON object, got array"},
      {pol, Write("jwt.txt", "a.!!!.c"), "JWT payload is not base64url"},
      {pol, Write("jwt2.txt", absl::StrCat("a.", Base64UrlEncode(AsBytes("[1]")), ".c")),
       "JWT payload is not a JSON object"},
      {pol, Write("res.json", R"({"verdict": "affirming", "submods": {"cpu0": 3}})"),
       "submods.cpu0 is not an object"},
      {pol, (dir_ / "missing.json").string(), "cannot open"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.input);
    std::ostringstream out, err;
    EXPECT_EQ(RunPolicyEval(c.policy, c.input, out, err), kPolicyError);
    EXPECT_THAT(err.str(), HasSubstr(c.error));
    EXPECT_EQ(out.str(), "");
  }
}

TEST_F(PolicyCmdTest, EvalWithoutRulesAllows) {
  const std::string pol = Write("p.yaml", "id: none\n");
  const std::string claims = Write("claims.json", "{}");
  std::ostringstream out, err;
  EXPECT_EQ(RunPolicyEval(pol, claims, out, err), kPolicyOk);
  EXPECT_EQ(out.str(), "0 rule(s) in none@1: 0 allowed, 0 denied\n");
}

}  // namespace
}  // namespace rp::cli
