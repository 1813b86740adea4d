#include "server/service.h"

#include <chrono>

#include "server/policy_store.h"
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "policy/release_rules.h"
#include "verifier/common/encoding.h"
#include "verifier/core/result.h"
#include "verifier/core/runtime_claims.h"
#include "verifier/crypto/digest.h"

namespace rp::server {
namespace {

// The reason of an Attest that failed because collateral (or an OCSP answer)
// could not be fetched after the challenge was spent (docs/reasons.md).
constexpr char kCollateralUnavailable[] = "COLLATERAL_UNAVAILABLE";

using attestation::v1::AttestRequest;
using attestation::v1::AttestResponse;
using attestation::v1::Challenge;
using attestation::v1::Jwks;

// Wall-clock independent timer for latency metrics (the injected Clock is
// the verification time, which tests freeze).
class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  absl::Duration Elapsed() const {
    return absl::FromChrono(std::chrono::steady_clock::now() - start_);
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

std::string CodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(
      static_cast<absl::StatusCode>(static_cast<int>(code)));
}

// Metric label for a rejected challenge (bounded set).
std::string_view RejectLabel(nonce::ChallengeOutcome outcome) {
  switch (outcome) {
    case nonce::ChallengeOutcome::kExpired:
      return "expired";
    case nonce::ChallengeOutcome::kReplayed:
      return "replayed";
    case nonce::ChallengeOutcome::kStoreError:
      return "store_unavailable";
    case nonce::ChallengeOutcome::kOk:
    case nonce::ChallengeOutcome::kInvalid:
      break;
  }
  return "invalid";
}

std::string VerdictLabel(attestation::v1::Verdict v) {
  switch (v) {
    case attestation::v1::AFFIRMING:
      return "affirming";
    case attestation::v1::WARNING:
      return "warning";
    default:
      return "contraindicated";
  }
}

}  // namespace

PolicySet::PolicySet(policy::LoadedPolicy default_policy) {
  std::string id = default_policy.id;
  auto [it, inserted] =
      by_id_.emplace(std::move(id), std::move(default_policy));
  default_ = &it->second;
}

absl::Status PolicySet::Add(policy::LoadedPolicy p) {
  std::string id = p.id;
  if (by_id_.contains(id)) {
    return absl::AlreadyExistsError(
        absl::StrCat("policy '", id, "' is already loaded"));
  }
  by_id_.emplace(std::move(id), std::move(p));
  return absl::OkStatus();
}

const policy::LoadedPolicy* PolicySet::Find(std::string_view name) const {
  if (name.empty()) {
    return default_;
  }
  // "id" or "id@version" (the form responses and tokens carry).
  std::string_view version;
  if (const size_t at = name.find('@'); at != std::string_view::npos) {
    version = name.substr(at + 1);
    name = name.substr(0, at);
  }
  auto it = by_id_.find(name);
  if (it == by_id_.end()) {
    return nullptr;
  }
  if (!version.empty() && version != it->second.version) {
    return nullptr;
  }
  return &it->second;
}

std::string PolicyRef(const policy::LoadedPolicy& p) {
  return absl::StrCat(p.id, "@", p.version);
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) {
    return grpc::Status::OK;
  }
  return grpc::Status(
      static_cast<grpc::StatusCode>(static_cast<int>(status.code())),
      std::string(status.message()));
}

nlohmann::json ClaimsOfToken(std::string_view jwt) {
  const size_t dot1 = jwt.find('.');
  if (dot1 == std::string_view::npos) {
    return nlohmann::json(nlohmann::json::value_t::discarded);
  }
  const size_t dot2 = jwt.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos ||
      jwt.find('.', dot2 + 1) != std::string_view::npos) {
    return nlohmann::json(nlohmann::json::value_t::discarded);
  }
  auto payload = Base64Decode(jwt.substr(dot1 + 1, dot2 - dot1 - 1));
  if (!payload.ok()) {
    return nlohmann::json(nlohmann::json::value_t::discarded);
  }
  return nlohmann::json::parse(payload->begin(), payload->end(), nullptr,
                               /*allow_exceptions=*/false);
}

