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
#include "server/redis/redis_node_store.h"
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
    if (!c.ok()) return nullptr;
    // As a replica does at start: the store's epoch (start of this second).
    if (o.password.empty() && o.username.empty()) (void)EnsureEpoch(**c, prefix_, Clock::Real());
    return *std::move(c);
  }
  // Nonce records held (the store's epoch key is not one).
  int64_t DbSize(RedisClient& c) {
    auto r = c.Command({"KEYS", "rp:test:n:*"});
    return r.ok() && r->type == Reply::Type::kArray ? static_cast<int64_t>(r->elements.size())
                                                     : -1;
  }

  std::unique_ptr<LocalRedis> redis_;
  CountingObserver observer_;
  const std::string prefix_ = "rp:test:";
};

Bytes Nonce(uint8_t fill) { return Bytes(32, fill); }

// The tests' records are issued "now" whatever their expiry (lifetime 0:
// never older than the store's epoch); the epoch test uses real lifetimes.
ReplayOptions Short() {
  ReplayOptions o;
  o.lifetime = absl::ZeroDuration();
  return o;
}

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
  RedisReplayStore redis_store(*c, prefix_, "nonce", Short(), Clock::Real());
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
  RedisReplayStore nonces(*c, prefix_, "nonce", Short(), Clock::Real());
  RedisReplayStore jtis(*c, prefix_, "jti", Short(), Clock::Real());
  const Bytes id = Nonce(1);
  const absl::Time exp = absl::Now() + absl::Seconds(30);
  EXPECT_TRUE(*nonces.MarkUsed(id, exp));
  EXPECT_TRUE(*jtis.MarkUsed(id, exp));  // a different key space
  EXPECT_TRUE(absl::StartsWith(jtis.KeyFor(id), "rp:test:j:"));
  EXPECT_FALSE(*jtis.MarkUsed(id, exp));
}

TEST_F(RedisTest, EntryExpiresWithTheChallenge) {
  auto c = Client();
  RedisReplayStore store(*c, prefix_, "nonce", Short(), Clock::Real());
  const Bytes n = Nonce(9);
  EXPECT_TRUE(*store.MarkUsed(n, absl::Now() + absl::Milliseconds(200)));
  EXPECT_FALSE(*store.MarkUsed(n, absl::Now() + absl::Seconds(5)));
  absl::SleepFor(absl::Milliseconds(400));
  EXPECT_EQ(DbSize(*c), 0);  // Redis dropped it: it holds only unexpired nonces
}

TEST_F(RedisTest, BinarySafeKeys) {
  auto c = Client();
  RedisReplayStore store(*c, prefix_, "nonce", Short(), Clock::Real());
  Bytes tricky = {'\r', '\n', '*', '1', '\r', '\n', 0, 0, '$', ' ', 'F', 'L', 'U', 'S', 'H'};
  const absl::Time exp = absl::Now() + absl::Seconds(30);
  EXPECT_TRUE(*store.MarkUsed(tricky, exp));
  tricky.back() = 'h';
  EXPECT_TRUE(*store.MarkUsed(tricky, exp));
  EXPECT_EQ(DbSize(*c), 2);
}

TEST_F(RedisTest, BadArgumentsChangeNothing) {
  auto c = Client();
  RedisReplayStore store(*c, prefix_, "nonce", Short(), Clock::Real());
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
  RedisReplayStore store(*c, prefix_, "nonce", Short(), Clock::Real());
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
  RedisReplayStore redis_store(*c, prefix_, "nonce", Short(), Clock::Real());
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
    RedisReplayStore store(*c, prefix_, "nonce", Short(), Clock::Real());
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
    RedisReplayStore store(*c, prefix_, "nonce", Short(), Clock::Real());
    EXPECT_TRUE(*store.MarkUsed(Nonce(1), exp));
  }
}

TEST_F(RedisTest, AclUserAuth) {
  auto c = Client();
  ASSERT_TRUE(c->Command({"ACL", "SETUSER", "rp", "on", ">userpass", "~rp:*", "+set", "+ping",
                          "+eval", "+get", "+hmget", "+hset", "+pexpire", "+wait"})
                  .ok());
  RedisOptions o;
  o.username = "rp";
  o.password = "userpass";
  auto user = Client(o);
  RedisReplayStore store(*user, prefix_, "nonce", Short(), Clock::Real());
  EXPECT_TRUE(*store.MarkUsed(Nonce(3), absl::Now() + absl::Seconds(30)));
  // Outside its key pattern: an error reply => UNAVAILABLE, never "first".
  RedisReplayStore other(*user, "other:", "nonce", Short(), Clock::Real());
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
  RedisReplayStore store(*c, prefix_, "nonce", Short(), Clock::Real());
  auto m = store.MarkUsed(Nonce(1), absl::Now() + absl::Seconds(30));
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("OOM"));
}

TEST_F(RedisTest, WaitForReplicasFailsClosedWithoutReplicas) {
  auto c = Client();
  ReplayOptions w = Short();
  w.wait_replicas = 1;
  w.wait_timeout = absl::Milliseconds(20);
  RedisReplayStore store(*c, prefix_, "nonce", w, Clock::Real());
  auto m = store.MarkUsed(Nonce(5), absl::Now() + absl::Seconds(30));
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("fewer replicas"));
  // The nonce stays burnt: a retry is a replay, not a first use.
  EXPECT_FALSE(*store.MarkUsed(Nonce(5), absl::Now() + absl::Seconds(30)));
}

