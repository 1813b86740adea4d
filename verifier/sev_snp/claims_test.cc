#include "verifier/sev_snp/claims.h"

#include "gtest/gtest.h"
#include "tests/testing/snp_report_builder.h"
#include "verifier/crypto/x509.h"
#include "verifier/sev_snp/layout.h"
#include "verifier/sev_snp/test_util.h"

namespace rp::sev_snp {
namespace {

using rp::testing::SnpReportBuilder;

SnpReport Parse(const SnpReportBuilder& b) {
  absl::StatusOr<SnpReport> r = ParseReportUnverified(b.Build());
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : SnpReport{};
}

TEST(ClaimsTest, MilanV3) {
  SnpReportBuilder b;
  b.Policy(0x30000 | kPolicyDebug | 0x0102)
      .Vmpl(2)
      .GuestSvn(9)
      .PlatformInfo(0x25);
  const nlohmann::json c = BuildClaims(Parse(b), Product::kMilan, nullptr);
  EXPECT_EQ(c["product"], "Milan");
  EXPECT_EQ(c["version"], 3);
  EXPECT_EQ(c["vmpl"], 2);
  EXPECT_EQ(c["guest_svn"], 9);
  EXPECT_EQ(c["signing_key"], "vcek");
  EXPECT_EQ(c["measurement"], std::string(96, 'a'));
  EXPECT_EQ(c["report_id_ma"], std::string(64, 'f'));
  EXPECT_EQ(c["policy"]["debug"], true);
  EXPECT_EQ(c["policy"]["smt"], true);
  EXPECT_EQ(c["policy"]["migrate_ma"], false);
  EXPECT_EQ(c["policy"]["abi_major"], 1);
  EXPECT_EQ(c["policy"]["abi_minor"], 2);
  EXPECT_EQ(c["policy"]["raw"], "0xb0102");
  EXPECT_EQ(c["platform_info"]["smt_en"], true);
  EXPECT_EQ(c["platform_info"]["alias_check_complete"], true);
  EXPECT_EQ(c["platform_info"]["iommu_write_safe"], false);
  EXPECT_EQ(c["reported_tcb"], (nlohmann::json{{"bootloader", 4},
                                               {"tee", 0},
                                               {"snp", 24},
                                               {"microcode", 219},
                                               {"raw", "04000000000018db"}}));
  EXPECT_EQ(c["current_version"], "1.55.29");
  EXPECT_EQ(c["cpuid"],
            (nlohmann::json{{"family", 0x19}, {"model", 1}, {"stepping", 1}}));
  EXPECT_FALSE(c.contains("launch_mit_vector"));
  EXPECT_FALSE(c.contains("cert"));
  EXPECT_EQ(c["mask_chip_key"], false);
  EXPECT_EQ(c["author_key_en"], false);
}

TEST(ClaimsTest, TurinV5HasFmcAndMitVectors) {
  SnpReportBuilder b;
  b.ForProduct(Product::kTurin)
      .Version(5)
      .AllTcbs(1, 0, 2, 71, 3)
      .LaunchMitVector(1)
      .CurrentMitVector(0x11)
      .PlatformInfo(0x67)
      .SigningKey(kSigningKeyVlek);
  const nlohmann::json c = BuildClaims(Parse(b), Product::kTurin, nullptr);
  EXPECT_EQ(c["reported_tcb"]["fmc"], 3);
  EXPECT_EQ(c["reported_tcb"]["bootloader"], 1);
  EXPECT_EQ(c["reported_tcb"]["raw"], "0301000200000047");
  EXPECT_EQ(c["launch_mit_vector"], "0x1");
  EXPECT_EQ(c["current_mit_vector"], "0x11");
  EXPECT_EQ(c["platform_info"]["iommu_write_safe"], true);
  EXPECT_EQ(c["signing_key"], "vlek");
}

TEST(ClaimsTest, V2AndUnknownProduct) {
  SnpReportBuilder b;
  b.Version(2);
  const nlohmann::json c = BuildClaims(Parse(b), Product::kUnknown, nullptr);
  EXPECT_EQ(c["product"], "Unknown");
  EXPECT_FALSE(c.contains("cpuid"));
  EXPECT_EQ(c["reported_tcb"], (nlohmann::json{{"raw", "04000000000018db"}}));
}

TEST(ClaimsTest, CertificateClaims) {
  absl::StatusOr<crypto::OpensslPtr<X509>> cert = crypto::ParseDerCertificate(
      test::ReadSnpData("milan_v3_vlek_aws_trustee/vlek.der"));
  ASSERT_TRUE(cert.ok());
  absl::StatusOr<KdsExtensions> ext = ParseKdsExtensions(cert->get());
  ASSERT_TRUE(ext.ok());
  const CertClaims cc = DescribeCertificate(cert->get(), &*ext);
  const nlohmann::json c =
      BuildClaims(Parse(SnpReportBuilder()), Product::kMilan, &cc);
  EXPECT_EQ(c["cert"]["subject_cn"], "SEV-VLEK");
  EXPECT_EQ(c["cert"]["issuer_cn"], "SEV-VLEK-Milan");
  EXPECT_EQ(c["cert"]["not_before"], "2024-12-10T22:14:21Z");
  EXPECT_EQ(c["cert"]["not_after"], "2025-12-10T22:14:21Z");
  EXPECT_EQ(c["cert"]["product_name"], "Milan");
  EXPECT_EQ(c["cert"]["csp_id"], "CN=cc-us-east-2.amazonaws.com");
}

}  // namespace
}  // namespace rp::sev_snp
