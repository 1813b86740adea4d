// Issue 10 regression cases, each through the real attestctl binary over real
// vectors: what the attester leaves out, swaps or names never improves a
// verdict. Each of these was accepted (or reported a better verdict) before
// the fail-closed rules.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "cli/attestctl_test_runner.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "verifier/common/encoding.h"
#include "verifier/tdx/collateral.h"

namespace {

namespace fs = std::filesystem;
using rp::cli::testing::Attestctl;
using rp::cli::testing::CmdResult;

const std::string kRoot = RP_SOURCE_DIR;

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

class FailClosedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           absl::StrCat("fail_closed_", ::getpid(), "_",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const std::string& rel, const std::string& text) {
    const fs::path p = dir_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }

  static nlohmann::json Verify(const std::string& args, int* exit_code = nullptr) {
    CmdResult r = Attestctl("verify --json " + args);
    if (exit_code != nullptr) *exit_code = r.exit_code;
    nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << args << "\n" << r.out;
    return j;
  }

  static bool HasReason(const nlohmann::json& result, const std::string& reason) {
    const auto& r = result["reasons"];
    return std::find(r.begin(), r.end(), reason) != r.end();
  }

  static nlohmann::json Check(const nlohmann::json& result, const std::string& device,
                              const std::string& name) {
    for (const auto& c : result["submods"][device]["checks"]) {
      if (c["name"] == name) return c;
    }
    return nlohmann::json();
  }

  fs::path dir_;
};

// The issue's own example: an unsigned qe_identity in the bundle used to
// hide the server's copy, turn off the QE identity check and, with it, the
// TCB-status policy. Real phala_uptodate under a policy that does not accept
// UpToDate must stay contraindicated whatever the bundle says about the QE.
TEST_F(FailClosedTest, UnsignedBundleQeIdentityDoesNotHideTheServersCopy) {
  // The server's collateral: the real phala_uptodate collateral in the
  // individual-file offline layout (PCS bodies, issuer chains, CRLs). Before
  // issue 10 an unsigned bundle qe_identity hid the server's copy here: QE
  // identity "missing", TCB status unknown, verdict warning.
  const nlohmann::json qvl =
      nlohmann::json::parse(ReadFile(kRoot + "/tests/data/tdx/phala_uptodate/collateral.json"));
  Write("offline/intel/qe_identity.json",
        absl::StrCat("{\"enclaveIdentity\":", qvl["qe_identity"].get<std::string>(),
                     ",\"signature\":\"", qvl["qe_identity_signature"].get<std::string>(), "\"}"));
  Write("offline/intel/qe_identity.issuer_chain.pem", qvl["qe_identity_issuer_chain"]);
  Write("offline/intel/tcb_info/b0c06f000000.json",
        absl::StrCat("{\"tcbInfo\":", qvl["tcb_info"].get<std::string>(), ",\"signature\":\"",
                     qvl["tcb_info_signature"].get<std::string>(), "\"}"));
  Write("offline/intel/tcb_info/b0c06f000000.issuer_chain.pem", qvl["tcb_info_issuer_chain"]);
  for (const auto& [field, file] : {std::pair<std::string, std::string>{"root_ca_crl", "root_ca.crl"},
                                    {"pck_crl", "pck_crl_platform.der"}}) {
    auto der = rp::HexDecode(qvl[field].get<std::string>());
    ASSERT_TRUE(der.ok()) << field;
    Write("offline/intel/" + file, rp::ToString(*der));
  }
  const std::string policy =
      Write("p.yaml", "id: no-uptodate\ntdx: {accepted_tcb_statuses: [SWHardeningNeeded]}\n");
  nlohmann::json bundle =
      nlohmann::json::parse(ReadFile(kRoot + "/tests/data/bundles/tdx_phala_uptodate.json"));
  const std::string common = " --no-freshness --collateral " + (dir_ / "offline").string() +
                             " --policy " + policy + " --at 2025-07-01T00:00:00Z --evidence ";

  const nlohmann::json intact = Verify(common + Write("intact.json", bundle.dump()));
  EXPECT_EQ(intact["verdict"], "contraindicated");
  EXPECT_TRUE(HasReason(intact, "TCB_STATUS_NOT_ACCEPTED")) << intact["reasons"];

  struct Variant {
    const char* name;
    void (*edit)(nlohmann::json&);
  };
  const Variant variants[] = {
      {"only an unsigned qe_identity (the issue's example)",
       [](nlohmann::json& b) {
         b["tdx"]["collateral"] = {{"qe_identity", R"({"id":"TD_QE","version":2})"}};
       }},
      {"unsigned qe_identity",
       [](nlohmann::json& b) {
         b["tdx"]["collateral"]["qe_identity"] = R"({"id":"TD_QE","version":2})";
         b["tdx"]["collateral"].erase("qe_identity_signature");
       }},
      {"garbage qe_identity signature",
       [](nlohmann::json& b) {
         b["tdx"]["collateral"]["qe_identity_signature"] = std::string(128, '0');
       }},
      {"no bundle collateral at all", [](nlohmann::json& b) { b["tdx"].erase("collateral"); }},
  };
  for (const Variant& v : variants) {
    SCOPED_TRACE(v.name);
    nlohmann::json b = bundle;
    v.edit(b);
    const nlohmann::json got = Verify(common + Write("m.json", b.dump()));
    EXPECT_EQ(got["verdict"], "contraindicated") << got["reasons"];
    EXPECT_TRUE(HasReason(got, "TCB_STATUS_NOT_ACCEPTED")) << got["reasons"];
    EXPECT_EQ(Check(got, "cpu0", "tdx.qe_identity")["status"], "pass");
    EXPECT_EQ(got["submods"]["cpu0"]["claims"]["tcb_status"], "UpToDate");
  }
}

