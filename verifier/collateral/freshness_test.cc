#include "verifier/collateral/freshness.h"

#include "gtest/gtest.h"
#include "verifier/collateral/collateral_test_util.h"
#include "verifier/collateral/upstream_limits.h"
#include "verifier/common/encoding.h"

namespace rp::collateral {
namespace {

using testing::ReadTestFile;
using testing::TestTime;

absl::Time GenoaCrlNextUpdate() {
  absl::Time t;
  std::string err;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, "2025-11-03T01:00:00Z", &t, &err));
  return t;
}

TEST(FreshnessTest, KindOfKey) {
  EXPECT_EQ(KindOfKey("amd/Genoa/crl.der"), CollateralKind::kCrl);
  EXPECT_EQ(KindOfKey("amd/Milan/vlek_crl.der"), CollateralKind::kCrl);
  EXPECT_EQ(KindOfKey("intel/root_ca.crl"), CollateralKind::kCrl);
  EXPECT_EQ(KindOfKey(testing::MilanVcekKey()), CollateralKind::kDerCertificate);
  EXPECT_EQ(KindOfKey("amd/Milan/cert_chain.pem"), CollateralKind::kPemCertificates);
  EXPECT_EQ(KindOfKey("intel/qe_identity.json"), CollateralKind::kIntelSignedJson);
  EXPECT_EQ(KindOfKey("intel/pck_crl_platform.issuer_chain.pem"),
            CollateralKind::kPemCertificates);
  EXPECT_EQ(KindOfKey("nvidia/ocsp/ab-01.der"), CollateralKind::kOcspResponse);
  EXPECT_EQ(KindOfKey("nvidia/rims/NV_GPU_DRIVER_GH100_550.90.07.xml"), CollateralKind::kOther);
}

TEST(FreshnessTest, RealGenoaCrlNextUpdate) {
  const Bytes crl = testing::ToBytes(ReadTestFile("amd/Genoa/crl.der"));
  auto expiry = ContentExpiry("amd/Genoa/crl.der", crl);
  ASSERT_TRUE(expiry.ok()) << expiry.status();
  ASSERT_TRUE(expiry->has_value());
  EXPECT_EQ(**expiry, GenoaCrlNextUpdate());
  // With a long ceiling the CRL's own nextUpdate decides...
  EXPECT_EQ(ComputeFreshUntil("amd/Genoa/crl.der", crl, std::nullopt, TestTime(),
                              absl::Hours(24 * 365)),
            GenoaCrlNextUpdate());
  // ...and the ceiling caps it. The CRL's date wins over an HTTP hint.
  EXPECT_EQ(ComputeFreshUntil("amd/Genoa/crl.der", crl, TestTime() + absl::Hours(1), TestTime(),
                              absl::Hours(24)),
            TestTime() + absl::Hours(24));
}

TEST(FreshnessTest, CertificatesUseNotAfterCapped) {
  const Bytes vcek = testing::ToBytes(ReadTestFile(testing::MilanVcekKey()));
  auto expiry = ContentExpiry(testing::MilanVcekKey(), vcek);
  ASSERT_TRUE(expiry.ok()) << expiry.status();
  EXPECT_GT(**expiry, TestTime() + absl::Hours(24 * 365));
  EXPECT_EQ(ComputeFreshUntil(testing::MilanVcekKey(), vcek, std::nullopt, TestTime(),
                              absl::Hours(24)),
            TestTime() + absl::Hours(24));
  const Bytes chain = testing::ToBytes(ReadTestFile("amd/Milan/cert_chain.pem"));
  auto chain_expiry = ContentExpiry("amd/Milan/cert_chain.pem", chain);
  ASSERT_TRUE(chain_expiry.ok()) << chain_expiry.status();
  EXPECT_TRUE(chain_expiry->has_value());
}

TEST(FreshnessTest, GarbageFallsBackToHttpThenCeiling) {
  const Bytes junk = testing::ToBytes("<html>captive portal</html>");
  EXPECT_FALSE(ContentExpiry("amd/Genoa/crl.der", junk).ok());
  EXPECT_EQ(ComputeFreshUntil("amd/Genoa/crl.der", junk, TestTime() + absl::Minutes(5),
                              TestTime(), absl::Hours(24)),
            TestTime() + absl::Minutes(5));
  EXPECT_EQ(ComputeFreshUntil("x/y.json", junk, std::nullopt, TestTime(), absl::Hours(24)),
            TestTime() + absl::Hours(24));
}

TEST(FreshnessTest, HttpHeaders) {
  const absl::Time now = TestTime();
  EXPECT_EQ(HttpFreshUntil("public, max-age=600", "", now), now + absl::Seconds(600));
  EXPECT_EQ(HttpFreshUntil("no-store", "", now), now);
  EXPECT_EQ(HttpFreshUntil("", "Tue, 02 Sep 2025 00:00:00 GMT", now), now + absl::Hours(24));
  EXPECT_EQ(HttpFreshUntil("", "garbage", now), now);
  EXPECT_EQ(HttpFreshUntil("", "", now), std::nullopt);
  // max-age wins over Expires (RFC 9111 §5.3).
  EXPECT_EQ(HttpFreshUntil("max-age=60", "Tue, 02 Sep 2025 00:00:00 GMT", now),
            now + absl::Seconds(60));
}

TEST(FreshnessTest, RetryAfter) {
  const absl::Time now = TestTime();
  EXPECT_EQ(ParseRetryAfter("30", now), now + absl::Seconds(30));
  EXPECT_EQ(ParseRetryAfter(" 0 ", now), now);
  EXPECT_EQ(ParseRetryAfter("Mon, 01 Sep 2025 00:02:00 GMT", now), now + absl::Minutes(2));
  EXPECT_EQ(ParseRetryAfter("-5", now), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("soon", now), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("99999999999999999999", now), std::nullopt);
}

}  // namespace
}  // namespace rp::collateral
