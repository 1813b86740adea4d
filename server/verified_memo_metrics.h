// Prometheus series of the verified-object memo
// (verifier/crypto/verified_memo.h), refreshed from its counters on every
// scrape (MetricsExposer's before-collect hook):
//   rp_verified_memo_lookups_total{kind,result="hit"|"miss"}
//   rp_verified_memo_admitted_total{kind}, rp_verified_memo_evictions_total{kind}
//   rp_verified_memo_entries{kind}, rp_verified_memo_bytes{kind}
// `kind` is MemoKindName (7 fixed values).
#ifndef RP_SERVER_VERIFIED_MEMO_METRICS_H_
#define RP_SERVER_VERIFIED_MEMO_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <array>
#include <cstdint>
#include <mutex>

#include "verifier/crypto/verified_memo.h"

namespace rp::server {

class VerifiedMemoMetrics {
 public:
  explicit VerifiedMemoMetrics(prometheus::Registry& registry);
  VerifiedMemoMetrics(const VerifiedMemoMetrics&) = delete;
  VerifiedMemoMetrics& operator=(const VerifiedMemoMetrics&) = delete;

  // Copies the memo's counters into the series (thread-safe).
  void Refresh();

 private:
  struct Series {
    prometheus::Counter* hits = nullptr;
    prometheus::Counter* misses = nullptr;
    prometheus::Counter* admitted = nullptr;
    prometheus::Counter* evictions = nullptr;
    prometheus::Gauge* entries = nullptr;
    prometheus::Gauge* bytes = nullptr;
    crypto::MemoKindStats last;
  };
  std::mutex mu_;
  std::array<Series, crypto::kMemoKindCount> series_;
};

}  // namespace rp::server

#endif  // RP_SERVER_VERIFIED_MEMO_METRICS_H_
