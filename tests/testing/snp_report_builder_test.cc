// The report builder is tested against the parser in both directions and
// against real AMD reports, so negative tests built with it mean what they
// say.
#include "tests/testing/snp_report_builder.h"

#include <algorithm>

#include "gtest/gtest.h"
#include "verifier/crypto/keys.h"
#include "verifier/crypto/signature.h"
#include "verifier/crypto/x509.h"
#include "verifier/sev_snp/golden_samples.h"
#include "verifier/sev_snp/report.h"
#include "verifier/sev_snp/test_util.h"
#include "verifier/sev_snp/vcek.h"

namespace rp::testing {
namespace {

using sev_snp::kReportSize;
using sev_snp::Product;
using sev_snp::SnpReport;

TEST(SnpReportBuilderTest, DefaultIsExactSizeAndParsesBack) {
  SnpReportBuilder b;
  const Bytes bytes = b.Build();
  ASSERT_EQ(bytes.size(), kReportSize);
  absl::StatusOr<SnpReport> r = sev_snp::ParseReportUnverified(bytes);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, b.fields());
}

TEST(SnpReportBuilderTest, EveryFieldRoundTrips) {
  for (Product p : {Product::kMilan, Product::kGenoa, Product::kTurin}) {
    for (uint32_t version : {2u, 3u, 4u, 5u}) {
      SnpReportBuilder b;
      b.ForProduct(p).Version(version);
      Bytes fill(72);
      for (size_t i = 0; i < fill.size(); ++i)
        fill[i] = static_cast<uint8_t>(0x10 + i);
      b.GuestSvn(7)
          .Policy(0x3FF1F22)
          .FamilyId(fill)
          .ImageId(fill)
          .Vmpl(2)
          .CurrentTcb(MakeTcb(p, 1, 2, 3, 4, 5))
          .PlatformInfo(0x67)
          .SigningKey(1)
          .AuthorKeyEn(true)
          .ReportData(fill)
          .Measurement(fill)
          .HostData(fill)
          .IdKeyDigest(fill)
          .AuthorKeyDigest(fill)
          .ReportId(fill)
          .ReportIdMa(fill)
          .ReportedTcb(MakeTcb(p, 6, 7, 8, 9, 10))
          .ChipId(fill)
          .CommittedTcb(MakeTcb(p, 11, 12, 13, 14, 15))
          .CurrentVersion(1, 55, 61)
          .CommittedVersion(1, 55, 60)
          .LaunchTcb(MakeTcb(p, 16, 17, 18, 19, 20))
          .SignatureR(fill)
          .SignatureS(fill);
      if (version >= 3) b.Cpuid(p == Product::kTurin ? 0x1A : 0x19, 0x11, 2);
      if (version >= 5) b.LaunchMitVector(0x1234).CurrentMitVector(0x5678);
      absl::StatusOr<SnpReport> r = sev_snp::ParseReportUnverified(b.Build());
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_EQ(*r, b.fields()) << sev_snp::ProductName(p) << " v" << version;
      EXPECT_EQ(sev_snp::DecodeTcb(r->reported_tcb, p)->microcode, 9);
    }
  }
}

TEST(SnpReportBuilderTest, MakeTcbAgreesWithParserLayout) {
  for (Product p : {Product::kMilan, Product::kGenoa, Product::kTurin}) {
    const sev_snp::TcbVersion t = MakeTcb(p, 1, 2, 3, 4, 5);
    std::optional<sev_snp::TcbParts> parts = sev_snp::DecodeTcb(t, p);
    ASSERT_TRUE(parts.has_value());
    EXPECT_EQ(parts->bootloader, 1);
    EXPECT_EQ(parts->tee, 2);
    EXPECT_EQ(parts->snp, 3);
    EXPECT_EQ(parts->microcode, 4);
    EXPECT_EQ(parts->fmc.has_value(), p == Product::kTurin);
    EXPECT_EQ(sev_snp::EncodeTcb(*parts, p), t);
  }
}

TEST(SnpReportBuilderTest, ProductRelaysOutTcbs) {
  SnpReportBuilder b;  // Milan bl4 tee0 snp24 uc219
  b.ForProduct(Product::kTurin);
  EXPECT_EQ(b.fields().cpuid_fam_id, 0x1A);
  EXPECT_EQ(sev_snp::DecodeTcb(b.fields().reported_tcb, Product::kTurin),
            (sev_snp::TcbParts{0, 4, 0, 24, 219}));
  EXPECT_TRUE(std::all_of(b.fields().chip_id.begin() + 8,
                          b.fields().chip_id.end(),
                          [](uint8_t x) { return x == 0; }));
}

// A real report re-encoded field by field gives back the exact real bytes,
// signature area included.
TEST(SnpReportBuilderTest, ReencodesRealReportsByteExactly) {
  for (const auto& s : sev_snp::test::GoldenSamples()) {
    const Bytes real = sev_snp::test::ReadSnpData(s.folder + "/" + s.report);
    absl::StatusOr<SnpReport> r = sev_snp::ParseReportUnverified(real);
    ASSERT_TRUE(r.ok()) << s.folder << ": " << r.status();
    EXPECT_EQ(EncodeSnpReport(*r), real) << s.folder << "/" << s.report;
    const Product p = s.product == "Turin"   ? Product::kTurin
                      : s.product == "Genoa" ? Product::kGenoa
                                             : Product::kMilan;
    EXPECT_EQ(SnpReportBuilder(*r, p).Build(), real)
        << s.folder << "/" << s.report;
  }
}

TEST(SnpReportBuilderTest, SignsLikeTheFirmware) {
  absl::StatusOr<crypto::OpensslPtr<EVP_PKEY>> key =
      crypto::GenerateEcKey("P-384");
  ASSERT_TRUE(key.ok()) << key.status();
  SnpReportBuilder b;
  absl::StatusOr<Bytes> signed_report = b.BuildSigned(key->get());
  ASSERT_TRUE(signed_report.ok()) << signed_report.status();
  ASSERT_EQ(signed_report->size(), kReportSize);
  const std::span<const uint8_t> s(*signed_report);
  EXPECT_TRUE(crypto::VerifyEcdsaRaw(key->get(), s.first(sev_snp::kSignedSize),
                                     s.subspan(sev_snp::kSignatureROffset, 72),
                                     s.subspan(sev_snp::kSignatureSOffset, 72),
                                     crypto::Endian::kLittle,
                                     crypto::HashAlg::kSha384)
                  .ok());
  // P-384 fills the low 48 bytes of each 72-byte little-endian field.
  EXPECT_TRUE(std::all_of(s.begin() + 0x2A0 + 48, s.begin() + 0x2E8,
                          [](uint8_t x) { return x == 0; }));
  EXPECT_TRUE(std::all_of(s.begin() + 0x2E8 + 48, s.end(),
                          [](uint8_t x) { return x == 0; }));
  absl::StatusOr<SnpReport> r = sev_snp::ParseReportUnverified(*signed_report);
  ASSERT_TRUE(r.ok()) << r.status();
  // Same fields as built, apart from the signature now filled in.
  SnpReport want = b.fields();
  want.signature_r = r->signature_r;
  want.signature_s = r->signature_s;
  EXPECT_EQ(*r, want);
}

TEST(SnpReportBuilderTest, PatchesBelowSignatureAreSigned) {
  absl::StatusOr<crypto::OpensslPtr<EVP_PKEY>> key =
      crypto::GenerateEcKey("P-384");
  ASSERT_TRUE(key.ok());
  SnpReportBuilder b;
  b.PatchByte(0x04C, 0x01).PatchByte(0x330, 0x02);
  absl::StatusOr<Bytes> out = b.BuildSigned(key->get());
  ASSERT_TRUE(out.ok());
  EXPECT_EQ((*out)[0x04C], 0x01);
  EXPECT_EQ((*out)[0x330], 0x02);
  const std::span<const uint8_t> s(*out);
  EXPECT_TRUE(crypto::VerifyEcdsaRaw(key->get(), s.first(sev_snp::kSignedSize),
                                     s.subspan(0x2A0, 72), s.subspan(0x2E8, 72),
                                     crypto::Endian::kLittle,
                                     crypto::HashAlg::kSha384)
                  .ok());
}

TEST(SnpReportBuilderTest, ChainAndLeafCarryKdsExtensions) {
  SnpChainOptions options;
  options.product = Product::kTurin;
  absl::StatusOr<SnpTestChain> chain = MakeSnpTestChain(options);
  ASSERT_TRUE(chain.ok()) << chain.status();
  EXPECT_EQ(crypto::SubjectCommonName(chain->ark.cert.get()), "ARK-Turin");
  EXPECT_EQ(crypto::SubjectCommonName(chain->ask.cert.get()), "SEV-Turin");
  EXPECT_EQ(crypto::SubjectCommonName(chain->asvk.cert.get()),
            "SEV-VLEK-Turin");

  SnpReportBuilder b;
  b.ForProduct(Product::kTurin).AllTcbs(1, 0, 2, 71, 3);
  for (bool vlek : {false, true}) {
    SnpLeafOptions leaf;
    leaf.vlek = vlek;
    leaf.extensions = KdsSpecForReport(b.fields(), Product::kTurin, vlek);
    leaf.extensions.hw_id_form = HwIdForm::kOctetString;
    absl::StatusOr<Issued> issued = MakeSnpLeaf(*chain, leaf);
    ASSERT_TRUE(issued.ok()) << issued.status();
    EXPECT_EQ(crypto::SerialHex(issued->cert.get()), "0");
    EXPECT_EQ(crypto::IssuerCommonName(issued->cert.get()),
              vlek ? "SEV-VLEK-Turin" : "SEV-Turin");
    absl::StatusOr<sev_snp::KdsExtensions> ext =
        sev_snp::ParseKdsExtensions(issued->cert.get());
    ASSERT_TRUE(ext.ok()) << ext.status();
    EXPECT_EQ(ext->struct_version, 1);
    EXPECT_EQ(ext->product_name, "Turin");
    EXPECT_EQ(ext->fmc_spl, 3);
    EXPECT_EQ(ext->bl_spl, 1);
    EXPECT_EQ(ext->snp_spl, 2);
    EXPECT_EQ(ext->ucode_spl, 71);
    EXPECT_FALSE(ext->spl4.has_value());
    if (vlek) {
      EXPECT_FALSE(ext->hw_id.has_value());
      EXPECT_EQ(ext->csp_id, "CN=cc-test.example.com");
    } else {
      EXPECT_EQ(ext->hw_id, Bytes(b.fields().chip_id.begin(),
                                  b.fields().chip_id.begin() + 8));
      EXPECT_EQ(ext->hw_id_encoding, sev_snp::HwIdEncoding::kOctetString);
    }
  }
  // The ARK's CRL parses and is signed by it.
  EXPECT_FALSE(chain->crl_der.empty());
}

}  // namespace
}  // namespace rp::testing
