// The single-use stores and per-peer rate limits of this replica: in memory
// (the embedded default, one replica), or on Redis shared by every replica
// (redis: block; docs/scale-out.md). Built once in main.
#ifndef RP_SERVER_SHARED_STATE_H_
#define RP_SERVER_SHARED_STATE_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "attestation/v1/config.pb.h"
#include "prometheus/registry.h"
#include "server/limits/rate_limiter.h"
#include "server/nonce/replay_store.h"
#include "server/redis/redis_client.h"
#include "server/redis/redis_stores.h"
#include "server/shared_store_metrics.h"
#include "verifier/common/clock.h"

namespace rp::server {

class SharedState {
 public:
  // Reads redis.password_file, checks Redis (PING, maxmemory-policy) and
  // logs what it found. Redis unreachable at start is a warning (Attest
  // fails closed until it answers; nothing else depends on it); AUTH
  // refused is an error (a configuration mistake that will not heal).
  static absl::StatusOr<std::unique_ptr<SharedState>> Open(
      const attestation::v1::ServerConfig& config, Clock& clock,
      prometheus::Registry& registry, const std::function<void(const std::string&)>& log);

  nonce::ReplayStore& nonces() { return *nonces_; }
  nonce::ReplayStore& token_ids() { return *token_ids_; }
  limits::RateLimitStore& rate_limits() { return *rate_limits_; }
  bool shared() const { return client_ != nullptr; }
  // Redis (null in memory) and its key prefix "rp:<namespace>:", for other
  // shared records (the fleet registry, server/redis/redis_node_store.h).
  redis::RedisClient* client() { return client_.get(); }
  const std::string& key_prefix() const { return key_prefix_; }
  std::string Describe() const;
  // Sets the gauges that mirror state kept here (rp_nonce_store_entries: the
  // in-memory store's size); for MetricsExposer's before_collect, so the
  // request path pays nothing for them.
  void RefreshMetrics();

 private:
  SharedState() = default;

  std::unique_ptr<SharedStoreMetrics> metrics_;
  std::unique_ptr<redis::RedisClient> client_;
  std::string namespace_;
  std::string key_prefix_;
  // In memory: one replay store for both kinds (token ids are hashed with a
  // prefix into their own space by ReplayJtiStore).
  std::unique_ptr<nonce::InMemoryReplayStore> memory_replay_;
  std::unique_ptr<redis::RedisReplayStore> redis_nonces_;
  std::unique_ptr<redis::RedisReplayStore> redis_token_ids_;
  std::unique_ptr<redis::ObservedReplayStore> nonces_;
  std::unique_ptr<redis::ObservedReplayStore> token_ids_;
  std::unique_ptr<limits::InMemoryRateLimitStore> memory_rates_;
  std::unique_ptr<redis::RedisRateLimitStore> redis_rates_;
  std::unique_ptr<redis::FallbackRateLimitStore> fallback_rates_;
  limits::RateLimitStore* rate_limits_ = nullptr;
};

// Reads a secret file (<= 1 KiB), dropping one trailing newline.
absl::StatusOr<std::string> ReadSecretLine(const std::string& field, const std::string& path);

}  // namespace rp::server

#endif  // RP_SERVER_SHARED_STATE_H_
