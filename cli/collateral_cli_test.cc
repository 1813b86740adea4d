// Runs the real attestctl against a loopback stand-in for AMD KDS serving the
// repository's AMD data: bundles stripped of their VCEK (and chain) must
// verify exactly as the originals do, through the cache, and again offline
// from the exported cache once the server is gone.
#include <algorithm>
#include <stdlib.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cli/attestctl_test_runner.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "verifier/collateral/testing_http_server.h"

namespace {

namespace fs = std::filesystem;
using rp::collateral::testing::TestingHttpServer;
using rp::collateral::testing::TestResponse;

const std::string kRoot = RP_SOURCE_DIR;
const std::string kAt = "2025-09-01T00:00:00Z";

using rp::cli::testing::Attestctl;
using rp::cli::testing::CmdResult;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

std::string MakeTempDir() {
  std::string tmpl = (fs::temp_directory_path() / "collateral_cli_test.XXXXXX").string();
  const char* made = mkdtemp(tmpl.data());
  return made == nullptr ? "" : std::string(made);
}

nlohmann::json ParseJson(const CmdResult& r) {
  return nlohmann::json::parse(r.out, nullptr, false);
}

nlohmann::json Claims(const nlohmann::json& result) {
  if (!result.is_object() || !result.contains("submods")) return nlohmann::json();
  return result["submods"].value("cpu0", nlohmann::json::object()).value("claims",
                                                                          nlohmann::json());
}

TestResponse Body(std::string body) {
  TestResponse r;
  r.body = std::move(body);
  return r;
}

struct Sample {
  std::string bundle;  // tests/data/snp/bundles/<bundle>.json
  std::string dir;     // tests/data/snp/<dir>/ (expected.json, vcek.der)
};

class CollateralCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = TestingHttpServer::Start(4);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    const std::string offline = kRoot + "/tests/data/snp/offline/amd/";
    for (const char* p : {"Milan", "Genoa", "Turin"}) {
      const std::string chain = offline + p + "/cert_chain.pem";
      server_->SetResponse(std::string("/vcek/v1/") + p + "/cert_chain",
                           Body(ReadFile(chain)));
      if (fs::exists(offline + p + "/crl.der")) {
        server_->SetResponse(std::string("/vcek/v1/") + p + "/crl",
                             Body(ReadFile(offline + p + "/crl.der")));
      }
    }
    work_ = MakeTempDir();
    ASSERT_FALSE(work_.empty());
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Stop();
    std::error_code ec;
    if (!work_.empty()) fs::remove_all(work_, ec);
  }

  struct Served {
    std::string vcek_path;  // KDS path of the sample's VCEK
    std::string query;      // its TCB query
  };
  // Serves the sample's VCEK on its KDS path; path and query come from
  // expected.json (independent of the project's key code).
  Served ServeVcek(const Sample& s) {
    nlohmann::json expected =
        nlohmann::json::parse(ReadFile(kRoot + "/tests/data/snp/" + s.dir + "/expected.json"));
    if (expected.is_array()) expected = expected.at(0);  // one report per sample here
    const std::string product = expected["product_line"].get<std::string>();
    const nlohmann::json& tcb = expected["reported_tcb"];
    const std::string chip_id = expected["chip_id"].get<std::string>();
    const std::string hwid = product == "Turin" ? chip_id.substr(0, 16) : chip_id;
    Served out;
    out.vcek_path = "/vcek/v1/" + product + "/" + hwid;
    out.query = "blSPL=" + std::to_string(tcb["bl"].get<int>()) +
                "&teeSPL=" + std::to_string(tcb["tee"].get<int>()) +
                "&snpSPL=" + std::to_string(tcb["snp"].get<int>()) +
                "&ucodeSPL=" + std::to_string(tcb["ucode"].get<int>());
    if (product == "Turin") out.query += "&fmcSPL=" + std::to_string(tcb["fmc"].get<int>());
    server_->SetResponse(out.vcek_path,
                         Body(ReadFile(kRoot + "/tests/data/snp/" + s.dir + "/vcek.der")));
    return out;
  }
  // The bundle without its VCEK and chain, written under work_.
  std::string Strip(const std::string& name) {
    nlohmann::json bundle =
        nlohmann::json::parse(ReadFile(kRoot + "/tests/data/snp/bundles/" + name + ".json"));
    bundle["sev_snp"].erase("vcek");
    bundle["sev_snp"].erase("cert_chain");
    const std::string stripped = work_ + "/" + name + ".stripped.json";
    WriteFile(stripped, bundle.dump());
    return stripped;
  }

  std::unique_ptr<TestingHttpServer> server_;
  std::string work_;
};

