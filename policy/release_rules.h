// Release rules (ARCHITECTURE §7): named allOf / anyOf conditions over the
// claims of an attestation token (or a result converted to the token's claim
// shape). One evaluator serves key release, the Kubernetes admission webhook
// and `attestctl policy eval`. Format and semantics: docs/policy.md.
//
// Semantics in short (fail closed everywhere):
//  - A rule allows iff every all_of condition holds and, when any_of is not
//    empty, at least one any_of condition holds. A rule without conditions is
//    refused at validation (it would allow everything).
//  - Claim paths are RFC 6901 JSON Pointers: "/ear.status",
//    "/submods/gpu0/claims/driver_version", "/submods/cpu0/claims/rtmr/2"
//    (an array element by index). "~1" stands for '/' and "~0" for '~' in a
//    member name. A pointer names exactly one member per step, so a rule's
//    meaning never depends on which members a token happens to carry. The
//    dotted paths of earlier versions ("submods.gpu0.ear.status") were
//    ambiguous and are refused at validation, with the pointer to write.
//  - Quantifiers over devices (the token's submods):
//      every: <glob>  the condition holds for each submod whose name matches
//                     the glob; `claim` is then a pointer relative to the
//                     submod ("/claims/measurements_match"). No matching
//                     submod: the condition FAILS unless allow_empty is set.
//                     A device lacking the claim fails it (except for op
//                     exists "false", which asks for the absence).
//      count: <glob>  the number of submods whose name matches is compared
//                     with value (op eq / ne / ge / le / in; integers 0..64);
//                     no claim.
//    Globs: '*' any run of characters, '?' one character, everything else
//    literal ("gpu*", "switch?", "*"). Missing or non-object /submods, or
//    more than kMaxQuantifiedSubmods submods, fail every quantifier.
//  - A missing claim, or one whose value is JSON null, makes every operator
//    fail except `exists` with value "false" (which then holds).
//  - Compact tokens (claim token_profile present and not "full"; see
//    docs/token.md#profiles) leave device claims out. In such a token a
//    device member or top-level device claim that the token does not carry
//    (/submods/<dev>/claims/<name>, /submods/<dev>/reasons, ...) makes every
//    operator fail, exists: false included: its absence says nothing about
//    the device. The server keeps every claim the policy's own rules name
//    (ReleaseRuleTokenNeeds), so only rules of another policy revision or
//    another policy meet this.
//  - eq / ne / in compare scalars (string, number, boolean) by their text
//    form: true and "true" are equal, 2 and "2" are equal, 2.0 is "2.0".
//    Objects and arrays never compare (the condition fails). Case-sensitive.
//  - ge / le: a claim that is a JSON number is compared numerically with the
//    value (which must then parse as a number). A string claim is compared
//    numerically when both are decimal integers, else as dotted versions
//    component by component ("550.90.07" ge "550.54.14"; components are hex
//    digit runs, so VBIOS "96.00.9F.00.01" works; missing components count as
//    0). Anything else fails the condition.
//  - matches: ECMAScript regex (std::regex, libstdc++'s non-backtracking
//    executor, so time stays linear in the claim's length; back-references
//    are refused) over the scalar's text form; the whole text must match
//    (anchor-free patterns need ".*"). Texts longer than kMaxMatchTextBytes
//    fail instead of being matched, and so does any text once a rule's
//    evaluation has fed kMaxMatchBytesPerRule bytes to regexes.
#ifndef RP_POLICY_RELEASE_RULES_H_
#define RP_POLICY_RELEASE_RULES_H_

#include <cstddef>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "attestation/v1/policy.pb.h"
#include "nlohmann/json.hpp"

