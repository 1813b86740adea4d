#include "server/token/token_verifier.h"

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "server/token/key_manager.h"
#include "verifier/common/clock.h"
#include "verifier/common/encoding.h"
#include "verifier/common/strict_json.h"
#include "verifier/common/status_macros.h"
#include "verifier/crypto/keys.h"
#include "verifier/crypto/signature.h"

namespace rp::token {
namespace {

using nlohmann::json;

std::string_view Sv(absl::string_view s) { return {s.data(), s.size()}; }
absl::string_view Av(std::string_view s) { return {s.data(), s.size()}; }

// Our claims nest a handful of levels (submods -> device -> claims -> ...).
constexpr int kMaxJsonDepth = 32;

absl::Status Invalid(absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("jwt: ", message));
}

bool IsBase64UrlChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '_';
}

// RFC 7515 §2 base64url: URL alphabet only, no padding, no whitespace,
// canonical trailing bits (so each token has exactly one spelling).
absl::StatusOr<Bytes> DecodePart(absl::string_view part,
                                 absl::string_view name) {
  if (part.empty()) {
    return Invalid(absl::StrCat(name, " is empty"));
  }
  for (size_t i = 0; i < part.size(); ++i) {
    if (!IsBase64UrlChar(part[i])) {
      return Invalid(absl::StrFormat(
          "%s: character %d is not unpadded base64url", name, i));
    }
  }
  absl::StatusOr<Bytes> bytes = Base64Decode(Sv(part));
  if (!bytes.ok()) {
    return Invalid(absl::StrCat(name, ": ", bytes.status().message()));
  }
  return bytes;
}

// A JSON object with no duplicate member names at any level (RFC 7515 §5.2
// allows rejecting them; accepting "last wins" would let two parsers read
// one token differently) and bounded nesting.
absl::StatusOr<json> ParseObject(std::span<const uint8_t> bytes,
                                 absl::string_view name) {
  absl::StatusOr<json> parsed = ParseStrictJsonObject(bytes, name, kMaxJsonDepth);
  if (!parsed.ok()) return Invalid(parsed.status().message());
  return parsed;
}

absl::StatusOr<std::string> StringMember(const json& object, const char* member,
                                         absl::string_view where) {
  const auto it = object.find(member);
  if (it == object.end()) {
    return Invalid(absl::StrCat(where, " has no \"", member, "\""));
  }
  if (!it->is_string()) {
    return Invalid(absl::StrCat(where, " \"", member, "\" is not a string"));
  }
  return it->get<std::string>();
}

