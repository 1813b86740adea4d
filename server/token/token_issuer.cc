#include "server/token/token_issuer.h"

#include <utility>

#include "absl/status/status.h"
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

}  // namespace

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
  return std::unique_ptr<TokenIssuer>(
      new TokenIssuer(lifetime, std::move(issuer), clock, keys));
}

absl::StatusOr<std::string> TokenIssuer::Issue(nlohmann::json claims) const {
  if (claims.is_null()) {
    claims = nlohmann::json::object();
  }
  if (!claims.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "token: claims must be a JSON object, not ", claims.type_name()));
  }
  // Snapshot: a concurrent Rotate() cannot change the key under us.
  const std::shared_ptr<const SigningKey> key = keys_.Current();

  const int64_t iat = absl::ToUnixSeconds(clock_.Now());
  claims["iss"] = issuer_;
  claims["iat"] = iat;
  claims["nbf"] = iat;
  claims["exp"] = iat + absl::ToInt64Seconds(lifetime_);
  claims["jti"] = Base64UrlEncode(crypto::RandomBytes(kJtiBytes));

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
  return jws;
}

}  // namespace rp::token
