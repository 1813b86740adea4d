#include "verifier/collateral/cache.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "verifier/collateral/amd_kds_source.h"
#include "verifier/collateral/collateral_test_util.h"
#include "verifier/collateral/http_fetcher.h"
#include "verifier/collateral/observer.h"
#include "verifier/collateral/testing_http_server.h"
#include "verifier/common/clock.h"

namespace rp::collateral {
namespace {

using testing::FreshTempDir;
using testing::MilanVcekKey;
using testing::ReadTestFile;
using testing::TestResponse;
using testing::TestingHttpServer;
using testing::TestTime;
using testing::ToBytes;

constexpr char kCrlKey[] = "amd/Genoa/crl.der";
constexpr char kCrlPath[] = "/vcek/v1/Genoa/crl";

absl::Time GenoaNextUpdate() { return absl::FromUnixSeconds(1762131600); }  // 2025-11-03T01:00Z

// The cache over the AMD KDS source over a loopback server.
class CacheOverKdsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = TestingHttpServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    HttpFetcherOptions http;
    http.connect_timeout = absl::Seconds(2);
    http.total_timeout = absl::Seconds(5);
    fetcher_ = std::move(*CurlHttpFetcher::Create(http));
  }

  std::shared_ptr<HttpCollateralSource> MakeKds(UpstreamLimitsOptions limits = Relaxed()) {
    AmdKdsOptions kds;
    kds.base_url = server_->base_url();
    kds.limits = limits;
    auto source = CreateAmdKdsSource(kds, *fetcher_, clock_, observer_);
    EXPECT_TRUE(source.ok()) << source.status();
    return std::shared_ptr<HttpCollateralSource>(std::move(*source));
  }

  std::unique_ptr<CachingSource> MakeCache(std::shared_ptr<const CollateralSource> upstream,
                                           CacheOptions options = CacheOptions{}) {
    auto cache = CachingSource::Create(options, std::move(upstream), clock_, observer_);
    EXPECT_TRUE(cache.ok()) << cache.status();
    return std::move(*cache);
  }

  static UpstreamLimitsOptions Relaxed() {
    UpstreamLimitsOptions o;
    o.rate_per_second = 0;
    o.max_concurrency = 8;
    return o;
  }

  static GetOptions Grace(absl::Duration d) {
    GetOptions o;
    o.stale_grace = d;
    return o;
  }

  FakeClock clock_{TestTime()};
  CountingObserver observer_;
  std::unique_ptr<TestingHttpServer> server_;
  std::unique_ptr<CurlHttpFetcher> fetcher_;
};

// MUST-SHOW: 100 concurrent lookups of one missing VCEK → one upstream request.
TEST_F(CacheOverKdsTest, HundredConcurrentMissesMakeOneRequest) {
  const std::string vcek = ReadTestFile(MilanVcekKey());
  TestResponse slow;
  slow.body = vcek;
  slow.delay = absl::Milliseconds(200);  // keep the fetch in flight while threads pile up
  server_->SetDefaultResponse(slow);
  // Production AMD limits (1 request / 10 s, burst 1): coalescing must make
  // that enough.
  auto cache = MakeCache(MakeKds(UpstreamLimitsOptions{}));

  constexpr int kThreads = 100;
  std::vector<absl::StatusOr<std::optional<Bytes>>> results(kThreads);
  std::vector<std::thread> threads;
  absl::Mutex start_mu;
  bool go = false;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      {
        absl::MutexLock l(&start_mu);
        start_mu.Await(absl::Condition(&go));
      }
      results[i] = cache->Get(MilanVcekKey());
    });
  }
  {
    absl::MutexLock l(&start_mu);
    go = true;
  }
  for (auto& t : threads) t.join();

  EXPECT_EQ(server_->RequestCount(), 1);
  for (int i = 0; i < kThreads; ++i) {
    ASSERT_TRUE(results[i].ok()) << i << ": " << results[i].status();
    ASSERT_TRUE(results[i]->has_value()) << i;
    EXPECT_EQ(**results[i], ToBytes(vcek)) << i;
  }
  EXPECT_EQ(observer_.Count("fetch/amd-kds/ok"), 1);
}