// The JWKS entry the token names, checked against the algorithm.
absl::StatusOr<crypto::OpensslPtr<EVP_PKEY>> FindKey(const json& jwks,
                                                     absl::string_view kid,
                                                     JwsAlgorithm alg) {
  if (!jwks.is_object() || !jwks.contains("keys") || !jwks["keys"].is_array()) {
    return Invalid("JWKS is not an object with a \"keys\" array");
  }
  const json* found = nullptr;
  for (const json& key : jwks["keys"]) {
    if (!key.is_object()) {
      continue;
    }
    const auto kid_it = key.find("kid");
    if (kid_it == key.end() || !kid_it->is_string() ||
        kid_it->get<std::string>() != kid) {
      continue;
    }
    if (found != nullptr) {
      return Invalid(absl::StrCat("kid \"", kid,
                                  "\" names more than one key in the JWKS"));
    }
    found = &key;
  }
  if (found == nullptr) {
    return absl::NotFoundError(absl::StrCat("jwt: kid \"", kid,
                                            "\" is not in the JWKS (",
                                            jwks["keys"].size(), " keys)"));
  }
  const json& key = *found;
  const std::string where = absl::StrCat("JWKS key \"", kid, "\"");
  ASSIGN_OR_RETURN(const std::string kty, StringMember(key, "kty", where));
  ASSIGN_OR_RETURN(const std::string crv, StringMember(key, "crv", where));
  if (kty != "EC") {
    return Invalid(absl::StrCat(where, " has kty \"", kty, "\", ",
                                Av(JwsAlgorithmName(alg)), " needs EC"));
  }
  // The curve must be the one the algorithm names: a P-384 key must not
  // verify an "ES256" token (RFC 7518 §3.4 ties each alg to one curve).
  if (crv != Av(JwsAlgorithmCurve(alg))) {
    return Invalid(absl::StrCat(where, " is on ", crv, " but the token's alg ",
                                Av(JwsAlgorithmName(alg)), " needs ",
                                Av(JwsAlgorithmCurve(alg))));
  }
  if (const auto it = key.find("alg"); it != key.end()) {
    if (!it->is_string() ||
        it->get<std::string>() != Av(JwsAlgorithmName(alg))) {
      return Invalid(absl::StrCat(where, " has alg ", it->dump(),
                                  ", the token says ",
                                  Av(JwsAlgorithmName(alg))));
    }
  }
  if (const auto it = key.find("use"); it != key.end()) {
    if (!it->is_string() || it->get<std::string>() != "sig") {
      return Invalid(
          absl::StrCat(where, " has use ", it->dump(), ", not \"sig\""));
    }
  }
  if (const auto it = key.find("key_ops"); it != key.end()) {
    bool verify = false;
    if (it->is_array()) {
      for (const json& op : *it) {
        verify =
            verify || (op.is_string() && op.get<std::string>() == "verify");
      }
    }
    if (!verify) {
      return Invalid(absl::StrCat(where, " key_ops ", it->dump(),
                                  " does not allow verify"));
    }
  }
  crypto::JwkPublic jwk;
  jwk.kty = kty;
  jwk.crv = crv;
  ASSIGN_OR_RETURN(jwk.x, StringMember(key, "x", where));
  ASSIGN_OR_RETURN(jwk.y, StringMember(key, "y", where));
  absl::StatusOr<crypto::OpensslPtr<EVP_PKEY>> pkey =
      crypto::EcPublicKeyFromJwk(jwk);
  if (!pkey.ok()) {
    return Invalid(absl::StrCat(where, ": ", pkey.status().message()));
  }
  return pkey;
}

// RFC 7519 §2 NumericDate: seconds since the epoch, integer or not.
absl::StatusOr<std::optional<absl::Time>> NumericDate(const json& claims,
                                                      const char* name) {
  const auto it = claims.find(name);
  if (it == claims.end()) {
    return std::optional<absl::Time>();
  }
  if (it->is_number_unsigned()) {
    const uint64_t v = it->get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return std::optional<absl::Time>(absl::InfiniteFuture());
    }
    return std::optional<absl::Time>(
        absl::FromUnixSeconds(static_cast<int64_t>(v)));
  }
  if (it->is_number_integer()) {
    return std::optional<absl::Time>(absl::FromUnixSeconds(it->get<int64_t>()));
  }
  if (it->is_number_float()) {
    // absl::Seconds saturates to an infinite duration when out of range.
    return std::optional<absl::Time>(absl::UnixEpoch() +
                                     absl::Seconds(it->get<double>()));
  }
  return Invalid(
      absl::StrCat("claim \"", name, "\" is not a NumericDate: ", it->dump()));
}

}  // namespace

