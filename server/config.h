// Server configuration: a YAML or JSON document mapped onto
// attestation.v1.ServerConfig (one schema, no hand-written parser), defaults
// for empty fields, relative paths resolved against the file's directory,
// and validation of the combinations that must never run (production with a
// trusted simulation root).
#ifndef RP_SERVER_CONFIG_H_
#define RP_SERVER_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "appraisal/collateral_stack.h"
#include "attestation/v1/config.pb.h"
#include "server/limits/inflight_limiter.h"
#include "server/limits/rate_limiter.h"

namespace rp::server {

inline constexpr char kDefaultListen[] = "127.0.0.1:50051";
inline constexpr char kDefaultHttpListen[] = "127.0.0.1:8080";
inline constexpr char kDefaultMetricsListen[] = "127.0.0.1:9464";
inline constexpr int64_t kDefaultMaxRequestBytes = int64_t{4} * 1024 * 1024;
// Upper bound for max_request_bytes: the gRPC receive limit is twice this
// value and must stay well inside int.
inline constexpr int64_t kMaxMaxRequestBytes = int64_t{64} * 1024 * 1024;
inline constexpr int64_t kDefaultNonceLifetimeSeconds = 300;
inline constexpr int64_t kDefaultReplayCapacity = 1000000;
// Per-peer token buckets (limits:), docs/hardening.md.
inline constexpr double kDefaultGetChallengeRatePerSecond = 10;
inline constexpr double kDefaultGetChallengeBurst = 40;
inline constexpr double kDefaultAttestRatePerSecond = 10;
inline constexpr double kDefaultAttestBurst = 40;
inline constexpr int64_t kDefaultMaxTrackedPeers = 100000;
// Verified-object memo (verifier/crypto/verified_memo.h), per kind.
inline constexpr int64_t kDefaultVerifiedMemoEntries = 4096;
inline constexpr int64_t kDefaultVerifiedMemoBytes = int64_t{32} << 20;
inline constexpr int64_t kDefaultGrpcMemoryBytes = int64_t{512} * 1024 * 1024;
inline constexpr int32_t kDefaultGrpcMaxThreads = 64;
inline constexpr int32_t kDefaultGrpcMaxConcurrentStreams = 100;
// Admission control (limits.max_in_flight, max_queued, max_queue_wait_ms).
inline constexpr int32_t kDefaultInFlightPerCore = 2;
inline constexpr int32_t kDefaultQueuedPerInFlight = 4;
inline constexpr int64_t kDefaultMaxQueueWaitMs = 1000;
// gRPC threads kept free of expensive requests (GetChallenge, GetJwks, health).
inline constexpr int32_t kGrpcThreadsForCheapRpcs = 8;
inline constexpr char kDefaultTokenAlgorithm[] = "ES256";
inline constexpr int64_t kDefaultTokenLifetimeSeconds = 300;
inline constexpr int64_t kMaxLifetimeSeconds = 24 * 3600;
// An empty `environment` means production: a config has to opt in to the
// development relaxations explicitly.
inline constexpr char kEnvironmentProduction[] = "production";
inline constexpr char kEnvironmentDevelopment[] = "development";
// Online collateral defaults (collateral: block) live with the stack builder.
using appraisal::kDefaultKdsBaseUrl;
using appraisal::kDefaultCollateralConnectTimeoutMs;
using appraisal::kDefaultCollateralTimeoutMs;
using appraisal::kMaxCollateralResponseBytes;
using appraisal::kDefaultKdsRatePerSecond;
using appraisal::kDefaultKdsBurst;
using appraisal::kDefaultKdsMaxConcurrency;
using appraisal::kDefaultKdsBreakerThreshold;
using appraisal::kDefaultKdsBreakerCooldownSeconds;
using appraisal::kDefaultCollateralMaxTtlSeconds;
using appraisal::kDefaultCollateralNegativeTtlSeconds;

// Command line of attestation-server. The listen flags override the file.
struct CommandLine {
  std::string config_path;                    // --config (required)
  std::optional<std::string> listen;          // --listen host:port
  std::optional<std::string> http_listen;     // --http-listen host:port
  std::optional<std::string> metrics_listen;  // --metrics-listen host:port
  std::string port_file;  // --port-file: JSON {"grpc":N,"http":N,"metrics":N}
};

// Accepts "--flag value" and "--flag=value". `args` excludes argv[0].
absl::StatusOr<CommandLine> ParseCommandLine(
    const std::vector<std::string>& args);
std::string Usage();

// Parses `text` (YAML or JSON) as a ServerConfig. Unknown fields are errors;
// messages start with `origin`. Relative paths are resolved against
// `base_dir` (unless empty). Fills defaults and validates.
absl::StatusOr<attestation::v1::ServerConfig> ParseServerConfig(
    const std::string& text, const std::string& origin,
    const std::string& base_dir);

// Reads and parses the file at `path`; relative paths inside resolve against
// the file's directory.
absl::StatusOr<attestation::v1::ServerConfig> LoadServerConfig(
    const std::string& path);

// Fills every empty field that has a default (see constants above).
void ApplyDefaults(attestation::v1::ServerConfig* config);

// Rejects unusable or unsafe settings; the message names the field. Call
// after ApplyDefaults (and again after command-line overrides).
absl::Status ValidateServerConfig(const attestation::v1::ServerConfig& config);

// Secret files (tls.key_file, http_tls.key_file, token.keys[].pem_file,
// nonce.hmac_key_file) must be regular files without any group/other
// permission bits (mode 0600 or 0400), in every environment: a key readable
// by other users is a key that may already be known to them.
// allow_group_readable_secrets tolerates group read (only) when the file's
// group is one of this process's groups. FAILED_PRECONDITION names the field,
// the path and the mode; NOT_FOUND when a file cannot be stat'ed.
absl::Status CheckSecretFilePermissions(const attestation::v1::ServerConfig& config);

// gRPC reflection: on in development, off in production unless
// enable_reflection is true.
bool ReflectionEnabled(const attestation::v1::ServerConfig& config);

// The per-peer limits of a (defaulted) limits: block.
limits::RequestLimits RequestLimitsFromConfig(const attestation::v1::LimitsConfig& config);
// The admission limits of a (defaulted) limits: block.
limits::InflightLimits InflightLimitsFromConfig(const attestation::v1::LimitsConfig& config);
// The number of cores ApplyDefaults assumes (std::thread::hardware_concurrency,
// at least 1).
int DefaultCores();

// Fills the empty fields of a collateral: block (constants above).
void ApplyCollateralDefaults(attestation::v1::CollateralConfig* config);
// Validates a collateral: block after ApplyCollateralDefaults; production
// requires https KDS and Intel PCS URLs unless the block is offline.
absl::Status ValidateCollateralConfig(const attestation::v1::CollateralConfig& config,
                                      bool production);

// Splits "host:port" / "[v6]:port"; the port must be 0..65535.
struct HostPort {
  std::string host;
  int port = 0;
};
absl::StatusOr<HostPort> ParseHostPort(const std::string& text);

}  // namespace rp::server

#endif  // RP_SERVER_CONFIG_H_
