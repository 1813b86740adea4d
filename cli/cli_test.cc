// Runs the real `attestctl verify --json` over every real SEV-SNP vector
// bundle and checks verdict, exit code, reasons and claims against the
// sample's expected.json (generated independently of this code).
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "cli/attestctl_test_runner.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace {

const std::string kRoot = RP_SOURCE_DIR;

using rp::cli::testing::Attestctl;
using rp::cli::testing::CmdResult;

nlohmann::json ReadJson(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return nlohmann::json::parse(ss.str());
}

void ExpectTcb(const nlohmann::json& exp, const nlohmann::json& got, const std::string& what) {
  ASSERT_TRUE(got.is_object()) << what;
  EXPECT_EQ(got.value("bootloader", -1), exp["bl"].get<int>()) << what;
  EXPECT_EQ(got.value("tee", -1), exp["tee"].get<int>()) << what;
  EXPECT_EQ(got.value("snp", -1), exp["snp"].get<int>()) << what;
  EXPECT_EQ(got.value("microcode", -1), exp["ucode"].get<int>()) << what;
  EXPECT_EQ(got.value("raw", ""), exp["raw"].get<std::string>()) << what;
  if (exp.contains("fmc")) {
    EXPECT_EQ(got.value("fmc", -1), exp["fmc"].get<int>()) << what;
  }
}

// Every field of expected.json that has a claim of the same meaning.
void ExpectClaims(const nlohmann::json& exp, const nlohmann::json& claims, const std::string& name) {
  SCOPED_TRACE(name);
  EXPECT_EQ(claims.value("product", ""), exp["product_line"].get<std::string>());
  EXPECT_EQ(claims.value("version", -1), exp["version"].get<int>());
  EXPECT_EQ(claims.value("vmpl", -1), exp["vmpl"].get<int>());
  EXPECT_EQ(claims.value("guest_svn", -1), exp["guest_svn"].get<int>());
  for (const char* k : {"report_data", "measurement", "host_data", "id_key_digest",
                        "author_key_digest", "report_id", "report_id_ma", "chip_id",
                        "current_version", "committed_version"}) {
    EXPECT_EQ(claims.value(k, std::string("<missing>")), exp[k].get<std::string>()) << k;
  }
  std::string sk = exp["signer_info"]["signing_key"].get<std::string>();
  EXPECT_EQ(claims.value("signing_key", ""), sk == "VCEK" ? "vcek" : "vlek");
  ExpectTcb(exp["reported_tcb"], claims["reported_tcb"], "reported_tcb");
  ExpectTcb(exp["current_tcb"], claims["current_tcb"], "current_tcb");
  ExpectTcb(exp["committed_tcb"], claims["committed_tcb"], "committed_tcb");
  ExpectTcb(exp["launch_tcb"], claims["launch_tcb"], "launch_tcb");
  for (const auto& [k, v] : exp["policy_decoded"].items()) {
    ASSERT_TRUE(claims["policy"].contains(k)) << "policy." << k;
    EXPECT_EQ(claims["policy"][k], v) << "policy." << k;
  }
  if (exp["cpuid_fam_mod_step"].is_array()) {
    EXPECT_EQ(claims["cpuid"].value("family", -1), exp["cpuid_fam_mod_step"][0].get<int>());
    EXPECT_EQ(claims["cpuid"].value("model", -1), exp["cpuid_fam_mod_step"][1].get<int>());
    EXPECT_EQ(claims["cpuid"].value("stepping", -1), exp["cpuid_fam_mod_step"][2].get<int>());
  }
}

