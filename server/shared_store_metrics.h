// Prometheus metrics of the replicas' shared state (server/redis/):
//   rp_nonce_store_up                          1 when the store answers (Redis
//                                              reachable; always 1 in memory)
//   rp_nonce_store_requests_total{kind,result}  kind nonce | jti,
//                                              result first | replay | error
//   rp_nonce_store_seconds{kind}               MarkUsed latency
//   rp_redis_commands_total{result}            answered | failed
//   rp_rate_limit_fallbacks_total              per-peer limits answered by the
//                                              replica's own buckets (Redis down)
//   rp_nonce_store_entries                     used nonces and token ids the
//                                              in-memory store holds until they
//                                              expire (0 with Redis, which holds them)
// Label values are fixed sets. Thread-safe.
#ifndef RP_SERVER_SHARED_STORE_METRICS_H_
#define RP_SERVER_SHARED_STORE_METRICS_H_

#include <string_view>

#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "server/redis/redis_client.h"
#include "server/redis/redis_stores.h"

namespace rp::server {

class SharedStoreMetrics final : public redis::RedisObserver, public redis::ReplayObserver {
 public:
  // `registry` outlives this object. The up gauge starts at `initially_up`.
  SharedStoreMetrics(prometheus::Registry& registry, bool initially_up);
  SharedStoreMetrics(const SharedStoreMetrics&) = delete;
  SharedStoreMetrics& operator=(const SharedStoreMetrics&) = delete;

  void OnCommand(bool answered, absl::Duration latency) override;
  void OnUp(bool up) override;
  void OnMarkUsed(std::string_view kind, redis::MarkResult result,
                  absl::Duration latency) override;
  void CountRateLimitFallback();
  void SetStoreEntries(size_t entries);

 private:
  prometheus::Gauge& up_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& seconds_;
  prometheus::Family<prometheus::Counter>& commands_;
  prometheus::Counter& fallbacks_;
  prometheus::Gauge& entries_;
};

}  // namespace rp::server

#endif  // RP_SERVER_SHARED_STORE_METRICS_H_
