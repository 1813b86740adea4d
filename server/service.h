// The gRPC AttestationService (ARCHITECTURE §3): challenges, attestation and
// JWKS, plus the policy set the service appraises with.
#ifndef RP_SERVER_SERVICE_H_
#define RP_SERVER_SERVICE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "attestation/v1/attestation.grpc.pb.h"
#include "attestation/v1/attestation.pb.h"
#include "grpcpp/grpcpp.h"
#include "admission/fleet/registry.h"
#include "nlohmann/json.hpp"
#include "appraisal/engine.h"
#include "server/audit.h"
#include "server/limits/challenge_budget.h"
#include "server/limits/inflight_limiter.h"
#include "server/limits/rate_limiter.h"
#include "server/metrics.h"
#include "server/nonce/nonce_service.h"
#include "server/peer.h"
#include "server/policy_access.h"
#include "server/token/key_manager.h"
#include "server/token/token_issuer.h"
#include "verifier/common/clock.h"

namespace rp::server {

// The appraisal policies a server offers, by id. Immutable after setup;
// Find is thread-safe.
class PolicySet {
 public:
  explicit PolicySet(policy::LoadedPolicy default_policy);
  // ALREADY_EXISTS if a policy with the same id is present.
  absl::Status Add(policy::LoadedPolicy policy);
  // "" => the default policy; "id" or "id@version"; nullptr if unknown.
  const policy::LoadedPolicy* Find(std::string_view name) const;
  const policy::LoadedPolicy& default_policy() const { return *default_; }
  const std::map<std::string, policy::LoadedPolicy, std::less<>>& all() const { return by_id_; }