// Redis that loses its data (restart without persistence) must not let a
// challenge issued before the loss be used again: the epoch refuses it.
TEST_F(RedisTest, RecordsOlderThanTheStoreEpochAreRefusedAfterDataLoss) {
  auto c = Client();
  ReplayOptions o;
  o.lifetime = absl::Minutes(5);
  RedisReplayStore store(*c, prefix_, "nonce", o, Clock::Real());
  auto epoch = EnsureEpoch(*c, prefix_, Clock::Real());
  ASSERT_TRUE(epoch.ok()) << epoch.status();
  // EnsureEpoch keeps an existing epoch.
  absl::SleepFor(absl::Milliseconds(5));
  EXPECT_EQ(*EnsureEpoch(*c, prefix_, Clock::Real()), *epoch);
  // A challenge issued after the epoch (expires in lifetime - 1 ms from now).
  absl::SleepFor(absl::Milliseconds(5));
  const absl::Time exp_old = absl::Now() + o.lifetime - absl::Milliseconds(1);
  ASSERT_TRUE(*store.MarkUsed(Nonce(1), exp_old));
  EXPECT_FALSE(*store.MarkUsed(Nonce(1), exp_old));

  ASSERT_TRUE(redis_->Restart().ok());  // everything forgotten
  // The used nonce comes back: without the epoch Redis would say "first".
  absl::StatusOr<bool> replay = absl::UnavailableError("not yet");
  for (int i = 0; i < 60; ++i) {
    replay = store.MarkUsed(Nonce(1), exp_old);
    if (absl::StrContains(replay.status().message(), "lost its data")) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_FALSE(replay.ok());
  EXPECT_EQ(replay.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(replay.status().message()), HasSubstr("lost its data"));
  // So is any challenge issued before the loss, used or not.
  EXPECT_FALSE(store.MarkUsed(Nonce(2), exp_old).ok());
  // Challenges issued after it (the end of the second of the loss) are
  // recorded as usual.
  absl::SleepFor(absl::Milliseconds(1005));
  const absl::Time exp_new = absl::Now() + o.lifetime - absl::Milliseconds(1);
  EXPECT_TRUE(*store.MarkUsed(Nonce(3), exp_new));
  EXPECT_FALSE(*store.MarkUsed(Nonce(3), exp_new));
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

admission::fleet::NodeRecord Record(const std::string& node, int64_t attested_s,
                                    const std::string& jti, const std::string& verdict) {
  admission::fleet::NodeRecord r;
  r.node = node;
  r.verdict = verdict;
  r.attested_at = absl::FromUnixSeconds(attested_s);
  r.tee = "tdx";
  r.gpu_count = 8;
  r.policy_id = "demo";
  r.policy_version = "1";
  r.token_jti = jti;
  r.token_expires_at = absl::FromUnixSeconds(attested_s + 300);
  r.binding = "attest-v2";
  r.claims = {{"ear.status", verdict}, {"runtime_claims", {{"node", node}}}};
  return r;
}

// Issue 13 on issue 12's store: two replicas see one fleet registry.
TEST_F(RedisTest, NodeStoreSharedByReplicasKeepsTheNewerRecord) {
  auto c1 = Client();
  auto c2 = Client();
  RedisNodeStore a(*c1, prefix_, 3);
  RedisNodeStore b(*c2, prefix_, 3);
  EXPECT_TRUE(a.shared());
  ASSERT_TRUE(a.Put(Record("gpu-node-1", 1000, "j1", "affirming")).ok());
  auto got = b.Get("gpu-node-1");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->verdict, "affirming");
  EXPECT_EQ((*got)->token_jti, "j1");
  EXPECT_EQ((*got)->claims["runtime_claims"]["node"], "gpu-node-1");
  // A slow replica's older record does not roll the node back.
  ASSERT_TRUE(b.Put(Record("gpu-node-1", 999, "j0", "contraindicated")).ok());
  EXPECT_EQ((*a.Get("gpu-node-1"))->verdict, "affirming");
  // A newer one (also a newer failing one) replaces it.
  ASSERT_TRUE(b.Put(Record("gpu-node-1", 1001, "j2", "contraindicated")).ok());
  EXPECT_EQ((*a.Get("gpu-node-1"))->verdict, "contraindicated");
  EXPECT_FALSE(a.Get("gpu-node-2")->has_value());
  // Bounded: a fourth node drops the least recently attested one.
  ASSERT_TRUE(a.Put(Record("n2", 2000, "k2", "affirming")).ok());
  ASSERT_TRUE(a.Put(Record("n3", 3000, "k3", "affirming")).ok());
  ASSERT_TRUE(b.Put(Record("n4", 4000, "k4", "affirming")).ok());
  auto all = a.List();
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].node, "n4");  // newest first
  EXPECT_FALSE(b.Get("gpu-node-1")->has_value());
  // Bad names change nothing.
  EXPECT_FALSE(a.Put(Record("", 5000, "x", "affirming")).ok());
  EXPECT_FALSE(a.Put(Record(std::string(254, 'n'), 5000, "x", "affirming")).ok());
  // Redis down: errors, never an empty registry that looks current.
  redis_->Kill();
  EXPECT_EQ(a.List().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(a.Get("n4").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(a.Put(Record("n5", 6000, "k5", "affirming")).ok());
}

}  // namespace
}  // namespace rp::server::redis
