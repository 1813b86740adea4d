#include "server/config.h"
#include "server/fleet_config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>
#include <utility>
#include <system_error>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_format.h"
#include "policy/yaml_json.h"
#include "server/peer.h"
#include "server/policy_access.h"
#include "server/redis/redis_client.h"
#include "server/redis/redis_stores.h"
#include "verifier/common/status_macros.h"

namespace rp::server {
namespace {

namespace fs = std::filesystem;
using attestation::v1::ServerConfig;

// Config files are small; this bounds what a mistaken path can make us read.
constexpr size_t kMaxConfigBytes = 256 * 1024;

void ResolvePath(const fs::path& base, std::string* path) {
  if (path->empty() || base.empty()) {
    return;
  }
  fs::path p(*path);
  if (p.is_absolute()) {
    return;
  }
  *path = (base / p).lexically_normal().string();
}

void ResolvePaths(const std::string& base_dir, ServerConfig* config) {
  if (base_dir.empty()) {
    return;
  }
  std::error_code ec;
  fs::path base = fs::absolute(fs::path(base_dir), ec);
  if (ec) {
    base = fs::path(base_dir);
  }
  ResolvePath(base, config->mutable_tls()->mutable_cert_file());
  ResolvePath(base, config->mutable_tls()->mutable_key_file());
  ResolvePath(base, config->mutable_tls()->mutable_client_ca_file());
  if (config->has_http_tls()) {
    ResolvePath(base, config->mutable_http_tls()->mutable_cert_file());
    ResolvePath(base, config->mutable_http_tls()->mutable_key_file());
    ResolvePath(base, config->mutable_http_tls()->mutable_client_ca_file());
  }
  if (config->has_key_release()) {
    auto* store = config->mutable_key_release()->mutable_store();
    ResolvePath(base, store->mutable_dir());
    ResolvePath(base, store->mutable_pkcs11()->mutable_pin_file());
    // A bare module name is left to the loader's search path.
    if (store->pkcs11().module().find('/') != std::string::npos) {
      ResolvePath(base, store->mutable_pkcs11()->mutable_module());
    }
  }
  for (auto& key : *config->mutable_token()->mutable_keys()) {
    ResolvePath(base, key.mutable_pem_file());
  }
  ResolvePath(base, config->mutable_nonce()->mutable_hmac_key_file());
  if (config->has_redis()) ResolvePath(base, config->mutable_redis()->mutable_password_file());
  if (config->has_admission()) {  // issue 13: the webhook's serving certificate
    ResolvePath(base, config->mutable_admission()->mutable_tls()->mutable_cert_file());
    ResolvePath(base, config->mutable_admission()->mutable_tls()->mutable_key_file());
  }
  ResolvePath(base, config->mutable_collateral_dir());
  if (config->has_collateral()) {
    ResolvePath(base, config->mutable_collateral()->mutable_cache_dir());
    ResolvePath(base, config->mutable_collateral()->mutable_ca_file());
  }
  ResolvePath(base, config->mutable_policy_file());
  ResolvePath(base, config->mutable_simulation()->mutable_dir());
  if (config->audit_log() != "-") {
    ResolvePath(base, config->mutable_audit_log());
  }
}

absl::Status CheckListen(const std::string& field, const std::string& value) {
  auto hp = ParseHostPort(value);
  if (!hp.ok()) {
    return Annotate(hp.status(), field);
  }
  return absl::OkStatus();
}

absl::Status CheckRange(const std::string& field, int64_t value, int64_t lo,
                        int64_t hi) {
  if (value < lo || value > hi) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " is ", value, ", must be in [", lo, ", ", hi, "]"));
  }
  return absl::OkStatus();
}

absl::Status CheckTlsPair(const std::string& field, const attestation::v1::TlsConfig& tls) {
  if (tls.cert_file().empty() != tls.key_file().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".cert_file and ", field, ".key_file must be set together"));
  }
  if (!tls.client_ca_file().empty() && tls.cert_file().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".client_ca_file requires ", field, ".cert_file and key_file"));
  }
  return absl::OkStatus();
}

