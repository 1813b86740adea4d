#include "verifier/sev_snp/roots.h"

#include <string>

#include "gtest/gtest.h"
#include "verifier/crypto/x509.h"
#include "verifier/sev_snp/test_util.h"
#include "verifier/sev_snp/verifier.h"

namespace rp::sev_snp {
namespace {

constexpr Product kProducts[] = {Product::kMilan, Product::kGenoa,
                                 Product::kTurin};

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

crypto::OpensslPtr<X509> One(std::string_view pem) {
  absl::StatusOr<std::vector<crypto::OpensslPtr<X509>>> certs =
      crypto::ParsePemCertificates(pem, 1);
  EXPECT_TRUE(certs.ok()) << certs.status();
  if (!certs.ok()) return nullptr;
  return std::move(certs->front());
}

TEST(RootsTest, CompiledCertificatesAreTheVectorFiles) {
  for (Product p : kProducts) {
    const std::string base = "collateral/" + Lower(ProductName(p));
    struct Row {
      std::string_view compiled;
      std::string file;
      std::string cn;
    };
    const std::string name(ProductName(p));
    for (const Row& row :
         {Row{AmdArkPem(p), base + "_ark.pem", "ARK-" + name},
          Row{AmdAskPem(p), base + "_ask.pem", "SEV-" + name},
          Row{AmdAsvkPem(p), base + "_asvk.pem", "SEV-VLEK-" + name}}) {
      crypto::OpensslPtr<X509> compiled = One(row.compiled);
      crypto::OpensslPtr<X509> file =
          One(ToString(test::ReadSnpData(row.file)));
      ASSERT_NE(compiled, nullptr);
      ASSERT_NE(file, nullptr);
      EXPECT_EQ(crypto::CertificateDer(compiled.get()),
                crypto::CertificateDer(file.get()))
          << row.file;
      EXPECT_EQ(crypto::SubjectCommonName(compiled.get()), row.cn);
    }
  }
  EXPECT_TRUE(AmdArkPem(Product::kUnknown).empty());
}

TEST(RootsTest, SpkiPinsMatchTheArks) {
  for (Product p : kProducts) {
    crypto::OpensslPtr<X509> ark = One(AmdArkPem(p));
    ASSERT_NE(ark, nullptr);
    const Bytes spki = crypto::SpkiSha256(ark.get());
    const std::array<uint8_t, 32> pin = AmdArkSpkiSha256(p);
    EXPECT_EQ(spki, Bytes(pin.begin(), pin.end())) << ProductName(p);
  }
  EXPECT_NE(AmdArkSpkiSha256(Product::kMilan),
            AmdArkSpkiSha256(Product::kGenoa));
  EXPECT_EQ(AmdArkSpkiSha256(Product::kUnknown), (std::array<uint8_t, 32>{}));
}

TEST(RootsTest, IntermediatesChainToTheirArk) {
  for (Product p : kProducts) {
    crypto::OpensslPtr<X509> ark = One(AmdArkPem(p));
    for (std::string_view pem : {AmdAskPem(p), AmdAsvkPem(p)}) {
      crypto::OpensslPtr<X509> inter = One(pem);
      const X509* roots[] = {ark.get()};
      crypto::ChainOptions options;
      options.at = test::GoldenTime();
      options.expected_length = 2;
      absl::StatusOr<crypto::ChainResult> r =
          crypto::VerifyChain(inter.get(), {}, roots, options);
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_TRUE(r->ok()) << r->detail;
    }
  }
}

TEST(TrustConfigTest, DefaultCreates) {
  TrustConfig config = TrustConfig::Default();
  EXPECT_EQ(config.amd.size(), 3u);
  EXPECT_FALSE(config.allow_unpinned_arks_for_test);
  EXPECT_TRUE(SnpVerifier::Create(config).ok());
}

TEST(TrustConfigTest, RefusesAnArkThatIsNotPinned) {
  TrustConfig config = TrustConfig::Default();
  config.amd[Product::kMilan].ark_pem = std::string(AmdArkPem(Product::kGenoa));
  absl::StatusOr<std::unique_ptr<SnpVerifier>> v = SnpVerifier::Create(config);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(v.status().message().find("pin"), std::string_view::npos)
      << v.status();
}

TEST(TrustConfigTest, ForTestReplacesOneProduct) {
  TrustConfig config = TrustConfig::ForTest(
      Product::kMilan, std::string(AmdArkPem(Product::kGenoa)));
  EXPECT_TRUE(config.allow_unpinned_arks_for_test);
  EXPECT_TRUE(config.amd[Product::kMilan].ask_pem.empty());
  EXPECT_EQ(config.amd[Product::kGenoa].ark_pem, AmdArkPem(Product::kGenoa));
  EXPECT_TRUE(SnpVerifier::Create(config).ok());
}

TEST(TrustConfigTest, RejectsMalformedAnchors) {
  TrustConfig bad_ark = TrustConfig::Default();
  bad_ark.amd[Product::kTurin].ark_pem = "not a certificate";
  EXPECT_FALSE(SnpVerifier::Create(bad_ark).ok());
  TrustConfig two = TrustConfig::Default();
  two.amd[Product::kTurin].ask_pem = std::string(AmdAskPem(Product::kTurin)) +
                                     std::string(AmdAsvkPem(Product::kTurin));
  EXPECT_FALSE(SnpVerifier::Create(two).ok());
  TrustConfig unknown = TrustConfig::Default();
  unknown.amd[Product::kUnknown] = unknown.amd[Product::kMilan];
  EXPECT_FALSE(SnpVerifier::Create(unknown).ok());
  TrustConfig sim = TrustConfig::Default();
  sim.simulation_roots_pem[Product::kMilan].push_back("garbage");
  EXPECT_FALSE(SnpVerifier::Create(sim).ok());
}

}  // namespace
}  // namespace rp::sev_snp
