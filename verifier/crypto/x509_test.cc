#include "verifier/crypto/x509.h"

#include <functional>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/testing/cert_factory.h"
#include "verifier/common/encoding.h"
#include "verifier/crypto/crypto_test_util.h"
#include "verifier/crypto/digest.h"
#include "verifier/crypto/verified_memo.h"

namespace rp::crypto {
namespace {

using ::rp::testing::CertSpec;
using ::rp::testing::CustomExtension;
using ::rp::testing::Issued;
using ::rp::testing::KeyType;
using ::rp::testing::MakeCert;
using ::rp::testing::MakeRoot;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// 2025-01-01T00:00:00Z: inside the factory's default validity.
const absl::Time kAt = absl::FromUnixSeconds(1735689600);

CertSpec RootSpec(const std::string& cn) {
  CertSpec spec;
  spec.common_name = cn;
  spec.subject_extra = {{"O", "Test"}};
  spec.is_ca = true;
  return spec;
}

CertSpec InterSpec() {
  CertSpec spec;
  spec.common_name = "Intermediate";
  spec.serial = {0x02};
  spec.is_ca = true;
  spec.path_len = 0;
  return spec;
}

CertSpec LeafSpec() {
  CertSpec spec;
  spec.common_name = "Leaf";
  spec.serial = {0x03};
  return spec;
}

// Flips the last byte of the DER (inside the signature value) and re-parses.
OpensslPtr<X509> WithTamperedSignature(const X509* cert) {
  Bytes der = CertificateDer(cert);
  der.back() ^= 0x01;
  return ParseDerCertificate(der).value();
}

class ChainTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = std::make_unique<Issued>(MakeRoot(RootSpec("Root"), KeyType::kEcP384).value());
    other_root_ =
        std::make_unique<Issued>(MakeRoot(RootSpec("Other Root"), KeyType::kEcP384).value());
  }
  static void TearDownTestSuite() {
    root_.reset();
    other_root_.reset();
  }
  static inline std::unique_ptr<Issued> root_;
  static inline std::unique_ptr<Issued> other_root_;
};

TEST_F(ChainTest, ValidChainReturnsCallerPointers) {
  Issued inter = MakeCert(InterSpec(), KeyType::kEcP384, root_->cert.get(), root_->key.get())
                     .value();
  Issued leaf = MakeCert(LeafSpec(), KeyType::kEcP256, inter.cert.get(), inter.key.get()).value();
  const X509* inters[] = {inter.cert.get()};
  const X509* roots[] = {other_root_->cert.get(), root_->cert.get()};
  ChainResult r =
      VerifyChain(leaf.cert.get(), inters, roots, {.at = kAt, .expected_length = 3}).value();
  ASSERT_TRUE(r.ok()) << r.detail;
  EXPECT_THAT(r.path, ElementsAre(leaf.cert.get(), inter.cert.get(), root_->cert.get()));
}

TEST_F(ChainTest, PartialChainTrustsIntermediateAnchor) {
  Issued inter = MakeCert(InterSpec(), KeyType::kEcP384, root_->cert.get(), root_->key.get())
                     .value();
  Issued leaf = MakeCert(LeafSpec(), KeyType::kEcP256, inter.cert.get(), inter.key.get()).value();
  const X509* roots[] = {inter.cert.get()};
  ChainResult r = VerifyChain(leaf.cert.get(), {}, roots,
                              {.at = kAt, .expected_length = 2, .partial_chain = true})
                      .value();
  ASSERT_TRUE(r.ok()) << r.detail;
  EXPECT_THAT(r.path, ElementsAre(leaf.cert.get(), inter.cert.get()));
}

