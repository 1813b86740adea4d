// RedisClient and the Redis stores against a real redis-server on loopback
// (server/redis/local_redis.h). No network beyond 127.0.0.1.
#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/limits/rate_limiter.h"
#include "server/redis/local_redis.h"
#include "server/redis/redis_client.h"
#include "server/redis/redis_stores.h"
#include "verifier/common/encoding.h"

namespace rp::server::redis {
namespace {

using ::testing::HasSubstr;

class CountingObserver : public RedisObserver, public ReplayObserver {
 public:
  void OnCommand(bool answered, absl::Duration) override {
    (answered ? answered_ : failed_).fetch_add(1);
  }
  void OnUp(bool up) override { (up ? ups_ : downs_).fetch_add(1); }
  void OnMarkUsed(std::string_view, MarkResult r, absl::Duration) override {
    marks_[static_cast<int>(r)].fetch_add(1);
  }
  std::atomic<int> answered_{0}, failed_{0}, ups_{0}, downs_{0};
  std::atomic<int> marks_[3] = {0, 0, 0};
};

class RedisTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = LocalRedis::Start();
    ASSERT_TRUE(r.ok()) << r.status();
    redis_ = *std::move(r);
  }
  std::unique_ptr<RedisClient> Client(RedisOptions o = {}) {
    if (o.address.empty()) o.address = redis_->address();
    auto c = RedisClient::Create(o, Clock::Real(), &observer_);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *std::move(c) : nullptr;
  }
  int64_t DbSize(RedisClient& c) {
    auto r = c.Command({"DBSIZE"});
    return r.ok() && r->type == Reply::Type::kInteger ? r->integer : -1;
  }

  std::unique_ptr<LocalRedis> redis_;
  CountingObserver observer_;
  const std::string prefix_ = "rp:test:";
};

Bytes Nonce(uint8_t fill) { return Bytes(32, fill); }

TEST(RedisClientConfig, RejectsBadOptions) {
  RedisOptions o;
  for (const char* bad : {"", "nohost", ":6379", "h:0", "h:65536", "h:x", "[::1]6379", "unix:"}) {
    o.address = bad;
    EXPECT_FALSE(RedisClient::Create(o, Clock::Real()).ok()) << bad;
  }
  o.address = "127.0.0.1:6379";
  o.pool_size = 0;
  EXPECT_FALSE(RedisClient::Create(o, Clock::Real()).ok());
  o.pool_size = 8;
  o.command_timeout = absl::ZeroDuration();
  EXPECT_FALSE(RedisClient::Create(o, Clock::Real()).ok());
  o.command_timeout = absl::Milliseconds(100);
  EXPECT_TRUE(RedisClient::Create(o, Clock::Real()).ok());
  o.address = "[::1]:6379";
  EXPECT_TRUE(RedisClient::Create(o, Clock::Real()).ok());
  o.address = "unix:/run/redis.sock";
  EXPECT_TRUE(RedisClient::Create(o, Clock::Real()).ok());
}

TEST(RedisKeyPrefix, Namespaces) {
  EXPECT_EQ(*KeyPrefix("prod-eu.1"), "rp:prod-eu.1:");
  for (const char* bad : {"", "a:b", "a b", "a*", "ü"}) EXPECT_FALSE(KeyPrefix(bad).ok()) << bad;
  EXPECT_FALSE(KeyPrefix(std::string(65, 'a')).ok());
}

TEST_F(RedisTest, PingAndMaxMemoryPolicy) {
  auto c = Client();
  EXPECT_TRUE(c->Ping().ok());
  EXPECT_EQ(c->MaxMemoryPolicy().value_or("?"), "noeviction");
  EXPECT_TRUE(c->up());
  EXPECT_GE(observer_.ups_.load(), 1);
}

TEST_F(RedisTest, MaxMemoryPolicyReportsEvictingConfig) {
  auto r = LocalRedis::Start({"--maxmemory-policy", "volatile-lru"});
  ASSERT_TRUE(r.ok());
  RedisOptions o;
  o.address = (*r)->address();
  auto c = Client(o);
  EXPECT_EQ(c->MaxMemoryPolicy().value_or("?"), "volatile-lru");
}