absl::Status CheckRateLimit(const std::string& field, const attestation::v1::RateLimitConfig& r,
                            bool production) {
  if (!(r.rate_per_second() <= 1e6)) {  // also rejects NaN
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".rate_per_second must be at most 1e6 (negative = no limit)"));
  }
  if (r.rate_per_second() < 0) {
    if (production) {
      return absl::FailedPreconditionError(absl::StrCat(
          field, ".rate_per_second is negative (no limit); per-client rate limits cannot be "
          "switched off in the production environment"));
    }
    return absl::OkStatus();
  }
  if (!(r.burst() >= 1 && r.burst() <= 1e6)) {
    return absl::InvalidArgumentError(absl::StrCat(field, ".burst must be in [1, 1e6]"));
  }
  return absl::OkStatus();
}

bool IsHttps(const std::string& url) { return url.rfind("https://", 0) == 0; }

}  // namespace

absl::StatusOr<HostPort> ParseHostPort(const std::string& text) {
  HostPort out;
  std::string port_text;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() ||
        text[close + 1] != ':') {
      return absl::InvalidArgumentError(
          absl::StrCat("'", text, "' is not [host]:port"));
    }
    out.host = text.substr(0, close + 1);
    port_text = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0 || text.find(':') != colon) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", text, "' is not host:port"));
    }
    out.host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  int port = -1;
  if (port_text.empty() || port_text.size() > 5 ||
      !absl::SimpleAtoi(port_text, &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' has no valid port"));
  }
  out.port = port;
  return out;
}

