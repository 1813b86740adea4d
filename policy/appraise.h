// Appraisal: policy rules over verified claims → per-device status and
// AR4SI trust vector, then the overall verdict (worst device).
#ifndef RP_POLICY_APPRAISE_H_
#define RP_POLICY_APPRAISE_H_

#include <string>
#include <vector>

#include "policy/engine.h"

namespace rp::policy {

// AR4SI tier values used in trust vectors (draft-ietf-rats-ar4si).
inline constexpr int kTierNoClaim = 0;
inline constexpr int kTierAffirming = 2;
inline constexpr int kTierWarning = 32;
inline constexpr int kTierContraindicated = 96;

// Adds the policy's checks to each device, computes statuses, vectors,
// reasons and the verdict.
Appraisal AppraiseAll(const LoadedPolicy& policy, const std::string& binding_profile,
                      std::vector<core::DeviceResult> devices,
                      std::vector<core::Check> bundle_checks);

// The SEV-SNP policy rules (each its own check), exposed for tests.
void AppraiseSnp(const attestation::v1::SnpPolicy& p, core::DeviceResult& device);

}  // namespace rp::policy

#endif  // RP_POLICY_APPRAISE_H_