TEST_F(ChainTest, NullLeafIsInvalidArgument) {
  const X509* roots[] = {root_->cert.get()};
  EXPECT_EQ(VerifyChain(nullptr, {}, roots, {.at = kAt}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

enum class RootSet { kRoot, kOtherRoot, kIntermediateAsRoot, kRootOnlyAsIntermediate };

struct ChainCase {
  std::string name;
  std::function<void(CertSpec& inter, CertSpec& leaf)> specs = [](CertSpec&, CertSpec&) {};
  RootSet roots = RootSet::kRoot;
  bool tamper_leaf = false;
  bool tamper_inter = false;
  size_t expected_length = 3;
  ChainError want = ChainError::kNone;
  std::string detail = "";
};

TEST_F(ChainTest, NegativesChangeOneThing) {
  const absl::Time before = kAt - absl::Hours(1);
  const absl::Time after = kAt + absl::Hours(1);
  const std::vector<ChainCase> cases = {
      {.name = "baseline ok"},
      {.name = "leaf expired at `at`",
       .specs = [&](CertSpec&, CertSpec& l) { l.not_after = before; },
       .want = ChainError::kExpired,
       .detail = "depth 0: certificate has expired"},
      {.name = "leaf not yet valid",
       .specs = [&](CertSpec&, CertSpec& l) { l.not_before = after; },
       .want = ChainError::kNotYetValid,
       .detail = "depth 0: certificate is not yet valid"},
      {.name = "intermediate expired",
       .specs = [&](CertSpec& i, CertSpec&) { i.not_after = before; },
       .want = ChainError::kExpired,
       .detail = "depth 1:"},
      {.name = "unknown root", .roots = RootSet::kOtherRoot, .want = ChainError::kUntrustedRoot},
      {.name = "bad leaf signature", .tamper_leaf = true, .want = ChainError::kBadSignature,
       .detail = "depth 0: certificate signature failure"},
      {.name = "bad intermediate signature", .tamper_inter = true,
       .want = ChainError::kBadSignature, .detail = "depth 1:"},
      {.name = "wrong expected length", .expected_length = 2, .want = ChainError::kWrongShape},
      {.name = "intermediate presented as root is not a trust anchor",
       .roots = RootSet::kIntermediateAsRoot, .want = ChainError::kUntrustedRoot},
      {.name = "root passed only as an intermediate does not help",
       .roots = RootSet::kRootOnlyAsIntermediate, .want = ChainError::kUntrustedRoot},
  };
  for (const ChainCase& c : cases) {
    SCOPED_TRACE(c.name);
    CertSpec inter_spec = InterSpec();
    CertSpec leaf_spec = LeafSpec();
    c.specs(inter_spec, leaf_spec);
    Issued inter =
        MakeCert(inter_spec, KeyType::kEcP384, root_->cert.get(), root_->key.get()).value();
    Issued leaf =
        MakeCert(leaf_spec, KeyType::kEcP256, inter.cert.get(), inter.key.get()).value();
    OpensslPtr<X509> leaf_cert =
        c.tamper_leaf ? WithTamperedSignature(leaf.cert.get()) : std::move(leaf.cert);
    OpensslPtr<X509> inter_cert =
        c.tamper_inter ? WithTamperedSignature(inter.cert.get()) : std::move(inter.cert);

    std::vector<const X509*> inters = {inter_cert.get()};
    std::vector<const X509*> roots;
    switch (c.roots) {
      case RootSet::kRoot:
        roots = {root_->cert.get()};
        break;
      case RootSet::kOtherRoot:
        roots = {other_root_->cert.get()};
        break;
      case RootSet::kIntermediateAsRoot:
        inters = {};
        roots = {inter_cert.get()};
        break;
      case RootSet::kRootOnlyAsIntermediate:
        inters = {inter_cert.get(), root_->cert.get()};
        roots = {other_root_->cert.get()};
        break;
    }
    ChainResult r = VerifyChain(leaf_cert.get(), inters, roots,
                                {.at = kAt, .expected_length = c.expected_length})
                        .value();
    EXPECT_EQ(r.error, c.want) << r.detail;
    EXPECT_THAT(r.detail, HasSubstr(c.detail));
    if (c.want != ChainError::kNone) {
      EXPECT_TRUE(r.path.empty());
    }
  }
}

// Real AMD data: the Milan VCEK (RSA-PSS signed by the ASK) chains to the
// Milan ARK, not to the Genoa ARK.
TEST(AmdChainTest, MilanVcekChainsToMilanArk) {
  OpensslPtr<X509> vcek =
      ParseDerCertificate(testing::ReadTestDataForTest("snp/milan_v3_oak_cb/vcek.der")).value();
  const Bytes ask_pem = testing::ReadTestDataForTest("snp/collateral/milan_ask.pem");
  const Bytes ark_pem = testing::ReadTestDataForTest("snp/collateral/milan_ark.pem");
  const Bytes genoa_ark_pem = testing::ReadTestDataForTest("snp/collateral/genoa_ark.pem");
  OpensslPtr<X509> ask = ParseCertificateAnyEncoding(ask_pem).value();
  OpensslPtr<X509> ark = ParseCertificateAnyEncoding(ark_pem).value();
  OpensslPtr<X509> genoa_ark = ParseCertificateAnyEncoding(genoa_ark_pem).value();
  EXPECT_EQ(SubjectCommonName(ark.get()), "ARK-Milan");
  EXPECT_EQ(SubjectCommonName(ask.get()), "SEV-Milan");
  EXPECT_EQ(IssuerCommonName(vcek.get()), "SEV-Milan");
  EXPECT_EQ(SerialHex(ask.get()), "10001");

  const X509* inters[] = {ask.get()};
  const X509* milan[] = {ark.get()};
  ChainResult ok = VerifyChain(vcek.get(), inters, milan,
                               {.at = testing::AmdTestTime(), .expected_length = 3})
                       .value();
  ASSERT_TRUE(ok.ok()) << ok.detail;
  EXPECT_THAT(ok.path, ElementsAre(vcek.get(), ask.get(), ark.get()));

  const X509* genoa[] = {genoa_ark.get()};
  ChainResult bad = VerifyChain(vcek.get(), inters, genoa,
                                {.at = testing::AmdTestTime(), .expected_length = 3})
                        .value();
  EXPECT_EQ(bad.error, ChainError::kUntrustedRoot) << bad.detail;
}

TEST(PemTest, ManyCertificatesInOrder) {
  std::string pem;
  std::vector<Issued> roots;
  for (int i = 0; i < 5; ++i) {
    roots.push_back(MakeRoot(RootSpec(absl::StrCat("R", i)), KeyType::kEcP256).value());
    absl::StrAppend(&pem, i == 2 ? "some comment between blocks\n" : "",
                    CertificatePem(roots.back().cert.get()));
  }
  auto certs = ParsePemCertificates(pem, 5);
  ASSERT_TRUE(certs.ok()) << certs.status();
  ASSERT_EQ(certs->size(), 5u);
  for (size_t i = 0; i < certs->size(); ++i) {
    EXPECT_EQ(SubjectCommonName((*certs)[i].get()), absl::StrCat("R", i));
  }
  EXPECT_EQ(ParsePemCertificates(pem, 4).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PemTest, RejectsBadInput) {
  Issued root = MakeRoot(RootSpec("R"), KeyType::kEcP256).value();
  const std::string good = CertificatePem(root.cert.get());
  std::string truncated = good.substr(0, good.size() / 2);
  std::string bad_base64 = "-----BEGIN CERTIFICATE-----\n!!!!notbase64!!!!\n-----END CERTIFICATE-----\n";
  std::string bad_der = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"empty", ""},
      {"garbage", "hello world"},
      {"malformed base64 block", bad_base64},
      {"not a certificate inside", bad_der},
      {"good then malformed", good + bad_der},
      {"truncated block", truncated},
      {"good then truncated", good + truncated},
      {"too large", good + std::string(kMaxPemBundleBytes, '\n')},
  };
  EXPECT_TRUE(ParsePemCertificates(good, 1).ok());
  for (const auto& [name, text] : cases) {
    SCOPED_TRACE(name);
    EXPECT_EQ(ParsePemCertificates(text, 10).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

TEST(ParseTest, AnyEncodingAndTrailingBytes) {
  Issued root = MakeRoot(RootSpec("R"), KeyType::kEcP256).value();
  const Bytes der = CertificateDer(root.cert.get());
  const std::string pem = CertificatePem(root.cert.get());
  const std::string b64 = Base64Encode(der);
  for (const auto& [name, input] :
       {std::pair<std::string, Bytes>{"der", der}, {"pem", Bytes(pem.begin(), pem.end())},
        {"base64", Bytes(b64.begin(), b64.end())}}) {
    SCOPED_TRACE(name);
    auto cert = ParseCertificateAnyEncoding(input);
    ASSERT_TRUE(cert.ok()) << cert.status();
    EXPECT_EQ(CertificateDer(cert->get()), der);
  }
  Bytes trailing = der;
  trailing.push_back(0x00);
  EXPECT_THAT(ParseDerCertificate(trailing).status().message(), HasSubstr("trailing"));
  EXPECT_FALSE(ParseCertificateAnyEncoding(trailing).ok());
  EXPECT_FALSE(ParseDerCertificate(Bytes(der.begin(), der.end() - 1)).ok());
  EXPECT_FALSE(ParseDerCertificate({}).ok());
  EXPECT_FALSE(ParseDerCertificate(Bytes(kMaxCertificateBytes + 1, 0x30)).ok());
  EXPECT_FALSE(ParseCertificateAnyEncoding(AsBytes("not a certificate")).ok());
}

TEST(AccessorTest, NamesSerialTimesAndSpki) {
  CertSpec spec = RootSpec("My Root");
  spec.serial = {0x00, 0x0a, 0xbc};
  spec.not_before = absl::FromUnixSeconds(1700000000);
  spec.not_after = absl::FromUnixSeconds(1800000000);
  Issued root = MakeRoot(spec, KeyType::kEcP256).value();
  EXPECT_EQ(SubjectCommonName(root.cert.get()), "My Root");
  EXPECT_EQ(IssuerCommonName(root.cert.get()), "My Root");
  EXPECT_EQ(SerialHex(root.cert.get()), "abc");
  EXPECT_EQ(NotBefore(root.cert.get()), absl::FromUnixSeconds(1700000000));
  EXPECT_EQ(NotAfter(root.cert.get()), absl::FromUnixSeconds(1800000000));
  EXPECT_EQ(PublicKey(root.cert.get()), X509_get0_pubkey(root.cert.get()));

  // SPKI hash equals SHA-256 of the DER public key.
  const int len = i2d_PUBKEY(root.key.get(), nullptr);
  Bytes spki(static_cast<size_t>(len));
  unsigned char* p = spki.data();
  i2d_PUBKEY(root.key.get(), &p);
  EXPECT_EQ(SpkiSha256(root.cert.get()), Sha256(spki));

  spec.serial = {};
  Issued zero = MakeRoot(spec, KeyType::kEcP256).value();
  EXPECT_EQ(SerialHex(zero.cert.get()), "0");
}

TEST(ExtensionValueTest, AbsentPresentDuplicate) {
  const std::string oid = "1.3.6.1.4.1.3704.1.3.1";
  CertSpec spec = RootSpec("R");
  Issued plain = MakeRoot(spec, KeyType::kEcP256).value();
  auto absent = ExtensionValue(plain.cert.get(), oid);
  ASSERT_TRUE(absent.ok());
  EXPECT_FALSE(absent->has_value());

  spec.extensions = {CustomExtension{.oid = oid, .value = {0x02, 0x01, 0x07}}};
  Issued with = MakeRoot(spec, KeyType::kEcP256).value();
  auto present = ExtensionValue(with.cert.get(), oid);
  ASSERT_TRUE(present.ok());
  ASSERT_TRUE(present->has_value());
  EXPECT_EQ(**present, (Bytes{0x02, 0x01, 0x07}));

  spec.extensions.push_back(CustomExtension{.oid = oid, .value = {0x02, 0x01, 0x08}});
  Issued dup = MakeRoot(spec, KeyType::kEcP256).value();
  EXPECT_EQ(ExtensionValue(dup.cert.get(), oid).status().code(),
            absl::StatusCode::kInvalidArgument);

  EXPECT_FALSE(ExtensionValue(plain.cert.get(), "not an oid").ok());
}

}  // namespace
}  // namespace rp::crypto

namespace rp::crypto {
namespace {

// Two roots with one subject name (the real and the simulated ARK-Milan).
TEST(AnchorsThatSignedTest, KeepsTheRootThatSignedAndLetsTheChainMemoApply) {
  ConfigureVerifiedMemo(MemoOptions{});
  Issued real = MakeRoot(RootSpec("Same Name"), KeyType::kEcP384).value();
  Issued twin = MakeRoot(RootSpec("Same Name"), KeyType::kEcP384).value();
  Issued inter = MakeCert(InterSpec(), KeyType::kEcP384, twin.cert.get(), twin.key.get()).value();
  Issued leaf = MakeCert(LeafSpec(), KeyType::kEcP256, inter.cert.get(), inter.key.get()).value();
  const X509* inters[] = {inter.cert.get()};
  const X509* both[] = {real.cert.get(), twin.cert.get()};
  for (int round = 0; round < 4; ++round) {  // memo: miss, admit, hit, hit
    EXPECT_THAT(AnchorsThatSigned(inters, both), ElementsAre(twin.cert.get())) << round;
  }
  // With both roots the chain memo steps aside (names collide); with the
  // signer alone it is used.
  const ChainOptions options{.at = kAt, .expected_length = 3};
  const MemoKindStats before = VerifiedMemoStats(MemoKind::kChain);
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(VerifyChain(leaf.cert.get(), inters, both, options)->ok());
  }
  const MemoKindStats with_both = VerifiedMemoStats(MemoKind::kChain);
  EXPECT_EQ(with_both.hits + with_both.misses, before.hits + before.misses);
  const std::vector<const X509*> signer = AnchorsThatSigned(inters, both);
  for (int round = 0; round < 3; ++round) {
    ChainResult r = VerifyChain(leaf.cert.get(), inters, signer, options).value();
    ASSERT_TRUE(r.ok()) << r.detail;
    EXPECT_THAT(r.path, ElementsAre(leaf.cert.get(), inter.cert.get(), twin.cert.get()));
  }
  EXPECT_GE(VerifiedMemoStats(MemoKind::kChain).hits, with_both.hits + 1);
}

TEST(AnchorsThatSignedTest, WithoutASignerAllAnchorsStaySoTheChainCheckReportsIt) {
  for (const bool memo : {true, false}) {
    ConfigureVerifiedMemo(MemoOptions{.enabled = memo});
    Issued a = MakeRoot(RootSpec("Same Name"), KeyType::kEcP384).value();
    Issued b = MakeRoot(RootSpec("Same Name"), KeyType::kEcP384).value();
    Issued stranger = MakeRoot(RootSpec("Same Name"), KeyType::kEcP384).value();
    Issued inter =
        MakeCert(InterSpec(), KeyType::kEcP384, stranger.cert.get(), stranger.key.get()).value();
    Issued leaf =
        MakeCert(LeafSpec(), KeyType::kEcP256, inter.cert.get(), inter.key.get()).value();
    const X509* inters[] = {inter.cert.get()};
    const X509* anchors[] = {a.cert.get(), b.cert.get()};
    for (int round = 0; round < 3; ++round) {
      EXPECT_THAT(AnchorsThatSigned(inters, anchors), ElementsAre(a.cert.get(), b.cert.get()));
    }
    EXPECT_FALSE(VerifyChain(leaf.cert.get(), inters, AnchorsThatSigned(inters, anchors),
                             {.at = kAt, .expected_length = 3})
                     ->ok());
    // A tampered intermediate is signed by nobody, remembered or not.
    OpensslPtr<X509> tampered = WithTamperedSignature(
        MakeCert(InterSpec(), KeyType::kEcP384, a.cert.get(), a.key.get()).value().cert.get());
    const X509* bad[] = {tampered.get()};
    for (int round = 0; round < 3; ++round) {
      EXPECT_THAT(AnchorsThatSigned(bad, anchors), ElementsAre(a.cert.get(), b.cert.get()));
    }
  }
  ConfigureVerifiedMemo(MemoOptions{});
}

}  // namespace
}  // namespace rp::crypto
