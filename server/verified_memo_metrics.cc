#include "server/verified_memo_metrics.h"

#include <string>

namespace rp::server {
namespace {

// Counters only move forward: a counter that went down (the memo was
// reconfigured and its counters zeroed) restarts from the new value.
void Advance(prometheus::Counter* c, uint64_t now, uint64_t last) {
  if (now > last) c->Increment(static_cast<double>(now - last));
}

}  // namespace

VerifiedMemoMetrics::VerifiedMemoMetrics(prometheus::Registry& registry) {
  auto& lookups = prometheus::BuildCounter()
                      .Name("rp_verified_memo_lookups_total")
                      .Help("Verified-object memo lookups by kind and result (hit: the "
                            "remembered verification was reused; miss: verified in full)")
                      .Register(registry);
  auto& admitted = prometheus::BuildCounter()
                       .Name("rp_verified_memo_admitted_total")
                       .Help("Verified objects stored in the memo (second sighting)")
                       .Register(registry);
  auto& evictions = prometheus::BuildCounter()
                        .Name("rp_verified_memo_evictions_total")
                        .Help("Verified objects dropped by the memo's LRU caps")
                        .Register(registry);
  auto& entries = prometheus::BuildGauge()
                      .Name("rp_verified_memo_entries")
                      .Help("Verified objects held in the memo")
                      .Register(registry);
  auto& bytes = prometheus::BuildGauge()
                    .Name("rp_verified_memo_bytes")
                    .Help("Estimated memory of the verified objects held in the memo")
                    .Register(registry);
  for (int i = 0; i < crypto::kMemoKindCount; ++i) {
    const std::string kind(crypto::MemoKindName(static_cast<crypto::MemoKind>(i)));
    Series& s = series_[i];
    s.hits = &lookups.Add({{"kind", kind}, {"result", "hit"}});
    s.misses = &lookups.Add({{"kind", kind}, {"result", "miss"}});
    s.admitted = &admitted.Add({{"kind", kind}});
    s.evictions = &evictions.Add({{"kind", kind}});
    s.entries = &entries.Add({{"kind", kind}});
    s.bytes = &bytes.Add({{"kind", kind}});
  }
  Refresh();
}

void VerifiedMemoMetrics::Refresh() {
  std::lock_guard<std::mutex> lock(mu_);
  for (int i = 0; i < crypto::kMemoKindCount; ++i) {
    Series& s = series_[i];
    const crypto::MemoKindStats now = crypto::VerifiedMemoStats(static_cast<crypto::MemoKind>(i));
    Advance(s.hits, now.hits, s.last.hits);
    Advance(s.misses, now.misses, s.last.misses);
    Advance(s.admitted, now.admitted, s.last.admitted);
    Advance(s.evictions, now.evictions, s.last.evictions);
    s.entries->Set(static_cast<double>(now.entries));
    s.bytes->Set(static_cast<double>(now.bytes));
    s.last = now;
  }
}

}  // namespace rp::server
