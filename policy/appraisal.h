// The appraisal result (per-device status, trust vector, verdict), its
// renderings (result JSON, AttestResponse, EAR claims) and loaded policies.
// The pipeline that produces it is appraisal/engine.h.
#ifndef RP_POLICY_APPRAISAL_H_
#define RP_POLICY_APPRAISAL_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "attestation/v1/attestation.pb.h"
#include "attestation/v1/policy.pb.h"
#include "nlohmann/json.hpp"
#include "verifier/core/result.h"

namespace rp::policy {

enum class Verdict { kAffirming, kWarning, kContraindicated };
std::string_view VerdictName(Verdict v);  // affirming | warning | contraindicated

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
  // Fills everything but the token.
  void ToProto(attestation::v1::AttestResponse* out) const;
  // EAR claims (draft-ietf-rats-ear) minus iat/nbf/exp/jti/iss, which the
  // token issuer adds: eat_profile, eat_nonce, ear.verifier-id, cnf, submods.
  nlohmann::json EarClaims(const attestation::v1::Jwk* tee_key,
                           const std::string& verifier_developer) const;
};

// Policy documents (YAML or JSON) mapped onto attestation.v1.Policy.
// Errors name the file / field. The built-in default is used when no file.
absl::StatusOr<LoadedPolicy> LoadPolicyFile(const std::string& path);
absl::StatusOr<LoadedPolicy> ParsePolicy(const std::string& text, const std::string& origin);
LoadedPolicy DefaultPolicy();

}  // namespace rp::policy

#endif  // RP_POLICY_APPRAISAL_H_
