#include "server/metrics.h"

#include <cstring>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "prometheus/text_serializer.h"
#include "server/config.h"
#include "verifier/common/status_macros.h"

namespace rp::server {
namespace {

// From 0.5 ms (a cached verification) to 10 s (collateral fetches that time
// out); the vendor services take 0.2–1.3 s per miss.
const prometheus::Histogram::BucketBoundaries& StageBuckets() {
  static const auto* const kBuckets =
      new prometheus::Histogram::BucketBoundaries{
          0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
          0.1,    0.25,  0.5,    1,     2.5,  5,     10};
  return *kBuckets;
}

}  // namespace

std::string_view StageName(Stage stage) {
  switch (stage) {
    case Stage::kNonce:
      return "nonce";
    case Stage::kVerify:
      return "verify";
    case Stage::kToken:
      return "token";
    case Stage::kTotal:
      return "total";
  }
  return "unknown";
}

std::string_view AttestationTee(const std::vector<std::string_view>& device_tees) {
  bool tdx = false, snp = false, gpu = false;
  for (std::string_view t : device_tees) {
    if (t == "tdx") {
      tdx = true;
    } else if (t == "sev-snp") {
      snp = true;
    } else {
      gpu = true;  // nvidia-gpu, nvidia-switch
    }
  }
  if (tdx && !snp) return gpu ? "tdx+gpu" : "tdx";
  if (snp && !tdx) return gpu ? "sev-snp+gpu" : "sev-snp";
  if (tdx && snp) return "mixed";  // not a bundle the engine accepts today
  return gpu ? "gpu" : "none";
}

prometheus::Counter& CounterPairs::Get(std::string_view first, std::string_view second) {
  // The key (the first value's length, then both values: no two pairs
  // share one) in a stack buffer when it fits, so that a hit allocates
  // nothing.
  char buffer[128];
  std::string spill;
  absl::string_view key;  // Debian's Abseil: not std::string_view
  const uint64_t first_size = first.size();
  const size_t size = sizeof(first_size) + first.size() + second.size();
  char* out = buffer;
  if (size > sizeof(buffer)) {
    spill.resize(size);
    out = spill.data();
  }
  std::memcpy(out, &first_size, sizeof(first_size));
  std::memcpy(out + sizeof(first_size), first.data(), first.size());
  std::memcpy(out + sizeof(first_size) + first.size(), second.data(), second.size());
  key = absl::string_view(out, size);
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = counters_.find(key);
    if (it != counters_.end()) return *it->second;
  }
  prometheus::Counter& counter =
      family_.Add({{first_label_, std::string(first)}, {second_label_, std::string(second)}});
  absl::MutexLock lock(&mu_);
  counters_.try_emplace(key, &counter);
  return counter;
}

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(prometheus::BuildCounter()
                    .Name("rp_requests_total")
                    .Help("RPCs handled, by method and gRPC status code")
                    .Register(*registry_)),
      attestations_(
          prometheus::BuildCounter()
              .Name("rp_attestations_total")
              .Help("Attest calls that produced an appraisal, by verdict")
              .Register(*registry_)),
      policy_verdicts_(
          prometheus::BuildCounter()
              .Name("rp_policy_verdicts_total")
              .Help("Attest calls that produced an appraisal, by policy (id@version) and verdict")
              .Register(*registry_)),
      nonces_issued_(prometheus::BuildCounter()
                         .Name("rp_nonces_issued_total")
                         .Help("Challenges issued")
                         .Register(*registry_)
                         .Add({})),
      nonces_rejected_(prometheus::BuildCounter()
                           .Name("rp_nonces_rejected_total")
                           .Help("Challenges refused by Attest, by reason")
                           .Register(*registry_)),
      throttled_(prometheus::BuildCounter()
                     .Name("rp_requests_throttled_total")
                     .Help("RPCs refused with RESOURCE_EXHAUSTED, by method and limit")
                     .Register(*registry_)),
      releases_(prometheus::BuildCounter()
                    .Name("rp_releases_total")
                    .Help("Key releases (result OK) and denials (result = reason), by resource")
                    .Register(*registry_)),
      policy_reloads_(prometheus::BuildCounter()
                          .Name("rp_policy_reloads_total")
                          .Help("Policy hot-reload attempts, by result (ok, failed)")
                          .Register(*registry_)),
      policy_reload_ok_(prometheus::BuildGauge()
                            .Name("rp_policy_reload_ok")
                            .Help("1 when the latest policy load succeeded, 0 after a failed "
                                  "reload (the previous policies stay in force)")
                            .Register(*registry_)
                            .Add({})),
      inflight_(prometheus::BuildGauge()
                    .Name("rp_inflight_requests")
                    .Help("Expensive RPCs (Attest, key release) running now (admission control, "
                          "at most limits.max_in_flight)")
                    .Register(*registry_)
                    .Add({})),
      queued_(prometheus::BuildGauge()
                  .Name("rp_queued_requests")
                  .Help("Expensive RPCs waiting for a slot (at most limits.max_queued)")
                  .Register(*registry_)
                  .Add({})),
      admission_rejected_(prometheus::BuildCounter()
                              .Name("rp_admission_rejected_total")
                              .Help("RPCs refused by admission control (RESOURCE_EXHAUSTED, "
                                    "SERVER_BUSY), by method and reason (queue_full, "
                                    "queue_timeout)")
                              .Register(*registry_)),
      stage_family_(prometheus::BuildHistogram()
                        .Name("rp_stage_seconds")
                        .Help("Time spent per Attest stage")
                        .Register(*registry_)) {
  for (Stage s :
       {Stage::kNonce, Stage::kVerify, Stage::kToken, Stage::kTotal}) {
    stages_[static_cast<size_t>(s)] = &stage_family_.Add(
        {{"stage", std::string(StageName(s))}}, StageBuckets());
  }
  // Known series start at zero so that rate() works from the first scrape.
  for (const char* verdict : {"affirming", "warning", "contraindicated"}) {
    for (const char* tee : {"tdx", "sev-snp", "tdx+gpu", "sev-snp+gpu", "gpu"}) {
      attestations_.Add({{"verdict", verdict}, {"tee", tee}});
    }
  }
  for (const char* result : {"ok", "failed"}) policy_reloads_.Add({{"result", result}});
  for (const auto& [rpc, reason] : {std::pair{"GetChallenge", "peer_rate"},
                                    std::pair{"GetChallenge", "challenge_budget"},
                                    std::pair{"Attest", "peer_rate"},
                                    std::pair{"Attest", "replay_store_full"},
                                    std::pair{"Attest", "server_busy"},
                                    std::pair{"Release", "server_busy"}}) {
    throttled_.Add({{"rpc", rpc}, {"reason", reason}});
  }
  for (const char* rpc : {"Attest", "Release"}) {
    for (const char* reason : {"queue_full", "queue_timeout"}) {
      admission_rejected_.Add({{"rpc", rpc}, {"reason", reason}});
    }
  }
  policy_reload_ok_.Set(1);  // the server does not start on a broken policy
  prometheus::BuildGauge()
      .Name("rp_build_info")
      .Help("Always 1; the labels name the build")
      .Register(*registry_)
      .Add({{"version", RP_VERSION}})
      .Set(1);
  for (const char* reason : {"replayed", "expired", "invalid"}) {
    nonces_rejected_.Add({{"reason", reason}});
  }
}

