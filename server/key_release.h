// The key release service on the server's two faces (issue 11): gRPC
// KeyReleaseService and the REST routes
//   POST /v1/resources/{repo}/{type}/{tag}:release        Authorization: Bearer <token>
//   POST /v1/resources/{repo}/{type}/{tag}:attestRelease  {challenge, evidence, ...}
// Both call release::ReleaseService (release/release_service.h: the checks
// and their order); this file adapts the server's token keys, replay store,
// policy store, audit log and metrics to it. Every release or denial is one
// audit line (resource, token jti, policy id/hash, rule result; never the
// secret) and one rp_releases_total{resource,result} count.
#ifndef RP_SERVER_KEY_RELEASE_H_
#define RP_SERVER_KEY_RELEASE_H_

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "attestation/v1/key_release.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "release/release_service.h"
#include "server/audit.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/nonce/replay_store.h"
#include "server/peer.h"
#include "server/policy_store.h"
#include "server/service.h"
#include "server/token/key_manager.h"

namespace rp::server {

// Our tokens: signature with a published key (current, next or previous:
// the JWKS), exp / nbf with the leeway. Issuer from the token config.
class ServerTokenAuthority final : public release::TokenAuthority {
 public:
  ServerTokenAuthority(const token::KeyManager& keys, std::string issuer)
      : keys_(keys), issuer_(std::move(issuer)) {}
  absl::StatusOr<nlohmann::json> Verify(std::string_view jwt, absl::Time now,
                                        absl::Duration leeway) const override;
  std::string Issuer() const override { return issuer_; }

 private:
  const token::KeyManager& keys_;
  const std::string issuer_;
};

// Token ids share the nonces' replay store (in memory, Redis later), under
// their own prefix.
class ReplayJtiStore final : public release::JtiStore {
 public:
  explicit ReplayJtiStore(nonce::ReplayStore& store) : store_(store) {}
  absl::StatusOr<bool> MarkUsed(std::string_view jti, absl::Time expires) override;

 private:
  nonce::ReplayStore& store_;
};

// The secret store a key_release.store block names (paths already resolved
// against the config file's directory by server/config.cc).
absl::StatusOr<std::unique_ptr<release::SecretStore>> OpenConfiguredSecretStore(
    const attestation::v1::SecretStoreConfig& config);

// The policy in force with that id, from the hot-reloaded store (a snapshot
// kept alive by the returned pointer).
release::PolicyResolver PolicyResolverFor(const PolicyStore& store);

class KeyReleaseFace {
 public:
  struct Deps {
    const release::ReleaseService& release;
    const AttestationServiceImpl& attestation;
    Metrics* metrics;  // may be null
    AuditLog* audit;   // may be null
    Clock& clock;
    // REST body caps: :release carries at most a token (an 8-GPU node's is
    // ~75 KB); :attestRelease carries evidence (as /v1/attest).
    size_t max_release_body_bytes = 512 * 1024;
    size_t max_attest_body_bytes = 8 * 1024 * 1024;
  };
  explicit KeyReleaseFace(Deps deps) : deps_(deps) {}

  // Transport-independent entry points (peer for audit / rate limits).
  // On RESOURCE_EXHAUSTED, *retry_after_seconds (when given) is the hint;
  // `max_queue_wait` bounds the wait for an admission slot (the call's
  // remaining deadline).
  grpc::Status Release(const attestation::v1::ReleaseRequest& request, const PeerInfo& peer,
                       attestation::v1::ReleaseResponse* response,
                       int64_t* retry_after_seconds = nullptr,
                       absl::Duration max_queue_wait = absl::InfiniteDuration()) const;
  grpc::Status AttestAndRelease(const attestation::v1::AttestAndReleaseRequest& request,
                                const PeerInfo& peer, attestation::v1::ReleaseResponse* response,
                                int64_t* retry_after_seconds = nullptr,
                                absl::Duration max_queue_wait = absl::InfiniteDuration()) const;

  // The two REST routes (worker routes).
  std::vector<HttpEndpoint> Endpoints() const;

 private:
  grpc::Status Finish(const release::ReleaseResult& r, const PeerInfo& peer,
                      absl::Duration elapsed, attestation::v1::ReleaseResponse* response) const;
  const Deps deps_;
};

class KeyReleaseServiceImpl final : public attestation::v1::KeyReleaseService::Service {
 public:
  // `trusted_proxies`: load balancers whose x-forwarded-for names the
  // client (server/peer.h); must outlive the service.
  explicit KeyReleaseServiceImpl(const KeyReleaseFace& face,
                                 std::span<const IpNetwork> trusted_proxies = {})
      : face_(face), trusted_proxies_(trusted_proxies) {}
  grpc::Status Release(grpc::ServerContext* context, const attestation::v1::ReleaseRequest* request,
                       attestation::v1::ReleaseResponse* response) override;
  grpc::Status AttestAndRelease(grpc::ServerContext* context,
                                const attestation::v1::AttestAndReleaseRequest* request,
                                attestation::v1::ReleaseResponse* response) override;

 private:
  const KeyReleaseFace& face_;
  const std::span<const IpNetwork> trusted_proxies_;
};

}  // namespace rp::server

#endif  // RP_SERVER_KEY_RELEASE_H_
