#include "server/config.h"

#include <filesystem>
#include <limits>
#include <utility>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "policy/yaml_json.h"
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
  ResolvePath(base, config->mutable_http_tls()->mutable_cert_file());
  ResolvePath(base, config->mutable_http_tls()->mutable_key_file());
  ResolvePath(base, config->mutable_http_tls()->mutable_client_ca_file());
  for (auto& key : *config->mutable_token()->mutable_keys()) {
    ResolvePath(base, key.mutable_pem_file());
  }
  ResolvePath(base, config->mutable_nonce()->mutable_hmac_key_file());
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
  for (const std::string& s : c.source_order()) {
    bool* seen = s == "offline" ? &seen_offline : (s == "kds" ? &seen_kds : nullptr);
    if (seen == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "collateral.source_order has '", s, "', must be offline or kds"));
    }
    if (*seen) {
      return absl::InvalidArgumentError(
          absl::StrCat("collateral.source_order lists '", s, "' twice"));
    }
    *seen = true;
  }
  return absl::OkStatus();
}

absl::Status ValidateServerConfig(const ServerConfig& config) {
  RETURN_IF_ERROR(CheckListen("listen", config.listen()));
  RETURN_IF_ERROR(CheckListen("http_listen", config.http_listen()));
  RETURN_IF_ERROR(CheckListen("metrics_listen", config.metrics_listen()));
  RETURN_IF_ERROR(CheckRange("max_request_bytes", config.max_request_bytes(),
                             1024, kMaxMaxRequestBytes));
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
  const auto& tls = config.tls();
  if (tls.cert_file().empty() != tls.key_file().empty()) {
    return absl::InvalidArgumentError(
        "tls.cert_file and tls.key_file must be set together");
  }
  if (!tls.client_ca_file().empty() && tls.cert_file().empty()) {
    return absl::InvalidArgumentError(
        "tls.client_ca_file requires tls.cert_file and key_file");
  }
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
  if (config.has_collateral()) {
    RETURN_IF_ERROR(
        ValidateCollateralConfig(config.collateral(), env == kEnvironmentProduction));
  }
  return absl::OkStatus();
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
