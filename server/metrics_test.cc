#include "server/metrics.h"

#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/loopback_http.h"

namespace rp::server {
namespace {

using ::testing::HasSubstr;

TEST(CounterPairsTest, GivesTheFamilysCounterForEachPair) {
  prometheus::Registry registry;
  auto& family = prometheus::BuildCounter().Name("t_total").Help("t").Register(registry);
  CounterPairs pairs(family, "a", "b");
  prometheus::Counter& x = pairs.Get("x", "y");
  EXPECT_EQ(&x, &pairs.Get("x", "y"));
  EXPECT_EQ(&x, &family.Add({{"a", "x"}, {"b", "y"}}));
  // The key keeps ("xy", "") and ("x", "y") apart, NULs included.
  EXPECT_NE(&x, &pairs.Get("xy", ""));
  EXPECT_NE(&x, &pairs.Get("y", "x"));
  using namespace std::string_view_literals;
  EXPECT_NE(&pairs.Get("a\0b"sv, "c"), &pairs.Get("a", "b\0c"sv));
  // Values too long for the stack key take the other path to the same series.
  const std::string long_value(300, 'v');
  prometheus::Counter& l = pairs.Get(long_value, "y");
  EXPECT_EQ(&l, &pairs.Get(long_value, "y"));
  EXPECT_EQ(&l, &family.Add({{"a", long_value}, {"b", "y"}}));
  EXPECT_NE(&l, &x);
}

TEST(CounterPairsTest, ConcurrentCountsAddUp) {
  prometheus::Registry registry;
  auto& family = prometheus::BuildCounter().Name("t_total").Help("t").Register(registry);
  CounterPairs pairs(family, "rpc", "code");
  constexpr int kThreads = 8, kPerThread = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&pairs, t] {
      for (int i = 0; i < kPerThread; ++i) {
        pairs.Get("Attest", (i + t) % 2 == 0 ? "OK" : "INVALID_ARGUMENT").Increment();
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(family.Add({{"rpc", "Attest"}, {"code", "OK"}}).Value() +
                family.Add({{"rpc", "Attest"}, {"code", "INVALID_ARGUMENT"}}).Value(),
            kThreads * kPerThread);
  EXPECT_EQ(family.Add({{"rpc", "Attest"}, {"code", "OK"}}).Value(), kThreads * kPerThread / 2);
}

TEST(MetricsTest, CountsAndObserves) {
  Metrics m;
  m.CountRequest("Attest", "OK");
  m.CountRequest("Attest", "OK");
  m.CountRequest("GetChallenge", "OK");
  m.CountAttestation("dev@1", "warning", "tdx+gpu");
  m.CountNonceIssued();
  m.CountNonceRejected("replayed");
  m.ObserveStage(Stage::kVerify, absl::Milliseconds(3));
  const std::string text = m.Serialize();
  EXPECT_THAT(text,
              HasSubstr("rp_requests_total{code=\"OK\",rpc=\"Attest\"} 2"));
  EXPECT_THAT(
      text, HasSubstr("rp_requests_total{code=\"OK\",rpc=\"GetChallenge\"} 1"));
  EXPECT_THAT(text, HasSubstr("rp_attestations_total{tee=\"tdx+gpu\",verdict=\"warning\"} 1"));
  EXPECT_THAT(text, HasSubstr("rp_policy_verdicts_total{policy=\"dev@1\",verdict=\"warning\"} 1"));
  EXPECT_THAT(text,
              HasSubstr("rp_attestations_total{tee=\"sev-snp\",verdict=\"affirming\"} 0"));
  EXPECT_THAT(text, HasSubstr("rp_policy_reloads_total{result=\"failed\"} 0"));
  EXPECT_THAT(text, HasSubstr("rp_policy_reload_ok 1"));
  EXPECT_THAT(text, HasSubstr("rp_build_info{version=\""));
  EXPECT_THAT(text, HasSubstr("rp_nonces_issued_total 1"));
  EXPECT_THAT(text,
              HasSubstr("rp_nonces_rejected_total{reason=\"replayed\"} 1"));
  EXPECT_THAT(text,
              HasSubstr("rp_nonces_rejected_total{reason=\"expired\"} 0"));
  EXPECT_THAT(text, HasSubstr("rp_stage_seconds_count{stage=\"verify\"} 1"));
  EXPECT_THAT(
      text,
      HasSubstr("rp_stage_seconds_bucket{stage=\"verify\",le=\"0.005\"} 1"));
  EXPECT_THAT(text, HasSubstr("rp_stage_seconds_count{stage=\"total\"} 0"));
}

TEST(MetricsTest, PolicyReloadsCountAndTheGaugeFollowsTheLatest) {
  Metrics m;
  m.CountPolicyReload(false);
  EXPECT_THAT(m.Serialize(), HasSubstr("rp_policy_reload_ok 0"));
  EXPECT_THAT(m.Serialize(), HasSubstr("rp_policy_reloads_total{result=\"failed\"} 1"));
  m.CountPolicyReload(true);
  const std::string text = m.Serialize();
  EXPECT_THAT(text, HasSubstr("rp_policy_reload_ok 1"));
  EXPECT_THAT(text, HasSubstr("rp_policy_reloads_total{result=\"ok\"} 1"));
}

TEST(MetricsTest, AttestationTeeIsAFixedSet) {
  EXPECT_EQ(AttestationTee({"tdx"}), "tdx");
  EXPECT_EQ(AttestationTee({"sev-snp"}), "sev-snp");
  EXPECT_EQ(AttestationTee({"tdx", "nvidia-gpu", "nvidia-gpu", "nvidia-switch"}), "tdx+gpu");
  EXPECT_EQ(AttestationTee({"nvidia-gpu", "sev-snp"}), "sev-snp+gpu");
  EXPECT_EQ(AttestationTee({"nvidia-gpu"}), "gpu");
  EXPECT_EQ(AttestationTee({"tdx", "sev-snp"}), "mixed");
  EXPECT_EQ(AttestationTee({}), "none");
  // Whatever a device calls itself, the label stays in the set.
  EXPECT_EQ(AttestationTee({"tdx", "attacker\"label"}), "tdx+gpu");
}

TEST(MetricsTest, ExposerServesMetricsOnAnEphemeralPort) {
  Metrics m;
  m.CountNonceIssued();
  auto exposer = MetricsExposer::Start("127.0.0.1:0", m.registry());
  ASSERT_TRUE(exposer.ok()) << exposer.status();
  ASSERT_GT((*exposer)->port(), 0);
  auto resp = testing::HttpGet((*exposer)->port(), "/metrics");
  ASSERT_TRUE(resp.ok()) << resp.status();
  EXPECT_EQ(resp->status, 200);
  EXPECT_THAT(resp->body, HasSubstr("rp_nonces_issued_total 1"));
}

TEST(MetricsTest, ExposerReportsBindFailure) {
  Metrics m;
  auto exposer = MetricsExposer::Start("256.0.0.1:1", m.registry());
  EXPECT_FALSE(exposer.ok());
}

}  // namespace
}  // namespace rp::server
