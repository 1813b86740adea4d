// The real TDX quotes and NVIDIA GPU reports, as bundles, through the real
// attestctl binary at the times PROVENANCE gives (tests/data/bundles/).
#include <algorithm>
#include <string>
#include <vector>

#include "cli/attestctl_test_runner.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace {

using rp::cli::testing::Attestctl;
using rp::cli::testing::CmdResult;

const std::string kData = std::string(RP_SOURCE_DIR) + "/tests/data/bundles";
// The nonce hgx_h100_4gpu_drv590.12_ppcie_evidence.json was generated for.
const std::string kPpcieNonce = "e97b23a1718095a0e9e35edca810768c70a6a5a389b705e753b197912bc11576";

struct Case {
  std::string bundle;
  std::string at;
  std::string verdict;
  std::vector<std::string> reasons;  // exactly these, in order
  std::string device;                // submod to inspect
  std::string claim;                 // claim that must have `value`
  nlohmann::json value;
  std::string policy = "";           // tests/data/policies/<name>.yaml; "" = built-in default
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.bundle; }

class RealBundles : public ::testing::TestWithParam<Case> {};

// Third-party evidence without a nonce of ours: --no-freshness, so at best
// a warning (exit 1 unless --accept warning).
TEST_P(RealBundles, VerdictReasonsAndClaims) {
  const Case& c = GetParam();
  std::string cmd = "verify --json --no-freshness --evidence " + kData + "/" + c.bundle +
                    ".json --collateral " + kData + "/offline --at " + c.at;
  if (!c.policy.empty()) {
    cmd += " --policy " + std::string(RP_SOURCE_DIR) + "/tests/data/policies/" + c.policy + ".yaml";
  }
  CmdResult r = Attestctl(cmd + " --accept warning");
  nlohmann::json got = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(got.is_discarded()) << r.out;
  EXPECT_EQ(got["verdict"], c.verdict) << got["reasons"];
  EXPECT_NE(got["verdict"], "affirming");
  EXPECT_EQ(r.exit_code, c.verdict == "contraindicated" ? 1 : 0);
  EXPECT_EQ(Attestctl(cmd).exit_code, 1) << "a warning is not accepted by default";
  EXPECT_EQ(got["reasons"], nlohmann::json(c.reasons));
  ASSERT_TRUE(got["submods"].contains(c.device)) << got["submods"].dump();
  EXPECT_EQ(got["submods"][c.device]["claims"][c.claim], c.value) << c.claim;
}

INSTANTIATE_TEST_SUITE_P(
    Vectors, RealBundles,
    ::testing::Values(
        // TDX UpToDate; offline verify has no nonce, so the binding is
        // not-checked and the verdict at best a warning.
        Case{"tdx_phala_uptodate", "2025-07-01T00:00:00Z", "warning", {"NONCE_NOT_PROVIDED"},
             "cpu0", "tcb_status", "UpToDate"},
        Case{"tdx_phala_uptodate", "2025-07-01T00:00:00Z", "warning", {"NONCE_NOT_PROVIDED"},
             "cpu0", "fmspc", "b0c06f000000"},
        Case{"tdx_phala_no_tcb_level", "2026-03-01T00:00:00Z", "contraindicated",
             {"NONCE_NOT_PROVIDED", "TCB_LEVEL_NOT_FOUND", "PREREQUISITE_FAILED",
              "TCB_STATUS_UNAVAILABLE", "REQUIRED_CHECK_NOT_PERFORMED"},
             "cpu0", "quote_version", 5},
        // No QE identity of that era exists: a failure (issue 10; it used
        // to be not-checked and the verdict a warning).
        Case{"tdx_gotdx_v5", "2026-02-15T00:00:00Z", "contraindicated",
             {"NONCE_NOT_PROVIDED", "COLLATERAL_MISSING", "QE_IDENTITY_MISSING",
              "PREREQUISITE_FAILED", "TCB_STATUS_INCOMPLETE", "TCB_STATUS_UNAVAILABLE",
              "REQUIRED_CHECK_NOT_PERFORMED"},
             "cpu0", "quote_version", 5},
        // GPU-only evidence under the default policy: nothing binds it to a
        // TEE key and OCSP was not asked: both required, so rejected.
        Case{"gpu_h100_drv545.00", "2025-01-15T00:00:00Z", "contraindicated",
             {"NONCE_NOT_PROVIDED", "BINDING_NO_CPU_EVIDENCE", "REQUIRED_CHECK_NOT_PERFORMED",
              "OCSP_NOT_CONFIGURED"},
             "gpu0", "measurements_match", true},
        // NVIDIA-signed test RIMs (offline/nvidia/rims) match the 545.00
        // report on every active index; with a policy that names the two
        // relaxations (require_cpu_evidence: false, nvidia.ocsp.soft_fail)
        // the GPU is a warning.
        Case{"gpu_h100_drv545.00", "2025-01-15T00:00:00Z", "warning",
             {"NONCE_NOT_PROVIDED", "BINDING_NO_CPU_EVIDENCE", "OCSP_NOT_CONFIGURED"}, "gpu0",
             "driver_version", "545.00", "gpu-only-offline"},
        // Later, the RIM signers have expired: the RIM chains fail (the
        // genuine golden values still compare equal), so the GPU fails.
        Case{"gpu_h100_drv545.00", "2026-11-22T00:00:00Z", "contraindicated",
             {"NONCE_NOT_PROVIDED", "BINDING_NO_CPU_EVIDENCE", "OCSP_NOT_CONFIGURED",
              "RIM_SIGNER_EXPIRED", "PREREQUISITE_FAILED", "REQUIRED_CHECK_NOT_PERFORMED"},
             "gpu0", "hwmodel", "GH100 A01 GSP BROM", "gpu-only-offline"},
        Case{"gpu_gb100_drv575.32", "2026-11-22T00:00:00Z", "contraindicated",
             {"NONCE_NOT_PROVIDED", "BINDING_NO_CPU_EVIDENCE", "OCSP_NOT_CONFIGURED",
              "RIM_NOT_FOUND", "PREREQUISITE_FAILED", "RIM_MATCH_REQUIRED",
              "REQUIRED_CHECK_NOT_PERFORMED"},
             "gpu0", "arch", "BLACKWELL", "gpu-only-offline"}),
    [](const auto& info) {
      std::string n = info.param.bundle + "_" + std::to_string(info.index);
      for (char& ch : n) {
        if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
      }
      return n;
    });