void ApplyDefaults(ServerConfig* config) {
  if (config->listen().empty()) {
    config->set_listen(kDefaultListen);
  }
  if (config->http_listen().empty()) {
    config->set_http_listen(kDefaultHttpListen);
  }
  if (config->metrics_listen().empty()) {
    config->set_metrics_listen(kDefaultMetricsListen);
  }
  if (config->verified_memo().max_entries() == 0) {
    config->mutable_verified_memo()->set_max_entries(kDefaultVerifiedMemoEntries);
  }
  if (config->verified_memo().max_bytes() == 0) {
    config->mutable_verified_memo()->set_max_bytes(kDefaultVerifiedMemoBytes);
  }
  if (config->max_request_bytes() == 0) {
    config->set_max_request_bytes(kDefaultMaxRequestBytes);
  }
  auto* nonce = config->mutable_nonce();
  if (nonce->lifetime_seconds() == 0) {
    nonce->set_lifetime_seconds(kDefaultNonceLifetimeSeconds);
  }
  if (nonce->replay_capacity() == 0) {
    nonce->set_replay_capacity(kDefaultReplayCapacity);
  }
  if (nonce->max_outstanding_challenges() == 0) {
    nonce->set_max_outstanding_challenges(nonce->replay_capacity());
  }
  auto* limits = config->mutable_limits();
  auto rate = [](attestation::v1::RateLimitConfig* r, double rate, double burst) {
    if (r->rate_per_second() == 0) r->set_rate_per_second(rate);
    if (r->burst() == 0) r->set_burst(burst);
  };
  rate(limits->mutable_get_challenge(), kDefaultGetChallengeRatePerSecond,
       kDefaultGetChallengeBurst);
  rate(limits->mutable_attest(), kDefaultAttestRatePerSecond, kDefaultAttestBurst);
  if (limits->max_tracked_peers() == 0) limits->set_max_tracked_peers(kDefaultMaxTrackedPeers);
  if (limits->grpc_memory_bytes() == 0) limits->set_grpc_memory_bytes(kDefaultGrpcMemoryBytes);
  {
    // Admission control: 2 x cores running, 4 x that waiting, each holding
    // a gRPC thread. With grpc_max_threads set, the defaults fit inside it
    // (leaving kGrpcThreadsForCheapRpcs); without, its default grows to fit
    // them.
    const bool threads_set = limits->grpc_max_threads() != 0;
    const int64_t budget =
        threads_set ? std::max<int64_t>(1, int64_t{limits->grpc_max_threads()} -
                                               kGrpcThreadsForCheapRpcs)
                    : std::numeric_limits<int32_t>::max();
    if (limits->max_in_flight() == 0) {
      limits->set_max_in_flight(static_cast<int32_t>(
          std::clamp<int64_t>(int64_t{kDefaultInFlightPerCore} * DefaultCores(), 1, budget)));
    }
    if (limits->max_queued() == 0) {
      const int64_t room = budget - limits->max_in_flight();
      const int64_t q = std::min<int64_t>(
          int64_t{kDefaultQueuedPerInFlight} * limits->max_in_flight(), room);
      limits->set_max_queued(q > 0 ? static_cast<int32_t>(q) : -1);
    }
    if (limits->max_queue_wait_ms() == 0) limits->set_max_queue_wait_ms(kDefaultMaxQueueWaitMs);
    if (!threads_set) {
      const int64_t need = int64_t{limits->max_in_flight()} +
                           std::max(0, limits->max_queued()) + 2 * kGrpcThreadsForCheapRpcs;
      limits->set_grpc_max_threads(static_cast<int32_t>(
          std::clamp<int64_t>(need, kDefaultGrpcMaxThreads, 4096)));
    }
  }
  if (limits->grpc_max_concurrent_streams() == 0) {
    limits->set_grpc_max_concurrent_streams(kDefaultGrpcMaxConcurrentStreams);
  }
  auto* token = config->mutable_token();
  if (token->algorithm().empty()) {
    token->set_algorithm(kDefaultTokenAlgorithm);
  }
  if (token->lifetime_seconds() == 0) {
    token->set_lifetime_seconds(kDefaultTokenLifetimeSeconds);
  }
  if (config->environment().empty()) {
    config->set_environment(kEnvironmentProduction);
  }
  if (config->has_collateral()) {
    ApplyCollateralDefaults(config->mutable_collateral());
  }
  if (config->has_redis()) {
    // The client's and store's own defaults (server/redis/).
    const redis::RedisOptions client;
    const redis::ReplayOptions replay;
    auto* r = config->mutable_redis();
    if (r->namespace_().empty()) r->set_namespace_("rp");
    if (r->pool_size() == 0) r->set_pool_size(client.pool_size);
    if (r->connect_timeout_ms() == 0) {
      r->set_connect_timeout_ms(static_cast<int32_t>(absl::ToInt64Milliseconds(client.connect_timeout)));
    }
    if (r->command_timeout_ms() == 0) {
      r->set_command_timeout_ms(static_cast<int32_t>(absl::ToInt64Milliseconds(client.command_timeout)));
    }
    if (r->wait_timeout_ms() == 0) {
      r->set_wait_timeout_ms(static_cast<int32_t>(absl::ToInt64Milliseconds(replay.wait_timeout)));
    }
  }
  ApplyFleetAdmissionDefaults(config);  // fleet: / admission: (server/fleet_config.h)
}

void ApplyCollateralDefaults(attestation::v1::CollateralConfig* c) {
  if (c->kds_base_url().empty()) c->set_kds_base_url(kDefaultKdsBaseUrl);
  if (c->connect_timeout_ms() == 0) {
    c->set_connect_timeout_ms(kDefaultCollateralConnectTimeoutMs);
  }
  if (c->timeout_ms() == 0) c->set_timeout_ms(kDefaultCollateralTimeoutMs);
  if (c->max_response_bytes() == 0) {
    c->set_max_response_bytes(kMaxCollateralResponseBytes);
  }
  auto* kds = c->mutable_kds();
  if (kds->rate_per_second() == 0) kds->set_rate_per_second(kDefaultKdsRatePerSecond);
  if (kds->burst() == 0) kds->set_burst(kDefaultKdsBurst);
  if (kds->max_concurrency() == 0) kds->set_max_concurrency(kDefaultKdsMaxConcurrency);
  if (kds->breaker_threshold() == 0) {
    kds->set_breaker_threshold(kDefaultKdsBreakerThreshold);
  }
  if (kds->breaker_cooldown_seconds() == 0) {
    kds->set_breaker_cooldown_seconds(kDefaultKdsBreakerCooldownSeconds);
  }
  if (c->max_ttl_seconds() == 0) c->set_max_ttl_seconds(kDefaultCollateralMaxTtlSeconds);
  if (c->negative_ttl_seconds() == 0) {
    c->set_negative_ttl_seconds(kDefaultCollateralNegativeTtlSeconds);
  }
  if (c->source_order().empty()) {
    c->add_source_order("offline");
    c->add_source_order("kds");
    c->add_source_order("pcs");
  }
}

