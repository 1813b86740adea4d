#include "cli/policy_cmd.h"

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "policy/appraisal.h"
#include "policy/canonical_json.h"
#include "policy/release_rules.h"
#include "policy/yaml_json.h"
#include "verifier/common/encoding.h"
#include "verifier/crypto/digest.h"

namespace rp::cli {
namespace {

// A result of an 8-GPU node with all measurements fits well within this.
constexpr size_t kMaxResultBytes = 16 * 1024 * 1024;

constexpr char kEatProfile[] = "tag:github.com,2023:veraison/ear";

// LoadPolicyFile, plus the release-rule validation in case the loader does
// not run it (it is idempotent when it does).
absl::StatusOr<policy::LoadedPolicy> LoadAndValidate(const std::string& file) {
  absl::StatusOr<policy::LoadedPolicy> lp = policy::LoadPolicyFile(file);
  if (!lp.ok()) return lp.status();
  if (auto st = policy::ValidateReleaseRules(lp->policy, file); !st.ok()) return st;
  return lp;
}

// "verdict" + "submods": the shape of Appraisal::ToJson.
bool IsResultJson(const nlohmann::json& j) {
  return j.is_object() && j.contains("verdict") && j.contains("submods") &&
         !j.contains("ear.status");
}

enum class InputKind { kResult, kTokenClaims, kUnverifiedJwt };

struct Input {
  InputKind kind;
  nlohmann::json claims;
};

// Compact JWS: three base64url parts; returns the decoded payload object.
absl::StatusOr<nlohmann::json> DecodeJwtPayloadUnverified(const std::string& text) {
  std::vector<std::string> parts = absl::StrSplit(text, '.');
  if (parts.size() != 3 || parts[1].empty()) {
    return absl::InvalidArgumentError("neither JSON nor a compact JWT (header.payload.signature)");
  }
  absl::StatusOr<Bytes> payload = Base64Decode(parts[1]);
  if (!payload.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("JWT payload is not base64url: ", payload.status().message()));
  }
  nlohmann::json j = nlohmann::json::parse(ToString(*payload), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("JWT payload is not a JSON object");
  }
  return j;
}

absl::StatusOr<Input> ReadClaimsInput(const std::string& file) {
  absl::StatusOr<std::string> text = ReadSmallFile(file, kMaxResultBytes);
  if (!text.ok()) return text.status();
  const std::string trimmed(absl::StripAsciiWhitespace(*text));
  nlohmann::json j = nlohmann::json::parse(trimmed, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    absl::StatusOr<nlohmann::json> payload = DecodeJwtPayloadUnverified(trimmed);
    if (!payload.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(file, ": ", payload.status().message()));
    }
    return Input{InputKind::kUnverifiedJwt, *std::move(payload)};
  }
  if (!j.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(file, ": expected a JSON object, got ", j.type_name()));
  }
  if (IsResultJson(j)) {
    absl::StatusOr<nlohmann::json> claims = ResultToTokenClaims(j);
    if (!claims.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(file, ": ", claims.status().message()));
    }
    return Input{InputKind::kResult, *std::move(claims)};
  }
  return Input{InputKind::kTokenClaims, std::move(j)};
}

std::string Str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