absl::StatusOr<policy::EarOptions> EarOptionsFor(const policy::LoadedPolicy& pol,
                                                 std::string_view server_profile) {
  const std::string_view name =
      pol.policy.token_profile().empty() ? server_profile : pol.policy.token_profile();
  absl::StatusOr<policy::TokenProfile> profile = policy::ParseTokenProfile(
      name.empty() ? "compact" : name,
      pol.policy.token_profile().empty() ? "token.profile" : "policy token_profile");
  if (!profile.ok()) return profile.status();
  policy::EarOptions out;
  out.profile = *profile;
  policy::TokenNeeds needs = policy::ReleaseRuleTokenNeeds(pol.policy);
  out.extra_claims = std::move(needs.device_claims);
  out.extra_device_members = std::move(needs.device_members);
  return out;
}

std::string JtiOfToken(std::string_view jwt) {
  const nlohmann::json claims = ClaimsOfToken(jwt);
  if (!claims.is_object()) {
    return "";
  }
  auto it = claims.find("jti");
  if (it == claims.end() || !it->is_string()) {
    return "";
  }
  return it->get<std::string>();
}

namespace {

// RESOURCE_EXHAUSTED carries its hint twice: in the message for people and
// as a `retry-after` trailer for clients.
void AddRetryAfter(grpc::ServerContext* context, const grpc::Status& status, int64_t seconds) {
  if (context != nullptr && status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
      seconds > 0) {
    context->AddTrailingMetadata(kRetryAfterMetadata, absl::StrCat(seconds));
  }
}

}  // namespace

std::string_view LeadingReason(std::string_view message) {
  const size_t colon = message.find(": ");
  if (colon == std::string_view::npos || colon == 0 || colon > 64) return {};
  for (char c : message.substr(0, colon)) {
    if (!((c >= 'A' && c <= 'Z') || c == '_' || (c >= '0' && c <= '9'))) return {};
  }
  return message.substr(0, colon);
}

grpc::Status AttestationServiceImpl::GetChallenge(
    grpc::ServerContext* context,
    const attestation::v1::GetChallengeRequest*, Challenge* response) {
  const PeerInfo peer =
      context != nullptr ? PeerFromContext(*context, deps_.trusted_proxies) : PeerInfo{};
  int64_t retry_after = 0;
  grpc::Status st = DoGetChallenge(peer, response, &retry_after);
  AddRetryAfter(context, st, retry_after);
  return st;
}

void AddErrorTrailers(grpc::ServerContext* context, const grpc::Status& status,
                      int64_t retry_after_seconds) {
  if (context == nullptr || status.ok()) return;
  AddRetryAfter(context, status, retry_after_seconds);
  const std::string message = status.error_message();  // by value in gRPC 1.51
  if (std::string_view reason = LeadingReason(message); !reason.empty()) {
    context->AddTrailingMetadata(kReasonMetadata, std::string(reason));
  }
}

absl::Duration RemainingDeadline(const grpc::ServerContext* context) {
  if (context == nullptr) return absl::InfiniteDuration();
  const auto deadline = context->deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return absl::InfiniteDuration();
  const auto now = std::chrono::system_clock::now();
  if (deadline <= now) return absl::ZeroDuration();
  return absl::FromChrono(deadline - now);
}

grpc::Status AttestationServiceImpl::Attest(grpc::ServerContext* context,
                                            const AttestRequest* request,
                                            AttestResponse* response) {
  const PeerInfo peer =
      context != nullptr ? PeerFromContext(*context, deps_.trusted_proxies) : PeerInfo{};
  int64_t retry_after = 0;
  grpc::Status st =
      DoAttest(*request, peer, response, &retry_after, RemainingDeadline(context));
  AddErrorTrailers(context, st, retry_after);
  return st;
}