void Metrics::SetAdmission(int in_flight, int queued) {
  inflight_.Set(in_flight);
  queued_.Set(queued);
}

void Metrics::CountAdmissionRejected(std::string_view rpc, std::string_view reason) {
  admission_rejected_.Add({{"rpc", std::string(rpc)}, {"reason", std::string(reason)}})
      .Increment();
  CountThrottled(rpc, "server_busy");
}

void Metrics::CountRequest(std::string_view rpc, std::string_view code) {
  request_counters_.Get(rpc, code).Increment();
}

void Metrics::CountAttestation(std::string_view policy, std::string_view verdict,
                               std::string_view tee) {
  attestation_counters_.Get(verdict, tee).Increment();
  policy_verdict_counters_.Get(policy, verdict).Increment();
}

void Metrics::CountPolicyReload(bool ok) {
  policy_reloads_.Add({{"result", ok ? "ok" : "failed"}}).Increment();
  policy_reload_ok_.Set(ok ? 1 : 0);
}

void Metrics::CountNonceIssued() { nonces_issued_.Increment(); }

void Metrics::CountNonceRejected(std::string_view reason) {
  nonces_rejected_.Add({{"reason", std::string(reason)}}).Increment();
}

void Metrics::CountThrottled(std::string_view rpc, std::string_view reason) {
  throttled_.Add({{"rpc", std::string(rpc)}, {"reason", std::string(reason)}}).Increment();
}

void Metrics::CountRelease(std::string_view resource, std::string_view result) {
  releases_.Add({{"resource", std::string(resource)}, {"result", std::string(result)}}).Increment();
}

void Metrics::ObserveStage(Stage stage, absl::Duration elapsed) {
  stages_[static_cast<size_t>(stage)]->Observe(absl::ToDoubleSeconds(elapsed));
}

std::string MetricsText(prometheus::Registry& registry) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry.Collect());
  return out.str();
}

std::string Metrics::Serialize() const { return MetricsText(*registry_); }

absl::StatusOr<std::unique_ptr<MetricsExposer>> MetricsExposer::Start(
    const std::string& listen, std::shared_ptr<prometheus::Registry> registry,
    HttpLimits limits, std::function<void()> before_collect) {
  if (registry == nullptr) {
    return absl::InvalidArgumentError("metrics: registry is null");
  }
  BoundedHttpOptions options;
  options.name = "metrics";
  options.listen = listen;
  options.limits = limits;
  options.routes["/metrics"] = [registry, before_collect] {
    if (before_collect) before_collect();
    return HttpReply{200, "text/plain; version=0.0.4; charset=utf-8", MetricsText(*registry)};
  };
  ASSIGN_OR_RETURN(std::unique_ptr<BoundedHttpServer> server,
                   BoundedHttpServer::Start(std::move(options)));
  const int port = server->port();
  return std::unique_ptr<MetricsExposer>(new MetricsExposer(std::move(server), port));
}

}  // namespace rp::server
