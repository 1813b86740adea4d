#include "release/release_service.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "policy/release_rules.h"
#include "release/jwe.h"

namespace rp::release {
namespace {

ReleaseResult Deny(ReleaseResult r, absl::StatusCode code, std::string reason,
                   std::string detail) {
  r.status = absl::Status(code, absl::StrCat(reason, ": ", detail));
  r.reason = std::move(reason);
  r.detail = std::move(detail);
  r.jwe.clear();
  return r;
}

std::string StringClaim(const nlohmann::json& claims, const char* name) {
  auto it = claims.find(name);
  return it != claims.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// RFC 7519 §4.1.3: a string or an array of strings.
std::vector<std::string> Audiences(const nlohmann::json& claims) {
  std::vector<std::string> out;
  auto it = claims.find("aud");
  if (it == claims.end()) return out;
  if (it->is_string()) {
    out.push_back(it->get<std::string>());
  } else if (it->is_array()) {
    for (const auto& a : *it) {
      if (a.is_string()) out.push_back(a.get<std::string>());
    }
  }
  return out;
}

// cnf.jwk as our token writes it (policy/appraisal.cc): kty plus the
// thumbprint members and alg. Anything else is refused.
absl::StatusOr<attestation::v1::Jwk> CnfKey(const nlohmann::json& claims) {
  auto cnf = claims.find("cnf");
  if (cnf == claims.end() || !cnf->is_object() || !cnf->contains("jwk") ||
      !(*cnf)["jwk"].is_object()) {
    return absl::FailedPreconditionError(
        "the token has no cnf.jwk: no TEE key is bound to this attestation (GPU-only "
        "evidence, a failed or unchecked binding), so there is nothing to wrap to");
  }
  const nlohmann::json& j = (*cnf)["jwk"];
  attestation::v1::Jwk jwk;
  for (const auto& [k, v] : j.items()) {
    if (!v.is_string()) {
      return absl::InvalidArgumentError(absl::StrCat("cnf.jwk.", k, " is not a string"));
    }
    const std::string s = v.get<std::string>();
    if (k == "kty") jwk.set_kty(s);
    else if (k == "crv") jwk.set_crv(s);
    else if (k == "x") jwk.set_x(s);
    else if (k == "y") jwk.set_y(s);
    else if (k == "n") jwk.set_n(s);
    else if (k == "e") jwk.set_e(s);
    else if (k == "alg") jwk.set_alg(s);
    else if (k == "kid") jwk.set_kid(s);
    else if (k == "use") jwk.set_use(s);
    else return absl::InvalidArgumentError(absl::StrCat("cnf.jwk has an unexpected member '", k.substr(0, 32), "'"));
  }
  return jwk;
}

}  // namespace

absl::StatusOr<std::map<std::string, ResourceEntry>> LoadResources(
    const attestation::v1::KeyReleaseConfig& config, const std::string& default_policy_id) {
  std::map<std::string, ResourceEntry> out;
  for (int i = 0; i < config.resources_size(); ++i) {
    const auto& r = config.resources(i);
    const std::string where = absl::StrCat("key_release.resources[", i, "]");
    if (!IsValidResourceName(r.name())) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ".name: '", r.name().substr(0, 64),
          "' is not <repository>/<type>/<tag> of [A-Za-z0-9._-]"));
    }
    if (r.audiences().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ".audiences: at least one (a token for anyone must not open a secret)"));
    }
    for (const std::string& a : r.audiences()) {
      if (a.empty() || a.size() > 256) {
        return absl::InvalidArgumentError(absl::StrCat(where, ".audiences: 1..256 characters"));
      }
    }
    ResourceEntry e;
    e.name = r.name();
    e.policy = r.policy().empty() ? default_policy_id : r.policy();
    e.rule = r.rule().empty() ? r.name() : r.rule();
    e.audiences.assign(r.audiences().begin(), r.audiences().end());
    if (!out.emplace(e.name, e).second) {
      return absl::InvalidArgumentError(absl::StrCat(where, ".name: '", r.name(), "' twice"));
    }
  }
  return out;
}

absl::StatusOr<std::unique_ptr<ReleaseService>> ReleaseService::Create(
    Deps deps, std::map<std::string, ResourceEntry> resources, absl::Duration leeway) {
  if (leeway < absl::ZeroDuration() || leeway > kMaxTokenLeeway) {
    return absl::InvalidArgumentError("key release: token leeway must be 0..30 s");
  }
  if (!deps.policies) return absl::InvalidArgumentError("key release: no policy resolver");
  return std::unique_ptr<ReleaseService>(
      new ReleaseService(std::move(deps), std::move(resources), leeway));
}

