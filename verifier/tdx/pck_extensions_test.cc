// PCK certificate SGX extensions: real certificates and builder-made DER.
#include "gtest/gtest.h"
#include "tests/testing/tdx_quote_builder.h"
#include "verifier/crypto/x509.h"
#include "verifier/tdx/pck_extensions.h"
#include "verifier/tdx/quote.h"
#include "verifier/tdx/test_util.h"

namespace rp::tdx {
namespace {

TEST(PckExtensions, RealPhalaCertificate) {
  absl::StatusOr<TdxQuote> q = ParseQuoteUnverified(test::ReadTdxData("phala_uptodate/quote.bin"));
  ASSERT_TRUE(q.ok());
  auto certs = crypto::ParsePemCertificates(q->pck_chain_pem, 3);
  ASSERT_TRUE(certs.ok());
  absl::StatusOr<PckExtensions> e = ParsePckExtensions(certs->front().get());
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(HexEncode(e->fmspc), "b0c06f000000");  // PROVENANCE.md
  EXPECT_EQ(HexEncode(e->pce_id), "0000");
  EXPECT_TRUE(e->platform_instance_id.has_value());  // Platform CA certificate
  // The intermediate has no SGX extensions.
  EXPECT_FALSE(ParsePckExtensions((*certs)[1].get()).ok());
}

TEST(PckExtensions, BuilderRoundTrip) {
  testing::PckExtensionSpec s;
  s.pcesvn = 300;  // two-byte INTEGER
  s.cpusvn_components[5] = 200;  // needs a leading zero in DER
  s.fmspc = {1, 2, 3, 4, 5, 6};
  s.platform_instance_id = std::array<uint8_t, 16>{9};
  absl::StatusOr<PckExtensions> e = ParsePckExtensionsDer(testing::EncodePckExtensions(s));
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->pcesvn, 300);
  EXPECT_EQ(e->cpusvn_components[5], 200);
  EXPECT_EQ(HexEncode(e->fmspc), "010203040506");
  EXPECT_EQ(e->sgx_type, 1);
  ASSERT_TRUE(e->platform_instance_id.has_value());
  EXPECT_EQ((*e->platform_instance_id)[0], 9);
}

TEST(PckExtensions, RejectsDuplicatesMissingAndTrailingBytes) {
  testing::PckExtensionSpec dup;
  dup.duplicate_fmspc = true;
  EXPECT_FALSE(ParsePckExtensionsDer(testing::EncodePckExtensions(dup)).ok());
  testing::PckExtensionSpec missing;
  missing.omit_fmspc = true;
  EXPECT_FALSE(ParsePckExtensionsDer(testing::EncodePckExtensions(missing)).ok());
  Bytes der = testing::EncodePckExtensions({});
  der.push_back(0);
  EXPECT_FALSE(ParsePckExtensionsDer(der).ok());
  EXPECT_FALSE(ParsePckExtensionsDer({}).ok());
  // Every truncation and single bit flip either parses or fails cleanly.
  const Bytes good = testing::EncodePckExtensions({});
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_FALSE(ParsePckExtensionsDer(std::span<const uint8_t>(good).first(n)).ok()) << n;
  }
  for (size_t i = 0; i < good.size(); ++i) {
    Bytes b = good;
    b[i] ^= 0x04;
    (void)ParsePckExtensionsDer(b);
  }
}

}  // namespace
}  // namespace rp::tdx