namespace rp::policy {

// Bounds enforced by ValidateReleaseRules (a policy is operator input, but a
// hot-reloaded file must not be able to make every request expensive).
inline constexpr int kMaxReleaseRules = 64;
inline constexpr int kMaxConditionsPerRule = 64;  // all_of + any_of
inline constexpr size_t kMaxClaimPathLength = 256;
inline constexpr size_t kMaxRegexLength = 256;
inline constexpr size_t kMaxConditionValueLength = 1024;  // value and each of values
inline constexpr int kMaxInValues = 256;
// Longer claim texts fail `matches` (a bound on the work per condition).
inline constexpr size_t kMaxMatchTextBytes = 4096;
// At most this many claim-text bytes go to regexes per rule evaluation
// (`every` multiplies the matches per condition); later `matches` fail.
inline constexpr size_t kMaxMatchBytesPerRule = 64 * 1024;
// `every` / `count` over a token with more submods than this fail (rather
// than look at some devices only). A node has one CPU, at most 8 GPUs and a
// few NVSwitches.
inline constexpr size_t kMaxQuantifiedSubmods = 64;
inline constexpr size_t kMaxGlobLength = 64;

// Checks every release rule of `p`: count, names (required, [A-Za-z0-9._:/@-]
// 1..128, unique), condition count, claim paths (JSON Pointers with valid
// escapes; a dotted path is refused with the pointer to write instead),
// quantifiers (every / count globs, at most one of them, count without a
// claim and with integer values, allow_empty only with every), operators,
// values (ge/le values must be numbers or dotted versions, matches regexes
// must compile and have no back-references, exists takes "true" / "false" /
// empty). INVALID_ARGUMENT with
// "<origin>: release_rules[i].all_of[j].<field>: <what>" for the first error.
absl::Status ValidateReleaseRules(const attestation::v1::Policy& p, const std::string& origin);

// The outcome of one rule over one set of claims.
struct RuleResult {
  std::string name;
  bool allowed = false;
  // One human-readable line per failed condition that caused a denial, e.g.
  // "all_of[1]: /submods/gpu0/claims/driver_version '535.104.05' is not ge
  // '550.54.14'" or "all_of[4]: every gpu* (1 of 8 failed):
  // /submods/gpu5/claims/measurements_match is 'false', not eq 'true'".
  // Empty when allowed.
  std::vector<std::string> failed;
};

// Evaluates one rule. Pure function of its inputs; thread-safe. Expects a
// rule that passed ValidateReleaseRules (an invalid condition fails).
RuleResult EvaluateReleaseRule(const attestation::v1::ReleaseRule& rule,
                               const nlohmann::json& claims);

// Evaluates `rule` of policy `p` pinned to it: besides the rule's own
// conditions, the claims must say they were appraised under `p`
// (policy.id == p.id()), so a result from a laxer policy never satisfies a
// stricter policy's rule. Use this, not EvaluateReleaseRule, to decide.
RuleResult EvaluatePinnedReleaseRule(const attestation::v1::Policy& p,
                                     const attestation::v1::ReleaseRule& rule,
                                     const nlohmann::json& claims);

// Evaluates every rule of `p` (pinned, as above), in policy order.
std::vector<RuleResult> EvaluateReleaseRules(const attestation::v1::Policy& p,
                                             const nlohmann::json& claims);

// What the policy's release rules read from a device in a token, so that a
// compact token keeps it: top-level device claim names (from
// /submods/<dev>/claims/<name>/... and every-relative /claims/<name>/...)
// and device members other than those every token carries (e.g. reasons,
// collateral).
struct TokenNeeds {
  std::set<std::string> device_claims;
  std::set<std::string> device_members;
};
TokenNeeds ReleaseRuleTokenNeeds(const attestation::v1::Policy& p);

// The rule named `name`, or nullptr. Callers releasing a resource for which
// no rule exists must deny.
const attestation::v1::ReleaseRule* FindReleaseRule(const attestation::v1::Policy& p,
                                                    std::string_view name);

// The value at a JSON Pointer (RFC 6901; see above), or nullptr when missing
// or when `pointer` is not a valid pointer. Array indices are "0" or a
// decimal without leading zeros; "-" (past the end) is always missing.
// Exposed for tests and for tools that print the claims a rule looked at.
const nlohmann::json* ResolveClaimPath(const nlohmann::json& claims, std::string_view pointer);

// True if submod `name` matches `glob` ('*' any run, '?' one character,
// everything else literal; case-sensitive).
bool SubmodGlobMatches(std::string_view glob, std::string_view name);

}  // namespace rp::policy

#endif  // RP_POLICY_RELEASE_RULES_H_
