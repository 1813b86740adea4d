// Prometheus metrics of the server (ARCHITECTURE §3 step 8).
#ifndef RP_SERVER_METRICS_H_
#define RP_SERVER_METRICS_H_

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "server/http_server.h"

namespace rp::server {

// Stages timed in rp_stage_seconds{stage}.
enum class Stage { kNonce, kVerify, kToken, kTotal };
std::string_view StageName(Stage stage);  // nonce | verify | token | total

// The `tee` label of rp_attestations_total: the kind of the appraised
// devices (submods' tee): "tdx" | "sev-snp" (CPU evidence only), "tdx+gpu" |
// "sev-snp+gpu" (with NVIDIA GPUs / NVSwitches), "gpu" (no CPU evidence),
// "none" (no device). A fixed set whatever the bundle holds.
std::string_view AttestationTee(const std::vector<std::string_view>& device_tees);

// The counters of a family with two labels, each label pair resolved once.
// prometheus::Family::Add builds a label map (allocations) and takes the
// family's exclusive lock on every call; every Attest counts three series, and
// under load those calls queued behind one another (docs/performance.md "Lock
// contention"). Get() finds a known pair under a shared lock, without
// allocating for short values; only a pair's first use goes to Family::Add.
// The counter it returns is the family's own (same series, same value).
// Thread-safe. Pairs are never removed, as the family's series are not.
class CounterPairs {
 public:
  CounterPairs(prometheus::Family<prometheus::Counter>& family, std::string first_label,
               std::string second_label)
      : family_(family),
        first_label_(std::move(first_label)),
        second_label_(std::move(second_label)) {}
  CounterPairs(const CounterPairs&) = delete;
  CounterPairs& operator=(const CounterPairs&) = delete;

  prometheus::Counter& Get(std::string_view first, std::string_view second);

 private:
  prometheus::Family<prometheus::Counter>& family_;
  const std::string first_label_;
  const std::string second_label_;
  absl::Mutex mu_;
  // Key: the first value's length (8 bytes), the first value, the second.
  absl::flat_hash_map<std::string, prometheus::Counter*> counters_ ABSL_GUARDED_BY(mu_);
};

// The server's metric families on one prometheus::Registry:
//   rp_requests_total{rpc,code}        every RPC, by gRPC status code name
//   rp_attestations_total{verdict,tee} verdict: affirming | warning |
//                                      contraindicated; tee: AttestationTee()
//   rp_policy_verdicts_total{policy,verdict}  per configured policy (id@version)
//   rp_policy_reloads_total{result}    ok | failed (hot reload attempts)
//   rp_policy_reload_ok                1 when the latest reload attempt (or the
//                                      start) loaded the files, 0 after a failure
//   rp_nonces_issued_total
//   rp_requests_throttled_total{rpc,reason}  peer_rate | challenge_budget |
//                                      replay_store_full | server_busy
//   rp_nonces_rejected_total{reason}   replayed | expired | invalid |
//                                      store_unavailable
//   rp_releases_total{resource,result} key releases and denials
//   rp_inflight_requests               expensive RPCs running (admission control)
//   rp_queued_requests                 expensive RPCs waiting for a slot
//   rp_admission_rejected_total{rpc,reason}  refused by admission control:
//                                      queue_full | queue_timeout
//   rp_stage_seconds{stage}            nonce | verify | token | total
//   rp_build_info{version}             1
// Label values are drawn from small fixed sets (callers pass codes, never
// client-chosen strings), so cardinality stays bounded.
//
// Constructing it does not open a socket (tests use it directly); expose it
// with MetricsExposer. Thread-safe: prometheus-cpp metrics are atomic,
// Family::Add is internally locked, and the per-request series go through
// CounterPairs.
class Metrics {
 public:
  Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  void CountRequest(std::string_view rpc, std::string_view code);
  // `policy` is "id@version" of a configured policy (bounded label set).
  // `tee` is AttestationTee() of the appraised devices.
  void CountAttestation(std::string_view policy, std::string_view verdict,
                        std::string_view tee);
  // A policy hot-reload attempt (PolicyStoreOptions::on_reload).
  void CountPolicyReload(bool ok);
  void CountNonceIssued();
  void CountNonceRejected(std::string_view reason);
  // RESOURCE_EXHAUSTED answers (also counted in rp_requests_total).
  void CountThrottled(std::string_view rpc, std::string_view reason);
  // rp_releases_total{resource,result}: `resource` a configured resource
  // (or "unknown"), `result` OK or the denial reason (bounded sets).
  void CountRelease(std::string_view resource, std::string_view result);
  void ObserveStage(Stage stage, absl::Duration elapsed);
  // Admission control (server/limits/inflight_limiter.h): the current
  // counts (the limiter's observer), and a refusal (`rpc` Attest | Release,
  // `reason` queue_full | queue_timeout; also counted as throttled with
  // reason server_busy).
  void SetAdmission(int in_flight, int queued);
  void CountAdmissionRejected(std::string_view rpc, std::string_view reason);

  // The exposition text (what /metrics returns).
  std::string Serialize() const;
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Counter>& attestations_;
  prometheus::Family<prometheus::Counter>& policy_verdicts_;
  prometheus::Counter& nonces_issued_;
  prometheus::Family<prometheus::Counter>& nonces_rejected_;
  prometheus::Family<prometheus::Counter>& throttled_;
  prometheus::Family<prometheus::Counter>& releases_;
  prometheus::Family<prometheus::Counter>& policy_reloads_;
  prometheus::Gauge& policy_reload_ok_;
  prometheus::Gauge& inflight_;
  prometheus::Gauge& queued_;
  prometheus::Family<prometheus::Counter>& admission_rejected_;
  prometheus::Family<prometheus::Histogram>& stage_family_;
  std::array<prometheus::Histogram*, 4> stages_{};
  // Per-request series (after the families they refer to).
  CounterPairs request_counters_{requests_, "rpc", "code"};
  CounterPairs attestation_counters_{attestations_, "verdict", "tee"};
  CounterPairs policy_verdict_counters_{policy_verdicts_, "policy", "verdict"};
};

// The exposition text of `registry` (what /metrics returns).
std::string MetricsText(prometheus::Registry& registry);

// Serves a registry on http://<listen>/metrics (text exposition format) on a
// BoundedHttpServer (server/http_server.h): the same connection caps and
// deadlines as the HTTP side port. Stops serving when destroyed.
class MetricsExposer {
 public:
  // `listen` is host:port; port 0 binds an ephemeral port (see port()).
  // `before_collect`, when set, runs before every scrape (series that mirror
  // counters kept elsewhere, e.g. VerifiedMemoMetrics::Refresh).
  static absl::StatusOr<std::unique_ptr<MetricsExposer>> Start(
      const std::string& listen,
      std::shared_ptr<prometheus::Registry> registry,
      HttpLimits limits = HttpLimits{},
      std::function<void()> before_collect = nullptr);
  int port() const { return port_; }

 private:
  MetricsExposer(std::unique_ptr<BoundedHttpServer> server, int port)
      : server_(std::move(server)), port_(port) {}
  std::unique_ptr<BoundedHttpServer> server_;
  int port_;
};

}  // namespace rp::server

#endif  // RP_SERVER_METRICS_H_
