#include "server/token/token_issuer.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "verifier/common/encoding.h"
#include "verifier/common/status_macros.h"
#include "verifier/crypto/digest.h"
#include "verifier/crypto/keys.h"

namespace rp::token {
namespace {

constexpr size_t kJtiBytes = 16;

absl::string_view Av(std::string_view s) { return {s.data(), s.size()}; }

// JSON text of `value`; refuses invalid UTF-8 instead of throwing.
absl::StatusOr<std::string> DumpJson(const nlohmann::json& value,
                                     std::string_view what) {
  try {
    return value.dump(-1, ' ', /*ensure_ascii=*/false,
                      nlohmann::json::error_handler_t::strict);
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("token: ", Av(what), ": ", e.what()));
  }
}

// At most 64 characters of a client-chosen value, C-escaped, for messages.
std::string Quote(std::string_view value) {
  constexpr size_t kMax = 64;
  std::string out = absl::CHexEscape(
      absl::string_view(value.data(), std::min(value.size(), kMax)));
  if (value.size() > kMax) absl::StrAppend(&out, "...");
  return out;
}

}  // namespace

absl::Status ValidateAudiences(const std::vector<std::string>& audiences,
                               std::string_view field) {
  if (audiences.size() > kMaxAudiences) {
    return absl::InvalidArgumentError(absl::StrCat(Av(field), " has ", audiences.size(),
                                                   " entries, at most ", kMaxAudiences));
  }
  std::set<std::string_view> seen;
  for (size_t i = 0; i < audiences.size(); ++i) {
    const std::string& a = audiences[i];
    const std::string where = absl::StrCat(Av(field), "[", i, "]");
    if (a.empty() || a.size() > kMaxAudienceLength) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, " is ", a.size(), " characters, must be 1..", kMaxAudienceLength));
    }
    for (const char c : a) {
      if (c < 0x21 || c > 0x7e) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, " '", Quote(a),
                         "' must be printable ASCII without spaces or control characters"));
      }
    }
    if (!seen.insert(a).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, " '", a, "' is listed twice"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<TokenIssuer>> TokenIssuer::Create(
    const attestation::v1::TokenConfig& config, Clock& clock,
    KeyManager& keys) {
  absl::StatusOr<JwsAlgorithm> alg = ParseJwsAlgorithm(config.algorithm());
  if (!alg.ok()) {
    return Annotate(alg.status(), "token issuer");
  }
  if (*alg != keys.algorithm()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "token issuer: configured algorithm ", Av(JwsAlgorithmName(*alg)),
        " but the signing keys are for ",
        Av(JwsAlgorithmName(keys.algorithm()))));
  }
  if (config.lifetime_seconds() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "token issuer: lifetime_seconds ", config.lifetime_seconds(), " < 0"));
  }
  const absl::Duration lifetime =
      config.lifetime_seconds() == 0 ? kDefaultTokenLifetime
                                     : absl::Seconds(config.lifetime_seconds());
  std::string issuer =
      config.issuer().empty() ? std::string(kDefaultIssuer) : config.issuer();
  std::vector<std::string> audiences(config.audiences().begin(), config.audiences().end());
  if (absl::Status st = ValidateAudiences(audiences); !st.ok()) {
    return Annotate(st, "token issuer");
  }
  std::string profile = config.profile().empty() ? "compact" : config.profile();
  if (profile != "compact" && profile != "full") {
    return absl::InvalidArgumentError(
        absl::StrCat("token issuer: profile ", Av(profile), " is not compact or full"));
  }
  return std::unique_ptr<TokenIssuer>(new TokenIssuer(
      lifetime, std::move(issuer), std::move(audiences), std::move(profile), clock, keys));
}

absl::Status TokenIssuer::CheckAudience(std::string_view audience) const {
  if (audiences_.empty()) {
    if (audience.empty()) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(
        "audience '", Quote(audience),
        "' is not accepted: this server issues tokens without `aud` (token.audiences is "
        "empty); send no audience"));
  }
  if (audience.empty()) {
    return absl::InvalidArgumentError(
        "audience is required: this server issues tokens only for the audiences in its "
        "token.audiences");
  }
  if (std::find(audiences_.begin(), audiences_.end(), audience) == audiences_.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown audience '", Quote(audience), "' (not in the server's token.audiences)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> TokenIssuer::Issue(nlohmann::json claims, std::string_view audience,
                                               std::string* jti) const {
  if (claims.is_null()) {
    claims = nlohmann::json::object();
  }
  if (!claims.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "token: claims must be a JSON object, not ", claims.type_name()));
  }
  if (absl::Status st = CheckAudience(audience); !st.ok()) {
    return Annotate(st, "token");
  }
  // Snapshot: a concurrent Rotate() cannot change the key under us.
  const std::shared_ptr<const SigningKey> key = keys_.Current();

  const int64_t iat = absl::ToUnixSeconds(clock_.Now());
  claims["iss"] = issuer_;
  claims["iat"] = iat;
  claims["nbf"] = iat;
  claims["exp"] = iat + absl::ToInt64Seconds(lifetime_);
  std::string token_id = Base64UrlEncode(crypto::RandomBytes(kJtiBytes));
  claims["jti"] = token_id;
  if (audience.empty()) {
    claims.erase("aud");
  } else {
    claims["aud"] = std::string(audience);
  }

  const nlohmann::json header = {
      {"alg", std::string(JwsAlgorithmName(key->alg))},
      {"typ", "JWT"},
      {"kid", key->kid}};
  ASSIGN_OR_RETURN(const std::string header_json, DumpJson(header, "header"));
  ASSIGN_OR_RETURN(const std::string payload_json, DumpJson(claims, "claims"));

  std::string jws = absl::StrCat(Base64UrlEncode(AsBytes(header_json)), ".",
                                 Base64UrlEncode(AsBytes(payload_json)));
  absl::StatusOr<Bytes> signature =
      crypto::SignEcdsaP1363(key->key.get(), AsBytes(jws),
                             /*sha384=*/key->alg == JwsAlgorithm::kEs384);
  if (!signature.ok()) {
    return Annotate(signature.status(),
                    absl::StrCat("token: sign with kid ", key->kid));
  }
  absl::StrAppend(&jws, ".", Base64UrlEncode(*signature));
  if (jti != nullptr) *jti = std::move(token_id);
  return jws;
}

}  // namespace rp::token