// MUST-SHOW: the disk cache is an offline bundle.
TEST_F(CacheOverKdsTest, DiskLayoutEqualsOfflineLayout) {
  const std::string vcek = ReadTestFile(MilanVcekKey());
  TestResponse ok;
  ok.body = vcek;
  server_->SetDefaultResponse(ok);
  CacheOptions options;
  options.disk_dir = FreshTempDir("layout");
  auto cache = MakeCache(MakeKds(), options);
  auto got = cache->Get(MilanVcekKey());
  ASSERT_TRUE(got.ok()) << got.status();

  OfflineDirectorySource offline(options.disk_dir);
  auto from_disk = offline.Get(MilanVcekKey());
  ASSERT_TRUE(from_disk.ok()) << from_disk.status();
  ASSERT_TRUE(from_disk->has_value());
  EXPECT_EQ(**from_disk, ToBytes(vcek));
  EXPECT_EQ(**from_disk, **got);
  // Sidecar metadata, and no temp files left behind.
  const std::string path = options.disk_dir + "/" + MilanVcekKey();
  EXPECT_TRUE(std::filesystem::exists(path + ".meta.json"));
  int files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(options.disk_dir)) {
    if (e.is_regular_file()) {
      ++files;
      EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();
    }
  }
  EXPECT_EQ(files, 2);
}

TEST_F(CacheOverKdsTest, UnwritableDiskIsCountedAndServedFromMemory) {
  TestResponse ok;
  ok.body = ReadTestFile(MilanVcekKey());
  server_->SetDefaultResponse(ok);
  CacheOptions options;
  // A regular file where the key's first directory should be: the write
  // fails (permissions would not stop root).
  options.disk_dir = FreshTempDir("unwritable");
  std::ofstream(options.disk_dir + "/amd") << "not a directory";
  auto cache = MakeCache(MakeKds(), options);
  auto got = cache->Get(MilanVcekKey());
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_GE(observer_.Count("cache/disk_error"), 1);
  // Served from memory afterwards, without another upstream request.
  const int requests = server_->RequestCount();
  ASSERT_TRUE(cache->Get(MilanVcekKey()).ok());
  EXPECT_EQ(server_->RequestCount(), requests);
}

// MUST-SHOW: dead upstream + fresh entry → fine; stale within grace → stale=true;
// beyond grace → FAILED_PRECONDITION.
TEST_F(CacheOverKdsTest, DeadUpstreamFreshStaleAndBeyondGrace) {
  TestResponse ok;
  ok.body = ReadTestFile(kCrlKey);
  server_->SetResponse(kCrlPath, ok);
  CacheOptions options;
  options.disk_dir = FreshTempDir("dead");
  auto kds = MakeKds();
  auto cache = MakeCache(kds, options);
  auto first = cache->GetItem(kCrlKey, GetOptions{});
  ASSERT_TRUE(first.ok()) << first.status();
  // Fresh for min(nextUpdate 2025-11-03, 24 h ceiling).
  EXPECT_EQ((*first)->fresh_until, TestTime() + absl::Hours(24));
  EXPECT_FALSE((*first)->stale);

  server_->Stop();  // the upstream is dead from now on

  // Fresh in memory.
  clock_.Advance(absl::Hours(1));
  auto mem = cache->GetItem(kCrlKey, GetOptions{});
  ASSERT_TRUE(mem.ok()) << mem.status();
  EXPECT_FALSE((*mem)->stale);
  // Fresh on disk (a new process with the same directory).
  auto restarted = MakeCache(kds, options);
  auto disk = restarted->GetItem(kCrlKey, GetOptions{});
  ASSERT_TRUE(disk.ok()) << disk.status();
  EXPECT_FALSE((*disk)->stale);
  EXPECT_EQ((*disk)->data, (*first)->data);
  EXPECT_EQ((*disk)->fresh_until, TestTime() + absl::Hours(24));
  EXPECT_EQ((*disk)->source, "amd-kds");

  // Past freshness: refresh fails (connection refused); inside the grace the
  // old copy is served and flagged.
  clock_.Set(TestTime() + absl::Hours(30));
  auto stale = restarted->GetItem(kCrlKey, Grace(absl::Hours(12)));
  ASSERT_TRUE(stale.ok()) << stale.status();
  EXPECT_TRUE((*stale)->stale);
  EXPECT_EQ((*stale)->data, (*first)->data);

  // Beyond the grace: fail closed, with the reason.
  auto refused = restarted->GetItem(kCrlKey, Grace(absl::Hours(2)));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find(
                "collateral amd/Genoa/crl.der stale since 2025-09-02T00:00:00Z, grace 2h exceeded"),
            std::string::npos)
      << refused.status();
  // Get() uses the default grace (zero): also fails closed.
  EXPECT_EQ(restarted->Get(kCrlKey).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_GE(observer_.Count("cache/stale"), 1);
  EXPECT_GE(observer_.Count("cache/stale_refused"), 1);
}

