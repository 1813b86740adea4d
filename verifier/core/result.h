// Normalized verification output: per device, claims and every check made.
#ifndef RP_VERIFIER_CORE_RESULT_H_
#define RP_VERIFIER_CORE_RESULT_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nlohmann/json.hpp"
#include "verifier/common/encoding.h"

namespace rp::core {

enum class CheckStatus { kPass, kFail, kNotChecked };

// AR4SI trustworthiness-vector components a check contributes to.
enum class Component {
  kInstanceIdentity,
  kConfiguration,
  kExecutables,
  kFileSystem,
  kHardware,
  kRuntimeOpaque,
  kStorageOpaque,
  kSourcedData,
};

// One check as performed. `reason` is a stable code (docs/reasons.md):
// for kPass it is "OK"; for kFail / kNotChecked it names what went wrong.
struct Check {
  std::string name;       // e.g. "sev_snp.report_signature"
  CheckStatus status = CheckStatus::kNotChecked;
  std::string reason;     // e.g. "SIGNATURE_INVALID"
  std::string detail;     // human text with field/offset/expected/actual
  Component component = Component::kHardware;
  // False for informational checks (e.g. a policy allowlist that is not
  // configured): they are listed but do not lower the device status. Only
  // the policy layer decides this: the appraisal resets it to true for
  // verifier checks except a short, named list (policy/relaxations.h).
  bool affects_status = true;
  // Set only by the policy layer (policy/relaxations.h): the policy knob
  // that allows this check to be not performed ("not-checked" then lowers
  // the device only to warning). Empty: a not-checked check is a required
  // check that was not performed, and the device is contraindicated.
  // Whatever a verifier writes here is cleared before appraisal.
  std::string relaxed_by;
};

// One piece of collateral a verification relied on, for the token's
// `collateral` list (ARCHITECTURE §6): what it was, where it came from, the
// SHA-256 of the exact bytes used and when it must be refreshed.
struct CollateralRef {
  std::string kind;         // vcek | cert_chain | crl | tcb_info | qe_identity | rim | ocsp | ...
  std::string id;           // collateral key or identifier (e.g. amd/Milan/crl.der)
  std::string sha256;       // lower-case hex
  std::string next_update;  // RFC 3339, "" when the item has none
  std::string source;       // "bundle", "offline:/dir", "amd-kds", ...
};

// Verified, normalized result for one device (cpu0, gpu0, ...).
struct DeviceResult {
  std::string name;         // filled by the pipeline: cpu0, gpu0..n, switch0..n
  std::string tee;          // "sev-snp" | "tdx" | "nvidia-gpu" | "nvidia-switch"
  nlohmann::json claims = nlohmann::json::object();
  std::vector<Check> checks;
  // Evidence chained to the simulation root (never trusted in production).
  bool simulated = false;
  // CPU evidence only: REPORT_DATA (64 bytes) for the binding check; set
  // only after the report signature verified.
  std::optional<Bytes> report_data;
  // Collateral used (filled by verifiers that fetch or receive collateral).
  std::vector<CollateralRef> collateral;
  // True only once the evidence's signature and its certificate chain to a
  // trusted root verified (set by the verifier, default false: fail closed).
  // Claims of a device that is not authentic were decoded from bytes nobody
  // vouches for: they never reach a token (policy/appraisal.cc).
  bool evidence_authentic = false;

  Check& Add(std::string name_, CheckStatus status, std::string reason, std::string detail,
             Component component) {
    Check c;
    c.name = std::move(name_);
    c.status = status;
    c.reason = std::move(reason);
    c.detail = std::move(detail);
    c.component = component;
    checks.push_back(std::move(c));
    return checks.back();
  }
  Check& Pass(std::string name_, Component c, std::string detail = "") {
    return Add(std::move(name_), CheckStatus::kPass, "OK", std::move(detail), c);
  }
  Check& Fail(std::string name_, Component c, std::string reason, std::string detail) {
    return Add(std::move(name_), CheckStatus::kFail, std::move(reason), std::move(detail), c);
  }
  Check& NotChecked(std::string name_, Component c, std::string reason, std::string detail) {
    return Add(std::move(name_), CheckStatus::kNotChecked, std::move(reason), std::move(detail), c);
  }
  bool HasFailure() const {
    for (const auto& c : checks) {
      if (c.status == CheckStatus::kFail) return true;
    }
    return false;
  }
};

std::string_view CheckStatusName(CheckStatus s);   // pass | fail | not-checked
std::string_view ComponentName(Component c);       // AR4SI names, e.g. "hardware"

}  // namespace rp::core

#endif  // RP_VERIFIER_CORE_RESULT_H_