absl::Status ValidateCollateralConfig(const attestation::v1::CollateralConfig& c,
                                      bool production) {
  const std::string& url = c.kds_base_url();
  const bool https = url.rfind("https://", 0) == 0;
  if (!https && url.rfind("http://", 0) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "collateral.kds_base_url is '", url, "', must start with https:// or http://"));
  }
  if (production && !https && !c.offline()) {
    return absl::FailedPreconditionError(
        "collateral.kds_base_url must be https:// in the production environment");
  }
  // Intel PCS / PCCS (empty = Intel's https defaults).
  for (const auto& [field, value] :
       {std::pair<const char*, const std::string*>{"intel_pcs_base_url", &c.intel_pcs_base_url()},
        {"intel_root_ca_crl_url", &c.intel_root_ca_crl_url()}}) {
    if (value->empty()) continue;
    if (!IsHttps(*value) && value->rfind("http://", 0) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "collateral.", field, " is '", *value, "', must start with https:// or http://"));
    }
    if (production && !IsHttps(*value) && !c.offline()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "collateral.", field, " must be https:// in the production environment"));
    }
  }
  RETURN_IF_ERROR(CheckRange("collateral.connect_timeout_ms", c.connect_timeout_ms(), 1,
                             600000));
  RETURN_IF_ERROR(CheckRange("collateral.timeout_ms", c.timeout_ms(), 1, 600000));
  RETURN_IF_ERROR(CheckRange("collateral.max_response_bytes", c.max_response_bytes(), 1024,
                             kMaxCollateralResponseBytes));
  if (!(c.kds().rate_per_second() >= 0 && c.kds().rate_per_second() <= 1000)) {
    return absl::InvalidArgumentError("collateral.kds.rate_per_second must be in [0, 1000]");
  }
  if (!(c.kds().burst() >= 1 && c.kds().burst() <= 1000)) {
    return absl::InvalidArgumentError("collateral.kds.burst must be in [1, 1000]");
  }
  RETURN_IF_ERROR(CheckRange("collateral.kds.max_concurrency", c.kds().max_concurrency(), 1,
                             256));
  RETURN_IF_ERROR(CheckRange("collateral.kds.breaker_threshold",
                             c.kds().breaker_threshold(), 1, 1000));
  RETURN_IF_ERROR(CheckRange("collateral.kds.breaker_cooldown_seconds",
                             c.kds().breaker_cooldown_seconds(), 1, 24 * 3600));
  RETURN_IF_ERROR(CheckRange("collateral.max_ttl_seconds", c.max_ttl_seconds(), 1,
                             int64_t{30} * 24 * 3600));
  RETURN_IF_ERROR(CheckRange("collateral.negative_ttl_seconds", c.negative_ttl_seconds(), 1,
                             24 * 3600));
  // Cache caps: 0 = the default (verifier/collateral/cache.h).
  for (const auto& [field, value] :
       {std::pair<const char*, int64_t>{"cache_max_memory_entries", c.cache_max_memory_entries()},
        {"cache_max_memory_bytes", c.cache_max_memory_bytes()},
        {"cache_max_negative_entries", c.cache_max_negative_entries()},
        {"cache_max_disk_bytes", c.cache_max_disk_bytes()},
        {"cache_max_disk_files", c.cache_max_disk_files()}}) {
    RETURN_IF_ERROR(CheckRange(absl::StrCat("collateral.", field), value, 0,
                               std::numeric_limits<int64_t>::max()));
  }
  bool seen_offline = false;
  bool seen_kds = false;
  bool seen_pcs = false;
  for (const std::string& s : c.source_order()) {
    bool* seen = s == "offline" ? &seen_offline
                 : s == "kds"   ? &seen_kds
                 : s == "pcs"   ? &seen_pcs
                                : nullptr;
    if (seen == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "collateral.source_order has '", s, "', must be offline, kds or pcs"));
    }
    if (*seen) {
      return absl::InvalidArgumentError(
          absl::StrCat("collateral.source_order lists '", s, "' twice"));
    }
    *seen = true;
  }
  return absl::OkStatus();
}

