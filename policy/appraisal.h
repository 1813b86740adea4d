// The appraisal result (per-device status, trust vector, verdict), its
// renderings (result JSON, AttestResponse, EAR claims) and loaded policies.
// The pipeline that produces it is appraisal/engine.h.
#ifndef RP_POLICY_APPRAISAL_H_
#define RP_POLICY_APPRAISAL_H_

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "attestation/v1/attestation.pb.h"
#include "attestation/v1/policy.pb.h"
#include "google/protobuf/struct.pb.h"
#include "nlohmann/json.hpp"
#include "verifier/core/result.h"

namespace rp::policy {

enum class Verdict { kAffirming, kWarning, kContraindicated };
std::string_view VerdictName(Verdict v);  // affirming | warning | contraindicated

// Token profiles (docs/token.md#profiles). kCompact, the default, carries per
// device only ear.status, the trust vector, the policy id, tee and the key
// claims (CompactKeyClaims plus those the policy's release rules name); kFull
// carries every authentic claim, per-device reasons and collateral. Both
// carry `token_profile` and `appraisal_sha256`.
enum class TokenProfile { kCompact, kFull };
std::string_view TokenProfileName(TokenProfile p);  // compact | full
// "compact" | "full"; INVALID_ARGUMENT naming `field` for anything else
// (the empty string included: callers map "unset" to their default first).
absl::StatusOr<TokenProfile> ParseTokenProfile(std::string_view name, std::string_view field);

// The device claims the compact profile keeps for evidence type `tee`
// (sev-snp, tdx, nvidia-gpu, nvidia-switch): what release rules, the fleet
// registry and the rule examples in deploy/policies and docs read.
const std::set<std::string>& CompactKeyClaims(std::string_view tee);

struct EarOptions {
  TokenProfile profile = TokenProfile::kCompact;
  // Compact profile: further top-level device claims (e.g. "rtmr") and
  // device members (e.g. "reasons") to keep, because a release rule of the
  // policy names them (ReleaseRuleTokenNeeds).
  std::set<std::string> extra_claims;
  std::set<std::string> extra_device_members;
  // Lower-case hex SHA-256 of CanonicalResultJson(); computed when empty.
  std::string result_sha256;
};

struct AppraisedDevice {
  core::DeviceResult device;           // claims and all checks (incl. policy checks)
  Verdict status = Verdict::kContraindicated;
  std::map<std::string, int> trust_vector;  // AR4SI component -> tier value
};

// A loaded, validated policy with its identity.
struct LoadedPolicy {
  attestation::v1::Policy policy;
  std::string id;
  std::string version;
  std::string sha256_hex;  // of the source document bytes
};

struct Appraisal {
  Verdict verdict = Verdict::kContraindicated;
  std::vector<AppraisedDevice> devices;
  std::vector<core::Check> bundle_checks;  // nonce, binding
  std::vector<std::string> reasons;        // every fail / not-checked reason, deduplicated
  std::string policy_id, policy_version, policy_sha256;
  std::string binding;                     // binding profile named by the bundle
  // The "binding" bundle check passed: the CPU report data commits to the
  // nonce (and, for attest-v1, the TEE key and every GPU / switch report).
  bool binding_verified = false;
  // binding_verified under attest-v1: only then does the token carry the
  // TEE key as `cnf` (and the `binding` claim).
  bool key_bound = false;
  // The bundle's runtime claims, only when the binding verified under
  // attest-v2 (set by the engine): then in the result, the response and the
  // token (`runtime_claims`). Never set for unbound claims.
  std::optional<std::map<std::string, std::string>> runtime_claims;
  std::optional<Bytes> nonce;
  bool simulated = false;                  // any device chained to the simulation root

  // Result JSON (ARCHITECTURE §4): verdict, submods{cpu0..}, checks, reasons, policy.
  nlohmann::json ToJson() const;
  // ToJson() in canonical form (RFC 8785, policy/canonical_json.h): the
  // AttestResponse's result_json, whose SHA-256 every token carries as
  // appraisal_sha256. INVALID_ARGUMENT if a claim is not valid UTF-8.
  absl::StatusOr<std::string> CanonicalResultJson() const;
  // Fills everything but the token.
  void ToProto(attestation::v1::AttestResponse* out) const;
  // EAR claims (draft-ietf-rats-ear) minus iat/nbf/exp/jti/iss, which the
  // token issuer adds: eat_profile, eat_nonce, ear.verifier-id, cnf, submods,
  // token_profile, appraisal_sha256 ... in the profile `options` names
  // (compact by default). A result that cannot be canonicalised (invalid
  // UTF-8, which the token issuer refuses too) gets no appraisal_sha256.
  nlohmann::json EarClaims(const attestation::v1::Jwk* tee_key,
                           const std::string& verifier_developer,
                           const EarOptions& options = {}) const;
};

// Policy documents (YAML or JSON) mapped onto attestation.v1.Policy.
// Errors name the file / field. The built-in default is used when no file.
absl::StatusOr<LoadedPolicy> LoadPolicyFile(const std::string& path);
absl::StatusOr<LoadedPolicy> ParsePolicy(const std::string& text, const std::string& origin);
LoadedPolicy DefaultPolicy();

// A JSON object as a google.protobuf.Struct: what
// google::protobuf::util::JsonStringToMessage makes of object.dump(), without
// the text in between (that round trip was 9 % of the server's CPU per
// SEV-SNP Attest; docs/performance.md). Numbers become doubles and
// non-finite ones null (as dump() writes them). Nesting deeper than 100 JSON
// levels or a string that is not UTF-8 leaves `out` empty and returns false
// (protobuf's parser stops near 30 JSON levels: it counts its own messages). Exposed for its equivalence test.
bool JsonObjectToStruct(const nlohmann::json& object, google::protobuf::Struct* out);

}  // namespace rp::policy

#endif  // RP_POLICY_APPRAISAL_H_