grpc::Status AttestationServiceImpl::AdmitWork(std::string_view rpc, absl::Duration max_wait,
                                               limits::InflightLimiter::Permit* permit,
                                               int64_t* retry_after_seconds) const {
  if (deps_.inflight == nullptr) return grpc::Status::OK;
  limits::InflightLimiter::Outcome o = deps_.inflight->Acquire(max_wait);
  if (o.admitted()) {
    *permit = std::move(o.permit);
    return grpc::Status::OK;
  }
  // A slot frees up within one service time; a whole second is the
  // smallest hint retry-after can carry.
  constexpr int64_t kBusyRetryAfterSeconds = 1;
  if (retry_after_seconds != nullptr) *retry_after_seconds = kBusyRetryAfterSeconds;
  if (deps_.metrics != nullptr) {
    deps_.metrics->CountRequest(rpc, "RESOURCE_EXHAUSTED");
    deps_.metrics->CountAdmissionRejected(rpc, limits::RefusalName(o.refusal));
  }
  const std::string what = absl::AsciiStrToLower(std::string(rpc));
  return ToGrpcStatus(limits::BusyStatus(what, o.refusal, deps_.inflight->limits(),
                                         kBusyRetryAfterSeconds));
}

grpc::Status AttestationServiceImpl::GetJwks(
    grpc::ServerContext* /*context*/, const attestation::v1::GetJwksRequest*,
    Jwks* response) {
  return DoGetJwks(response);
}

grpc::Status AttestationServiceImpl::Admit(limits::Rpc rpc, const PeerInfo& peer,
                                           int64_t* retry_after_seconds) const {
  if (deps_.limiter == nullptr) return grpc::Status::OK;
  const limits::Admission a = deps_.limiter->Admit(rpc, peer.RateKey());
  if (a.ok()) return grpc::Status::OK;
  const grpc::Status st = ToGrpcStatus(a.status);
  if (retry_after_seconds != nullptr) *retry_after_seconds = a.retry_after_seconds;
  if (deps_.metrics != nullptr) {
    const std::string_view rpc_name = limits::RpcName(rpc);
    deps_.metrics->CountRequest(rpc_name, CodeName(st.error_code()));
    if (st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      deps_.metrics->CountThrottled(rpc_name, "peer_rate");
    }
  }
  return st;
}

grpc::Status AttestationServiceImpl::DoGetChallenge(Challenge* response) const {
  return DoGetChallenge(PeerInfo{}, response);
}

grpc::Status AttestationServiceImpl::DoGetChallenge(const PeerInfo& peer, Challenge* response,
                                                    int64_t* retry_after_seconds) const {
  // A throttled peer does not get to spend the global budget.
  if (grpc::Status st = Admit(limits::Rpc::kGetChallenge, peer, retry_after_seconds); !st.ok()) {
    return st;
  }
  if (deps_.challenges != nullptr) {
    const limits::RateDecision d = deps_.challenges->TryIssue();
    if (!d.allowed) {
      const int64_t seconds = limits::RetryAfterSeconds(d.retry_after);
      if (retry_after_seconds != nullptr) *retry_after_seconds = seconds;
      if (deps_.metrics != nullptr) {
        deps_.metrics->CountRequest("GetChallenge", "RESOURCE_EXHAUSTED");
        deps_.metrics->CountThrottled("GetChallenge", "challenge_budget");
      }
      return grpc::Status(
          grpc::StatusCode::RESOURCE_EXHAUSTED,
          absl::StrCat("challenges: ", deps_.challenges->max_outstanding(),
                       " issued and unexpired (nonce.max_outstanding_challenges); retry after ",
                       seconds, " s"));
    }
  }
  *response = deps_.nonces.Issue();
  if (deps_.metrics != nullptr) {
    deps_.metrics->CountNonceIssued();
    deps_.metrics->CountRequest("GetChallenge", "OK");
  }
  return grpc::Status::OK;
}

grpc::Status AttestationServiceImpl::DoGetJwks(Jwks* response) const {
  *response = deps_.keys.Jwks();
  if (deps_.metrics != nullptr) {
    deps_.metrics->CountRequest("GetJwks", "OK");
  }
  return grpc::Status::OK;
}

