#include "verifier/collateral/http_source.h"

#include <chrono>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "verifier/collateral/amd_kds_source.h"
#include "verifier/collateral/collateral_test_util.h"
#include "verifier/collateral/http_fetcher.h"
#include "verifier/collateral/observer.h"
#include "verifier/collateral/testing_http_server.h"
#include "verifier/common/clock.h"

namespace rp::collateral {
namespace {

using testing::ReadTestFile;
using testing::TestResponse;
using testing::TestingHttpServer;
using testing::TestTime;

constexpr char kCrlKey[] = "amd/Genoa/crl.der";
constexpr char kCrlPath[] = "/vcek/v1/Genoa/crl";

class KdsOverLoopbackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = TestingHttpServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    crl_ = ReadTestFile(kCrlKey);
  }

  // A KDS source on the loopback server; limits relaxed unless a test sets them.
  std::unique_ptr<HttpCollateralSource> MakeSource(UpstreamLimitsOptions limits,
                                                   absl::Duration timeout = absl::Seconds(5)) {
    HttpFetcherOptions http;
    http.connect_timeout = timeout;
    http.total_timeout = timeout;
    auto fetcher = CurlHttpFetcher::Create(http);
    EXPECT_TRUE(fetcher.ok());
    fetcher_ = std::move(*fetcher);
    AmdKdsOptions kds;
    kds.base_url = server_->base_url();
    kds.limits = limits;
    auto source = CreateAmdKdsSource(kds, *fetcher_, clock_, observer_);
    EXPECT_TRUE(source.ok()) << source.status();
    return std::move(*source);
  }

  static UpstreamLimitsOptions Relaxed() {
    UpstreamLimitsOptions o;
    o.rate_per_second = 0;  // no token bucket
    return o;
  }

  FakeClock clock_{TestTime()};
  CountingObserver observer_;
  std::unique_ptr<TestingHttpServer> server_;
  std::unique_ptr<CurlHttpFetcher> fetcher_;
  std::string crl_;
};

TEST_F(KdsOverLoopbackTest, FetchesAndReportsProvenance) {
  TestResponse ok;
  ok.body = crl_;
  ok.headers = {{"Cache-Control", "max-age=3600"}};
  server_->SetResponse(kCrlPath, ok);
  auto source = MakeSource(Relaxed());
  auto item = source->GetItem(kCrlKey, GetOptions{});
  ASSERT_TRUE(item.ok()) << item.status();
  ASSERT_TRUE(item->has_value());
  EXPECT_EQ((*item)->data, testing::ToBytes(crl_));
  EXPECT_EQ((*item)->source, "amd-kds");
  EXPECT_EQ((*item)->http_expires, TestTime() + absl::Hours(1));
  EXPECT_EQ(server_->LastRequestUri(), kCrlPath);
  EXPECT_EQ(observer_.Count("fetch/amd-kds/ok"), 1);
  EXPECT_EQ(observer_.Count("latency/amd-kds"), 1);
}

TEST_F(KdsOverLoopbackTest, VcekRequestUrlOnTheWire) {
  TestResponse ok;
  ok.body = ReadTestFile(testing::MilanVcekKey());
  server_->SetDefaultResponse(ok);
  auto source = MakeSource(Relaxed());
  auto got = source->Get(testing::MilanVcekKey());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(server_->LastRequestUri(),
            absl::StrCat("/vcek/v1/Milan/", testing::kMilanHwid,
                         "?blSPL=4&teeSPL=0&snpSPL=24&ucodeSPL=219"));
}

TEST_F(KdsOverLoopbackTest, NotFoundIsNulloptAndNotABreakerFailure) {
  auto limits = Relaxed();
  limits.breaker_failure_threshold = 1;
  auto source = MakeSource(limits);
  auto got = source->Get(kCrlKey);  // default response is 404
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_FALSE(got->has_value());
  EXPECT_EQ(source->limiter().breaker_state(), BreakerState::kClosed);
  // VLEK certificates are not mapped: no request at all.
  auto vlek = source->Get("amd/vlek/Milan/0000-0000000000000000.der");
  ASSERT_TRUE(vlek.ok());
  EXPECT_FALSE(vlek->has_value());
  EXPECT_EQ(server_->RequestCount(), 1);
}