ReleaseResult ReleaseService::Release(const ReleaseRequest& request) const {
  ReleaseResult r;
  r.resource = request.resource.substr(0, 256);
  // 0. Only configured resources exist (no store probing by name).
  auto entry = resources_.find(request.resource);
  if (entry == resources_.end()) {
    return Deny(std::move(r), absl::StatusCode::kNotFound, "RESOURCE_UNKNOWN",
                absl::StrCat("no resource '", r.resource, "' is configured"));
  }
  const ResourceEntry& res = entry->second;
  r.policy_id = res.policy;
  r.rule = res.rule;

  // 1-2. Ours, and valid now.
  const absl::Time now = deps_.clock.Now();
  absl::StatusOr<nlohmann::json> verified = deps_.tokens.Verify(request.token, now, leeway_);
  if (!verified.ok()) {
    const bool expired = verified.status().code() == absl::StatusCode::kUnauthenticated &&
                         (absl::StrContains(verified.status().message(), "expired") ||
                          absl::StrContains(verified.status().message(), "not yet valid"));
    return Deny(std::move(r), absl::StatusCode::kUnauthenticated,
                expired ? "TOKEN_EXPIRED" : "TOKEN_INVALID",
                std::string(verified.status().message()));
  }
  const nlohmann::json& claims = *verified;
  r.jti = StringClaim(claims, "jti").substr(0, 64);
  if (const auto p = claims.find("policy"); p != claims.end() && p->is_object()) {
    r.policy_sha256 = StringClaim(*p, "sha256");
  }

  // 3. Issued by us (a token from another issuer sharing a key is refused).
  if (StringClaim(claims, "iss") != deps_.tokens.Issuer()) {
    return Deny(std::move(r), absl::StatusCode::kUnauthenticated, "TOKEN_ISSUER_MISMATCH",
                absl::StrCat("iss '", StringClaim(claims, "iss").substr(0, 64), "' is not '",
                             deps_.tokens.Issuer(), "'"));
  }
  // 4. Meant for this resource.
  const std::vector<std::string> auds = Audiences(claims);
  const bool aud_ok = std::any_of(auds.begin(), auds.end(), [&](const std::string& a) {
    return std::find(res.audiences.begin(), res.audiences.end(), a) != res.audiences.end();
  });
  if (!aud_ok) {
    return Deny(std::move(r), absl::StatusCode::kUnauthenticated, "TOKEN_AUDIENCE_MISMATCH",
                absl::StrCat("the token's aud [", absl::StrJoin(auds, ", ").substr(0, 256),
                             "] names none of the resource's audiences [",
                             absl::StrJoin(res.audiences, ", "), "]"));
  }
  // 5. Single use.
  if (r.jti.empty()) {
    return Deny(std::move(r), absl::StatusCode::kUnauthenticated, "TOKEN_INVALID",
                "the token has no jti");
  }
  absl::Time exp = now + leeway_;
  if (auto e = claims.find("exp"); e != claims.end() && e->is_number_integer()) {
    exp = absl::FromUnixSeconds(e->get<int64_t>()) + leeway_;
  }
  absl::StatusOr<bool> first = deps_.jtis.MarkUsed(r.jti, exp);
  if (!first.ok()) {
    return Deny(std::move(r), absl::StatusCode::kUnavailable, "JTI_STORE_UNAVAILABLE",
                std::string(first.status().message()));
  }
  if (!*first) {
    return Deny(std::move(r), absl::StatusCode::kUnauthenticated, "TOKEN_REPLAYED",
                absl::StrCat("token jti ", r.jti, " was already used for a release"));
  }
  // 6. The release rule, pinned to the resource's policy.
  std::shared_ptr<const attestation::v1::Policy> pol = deps_.policies(res.policy);
  if (pol == nullptr) {
    return Deny(std::move(r), absl::StatusCode::kPermissionDenied, "POLICY_UNKNOWN",
                absl::StrCat("the resource's policy '", res.policy, "' is not loaded"));
  }
  const attestation::v1::ReleaseRule* rule = policy::FindReleaseRule(*pol, res.rule);
  if (rule == nullptr) {
    return Deny(std::move(r), absl::StatusCode::kPermissionDenied, "RULE_UNKNOWN",
                absl::StrCat("policy '", res.policy, "' has no release rule '", res.rule, "'"));
  }
  policy::RuleResult rr = policy::EvaluatePinnedReleaseRule(*pol, *rule, claims);
  if (!rr.allowed) {
    r.rule_failures = rr.failed;
    return Deny(std::move(r), absl::StatusCode::kPermissionDenied, "RULE_DENIED",
                absl::StrCat("release rule '", res.rule, "' of policy '", res.policy,
                             "' denies: ", absl::StrJoin(rr.failed, "; ")));
  }
  // 7. Wrap only to the key the attestation bound.
  absl::StatusOr<attestation::v1::Jwk> key = CnfKey(claims);
  if (key.ok()) {
    absl::StatusOr<std::string> alg = KeyManagementFor(*key);
    if (!alg.ok()) key = alg.status();
  }
  if (!key.ok()) {
    return Deny(std::move(r), absl::StatusCode::kPermissionDenied, "TEE_KEY_UNUSABLE",
                std::string(key.status().message()));
  }
  // 8. The secret.
  absl::StatusOr<SecretBytes> secret = deps_.store.Get(res.name);
  if (!secret.ok()) {
    const bool missing = secret.status().code() == absl::StatusCode::kNotFound;
    return Deny(std::move(r),
                missing ? absl::StatusCode::kNotFound : absl::StatusCode::kUnavailable,
                missing ? "SECRET_NOT_FOUND" : "STORE_UNAVAILABLE",
                std::string(secret.status().message()));
  }
  // 9. JWE to cnf.jwk, bound to the token and the resource.
  JweOptions options;
  options.extra_protected = {{"ear_jti", r.jti}, {"resource", res.name}};
  options.flattened = request.flattened;
  absl::StatusOr<std::string> jwe = EncryptToJwk(*key, *secret, options);
  Cleanse(*secret);
  if (!jwe.ok()) {
    return Deny(std::move(r), absl::StatusCode::kInternal, "WRAP_FAILED",
                std::string(jwe.status().message()));
  }
  r.status = absl::OkStatus();
  r.reason = "OK";
  r.jwe = *std::move(jwe);
  return r;
}

}  // namespace rp::release
