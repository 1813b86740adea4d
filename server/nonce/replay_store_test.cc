#include "server/nonce/replay_store.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "verifier/common/clock.h"
#include "verifier/common/encoding.h"

namespace rp::nonce {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

Bytes NonceOf(uint8_t fill) { return Bytes(32, fill); }

TEST(InMemoryReplayStoreTest, FirstUseThenReplay) {
  FakeClock clock(kT0);
  InMemoryReplayStore store(10, clock);
  const absl::Time exp = kT0 + absl::Minutes(5);
  EXPECT_EQ(store.MarkUsed(NonceOf(1), exp).value(), true);
  EXPECT_EQ(store.MarkUsed(NonceOf(1), exp).value(), false);
  EXPECT_EQ(store.MarkUsed(NonceOf(2), exp).value(), true);
  // The expiry given on a replay does not matter: still a replay.
  EXPECT_EQ(store.MarkUsed(NonceOf(2), exp + absl::Hours(1)).value(), false);
  EXPECT_EQ(store.size(), 2u);
}

TEST(InMemoryReplayStoreTest, RemembersUntilExpiryThenPurges) {
  FakeClock clock(kT0);
  InMemoryReplayStore store(10, clock);
  ASSERT_TRUE(store.MarkUsed(NonceOf(1), kT0 + absl::Seconds(10)).value());
  ASSERT_TRUE(store.MarkUsed(NonceOf(2), kT0 + absl::Seconds(20)).value());
  clock.Advance(absl::Seconds(9));
  EXPECT_FALSE(store.MarkUsed(NonceOf(1), kT0 + absl::Seconds(10)).value());
  clock.Advance(absl::Seconds(1));  // now == expiry of nonce 1
  ASSERT_TRUE(store.MarkUsed(NonceOf(3), kT0 + absl::Seconds(30)).value());
  EXPECT_EQ(store.size(), 2u);  // nonce 1 purged, 2 and 3 kept
  EXPECT_FALSE(store.MarkUsed(NonceOf(2), kT0 + absl::Seconds(20)).value());
}

TEST(InMemoryReplayStoreTest, FullOfUnexpiredFailsClosed) {
  FakeClock clock(kT0);
  InMemoryReplayStore store(2, clock);
  ASSERT_TRUE(store.MarkUsed(NonceOf(1), kT0 + absl::Seconds(10)).value());
  ASSERT_TRUE(store.MarkUsed(NonceOf(2), kT0 + absl::Seconds(20)).value());
  absl::StatusOr<bool> r = store.MarkUsed(NonceOf(3), kT0 + absl::Seconds(30));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  // Nothing was forgotten to make room: both are still replays.
  EXPECT_FALSE(store.MarkUsed(NonceOf(1), kT0 + absl::Seconds(10)).value());
  EXPECT_FALSE(store.MarkUsed(NonceOf(2), kT0 + absl::Seconds(20)).value());
  // Once one expires, there is room again.
  clock.Advance(absl::Seconds(10));
  EXPECT_TRUE(store.MarkUsed(NonceOf(3), kT0 + absl::Seconds(30)).value());
  EXPECT_FALSE(store.MarkUsed(NonceOf(2), kT0 + absl::Seconds(20)).value());
}

TEST(InMemoryReplayStoreTest, RejectsBadArguments) {
  FakeClock clock(kT0);
  InMemoryReplayStore store(10, clock);
  EXPECT_EQ(store.MarkUsed(Bytes{}, kT0 + absl::Seconds(1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      store.MarkUsed(Bytes(65, 1), kT0 + absl::Seconds(1)).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store.MarkUsed(NonceOf(1), kT0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store.size(), 0u);
}

TEST(InMemoryReplayStoreTest, ConcurrentSameNonceExactlyOneWins) {
  FakeClock clock(kT0);
  InMemoryReplayStore store(1000, clock);
  constexpr int kThreads = 8;
  constexpr int kNonces = 200;
  std::vector<std::atomic<int>> wins(kNonces);
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int n = 0; n < kNonces; ++n) {
        Bytes nonce(32, 0);
        nonce[0] = static_cast<uint8_t>(n & 0xff);
        nonce[1] = static_cast<uint8_t>(n >> 8);
        absl::StatusOr<bool> r = store.MarkUsed(nonce, kT0 + absl::Minutes(1));
        if (r.ok() && *r) {
          wins[static_cast<size_t>(n)].fetch_add(1);
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  for (int n = 0; n < kNonces; ++n) {
    EXPECT_EQ(wins[static_cast<size_t>(n)].load(), 1) << "nonce " << n;
  }
}

}  // namespace
}  // namespace rp::nonce