absl::StatusOr<json> VerifyToken(std::string_view jwt_in, const json& jwks,
                                 absl::Time now, absl::Duration leeway) {
  const absl::string_view jwt(jwt_in.data(), jwt_in.size());
  if (leeway < absl::ZeroDuration()) {
    return Invalid("leeway must not be negative");
  }
  if (jwt.size() > kMaxTokenBytes) {
    return Invalid(absl::StrFormat("token is %d bytes, limit %d", jwt.size(),
                                   kMaxTokenBytes));
  }
  const std::vector<absl::string_view> parts = absl::StrSplit(jwt, '.');
  if (parts.size() != 3) {
    return Invalid(absl::StrFormat(
        "expected 3 dot-separated parts (JWS compact serialization), got %d",
        parts.size()));
  }

  // Header: decides the algorithm and the key, so it is parsed before the
  // signature is checked; the payload is not.
  ASSIGN_OR_RETURN(const Bytes header_bytes, DecodePart(parts[0], "header"));
  ASSIGN_OR_RETURN(const json header, ParseObject(header_bytes, "header"));
  ASSIGN_OR_RETURN(const std::string alg_name,
                   StringMember(header, "alg", "header"));
  // An allowlist, not a denylist: "none" and HMAC algorithms would let the
  // token pick a key type the JWKS never vouched for.
  if (alg_name != "ES256" && alg_name != "ES384") {
    return Invalid(absl::StrCat("header alg \"", alg_name,
                                "\" is not accepted (only ES256 and ES384)"));
  }
  const JwsAlgorithm alg =
      alg_name == "ES384" ? JwsAlgorithm::kEs384 : JwsAlgorithm::kEs256;
  if (header.contains("crit")) {
    return Invalid(
        "header has \"crit\"; no critical extensions are understood");
  }
  if (const auto it = header.find("typ"); it != header.end()) {
    if (!it->is_string() || it->get<std::string>() != "JWT") {
      return Invalid(
          absl::StrCat("header typ ", it->dump(), " is not \"JWT\""));
    }
  }
  ASSIGN_OR_RETURN(const std::string kid,
                   StringMember(header, "kid", "header"));
  // Payload and signature must be well-formed base64url (so an "alg":"none"
  // token is refused for its alg above, an empty payload here).
  ASSIGN_OR_RETURN(const Bytes payload_bytes, DecodePart(parts[1], "payload"));
  ASSIGN_OR_RETURN(const Bytes signature, DecodePart(parts[2], "signature"));
  ASSIGN_OR_RETURN(const crypto::OpensslPtr<EVP_PKEY> key,
                   FindKey(jwks, kid, alg));

  // The signing input is the encoded header and payload exactly as sent.
  const absl::string_view signing_input =
      jwt.substr(0, parts[0].size() + 1 + parts[1].size());
  const absl::Status sig_status = crypto::VerifyEcdsaP1363(
      key.get(), AsBytes(Sv(signing_input)), signature,
      alg == JwsAlgorithm::kEs384 ? crypto::HashAlg::kSha384
                                  : crypto::HashAlg::kSha256);
  if (!sig_status.ok()) {
    return absl::UnauthenticatedError(
        absl::StrCat("jwt: signature (", alg_name, ", kid ", kid,
                     ") does not verify: ", sig_status.message()));
  }

  // Only now is the payload read.
  ASSIGN_OR_RETURN(json claims, ParseObject(payload_bytes, "payload"));
  ASSIGN_OR_RETURN(const std::optional<absl::Time> exp,
                   NumericDate(claims, "exp"));
  ASSIGN_OR_RETURN(const std::optional<absl::Time> nbf,
                   NumericDate(claims, "nbf"));
  // iat is checked for its type only; freshness is exp's job.
  RETURN_IF_ERROR(NumericDate(claims, "iat").status());
  // An attestation result without an expiry would be valid forever.
  if (!exp.has_value()) {
    return Invalid("payload has no \"exp\"");
  }
  if (now >= *exp + leeway) {
    return absl::UnauthenticatedError(absl::StrCat(
        "jwt: expired at ", FormatTime(*exp), " (now ", FormatTime(now),
        ", leeway ", absl::FormatDuration(leeway), ")"));
  }
  if (nbf.has_value() && now + leeway < *nbf) {
    return absl::UnauthenticatedError(absl::StrCat(
        "jwt: not valid before ", FormatTime(*nbf), " (now ", FormatTime(now),
        ", leeway ", absl::FormatDuration(leeway), ")"));
  }
  return claims;
}

absl::Status ValidateClaimChecks(const TokenClaimChecks& checks) {
  if (checks.any_issuer && !checks.issuer.empty()) {
    return absl::InvalidArgumentError(
        "token checks: an expected issuer and any_issuer are exclusive");
  }
  if (!checks.any_issuer && checks.issuer.empty()) {
    return absl::InvalidArgumentError(
        "token checks: no expected issuer (name one, or set any_issuer "
        "explicitly)");
  }
  if (checks.audience.has_value() && checks.audience->empty()) {
    return absl::InvalidArgumentError("token checks: empty audience");
  }
  if (checks.accept_statuses.empty()) {
    return absl::InvalidArgumentError(
        "token checks: no accepted ear.status");
  }
  for (const std::string& s : checks.accept_statuses) {
    if (s != "affirming" && s != "warning") {
      return absl::InvalidArgumentError(absl::StrCat(
          "token checks: ear.status \"", s,
          "\" cannot be accepted (only affirming, warning)"));
    }
  }
  return absl::OkStatus();
}

