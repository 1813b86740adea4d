// Device chains of the real vectors: pinned root, path validation, FWID
// extraction (Hopper and Blackwell ASN.1), identity claims.
#include "verifier/nvidia/chain.h"

#include "gtest/gtest.h"
#include "verifier/crypto/x509.h"
#include "verifier/nvidia/spdm.h"
#include "verifier/nvidia/test_util.h"

namespace rp::nvidia {
namespace {

using test::RealVector;
using test::RealVectors;

TEST(PinnedRoot, CompiledPemIsTheVectorRoot) {
  const std::string file =
      test::ReadFile(test::DataPath("roots/nvidia_device_identity_ca_root.pem"));
  EXPECT_EQ(std::string(PinnedDeviceRootPem()), file + (file.back() == '\n' ? "" : "\n"));
  auto certs = crypto::ParsePemCertificates(PinnedDeviceRootPem(), 1);
  ASSERT_TRUE(certs.ok()) << certs.status();
  const Bytes spki = crypto::SpkiSha256(certs->front().get());
  const auto pin = PinnedDeviceRootSpkiSha256();
  EXPECT_TRUE(std::equal(spki.begin(), spki.end(), pin.begin(), pin.end()));
  EXPECT_EQ(crypto::SubjectCommonName(certs->front().get()), "NVIDIA Device Identity CA");
  EXPECT_EQ(crypto::SerialHex(certs->front().get()), "2d3670b1ca100411c1fec0e82a065b54");
}

TEST(Arch, ParseIsExact) {
  EXPECT_EQ(ParseArch("HOPPER"), GpuArch::kHopper);
  EXPECT_EQ(ParseArch("BLACKWELL"), GpuArch::kBlackwell);
  EXPECT_EQ(ParseArch("hopper"), std::nullopt);
  EXPECT_EQ(ParseArch("AMPERE"), std::nullopt);
  EXPECT_EQ(ParseArch(""), std::nullopt);
}

class RealChainTest : public ::testing::TestWithParam<RealVector> {};

TEST_P(RealChainTest, VerifiesToPinnedRootWithFwidAndIdentity) {
  const RealVector& v = GetParam();
  auto certs = ParseGpuCertChain(test::ReadFile(test::DataPath(v.chain)));
  ASSERT_TRUE(certs.ok()) << certs.status();
  ASSERT_EQ(certs->size(), kGpuChainLength);
  auto root = crypto::ParsePemCertificates(PinnedDeviceRootPem(), 1);
  ASSERT_TRUE(root.ok());
  std::vector<const X509*> inter;
  for (size_t i = 1; i < certs->size(); ++i) inter.push_back((*certs)[i].get());
  const X509* roots[] = {root->front().get()};
  crypto::ChainOptions options;
  options.at = test::VectorTime();
  options.expected_length = kGpuChainLength;
  auto result = crypto::VerifyChain((*certs)[0].get(), inter, roots, options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->ok()) << result->detail;
  // Device certificates run to 9999: far-future verification works too.
  options.at = absl::FromCivil(absl::CivilSecond(9000, 1, 1, 0, 0, 0), absl::UTCTimeZone());
  result = crypto::VerifyChain((*certs)[0].get(), inter, roots, options);
  ASSERT_TRUE(result.ok());
  EXPECT_TRUE(result->ok()) << result->detail;

  EXPECT_EQ(DecimalSerial((*certs)[0].get()), v.ueid);
  const std::string hwmodel = crypto::SubjectCommonName((*certs)[1].get());
  EXPECT_EQ(hwmodel, v.arch == "HOPPER" ? "GH100 A01 GSP BROM" : "GB100 A01 GSP BROM");

  auto fwid = ExtractLeafFwid((*certs)[0].get());
  ASSERT_TRUE(fwid.ok()) << fwid.status();
  ASSERT_TRUE(fwid->has_value());
  EXPECT_EQ((*fwid)->format, *ParseArch(v.arch));
  auto report = ParseGpuReportUnverified(test::ReadHexReport(v.report));
  ASSERT_TRUE(report.ok());
  if (v.has_fwid) {
    EXPECT_EQ(HexEncode((*fwid)->fwid), HexEncode(*report->opaque.fwid));
  }
}

INSTANTIATE_TEST_SUITE_P(Vectors, RealChainTest, ::testing::ValuesIn(RealVectors()),
                         [](const auto& p) { return p.param.name; });

TEST(RealChain, KnownFwidValues) {
  auto h = ParseGpuCertChain(
      test::ReadFile(test::DataPath("hopper/h100_drv550.90.07_vbios96009F0001_certchain.pem")));
  ASSERT_TRUE(h.ok());
  auto hf = ExtractLeafFwid((*h)[0].get());
  ASSERT_TRUE(hf.ok() && hf->has_value());
  EXPECT_EQ(HexEncode((*hf)->fwid),
            "f5c384aebb579217a2c66b17ed0f28e6a9b8d639041acd7b4721cec004f7275494ba94bb5cdfdb3055ee0"
            "51762b1f75d");
  // The BROM (not the leaf) has no FWID extension.
  auto none = ExtractLeafFwid((*h)[1].get());
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST(ChainParsing, AcceptsBase64OfPemAndRejectsGarbage) {
  const std::string pem =
      test::ReadFile(test::DataPath("hopper/h100_drv550.90.07_vbios96009F0001_certchain.pem"));
  auto b64 = ParseGpuCertChain(Base64Encode(AsBytes(pem)));
  ASSERT_TRUE(b64.ok()) << b64.status();
  EXPECT_EQ(b64->size(), 5u);
  EXPECT_FALSE(ParseGpuCertChain("not a chain").ok());
  EXPECT_FALSE(ParseGpuCertChain(Base64Encode(AsBytes("hello"))).ok());
  std::string nine;
  for (int i = 0; i < 2; ++i) nine += pem;
  EXPECT_FALSE(ParseGpuCertChain(nine).ok());  // 10 certificates > kMaxBundleCerts
}

TEST(ChainParsing, NegativeChainsParseWithTheirShapes) {
  for (const auto& [file, count] :
       std::vector<std::pair<std::string, size_t>>{{"chains_negative/h100_chain_case2.pem", 1},
                                                   {"chains_negative/h100_chain_case3.pem", 4},
                                                   {"chains_negative/h100_chain_case4.pem", 4}}) {
    auto certs = ParseGpuCertChain(test::ReadFile(test::DataPath(file)));
    ASSERT_TRUE(certs.ok()) << file << certs.status();
    EXPECT_EQ(certs->size(), count) << file;
  }
}

}  // namespace
}  // namespace rp::nvidia
