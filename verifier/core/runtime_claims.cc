#include "verifier/core/runtime_claims.h"

#include "absl/strings/str_cat.h"
#include "verifier/common/jcs.h"
#include "verifier/common/status_macros.h"
#include "verifier/common/strict_json.h"
#include "verifier/crypto/digest.h"

namespace rp::core {
namespace {

bool IsNameChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '.' || c == '_' || c == '-';
}

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

}  // namespace

bool IsDnsSubdomain(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  size_t label_start = 0;
  for (size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '.') {
      const std::string_view label = name.substr(label_start, i - label_start);
      if (label.empty() || label.size() > 63 || !IsLowerAlnum(label.front()) ||
          !IsLowerAlnum(label.back())) {
        return false;
      }
      label_start = i + 1;
      continue;
    }
    if (!IsLowerAlnum(name[i]) && name[i] != '-') return false;
  }
  return true;
}

absl::Status ValidateRuntimeClaims(const RuntimeClaims& claims) {
  if (claims.size() > kMaxRuntimeClaims) {
    return absl::InvalidArgumentError(absl::StrCat("runtime_claims: ", claims.size(),
                                                   " members, at most ", kMaxRuntimeClaims));
  }
  for (const auto& [name, value] : claims) {
    if (name.empty() || name.size() > kMaxRuntimeClaimNameBytes) {
      return absl::InvalidArgumentError(absl::StrCat("runtime_claims: a name is ", name.size(),
                                                     " bytes, allowed 1..",
                                                     kMaxRuntimeClaimNameBytes));
    }
    for (const char c : name) {
      if (!IsNameChar(c)) {
        return absl::InvalidArgumentError(
            absl::StrCat("runtime_claims: name '", HexEncode(AsBytes(name.substr(0, 64))),
                         "' (hex) has a character outside [A-Za-z0-9._-]"));
      }
    }
    if (value.size() > kMaxRuntimeClaimValueBytes) {
      return absl::InvalidArgumentError(absl::StrCat("runtime_claims.", name, ": ", value.size(),
                                                     " bytes, at most ",
                                                     kMaxRuntimeClaimValueBytes));
    }
    if (!IsValidUtf8(value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("runtime_claims.", name, ": not valid UTF-8"));
    }
    for (const char c : value) {
      const auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u == 0x7F) {
        return absl::InvalidArgumentError(
            absl::StrCat("runtime_claims.", name, ": control character 0x",
                         HexEncode(std::span<const uint8_t>(&u, 1))));
      }
    }
  }
  if (auto it = claims.find(kRuntimeClaimNode); it != claims.end() && !IsDnsSubdomain(it->second)) {
    return absl::InvalidArgumentError(
        "runtime_claims.node: not a Kubernetes node name (RFC 1123 subdomain: lower-case "
        "alphanumerics, '-' and '.', at most 253 characters)");
  }
  return CanonicalRuntimeClaims(claims).status();
}

absl::StatusOr<std::string> CanonicalRuntimeClaims(const RuntimeClaims& claims) {
  auto jcs = JcsCanonicalizeStringObject(claims, kMaxRuntimeClaimsBytes);
  if (!jcs.ok()) return Annotate(jcs.status(), "runtime_claims");
  return jcs;
}

absl::StatusOr<Bytes> RuntimeClaimsDigest(const RuntimeClaims& claims) {
  RETURN_IF_ERROR(ValidateRuntimeClaims(claims));
  ASSIGN_OR_RETURN(std::string jcs, CanonicalRuntimeClaims(claims));
  return crypto::Sha256(AsBytes(jcs));
}

absl::StatusOr<RuntimeClaims> ParseRuntimeClaimsJson(std::string_view text) {
  if (text.size() > 2 * kMaxRuntimeClaimsBytes) {
    return absl::InvalidArgumentError(absl::StrCat("runtime claims: ", text.size(),
                                                   " bytes of JSON, at most ",
                                                   2 * kMaxRuntimeClaimsBytes));
  }
  ASSIGN_OR_RETURN(nlohmann::json j, ParseStrictJsonObject(AsBytes(text), "runtime claims", 2));
  RuntimeClaims out;
  for (const auto& [name, value] : j.items()) {
    if (!value.is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "runtime claims: member '", name.substr(0, 64), "' is not a string (only strings)"));
    }
    out.emplace(name, value.get<std::string>());
  }
  RETURN_IF_ERROR(ValidateRuntimeClaims(out));
  return out;
}

}  // namespace rp::core