namespace {

absl::Status Denied(absl::string_view message) {
  return absl::PermissionDeniedError(absl::StrCat("jwt: ", message));
}

absl::Status CheckStatus(const json& object, absl::string_view where,
                         const TokenClaimChecks& checks) {
  const auto it = object.find("ear.status");
  if (it == object.end()) {
    return Invalid(absl::StrCat(where, " has no \"ear.status\""));
  }
  if (!it->is_string()) {
    return Invalid(absl::StrCat(where, " \"ear.status\" is not a string"));
  }
  const std::string status = it->get<std::string>();
  for (const std::string& ok : checks.accept_statuses) {
    if (status == ok) {
      return absl::OkStatus();
    }
  }
  return Denied(absl::StrCat(where, " ear.status is \"", status,
                             "\", accepted: ",
                             absl::StrJoin(checks.accept_statuses, ", ")));
}

}  // namespace

absl::Status CheckClaims(const json& claims, const TokenClaimChecks& checks) {
  RETURN_IF_ERROR(ValidateClaimChecks(checks));
  if (!claims.is_object()) {
    return Invalid("claims are not a JSON object");
  }
  if (!checks.any_issuer) {
    ASSIGN_OR_RETURN(const std::string iss,
                     StringMember(claims, "iss", "payload"));
    if (iss != checks.issuer) {
      return Denied(absl::StrCat("iss is \"", iss, "\", expected \"",
                                 checks.issuer, "\""));
    }
  }
  if (const auto it = claims.find("aud"); it != claims.end()) {
    std::vector<std::string> audiences;
    if (it->is_string()) {
      audiences.push_back(it->get<std::string>());
    } else if (it->is_array()) {
      for (const json& a : *it) {
        if (!a.is_string()) {
          return Invalid(absl::StrCat("aud ", it->dump(),
                                      " is not a string or array of strings"));
        }
        audiences.push_back(a.get<std::string>());
      }
    } else {
      return Invalid(absl::StrCat("aud ", it->dump(),
                                  " is not a string or array of strings"));
    }
    if (!checks.audience.has_value()) {
      return Denied(absl::StrCat("token is for audience ", it->dump(),
                                 " but no audience is expected"));
    }
    if (std::find(audiences.begin(), audiences.end(), *checks.audience) ==
        audiences.end()) {
      return Denied(absl::StrCat("aud ", it->dump(), " does not contain \"",
                                 *checks.audience, "\""));
    }
  } else if (checks.audience.has_value()) {
    return Denied(absl::StrCat("token has no \"aud\", expected \"",
                               *checks.audience, "\""));
  }
  RETURN_IF_ERROR(CheckStatus(claims, "payload", checks));
  // The top-level status is the worst over the devices; a device that says
  // otherwise is not accepted either.
  if (const auto it = claims.find("submods"); it != claims.end()) {
    if (!it->is_object()) {
      return Invalid("\"submods\" is not an object");
    }
    for (const auto& [name, submod] : it->items()) {
      if (!submod.is_object()) {
        return Invalid(absl::StrCat("submods.", name, " is not an object"));
      }
      if (submod.contains("ear.status")) {
        RETURN_IF_ERROR(
            CheckStatus(submod, absl::StrCat("submods.", name), checks));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<json> VerifyToken(std::string_view jwt, const json& jwks,
                                 absl::Time now, absl::Duration leeway,
                                 const TokenClaimChecks& checks) {
  RETURN_IF_ERROR(ValidateClaimChecks(checks));
  ASSIGN_OR_RETURN(json claims, VerifyToken(jwt, jwks, now, leeway));
  RETURN_IF_ERROR(CheckClaims(claims, checks));
  return claims;
}

}  // namespace rp::token
