// Appraisal: policy rules over verified claims → per-device status and
// AR4SI trust vector, then the overall verdict (worst device).
#ifndef RP_POLICY_APPRAISE_H_
#define RP_POLICY_APPRAISE_H_

#include <string>
#include <vector>

#include "policy/appraisal.h"
#include "policy/relaxations.h"

namespace rp::policy {

// AR4SI tier values used in trust vectors (draft-ietf-rats-ar4si).
inline constexpr int kTierNoClaim = 0;
inline constexpr int kTierAffirming = 2;
inline constexpr int kTierWarning = 32;
inline constexpr int kTierContraindicated = 96;

// Adds the policy's checks to each device, computes statuses, vectors,
// reasons and the verdict.
// A not-checked check lowers a device only to warning when the policy
// relaxes it by name (relaxations.h); otherwise it is a required check that
// was not performed: the device is contraindicated and gets a
// policy.required_checks failure (REQUIRED_CHECK_NOT_PERFORMED).
Appraisal AppraiseAll(const LoadedPolicy& policy, const std::string& binding_profile,
                      std::vector<core::DeviceResult> devices,
                      std::vector<core::Check> bundle_checks,
                      const RelaxationContext& relaxation_context = {});

// Minimum REPORTED_TCB for the device's product (sev_snp.min_reported_tcb).
void AppraiseSnpMinTcb(const attestation::v1::SnpPolicy& p, core::DeviceResult& device);

// The SEV-SNP policy rules (each its own check), exposed for tests.
void AppraiseSnp(const attestation::v1::SnpPolicy& p, core::DeviceResult& device);

// The TDX policy rules over the TDX verifier's claims (docs/claims/tdx.md).
void AppraiseTdx(const attestation::v1::TdxPolicy& p, core::DeviceResult& device);

// The GPU policy rules for one GPU or switch (docs/claims/nvidia-gpu.md).
// OCSP answers the verifier failed as CERT_ON_HOLD / OCSP_UNKNOWN /
// OCSP_UNAVAILABLE become warnings when the policy allows them.
void AppraiseGpu(const attestation::v1::GpuPolicy& p, core::DeviceResult& device);

// Node-level GPU rules (device counts); checks for the bundle.
std::vector<core::Check> AppraiseGpuNode(const attestation::v1::GpuPolicy& p,
                                         const std::vector<core::DeviceResult>& devices);

// One of Intel's TCB statuses (UpToDate, SWHardeningNeeded, ...).
bool IsKnownTcbStatus(const std::string& status);

// Compares dotted versions component by component, numerically (hex
// components for VBIOS versions when `hex`); -1, 0, 1. Missing components
// count as 0. Non-numeric input compares as lower than anything.
int CompareDottedVersions(const std::string& a, const std::string& b, bool hex);

}  // namespace rp::policy

#endif  // RP_POLICY_APPRAISE_H_