namespace {

// token.audiences (AttestRequest.audience -> `aud`): the same rule as
// token::ValidateAudiences, repeated here so that a bad list is refused at
// load time with the config's own field names (docs/key-release.md).
constexpr int kMaxTokenAudiences = 64;
constexpr size_t kMaxTokenAudienceLength = 256;

absl::Status CheckTokenAudiences(const attestation::v1::TokenConfig& token) {
  if (token.audiences_size() > kMaxTokenAudiences) {
    return absl::InvalidArgumentError(absl::StrCat("token.audiences has ",
                                                   token.audiences_size(),
                                                   " entries, at most ", kMaxTokenAudiences));
  }
  std::set<std::string> seen;
  for (int i = 0; i < token.audiences_size(); ++i) {
    const std::string& a = token.audiences(i);
    if (a.empty() || a.size() > kMaxTokenAudienceLength) {
      return absl::InvalidArgumentError(absl::StrCat("token.audiences[", i, "] is ", a.size(),
                                                     " characters, must be 1..",
                                                     kMaxTokenAudienceLength));
    }
    for (const char c : a) {
      if (c < 0x21 || c > 0x7e) {
        return absl::InvalidArgumentError(
            absl::StrCat("token.audiences[", i,
                         "] must be printable ASCII without spaces or control characters"));
      }
    }
    if (!seen.insert(a).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("token.audiences[", i, "] '", a, "' is listed twice"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateServerConfig(const ServerConfig& config) {
  RETURN_IF_ERROR(CheckListen("listen", config.listen()));
  RETURN_IF_ERROR(CheckListen("http_listen", config.http_listen()));
  RETURN_IF_ERROR(CheckListen("metrics_listen", config.metrics_listen()));
  RETURN_IF_ERROR(CheckRange("max_request_bytes", config.max_request_bytes(),
                             1024, kMaxMaxRequestBytes));
  RETURN_IF_ERROR(CheckRange("verified_memo.max_entries", config.verified_memo().max_entries(),
                             1, 1000000));
  RETURN_IF_ERROR(CheckRange("verified_memo.max_bytes", config.verified_memo().max_bytes(),
                             64 * 1024, int64_t{4} << 30));
  RETURN_IF_ERROR(CheckRange("nonce.lifetime_seconds",
                             config.nonce().lifetime_seconds(), 1,
                             kMaxLifetimeSeconds));
  RETURN_IF_ERROR(CheckRange("nonce.replay_capacity",
                             config.nonce().replay_capacity(), 1,
                             int64_t{1} << 32));
  RETURN_IF_ERROR(CheckRange("token.lifetime_seconds",
                             config.token().lifetime_seconds(), 1,
                             kMaxLifetimeSeconds));
  const std::string& alg = config.token().algorithm();
  if (alg != "ES256" && alg != "ES384") {
    return absl::InvalidArgumentError(
        absl::StrCat("token.algorithm is '", alg, "', must be ES256 or ES384"));
  }
  RETURN_IF_ERROR(CheckTokenAudiences(config.token()));
  if (const std::string& profile = config.token().profile();
      !profile.empty() && profile != "compact" && profile != "full") {
    return absl::InvalidArgumentError(absl::StrCat(
        "token.profile is '", profile.substr(0, 64), "', must be compact or full"));
  }
  for (int i = 0; i < config.token().keys_size(); ++i) {
    const auto& key = config.token().keys(i);
    if (key.pem_file().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("token.keys[", i, "].pem_file is empty"));
    }
    const std::string& st = key.status();
    if (!st.empty() && st != "current" && st != "next" && st != "previous") {
      return absl::InvalidArgumentError(
          absl::StrCat("token.keys[", i, "].status is '", st,
                       "', must be current, next or previous"));
    }
  }
  RETURN_IF_ERROR(CheckTlsPair("tls", config.tls()));
  RETURN_IF_ERROR(CheckTlsPair("http_tls", config.http_tls()));
  const std::string& env = config.environment();
  if (env != kEnvironmentProduction && env != kEnvironmentDevelopment) {
    return absl::InvalidArgumentError(absl::StrCat(
        "environment is '", env, "', must be production or development"));
  }
  // Simulated evidence is signed by a root anyone can create; trusting it in
  // production would accept evidence from machines that are not TEEs at all.
  if (env == kEnvironmentProduction &&
      config.simulation().trust_simulation_root()) {
    return absl::FailedPreconditionError(
        "simulation.trust_simulation_root is true in the production "
        "environment; "
        "the simulation root is for development and demos only");
  }
  const bool production = env == kEnvironmentProduction;
  // Transport (docs/hardening.md). Tokens, challenges and JWKS must not
  // cross the network in the clear in production.
  if (production && config.tls().cert_file().empty()) {
    return absl::FailedPreconditionError(
        "the production environment requires TLS on gRPC: set tls.cert_file and tls.key_file");
  }
  if (production && config.http_tls().cert_file().empty() && !config.http_behind_tls_proxy()) {
    return absl::FailedPreconditionError(
        "the production environment requires TLS on the HTTP port: set http_tls.cert_file and "
        "http_tls.key_file, or http_behind_tls_proxy: true when a TLS-terminating proxy is "
        "the only way to reach http_listen");
  }
  // Limits.
  const auto& nonce = config.nonce();
  RETURN_IF_ERROR(CheckRange("nonce.max_outstanding_challenges",
                             nonce.max_outstanding_challenges(), 1, nonce.replay_capacity()));
  const auto& limits = config.limits();
  RETURN_IF_ERROR(CheckRateLimit("limits.get_challenge", limits.get_challenge(), production));
  RETURN_IF_ERROR(CheckRateLimit("limits.attest", limits.attest(), production));
  if (limits.get_challenge().rate_per_second() > 0) {
    // One client, at its limit for a whole challenge lifetime, must not be
    // able to hold more than half of the challenges the server may have out.
    const double one_peer = limits.get_challenge().burst() +
                            limits.get_challenge().rate_per_second() *
                                static_cast<double>(nonce.lifetime_seconds());
    if (one_peer > static_cast<double>(nonce.max_outstanding_challenges()) / 2) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "limits.get_challenge lets one client hold %.0f challenges (burst + rate x "
          "nonce.lifetime_seconds), more than half of nonce.max_outstanding_challenges (%d)",
          one_peer, nonce.max_outstanding_challenges()));
    }
  }
  RETURN_IF_ERROR(CheckRange("limits.max_tracked_peers", limits.max_tracked_peers(), 1,
                             10000000));
  RETURN_IF_ERROR(CheckRange("limits.grpc_memory_bytes", limits.grpc_memory_bytes(),
                             4 * config.max_request_bytes(), int64_t{64} << 30));
  RETURN_IF_ERROR(CheckRange("limits.grpc_max_threads", limits.grpc_max_threads(), 4, 4096));
  RETURN_IF_ERROR(CheckRange("limits.grpc_max_concurrent_streams",
                             limits.grpc_max_concurrent_streams(), 1, 10000));
  RETURN_IF_ERROR(CheckRange("limits.max_in_flight", limits.max_in_flight(), 1, 4096));
  RETURN_IF_ERROR(CheckRange("limits.max_queued (-1 = no queue)", limits.max_queued(), -1, 65536));
  RETURN_IF_ERROR(
      CheckRange("limits.max_queue_wait_ms", limits.max_queue_wait_ms(), 1, 60000));
  {
    const int64_t held = int64_t{limits.max_in_flight()} + std::max(0, limits.max_queued());
    if (held + kGrpcThreadsForCheapRpcs > limits.grpc_max_threads()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "limits.max_in_flight (", limits.max_in_flight(), ") + limits.max_queued (",
          std::max(0, limits.max_queued()), ") must leave ", kGrpcThreadsForCheapRpcs,
          " of limits.grpc_max_threads (", limits.grpc_max_threads(),
          ") for GetChallenge, GetJwks and health checks: every running or waiting request "
          "holds a gRPC thread"));
    }
  }
  RETURN_IF_ERROR(PolicyAccess::Create(config.policy_clients()).status());
  if (config.has_collateral()) {
    RETURN_IF_ERROR(ValidateCollateralConfig(config.collateral(), production));
  }
  for (int i = 0; i < config.trusted_proxies_size(); ++i) {
    absl::StatusOr<IpNetwork> n = IpNetwork::Parse(config.trusted_proxies(i));
    if (!n.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("trusted_proxies[", i, "]: ", n.status().message()));
    }
    if (n->prefix_bits == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "trusted_proxies[", i, "] is ", config.trusted_proxies(i),
          ": trusting every address would let any client choose its rate-limit key"));
    }
  }
  if (config.has_redis()) {
    const auto& r = config.redis();
    if (r.address().empty()) {
      return absl::InvalidArgumentError(
          "redis.address is empty (host:port or unix:/path); remove the redis block to keep "
          "the single-replica in-memory stores");
    }
    RETURN_IF_ERROR(redis::KeyPrefix(r.namespace_()).status());
    RETURN_IF_ERROR(CheckRange("redis.pool_size", r.pool_size(), 1, 64));
    RETURN_IF_ERROR(CheckRange("redis.connect_timeout_ms", r.connect_timeout_ms(), 1, 10000));
    RETURN_IF_ERROR(CheckRange("redis.command_timeout_ms", r.command_timeout_ms(), 1, 10000));
    RETURN_IF_ERROR(CheckRange("redis.wait_replicas", r.wait_replicas(), 0, 16));
    RETURN_IF_ERROR(CheckRange("redis.wait_timeout_ms", r.wait_timeout_ms(), 1, 10000));
    if (!r.username().empty() && r.password_file().empty()) {
      return absl::InvalidArgumentError("redis.username needs redis.password_file");
    }
  }
  RETURN_IF_ERROR(ValidateFleetAdmissionConfig(config));
  return absl::OkStatus();
}

