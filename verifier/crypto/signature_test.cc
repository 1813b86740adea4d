#include "verifier/crypto/signature.h"

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "tests/testing/cert_factory.h"
#include "verifier/common/encoding.h"
#include "verifier/crypto/keys.h"
#include "verifier/crypto/openssl_ptr.h"

namespace rp::crypto {
namespace {

// P-384 group order n (SEC 2 §2.5.1), big-endian.
constexpr char kP384OrderHex[] =
    "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf"
    "581a0db248b0a77aecec196accc52973";

Bytes Reversed(std::span<const uint8_t> in) { return Bytes(in.rbegin(), in.rend()); }

// SEV-SNP layout: 72-byte little-endian integer, zero padded.
Bytes ToLe72(std::span<const uint8_t> be) {
  Bytes le = Reversed(be);
  le.resize(72, 0);
  return le;
}

struct EcdsaInputs {
  Bytes message;
  Bytes r;
  Bytes s;
  Endian endian = Endian::kLittle;
  HashAlg hash = HashAlg::kSha384;
  bool use_rsa_key = false;
  bool use_other_key = false;
};

class EcdsaRawTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    key_ = GenerateEcKey("P-384").value();
    other_key_ = GenerateEcKey("P-384").value();
    rsa_key_ = rp::testing::MakeKey(rp::testing::KeyType::kRsa2048).value();
  }
  static void TearDownTestSuite() {
    key_.reset();
    other_key_.reset();
    rsa_key_.reset();
  }

  // A valid SEV-SNP style signature over a fixed message.
  static EcdsaInputs Valid() {
    EcdsaInputs in;
    in.message = Bytes(1184, 0x5a);  // the size of a signed SNP report body
    const Bytes sig = SignEcdsaP1363(key_.get(), in.message, /*sha384=*/true).value();
    in.r = ToLe72(std::span(sig).first(48));
    in.s = ToLe72(std::span(sig).subspan(48));
    return in;
  }

  static absl::Status Verify(const EcdsaInputs& in) {
    const EVP_PKEY* key =
        in.use_rsa_key ? rsa_key_.get() : (in.use_other_key ? other_key_.get() : key_.get());
    return VerifyEcdsaRaw(key, in.message, in.r, in.s, in.endian, in.hash);
  }

  static inline OpensslPtr<EVP_PKEY> key_;
  static inline OpensslPtr<EVP_PKEY> other_key_;
  static inline OpensslPtr<EVP_PKEY> rsa_key_;
};

TEST_F(EcdsaRawTest, ValidLittleEndian) { EXPECT_TRUE(Verify(Valid()).ok()) << Verify(Valid()); }

TEST_F(EcdsaRawTest, ValidBigEndian) {
  EcdsaInputs in = Valid();
  // Big-endian of any width: reverse the 72-byte LE values.
  in.r = Reversed(in.r);
  in.s = Reversed(in.s);
  in.endian = Endian::kBig;
  EXPECT_TRUE(Verify(in).ok()) << Verify(in);
}

struct EcdsaCase {
  std::string name;
  std::function<void(EcdsaInputs&)> mutate;
  absl::StatusCode want;
};

TEST_F(EcdsaRawTest, NegativesChangeOneThing) {
  const Bytes order = HexDecode(kP384OrderHex).value();
  const std::vector<EcdsaCase> cases = {
      {"flipped message byte", [](EcdsaInputs& in) { in.message[10] ^= 0x01; },
       absl::StatusCode::kUnauthenticated},
      {"flipped r", [](EcdsaInputs& in) { in.r[0] ^= 0x01; }, absl::StatusCode::kUnauthenticated},
      {"flipped s", [](EcdsaInputs& in) { in.s[5] ^= 0x80; }, absl::StatusCode::kUnauthenticated},
      {"zero r", [](EcdsaInputs& in) { std::fill(in.r.begin(), in.r.end(), 0); },
       absl::StatusCode::kInvalidArgument},
      {"zero s", [](EcdsaInputs& in) { std::fill(in.s.begin(), in.s.end(), 0); },
       absl::StatusCode::kInvalidArgument},
      {"r equals order", [&](EcdsaInputs& in) { in.r = ToLe72(order); },
       absl::StatusCode::kInvalidArgument},
      {"r above order", [](EcdsaInputs& in) { in.r = Bytes(72, 0xff); },
       absl::StatusCode::kInvalidArgument},
      {"oversized s", [](EcdsaInputs& in) { in.s.resize(4096, 0); },
       absl::StatusCode::kInvalidArgument},
      {"wrong endianness", [](EcdsaInputs& in) { in.endian = Endian::kBig; },
       absl::StatusCode::kInvalidArgument},  // reversed LE value is >= order
      {"wrong hash", [](EcdsaInputs& in) { in.hash = HashAlg::kSha256; },
       absl::StatusCode::kUnauthenticated},
      {"other EC key", [](EcdsaInputs& in) { in.use_other_key = true; },
       absl::StatusCode::kUnauthenticated},
      {"RSA key", [](EcdsaInputs& in) { in.use_rsa_key = true; },
       absl::StatusCode::kFailedPrecondition},
  };
  for (const EcdsaCase& c : cases) {
    SCOPED_TRACE(c.name);
    EcdsaInputs in = Valid();
    c.mutate(in);
    const absl::Status st = Verify(in);
    EXPECT_EQ(st.code(), c.want) << st;
  }
}