absl::StatusOr<nlohmann::json> ResultToTokenClaims(const nlohmann::json& result) {
  if (!IsResultJson(result)) {
    return absl::InvalidArgumentError("not a verification result (needs verdict and submods)");
  }
  if (!result["verdict"].is_string() || !result["submods"].is_object()) {
    return absl::InvalidArgumentError("result: verdict must be a string, submods an object");
  }
  nlohmann::json out;
  out["eat_profile"] = kEatProfile;
  // A result carries every claim: the full token profile, and the hash a
  // token issued for this result carries (docs/token.md).
  out["token_profile"] = "full";
  if (absl::StatusOr<std::string> canonical = policy::CanonicalJson(result); canonical.ok()) {
    out["appraisal_sha256"] = HexEncode(crypto::Sha256(AsBytes(*canonical)));
  }
  out["ear.status"] = result["verdict"];
  const std::string nonce_hex = Str(result, "nonce");
  if (!nonce_hex.empty()) {
    absl::StatusOr<Bytes> nonce = HexDecode(nonce_hex);
    if (!nonce.ok()) return absl::InvalidArgumentError("result: nonce is not hex");
    out["eat_nonce"] = Base64UrlEncode(*nonce);
  }
  nlohmann::json pol = result.value("policy", nlohmann::json::object());
  if (pol.is_object()) out["policy"] = pol;
  // As in the token: the binding profile only when the binding verified.
  if (result.contains("binding") && result.value("binding_verified", false)) {
    out["binding"] = result["binding"];
  }
  if (result.contains("reasons")) out["reasons"] = result["reasons"];
  const std::string policy_ref = pol.is_object()
                                     ? absl::StrCat("policy:", Str(pol, "id"), "@",
                                                    Str(pol, "version"))
                                     : std::string();
  nlohmann::json submods = nlohmann::json::object();
  for (const auto& [name, s] : result["submods"].items()) {
    if (!s.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat("result: submods.", name, " is not an object"));
    }
    nlohmann::json t;
    if (s.contains("status")) t["ear.status"] = s["status"];
    if (s.contains("trust_vector")) t["ear.trustworthiness-vector"] = s["trust_vector"];
    if (!policy_ref.empty()) t["ear.appraisal-policy-id"] = policy_ref;
    if (s.contains("tee")) t["tee"] = s["tee"];
    if (s.contains("claims")) t["claims"] = s["claims"];
    if (s.contains("unverified_claims")) {
      // As in the token: claims of non-authentic evidence are omitted.
      t["claims"] = nlohmann::json::object();
      t["claims-omitted"] = "evidence-not-authentic";
    }
    // Same rule as Appraisal::EarClaims: reasons of the checks that did not
    // pass and count towards the status.
    std::vector<std::string> reasons;
    auto checks = s.find("checks");
    if (checks != s.end() && checks->is_array()) {
      for (const auto& c : *checks) {
        if (!c.is_object() || Str(c, "status") == "pass" || c.value("informational", false)) {
          continue;
        }
        reasons.push_back(Str(c, "reason"));
      }
    }
    t["reasons"] = reasons;
    // The token always lists the device's collateral; the result only when
    // there is some.
    t["collateral"] = s.contains("collateral") ? s["collateral"] : nlohmann::json::array();
    submods[name] = std::move(t);
  }
  out["submods"] = std::move(submods);
  return out;
}

int RunPolicyCheck(const std::string& file, std::ostream& out, std::ostream& err) {
  absl::StatusOr<policy::LoadedPolicy> lp = LoadAndValidate(file);
  if (!lp.ok()) {
    err << lp.status().message() << "\n";
    return kPolicyError;
  }
  out << "OK " << lp->id << " " << lp->version << " sha256=" << lp->sha256_hex << "\n";
  return kPolicyOk;
}

int RunPolicyEval(const std::string& policy_file, const std::string& result_file,
                  std::ostream& out, std::ostream& err) {
  absl::StatusOr<policy::LoadedPolicy> lp = LoadAndValidate(policy_file);
  if (!lp.ok()) {
    err << lp.status().message() << "\n";
    return kPolicyError;
  }
  absl::StatusOr<Input> input = ReadClaimsInput(result_file);
  if (!input.ok()) {
    err << input.status().message() << "\n";
    return kPolicyError;
  }
  switch (input->kind) {
    case InputKind::kResult:
      err << "note: " << result_file
          << " is a verification result; evaluated as the token claims it would produce "
             "(no iss/iat/exp/jti/cnf/ear.verifier-id)\n";
      break;
    case InputKind::kUnverifiedJwt:
      err << "warning: " << result_file
          << " is a JWT; its signature was NOT verified (dry run only)\n";
      break;
    case InputKind::kTokenClaims:
      break;
  }
  const std::vector<policy::RuleResult> results =
      policy::EvaluateReleaseRules(lp->policy, input->claims);
  int denied = 0;
  for (const policy::RuleResult& r : results) {
    out << (r.allowed ? "allowed " : "denied  ") << r.name << "\n";
    for (const std::string& f : r.failed) out << "  - " << f << "\n";
    if (!r.allowed) ++denied;
  }
  out << results.size() << " rule(s) in " << lp->id << "@" << lp->version << ": "
      << results.size() - static_cast<size_t>(denied) << " allowed, " << denied << " denied\n";
  return denied == 0 ? kPolicyOk : kPolicyDenied;
}

}  // namespace rp::cli
