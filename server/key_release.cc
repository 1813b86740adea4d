#include "server/key_release.h"

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/rest_api.h"
#include "verifier/common/status_macros.h"
#include "server/token/token_verifier.h"
#include "verifier/crypto/digest.h"

namespace rp::server {
namespace {

using attestation::v1::AttestAndReleaseRequest;
using attestation::v1::ReleaseRequest;
using attestation::v1::ReleaseResponse;

constexpr char kJtiPrefix[] = "rp-release-jti:";

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(static_cast<int>(s.code())),
                      std::string(s.message()));
}

double Ms(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace

absl::StatusOr<nlohmann::json> ServerTokenAuthority::Verify(std::string_view jwt,
                                                            absl::Time now,
                                                            absl::Duration leeway) const {
  const nlohmann::json jwks = nlohmann::json::parse(keys_.JwksJson(), nullptr, false);
  if (!jwks.is_object()) return absl::InternalError("key release: our JWKS is not JSON");
  return token::VerifyToken(jwt, jwks, now, leeway);
}

absl::StatusOr<bool> ReplayJtiStore::MarkUsed(std::string_view jti, absl::Time expires) {
  // Bound the key (jti is ours, 22 characters; anything longer is refused
  // rather than hashed into the nonce space).
  if (jti.empty() || jti.size() > 64) {
    return absl::InvalidArgumentError("key release: jti must be 1..64 characters");
  }
  const std::string key = std::string(kJtiPrefix) + std::string(jti);
  const Bytes digest = crypto::Sha256(AsBytes(key));
  return store_.MarkUsed(digest, expires);
}

absl::StatusOr<std::unique_ptr<release::SecretStore>> OpenConfiguredSecretStore(
    const attestation::v1::SecretStoreConfig& config) {
  release::SecretStoreConfig c;
  c.type = config.type();
  c.dir = config.dir();
  c.pkcs11.module = config.pkcs11().module();
  c.pkcs11.token_label = config.pkcs11().token_label();
  c.pkcs11.pin_file = config.pkcs11().pin_file();
  c.pkcs11.key_label = config.pkcs11().key_label();
  if (c.type.empty()) {
    return absl::InvalidArgumentError("key_release.store.type: directory | pkcs11 (required)");
  }
  absl::StatusOr<std::unique_ptr<release::SecretStore>> s = release::OpenSecretStore(c);
  if (!s.ok()) return Annotate(s.status(), "key_release.store");
  return s;
}

release::PolicyResolver PolicyResolverFor(const PolicyStore& store) {
  return [&store](std::string_view id) -> std::shared_ptr<const attestation::v1::Policy> {
    std::shared_ptr<const PolicySet> set = store.Current();
    const policy::LoadedPolicy* p = set->Find(id);
    if (p == nullptr) return nullptr;
    // Aliasing pointer: keeps the whole snapshot alive while used.
    return std::shared_ptr<const attestation::v1::Policy>(set, &p->policy);
  };
}

grpc::Status KeyReleaseFace::Finish(const release::ReleaseResult& r, const PeerInfo& peer,
                                    absl::Duration elapsed, ReleaseResponse* response) const {
  if (deps_.metrics != nullptr) {
    // Resource label only for configured resources (bounded set).
    const bool known = deps_.release.resources().contains(r.resource);
    deps_.metrics->CountRelease(known ? r.resource : "unknown", r.reason);
  }
  if (deps_.audit != nullptr) {
    ReleaseAuditRecord a;
    a.time = deps_.clock.Now();
    a.peer = peer.has_certificate()
                 ? absl::StrCat(peer.transport, " cert-sha256:", peer.cert_sha256)
                 : peer.transport;
    a.resource = r.resource;
    a.jti = r.jti;
    a.policy_id = r.policy_id;
    a.policy_sha256 = r.policy_sha256;
    a.rule = r.rule;
    a.result = r.reason;
    a.rule_failures = r.rule_failures;
    a.code = absl::StatusCodeToString(r.status.code());
    a.detail = r.status.ok() ? "" : r.detail;
    a.latency_ms = absl::ToDoubleMilliseconds(elapsed);
    deps_.audit->WriteRelease(a);
  }
  if (!r.status.ok()) return ToGrpc(r.status);
  response->set_resource(r.resource);
  response->set_jwe(r.jwe);
  return grpc::Status::OK;
}

grpc::Status KeyReleaseFace::Release(const ReleaseRequest& request, const PeerInfo& peer,
                                     ReleaseResponse* response, int64_t* retry_after_seconds,
                                     absl::Duration max_queue_wait) const {
  const auto start = std::chrono::steady_clock::now();
  // The same per-peer budget as Attest (AttestAndRelease spends it in
  // DoAttest): a flood of releases is throttled like a flood of attests.
  int64_t retry_after = 0;
  if (grpc::Status st = deps_.attestation.AdmitAttestClass(peer, &retry_after); !st.ok()) {
    if (retry_after_seconds != nullptr) *retry_after_seconds = retry_after;
    return grpc::Status(st.error_code(),
                        absl::StrCat(st.error_message(), " (retry after ", retry_after, " s)"));
  }
  // The same admission slots as Attest (token check, secret unwrapping and
  // JWE encryption are public-key work): refused before anything is done,
  // the token's jti stays unspent.
  limits::InflightLimiter::Permit permit;
  if (grpc::Status st =
          deps_.attestation.AdmitWork("Release", max_queue_wait, &permit, retry_after_seconds);
      !st.ok()) {
    return st;
  }
  release::ReleaseRequest r{request.token(), request.resource(), request.flattened()};
  release::ReleaseResult result = deps_.release.Release(r);
  return Finish(result, peer, absl::Milliseconds(Ms(start)), response);
}

grpc::Status KeyReleaseFace::AttestAndRelease(const AttestAndReleaseRequest& request,
                                              const PeerInfo& peer, ReleaseResponse* response,
                                              int64_t* retry_after_seconds,
                                              absl::Duration max_queue_wait) const {
  const auto start = std::chrono::steady_clock::now();
  auto entry = deps_.release.resources().find(request.resource());
  if (entry == deps_.release.resources().end()) {
    release::ReleaseResult r;
    r.resource = request.resource().substr(0, 256);
    r.reason = "RESOURCE_UNKNOWN";
    r.detail = absl::StrCat("no resource '", r.resource, "' is configured");
    r.status = absl::NotFoundError(absl::StrCat(r.reason, ": ", r.detail));
    return Finish(r, peer, absl::Milliseconds(Ms(start)), response);
  }
  attestation::v1::AttestRequest attest;
  *attest.mutable_challenge() = request.challenge();
  *attest.mutable_evidence() = request.evidence();
  attest.set_policy(request.policy());
  // The token is minted for this resource: its audience, unless the caller
  // names another of the resource's audiences.
  attest.set_audience(request.audience().empty() ? entry->second.audiences.front()
                                                 : request.audience());
  attestation::v1::AttestResponse attested;
  // DoAttest takes the admission slot for the attestation (the release
  // that follows is small next to it).
  grpc::Status st =
      deps_.attestation.DoAttest(attest, peer, &attested, retry_after_seconds, max_queue_wait);
  if (!st.ok()) return st;
  *response->mutable_attestation() = attested;
  response->mutable_attestation()->clear_token();  // single use: spent below
  if (attested.token().empty()) {
    // A rejected challenge (replay, expired) issues no token.
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        absl::StrCat("TOKEN_INVALID: attestation issued no token (",
                                     absl::StrJoin(attested.reasons(), ", "), ")"));
  }
  release::ReleaseRequest r{attested.token(), request.resource(), request.flattened()};
  release::ReleaseResult result = deps_.release.Release(r);
  return Finish(result, peer, absl::Milliseconds(Ms(start)), response);
}

