#include "tests/testing/cert_factory.h"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "verifier/crypto/crl.h"
#include "verifier/crypto/x509.h"

namespace rp::testing {
namespace {

using crypto::OpensslPtr;
using ::testing::ElementsAre;

const absl::Time kAt = absl::FromUnixSeconds(1735689600);  // 2025-01-01

CertSpec Ca(const std::string& cn) {
  CertSpec spec;
  spec.common_name = cn;
  spec.subject_extra = {{"O", "Advanced Micro Devices"}, {"C", "US"}};
  spec.is_ca = true;
  return spec;
}

TEST(CertFactoryTest, MadeChainVerifies) {
  Issued root = MakeRoot(Ca("Root"), KeyType::kEcP384).value();
  CertSpec inter_spec = Ca("Inter");
  inter_spec.path_len = 0;
  Issued inter =
      MakeCert(inter_spec, KeyType::kEcP384, root.cert.get(), root.key.get()).value();
  CertSpec leaf_spec;
  leaf_spec.common_name = "Leaf";
  leaf_spec.extended_key_usage_oids = {"1.3.6.1.5.5.7.3.2"};
  Issued leaf = MakeCert(leaf_spec, KeyType::kEcP256, inter.cert.get(), inter.key.get()).value();
  const X509* inters[] = {inter.cert.get()};
  const X509* roots[] = {root.cert.get()};
  crypto::ChainResult r =
      crypto::VerifyChain(leaf.cert.get(), inters, roots, {.at = kAt, .expected_length = 3})
          .value();
  ASSERT_TRUE(r.ok()) << r.detail;
  EXPECT_THAT(r.path, ElementsAre(leaf.cert.get(), inter.cert.get(), root.cert.get()));

  // Extensions as asked.
  EXPECT_EQ(X509_check_ca(root.cert.get()), 1);
  EXPECT_EQ(X509_check_ca(leaf.cert.get()), 0);
  EXPECT_EQ(X509_get_pathlen(inter.cert.get()), 0);
  EXPECT_NE(X509_get0_subject_key_id(leaf.cert.get()), nullptr);
  EXPECT_NE(X509_get0_authority_key_id(leaf.cert.get()), nullptr);
  EXPECT_TRUE(X509_get_key_usage(root.cert.get()) & KU_KEY_CERT_SIGN);
  EXPECT_TRUE(X509_get_key_usage(leaf.cert.get()) & KU_DIGITAL_SIGNATURE);
  EXPECT_TRUE(X509_get_extended_key_usage(leaf.cert.get()) & XKU_SSL_CLIENT);
}

TEST(CertFactoryTest, SubjectOrderAndSerial) {
  CertSpec spec = Ca("Root");
  spec.serial = {0x02, 0x00, 0x01};
  Issued root = MakeRoot(spec, KeyType::kEcP256).value();
  EXPECT_EQ(crypto::SerialHex(root.cert.get()), "20001");
  const X509_NAME* name = X509_get_subject_name(root.cert.get());
  ASSERT_EQ(X509_NAME_entry_count(name), 3);
  EXPECT_EQ(OBJ_obj2nid(X509_NAME_ENTRY_get_object(X509_NAME_get_entry(name, 0))),
            NID_organizationName);
  EXPECT_EQ(OBJ_obj2nid(X509_NAME_ENTRY_get_object(X509_NAME_get_entry(name, 2))),
            NID_commonName);

  for (const Bytes& zero : {Bytes{}, Bytes{0x00}}) {
    spec.serial = zero;
    EXPECT_EQ(crypto::SerialHex(MakeRoot(spec, KeyType::kEcP256).value().cert.get()), "0");
  }
}

TEST(CertFactoryTest, RsaPssChainLikeAmd) {
  CertSpec ark_spec = Ca("ARK-Test");
  ark_spec.scheme = SigScheme::kRsaPssSha384;
  Issued ark = MakeRoot(ark_spec, KeyType::kRsa2048).value();
  CertSpec ask_spec = Ca("SEV-Test");
  ask_spec.scheme = SigScheme::kRsaPssSha384;
  Issued ask = MakeCert(ask_spec, KeyType::kRsa2048, ark.cert.get(), ark.key.get()).value();
  CertSpec vcek_spec;
  vcek_spec.common_name = "SEV-VCEK";
  vcek_spec.scheme = SigScheme::kRsaPssSha384;
  vcek_spec.authority_key_id = false;  // like AMD's VCEKs
  vcek_spec.extensions = {{.oid = "1.3.6.1.4.1.3704.1.3.1", .value = {0x02, 0x01, 0x03}}};
  Issued vcek = MakeCert(vcek_spec, KeyType::kEcP384, ask.cert.get(), ask.key.get()).value();

  EXPECT_EQ(X509_get_signature_nid(ark.cert.get()), NID_rsassaPss);
  EXPECT_EQ(X509_get_signature_nid(ask.cert.get()), NID_rsassaPss);
  EXPECT_EQ(X509_get_signature_nid(vcek.cert.get()), NID_rsassaPss);
  EXPECT_EQ(X509_get0_authority_key_id(vcek.cert.get()), nullptr);

  const X509* inters[] = {ask.cert.get()};
  const X509* roots[] = {ark.cert.get()};
  crypto::ChainResult r =
      crypto::VerifyChain(vcek.cert.get(), inters, roots, {.at = kAt, .expected_length = 3})
          .value();
  EXPECT_TRUE(r.ok()) << r.detail;
  auto ext = crypto::ExtensionValue(vcek.cert.get(), "1.3.6.1.4.1.3704.1.3.1").value();
  ASSERT_TRUE(ext.has_value());
  EXPECT_EQ(*ext, (Bytes{0x02, 0x01, 0x03}));

  // RSA-PSS needs an RSA issuer.
  Issued ec_root = MakeRoot(Ca("EC"), KeyType::kEcP256).value();
  EXPECT_FALSE(MakeCert(vcek_spec, KeyType::kEcP256, ec_root.cert.get(), ec_root.key.get()).ok());
}

TEST(CertFactoryTest, CrlFields) {
  Issued root = MakeRoot(Ca("Root"), KeyType::kEcP384).value();
  CrlSpec spec;
  spec.next_update.reset();
  spec.revoked = {{.serial = {0x07}, .reason = 4}, {.serial = {0x01, 0x00}}};
  OpensslPtr<X509_CRL> crl = MakeCrl(spec, root.cert.get(), root.key.get()).value();
  EXPECT_EQ(X509_CRL_get_version(crl.get()), 1);  // v2
  EXPECT_EQ(X509_CRL_get0_nextUpdate(crl.get()), nullptr);
  EXPECT_EQ(X509_NAME_cmp(X509_CRL_get_issuer(crl.get()), X509_get_subject_name(root.cert.get())),
            0);
  EXPECT_EQ(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl.get())), 2);
  EXPECT_EQ(X509_CRL_verify(crl.get(), root.key.get()), 1);
  const Bytes der = CrlDer(crl.get());
  EXPECT_TRUE(crypto::ParseCrl(der).ok());
}

TEST(CertFactoryTest, KeysOfEachType) {
  for (KeyType t : {KeyType::kEcP256, KeyType::kEcP384, KeyType::kRsa2048}) {
    auto key = MakeKey(t);
    ASSERT_TRUE(key.ok()) << key.status();
  }
  EXPECT_EQ(EVP_PKEY_get_bits(MakeKey(KeyType::kRsa3072).value().get()), 3072);
}

}  // namespace
}  // namespace rp::testing
