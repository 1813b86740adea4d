// The server can fetch Intel collateral (issue 10): `pcs` in
// collateral.source_order is accepted, the stack built from the server's
// config contains the PCS / PCCS source, and a real TDX quote
// (tests/data/tdx/phala_uptodate) verifies with TCB info, QE identity and
// CRLs fetched from a loopback PCCS serving PCS-shaped responses.
#include <cctype>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "appraisal/collateral_stack.h"
#include "appraisal/engine.h"
#include "appraisal/registry_factory.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/config.h"
#include "verifier/collateral/testing_http_server.h"
#include "verifier/common/clock.h"
#include "verifier/common/encoding.h"
#include "verifier/tdx/checks.h"

namespace rp::server {
namespace {

using ::testing::HasSubstr;
namespace ctesting = collateral::testing;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string PercentEncode(const std::string& in) {
  std::string out;
  for (unsigned char c : in) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, absl::StrFormat("%%%02X", c));
    }
  }
  return out;
}

std::string HexToBytes(const std::string& hex) {
  auto b = HexDecode(hex);
  EXPECT_TRUE(b.ok()) << b.status();
  return b.ok() ? ToString(*b) : "";
}

// A loopback PCCS answering like Intel PCS v4 from a QVL collateral file.
class PccsFake {
 public:
  explicit PccsFake(const std::string& collateral_json_path) {
    auto s = ctesting::TestingHttpServer::Start(4);
    EXPECT_TRUE(s.ok()) << s.status();
    if (!s.ok()) return;
    server_ = *std::move(s);
    const nlohmann::json q = nlohmann::json::parse(ReadFile(collateral_json_path));
    ctesting::TestResponse tcb;
    tcb.content_type = "application/json";
    tcb.body = absl::StrCat(R"({"tcbInfo":)", q["tcb_info"].get<std::string>(),
                            R"(,"signature":")", q["tcb_info_signature"].get<std::string>(), "\"}");
    tcb.headers = {{"TCB-Info-Issuer-Chain", PercentEncode(q["tcb_info_issuer_chain"])}};
    server_->SetResponse("/tdx/certification/v4/tcb", tcb);
    ctesting::TestResponse qe;
    qe.content_type = "application/json";
    qe.body = absl::StrCat(R"({"enclaveIdentity":)", q["qe_identity"].get<std::string>(),
                           R"(,"signature":")", q["qe_identity_signature"].get<std::string>(),
                           "\"}");
    qe.headers = {
        {"SGX-Enclave-Identity-Issuer-Chain", PercentEncode(q["qe_identity_issuer_chain"])}};
    server_->SetResponse("/tdx/certification/v4/qe/identity", qe);
    ctesting::TestResponse pck_crl;
    pck_crl.body = HexToBytes(q["pck_crl"]);
    pck_crl.headers = {{"SGX-PCK-CRL-Issuer-Chain", PercentEncode(q["pck_crl_issuer_chain"])}};
    server_->SetResponse("/sgx/certification/v4/pckcrl", pck_crl);
    ctesting::TestResponse root_crl;
    root_crl.body = HexToBytes(q["root_ca_crl"]);
    server_->SetResponse("/IntelSGXRootCA.der", root_crl);
  }
  ctesting::TestingHttpServer* server() { return server_.get(); }

 private:
  std::unique_ptr<ctesting::TestingHttpServer> server_;
};

TEST(CollateralConfigTest, IntelPcsSourceFromTheServerConfigFetchesTdxCollateral) {
  const std::string data = std::string(RP_SOURCE_DIR) + "/tests/data/tdx/phala_uptodate/";
  PccsFake pccs(data + "collateral.json");
  ASSERT_NE(pccs.server(), nullptr);
  const std::string base = pccs.server()->base_url();

  // The server's config path: parse, defaults, validation.
  auto config = ParseServerConfig(
      absl::StrCat("environment: development\n"
                   "collateral:\n"
                   "  source_order: [offline, pcs]\n"
                   "  intel_pcs_base_url: ",
                   base, "\n  intel_root_ca_crl_url: ", base, "/IntelSGXRootCA.der\n"),
      "t.yaml", "");
  ASSERT_TRUE(config.ok()) << config.status();

  // The stack main.cc builds, at the vector's verification time.
  const absl::Time at = *ParseTime("2025-07-01T00:00:00Z");
  auto stack = appraisal::BuildCollateralStack(config->collateral(), "", at);
  ASSERT_TRUE(stack.ok()) << stack.status();
  EXPECT_THAT(stack->source->Describe(), HasSubstr("pccs"));

  auto registry = appraisal::MakeDefaultRegistry(attestation::v1::SimulationConfig());
  ASSERT_TRUE(registry.ok()) << registry.status();
  auto engine = appraisal::Engine::Create(*std::move(registry), stack->source, stack->ocsp);
  ASSERT_TRUE(engine.ok()) << engine.status();

  // The quote alone: every piece of collateral must come from the PCCS.
  attestation::v1::EvidenceBundle bundle;
  bundle.mutable_tdx()->set_quote(ReadFile(data + "quote.bin"));
  appraisal::RunOptions run;
  run.at = at;
  run.allow_no_freshness = true;  // third-party evidence: no nonce of ours
  auto appraisal = (*engine)->Run(bundle, policy::DefaultPolicy(), run);
  ASSERT_TRUE(appraisal.ok()) << appraisal.status();
  ASSERT_EQ(appraisal->devices.size(), 1u);
  const core::DeviceResult& d = appraisal->devices[0].device;
  EXPECT_EQ(d.tee, "tdx");
  std::vector<std::string> described;
  for (const auto& c : d.checks) {
    described.push_back(absl::StrCat(c.name, "=", static_cast<int>(c.status), " ", c.reason, " ",
                                     c.detail));
  }
  for (const char* name : {tdx::kCheckTcbInfoCollateral, tdx::kCheckQeIdentityCollateral,
                           tdx::kCheckPckRevocation}) {
    bool found = false;
    for (const auto& c : d.checks) {
      if (c.name != name) continue;
      found = true;
      EXPECT_EQ(c.status, core::CheckStatus::kPass) << name << ": " << c.reason << " " << c.detail;
    }
    EXPECT_TRUE(found) << name << "\n" << absl::StrJoin(described, "\n");
  }
  EXPECT_EQ(d.claims.value("tcb_status", ""), "UpToDate") << absl::StrJoin(described, "\n");
  EXPECT_GE(pccs.server()->RequestCount("/tdx/certification/v4/tcb"), 1);
  EXPECT_GE(pccs.server()->RequestCount("/tdx/certification/v4/qe/identity"), 1);
  EXPECT_GE(pccs.server()->RequestCount("/sgx/certification/v4/pckcrl"), 1);
  EXPECT_GE(pccs.server()->RequestCount("/IntelSGXRootCA.der"), 1);
}

// An offline collateral block never builds the PCS source, even when listed.
TEST(CollateralConfigTest, OfflineBlockHasNoPcsSource) {
  auto config = ParseServerConfig(
      "environment: development\ncollateral:\n  offline: true\n  source_order: [offline, pcs]\n",
      "t.yaml", "");
  ASSERT_TRUE(config.ok()) << config.status();
  auto stack = appraisal::BuildCollateralStack(config->collateral(), "");
  ASSERT_TRUE(stack.ok()) << stack.status();
  EXPECT_THAT(stack->source->Describe(), ::testing::Not(HasSubstr("pcs")));
  EXPECT_THAT(stack->source->Describe(), ::testing::Not(HasSubstr("pccs")));
}

}  // namespace
}  // namespace rp::server
