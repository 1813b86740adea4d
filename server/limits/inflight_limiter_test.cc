// The in-flight limiter without timing assumptions: what is admitted and
// refused at once, FIFO hand-off to waiters (threads blocked with a long
// wait, released by the test), queue-full refusal while they wait, and
// timeouts that can only expire (nobody frees a slot). The observer sees
// every count.
#include "server/limits/inflight_limiter.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rp::server::limits {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kLong = absl::Hours(1);  // never reached: the test frees the slot

// Spins (yielding) until `pred` holds: waits for another thread to reach a
// state, with no assumption on how long that takes.
template <typename Pred>
void Until(Pred pred) {
  while (!pred()) std::this_thread::yield();
}

TEST(InflightLimiterTest, AdmitsUpToTheLimitThenRefusesWithoutQueue) {
  InflightLimiter l({.max_in_flight = 2, .max_queued = 0, .max_queue_wait = kLong});
  InflightLimiter::Outcome a = l.Acquire();
  InflightLimiter::Outcome b = l.Acquire();
  ASSERT_TRUE(a.admitted());
  ASSERT_TRUE(b.admitted());
  EXPECT_EQ(l.in_flight(), 2);
  InflightLimiter::Outcome c = l.Acquire();
  EXPECT_FALSE(c.admitted());
  EXPECT_EQ(c.refusal, InflightRefusal::kQueueFull);
  a.permit.Release();
  EXPECT_EQ(l.in_flight(), 1);
  InflightLimiter::Outcome d = l.Acquire();
  EXPECT_TRUE(d.admitted());
  EXPECT_EQ(l.in_flight(), 2);
}

TEST(InflightLimiterTest, PermitReleasesOnceWhenMovedAndDestroyed) {
  InflightLimiter l({.max_in_flight = 1, .max_queued = 0});
  {
    InflightLimiter::Permit p = l.Acquire().permit;
    InflightLimiter::Permit q = std::move(p);
    EXPECT_FALSE(p.held());  // NOLINT(bugprone-use-after-move): checking the moved-from state
    EXPECT_TRUE(q.held());
    EXPECT_EQ(l.in_flight(), 1);
    q.Release();
    q.Release();  // idempotent
    EXPECT_EQ(l.in_flight(), 0);
    q = l.Acquire().permit;
    EXPECT_EQ(l.in_flight(), 1);
  }
  EXPECT_EQ(l.in_flight(), 0);
}

TEST(InflightLimiterTest, ZeroWaitNeverQueues) {
  InflightLimiter l({.max_in_flight = 1, .max_queued = 4, .max_queue_wait = kLong});
  InflightLimiter::Outcome a = l.Acquire();
  ASSERT_TRUE(a.admitted());
  InflightLimiter::Outcome b = l.Acquire(absl::ZeroDuration());  // the caller's deadline is gone
  EXPECT_FALSE(b.admitted());
  EXPECT_EQ(b.refusal, InflightRefusal::kQueueTimeout);
  EXPECT_EQ(l.queued(), 0);
}

TEST(InflightLimiterTest, WaitExpiresWhenNoSlotComesFree) {
  InflightLimiter l({.max_in_flight = 1, .max_queued = 4, .max_queue_wait = absl::Milliseconds(1)});
  InflightLimiter::Outcome a = l.Acquire();
  ASSERT_TRUE(a.admitted());
  // Nobody releases `a`: the wait can only end by its timeout, so the
  // outcome does not depend on how fast the machine is.
  InflightLimiter::Outcome b = l.Acquire();
  EXPECT_FALSE(b.admitted());
  EXPECT_EQ(b.refusal, InflightRefusal::kQueueTimeout);
  EXPECT_EQ(l.queued(), 0);  // a timed-out waiter leaves the queue
  EXPECT_EQ(l.in_flight(), 1);
  // The caller's shorter wait wins over the configured one.
  InflightLimiter l2({.max_in_flight = 1, .max_queued = 4, .max_queue_wait = kLong});
  InflightLimiter::Outcome c = l2.Acquire();
  InflightLimiter::Outcome d = l2.Acquire(absl::Milliseconds(1));
  EXPECT_FALSE(d.admitted());
  EXPECT_EQ(d.refusal, InflightRefusal::kQueueTimeout);
}