std::vector<HttpEndpoint> KeyReleaseFace::Endpoints() const {
  std::vector<HttpEndpoint> out;
  auto reply = [](const grpc::Status& st, const ReleaseResponse& resp,
                  int64_t retry_after_seconds) {
    if (st.ok()) return JsonReply(resp);
    // "REASON: detail" from the release checks; the reason leads the problem.
    const std::string& m = st.error_message();
    const size_t colon = m.find(':');
    const std::string reason =
        colon != std::string::npos && colon < 48 && m.substr(0, colon).find(' ') == std::string::npos
            ? m.substr(0, colon)
            : std::string();
    return ProblemFromStatus(st, reason, retry_after_seconds);
  };
  {
    HttpEndpoint e;
    e.method = "POST";
    e.path = HttpPath::Pattern("/v1/resources/", ":release");
    e.run_on = HttpRunOn::kWorker;
    e.max_body_bytes = deps_.max_release_body_bytes;
    e.handler = [this, reply](const HttpRequest& req) -> HttpReply {
      // The token: Authorization: Bearer <token>, or (for tokens larger
      // than the 16 KiB header cap, e.g. an 8-GPU node's) {"token": ...}
      // in the body. Never both. Any other field that would name a key is
      // refused (unknown field): the secret is wrapped to cnf only.
      std::optional<std::string> bearer = BearerToken(req);
      ReleaseRequest r;
      if (auto bad = ParseJsonBody(req, &r, /*allow_empty=*/true)) return *bad;
      if (!r.resource().empty()) {
        return Problem(400, "INVALID_FIELD", "the resource comes from the path");
      }
      if (bearer && !r.token().empty()) {
        return Problem(400, "INVALID_FIELD", "give the token in Authorization or in the body, not both");
      }
      if (!bearer && r.token().empty()) {
        return Problem(401, "TOKEN_MISSING",
                       "Authorization: Bearer <attestation token> (or {\"token\": ...}) is required");
      }
      if (bearer) r.set_token(*bearer);
      r.set_resource(req.path_param);
      ReleaseResponse resp;
      int64_t retry_after = 0;
      grpc::Status st = Release(r, req.peer, &resp, &retry_after);
      return reply(st, resp, retry_after);
    };
    out.push_back(std::move(e));
  }
  {
    HttpEndpoint e;
    e.method = "POST";
    e.path = HttpPath::Pattern("/v1/resources/", ":attestRelease");
    e.run_on = HttpRunOn::kWorker;
    e.max_body_bytes = deps_.max_attest_body_bytes;
    e.handler = [this, reply](const HttpRequest& req) -> HttpReply {
      AttestAndReleaseRequest r;
      if (auto bad = ParseJsonBody(req, &r)) return *bad;
      if (!r.resource().empty() && r.resource() != req.path_param) {
        return Problem(400, "INVALID_FIELD", "resource comes from the path");
      }
      r.set_resource(req.path_param);
      ReleaseResponse resp;
      int64_t retry_after = 0;
      grpc::Status st = AttestAndRelease(r, req.peer, &resp, &retry_after);
      return reply(st, resp, retry_after);
    };
    out.push_back(std::move(e));
  }
  return out;
}

grpc::Status KeyReleaseServiceImpl::Release(grpc::ServerContext* context,
                                            const ReleaseRequest* request,
                                            ReleaseResponse* response) {
  const PeerInfo peer =
      context != nullptr ? PeerFromContext(*context, trusted_proxies_) : PeerInfo{};
  int64_t retry_after = 0;
  grpc::Status st =
      face_.Release(*request, peer, response, &retry_after, RemainingDeadline(context));
  AddErrorTrailers(context, st, retry_after);
  return st;
}

grpc::Status KeyReleaseServiceImpl::AttestAndRelease(grpc::ServerContext* context,
                                                     const AttestAndReleaseRequest* request,
                                                     ReleaseResponse* response) {
  const PeerInfo peer =
      context != nullptr ? PeerFromContext(*context, trusted_proxies_) : PeerInfo{};
  int64_t retry_after = 0;
  grpc::Status st = face_.AttestAndRelease(*request, peer, response, &retry_after,
                                           RemainingDeadline(context));
  AddErrorTrailers(context, st, retry_after);
  return st;
}

}  // namespace rp::server
