// `attestctl policy check FILE` and `attestctl policy eval --policy FILE
// --result FILE`: validate a policy document, and dry-run its release rules
// (policy/release_rules.h) against a saved result or token claims.
#ifndef RP_CLI_POLICY_CMD_H_
#define RP_CLI_POLICY_CMD_H_

#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace rp::cli {

// Exit codes of the two commands.
inline constexpr int kPolicyOk = 0;        // valid / every rule allows
inline constexpr int kPolicyError = 2;     // invalid policy, unreadable input (attestctl: bad input)
inline constexpr int kPolicyDenied = 1;    // eval: at least one rule denies (attestctl: rejected)

// Loads and validates `file` (policy::LoadPolicyFile: appraisal fields, then
// the release rules). Prints "OK <id> <version> sha256=<hex>" to `out` and
// returns kPolicyOk, or prints the precise error ("<file>: <path>: <what>")
// to `err` and returns kPolicyError.
int RunPolicyCheck(const std::string& file, std::ostream& out, std::ostream& err);

// Evaluates every release rule of `policy_file` against the claims in
// `result_file`, which may hold
//  - the result JSON of `attestctl verify --json` (Appraisal::ToJson); it is
//    converted to the token's claim shape (ResultToTokenClaims), so one rule
//    serves both;
//  - decoded token claims (a JSON object, e.g. the output of
//    `attestctl token verify`);
//  - a compact JWT, whose payload is decoded WITHOUT verifying the signature
//    (a dry run; say so on `err`).
// Prints one line per rule, "allowed <name>" or "denied  <name>" followed by
// one indented line per failed condition, then a summary. Returns kPolicyOk
// when every rule allows (also when there are none), kPolicyDenied when any
// denies, kPolicyError for an invalid policy or unreadable input.
int RunPolicyEval(const std::string& policy_file, const std::string& result_file,
                  std::ostream& out, std::ostream& err);

// The token claims (Appraisal::EarClaims shape) that correspond to a result
// JSON (Appraisal::ToJson shape) in the full token profile: token_profile
// "full", appraisal_sha256 (of the result's canonical JSON, as a token for
// that result carries), ear.status, eat_profile, eat_nonce
// (base64url of the hex nonce), policy, binding, reasons, and per submod
// ear.status, ear.trustworthiness-vector, ear.appraisal-policy-id, tee,
// claims, reasons, collateral. Claims only the token issuer adds (iss, iat, nbf, exp,
// jti, cnf, ear.verifier-id) are absent. INVALID_ARGUMENT if `result` is not
// a result object.
absl::StatusOr<nlohmann::json> ResultToTokenClaims(const nlohmann::json& result);

}  // namespace rp::cli

#endif  // RP_CLI_POLICY_CMD_H_