TEST(InflightLimiterTest, FreedSlotGoesToTheOldestWaiterAndTheQueueIsBounded) {
  InflightLimiter l({.max_in_flight = 1, .max_queued = 2, .max_queue_wait = kLong});
  InflightLimiter::Outcome running = l.Acquire();
  ASSERT_TRUE(running.admitted());

  std::vector<int> order;  // guarded by the limiter's hand-off (one holder at a time)
  std::atomic<int> started{0};
  auto waiter = [&](int id) {
    InflightLimiter::Outcome o = l.Acquire();
    ASSERT_TRUE(o.admitted()) << id;
    order.push_back(id);  // only the permit holder runs this
  };
  std::thread first([&] { ++started; waiter(1); });
  Until([&] { return l.queued() == 1; });
  std::thread second([&] { ++started; waiter(2); });
  Until([&] { return l.queued() == 2; });

  // Queue full: a third request is refused at once, without waiting.
  InflightLimiter::Outcome third = l.Acquire();
  EXPECT_FALSE(third.admitted());
  EXPECT_EQ(third.refusal, InflightRefusal::kQueueFull);
  EXPECT_EQ(l.in_flight(), 1);

  running.permit.Release();  // hands the slot to waiter 1, which releases to 2
  first.join();
  second.join();
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_EQ(l.in_flight(), 0);
  EXPECT_EQ(l.queued(), 0);
}

TEST(InflightLimiterTest, NewcomerDoesNotOvertakeAWaiter) {
  InflightLimiter l({.max_in_flight = 1, .max_queued = 1, .max_queue_wait = kLong});
  InflightLimiter::Outcome running = l.Acquire();
  std::atomic<bool> got{false};
  InflightLimiter::Permit held;
  std::thread waiter([&] {
    InflightLimiter::Outcome o = l.Acquire();
    held = std::move(o.permit);
    got = true;
  });
  Until([&] { return l.queued() == 1; });
  running.permit.Release();
  // The slot is the waiter's from the moment it was released, whether or not
  // it has woken up yet: a newcomer finds no slot and no queue room.
  InflightLimiter::Outcome newcomer = l.Acquire(absl::ZeroDuration());
  EXPECT_FALSE(newcomer.admitted());
  waiter.join();
  EXPECT_TRUE(got);
  EXPECT_EQ(l.in_flight(), 1);
  held.Release();
  EXPECT_EQ(l.in_flight(), 0);
}

TEST(InflightLimiterTest, ObserverSeesEveryCount) {
  std::vector<std::pair<int, int>> seen;
  InflightLimiter l({.max_in_flight = 1, .max_queued = 1, .max_queue_wait = absl::Milliseconds(1)},
                    [&](int in_flight, int queued) { seen.emplace_back(in_flight, queued); });
  InflightLimiter::Outcome a = l.Acquire();
  InflightLimiter::Outcome b = l.Acquire();  // queues, times out (nobody releases)
  EXPECT_FALSE(b.admitted());
  a.permit.Release();
  EXPECT_EQ(seen, (std::vector<std::pair<int, int>>{{0, 0}, {1, 0}, {1, 1}, {1, 0}, {0, 0}}));
}

TEST(InflightLimiterTest, BusyStatusLeadsWithTheReasonAndNamesTheLimits) {
  const InflightLimits lim{.max_in_flight = 4, .max_queued = 16,
                           .max_queue_wait = absl::Milliseconds(1500)};
  absl::Status full = BusyStatus("attest", InflightRefusal::kQueueFull, lim, 1);
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(full.message(), HasSubstr("SERVER_BUSY: attest: the server is at capacity: 4"));
  EXPECT_THAT(full.message(), HasSubstr("16 waiting (limits.max_queued)"));
  EXPECT_THAT(full.message(), HasSubstr("retry after 1 s"));
  absl::Status late = BusyStatus("release", InflightRefusal::kQueueTimeout, lim, 2);
  EXPECT_THAT(late.message(), HasSubstr("SERVER_BUSY: release: "));
  EXPECT_THAT(late.message(), HasSubstr("1500 ms, limits.max_queue_wait_ms"));
  EXPECT_THAT(late.message(), HasSubstr("retry after 2 s"));
  EXPECT_EQ(RefusalName(InflightRefusal::kQueueFull), "queue_full");
  EXPECT_EQ(RefusalName(InflightRefusal::kQueueTimeout), "queue_timeout");
}

}  // namespace
}  // namespace rp::server::limits