namespace {

// Whether `gid` is this process's effective group or one of its
// supplementary groups (Kubernetes: the pod's fsGroup).
bool InOurGroups(gid_t gid) {
  if (gid == getegid()) return true;
  const int n = getgroups(0, nullptr);
  if (n <= 0) return false;
  std::vector<gid_t> groups(static_cast<size_t>(n));
  const int got = getgroups(n, groups.data());
  for (int i = 0; i < got; ++i) {
    if (groups[static_cast<size_t>(i)] == gid) return true;
  }
  return false;
}

}  // namespace

absl::Status CheckSecretFilePermissions(const ServerConfig& config) {
  std::vector<std::pair<std::string, std::string>> files;  // field, path
  files.emplace_back("tls.key_file", config.tls().key_file());
  files.emplace_back("http_tls.key_file", config.http_tls().key_file());
  for (int i = 0; i < config.token().keys_size(); ++i) {
    files.emplace_back(absl::StrCat("token.keys[", i, "].pem_file"),
                       config.token().keys(i).pem_file());
  }
  files.emplace_back("nonce.hmac_key_file", config.nonce().hmac_key_file());
  files.emplace_back("redis.password_file", config.redis().password_file());
  files.emplace_back("admission.tls.key_file", config.admission().tls().key_file());
  for (const auto& [field, path] : files) {
    if (path.empty()) continue;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {  // follows symlinks (Kubernetes Secret mounts)
      return absl::NotFoundError(
          absl::StrCat(field, " ", path, ": cannot stat: ", std::strerror(errno)));
    }
    if (!S_ISREG(st.st_mode)) {
      return absl::FailedPreconditionError(
          absl::StrCat(field, " ", path, " is not a regular file"));
    }
    const mode_t bad = config.allow_group_readable_secrets() && InOurGroups(st.st_gid)
                           ? (st.st_mode & 037)   // group read is tolerated
                           : (st.st_mode & 077);
    if (bad != 0) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "%s %s has mode %04o: group/other may access this secret; chmod 600 (or 400) it%s",
          field, path, st.st_mode & 07777,
          config.allow_group_readable_secrets()
              ? " (allow_group_readable_secrets tolerates only group read, and only for a "
                "group this process is in)"
              : ""));
    }
  }
  return absl::OkStatus();
}