TEST_F(KdsOverLoopbackTest, GarbageBodyIsAnErrorNotAnItem) {
  TestResponse portal;
  portal.body = "<html>please log in</html>";
  server_->SetResponse(kCrlPath, portal);
  auto source = MakeSource(Relaxed());
  auto got = source->Get(kCrlKey);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(KdsOverLoopbackTest, RedirectsAreNotFollowed) {
  TestResponse redirect;
  redirect.status = 302;
  redirect.headers = {{"Location", server_->base_url() + "/elsewhere"}};
  server_->SetResponse(kCrlPath, redirect);
  auto source = MakeSource(Relaxed());
  auto got = source->Get(kCrlKey);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(server_->RequestCount("/elsewhere"), 0);
}

TEST_F(KdsOverLoopbackTest, OversizedResponseRejected) {
  TestResponse big;
  big.body = std::string(kMaxCollateralItemBytes + 1, 'x');
  server_->SetResponse(kCrlPath, big);
  auto source = MakeSource(Relaxed());
  auto got = source->Get(kCrlKey);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(got.status().message().find("over"), std::string::npos) << got.status();
}

// MUST-SHOW: 429 + Retry-After: 30 → nothing is sent before the time; after it a
// request goes through.
TEST_F(KdsOverLoopbackTest, RetryAfterIsRespected) {
  TestResponse limited;
  limited.status = 429;
  limited.headers = {{"Retry-After", "30"}};
  server_->SetResponse(kCrlPath, limited);
  // The default AMD token bucket (1 per 10 s) is on as in production.
  auto source = MakeSource(UpstreamLimitsOptions{});

  auto first = source->Get(kCrlKey);
  EXPECT_EQ(first.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(first.status().message().find("rate limited by upstream until 2025-09-01T00:00:30"),
            std::string::npos)
      << first.status();
  EXPECT_EQ(server_->RequestCount(kCrlPath), 1);

  TestResponse ok;
  ok.body = crl_;
  server_->SetResponse(kCrlPath, ok);
  for (int s : {0, 10, 20, 29}) {
    clock_.Set(TestTime() + absl::Seconds(s));
    auto during = source->Get(kCrlKey);
    EXPECT_EQ(during.status().code(), absl::StatusCode::kUnavailable) << s;
    EXPECT_NE(during.status().message().find("rate limited by upstream until"), std::string::npos)
        << during.status();
  }
  clock_.Set(TestTime() + absl::Milliseconds(29999));
  EXPECT_FALSE(source->Get(kCrlKey).ok());
  EXPECT_EQ(server_->RequestCount(kCrlPath), 1);  // nothing went out in the window

  clock_.Set(TestTime() + absl::Seconds(30));
  auto after = source->Get(kCrlKey);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_TRUE(after->has_value());
  EXPECT_EQ(server_->RequestCount(kCrlPath), 2);
}

TEST_F(KdsOverLoopbackTest, RetryAfterAsHttpDate) {
  TestResponse limited;
  limited.status = 429;
  limited.headers = {{"Retry-After", "Mon, 01 Sep 2025 00:01:00 GMT"}};
  server_->SetResponse(kCrlPath, limited);
  auto source = MakeSource(Relaxed());
  EXPECT_FALSE(source->Get(kCrlKey).ok());
  clock_.Advance(absl::Seconds(59));
  EXPECT_FALSE(source->Get(kCrlKey).ok());
  EXPECT_EQ(server_->RequestCount(kCrlPath), 1);
  clock_.Advance(absl::Seconds(1));
  EXPECT_FALSE(source->Get(kCrlKey).ok());  // still 429, but it was sent
  EXPECT_EQ(server_->RequestCount(kCrlPath), 2);
}

// MUST-SHOW: a hanging upstream costs at most the timeout per request; after N
// failures the breaker is open (fail fast, no request); half-open after the
// cool-down; closed again on success.
TEST_F(KdsOverLoopbackTest, HangingUpstreamTimesOutAndTripsBreaker) {
  TestResponse hang;
  hang.hang = true;
  server_->SetResponse(kCrlPath, hang);
  auto limits = Relaxed();
  limits.breaker_failure_threshold = 3;
  limits.breaker_cooldown = absl::Seconds(60);
  const absl::Duration timeout = absl::Milliseconds(300);
  auto source = MakeSource(limits, timeout);

  for (int i = 0; i < 3; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto got = source->Get(kCrlKey);
    const absl::Duration elapsed = absl::FromChrono(std::chrono::steady_clock::now() - start);
    EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable) << got.status();
    EXPECT_GE(elapsed, absl::Milliseconds(250)) << i;
    EXPECT_LT(elapsed, timeout + absl::Milliseconds(500)) << i;
  }
  EXPECT_EQ(server_->RequestCount(kCrlPath), 3);
  EXPECT_EQ(source->limiter().breaker_state(), BreakerState::kOpen);
  EXPECT_EQ(observer_.Count("breaker/amd-kds/open"), 1);

  const auto start = std::chrono::steady_clock::now();
  auto fast = source->Get(kCrlKey);
  const absl::Duration elapsed = absl::FromChrono(std::chrono::steady_clock::now() - start);
  EXPECT_EQ(fast.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(fast.status().message().find("circuit breaker open"), std::string::npos);
  EXPECT_LT(elapsed, absl::Milliseconds(100));
  EXPECT_EQ(server_->RequestCount(kCrlPath), 3);  // the server was not contacted

  server_->ReleaseHangs();
  TestResponse ok;
  ok.body = crl_;
  server_->SetResponse(kCrlPath, ok);
  clock_.Advance(absl::Seconds(60));
  EXPECT_EQ(source->limiter().breaker_state(), BreakerState::kHalfOpen);
  auto probe = source->Get(kCrlKey);
  ASSERT_TRUE(probe.ok()) << probe.status();
  EXPECT_EQ(source->limiter().breaker_state(), BreakerState::kClosed);
  EXPECT_EQ(server_->RequestCount(kCrlPath), 4);
}

TEST_F(KdsOverLoopbackTest, ConnectionRefusedIsUnavailable) {
  auto source = MakeSource(Relaxed());
  server_->Stop();
  auto got = source->Get(kCrlKey);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable) << got.status();
}

}  // namespace
}  // namespace rp::collateral
