#include "server/shared_store_metrics.h"

#include <string>

namespace rp::server {
namespace {

const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* b = new prometheus::Histogram::BucketBoundaries{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25};
  return *b;
}

}  // namespace

SharedStoreMetrics::SharedStoreMetrics(prometheus::Registry& registry, bool initially_up)
    : up_(prometheus::BuildGauge()
              .Name("rp_nonce_store_up")
              .Help("1 when the single-use store (Redis when configured) answers")
              .Register(registry)
              .Add({})),
      requests_(prometheus::BuildCounter()
                    .Name("rp_nonce_store_requests_total")
                    .Help("Single-use records by kind (nonce, jti) and result "
                          "(first, replay, error)")
                    .Register(registry)),
      seconds_(prometheus::BuildHistogram()
                   .Name("rp_nonce_store_seconds")
                   .Help("Latency of recording a nonce or token id")
                   .Register(registry)),
      commands_(prometheus::BuildCounter()
                    .Name("rp_redis_commands_total")
                    .Help("Redis commands by result (answered, failed)")
                    .Register(registry)),
      fallbacks_(prometheus::BuildCounter()
                     .Name("rp_rate_limit_fallbacks_total")
                     .Help("Per-peer limit checks answered by this replica's own buckets "
                           "because the shared store did not answer")
                     .Register(registry)
                     .Add({})),
      entries_(prometheus::BuildGauge()
                   .Name("rp_nonce_store_entries")
                   .Help("Used nonces and token ids this replica's in-memory single-use store "
                         "holds until they expire, at the scrape (bounded by "
                         "nonce.replay_capacity; 0 with Redis, which holds them)")
                   .Register(registry)
                   .Add({})) {
  up_.Set(initially_up ? 1 : 0);
  for (const char* kind : {"nonce", "jti"}) {
    for (const char* result : {"first", "replay", "error"}) {
      requests_.Add({{"kind", kind}, {"result", result}});
    }
    seconds_.Add({{"kind", kind}}, LatencyBuckets());
  }
  commands_.Add({{"result", "answered"}});
  commands_.Add({{"result", "failed"}});
}

void SharedStoreMetrics::OnCommand(bool answered, absl::Duration) {
  commands_.Add({{"result", answered ? "answered" : "failed"}}).Increment();
}

void SharedStoreMetrics::OnUp(bool up) { up_.Set(up ? 1 : 0); }

void SharedStoreMetrics::SetStoreEntries(size_t entries) {
  entries_.Set(static_cast<double>(entries));
}

void SharedStoreMetrics::OnMarkUsed(std::string_view kind, redis::MarkResult result,
                                    absl::Duration latency) {
  const std::string k(kind == "jti" ? "jti" : "nonce");
  requests_.Add({{"kind", k}, {"result", std::string(redis::MarkResultName(result))}})
      .Increment();
  seconds_.Add({{"kind", k}}, LatencyBuckets()).Observe(absl::ToDoubleSeconds(latency));
}

void SharedStoreMetrics::CountRateLimitFallback() { fallbacks_.Increment(); }

}  // namespace rp::server