// Collateral rollback: the bundle carries an older (still valid) TCB info
// than the server holds: the server's newer copy is used.
TEST_F(FailClosedTest, OlderTcbInfoInTheBundleLosesToTheServersNewerCopy) {
  // Server: phala_no_tcb_level's collateral, TCB info issued 2026-02-18.
  Write("offline/intel/collateral/90c06f000000.json",
        ReadFile(kRoot + "/tests/data/tdx/phala_no_tcb_level/collateral.json"));
  // Bundle: the same platform's TCB info issued 2026-02-01 (go-tdx-guest's
  // PCS body, cut byte-exactly), same evaluation data number 18.
  auto older = rp::tdx::ExtractSignedJson(
      ReadFile(kRoot + "/tests/data/tdx/gotdx_v5/pcs_tcb_info_response.json"), "tcbInfo");
  ASSERT_TRUE(older.ok()) << older.status();
  nlohmann::json bundle =
      nlohmann::json::parse(ReadFile(kRoot + "/tests/data/bundles/tdx_phala_no_tcb_level.json"));
  bundle["tdx"]["collateral"]["tcb_info"] = older->text;
  bundle["tdx"]["collateral"]["tcb_info_signature"] = rp::HexEncode(older->signature);
  const std::string args = " --no-freshness --collateral " + (dir_ / "offline").string() +
                           " --at 2026-02-20T00:00:00Z --evidence " +
                           Write("b.json", bundle.dump());
  const nlohmann::json got = Verify(args);
  const nlohmann::json coll = Check(got, "cpu0", "tdx.tcb_info_collateral");
  EXPECT_EQ(coll["status"], "pass") << coll;
  EXPECT_NE(coll["detail"].get<std::string>().find("2026-02-18"), std::string::npos) << coll;
  bool server_copy = false;
  for (const auto& ref : got["submods"]["cpu0"]["collateral"]) {
    if (ref["kind"] == "tcb_info") {
      server_copy = ref["source"].get<std::string>().find("90c06f000000.json") != std::string::npos;
    }
  }
  EXPECT_TRUE(server_copy) << got["submods"]["cpu0"]["collateral"];
}

// The strict policy refuses Intel collateral older than its minimum TCB
// evaluation data number (17) and accepts the real phala_uptodate (17).
TEST_F(FailClosedTest, StrictPolicyPinsTheTcbEvaluationDataNumber) {
  const std::string strict = kRoot + "/deploy/policies/strict-production.yaml";
  const nlohmann::json ok =
      Verify(" --no-freshness --policy " + strict + " --collateral " + kRoot +
             "/tests/data/bundles/offline --at 2025-07-01T00:00:00Z --evidence " + kRoot +
             "/tests/data/bundles/tdx_phala_uptodate.json");
  EXPECT_EQ(Check(ok, "cpu0", "policy.tdx.tcb_evaluation_data_number")["status"], "pass");
  const std::string stricter = Write(
      "s.yaml", ReadFile(strict).replace(ReadFile(strict).find("min_tcb_evaluation_data_number: 17"),
                                         std::string("min_tcb_evaluation_data_number: 17").size(),
                                         "min_tcb_evaluation_data_number: 18"));
  const nlohmann::json old =
      Verify(" --no-freshness --policy " + stricter + " --collateral " + kRoot +
             "/tests/data/bundles/offline --at 2025-07-01T00:00:00Z --evidence " + kRoot +
             "/tests/data/bundles/tdx_phala_uptodate.json");
  EXPECT_EQ(old["verdict"], "contraindicated");
  EXPECT_TRUE(HasReason(old, "COLLATERAL_TOO_OLD")) << old["reasons"];
}