bool ReflectionEnabled(const ServerConfig& config) {
  return config.environment() == kEnvironmentDevelopment || config.enable_reflection();
}

int DefaultCores() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(std::min(n, 1024u));
}

limits::InflightLimits InflightLimitsFromConfig(const attestation::v1::LimitsConfig& c) {
  limits::InflightLimits out;
  out.max_in_flight = c.max_in_flight();
  out.max_queued = std::max(0, c.max_queued());
  out.max_queue_wait = absl::Milliseconds(c.max_queue_wait_ms());
  return out;
}

limits::RequestLimits RequestLimitsFromConfig(const attestation::v1::LimitsConfig& c) {
  limits::RequestLimits out;
  out.get_challenge = {c.get_challenge().rate_per_second(), c.get_challenge().burst()};
  out.attest = {c.attest().rate_per_second(), c.attest().burst()};
  return out;
}

absl::StatusOr<ServerConfig> ParseServerConfig(const std::string& text,
                                               const std::string& origin,
                                               const std::string& base_dir) {
  ServerConfig config;
  RETURN_IF_ERROR(ParseDocumentToProto(text, origin, &config));
  ResolvePaths(base_dir, &config);
  ApplyDefaults(&config);
  RETURN_IF_ERROR(Annotate(ValidateServerConfig(config), origin));
  return config;
}