 private:
  std::map<std::string, policy::LoadedPolicy, std::less<>> by_id_;
  const policy::LoadedPolicy* default_;  // points into by_id_ (node-stable)
};

class PolicyStore;  // server/policy_store.h

// "id@version", as AttestResponse.policy_id carries it.
std::string PolicyRef(const policy::LoadedPolicy& policy);

// Everything the service uses; all must outlive it and be thread-safe.
struct ServiceDeps {
  Clock& clock;  // verification time and nonce checks
  const nonce::NonceService& nonces;
  const token::TokenIssuer& tokens;
  const token::KeyManager& keys;
  const appraisal::Engine& engine;
  const PolicyStore& policies;  // a snapshot is taken per request
  Metrics* metrics = nullptr;  // optional
  AuditLog* audit = nullptr;   // optional
  // Per-peer rate limits on GetChallenge and Attest; nullptr = none.
  const limits::RequestLimiter* limiter = nullptr;
  // Bound on issued, unexpired challenges; nullptr = none.
  limits::ChallengeBudget* challenges = nullptr;
  // Who may name a non-default policy; nullptr = nobody (only the default).
  const PolicyAccess* policy_access = nullptr;
  // Load balancers whose x-forwarded-for names the client (server/peer.h).
  std::span<const IpNetwork> trusted_proxies = {};
  // Fleet node registry (docs/admission.md): every appraisal whose bound
  // runtime claims name a `node` updates that node's record, whatever the
  // verdict. nullptr = no registry.
  admission::fleet::FleetRegistry* fleet = nullptr;
  // Admission control shared by the expensive RPCs (Attest, key release):
  // bounded running and waiting requests, SERVER_BUSY beyond. nullptr = none.
  limits::InflightLimiter* inflight = nullptr;
};

// Trailing metadata key of the retry hint sent with RESOURCE_EXHAUSTED
// (whole seconds, like HTTP's Retry-After).
inline constexpr char kRetryAfterMetadata[] = "retry-after";
// Trailing metadata key carrying the reason code of an error status
// (e.g. NONCE_STORE_UNAVAILABLE), so clients need not parse the message.
inline constexpr char kReasonMetadata[] = "rp-reason";

// A reason code the service put first in an error message
// ("NONCE_STORE_UNAVAILABLE: ..."), or "" when there is none.
std::string_view LeadingReason(std::string_view message);

struct ServiceOptions {
  // Requests larger than this (serialized size) are INVALID_ARGUMENT. The
  // transport limit is set higher (2x) so that the handler sees them and
  // can say why.
  int64_t max_request_bytes = 4 * 1024 * 1024;
};

// gRPC-facing errors are only for malformed requests (INVALID_ARGUMENT),
// a policy the client may not choose (PERMISSION_DENIED), limits
// (RESOURCE_EXHAUSTED with a `retry-after` trailer in seconds), retryable
// unavailability (UNAVAILABLE) and bugs (INTERNAL); a failed verification or
// a bad challenge is an OK response with verdict CONTRAINDICATED (STYLE §5).
//
// Thread-safe: no mutable state of its own; the deps are thread-safe.
//
// Order per RPC: the peer's rate limit first (nothing else is done for a
// throttled peer), then for GetChallenge the global challenge budget, for
// Attest the size and shape checks, the policy choice, the audience (one of
// token.audiences, or none when that list is empty: TokenIssuer::CheckAudience),
// the challenge, and only then the verification.
class AttestationServiceImpl final
    : public attestation::v1::AttestationService::Service {
 public:
  AttestationServiceImpl(ServiceDeps deps, ServiceOptions options)
      : deps_(deps), options_(options) {}

  grpc::Status GetChallenge(grpc::ServerContext* context,
                            const attestation::v1::GetChallengeRequest* request,
                            attestation::v1::Challenge* response) override;
  grpc::Status Attest(grpc::ServerContext* context,
                      const attestation::v1::AttestRequest* request,
                      attestation::v1::AttestResponse* response) override;
  grpc::Status GetJwks(grpc::ServerContext* context,
                       const attestation::v1::GetJwksRequest* request,
                       attestation::v1::Jwks* response) override;

  // The handlers without a grpc::ServerContext (the overrides call these;
  // tests call them directly). `peer` keys the rate limits, decides which
  // policies may be named, and is recorded in the audit line. On
  // RESOURCE_EXHAUSTED, *retry_after_seconds (when given) is the hint.
  grpc::Status DoGetChallenge(const PeerInfo& peer, attestation::v1::Challenge* response,
                              int64_t* retry_after_seconds = nullptr) const;
  // `max_queue_wait` bounds the wait for an admission slot (the call's own
  // remaining deadline; the configured wait applies in any case).
  grpc::Status DoAttest(const attestation::v1::AttestRequest& request, const PeerInfo& peer,
                        attestation::v1::AttestResponse* response,
                        int64_t* retry_after_seconds = nullptr,
                        absl::Duration max_queue_wait = absl::InfiniteDuration()) const;
  // Shorthands with a peer known only by its gRPC peer string (no
  // certificate): "ipv4:127.0.0.1:1", or "" for an anonymous local caller.
  grpc::Status DoGetChallenge(attestation::v1::Challenge* response) const;
  grpc::Status DoAttest(const attestation::v1::AttestRequest& request,
                        const std::string& peer,
                        attestation::v1::AttestResponse* response) const;
  grpc::Status DoGetJwks(attestation::v1::Jwks* response) const;
  // The peer's per-peer rate limit for Attest-class work, for other faces
  // of the service (key release): OK or RESOURCE_EXHAUSTED with the hint.
  grpc::Status AdmitAttestClass(const PeerInfo& peer, int64_t* retry_after_seconds) const {
    return Admit(limits::Rpc::kAttest, peer, retry_after_seconds);
  }
  // A slot of the admission control for expensive work named `rpc`
  // ("Attest", "Release"): OK with *permit held (or not, when there is no
  // limiter), or RESOURCE_EXHAUSTED "SERVER_BUSY: ..." with the hint in
  // *retry_after_seconds (counted in metrics). Waits at most
  // min(max_wait, limits.max_queue_wait_ms).
  grpc::Status AdmitWork(std::string_view rpc, absl::Duration max_wait,
                         limits::InflightLimiter::Permit* permit,
                         int64_t* retry_after_seconds) const;

 private:
  grpc::Status AttestImpl(const attestation::v1::AttestRequest& request, const PeerInfo& peer,
                          attestation::v1::AttestResponse* response, AuditRecord* audit,
                          int64_t* retry_after_seconds) const;
  // The peer's rate limit for `rpc`: OK or the refusal (counted in metrics).
  grpc::Status Admit(limits::Rpc rpc, const PeerInfo& peer,
                     int64_t* retry_after_seconds) const;

  const ServiceDeps deps_;
  const ServiceOptions options_;
};

// Trailers of a refused call: `rp-reason` (LeadingReason of the message)
// and, for RESOURCE_EXHAUSTED with a hint, `retry-after`. No-op when OK or
// without a context.
void AddErrorTrailers(grpc::ServerContext* context, const grpc::Status& status,
                      int64_t retry_after_seconds);

// What is left of the call's deadline (infinite when it has none; zero
// when it has passed).
absl::Duration RemainingDeadline(const grpc::ServerContext* context);

// absl and gRPC share code numbers; this keeps the code and the message.
grpc::Status ToGrpcStatus(const absl::Status& status);

// The `jti` of a JWT we issued (decoded from its payload, not verified);
// empty if it has none.
std::string JtiOfToken(std::string_view jwt);

// The payload of a JWT we issued (decoded, not verified); a discarded JSON
// value when it cannot be decoded.
nlohmann::json ClaimsOfToken(std::string_view jwt);

// How a token for a result appraised under `pol` is made: the policy's
// token_profile, else `server_profile` (TokenIssuer::profile(); "" =
// compact); in the compact profile also every device claim and member the
// policy's release rules name (so its own rules always find them).
// INVALID_ARGUMENT for a profile other than compact | full.
absl::StatusOr<policy::EarOptions> EarOptionsFor(const policy::LoadedPolicy& pol,
                                                 std::string_view server_profile);

}  // namespace rp::server

#endif  // RP_SERVER_SERVICE_H_