TEST(EcdsaP1363Test, ValidP256AndP384) {
  const Bytes msg = {'h', 'e', 'a', 'd', 'e', 'r', '.', 'p', 'a', 'y'};
  for (const auto& [curve, sha384, hash, size] :
       {std::tuple{"P-256", false, HashAlg::kSha256, size_t{64}},
        std::tuple{"P-384", true, HashAlg::kSha384, size_t{96}}}) {
    SCOPED_TRACE(curve);
    OpensslPtr<EVP_PKEY> key = GenerateEcKey(curve).value();
    const Bytes sig = SignEcdsaP1363(key.get(), msg, sha384).value();
    ASSERT_EQ(sig.size(), size);
    EXPECT_TRUE(VerifyEcdsaP1363(key.get(), msg, sig, hash).ok());
    EXPECT_STREQ(EcCurveName(key.get()), curve);

    Bytes bad = sig;
    bad[size - 1] ^= 0x01;
    EXPECT_EQ(VerifyEcdsaP1363(key.get(), msg, bad, hash).code(),
              absl::StatusCode::kUnauthenticated);
  }
}

TEST(EcdsaP1363Test, WrongLengthRejected) {
  OpensslPtr<EVP_PKEY> key = GenerateEcKey("P-256").value();
  const Bytes msg = {1, 2, 3};
  Bytes sig = SignEcdsaP1363(key.get(), msg, false).value();
  for (size_t len : {size_t{0}, size_t{63}, size_t{65}, size_t{96}}) {
    SCOPED_TRACE(len);
    Bytes wrong = sig;
    wrong.resize(len, 0x01);
    EXPECT_EQ(VerifyEcdsaP1363(key.get(), msg, wrong, HashAlg::kSha256).code(),
              absl::StatusCode::kInvalidArgument);
  }
}

TEST(EcCurveNameTest, NonEcKeyIsEmpty) {
  OpensslPtr<EVP_PKEY> rsa = rp::testing::MakeKey(rp::testing::KeyType::kRsa2048).value();
  EXPECT_STREQ(EcCurveName(rsa.get()), "");
  EXPECT_STREQ(EcCurveName(nullptr), "");
}

// Signs with RSASSA-PSS, MGF1 with the same hash.
Bytes SignPss(EVP_PKEY* key, std::span<const uint8_t> msg, const EVP_MD* md, int salt_len) {
  OpensslPtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  EXPECT_EQ(EVP_DigestSignInit(ctx.get(), &pctx, md, nullptr, key), 1);
  EXPECT_EQ(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
  EXPECT_EQ(EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md), 1);
  EXPECT_EQ(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, salt_len), 1);
  size_t len = 0;
  EXPECT_EQ(EVP_DigestSign(ctx.get(), nullptr, &len, msg.data(), msg.size()), 1);
  Bytes sig(len);
  EXPECT_EQ(EVP_DigestSign(ctx.get(), sig.data(), &len, msg.data(), msg.size()), 1);
  sig.resize(len);
  return sig;
}

struct PssCase {
  std::string name;
  std::function<void(Bytes& msg, Bytes& sig, int& salt, HashAlg& hash, bool& ec_key)> mutate;
  absl::StatusCode want;
};

TEST(RsaPssTest, GoodAndOneChangeNegatives) {
  OpensslPtr<EVP_PKEY> key = rp::testing::MakeKey(rp::testing::KeyType::kRsa2048).value();
  OpensslPtr<EVP_PKEY> ec = GenerateEcKey("P-384").value();
  const Bytes msg(100, 0x42);
  const Bytes sig = SignPss(key.get(), msg, EVP_sha384(), 48);

  const std::vector<PssCase> cases = {
      {"valid", [](Bytes&, Bytes&, int&, HashAlg&, bool&) {}, absl::StatusCode::kOk},
      {"flipped message", [](Bytes& m, Bytes&, int&, HashAlg&, bool&) { m[0] ^= 1; },
       absl::StatusCode::kUnauthenticated},
      {"flipped signature", [](Bytes&, Bytes& s, int&, HashAlg&, bool&) { s[17] ^= 1; },
       absl::StatusCode::kUnauthenticated},
      {"truncated signature", [](Bytes&, Bytes& s, int&, HashAlg&, bool&) { s.pop_back(); },
       absl::StatusCode::kUnauthenticated},
      {"wrong salt length", [](Bytes&, Bytes&, int& salt, HashAlg&, bool&) { salt = 32; },
       absl::StatusCode::kUnauthenticated},
      {"wrong hash", [](Bytes&, Bytes&, int&, HashAlg& h, bool&) { h = HashAlg::kSha256; },
       absl::StatusCode::kUnauthenticated},
      {"EC key", [](Bytes&, Bytes&, int&, HashAlg&, bool& e) { e = true; },
       absl::StatusCode::kFailedPrecondition},
  };
  for (const PssCase& c : cases) {
    SCOPED_TRACE(c.name);
    Bytes m = msg;
    Bytes s = sig;
    int salt = 48;
    HashAlg hash = HashAlg::kSha384;
    bool use_ec = false;
    c.mutate(m, s, salt, hash, use_ec);
    const absl::Status st = VerifyRsaPss(use_ec ? ec.get() : key.get(), m, s, hash, salt);
    EXPECT_EQ(st.code(), c.want) << st;
  }
}

}  // namespace
}  // namespace rp::crypto
