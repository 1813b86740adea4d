// Intel PCS / PCCS source: URL mapping, issuer chains from headers, hex CRLs
// from a PCCS, body checks; against the loopback test server.
#include "verifier/collateral/intel_pcs_source.h"

#include <cctype>
#include <memory>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "verifier/collateral/collateral_test_util.h"
#include "verifier/collateral/freshness.h"
#include "verifier/collateral/testing_http_server.h"
#include "verifier/common/clock.h"
#include "verifier/common/encoding.h"

namespace rp::collateral {
namespace {

using ::testing::HasSubstr;

std::string PercentEncode(const std::string& in) {
  std::string out;
  for (unsigned char c : in) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, "%", absl::StrFormat("%02X", c));
    }
  }
  return out;
}

TEST(IntelPcsUrlTest, KeysMapToPcsV4Paths) {
  IntelPcsOptions o;
  o.base_url = "https://pccs.example:8081/";
  auto url = [&](const std::string& key) {
    absl::StatusOr<std::optional<std::string>> u = IntelPcsUrlForKey(o, key);
    EXPECT_TRUE(u.ok()) << key << ": " << u.status();
    return u.ok() && u->has_value() ? **u : std::string("<none>");
  };
  EXPECT_EQ(url("intel/tcb_info/b0c06f000000.json"),
            "https://pccs.example:8081/tdx/certification/v4/tcb?fmspc=B0C06F000000");
  EXPECT_EQ(url("intel/tcb_info/b0c06f000000.issuer_chain.pem"),
            "https://pccs.example:8081/tdx/certification/v4/tcb?fmspc=B0C06F000000");
  EXPECT_EQ(url("intel/qe_identity.json"),
            "https://pccs.example:8081/tdx/certification/v4/qe/identity");
  EXPECT_EQ(url("intel/qe_identity.issuer_chain.pem"),
            "https://pccs.example:8081/tdx/certification/v4/qe/identity");
  EXPECT_EQ(url("intel/pck_crl_platform.der"),
            "https://pccs.example:8081/sgx/certification/v4/pckcrl?ca=platform&encoding=der");
  EXPECT_EQ(url("intel/pck_crl_processor.issuer_chain.pem"),
            "https://pccs.example:8081/sgx/certification/v4/pckcrl?ca=processor&encoding=der");
  EXPECT_EQ(url("intel/root_ca.crl"), kIntelRootCaCrlDefaultUrl);
  EXPECT_EQ(url("intel/collateral/b0c06f000000.json"), "<none>");  // offline only
  EXPECT_EQ(url("amd/Milan/crl.der"), "<none>");
  EXPECT_EQ(IntelPcsHeaderForKey("intel/tcb_info/b0c06f000000.issuer_chain.pem"),
            "tcb-info-issuer-chain");
  EXPECT_EQ(IntelPcsHeaderForKey("intel/tcb_info/b0c06f000000.json"), "");
  for (const char* bad : {"intel/tcb_info/b0c06f.json", "intel/tcb_info/zzc06f000000.json",
                          "intel/tcb_info/b0c06f000000.xml", "intel/pck_crl_other.der"}) {
    EXPECT_EQ(IntelPcsUrlForKey(o, bad).status().code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST(IntelPcsUrlTest, PercentDecode) {
  EXPECT_EQ(*PercentDecode("-----BEGIN%20CERTIFICATE-----%0A+x"), "-----BEGIN CERTIFICATE-----\n+x");
  EXPECT_FALSE(PercentDecode("%4").ok());
  EXPECT_FALSE(PercentDecode("%zz").ok());
}

class IntelPcsSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<testing::TestingHttpServer>> s =
        testing::TestingHttpServer::Start();
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
    absl::StatusOr<std::unique_ptr<CurlHttpFetcher>> f = CurlHttpFetcher::Create({});
    ASSERT_TRUE(f.ok());
    fetcher_ = std::move(*f);
    IntelPcsOptions o;
    o.name = "pccs";
    o.base_url = server_->base_url();
    o.root_ca_crl_url = server_->base_url() + "/IntelSGXRootCA.der";
    absl::StatusOr<std::unique_ptr<HttpCollateralSource>> src =
        CreateIntelPcsSource(o, *fetcher_, clock_);
    ASSERT_TRUE(src.ok()) << src.status();
    source_ = std::move(*src);
  }
  std::optional<CollateralItem> Get(const std::string& key, absl::Status* error = nullptr) {
    absl::StatusOr<std::optional<CollateralItem>> r = source_->GetItem(key, {});
    if (error != nullptr) *error = r.status();
    return r.ok() ? *r : std::nullopt;
  }

  FakeClock clock_{testing::TestTime()};
  std::unique_ptr<testing::TestingHttpServer> server_;
  std::unique_ptr<CurlHttpFetcher> fetcher_;
  std::unique_ptr<HttpCollateralSource> source_;
};

TEST_F(IntelPcsSourceTest, TcbInfoBodyAndIssuerChainHeader) {
  const std::string chain = testing::ReadTestFile("amd/Milan/cert_chain.pem");
  const std::string body =
      R"({"tcbInfo":{"id":"TDX","version":3,"nextUpdate":"2025-09-20T00:00:00Z"},"signature":"00"})";
  testing::TestResponse r;
  r.body = body;
  r.content_type = "application/json";
  r.headers = {{"TCB-Info-Issuer-Chain", PercentEncode(chain)}};
  server_->SetResponse("/tdx/certification/v4/tcb", r);

  std::optional<CollateralItem> info = Get("intel/tcb_info/b0c06f000000.json");
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(ToString(info->data), body);
  EXPECT_EQ(server_->LastRequestUri(), "/tdx/certification/v4/tcb?fmspc=B0C06F000000");
  // Freshness of the signed JSON is its own nextUpdate.
  EXPECT_EQ(KindOfKey("intel/tcb_info/b0c06f000000.json"), CollateralKind::kIntelSignedJson);
  EXPECT_EQ(ComputeFreshUntil("intel/tcb_info/b0c06f000000.json", info->data, std::nullopt,
                              testing::TestTime(), absl::Hours(24 * 365)),
            *ParseTime("2025-09-20T00:00:00Z"));

  std::optional<CollateralItem> issuer = Get("intel/tcb_info/b0c06f000000.issuer_chain.pem");
  ASSERT_TRUE(issuer.has_value());
  EXPECT_EQ(ToString(issuer->data), chain);
  EXPECT_EQ(KindOfKey("intel/tcb_info/b0c06f000000.issuer_chain.pem"),
            CollateralKind::kPemCertificates);
}

TEST_F(IntelPcsSourceTest, MissingHeaderOrBadBodyIsUnavailable) {
  testing::TestResponse r;
  r.body = R"({"enclaveIdentity":{"id":"TD_QE"},"signature":"00"})";
  server_->SetResponse("/tdx/certification/v4/qe/identity", r);
  ASSERT_TRUE(Get("intel/qe_identity.json").has_value());
  absl::Status error;
  EXPECT_FALSE(Get("intel/qe_identity.issuer_chain.pem", &error).has_value());
  EXPECT_EQ(error.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(error.message()), HasSubstr("sgx-enclave-identity-issuer-chain"));

  testing::TestResponse portal;
  portal.body = "<html>login</html>";
  server_->SetResponse("/tdx/certification/v4/tcb", portal);
  EXPECT_FALSE(Get("intel/tcb_info/b0c06f000000.json", &error).has_value());
  EXPECT_EQ(error.code(), absl::StatusCode::kUnavailable);
}

TEST_F(IntelPcsSourceTest, CrlAsDerOrPccsHexText) {
  const std::string crl = testing::ReadTestFile("amd/Milan/crl.der");
  testing::TestResponse der;
  der.body = crl;
  server_->SetResponse("/sgx/certification/v4/pckcrl", der);
  std::optional<CollateralItem> a = Get("intel/pck_crl_platform.der");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(ToString(a->data), crl);

  testing::TestResponse hex;
  hex.body = HexEncode(testing::ToBytes(crl));
  server_->SetResponse("/IntelSGXRootCA.der", hex);
  std::optional<CollateralItem> b = Get("intel/root_ca.crl");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(ToString(b->data), crl);
}

}  // namespace
}  // namespace rp::collateral
