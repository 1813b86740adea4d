#include "verifier/collateral/amd_kds_source.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "verifier/collateral/collateral_test_util.h"

namespace rp::collateral {
namespace {

using testing::kMilanHwid;

constexpr char kBase[] = "https://kdsintf.amd.com";

std::string Url(const std::string& key) {
  auto url = AmdKdsUrlForKey(kBase, key);
  EXPECT_TRUE(url.ok()) << url.status();
  if (!url.ok() || !url->has_value()) return "<none>";
  return **url;
}

TEST(AmdKdsUrlTest, MilanVcek) {
  // Milan 04 00 00 00 00 00 18 DB = bl4 tee0 snp24 ucode219 (specs §2).
  EXPECT_EQ(Url(testing::MilanVcekKey()),
            absl::StrCat("https://kdsintf.amd.com/vcek/v1/Milan/", kMilanHwid,
                         "?blSPL=4&teeSPL=0&snpSPL=24&ucodeSPL=219"));
}

TEST(AmdKdsUrlTest, GenoaVcekUsesLegacyLayout) {
  const std::string hwid(128, 'a');
  EXPECT_EQ(Url(absl::StrCat("amd/vcek/Genoa/", hwid, "-0a01000000001554.der")),
            absl::StrCat("https://kdsintf.amd.com/vcek/v1/Genoa/", hwid,
                         "?blSPL=10&teeSPL=1&snpSPL=21&ucodeSPL=84"));
}

TEST(AmdKdsUrlTest, TurinVcekSpecExample) {
  // specs/sev-snp.md §3.4: /vcek/v1/Turin/3b42092f69c656d3?ucodeSPL=71&snpSPL=2&teeSPL=0&blSPL=1&fmcSPL=0
  // TCB bytes 00 01 00 02 00 00 00 47 = fmc0 bl1 tee0 snp2 ucode71 (§2).
  EXPECT_EQ(Url("amd/vcek/Turin/3b42092f69c656d3-0001000200000047.der"),
            "https://kdsintf.amd.com/vcek/v1/Turin/3b42092f69c656d3"
            "?blSPL=1&teeSPL=0&snpSPL=2&ucodeSPL=71&fmcSPL=0");
}

TEST(AmdKdsUrlTest, ChainsAndCrls) {
  EXPECT_EQ(Url("amd/Milan/cert_chain.pem"), "https://kdsintf.amd.com/vcek/v1/Milan/cert_chain");
  EXPECT_EQ(Url("amd/Genoa/crl.der"), "https://kdsintf.amd.com/vcek/v1/Genoa/crl");
  EXPECT_EQ(Url("amd/Turin/vlek_cert_chain.pem"),
            "https://kdsintf.amd.com/vlek/v1/Turin/cert_chain");
  EXPECT_EQ(Url("amd/Milan/vlek_crl.der"), "https://kdsintf.amd.com/vlek/v1/Milan/crl");
}

TEST(AmdKdsUrlTest, BaseUrlTrailingSlash) {
  auto url = AmdKdsUrlForKey("http://127.0.0.1:8080/", "amd/Milan/crl.der");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->value(), "http://127.0.0.1:8080/vcek/v1/Milan/crl");
  EXPECT_FALSE(AmdKdsUrlForKey("ftp://x", "amd/Milan/crl.der").ok());
}

TEST(AmdKdsUrlTest, NotMapped) {
  for (const char* key : {"intel/qe_identity.json", "amd/vlek/Milan/abcd-0000000000000000.der",
                          "amd/Milan/other.bin", "nvidia/rims/x.xml"}) {
    auto url = AmdKdsUrlForKey(kBase, key);
    ASSERT_TRUE(url.ok()) << key << ": " << url.status();
    EXPECT_FALSE(url->has_value()) << key;
  }
}

TEST(AmdKdsUrlTest, MalformedKeysRejected) {
  const std::string h128(128, 'a');
  const std::string h16(16, 'b');
  const std::string cases[] = {
      "amd/Rome/crl.der",                                          // unknown product
      "amd/milan/crl.der",                                         // product is case-sensitive
      absl::StrCat("amd/vcek/Rome/", h128, "-0000000000000000.der"),
      absl::StrCat("amd/vcek/Milan/", h16, "-0000000000000000.der"),   // Milan hwid too short
      absl::StrCat("amd/vcek/Turin/", h128, "-0000000000000000.der"),  // Turin takes 16 hex
      absl::StrCat("amd/vcek/Milan/", h128, "-00000000000000.der"),    // TCB 14 hex
      absl::StrCat("amd/vcek/Milan/", h128, "-000000000000000g.der"),  // TCB not hex
      absl::StrCat("amd/vcek/Milan/", std::string(127, 'a'), "z-0000000000000000.der"),
      absl::StrCat("amd/vcek/Milan/", h128, "-0000000000000000.pem"),
      absl::StrCat("amd/vcek/Milan/", h128, "0000000000000000.der"),   // no dash
      absl::StrCat("amd/vcek/Milan/", h128, "-00-00000000000000.der"), // two dashes
      "amd/vcek/Milan",
      "amd/../etc/passwd",
      "/amd/Milan/crl.der",
      "amd/Milan/crl.der?x=1",
  };
  for (const std::string& key : cases) {
    auto url = AmdKdsUrlForKey(kBase, key);
    EXPECT_EQ(url.status().code(), absl::StatusCode::kInvalidArgument) << key;
  }
}

}  // namespace
}  // namespace rp::collateral
