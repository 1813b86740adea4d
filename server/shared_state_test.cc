#include "server/shared_state.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "server/metrics.h"
#include "verifier/common/clock.h"

namespace rp::server {
namespace {

using ::testing::HasSubstr;

// In memory, rp_nonce_store_entries says at each scrape (RefreshMetrics,
// run before every collection) what the replay store holds: used nonces and
// token ids until they expire and are purged.
TEST(SharedStateTest, InMemoryStoreReportsItsEntries) {
  FakeClock clock(absl::FromUnixSeconds(1800000000));
  prometheus::Registry registry;
  attestation::v1::ServerConfig config;
  config.mutable_nonce()->set_replay_capacity(100);
  config.mutable_limits()->set_max_tracked_peers(10);
  absl::StatusOr<std::unique_ptr<SharedState>> state =
      SharedState::Open(config, clock, registry, [](const std::string&) {});
  ASSERT_TRUE(state.ok()) << state.status();
  (*state)->RefreshMetrics();
  EXPECT_THAT(MetricsText(registry), HasSubstr("rp_nonce_store_entries 0\n"));

  const absl::Time expiry = clock.Now() + absl::Seconds(60);
  for (uint8_t i = 0; i < 3; ++i) {
    const std::vector<uint8_t> nonce(32, i);
    ASSERT_TRUE(*(*state)->nonces().MarkUsed(nonce, expiry));
  }
  const std::vector<uint8_t> jti(32, 9);
  ASSERT_TRUE(*(*state)->token_ids().MarkUsed(jti, expiry));
  EXPECT_FALSE(*(*state)->nonces().MarkUsed(std::vector<uint8_t>(32, 0), expiry));  // a replay
  EXPECT_THAT(MetricsText(registry), HasSubstr("rp_nonce_store_entries 0\n"))
      << "set at the scrape, not on the request path";
  (*state)->RefreshMetrics();
  EXPECT_THAT(MetricsText(registry), HasSubstr("rp_nonce_store_entries 4\n"));

  // Past their expiry the next record purges them.
  clock.Advance(absl::Seconds(61));
  ASSERT_TRUE(*(*state)->nonces().MarkUsed(std::vector<uint8_t>(32, 7),
                                           clock.Now() + absl::Seconds(60)));
  (*state)->RefreshMetrics();
  EXPECT_THAT(MetricsText(registry), HasSubstr("rp_nonce_store_entries 1\n"));
}

}  // namespace
}  // namespace rp::server
