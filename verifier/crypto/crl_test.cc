#include "verifier/crypto/crl.h"

#include <functional>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/pem.h>

#include "tests/testing/cert_factory.h"
#include "verifier/common/encoding.h"
#include "verifier/crypto/crypto_test_util.h"
#include "verifier/crypto/x509.h"

namespace rp::crypto {
namespace {

using ::rp::testing::CertSpec;
using ::rp::testing::CrlSpec;
using ::rp::testing::Issued;
using ::rp::testing::KeyType;
using ::rp::testing::MakeCert;
using ::rp::testing::MakeCertForKey;
using ::rp::testing::MakeCrl;
using ::rp::testing::MakeRoot;
using ::rp::testing::RevokedEntry;
using ::rp::testing::SigScheme;

const absl::Time kAt = absl::FromUnixSeconds(1735689600);  // 2025-01-01

CertSpec CaSpec(const std::string& cn) {
  CertSpec spec;
  spec.common_name = cn;
  spec.is_ca = true;
  return spec;
}

class CrlTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    issuer_ = std::make_unique<Issued>(MakeRoot(CaSpec("Issuer"), KeyType::kEcP384).value());
    other_ = std::make_unique<Issued>(MakeRoot(CaSpec("Other"), KeyType::kEcP384).value());
    CertSpec leaf;
    leaf.common_name = "Leaf";
    leaf.serial = {0x05};
    subject_ = std::make_unique<Issued>(
        MakeCert(leaf, KeyType::kEcP256, issuer_->cert.get(), issuer_->key.get()).value());
  }
  static void TearDownTestSuite() {
    issuer_.reset();
    other_.reset();
    subject_.reset();
  }
  static inline std::unique_ptr<Issued> issuer_;
  static inline std::unique_ptr<Issued> other_;
  static inline std::unique_ptr<Issued> subject_;
};

struct CrlCase {
  std::string name;
  std::function<void(CrlSpec&)> spec = [](CrlSpec&) {};
  bool sign_with_other_key = false;  // right issuer name, wrong key
  bool other_issuer_name = false;    // right key, wrong issuer name
  CrlOutcome want;
};

TEST_F(CrlTest, OutcomesChangeOneThing) {
  const std::vector<CrlCase> cases = {
      {.name = "not revoked", .want = CrlOutcome::kNotRevoked},
      {.name = "revoked",
       .spec = [](CrlSpec& s) { s.revoked.push_back({.serial = {0x05}}); },
       .want = CrlOutcome::kRevoked},
      {.name = "bad signature (signed by another key)",
       .sign_with_other_key = true,
       .want = CrlOutcome::kBadSignature},
      {.name = "wrong issuer name", .other_issuer_name = true, .want = CrlOutcome::kWrongIssuer},
      {.name = "expired",
       .spec = [](CrlSpec& s) { s.next_update = kAt; },
       .want = CrlOutcome::kExpired},
      {.name = "no nextUpdate",
       .spec = [](CrlSpec& s) { s.next_update.reset(); },
       .want = CrlOutcome::kExpired},
      {.name = "not yet valid",
       .spec = [](CrlSpec& s) { s.this_update = kAt + absl::Seconds(1); },
       .want = CrlOutcome::kNotYetValid},
      {.name = "revoked but signature bad: signature checked first",
       .spec = [](CrlSpec& s) { s.revoked.push_back({.serial = {0x05}}); },
       .sign_with_other_key = true,
       .want = CrlOutcome::kBadSignature},
  };
  for (const CrlCase& c : cases) {
    SCOPED_TRACE(c.name);
    CrlSpec spec;
    spec.revoked.push_back({.serial = {0x06}});  // someone else
    c.spec(spec);
    const X509* name_cert = c.other_issuer_name ? other_->cert.get() : issuer_->cert.get();
    const EVP_PKEY* key = c.sign_with_other_key ? other_->key.get() : issuer_->key.get();
    OpensslPtr<X509_CRL> crl = MakeCrl(spec, name_cert, key).value();
    const CrlCheck check = CheckCrl(crl.get(), issuer_->cert.get(), subject_->cert.get(), kAt);
    EXPECT_EQ(check.outcome, c.want) << check.detail;
  }
}

TEST_F(CrlTest, RevokedCarriesDateAndReason) {
  CrlSpec spec;
  spec.revoked.push_back(
      {.serial = {0x05}, .when = absl::FromUnixSeconds(1650000000), .reason = 1});
  OpensslPtr<X509_CRL> crl = MakeCrl(spec, issuer_->cert.get(), issuer_->key.get()).value();
  const CrlCheck check = CheckCrl(crl.get(), issuer_->cert.get(), subject_->cert.get(), kAt);
  ASSERT_EQ(check.outcome, CrlOutcome::kRevoked) << check.detail;
  EXPECT_EQ(check.revocation_time, absl::FromUnixSeconds(1650000000));
  EXPECT_EQ(check.revocation_reason, 1);  // keyCompromise
  EXPECT_EQ(check.this_update, spec.this_update);
  EXPECT_EQ(check.next_update, *spec.next_update);

  spec.revoked[0].reason = -1;
  crl = MakeCrl(spec, issuer_->cert.get(), issuer_->key.get()).value();
  EXPECT_EQ(CheckCrl(crl.get(), issuer_->cert.get(), subject_->cert.get(), kAt).revocation_reason,
            -1);
}

