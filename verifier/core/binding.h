// The binding rule (ARCHITECTURE §5): what the CPU report data must commit
// to so that the evidence is fresh and tied to the TEE key and every GPU and
// NVSwitch.
//
//   attest-v1: report_data[0:64] = SHA-512("attest-v1" || nonce(32) ||
//              RFC 7638 SHA-256 thumbprint(TEE key) || SHA-256(gpu report 0)
//              || ... || SHA-256(gpu report n-1) || SHA-256(switch report 0)
//              || ... || SHA-256(switch report m-1))
//              GPU reports in evidence_list order, then NVSwitch reports in
//              switch_evidence_list order (raw report bytes, as in the
//              bundle). Without switches the value is the GPU-only one.
//              The digests are concatenated without a separator: moving the
//              last GPU report to the head of switch_evidence_list keeps the
//              value; the NVIDIA verifier rejects that by device class
//              (nvidia.device_class, DEVICE_CLASS_MISMATCH).
//   attest-v2: report_data[0:64] = SHA-512("attest-v2" || nonce(32) ||
//              RFC 7638 SHA-256 thumbprint(TEE key) ||
//              SHA-256(JCS(runtime claims)) || SHA-256(gpu report 0) || ...
//              || SHA-256(switch report m-1)), the reports as for attest-v1
//              and the runtime claims as verifier/core/runtime_claims.h
//              (an empty object is "{}"). docs/binding.md.
//   nonce:     report_data[0:32] = nonce
//   none:      no binding (policy must allow it; always at best a warning)
#ifndef RP_VERIFIER_CORE_BINDING_H_
#define RP_VERIFIER_CORE_BINDING_H_

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "attestation/v1/attestation.pb.h"
#include "verifier/common/encoding.h"
#include "verifier/core/result.h"
#include "verifier/core/runtime_claims.h"

namespace rp::core {

inline constexpr std::string_view kBindingAttestV1 = "attest-v1";
inline constexpr std::string_view kBindingAttestV2 = "attest-v2";
inline constexpr std::string_view kBindingNonce = "nonce";
inline constexpr std::string_view kBindingNone = "none";
inline constexpr size_t kNonceSize = 32;

// The profile named in the bundle ("" → attest-v1); error for unknown names.
absl::StatusOr<std::string> BindingProfile(const attestation::v1::EvidenceBundle& bundle);

// The 64 bytes attest-v1 expects in report_data. Errors: nonce not 32
// bytes, TEE key missing or malformed.
absl::StatusOr<Bytes> ExpectedAttestV1ReportData(std::span<const uint8_t> nonce,
                                                 const attestation::v1::Jwk& tee_key,
                                                 const std::vector<Bytes>& gpu_reports,
                                                 const std::vector<Bytes>& switch_reports = {});

// The 64 bytes attest-v2 expects in report_data. Errors as attest-v1, plus
// runtime claims outside the accepted subset (ValidateRuntimeClaims).
absl::StatusOr<Bytes> ExpectedAttestV2ReportData(std::span<const uint8_t> nonce,
                                                 const attestation::v1::Jwk& tee_key,
                                                 const RuntimeClaims& runtime_claims,
                                                 const std::vector<Bytes>& gpu_reports,
                                                 const std::vector<Bytes>& switch_reports = {});

// The bundle's runtime_claims as a map (validation is separate).
RuntimeClaims BundleRuntimeClaims(const attestation::v1::EvidenceBundle& bundle);

// The bundle-level binding check, named "binding". `cpu_report_data` is
// the verified report data of the CPU device (nullopt when the CPU
// evidence did not verify or is absent).
Check CheckBinding(const attestation::v1::EvidenceBundle& bundle, std::string_view profile,
                   const std::optional<Bytes>& nonce,
                   const std::optional<Bytes>& cpu_report_data);

}  // namespace rp::core

#endif  // RP_VERIFIER_CORE_BINDING_H_