// An expired AMD CRL in an offline directory fails closed beyond the
// policy's grace; within it, it is a named warning.
TEST_F(FailClosedTest, ExpiredOfflineAmdCrlFailsBeyondTheGrace) {
  // tests/data/snp/offline/amd/Milan/crl.der: nextUpdate 2026-05-12.
  const std::string args = " --no-freshness --accept warning --collateral " + kRoot +
                           "/tests/data/snp/offline --at 2026-05-20T00:00:00Z --evidence " + kRoot +
                           "/tests/data/snp/bundles/milan_v3_oak_cb.json";
  int code = 0;
  const nlohmann::json beyond = Verify(args, &code);
  EXPECT_EQ(beyond["verdict"], "contraindicated");
  EXPECT_EQ(code, 1);
  EXPECT_EQ(Check(beyond, "cpu0", "sev_snp.revocation")["reason"], "COLLATERAL_STALE_BEYOND_GRACE");
  const std::string grace = Write("g.yaml", "id: g\ncollateral_grace_seconds: 2592000\n");
  const nlohmann::json within = Verify(args + " --policy " + grace, &code);
  EXPECT_EQ(within["verdict"], "warning") << within["reasons"];
  EXPECT_EQ(code, 0);
  EXPECT_EQ(Check(within, "cpu0", "sev_snp.collateral_freshness")["relaxed_by"],
            "collateral_grace_seconds");
}

// The policy's minimum reported TCB per product (ARCHITECTURE §7).
TEST_F(FailClosedTest, MinimumReportedTcbPerProduct) {
  const std::string args = " --no-freshness --accept warning --collateral " + kRoot +
                           "/tests/data/snp/offline --at 2025-09-01T00:00:00Z --evidence " + kRoot +
                           "/tests/data/snp/bundles/milan_v3_oak_cb.json --policy ";
  const nlohmann::json base = Verify(args + Write("a.yaml", "id: a\n"));
  const nlohmann::json tcb = base["submods"]["cpu0"]["claims"]["reported_tcb"];
  ASSERT_TRUE(tcb.is_object()) << base["submods"]["cpu0"]["claims"];
  const int microcode = tcb["microcode"].get<int>();
  const nlohmann::json at_min = Verify(
      args + Write("b.yaml", absl::StrCat("id: b\nsev_snp: {min_reported_tcb: {Milan: {microcode: ",
                                          microcode, "}}}\n")));
  EXPECT_EQ(Check(at_min, "cpu0", "policy.sev_snp.min_reported_tcb")["status"], "pass");
  const nlohmann::json above = Verify(
      args + Write("c.yaml", absl::StrCat("id: c\nsev_snp: {min_reported_tcb: {Milan: {microcode: ",
                                          microcode + 1, "}}}\n")));
  EXPECT_EQ(above["verdict"], "contraindicated");
  EXPECT_TRUE(HasReason(above, "TCB_TOO_OLD")) << above["reasons"];
  // fmc does not exist before Turin: a minimum on it rejects a Milan report.
  const nlohmann::json fmc =
      Verify(args + Write("d.yaml", "id: d\nsev_snp: {min_reported_tcb: {Milan: {fmc: 0}}}\n"));
  EXPECT_EQ(fmc["verdict"], "contraindicated");
}

// GPU-only evidence: nothing binds it to a TEE key, so no token may carry
// cnf, and the default and strict policies reject it; OCSP that could not
// be asked is required too.
TEST_F(FailClosedTest, GpuOnlyEvidenceIsRejectedByStrictAndDefaultPolicies) {
  for (const std::string policy :
       {std::string(), kRoot + "/deploy/policies/strict-production.yaml"}) {
    SCOPED_TRACE(policy);
    const nlohmann::json got =
        Verify(" --no-freshness --collateral " + kRoot +
               "/tests/data/bundles/offline --at 2025-01-15T00:00:00Z --evidence " + kRoot +
               "/tests/data/bundles/gpu_h100_drv545.00.json" +
               (policy.empty() ? "" : " --policy " + policy));
    EXPECT_EQ(got["verdict"], "contraindicated");
    EXPECT_TRUE(HasReason(got, "BINDING_NO_CPU_EVIDENCE"));
    EXPECT_TRUE(HasReason(got, "REQUIRED_CHECK_NOT_PERFORMED"));
    EXPECT_EQ(got["binding_verified"], false);
    EXPECT_EQ(Check(got, "gpu0", "nvidia.cert_ocsp")["status"], "not-checked");
    EXPECT_FALSE(Check(got, "gpu0", "nvidia.cert_ocsp").contains("relaxed_by"));
  }
}

// A nonce only the bundle names is the attester's word, not freshness.
TEST_F(FailClosedTest, BundleNonceAloneIsNotFreshness) {
  const nlohmann::json got = Verify(" --collateral " + kRoot +
                                    "/tests/data/snp/offline --at 2025-09-01T00:00:00Z --evidence " +
                                    kRoot + "/tests/data/snp/bundles/milan_v3_oak_cb.json");
  EXPECT_EQ(got["verdict"], "contraindicated");
  EXPECT_TRUE(HasReason(got, "NONCE_NOT_PROVIDED"));
  EXPECT_TRUE(HasReason(got, "REQUIRED_CHECK_NOT_PERFORMED"));
}

}  // namespace
