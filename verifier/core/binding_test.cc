#include "verifier/core/binding.h"

#include "gtest/gtest.h"
#include "verifier/common/encoding.h"

namespace rp::core {
namespace {

// RFC 7638 §3.1 example key (thumbprint NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs).
attestation::v1::Jwk Rfc7638Key() {
  attestation::v1::Jwk k;
  k.set_kty("RSA");
  k.set_e("AQAB");
  k.set_n(
      "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"
      "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_"
      "FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-"
      "bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw");
  return k;
}

Bytes Nonce() {
  Bytes n(32);
  for (size_t i = 0; i < n.size(); ++i) n[i] = static_cast<uint8_t>(i);
  return n;
}

// Known answers computed independently (Python hashlib) from the rule text.
TEST(Binding, AttestV1KnownAnswerNoGpu) {
  auto rd = ExpectedAttestV1ReportData(Nonce(), Rfc7638Key(), {});
  ASSERT_TRUE(rd.ok()) << rd.status();
  EXPECT_EQ(HexEncode(*rd),
            "6eb68232210d529538f2616499f2816c4d765561d80b9e0e281fdf80b8209648f6118b26dc3f846fe96"
            "cb14d34a06250fc27d4ebe8801c2c4b9b5289a9f2240a");
}

TEST(Binding, AttestV1KnownAnswerTwoGpus) {
  std::string g0 = "gpu-report-0", g1 = "gpu-report-1";
  std::vector<Bytes> gpus = {Bytes(g0.begin(), g0.end()), Bytes(g1.begin(), g1.end())};
  auto rd = ExpectedAttestV1ReportData(Nonce(), Rfc7638Key(), gpus);
  ASSERT_TRUE(rd.ok()) << rd.status();
  EXPECT_EQ(HexEncode(*rd),
            "f31c56be2350df4f82f16a2e5ecfaebc5ef04e67982200ea069284fc0b6c2f109d4bb5018aa0f3f661a"
            "031139cbec2ffb9b57fcb65f14ff51b6812f35041f524");
}

TEST(Binding, CheckOutcomes) {
  attestation::v1::EvidenceBundle bundle;
  *bundle.mutable_tee_public_key() = Rfc7638Key();
  Bytes good = *ExpectedAttestV1ReportData(Nonce(), Rfc7638Key(), {});
  EXPECT_EQ(CheckBinding(bundle, kBindingAttestV1, Nonce(), good).status, CheckStatus::kPass);

  Bytes bad = good;
  bad[63] ^= 1;
  Check c = CheckBinding(bundle, kBindingAttestV1, Nonce(), bad);
  EXPECT_EQ(c.status, CheckStatus::kFail);
  EXPECT_EQ(c.reason, "BINDING_MISMATCH");

  Bytes other_nonce = Nonce();
  other_nonce[0] ^= 1;
  EXPECT_EQ(CheckBinding(bundle, kBindingAttestV1, other_nonce, good).reason, "BINDING_MISMATCH");

  EXPECT_EQ(CheckBinding(bundle, kBindingAttestV1, std::nullopt, good).reason,
            "NONCE_NOT_PROVIDED");
  EXPECT_EQ(CheckBinding(bundle, kBindingAttestV1, Nonce(), std::nullopt).status,
            CheckStatus::kNotChecked);
  EXPECT_EQ(CheckBinding(bundle, kBindingNone, Nonce(), good).reason, "BINDING_NONE");

  // A GPU report added after the CPU report was made breaks attest-v1.
  bundle.mutable_nvidia()->add_evidence_list()->set_evidence("gpu");
  EXPECT_EQ(CheckBinding(bundle, kBindingAttestV1, Nonce(), good).reason, "BINDING_MISMATCH");

  // Missing TEE key.
  attestation::v1::EvidenceBundle no_key;
  EXPECT_EQ(CheckBinding(no_key, kBindingAttestV1, Nonce(), good).reason, "BINDING_KEY_INVALID");
}

TEST(Binding, NonceProfile) {
  attestation::v1::EvidenceBundle bundle;
  Bytes rd(64, 0);
  Bytes n = Nonce();
  std::copy(n.begin(), n.end(), rd.begin());
  EXPECT_EQ(CheckBinding(bundle, kBindingNonce, n, rd).status, CheckStatus::kPass);
  rd[5] ^= 0xff;
  EXPECT_EQ(CheckBinding(bundle, kBindingNonce, n, rd).reason, "BINDING_MISMATCH");
}

TEST(Binding, ProfileNames) {
  attestation::v1::EvidenceBundle b;
  EXPECT_EQ(*BindingProfile(b), "attest-v1");
  b.set_binding("nonce");
  EXPECT_EQ(*BindingProfile(b), "nonce");
  b.set_binding("sha1-please");
  EXPECT_FALSE(BindingProfile(b).ok());
}

}  // namespace
}  // namespace rp::core