TEST_F(RedisTest, FirstUseThenReplayWithExpiringKey) {
  auto c = Client();
  RedisReplayStore redis_store(*c, prefix_, "nonce", {}, Clock::Real());
  ObservedReplayStore store(redis_store, "nonce", Clock::Real(), observer_);
  const Bytes n = Nonce(7);
  const absl::Time exp = absl::Now() + absl::Seconds(30);
  EXPECT_EQ(store.MarkUsed(n, exp).value_or(false), true);
  EXPECT_EQ(store.MarkUsed(n, exp).value_or(true), false);
  EXPECT_EQ(store.MarkUsed(Nonce(8), exp).value_or(false), true);
  // Key layout and expiry: PXAT = the challenge's expiry.
  const std::string key = redis_store.KeyFor(n);
  EXPECT_TRUE(absl::StartsWith(key, "rp:test:n:")) << key;
  EXPECT_EQ(key.size(), std::string("rp:test:n:").size() + 43);
  auto pexp = c->Command({"PEXPIRETIME", key});
  ASSERT_TRUE(pexp.ok());
  EXPECT_EQ(pexp->integer, absl::ToUnixMillis(exp));
  EXPECT_EQ(observer_.marks_[0].load(), 2);
  EXPECT_EQ(observer_.marks_[1].load(), 1);
}

TEST_F(RedisTest, JtiKindUsesItsOwnKeys) {
  auto c = Client();
  RedisReplayStore nonces(*c, prefix_, "nonce", {}, Clock::Real());
  RedisReplayStore jtis(*c, prefix_, "jti", {}, Clock::Real());
  const Bytes id = Nonce(1);
  const absl::Time exp = absl::Now() + absl::Seconds(30);
  EXPECT_TRUE(*nonces.MarkUsed(id, exp));
  EXPECT_TRUE(*jtis.MarkUsed(id, exp));  // a different key space
  EXPECT_TRUE(absl::StartsWith(jtis.KeyFor(id), "rp:test:j:"));
  EXPECT_FALSE(*jtis.MarkUsed(id, exp));
}

TEST_F(RedisTest, EntryExpiresWithTheChallenge) {
  auto c = Client();
  RedisReplayStore store(*c, prefix_, "nonce", {}, Clock::Real());
  const Bytes n = Nonce(9);
  EXPECT_TRUE(*store.MarkUsed(n, absl::Now() + absl::Milliseconds(200)));
  EXPECT_FALSE(*store.MarkUsed(n, absl::Now() + absl::Seconds(5)));
  absl::SleepFor(absl::Milliseconds(400));
  EXPECT_EQ(DbSize(*c), 0);  // Redis dropped it: it holds only unexpired nonces
}

TEST_F(RedisTest, BinarySafeKeys) {
  auto c = Client();
  RedisReplayStore store(*c, prefix_, "nonce", {}, Clock::Real());
  Bytes tricky = {'\r', '\n', '*', '1', '\r', '\n', 0, 0, '$', ' ', 'F', 'L', 'U', 'S', 'H'};
  const absl::Time exp = absl::Now() + absl::Seconds(30);
  EXPECT_TRUE(*store.MarkUsed(tricky, exp));
  tricky.back() = 'h';
  EXPECT_TRUE(*store.MarkUsed(tricky, exp));
  EXPECT_EQ(DbSize(*c), 2);
}

