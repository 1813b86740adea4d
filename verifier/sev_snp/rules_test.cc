// One test group per named rule in rules.h.
#include "verifier/sev_snp/rules.h"

#include <string>

#include "gtest/gtest.h"
#include "tests/testing/cert_factory.h"
#include "tests/testing/snp_report_builder.h"
#include "verifier/crypto/crl.h"
#include "verifier/crypto/x509.h"
#include "verifier/sev_snp/roots.h"
#include "verifier/sev_snp/test_util.h"

namespace rp::sev_snp {
namespace {

using core::CheckStatus;
using rp::testing::SnpReportBuilder;

SnpReport Parse(const SnpReportBuilder& b) {
  absl::StatusOr<SnpReport> r = ParseReportUnverified(b.Build());
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : SnpReport{};
}

void ExpectOutcome(const RuleOutcome& o, CheckStatus status,
                   std::string_view reason_code) {
  EXPECT_EQ(o.status, status) << o.reason << ": " << o.detail;
  EXPECT_EQ(o.reason, reason_code) << o.detail;
}

KdsExtensions ExtFor(const SnpReport& r, Product p, bool vlek) {
  testing::KdsExtensionSpec spec = testing::KdsSpecForReport(r, p, vlek);
  KdsExtensions e;
  e.struct_version = spec.struct_version;
  e.product_name = spec.product_name;
  auto u8 = [](const std::optional<int>& v) -> std::optional<uint8_t> {
    if (!v) return std::nullopt;
    return static_cast<uint8_t>(*v);
  };
  e.bl_spl = u8(spec.bl_spl);
  e.tee_spl = u8(spec.tee_spl);
  e.snp_spl = u8(spec.snp_spl);
  e.ucode_spl = u8(spec.ucode_spl);
  e.fmc_spl = u8(spec.fmc_spl);
  e.hw_id = spec.hw_id;
  e.hw_id_encoding = spec.hw_id ? HwIdEncoding::kRaw : HwIdEncoding::kAbsent;
  e.csp_id = spec.csp_id;
  return e;
}

// --- sev_snp.product
// -----------------------------------------------------------

TEST(DetermineProductTest, FromCpuidOrCertificate) {
  Product p = Product::kUnknown;
  SnpReportBuilder milan;
  ExpectOutcome(DetermineProduct(Parse(milan), nullptr, &p), CheckStatus::kPass,
                "OK");
  EXPECT_EQ(p, Product::kMilan);

  SnpReportBuilder zen2;
  zen2.Cpuid(0x17, 0x31, 0);
  ExpectOutcome(DetermineProduct(Parse(zen2), nullptr, &p), CheckStatus::kFail,
                reason::kProductUnknown);
  EXPECT_EQ(p, Product::kUnknown);

  SnpReportBuilder v2;
  v2.Version(2);
  const SnpReport r2 = Parse(v2);
  ExpectOutcome(DetermineProduct(r2, nullptr, &p), CheckStatus::kFail,
                reason::kProductUnknown);
  KdsExtensions ext;
  ExpectOutcome(DetermineProduct(r2, &ext, &p), CheckStatus::kFail,
                reason::kProductUnknown);
  ext.product_name = "Genoa-B1";
  ExpectOutcome(DetermineProduct(r2, &ext, &p), CheckStatus::kPass, "OK");
  EXPECT_EQ(p, Product::kGenoa);
  ext.product_name = "Venice";
  ExpectOutcome(DetermineProduct(r2, &ext, &p), CheckStatus::kFail,
                reason::kProductUnknown);

  // v3+: CPUID wins even when the certificate says otherwise (that is
  // sev_snp.cert_product's job).
  ext.product_name = "Genoa";
  ExpectOutcome(DetermineProduct(Parse(milan), &ext, &p), CheckStatus::kPass,
                "OK");
  EXPECT_EQ(p, Product::kMilan);
}

// --- sev_snp.signing_key_type
// ------------------------------------------------------

TEST(SigningKeyTypeTest, VcekAndVlekRules) {
  SnpReportBuilder vcek_b;
  const SnpReport vcek = Parse(vcek_b);
  SnpReportBuilder vlek_b;
  vlek_b.SigningKey(kSigningKeyVlek);
  const SnpReport vlek = Parse(vlek_b);

  LeafFacts good_vcek{LeafSource::kBundleVcek, "SEV-VCEK", "SEV-Milan",
                      "P-384"};
  LeafFacts good_vlek{LeafSource::kBundleVlek, "SEV-VLEK", "SEV-VLEK-Milan",
                      "P-384"};
  ExpectOutcome(CheckSigningKeyType(vcek, Product::kMilan, good_vcek),
                CheckStatus::kPass, "OK");
  LeafFacts fetched = good_vcek;
  fetched.source = LeafSource::kCollateral;
  ExpectOutcome(CheckSigningKeyType(vcek, Product::kMilan, fetched),
                CheckStatus::kPass, "OK");
  ExpectOutcome(CheckSigningKeyType(vlek, Product::kMilan, good_vlek),
                CheckStatus::kPass, "OK");

  // Key confusion (spec §1.3): a VLEK chain offered for a VCEK-signed report
  // and the reverse.
  ExpectOutcome(CheckSigningKeyType(vcek, Product::kMilan, good_vlek),
                CheckStatus::kFail, reason::kSigningKeyMismatch);
  ExpectOutcome(CheckSigningKeyType(vlek, Product::kMilan, good_vcek),
                CheckStatus::kFail, reason::kSigningKeyMismatch);
  LeafFacts vlek_in_vcek_field = good_vlek;
  vlek_in_vcek_field.source = LeafSource::kBundleVcek;
  ExpectOutcome(CheckSigningKeyType(vlek, Product::kMilan, vlek_in_vcek_field),
                CheckStatus::kFail, reason::kSigningKeyMismatch);
  LeafFacts wrong_issuer = good_vcek;
  wrong_issuer.issuer_cn = "SEV-Genoa";
  ExpectOutcome(CheckSigningKeyType(vcek, Product::kMilan, wrong_issuer),
                CheckStatus::kFail, reason::kSigningKeyMismatch);
  LeafFacts asvk_issued = good_vcek;
  asvk_issued.issuer_cn = "SEV-VLEK-Milan";
  ExpectOutcome(CheckSigningKeyType(vcek, Product::kMilan, asvk_issued),
                CheckStatus::kFail, reason::kSigningKeyMismatch);
  LeafFacts rsa = good_vcek;
  rsa.curve = "";
  ExpectOutcome(CheckSigningKeyType(vcek, Product::kMilan, rsa),
                CheckStatus::kFail, reason::kCertKeyInvalid);
  LeafFacts p256 = good_vcek;
  p256.curve = "P-256";
  ExpectOutcome(CheckSigningKeyType(vcek, Product::kMilan, p256),
                CheckStatus::kFail, reason::kCertKeyInvalid);
}

TEST(SigningKeyTypeTest, DescribesARealVcek) {
  absl::StatusOr<crypto::OpensslPtr<X509>> cert =
      crypto::ParseDerCertificate(test::ReadSnpData("turin_v5_oak/vcek.der"));
  ASSERT_TRUE(cert.ok());
  LeafFacts f = DescribeLeaf(cert->get(), LeafSource::kBundleVcek);
  EXPECT_EQ(f.subject_cn, "SEV-VCEK");
  EXPECT_EQ(f.issuer_cn, "SEV-Turin");
  EXPECT_EQ(f.curve, "P-384");
}

// --- sev_snp.cert_chain
// -----------------------------------------------------------

TEST(ChainOutcomeTest, MapsEveryChainError) {
  struct Row {
    crypto::ChainError error;
    const char* reason_code;
  };
  for (const Row& row :
       {Row{crypto::ChainError::kNone, "OK"},
        Row{crypto::ChainError::kUntrustedRoot, reason::kChainUntrustedRoot},
        Row{crypto::ChainError::kBadSignature, reason::kChainSignatureInvalid},
        Row{crypto::ChainError::kExpired, reason::kCertExpired},
        Row{crypto::ChainError::kNotYetValid, reason::kCertNotYetValid},
        Row{crypto::ChainError::kWrongShape, reason::kChainShapeInvalid},
        Row{crypto::ChainError::kOther, reason::kChainInvalid}}) {
    crypto::ChainResult r;
    r.error = row.error;
    r.detail = "d";
    RuleOutcome o = ChainOutcome(r);
    EXPECT_EQ(o.reason, row.reason_code);
    EXPECT_EQ(o.passed(), row.error == crypto::ChainError::kNone);
  }
}

TEST(ChainOutcomeTest, AmdPathIsPssAndFactoryDefaultIsNot) {
  absl::StatusOr<std::vector<crypto::OpensslPtr<X509>>> ark =
      crypto::ParsePemCertificates(AmdArkPem(Product::kGenoa), 1);
  absl::StatusOr<std::vector<crypto::OpensslPtr<X509>>> ask =
      crypto::ParsePemCertificates(AmdAskPem(Product::kGenoa), 1);
  absl::StatusOr<crypto::OpensslPtr<X509>> vcek =
      crypto::ParseDerCertificate(test::ReadSnpData("genoa_v5_oak/vcek.der"));
  ASSERT_TRUE(ark.ok() && ask.ok() && vcek.ok());
  const X509* path[] = {vcek->get(), ask->front().get(), ark->front().get()};
  EXPECT_EQ(NonPssSignatureInPath(path), "");

  testing::CertSpec spec;
  spec.common_name = "not-pss";
  absl::StatusOr<testing::Issued> root =
      testing::MakeRoot(spec, testing::KeyType::kEcP384);
  ASSERT_TRUE(root.ok());
  const X509* bad[] = {vcek->get(), root->cert.get()};
  EXPECT_NE(NonPssSignatureInPath(bad).find("not-pss"), std::string::npos);
}

// --- sev_snp.revocation
// -----------------------------------------------------------

class RevocationTest : public ::testing::Test {
 protected:
  static crypto::OpensslPtr<X509> Pem(std::string_view pem) {
    auto certs = crypto::ParsePemCertificates(pem, 1);
    EXPECT_TRUE(certs.ok());
    return std::move(certs->front());
  }
  static crypto::OpensslPtr<X509_CRL> Crl(const std::string& file) {
    auto crl = crypto::ParseCrl(test::ReadSnpData(file));
    EXPECT_TRUE(crl.ok()) << crl.status();
    return std::move(*crl);
  }
};

TEST_F(RevocationTest, RealCrlsAtTheGoldenTime) {
  auto genoa_ark = Pem(AmdArkPem(Product::kGenoa));
  auto genoa_ask = Pem(AmdAskPem(Product::kGenoa));
  auto genoa_crl = Crl("collateral/crl_genoa.der");
  // Today's Genoa ASK is 0x020002; the CRL revokes only 0x020001.
  ExpectOutcome(CheckRevocation(genoa_crl.get(), genoa_ark.get(),
                                genoa_ask.get(), test::GoldenTime()),
                CheckStatus::kPass, "OK");
  // A year later the CRL (nextUpdate 2025-11-03) is stale: not a pass.
  RuleOutcome stale =
      CheckRevocation(genoa_crl.get(), genoa_ark.get(), genoa_ask.get(),
                      test::GoldenTime() + absl::Hours(24 * 365));
  ExpectOutcome(stale, CheckStatus::kNotChecked, reason::kCrlNotCurrent);
  EXPECT_NE(stale.detail.find("2025-11-03"), std::string::npos) << stale.detail;
  // Milan's CRL checked against Genoa's ARK.
  auto milan_crl = Crl("collateral/crl_milan.der");
  ExpectOutcome(CheckRevocation(milan_crl.get(), genoa_ark.get(),
                                genoa_ask.get(), test::GoldenTime()),
                CheckStatus::kFail, reason::kCrlSignatureInvalid);
  ExpectOutcome(CheckRevocation(nullptr, genoa_ark.get(), genoa_ask.get(),
                                test::GoldenTime()),
                CheckStatus::kNotChecked, reason::kCrlUnavailable);
}

TEST_F(RevocationTest, RevokedAndWrongIssuer) {
  testing::SnpChainOptions options;
  options.product = Product::kGenoa;
  options.ask_serial = {0x02, 0x00, 0x01};
  options.revoked_serials = {{0x02, 0x00, 0x01}};
  absl::StatusOr<testing::SnpTestChain> chain =
      testing::MakeSnpTestChain(options);
  ASSERT_TRUE(chain.ok()) << chain.status();
  RuleOutcome revoked =
      CheckRevocation(chain->crl.get(), chain->ark.cert.get(),
                      chain->ask.cert.get(), test::GoldenTime());
  ExpectOutcome(revoked, CheckStatus::kFail, reason::kCertRevoked);
  EXPECT_NE(revoked.detail.find("serial 0x20001"), std::string::npos)
      << revoked.detail;
  EXPECT_NE(revoked.detail.find("2022-10-31"), std::string::npos)
      << revoked.detail;
  // The ASVK (0x010101 here) is not listed.
  ExpectOutcome(CheckRevocation(chain->crl.get(), chain->ark.cert.get(),
                                chain->asvk.cert.get(), test::GoldenTime()),
                CheckStatus::kPass, "OK");

  // Same key as the ARK under another name: the signature verifies, the
  // issuer name does not match.
  testing::CertSpec other;
  other.common_name = "ARK-Other";
  other.is_ca = true;
  absl::StatusOr<crypto::OpensslPtr<X509>> renamed = testing::MakeCertForKey(
      other, chain->ark.key.get(), chain->ark.cert.get(), chain->ark.key.get());
  ASSERT_TRUE(renamed.ok()) << renamed.status();
  ExpectOutcome(CheckRevocation(chain->crl.get(), renamed->get(),
                                chain->asvk.cert.get(), test::GoldenTime()),
                CheckStatus::kFail, reason::kCrlIssuerMismatch);
}

// --- sev_snp.tcb_match
// --------------------------------------------------------------

TEST(TcbMatchTest, ComparesEveryComponent) {
  SnpReportBuilder b;
  const SnpReport r = Parse(b);
  KdsExtensions ext = ExtFor(r, Product::kMilan, false);
  ExpectOutcome(CheckTcbMatch(r, Product::kMilan, ext), CheckStatus::kPass,
                "OK");
  for (std::optional<uint8_t> KdsExtensions::*field :
       {&KdsExtensions::bl_spl, &KdsExtensions::tee_spl,
        &KdsExtensions::snp_spl, &KdsExtensions::ucode_spl}) {
    KdsExtensions changed = ext;
    changed.*field = static_cast<uint8_t>(*(ext.*field) + 1);
    RuleOutcome o = CheckTcbMatch(r, Product::kMilan, changed);
    ExpectOutcome(o, CheckStatus::kFail, reason::kTcbMismatch);
    KdsExtensions missing = ext;
    missing.*field = std::nullopt;
    ExpectOutcome(CheckTcbMatch(r, Product::kMilan, missing),
                  CheckStatus::kFail, reason::kCertExtensionsInvalid);
  }
  KdsExtensions ucode = ext;
  ucode.ucode_spl = 200;
  RuleOutcome o = CheckTcbMatch(r, Product::kMilan, ucode);
  EXPECT_NE(o.detail.find("microcode: certificate 200, REPORTED_TCB 219"),
            std::string::npos)
      << o.detail;
  ExpectOutcome(CheckTcbMatch(r, Product::kUnknown, ext),
                CheckStatus::kNotChecked, reason::kPrerequisiteFailed);
}

TEST(TcbMatchTest, TurinIncludesFmc) {
  SnpReportBuilder b;
  b.ForProduct(Product::kTurin).AllTcbs(1, 0, 2, 71, 0);
  const SnpReport r = Parse(b);
  KdsExtensions ext = ExtFor(r, Product::kTurin, false);
  ExpectOutcome(CheckTcbMatch(r, Product::kTurin, ext), CheckStatus::kPass,
                "OK");
  ext.fmc_spl = 1;
  ExpectOutcome(CheckTcbMatch(r, Product::kTurin, ext), CheckStatus::kFail,
                reason::kTcbMismatch);
  ext.fmc_spl = std::nullopt;
  ExpectOutcome(CheckTcbMatch(r, Product::kTurin, ext), CheckStatus::kFail,
                reason::kCertExtensionsInvalid);
}

// --- sev_snp.chip_id
// ---------------------------------------------------------------

TEST(ChipIdTest, Vcek) {
  SnpReportBuilder b;
  const SnpReport r = Parse(b);
  KdsExtensions ext = ExtFor(r, Product::kMilan, false);
  ExpectOutcome(CheckChipId(r, Product::kMilan, ext), CheckStatus::kPass, "OK");
  KdsExtensions other = ext;
  (*other.hw_id)[63] ^= 1;
  ExpectOutcome(CheckChipId(r, Product::kMilan, other), CheckStatus::kFail,
                reason::kChipIdMismatch);
  KdsExtensions no_hwid = ext;
  no_hwid.hw_id = std::nullopt;
  ExpectOutcome(CheckChipId(r, Product::kMilan, no_hwid), CheckStatus::kFail,
                reason::kCertExtensionsInvalid);
  KdsExtensions with_csp = ext;
  with_csp.csp_id = "CN=x";
  ExpectOutcome(CheckChipId(r, Product::kMilan, with_csp), CheckStatus::kFail,
                reason::kCertExtensionsInvalid);
  KdsExtensions short_id = ext;
  short_id.hw_id->resize(8);
  ExpectOutcome(CheckChipId(r, Product::kMilan, short_id), CheckStatus::kFail,
                reason::kCertExtensionsInvalid);

  SnpReportBuilder masked_b;
  masked_b.ChipId(Bytes(64, 0));
  ExpectOutcome(CheckChipId(Parse(masked_b), Product::kMilan, ext),
                CheckStatus::kNotChecked, reason::kChipIdMasked);
}

TEST(ChipIdTest, TurinEightBytesAndZeroTail) {
  SnpReportBuilder b;
  b.ForProduct(Product::kTurin);
  const SnpReport r = Parse(b);
  KdsExtensions ext = ExtFor(r, Product::kTurin, false);
  ASSERT_EQ(ext.hw_id->size(), 8u);
  ExpectOutcome(CheckChipId(r, Product::kTurin, ext), CheckStatus::kPass, "OK");
  b.PatchByte(kChipIdOffset + 8, 1);  // byte after the 8-byte ID
  ExpectOutcome(CheckChipId(Parse(b), Product::kTurin, ext), CheckStatus::kFail,
                reason::kChipIdMismatch);
  KdsExtensions full = ExtFor(r, Product::kMilan, false);  // 64-byte hwID
  ExpectOutcome(CheckChipId(r, Product::kTurin, full), CheckStatus::kFail,
                reason::kCertExtensionsInvalid);
}

TEST(ChipIdTest, Vlek) {
  SnpReportBuilder b;
  b.SigningKey(kSigningKeyVlek).ChipId(Bytes(64, 0));
  const SnpReport r = Parse(b);
  KdsExtensions ext = ExtFor(r, Product::kMilan, true);
  ExpectOutcome(CheckChipId(r, Product::kMilan, ext), CheckStatus::kPass, "OK");
  KdsExtensions with_hwid = ext;
  with_hwid.hw_id = Bytes(64, 0);
  ExpectOutcome(CheckChipId(r, Product::kMilan, with_hwid), CheckStatus::kFail,
                reason::kCertExtensionsInvalid);
  KdsExtensions no_csp = ext;
  no_csp.csp_id = std::nullopt;
  ExpectOutcome(CheckChipId(r, Product::kMilan, no_csp), CheckStatus::kFail,
                reason::kCertExtensionsInvalid);
}

// --- sev_snp.cert_product
// ---------------------------------------------------------

TEST(CertProductTest, StructVersionAndName) {
  KdsExtensions ext;
  ext.struct_version = 0;
  ext.product_name = "Milan-B0";
  ExpectOutcome(CheckCertProduct(Product::kMilan, ext), CheckStatus::kPass,
                "OK");
  ExpectOutcome(CheckCertProduct(Product::kGenoa, ext), CheckStatus::kFail,
                reason::kCertProductMismatch);
  ExpectOutcome(CheckCertProduct(Product::kTurin, ext), CheckStatus::kFail,
                reason::kCertProductMismatch);
  ext.product_name = "Turin";
  ExpectOutcome(CheckCertProduct(Product::kTurin, ext), CheckStatus::kFail,
                reason::kCertProductMismatch);  // structVersion 0
  ext.struct_version = 1;
  ExpectOutcome(CheckCertProduct(Product::kTurin, ext), CheckStatus::kPass,
                "OK");
  ext.product_name = std::nullopt;
  ExpectOutcome(CheckCertProduct(Product::kTurin, ext), CheckStatus::kFail,
                reason::kCertExtensionsInvalid);
}

// --- sev_snp.report_signature
// -------------------------------------------------------

TEST(ReportSignatureTest, RealReportAndOneFlip) {
  Bytes report = test::ReadSnpData("milan_v3_oak_cb/report.bin");
  absl::StatusOr<crypto::OpensslPtr<X509>> vcek = crypto::ParseDerCertificate(
      test::ReadSnpData("milan_v3_oak_cb/vcek.der"));
  ASSERT_TRUE(vcek.ok());
  ExpectOutcome(CheckReportSignature(report, crypto::PublicKey(vcek->get())),
                CheckStatus::kPass, "OK");
  report[kMeasurementOffset] ^= 0x01;
  ExpectOutcome(CheckReportSignature(report, crypto::PublicKey(vcek->get())),
                CheckStatus::kFail, reason::kSignatureInvalid);
  report.pop_back();
  ExpectOutcome(CheckReportSignature(report, crypto::PublicKey(vcek->get())),
                CheckStatus::kFail, reason::kSignatureInvalid);
}

// --- Predicates for the policy layer
// ----------------------------------------------

TEST(PolicyPredicatesTest, ReadTheReport) {
  SnpReportBuilder b;
  b.Policy(0x30000 | kPolicyDebug | kPolicyMigrateMa).Vmpl(1);
  const SnpReport r = Parse(b);
  EXPECT_TRUE(PolicyDebug(r));
  EXPECT_TRUE(PolicyMigrateMa(r));
  EXPECT_TRUE(PolicySmt(r));
  EXPECT_FALSE(PolicySingleSocket(r));
  EXPECT_TRUE(VmplAtMost(r, 1));
  EXPECT_FALSE(VmplAtMost(r, 0));
  EXPECT_TRUE(ReportedTcbAtLeast(
      r, Product::kMilan, testing::MakeTcb(Product::kMilan, 4, 0, 24, 219)));
  EXPECT_FALSE(ReportedTcbAtLeast(
      r, Product::kMilan, testing::MakeTcb(Product::kMilan, 4, 0, 25, 0)));
  EXPECT_TRUE(LaunchTcbAtLeast(r, Product::kMilan,
                               testing::MakeTcb(Product::kMilan, 0, 0, 0, 0)));
  EXPECT_TRUE(CommittedMatchesCurrent(r));
  EXPECT_FALSE(CurrentMitVectorHas(r, 1));  // v3 has no mitigation vectors
  SnpReportBuilder v5;
  v5.Version(5).CurrentMitVector(3).CommittedVersion(1, 55, 28);
  const SnpReport r5 = Parse(v5);
  EXPECT_TRUE(CurrentMitVectorHas(r5, 2));
  EXPECT_FALSE(CurrentMitVectorHas(r5, 4));
  EXPECT_FALSE(CommittedMatchesCurrent(r5));
  EXPECT_FALSE(PolicyDebug(Parse(SnpReportBuilder())));
}

}  // namespace
}  // namespace rp::sev_snp