// MUST-SHOW: after a 500, a lookup within 30 s does not reach the upstream.
TEST_F(CacheOverKdsTest, NegativeCacheAfterServerError) {
  TestResponse broken;
  broken.status = 500;
  server_->SetResponse(kCrlPath, broken);
  auto cache = MakeCache(MakeKds());
  auto first = cache->Get(kCrlKey);
  EXPECT_EQ(first.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(server_->RequestCount(kCrlPath), 1);

  TestResponse ok;
  ok.body = ReadTestFile(kCrlKey);
  server_->SetResponse(kCrlPath, ok);
  clock_.Advance(absl::Seconds(29));
  auto second = cache->Get(kCrlKey);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find("negative cache"), std::string::npos)
      << second.status();
  EXPECT_EQ(server_->RequestCount(kCrlPath), 1);
  EXPECT_EQ(observer_.Count("cache/negative_hit"), 1);

  clock_.Advance(absl::Seconds(2));
  auto third = cache->Get(kCrlKey);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(server_->RequestCount(kCrlPath), 2);
}

TEST_F(CacheOverKdsTest, NotFoundIsCachedAsNullopt) {
  auto cache = MakeCache(MakeKds());
  for (int i = 0; i < 3; ++i) {
    auto got = cache->Get(kCrlKey);  // 404 by default
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_FALSE(got->has_value());
  }
  EXPECT_EQ(server_->RequestCount(kCrlPath), 1);
}

