// The built-in key release (ARCHITECTURE §10, issue 11 part B): a secret
// leaves only as a JWE to the TEE key an attestation token of ours names in
// cnf.jwk, and only when that token passes, in this order:
//
//   0. the resource is configured                       NOT_FOUND        404
//   1. our signature (current or previous key)          UNAUTHENTICATED  401
//   2. exp / nbf (leeway <= 30 s)                        UNAUTHENTICATED  401
//   3. iss is ours                                       UNAUTHENTICATED  401
//   4. aud names one of the resource's audiences         UNAUTHENTICATED  401
//   5. jti never used before (single use)                UNAUTHENTICATED  401
//                                       (store down:     UNAVAILABLE      503)
//   6. the resource's release rule, pinned to its policy PERMISSION_DENIED 403
//   7. cnf.jwk present, wrappable (ECDH-ES+A256KW / RSA-OAEP-256)
//                                                        PERMISSION_DENIED 403
//   8. the secret from the store                         NOT_FOUND 404 / UNAVAILABLE 503
//   9. JWE (A256GCM) to cnf.jwk — never to a key named in the request; the
//      protected header binds kid (the key's thumbprint), ear_jti and the
//      resource.
//
// Transport-free: the gRPC KeyReleaseService and the REST routes
// (server/) call Release() and turn ReleaseResult into their replies,
// audit lines and metrics. Thread-safe; the interfaces it is given must be.
#ifndef RP_RELEASE_RELEASE_SERVICE_H_
#define RP_RELEASE_RELEASE_SERVICE_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "attestation/v1/config.pb.h"
#include "attestation/v1/policy.pb.h"
#include "nlohmann/json.hpp"
#include "release/secret_store.h"
#include "verifier/common/clock.h"

namespace rp::release {

inline constexpr absl::Duration kMaxTokenLeeway = absl::Seconds(30);

// Verifies that a JWT is ours and valid now: signature with one of our
// published keys (current or previous), exp / nbf with `leeway`. Returns
// the claims. Provided by the server (token/ + key manager).
class TokenAuthority {
 public:
  virtual ~TokenAuthority() = default;
  virtual absl::StatusOr<nlohmann::json> Verify(std::string_view jwt, absl::Time now,
                                                absl::Duration leeway) const = 0;
  // The "iss" our tokens carry.
  virtual std::string Issuer() const = 0;
};

// Single use of token ids. MarkUsed: true the first time, false for a
// replay; an error when the store cannot tell (the release fails closed).
class JtiStore {
 public:
  virtual ~JtiStore() = default;
  virtual absl::StatusOr<bool> MarkUsed(std::string_view jti, absl::Time expires) = 0;
};

// The policy in force with that id (a snapshot that stays valid while the
// pointer lives), or nullptr.
using PolicyResolver =
    std::function<std::shared_ptr<const attestation::v1::Policy>(std::string_view policy_id)>;

struct ReleaseRequest {
  std::string token;     // compact JWT (Authorization: Bearer ...)
  std::string resource;  // <repository>/<type>/<tag>
  bool flattened = false;  // JWE JSON (the KBS Response shape) instead of compact
};

// The outcome, for the reply, the audit line and the metric. `status` is OK
// with `jwe` set, or the denial (code as in the table above) with `reason`
// a stable code and `detail` a human text. Never carries the secret.
struct ReleaseResult {
  absl::Status status;
  std::string reason;  // OK | RESOURCE_UNKNOWN | TOKEN_INVALID | TOKEN_EXPIRED | ...
  std::string detail;
  std::string jwe;
  std::string resource;
  std::string jti;
  std::string policy_id;      // the resource's policy
  std::string policy_sha256;  // from the token
  std::string rule;
  std::vector<std::string> rule_failures;  // the failing rule terms (denials)
};

// The resource table from the server config, validated.
struct ResourceEntry {
  std::string name;
  std::string policy;  // policy id ("" = the server's default policy id)
  std::string rule;    // release rule name in that policy
  std::vector<std::string> audiences;
};

// Checks a KeyReleaseConfig: names valid (<repo>/<type>/<tag>), unique,
// at least one audience each (a token for anyone opens nothing), rule
// named. `default_policy_id` fills empty policy fields.
absl::StatusOr<std::map<std::string, ResourceEntry>> LoadResources(
    const attestation::v1::KeyReleaseConfig& config, const std::string& default_policy_id);

class ReleaseService {
 public:
  struct Deps {
    const Clock& clock;
    const TokenAuthority& tokens;
    JtiStore& jtis;
    const SecretStore& store;
    PolicyResolver policies;
  };
  static absl::StatusOr<std::unique_ptr<ReleaseService>> Create(
      Deps deps, std::map<std::string, ResourceEntry> resources,
      absl::Duration leeway = kMaxTokenLeeway);

  ReleaseResult Release(const ReleaseRequest& request) const;

  const std::map<std::string, ResourceEntry>& resources() const { return resources_; }

 private:
  ReleaseService(Deps deps, std::map<std::string, ResourceEntry> resources,
                 absl::Duration leeway)
      : deps_(std::move(deps)), resources_(std::move(resources)), leeway_(leeway) {}
  const Deps deps_;
  const std::map<std::string, ResourceEntry> resources_;
  const absl::Duration leeway_;
};

}  // namespace rp::release

#endif  // RP_RELEASE_RELEASE_SERVICE_H_