TEST_F(CollateralCliTest, StrippedBundlesVerifyViaKdsThenOfflineFromExport) {
  const std::vector<Sample> samples = {{"milan_v3_oak_cb", "milan_v3_oak_cb"},
                                       {"genoa_v5_oak", "genoa_v5_oak"},
                                       {"turin_v5_oak", "turin_v5_oak"}};
  const nlohmann::json verdicts =
      nlohmann::json::parse(ReadFile(kRoot + "/tests/data/snp/bundles/expected_verdicts.json"));
  const std::string cache = work_ + "/cache";
  const std::string fetch_cache = work_ + "/fetch_cache";
  const std::string exported = work_ + "/exported";
  struct Baseline {
    std::string stripped;
    nlohmann::json result;
  };
  std::vector<Baseline> baselines;

  for (const Sample& s : samples) {
    SCOPED_TRACE(s.bundle);
    const std::string original = kRoot + "/tests/data/snp/bundles/" + s.bundle + ".json";
    const Served served = ServeVcek(s);
    const std::string& vcek_path = served.vcek_path;
    const std::string& query = served.query;

    // Baseline: the original bundle (certificate inside), offline collateral.
    CmdResult base = Attestctl("verify --json --no-freshness --evidence " + original + " --collateral " + kRoot +
                         "/tests/data/snp/offline --at " + kAt);
    nlohmann::json base_json = ParseJson(base);
    ASSERT_TRUE(base_json.is_object()) << base.out;
    ASSERT_EQ(base_json["verdict"], verdicts[s.bundle]["verdict"]);

    const std::string stripped = Strip(s.bundle);

    // Without collateral the stripped bundle cannot verify: the test can fail.
    nlohmann::json bare =
        ParseJson(Attestctl("verify --json --no-freshness --evidence " + stripped + " --at " + kAt));
    ASSERT_TRUE(bare.is_object());
    EXPECT_EQ(bare["verdict"], "contraindicated");
    const auto& bare_reasons = bare["reasons"];
    EXPECT_NE(std::find(bare_reasons.begin(), bare_reasons.end(), "ENDORSEMENT_CERT_MISSING"),
              bare_reasons.end())
        << bare_reasons;

    // `collateral fetch` asks KDS for the VCEK with the right path and query
    // (the VCEK is the last key it fetches).
    const int vcek_before = server_->RequestCount(vcek_path);
    CmdResult fetch = Attestctl("collateral fetch --evidence " + stripped + " --cache-dir " +
                          fetch_cache + " --kds-url " + server_->base_url() + " --at " + kAt);
    EXPECT_EQ(fetch.exit_code, 0) << fetch.out;
    EXPECT_EQ(server_->RequestCount(vcek_path), vcek_before + 1);
    EXPECT_EQ(server_->LastRequestUri(), vcek_path + "?" + query);

    // Verify through KDS + cache: one VCEK request, same outcome.
    CmdResult online = Attestctl("verify --json --no-freshness --evidence " + stripped + " --kds-url " +
                           server_->base_url() + " --cache-dir " + cache + " --at " + kAt);
    nlohmann::json online_json = ParseJson(online);
    ASSERT_TRUE(online_json.is_object()) << online.out;
    EXPECT_EQ(online.exit_code, base.exit_code);
    EXPECT_EQ(online_json["verdict"], base_json["verdict"]);
    EXPECT_EQ(online_json["reasons"], base_json["reasons"]);
    for (const char* k : {"chip_id", "reported_tcb", "measurement"}) {
      EXPECT_EQ(Claims(online_json)[k], Claims(base_json)[k]) << k;
      EXPECT_FALSE(Claims(online_json)[k].is_null()) << k;
    }
    EXPECT_EQ(server_->RequestCount(vcek_path), vcek_before + 2);
    baselines.push_back({stripped, base_json});
  }

  // VLEKs cannot be fetched.
  {
    nlohmann::json bundle = nlohmann::json::parse(
        ReadFile(kRoot + "/tests/data/snp/bundles/milan_v3_vlek_aws_trustee.json"));
    bundle["sev_snp"].erase("vlek");
    bundle["sev_snp"].erase("cert_chain");
    const std::string stripped = work_ + "/vlek.stripped.json";
    WriteFile(stripped, bundle.dump());
    CmdResult vlek = Attestctl("verify --json --no-freshness --evidence " + stripped + " --kds-url " +
                         server_->base_url() + " --cache-dir " + cache + " --at " + kAt);
    nlohmann::json j = ParseJson(vlek);
    ASSERT_TRUE(j.is_object()) << vlek.out;
    EXPECT_EQ(j["verdict"], "contraindicated");
    EXPECT_NE(j.dump().find("ENDORSEMENT_CERT_MISSING"), std::string::npos) << j.dump();
    EXPECT_EQ(vlek.exit_code, 1);
  }

  CmdResult ls = Attestctl("collateral ls --cache-dir " + cache);
  EXPECT_EQ(ls.exit_code, 0);
  EXPECT_NE(ls.out.find("amd/Milan/crl.der"), std::string::npos) << ls.out;
  EXPECT_NE(ls.out.find("amd/vcek/Turin/"), std::string::npos) << ls.out;

  CmdResult exported_run = Attestctl("collateral export " + exported + " --cache-dir " + cache);
  ASSERT_EQ(exported_run.exit_code, 0) << exported_run.out;
  for (const auto& e : fs::recursive_directory_iterator(exported)) {
    EXPECT_EQ(e.path().string().find(".meta.json"), std::string::npos) << e.path();
  }

  server_->Stop();
  const int requests = server_->RequestCount();
  for (const Baseline& b : baselines) {
    SCOPED_TRACE(b.stripped);
    CmdResult offline = Attestctl("verify --json --no-freshness --evidence " + b.stripped + " --collateral " +
                            exported + " --at " + kAt);
    nlohmann::json j = ParseJson(offline);
    ASSERT_TRUE(j.is_object()) << offline.out;
    EXPECT_EQ(j["verdict"], b.result["verdict"]);
    EXPECT_EQ(j["reasons"], b.result["reasons"]);
    EXPECT_EQ(Claims(j)["chip_id"], Claims(b.result)["chip_id"]);
  }
  EXPECT_EQ(server_->RequestCount(), requests);
}