grpc::Status AttestationServiceImpl::DoAttest(const AttestRequest& request,
                                              const std::string& peer,
                                              AttestResponse* response) const {
  return DoAttest(request, PeerFromString(peer), response);
}

grpc::Status AttestationServiceImpl::DoAttest(const AttestRequest& request, const PeerInfo& peer,
                                              AttestResponse* response,
                                              int64_t* retry_after_seconds,
                                              absl::Duration max_queue_wait) const {
  // Throttled requests are counted, not audited: a flood must not become an
  // audit-log flood.
  if (grpc::Status st = Admit(limits::Rpc::kAttest, peer, retry_after_seconds); !st.ok()) {
    return st;
  }
  // Admission control: a slot (or a bounded wait for one) before anything
  // is looked at; a refused request consumes nothing (no challenge, no
  // audit line) and is counted.
  limits::InflightLimiter::Permit permit;
  if (grpc::Status st = AdmitWork("Attest", max_queue_wait, &permit, retry_after_seconds);
      !st.ok()) {
    return st;
  }
  const Stopwatch total;
  AuditRecord audit;
  audit.time = deps_.clock.Now();
  audit.peer = peer.has_certificate() ? absl::StrCat(peer.transport, " cert-sha256:",
                                                     peer.cert_sha256)
                                      : peer.transport;
  grpc::Status status = AttestImpl(request, peer, response, &audit, retry_after_seconds);
  const absl::Duration elapsed = total.Elapsed();

  audit.code = CodeName(status.error_code());
  audit.latency_ms = absl::ToDoubleMilliseconds(elapsed);
  if (status.ok()) {
    audit.verdict = VerdictLabel(response->verdict());
    audit.reasons.assign(response->reasons().begin(),
                         response->reasons().end());
    for (const auto& s : response->submods()) {
      audit.devices.push_back({s.name(), s.tee(), VerdictLabel(s.status())});
    }
  } else {
    audit.error = status.error_message();
  }
  if (audit.request_id.empty()) {
    // No token (rejected challenge or error): a random id still lets an
    // operator correlate the audit line with the client's report.
    const Bytes id = crypto::RandomBytes(16);
    audit.request_id = absl::StrCat("req-", HexEncode(id));
  }
  if (deps_.metrics != nullptr) {
    deps_.metrics->CountRequest("Attest", audit.code);
    if (status.ok()) {
      std::vector<std::string_view> tees;
      for (const AuditDevice& d : audit.devices) tees.push_back(d.tee);
      deps_.metrics->CountAttestation(audit.policy_id, audit.verdict, AttestationTee(tees));
    }
    deps_.metrics->ObserveStage(Stage::kTotal, elapsed);
  }
  if (deps_.audit != nullptr) {
    deps_.audit->Write(audit);
  }
  return status;
}