TEST_F(RedisTest, BadArgumentsChangeNothing) {
  auto c = Client();
  RedisReplayStore store(*c, prefix_, "nonce", {}, Clock::Real());
  EXPECT_EQ(store.MarkUsed({}, absl::Now() + absl::Seconds(5)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store.MarkUsed(Bytes(65, 1), absl::Now() + absl::Seconds(5)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store.MarkUsed(Nonce(1), absl::Now() - absl::Seconds(1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DbSize(*c), 0);
}

TEST_F(RedisTest, SixtyFourRacersOneWinner) {
  RedisOptions o;
  o.pool_size = 8;
  auto c = Client(o);
  RedisReplayStore store(*c, prefix_, "nonce", {}, Clock::Real());
  for (int round = 0; round < 5; ++round) {
    const Bytes n = Nonce(static_cast<uint8_t>(0x40 + round));
    const absl::Time exp = absl::Now() + absl::Seconds(30);
    std::atomic<int> first{0}, replay{0}, errors{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int i = 0; i < 64; ++i) {
      threads.emplace_back([&] {
        while (!go.load()) std::this_thread::yield();
        // A racer that finds the pool busy past the command timeout gets
        // UNAVAILABLE (fail closed): never a second "first".
        auto r = store.MarkUsed(n, exp);
        (!r.ok() ? errors : (*r ? first : replay)).fetch_add(1);
      });
    }
    go = true;
    for (auto& t : threads) t.join();
    EXPECT_EQ(first.load(), 1) << "round " << round;
    EXPECT_EQ(first + replay + errors, 64);
  }
}

TEST_F(RedisTest, RedisDownFailsClosedAndRecoversWithoutNewClient) {
  RedisOptions o;
  o.connect_timeout = absl::Milliseconds(100);
  auto c = Client(o);
  RedisReplayStore redis_store(*c, prefix_, "nonce", {}, Clock::Real());
  ObservedReplayStore store(redis_store, "nonce", Clock::Real(), observer_);
  const absl::Time exp = absl::Now() + absl::Seconds(60);
  ASSERT_TRUE(*store.MarkUsed(Nonce(1), exp));
  redis_->Kill();
  for (int i = 0; i < 20; ++i) {
    auto r = store.MarkUsed(Nonce(static_cast<uint8_t>(100 + i)), exp);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  }
  EXPECT_FALSE(c->up());
  EXPECT_GE(observer_.downs_.load(), 1);
  EXPECT_EQ(observer_.marks_[2].load(), 20);
  // The breaker makes later calls fail fast (no connect attempt).
  const absl::Time t0 = absl::Now();
  auto fast = c->Command({"PING"});
  EXPECT_FALSE(fast.ok());
  EXPECT_LT(absl::Now() - t0, absl::Milliseconds(50));
  EXPECT_THAT(std::string(fast.status().message()), HasSubstr("redis"));

  ASSERT_TRUE(redis_->Restart().ok());
  // Empty Redis after a restart without persistence: the backoff (<= 2 s)
  // passes, then the same client reconnects.
  bool recovered = false;
  for (int i = 0; i < 60 && !recovered; ++i) {
    auto r = store.MarkUsed(Nonce(200), exp);
    recovered = r.ok() && *r;
    if (!recovered) absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_TRUE(recovered);
  EXPECT_TRUE(c->up());
  EXPECT_FALSE(*store.MarkUsed(Nonce(200), exp));
}

TEST_F(RedisTest, AuthRequiredAndRefused) {
  auto r = LocalRedis::Start({"--requirepass", "s3cret-pass"});
  ASSERT_TRUE(r.ok());
  RedisOptions o;
  o.address = (*r)->address();
  const absl::Time exp = absl::Now() + absl::Seconds(30);
  {  // No password: the server answers NOAUTH, which is not "OK" => fail closed.
    auto c = Client(o);
    RedisReplayStore store(*c, prefix_, "nonce", {}, Clock::Real());
    auto m = store.MarkUsed(Nonce(1), exp);
    ASSERT_FALSE(m.ok());
    EXPECT_THAT(std::string(m.status().message()), HasSubstr("NOAUTH"));
  }
  {  // Wrong password: the connection is refused; the password is not echoed.
    o.password = "wrong-pass";
    auto c = Client(o);
    auto p = c->Ping();
    ASSERT_FALSE(p.ok());
    EXPECT_THAT(std::string(p.message()), HasSubstr("AUTH refused"));
    EXPECT_THAT(std::string(p.message()), ::testing::Not(HasSubstr("wrong-pass")));
  }
  {
    o.password = "s3cret-pass";
    auto c = Client(o);
    EXPECT_TRUE(c->Ping().ok());
    RedisReplayStore store(*c, prefix_, "nonce", {}, Clock::Real());
    EXPECT_TRUE(*store.MarkUsed(Nonce(1), exp));
  }
}

TEST_F(RedisTest, AclUserAuth) {
  auto c = Client();
  ASSERT_TRUE(c->Command({"ACL", "SETUSER", "rp", "on", ">userpass", "~rp:*", "+set", "+ping",
                          "+eval", "+hmget", "+hset", "+pexpire", "+wait"})
                  .ok());
  RedisOptions o;
  o.username = "rp";
  o.password = "userpass";
  auto user = Client(o);
  RedisReplayStore store(*user, prefix_, "nonce", {}, Clock::Real());
  EXPECT_TRUE(*store.MarkUsed(Nonce(3), absl::Now() + absl::Seconds(30)));
  // Outside its key pattern: an error reply => UNAVAILABLE, never "first".
  RedisReplayStore other(*user, "other:", "nonce", {}, Clock::Real());
  auto denied = other.MarkUsed(Nonce(3), absl::Now() + absl::Seconds(30));
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(RedisTest, OutOfMemoryFailsClosed) {
  auto r = LocalRedis::Start({"--maxmemory", "1", "--maxmemory-policy", "noeviction"});
  ASSERT_TRUE(r.ok());
  RedisOptions o;
  o.address = (*r)->address();
  auto c = Client(o);
  RedisReplayStore store(*c, prefix_, "nonce", {}, Clock::Real());
  auto m = store.MarkUsed(Nonce(1), absl::Now() + absl::Seconds(30));
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("OOM"));
}

TEST_F(RedisTest, WaitForReplicasFailsClosedWithoutReplicas) {
  auto c = Client();
  ReplayOptions w;
  w.wait_replicas = 1;
  w.wait_timeout = absl::Milliseconds(20);
  RedisReplayStore store(*c, prefix_, "nonce", w, Clock::Real());
  auto m = store.MarkUsed(Nonce(5), absl::Now() + absl::Seconds(30));
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("fewer replicas"));
  // The nonce stays burnt: a retry is a replay, not a first use.
  EXPECT_FALSE(*store.MarkUsed(Nonce(5), absl::Now() + absl::Seconds(30)));
}

TEST_F(RedisTest, RateLimitSharedAcrossReplicas) {
  auto c1 = Client();
  auto c2 = Client();
  FakeClock clock(absl::FromUnixSeconds(1'800'000'000));
  RedisRateLimitStore a(*c1, prefix_, clock);
  RedisRateLimitStore b(*c2, prefix_, clock);
  const limits::RateLimit limit{/*rate_per_second=*/2, /*burst=*/3};
  EXPECT_TRUE(a.Take("Attest", "peer-1", limit)->allowed);
  EXPECT_TRUE(b.Take("Attest", "peer-1", limit)->allowed);
  EXPECT_TRUE(a.Take("Attest", "peer-1", limit)->allowed);
  auto refused = b.Take("Attest", "peer-1", limit);
  ASSERT_TRUE(refused.ok());
  EXPECT_FALSE(refused->allowed);
  EXPECT_EQ(refused->retry_after, absl::Milliseconds(500));
  // Other peers and other scopes have their own buckets.
  EXPECT_TRUE(a.Take("Attest", "peer-2", limit)->allowed);
  EXPECT_TRUE(a.Take("GetChallenge", "peer-1", limit)->allowed);
  clock.Advance(absl::Milliseconds(500));
  EXPECT_TRUE(b.Take("Attest", "peer-1", limit)->allowed);
  EXPECT_FALSE(a.Take("Attest", "peer-1", limit)->allowed);
  // A clock behind the bucket's gives no refill (never negative).
  FakeClock behind(absl::FromUnixSeconds(1'700'000'000));
  RedisRateLimitStore late(*c1, prefix_, behind);
  EXPECT_FALSE(late.Take("Attest", "peer-1", limit)->allowed);
  // Buckets expire once full again: no unbounded growth.
  auto keys = c1->Command({"KEYS", "rp:test:rl:*"});
  ASSERT_TRUE(keys.ok());
  for (const Reply& k : keys->elements) {
    auto ttl = c1->Command({"PTTL", k.str});
    ASSERT_TRUE(ttl.ok());
    EXPECT_GT(ttl->integer, 0) << k.str;
    EXPECT_LE(ttl->integer, 1500) << k.str;
  }
  // Unlimited never touches Redis.
  redis_->Kill();
  EXPECT_TRUE(a.Take("Attest", "peer-1", limits::RateLimit{-1, 1})->allowed);
  EXPECT_EQ(a.Take("Attest", "peer-1", limit).status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(RedisTest, RateLimitFallsBackToLocalBucketsWhenRedisIsDown) {
  auto c = Client();
  FakeClock clock(absl::FromUnixSeconds(1'800'000'000));
  RedisRateLimitStore shared(*c, prefix_, clock);
  limits::InMemoryRateLimitStore local(100, clock);
  int fallbacks = 0;
  FallbackRateLimitStore store(shared, local, [&] { ++fallbacks; });
  const limits::RateLimit limit{1, 2};
  EXPECT_TRUE(store.Take("Attest", "p", limit)->allowed);
  EXPECT_EQ(fallbacks, 0);
  redis_->Kill();
  // Still limited, per replica.
  EXPECT_TRUE(store.Take("Attest", "p", limit)->allowed);
  EXPECT_TRUE(store.Take("Attest", "p", limit)->allowed);
  EXPECT_FALSE(store.Take("Attest", "p", limit)->allowed);
  EXPECT_EQ(fallbacks, 3);
}

}  // namespace
}  // namespace rp::server::redis