TEST_F(CollateralCliTest, WarmSeveralBundlesAtTheUpstreamPaceThenVerifyOffline) {
  const std::vector<Sample> samples = {{"milan_v3_oak_cb", "milan_v3_oak_cb"},
                                       {"genoa_v5_oak", "genoa_v5_oak"},
                                       {"turin_v5_oak", "turin_v5_oak"}};
  const nlohmann::json verdicts =
      nlohmann::json::parse(ReadFile(kRoot + "/tests/data/snp/bundles/expected_verdicts.json"));
  std::string args;
  std::vector<Served> served;
  for (const Sample& s : samples) {
    served.push_back(ServeVcek(s));
    args += " " + Strip(s.bundle);
  }
  // 8 items (3 chains, 2 CRLs — AMD publishes none for Turin here —, 3
  // VCEKs) through a bucket of 1 request at 4/s: warm must wait for tokens
  // instead of failing.
  const std::string cache = work_ + "/warm_cache";
  const absl::Time start = absl::Now();
  CmdResult warm = Attestctl("collateral warm" + args + " --cache-dir " + cache + " --kds-url " +
                             server_->base_url() + " --at " + kAt +
                             " --kds-rate 4 --kds-burst 1 --max-wait 5");
  EXPECT_EQ(warm.exit_code, 0) << warm.out;
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(1000)) << "the bucket was not applied";
  for (const Served& v : served) EXPECT_EQ(server_->RequestCount(v.vcek_path), 1) << v.vcek_path;

  server_->Stop();
  for (const Sample& s : samples) {
    SCOPED_TRACE(s.bundle);
    // The warmed cache directory is itself an offline bundle.
    CmdResult offline = Attestctl("verify --json --no-freshness --evidence " + work_ + "/" + s.bundle +
                                  ".stripped.json --collateral " + cache + " --at " + kAt);
    nlohmann::json j = ParseJson(offline);
    ASSERT_TRUE(j.is_object()) << offline.out;
    EXPECT_EQ(j["verdict"], verdicts[s.bundle]["verdict"]);
  }
}

}  // namespace
