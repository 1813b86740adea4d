// rp_verified_memo_* series mirror the memo's counters on refresh.
#include "server/verified_memo_metrics.h"

#include <gtest/gtest.h>

#include <string>

#include "server/metrics.h"
#include "verifier/crypto/keys.h"
#include "verifier/crypto/signature.h"
#include "verifier/crypto/verified_memo.h"

namespace rp::server {
namespace {

TEST(VerifiedMemoMetricsTest, MirrorsHitsMissesAndEntries) {
  crypto::ConfigureVerifiedMemo(crypto::MemoOptions{});
  prometheus::Registry registry;
  VerifiedMemoMetrics metrics(registry);
  // Every kind's series exist from the start, at zero.
  const std::string empty = MetricsText(registry);
  for (const char* kind : {"certificate", "pem_certificates", "signature", "chain",
                           "crl_signature", "cert_signature", "ocsp_signature", "document", "crl"}) {
    EXPECT_NE(empty.find("rp_verified_memo_lookups_total{kind=\"" + std::string(kind) +
                         "\",result=\"hit\"} 0"),
              std::string::npos)
        << kind;
  }
  auto key = crypto::GenerateEcKey("P-256").value();
  const Bytes msg = {1, 2, 3};
  const Bytes sig = crypto::SignEcdsaP1363(key.get(), msg, false).value();
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(crypto::VerifyEcdsaP1363(key.get(), msg, sig, crypto::HashAlg::kSha256).ok());
  }
  metrics.Refresh();
  metrics.Refresh();  // idempotent: counts advance by the difference only
  const std::string text = MetricsText(registry);
  EXPECT_NE(text.find("rp_verified_memo_lookups_total{kind=\"signature\",result=\"hit\"} 2"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("rp_verified_memo_lookups_total{kind=\"signature\",result=\"miss\"} 2"),
            std::string::npos);
  EXPECT_NE(text.find("rp_verified_memo_admitted_total{kind=\"signature\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("rp_verified_memo_entries{kind=\"signature\"} 1"), std::string::npos);
  // Reconfiguring zeroes the memo's counters; the series never go down.
  crypto::ConfigureVerifiedMemo(crypto::MemoOptions{});
  metrics.Refresh();
  EXPECT_NE(MetricsText(registry).find(
                "rp_verified_memo_lookups_total{kind=\"signature\",result=\"hit\"} 2"),
            std::string::npos);
}

}  // namespace
}  // namespace rp::server