grpc::Status AttestationServiceImpl::AttestImpl(const AttestRequest& request,
                                                const PeerInfo& peer, AttestResponse* response,
                                                AuditRecord* audit,
                                                int64_t* retry_after_seconds) const {
  // (a) Size. gRPC's receive limit is set above this so that the check
  // happens here, with a message that names both numbers.
  const size_t size = request.ByteSizeLong();
  if (size > static_cast<size_t>(options_.max_request_bytes)) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("request is ", size, " bytes, limit ",
                                     options_.max_request_bytes));
  }
  // (b) Shape.
  if (!request.has_challenge()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "attest: challenge is missing");
  }
  if (!request.has_evidence()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "attest: evidence is missing");
  }
  audit->nonce_sha256_prefix =
      NonceHashPrefix(AsBytes(request.challenge().nonce()));

  // (c) Policy, before the challenge is consumed: a malformed request must
  // not burn the client's challenge.
  // One snapshot for the whole request: the token carries exactly the
  // policy it was appraised with, even if a reload happens meanwhile.
  const std::shared_ptr<const PolicySet> policies = deps_.policies.Current();
  // The relying party chooses the policy, not the attester: a client may
  // name a policy other than the default only when policy_clients lists it
  // for that policy. Refused loudly (no fallback to the default): a client
  // asking for a policy it may not use should know.
  if (!request.policy().empty()) {
    const std::string& name = request.policy();
    const std::string_view id = std::string_view(name).substr(0, name.find('@'));
    const bool is_default = id == policies->default_policy().id;
    const bool allowed = is_default || (deps_.policy_access != nullptr &&
                                        deps_.policy_access->Allows(id, peer));
    if (!allowed) {
      return grpc::Status(
          grpc::StatusCode::PERMISSION_DENIED,
          absl::StrCat("attest: this client may not choose policy '", name.substr(0, 64),
                       "' (server config policy_clients); send no policy to be appraised "
                       "with the server default"));
    }
  }
  const policy::LoadedPolicy* pol = policies->Find(request.policy());
  if (pol == nullptr) {
    // The name is client-chosen; keep it out of unbounded places (metrics)
    // and cap its length in the message.
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("attest: unknown policy '",
                                     request.policy().substr(0, 64), "'"));
  }
  audit->policy_id = PolicyRef(*pol);
  audit->policy_sha256 = pol->sha256_hex;

  // (c') Audience, also before the challenge is consumed. The token's `aud`
  // comes only from the request and only from the configured list: with no
  // token.audiences the request must name none (the token has no `aud`, as
  // before); with some, it must name one of them (so an `aud`-checking gate
  // never sees a token without one). Anything else is refused loudly.
  if (absl::Status st = deps_.tokens.CheckAudience(request.audience()); !st.ok()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("attest: ", st.message()));
  }

  // (d) Challenge: authentic, unexpired, first use.
  const Stopwatch nonce_timer;
  const nonce::ChallengeCheck check = deps_.nonces.Consume(request.challenge());
  if (deps_.metrics != nullptr) {
    deps_.metrics->ObserveStage(Stage::kNonce, nonce_timer.Elapsed());
  }
  if (!check.ok()) {
    if (deps_.metrics != nullptr) {
      deps_.metrics->CountNonceRejected(RejectLabel(check.outcome));
    }
    if (check.outcome == nonce::ChallengeOutcome::kStoreError &&
        check.store_code == absl::StatusCode::kResourceExhausted) {
      // The store is full of unexpired nonces (the challenge budget should
      // prevent this on a single replica): not recorded, so not consumed;
      // the client may retry the same challenge while it is unexpired.
      constexpr int64_t kStoreFullRetryAfterSeconds = 5;
      if (retry_after_seconds != nullptr) *retry_after_seconds = kStoreFullRetryAfterSeconds;
      if (deps_.metrics != nullptr) deps_.metrics->CountThrottled("Attest", "replay_store_full");
      return grpc::Status(
          grpc::StatusCode::RESOURCE_EXHAUSTED,
          absl::StrCat("attest: replay store full: ", check.detail, "; retry after ",
                       kStoreFullRetryAfterSeconds, " s"));
    }
    if (check.outcome == nonce::ChallengeOutcome::kStoreError) {
      // Cannot tell whether this is a replay: fail closed, but retryable.
      // The message starts with the reason code (the REST face maps it to
      // the problem's reason).
      return grpc::Status(
          grpc::StatusCode::UNAVAILABLE,
          absl::StrCat(check.reason, ": attest: the single-use nonce store did not answer, so "
                       "no token was issued (retry with a new challenge): ", check.detail));
    }
    // A bad challenge is a verdict (STYLE §5), not a transport error. No
    // evidence is looked at and no token is issued.
    response->Clear();
    response->set_verdict(attestation::v1::CONTRAINDICATED);
    auto* c = response->add_checks();
    c->set_name("nonce");
    c->set_status(attestation::v1::FAIL);
    c->set_reason(check.reason);
    c->set_detail(check.detail);
    response->add_reasons(check.reason);
    response->set_policy_id(PolicyRef(*pol));
    response->set_policy_sha256(pol->sha256_hex);
    return grpc::Status::OK;
  }

  // (e) Verify and appraise at the current time, against this challenge.
  const Stopwatch verify_timer;
  appraisal::RunOptions run;
  run.at = deps_.clock.Now();
  const std::string& nonce = request.challenge().nonce();
  run.expected_nonce = Bytes(nonce.begin(), nonce.end());
  absl::StatusOr<policy::Appraisal> appraisal =
      deps_.engine.Run(request.evidence(), *pol, run);
  if (deps_.metrics != nullptr) {
    deps_.metrics->ObserveStage(Stage::kVerify, verify_timer.Elapsed());
  }
  if (!appraisal.ok()) {
    const absl::StatusCode code = appraisal.status().code();
    if (code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded) {
      // An upstream (collateral source, OCSP responder) failed after the
      // challenge was spent: fail closed, and say so the way the nonce
      // store does (the reason leads the message; Attest() copies it into
      // the rp-reason trailer, the REST face into the problem's reason), so
      // a client retries with a new challenge instead of replaying this one.
      return grpc::Status(
          grpc::StatusCode::UNAVAILABLE,
          absl::StrCat(kCollateralUnavailable,
                       ": attest: collateral could not be obtained, so no token was issued "
                       "(the challenge is spent: retry with a new challenge): ",
                       appraisal.status().message()));
    }
    return ToGrpcStatus(appraisal.status());
  }

  // (f) Token: EAR claims bound to the TEE key (cnf), in the policy's
  // token profile (else the server's), with the SHA-256 of the full result
  // that the response carries (result_json).
  const Stopwatch token_timer;
  const attestation::v1::Jwk* tee_key =
      request.evidence().has_tee_public_key()
          ? &request.evidence().tee_public_key()
          : nullptr;
  absl::StatusOr<std::string> result_json = appraisal->CanonicalResultJson();
  if (!result_json.ok()) {
    return grpc::Status(grpc::StatusCode::INTERNAL,
                        absl::StrCat("attest: result: ", result_json.status().message()));
  }
  absl::StatusOr<policy::EarOptions> ear = EarOptionsFor(*pol, deps_.tokens.profile());
  if (!ear.ok()) {
    return grpc::Status(grpc::StatusCode::INTERNAL,
                        absl::StrCat("attest: token: ", ear.status().message()));
  }
  ear->result_sha256 = HexEncode(crypto::Sha256(AsBytes(*result_json)));
  absl::StatusOr<std::string> token =
      deps_.tokens.Issue(appraisal->EarClaims(tee_key, deps_.tokens.issuer(), *ear),
                         request.audience(), &audit->request_id);
  if (deps_.metrics != nullptr) {
    deps_.metrics->ObserveStage(Stage::kToken, token_timer.Elapsed());
  }
  if (!token.ok()) {
    // Our claims failed to sign: a bug or a broken key, never the client's
    // fault.
    return grpc::Status(
        grpc::StatusCode::INTERNAL,
        absl::StrCat("attest: token: ", token.status().message()));
  }
  response->Clear();
  appraisal->ToProto(response);
  response->set_result_json(*std::move(result_json));
  response->set_token(*std::move(token));

  // (g) Fleet node registry: an appraisal whose bound runtime claims name a
  // node updates that node's record (whatever the verdict), from the claims
  // exactly as signed. A registry failure does not fail the attestation; it
  // is counted (rp_fleet_record_errors_total).
  if (deps_.fleet != nullptr && appraisal->runtime_claims.has_value() &&
      appraisal->runtime_claims->contains(core::kRuntimeClaimNode)) {
    absl::StatusOr<std::optional<admission::fleet::NodeRecord>> record =
        admission::fleet::RecordFromTokenClaims(ClaimsOfToken(response->token()));
    if (record.ok() && record->has_value()) {
      (void)deps_.fleet->Record(**std::move(record));
    }
  }
  return grpc::Status::OK;
}

}  // namespace rp::server