TEST_F(CacheOverKdsTest, RateLimitedUpstreamServesStaleWithinGrace) {
  TestResponse ok;
  ok.body = ReadTestFile(kCrlKey);
  server_->SetResponse(kCrlPath, ok);
  CacheOptions options;
  options.negative_ttl = absl::ZeroDuration();
  auto cache = MakeCache(MakeKds(), options);
  ASSERT_TRUE(cache->Get(kCrlKey).ok());

  TestResponse limited;
  limited.status = 429;
  limited.headers = {{"Retry-After", "3600"}};
  server_->SetResponse(kCrlPath, limited);
  clock_.Advance(absl::Hours(25));
  auto stale = cache->GetItem(kCrlKey, Grace(absl::Hours(6)));
  ASSERT_TRUE(stale.ok()) << stale.status();
  EXPECT_TRUE((*stale)->stale);
  EXPECT_EQ(server_->RequestCount(kCrlPath), 2);
  // During the Retry-After window nothing is sent; still served stale.
  clock_.Advance(absl::Minutes(1));
  auto again = cache->GetItem(kCrlKey, Grace(absl::Hours(6)));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE((*again)->stale);
  EXPECT_EQ(server_->RequestCount(kCrlPath), 2);
  // Without grace: the upstream's reason surfaces in the failure.
  auto none = cache->GetItem(kCrlKey, GetOptions{});
  EXPECT_EQ(none.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(none.status().message().find("rate limited by upstream until"), std::string::npos)
      << none.status();
}

// An in-memory upstream that counts calls (no network).
class CountingSource : public CollateralSource {
 public:
  explicit CountingSource(Bytes data) : data_(std::move(data)) {}
  absl::StatusOr<std::optional<Bytes>> Get(std::string_view) const override {
    ++calls_;
    return std::optional<Bytes>(data_);
  }
  std::string Describe() const override { return "counting"; }
  int calls() const { return calls_.load(); }

 private:
  Bytes data_;
  mutable std::atomic<int> calls_{0};
};

// MUST-SHOW: freshness from the real Genoa CRL (nextUpdate 2025-11-03).
TEST(CacheFreshnessTest, RealCrlFreshBeforeNextUpdateStaleAfter) {
  FakeClock clock(TestTime());  // 2025-09-01
  CountingObserver observer;
  auto upstream = std::make_shared<CountingSource>(ToBytes(ReadTestFile(kCrlKey)));
  CacheOptions options;
  options.max_ttl = absl::Hours(24 * 365);  // let the CRL's own date decide
  auto cache = *CachingSource::Create(options, upstream, clock, observer);

  auto fresh = cache->GetItem(kCrlKey, GetOptions{});
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_FALSE((*fresh)->stale);
  EXPECT_EQ((*fresh)->fresh_until, GenoaNextUpdate());
  clock.Set(GenoaNextUpdate() - absl::Seconds(1));
  ASSERT_TRUE(cache->GetItem(kCrlKey, GetOptions{}).ok());
  EXPECT_EQ(upstream->calls(), 1);  // still fresh: no refresh
  EXPECT_EQ(observer.Count("cache/hit"), 1);

  // After nextUpdate the upstream still has only this CRL: the refreshed copy
  // is stale too. Within grace it is served flagged, beyond grace refused.
  clock.Set(GenoaNextUpdate() + absl::Hours(1));
  auto stale = cache->GetItem(kCrlKey, GetOptions{absl::Hours(2)});
  ASSERT_TRUE(stale.ok()) << stale.status();
  EXPECT_TRUE((*stale)->stale);
  EXPECT_EQ(upstream->calls(), 2);
  auto refused = cache->GetItem(kCrlKey, GetOptions{absl::Minutes(30)});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("stale since 2025-11-03T01:00:00Z"),
            std::string::npos)
      << refused.status();
  EXPECT_EQ(upstream->calls(), 2);  // min_refresh_interval: not asked again at once
}

TEST(CacheFreshnessTest, HandPlacedFileWithoutMetadataUsesContent) {
  // An offline bundle used as the cache directory.
  const std::string dir = FreshTempDir("bundle");
  std::filesystem::create_directories(dir + "/amd/Genoa");
  std::filesystem::copy_file(testing::OfflineDir() + "/" + kCrlKey, dir + "/" + kCrlKey);
  FakeClock clock(TestTime());
  auto upstream = std::make_shared<CountingSource>(Bytes{});
  CacheOptions options;
  options.disk_dir = dir;
  options.max_ttl = absl::Hours(24 * 365);
  auto cache = *CachingSource::Create(options, upstream, clock, CollateralObserver::Noop());
  auto got = cache->GetItem(kCrlKey, GetOptions{});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)->fresh_until, GenoaNextUpdate());
  EXPECT_EQ(upstream->calls(), 0);
}

TEST(CacheFreshnessTest, RejectsInvalidKeys) {
  FakeClock clock(TestTime());
  auto upstream = std::make_shared<CountingSource>(Bytes{1});
  auto cache = *CachingSource::Create(CacheOptions{}, upstream, clock, CollateralObserver::Noop());
  EXPECT_EQ(cache->Get("../etc/passwd").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cache->Get("amd/Milan/crl.der.meta.json").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(upstream->calls(), 0);
}

}  // namespace
}  // namespace rp::collateral