TEST(RealBundlesNegative, BadSignatureIsRejected) {
  CmdResult r = Attestctl("verify --json --no-freshness --accept warning --evidence " + kData +
                          "/gpu_h100_NEG_badsig.json --at 2026-11-22T00:00:00Z");
  nlohmann::json got = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(got.is_discarded()) << r.out;
  EXPECT_EQ(got["verdict"], "contraindicated");
  const auto& reasons = got["reasons"];
  EXPECT_NE(std::find(reasons.begin(), reasons.end(), "SIGNATURE_INVALID"), reasons.end())
      << reasons;
  // Claims decoded from a report whose signature failed never count as
  // claims: they are shown as unverified only.
  EXPECT_TRUE(got["submods"]["gpu0"]["claims"].empty());
  EXPECT_FALSE(got["submods"]["gpu0"]["unverified_claims"].empty());
  EXPECT_EQ(r.exit_code, 1);
}

TEST(RealBundlesNegative, NvidiaEvidenceListFormatIsAccepted) {
  // The 4-GPU PPCIe set as NVIDIA's tools write it: one node of 4 GPUs,
  // checked against the nonce it was generated for (given as ours; the
  // list also names it).
  CmdResult r = Attestctl("verify --json --evidence " + std::string(RP_SOURCE_DIR) +
                          "/tests/data/nvidia/evidence_json/hgx_h100_4gpu_drv590.12_ppcie_evidence.json"
                          " --at 2026-11-22T00:00:00Z --nonce " + kPpcieNonce);
  nlohmann::json got = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(got.is_discarded()) << r.out;
  for (const char* gpu : {"gpu0", "gpu1", "gpu2", "gpu3"}) {
    ASSERT_TRUE(got["submods"].contains(gpu)) << gpu;
    EXPECT_EQ(got["submods"][gpu]["claims"]["cc_mode"], "ppcie");
  }
  EXPECT_FALSE(got["submods"].contains("gpu4"));
  // With the expected nonce the GPU nonce check ran.
  EXPECT_EQ(got["reasons"].dump().find("NONCE_NOT_PROVIDED"), std::string::npos) << got["reasons"];
  for (const char* gpu : {"gpu0", "gpu1", "gpu2", "gpu3"}) {
    bool nonce_passed = false;
    for (const auto& check : got["submods"][gpu]["checks"]) {
      if (check["name"].get<std::string>().find("nonce") != std::string::npos) {
        nonce_passed = check["status"] == "pass";
      }
    }
    EXPECT_TRUE(nonce_passed) << gpu << ": " << got["submods"][gpu]["checks"].dump();
  }
}

TEST(RealBundlesNegative, NvidiaEvidenceListForAnotherNonceIsBadInput) {
  // The list names its nonce; a different expected nonce is bad input.
  std::string other = kPpcieNonce;
  other[0] = other[0] == '0' ? '1' : '0';
  CmdResult r = Attestctl("verify --json --evidence " + std::string(RP_SOURCE_DIR) +
                          "/tests/data/nvidia/evidence_json/hgx_h100_4gpu_drv590.12_ppcie_evidence.json"
                          " --at 2026-11-22T00:00:00Z --nonce " + other);
  EXPECT_EQ(r.exit_code, 2);
}

}  // namespace
