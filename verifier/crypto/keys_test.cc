#include "verifier/crypto/keys.h"

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "verifier/common/encoding.h"
#include "verifier/crypto/signature.h"

namespace rp::crypto {
namespace {

using ::testing::HasSubstr;

JwkPublic Jwk(std::string kty, std::string crv = "", std::string x = "", std::string y = "",
              std::string n = "", std::string e = "") {
  JwkPublic jwk;
  jwk.kty = std::move(kty);
  jwk.crv = std::move(crv);
  jwk.x = std::move(x);
  jwk.y = std::move(y);
  jwk.n = std::move(n);
  jwk.e = std::move(e);
  return jwk;
}

// RFC 7638 §3.1.
TEST(JwkThumbprintTest, Rfc7638Example) {
  JwkPublic jwk;
  jwk.kty = "RSA";
  jwk.n =
      "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPe"
      "bWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY"
      "368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0f"
      "M4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
  jwk.e = "AQAB";
  auto thumb = JwkThumbprintSha256(jwk);
  ASSERT_TRUE(thumb.ok()) << thumb.status();
  EXPECT_EQ(Base64UrlEncode(*thumb), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
}

TEST(JwkThumbprintTest, RejectsUnknownOrIncomplete) {
  EXPECT_FALSE(JwkThumbprintSha256(Jwk("oct")).ok());
  EXPECT_FALSE(JwkThumbprintSha256(Jwk("EC", "P-256", "AA")).ok());
  EXPECT_FALSE(JwkThumbprintSha256(Jwk("RSA", "", "", "", "AA")).ok());
  EXPECT_FALSE(JwkThumbprintSha256(Jwk("OKP", "Ed25519")).ok());
  EXPECT_FALSE(JwkThumbprintSha256(Jwk("EC", "P-256", "A\"", "B")).ok());
  EXPECT_TRUE(JwkThumbprintSha256(Jwk("OKP", "Ed25519", "AA")).ok());
}

TEST(JwkThumbprintTest, EcCanonicalOrderIgnoresExtraMembers) {
  // Same required members → same thumbprint regardless of other fields.
  JwkPublic a = Jwk("EC", "P-256", "xx", "yy");
  JwkPublic b = a;
  b.n = "ignored";
  EXPECT_EQ(JwkThumbprintSha256(a).value(), JwkThumbprintSha256(b).value());
}

class JwkRoundTripTest : public ::testing::TestWithParam<std::string> {};

TEST_P(JwkRoundTripTest, PublicKeyRoundTripsAndVerifies) {
  const std::string curve = GetParam();
  const bool p384 = curve == "P-384";
  OpensslPtr<EVP_PKEY> key = GenerateEcKey(curve).value();
  JwkPublic jwk = EcPublicJwk(key.get()).value();
  EXPECT_EQ(jwk.kty, "EC");
  EXPECT_EQ(jwk.crv, curve);
  const size_t field = p384 ? 48 : 32;
  EXPECT_EQ(Base64Decode(jwk.x).value().size(), field);
  EXPECT_EQ(Base64Decode(jwk.y).value().size(), field);

  OpensslPtr<EVP_PKEY> pub = EcPublicKeyFromJwk(jwk).value();
  EXPECT_EQ(PublicKeyPem(pub.get()), PublicKeyPem(key.get()));
  EXPECT_EQ(EVP_PKEY_eq(pub.get(), key.get()), 1);

  const Bytes msg = {'t', 'o', 'k', 'e', 'n'};
  const Bytes sig = SignEcdsaP1363(key.get(), msg, p384).value();
  EXPECT_EQ(sig.size(), 2 * field);
  EXPECT_TRUE(
      VerifyEcdsaP1363(pub.get(), msg, sig, p384 ? HashAlg::kSha384 : HashAlg::kSha256).ok());
}

INSTANTIATE_TEST_SUITE_P(Curves, JwkRoundTripTest, ::testing::Values("P-256", "P-384"));

struct JwkCase {
  std::string name;
  std::function<void(JwkPublic&)> mutate;
  std::string error;
};

TEST(EcPublicKeyFromJwkTest, NegativesChangeOneThing) {
  OpensslPtr<EVP_PKEY> key = GenerateEcKey("P-256").value();
  const JwkPublic valid = EcPublicJwk(key.get()).value();
  const std::vector<JwkCase> cases = {
      {"kty RSA", [](JwkPublic& j) { j.kty = "RSA"; }, "not EC"},
      {"unsupported curve", [](JwkPublic& j) { j.crv = "P-521"; }, "crv"},
      {"x one byte short",
       [](JwkPublic& j) {
         Bytes x = Base64Decode(j.x).value();
         x.pop_back();
         j.x = Base64UrlEncode(x);
       },
       "expected 32"},
      {"y padded with '='", [](JwkPublic& j) { j.y += "="; }, "base64url"},
      {"y off the curve",
       [](JwkPublic& j) {
         Bytes y = Base64Decode(j.y).value();
         y[31] ^= 0x01;
         j.y = Base64UrlEncode(y);
       },
       "jwk"},
      {"curve mismatch (P-256 point as P-384)", [](JwkPublic& j) { j.crv = "P-384"; },
       "expected 48"},
  };
  ASSERT_TRUE(EcPublicKeyFromJwk(valid).ok());
  for (const JwkCase& c : cases) {
    SCOPED_TRACE(c.name);
    JwkPublic jwk = valid;
    c.mutate(jwk);
    auto result = EcPublicKeyFromJwk(jwk);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(result.status().message(), HasSubstr(c.error));
  }
}

TEST(KeyPemTest, PrivateAndPublicRoundTrip) {
  OpensslPtr<EVP_PKEY> key = GenerateEcKey("P-384").value();
  const std::string priv = PrivateKeyPem(key.get());
  const std::string pub = PublicKeyPem(key.get());
  EXPECT_THAT(priv, HasSubstr("-----BEGIN PRIVATE KEY-----"));
  EXPECT_THAT(pub, HasSubstr("-----BEGIN PUBLIC KEY-----"));
  OpensslPtr<EVP_PKEY> priv2 = ParsePrivateKeyPem(priv).value();
  OpensslPtr<EVP_PKEY> pub2 = ParsePublicKeyPem(pub).value();
  EXPECT_EQ(EVP_PKEY_eq(priv2.get(), key.get()), 1);
  EXPECT_EQ(EVP_PKEY_eq(pub2.get(), key.get()), 1);

  // A key parsed from PEM signs, and the public half verifies it.
  const Bytes msg = {1, 2, 3};
  const Bytes sig = SignEcdsaP1363(priv2.get(), msg, true).value();
  EXPECT_TRUE(VerifyEcdsaP1363(pub2.get(), msg, sig, HashAlg::kSha384).ok());

  EXPECT_FALSE(ParsePrivateKeyPem("").ok());
  EXPECT_FALSE(ParsePrivateKeyPem("garbage").ok());
  EXPECT_FALSE(ParsePrivateKeyPem(pub).ok());
  EXPECT_FALSE(ParsePublicKeyPem("garbage").ok());
}

TEST(GenerateEcKeyTest, OnlyP256AndP384) {
  EXPECT_STREQ(EcCurveName(GenerateEcKey("P-256").value().get()), "P-256");
  EXPECT_STREQ(EcCurveName(GenerateEcKey("P-384").value().get()), "P-384");
  EXPECT_FALSE(GenerateEcKey("P-521").ok());
  EXPECT_FALSE(GenerateEcKey("secp256k1").ok());
}

}  // namespace
}  // namespace rp::crypto
