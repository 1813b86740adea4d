// The quote builder emits exactly the bytes the format says (STYLE §15).
#include "tests/testing/tdx_quote_builder.h"

#include "gtest/gtest.h"
#include "verifier/crypto/keys.h"
#include "verifier/crypto/signature.h"
#include "verifier/tdx/quote.h"

namespace rp::testing {
namespace {

TEST(TdxQuoteBuilder, BuildsAParseableSignedQuote) {
  auto pki = MakeTdxTestPki();
  ASSERT_TRUE(pki.ok()) << pki.status();
  auto leaf = MakePckLeaf(*pki, {});
  ASSERT_TRUE(leaf.ok()) << leaf.status();
  auto att = MakeKey(KeyType::kEcP256);
  ASSERT_TRUE(att.ok());
  TdxQuoteBuilder b;
  b.pck_chain_pem = PckChainPem(leaf->cert.get(), pki->pck_ca.cert.get(), pki->root.cert.get());
  auto q = b.Build(att->get(), leaf->key.get());
  ASSERT_TRUE(q.ok()) << q.status();
  auto parsed = tdx::ParseQuoteUnverified(*q);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->version, 4);
  EXPECT_EQ(parsed->body.tee_tcb_svn[0], 6);
  EXPECT_EQ(parsed->body.td_attributes, 1ULL << 28);
  EXPECT_EQ(parsed->qe_report.isvsvn, 8);
  EXPECT_EQ(parsed->pck_chain_pem, b.pck_chain_pem);
  EXPECT_EQ(parsed->signed_bytes.size(), 48u + 584u);
  auto raw = RawP256PublicKey(att->get());
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(parsed->attestation_key, *raw);
  EXPECT_TRUE(crypto::VerifyEcdsaP1363(att->get(), parsed->signed_bytes, parsed->signature,
                                       crypto::HashAlg::kSha256)
                  .ok());
  b.UseV5(true);
  auto q5 = b.Build(att->get(), leaf->key.get());
  ASSERT_TRUE(q5.ok());
  auto p5 = tdx::ParseQuoteUnverified(*q5);
  ASSERT_TRUE(p5.ok()) << p5.status();
  EXPECT_EQ(p5->body_type, 3);
  EXPECT_EQ(p5->signed_bytes.size(), 48u + 6u + 648u);
}

}  // namespace
}  // namespace rp::testing