TEST_F(CrlTest, RsaPssSignedCrl) {
  Issued rsa = MakeRoot(CaSpec("RSA Issuer"), KeyType::kRsa2048).value();
  CrlSpec spec;
  spec.scheme = SigScheme::kRsaPssSha384;
  OpensslPtr<X509_CRL> crl = MakeCrl(spec, rsa.cert.get(), rsa.key.get()).value();
  EXPECT_EQ(X509_CRL_get_signature_nid(crl.get()), NID_rsassaPss);
  EXPECT_EQ(CheckCrl(crl.get(), rsa.cert.get(), subject_->cert.get(), kAt).outcome,
            CrlOutcome::kNotRevoked);
}

TEST_F(CrlTest, ParseDerPemAndTrailingBytes) {
  OpensslPtr<X509_CRL> crl = MakeCrl({}, issuer_->cert.get(), issuer_->key.get()).value();
  const Bytes der = rp::testing::CrlDer(crl.get());
  ASSERT_FALSE(der.empty());
  EXPECT_TRUE(ParseCrl(der).ok());

  OpensslPtr<BIO> bio(BIO_new(BIO_s_mem()));
  ASSERT_EQ(PEM_write_bio_X509_CRL(bio.get(), crl.get()), 1);
  const char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  const std::string pem(data, static_cast<size_t>(len));
  auto parsed = ParseCrl(AsBytes(pem));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(rp::testing::CrlDer(parsed->get()), der);

  Bytes trailing = der;
  trailing.push_back(0);
  EXPECT_EQ(ParseCrl(trailing).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(ParseCrl({}).ok());
  EXPECT_FALSE(ParseCrl(AsBytes("garbage")).ok());
  EXPECT_FALSE(ParseCrl(Bytes(kMaxCrlBytes + 1, 0x30)).ok());
}

TEST(CrlNullTest, NullInputsNeverPass) {
  const CrlCheck check = CheckCrl(nullptr, nullptr, nullptr, kAt);
  EXPECT_NE(check.outcome, CrlOutcome::kNotRevoked);
}

// Real AMD CRLs (ARK-signed, RSA-PSS) at 2025-09-01.
class AmdCrlTest : public ::testing::Test {
 protected:
  static OpensslPtr<X509> Pem(const std::string& name) {
    return ParseCertificateAnyEncoding(testing::ReadTestDataForTest("snp/collateral/" + name))
        .value();
  }
  static OpensslPtr<X509_CRL> Crl(const std::string& name) {
    return ParseCrl(testing::ReadTestDataForTest("snp/collateral/" + name)).value();
  }
};

TEST_F(AmdCrlTest, GenoaCrlRevokesSerial020001Only) {
  OpensslPtr<X509> ark = Pem("genoa_ark.pem");
  OpensslPtr<X509> ask = Pem("genoa_ask.pem");
  OpensslPtr<X509_CRL> crl = Crl("crl_genoa.der");
  ASSERT_EQ(SerialHex(ask.get()), "20002");

  const CrlCheck ask_check = CheckCrl(crl.get(), ark.get(), ask.get(), testing::AmdTestTime());
  EXPECT_EQ(ask_check.outcome, CrlOutcome::kNotRevoked) << ask_check.detail;
  EXPECT_LT(ask_check.this_update, testing::AmdTestTime());
  EXPECT_GT(ask_check.next_update, testing::AmdTestTime());

  // A certificate carrying the revoked serial (any issuer will do: the CRL
  // lookup is by serial once the CRL itself checks out).
  CertSpec spec;
  spec.serial = {0x02, 0x00, 0x01};
  Issued ca = MakeRoot(CaSpec("x"), KeyType::kEcP256).value();
  Issued revoked = MakeCert(spec, KeyType::kEcP256, ca.cert.get(), ca.key.get()).value();
  const CrlCheck check = CheckCrl(crl.get(), ark.get(), revoked.cert.get(), testing::AmdTestTime());
  EXPECT_EQ(check.outcome, CrlOutcome::kRevoked) << check.detail;
  EXPECT_EQ(check.revocation_time, absl::FromCivil(absl::CivilSecond(2022, 10, 31, 12, 0, 0),
                                                   absl::UTCTimeZone()));
}

TEST_F(AmdCrlTest, MilanCrlDoesNotVerifyWithGenoaArk) {
  OpensslPtr<X509> genoa_ark = Pem("genoa_ark.pem");
  OpensslPtr<X509> milan_ark = Pem("milan_ark.pem");
  OpensslPtr<X509> milan_ask = Pem("milan_ask.pem");
  OpensslPtr<X509_CRL> crl = Crl("crl_milan.der");
  const CrlCheck wrong = CheckCrl(crl.get(), genoa_ark.get(), milan_ask.get(),
                                  testing::AmdTestTime());
  EXPECT_THAT(wrong.outcome,
              ::testing::AnyOf(CrlOutcome::kBadSignature, CrlOutcome::kWrongIssuer))
      << wrong.detail;
  const CrlCheck right = CheckCrl(crl.get(), milan_ark.get(), milan_ask.get(),
                                  testing::AmdTestTime());
  EXPECT_EQ(right.outcome, CrlOutcome::kNotRevoked) << right.detail;
}

}  // namespace
}  // namespace rp::crypto