absl::StatusOr<ServerConfig> LoadServerConfig(const std::string& path) {
  auto text = ReadSmallFile(path, kMaxConfigBytes);
  if (!text.ok()) {
    return Annotate(text.status(), "config");
  }
  std::string dir = fs::path(path).parent_path().string();
  if (dir.empty()) {
    dir = ".";
  }
  return ParseServerConfig(*text, path, dir);
}

absl::StatusOr<CommandLine> ParseCommandLine(
    const std::vector<std::string>& args) {
  CommandLine cl;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i];
    std::string value;
    bool has_value = false;
    if (const size_t eq = flag.find('=');
        eq != std::string::npos && flag.rfind("--", 0) == 0) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
      has_value = true;
    }
    if (flag == "--help" || flag == "-h") {
      return absl::InvalidArgumentError(Usage());
    }
    if (flag != "--config" && flag != "--listen" && flag != "--http-listen" &&
        flag != "--metrics-listen" && flag != "--port-file") {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown argument '", args[i], "'"));
    }
    if (!has_value) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(absl::StrCat(flag, " needs a value"));
      }
      value = args[++i];
    }
    if (value.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(flag, " is empty"));
    }
    if (flag == "--config") {
      cl.config_path = value;
    } else if (flag == "--listen") {
      cl.listen = value;
    } else if (flag == "--http-listen") {
      cl.http_listen = value;
    } else if (flag == "--metrics-listen") {
      cl.metrics_listen = value;
    } else {
      cl.port_file = value;
    }
  }
  if (cl.config_path.empty()) {
    return absl::InvalidArgumentError("--config is required");
  }
  return cl;
}

std::string Usage() {
  return "usage: attestation-server --config FILE [--listen host:port] "
         "[--http-listen host:port] [--metrics-listen host:port] [--port-file "
         "FILE]";
}

}  // namespace rp::server