TEST(AttestctlVerify, RealSnpVectorsGetTheirVerdictAndClaims) {
  nlohmann::json table = ReadJson(kRoot + "/tests/data/snp/bundles/expected_verdicts.json");
  int checked = 0;
  for (const auto& [name, want] : table.items()) {
    if (name[0] == '_') continue;
    SCOPED_TRACE(name);
    CmdResult r = Attestctl("verify --json --evidence " + kRoot + "/tests/data/snp/bundles/" + name +
                      ".json --collateral " + kRoot + "/tests/data/snp/offline --at " +
                      want["at"].get<std::string>());
    nlohmann::json got = nlohmann::json::parse(r.out, nullptr, false);
    ASSERT_FALSE(got.is_discarded()) << r.out;
    const std::string verdict = want["verdict"];
    EXPECT_EQ(got["verdict"], verdict) << got["reasons"].dump();
    EXPECT_EQ(r.exit_code, verdict == "contraindicated" ? 1 : 0);
    for (const auto& reason : want["reasons"]) {
      bool found = false;
      for (const auto& g : got["reasons"]) found = found || g == reason;
      EXPECT_TRUE(found) << "missing reason " << reason << " in " << got["reasons"].dump();
    }
    ASSERT_TRUE(got["submods"].contains("cpu0"));
    EXPECT_EQ(got["submods"]["cpu0"]["tee"], "sev-snp");
    if (want.contains("expected")) {
      // Positive samples: every verification check passed except the
      // not-checked ones named in `reasons`; claims equal expected.json.
      for (const auto& c : got["submods"]["cpu0"]["checks"]) {
        if (c["status"] == "fail") {
          bool policy_rule = c["name"].get<std::string>().rfind("policy.", 0) == 0;
          EXPECT_TRUE(policy_rule && verdict == "contraindicated") << c.dump();
        }
      }
      const std::string folder = want["expected"][0], report = want["expected"][1];
      nlohmann::json exps = ReadJson(kRoot + "/tests/data/snp/" + folder + "/expected.json");
      bool matched = false;
      for (const auto& e : exps) {
        if (e["report"] != report) continue;
        matched = true;
        ExpectClaims(e, got["submods"]["cpu0"]["claims"], name);
      }
      EXPECT_TRUE(matched) << "no expected.json entry for " << report;
    }
    ++checked;
  }
  EXPECT_GE(checked, 19);
}

TEST(AttestctlVerify, BadInputIsExitCode2) {
  std::string dir = ::testing::TempDir();
  struct Case {
    const char* name;
    const char* json;
  } cases[] = {
      {"not_json", "{"},
      {"unknown_field", R"({"sev_snp": {"report": "AAAA"}, "surprise": 1})"},
      {"bad_base64", R"({"sev_snp": {"report": "***"}})"},
      {"empty", R"({})"},
      {"bad_nonce", R"({"nonce": "abcd", "sev_snp": {"report": "AAAA"}})"},
      {"bad_binding", R"({"binding": "md5", "sev_snp": {"report": "AAAA"}})"},
  };
  for (const auto& c : cases) {
    std::string path = dir + "/bad_" + c.name + ".json";
    std::ofstream(path) << c.json;
    CmdResult r = Attestctl("verify --evidence " + path + " --at 2025-09-01T00:00:00Z");
    EXPECT_EQ(r.exit_code, 2) << c.name;
  }
  EXPECT_EQ(Attestctl("verify").exit_code, 2);
  EXPECT_EQ(Attestctl("frobnicate").exit_code, 2);
  EXPECT_EQ(Attestctl("verify --evidence /nonexistent.json").exit_code, 2);
}

TEST(AttestctlVerify, GarbageTdxAndGpuEvidenceIsRejectedNotPassed) {
  struct Case {
    const char* name;
    const char* bundle;
    const char* reason;
  };
  const Case cases[] = {
      {"tdx", R"({"tdx": {"quote": "AAAA"}})", "QUOTE_"},
      {"gpu", R"({"nvidia": {"arch": "HOPPER", "evidence_list": [{"evidence": "AAAA"}]}})",
       "SPDM_VERSION_UNSUPPORTED"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::string path = ::testing::TempDir() + "/" + c.name + ".json";
    std::ofstream(path) << c.bundle;
    CmdResult r = Attestctl("verify --json --evidence " + path);
    EXPECT_EQ(r.exit_code, 1) << r.out;
    nlohmann::json got = nlohmann::json::parse(r.out, nullptr, false);
    ASSERT_FALSE(got.is_discarded()) << r.out;
    EXPECT_EQ(got["verdict"], "contraindicated");
    EXPECT_NE(got["reasons"].dump().find(c.reason), std::string::npos) << got["reasons"];
  }
}

TEST(AttestctlVerify, TruncatedReportIsRejectedWithReason) {
  std::string path = ::testing::TempDir() + "/trunc.json";
  std::ofstream(path) << R"({"sev_snp": {"report": "AAAAAAAA"}})";
  CmdResult r = Attestctl("verify --json --evidence " + path + " --at 2025-09-01T00:00:00Z");
  EXPECT_EQ(r.exit_code, 1);
  nlohmann::json got = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(got.is_discarded()) << r.out;
  EXPECT_EQ(got["verdict"], "contraindicated");
  EXPECT_NE(got["reasons"].dump().find("REPORT_TRUNCATED"), std::string::npos);
}

}  // namespace
