#include "server/shared_state.h"

#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "policy/yaml_json.h"

namespace rp::server {

absl::StatusOr<std::string> ReadSecretLine(const std::string& field, const std::string& path) {
  absl::StatusOr<std::string> read = ReadSmallFile(path, 1024);
  if (!read.ok()) {
    return absl::Status(read.status().code(), absl::StrCat(field, ": ", read.status().message()));
  }
  std::string s = *std::move(read);
  if (!s.empty() && s.back() == '\n') s.pop_back();
  if (!s.empty() && s.back() == '\r') s.pop_back();
  if (s.empty()) return absl::InvalidArgumentError(absl::StrCat(field, " ", path, " is empty"));
  return s;
}

absl::StatusOr<std::unique_ptr<SharedState>> SharedState::Open(
    const attestation::v1::ServerConfig& config, Clock& clock, prometheus::Registry& registry,
    const std::function<void(const std::string&)>& log) {
  std::unique_ptr<SharedState> s(new SharedState());
  const bool use_redis = config.has_redis();
  s->metrics_ = std::make_unique<SharedStoreMetrics>(registry, /*initially_up=*/!use_redis);
  s->memory_rates_ = std::make_unique<limits::InMemoryRateLimitStore>(
      static_cast<size_t>(config.limits().max_tracked_peers()), clock);
  if (!use_redis) {
    s->memory_replay_ = std::make_unique<nonce::InMemoryReplayStore>(
        static_cast<size_t>(config.nonce().replay_capacity()), clock);
    s->nonces_ = std::make_unique<redis::ObservedReplayStore>(*s->memory_replay_, "nonce", clock,
                                                              *s->metrics_);
    s->token_ids_ = std::make_unique<redis::ObservedReplayStore>(*s->memory_replay_, "jti",
                                                                 clock, *s->metrics_);
    s->rate_limits_ = s->memory_rates_.get();
    log("shared state: in-memory (one replica only: another replica would accept the same "
        "challenge; configure redis: to run several)");
    return s;
  }

  const auto& rc = config.redis();
  redis::RedisOptions options;
  options.address = rc.address();
  options.username = rc.username();
  if (!rc.password_file().empty()) {
    absl::StatusOr<std::string> pw = ReadSecretLine("redis.password_file", rc.password_file());
    if (!pw.ok()) return pw.status();
    options.password = *std::move(pw);
  }
  options.pool_size = rc.pool_size();
  options.connect_timeout = absl::Milliseconds(rc.connect_timeout_ms());
  options.command_timeout = absl::Milliseconds(rc.command_timeout_ms());
  absl::StatusOr<std::string> prefix = redis::KeyPrefix(rc.namespace_());
  if (!prefix.ok()) return prefix.status();
  absl::StatusOr<std::unique_ptr<redis::RedisClient>> client =
      redis::RedisClient::Create(std::move(options), clock, s->metrics_.get());
  if (!client.ok()) return client.status();
  s->client_ = *std::move(client);
  s->namespace_ = rc.namespace_();
  s->key_prefix_ = *prefix;

  redis::ReplayOptions nonce_options;
  nonce_options.wait_replicas = rc.wait_replicas();
  nonce_options.wait_timeout = absl::Milliseconds(rc.wait_timeout_ms());
  nonce_options.lifetime = absl::Seconds(config.nonce().lifetime_seconds());
  // Token ids are recorded until exp + leeway (release/release_service.cc).
  redis::ReplayOptions jti_options = nonce_options;
  const int64_t leeway_s =
      config.key_release().leeway_seconds() > 0 ? config.key_release().leeway_seconds() : 30;
  jti_options.lifetime = absl::Seconds(config.token().lifetime_seconds() + leeway_s);
  s->redis_nonces_ = std::make_unique<redis::RedisReplayStore>(*s->client_, *prefix, "nonce",
                                                               nonce_options, clock);
  s->redis_token_ids_ = std::make_unique<redis::RedisReplayStore>(*s->client_, *prefix, "jti",
                                                                  jti_options, clock);
  s->nonces_ = std::make_unique<redis::ObservedReplayStore>(*s->redis_nonces_, "nonce", clock,
                                                            *s->metrics_);
  s->token_ids_ = std::make_unique<redis::ObservedReplayStore>(*s->redis_token_ids_, "jti",
                                                               clock, *s->metrics_);
  s->redis_rates_ = std::make_unique<redis::RedisRateLimitStore>(*s->client_, *prefix, clock);
  SharedStoreMetrics* metrics = s->metrics_.get();
  s->fallback_rates_ = std::make_unique<redis::FallbackRateLimitStore>(
      *s->redis_rates_, *s->memory_rates_, [metrics] { metrics->CountRateLimitFallback(); });
  s->rate_limits_ = s->fallback_rates_.get();

  log(absl::StrCat("shared state: ", s->client_->Describe(), " namespace ", rc.namespace_(),
                   rc.wait_replicas() > 0
                       ? absl::StrCat(", WAIT ", rc.wait_replicas(), " replica(s)")
                       : std::string()));
  absl::Status ping = s->client_->Ping();
  if (!ping.ok()) {
    if (absl::StrContains(ping.message(), "AUTH refused")) {
      return absl::PermissionDeniedError(
          absl::StrCat("redis at ", rc.address(), ": ", ping.message()));
    }
    log(absl::StrCat("WARNING: redis at ", rc.address(), " does not answer (", ping.message(),
                     "): every Attest fails closed with NONCE_STORE_UNAVAILABLE until it does"));
    return s;
  }
  absl::StatusOr<absl::Time> epoch = redis::EnsureEpoch(*s->client_, *prefix, clock);
  if (epoch.ok()) {
    log(absl::StrCat("shared state: records since ", FormatRfc3339(*epoch), " (the store's epoch)"));
  }
  std::optional<std::string> policy = s->client_->MaxMemoryPolicy();
  if (!policy) {
    log("WARNING: could not read redis maxmemory-policy (CONFIG disabled?); it must be "
        "noeviction: an evicted nonce key allows a replay");
  } else if (*policy != "noeviction") {
    log(absl::StrCat("WARNING: redis maxmemory-policy is ", *policy,
                     ", not noeviction: Redis may evict unexpired nonce keys, which allows "
                     "replays; set maxmemory-policy noeviction"));
  }
  return s;
}

void SharedState::RefreshMetrics() {
  if (memory_replay_ != nullptr) metrics_->SetStoreEntries(memory_replay_->size());
}

std::string SharedState::Describe() const {
  if (client_ == nullptr) return "in-memory";
  return absl::StrCat(client_->Describe(), " namespace ", namespace_);
}

}  // namespace rp::server
