// Stable reason codes of the NVIDIA RIM library (docs/claims/nvidia-rim.md)
// and the convention that carries them in a Status: the message starts with
// "<CODE>: ". ReasonOf() reads it back.
#ifndef RP_VERIFIER_NVIDIA_RIM_REASONS_H_
#define RP_VERIFIER_NVIDIA_RIM_REASONS_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace rp::nvidia::rim {

namespace reason {
inline constexpr char kOk[] = "OK";
inline constexpr char kRimNotFound[] = "RIM_NOT_FOUND";
inline constexpr char kRimUnavailable[] = "RIM_UNAVAILABLE";
inline constexpr char kRimMalformed[] = "RIM_MALFORMED";
inline constexpr char kRimSignatureInvalid[] = "RIM_SIGNATURE_INVALID";
inline constexpr char kRimDigestMismatch[] = "RIM_DIGEST_MISMATCH";
inline constexpr char kRimAlgorithmUnsupported[] = "RIM_ALGORITHM_UNSUPPORTED";
inline constexpr char kRimChainInvalid[] = "RIM_CHAIN_INVALID";
inline constexpr char kRimSignerExpired[] = "RIM_SIGNER_EXPIRED";
inline constexpr char kRimVersionMismatch[] = "RIM_VERSION_MISMATCH";
inline constexpr char kRimIdMismatch[] = "RIM_ID_MISMATCH";
inline constexpr char kRimIdInvalid[] = "RIM_ID_INVALID";
inline constexpr char kRimIndicesOverlap[] = "RIM_INDICES_OVERLAP";
inline constexpr char kMeasurementMismatch[] = "MEASUREMENT_MISMATCH";
inline constexpr char kMeasurementsMalformed[] = "MEASUREMENTS_MALFORMED";
inline constexpr char kNvdec0StatusMissing[] = "NVDEC0_STATUS_MISSING";
inline constexpr char kPrerequisiteFailed[] = "PREREQUISITE_FAILED";
inline constexpr char kStaleCollateral[] = "STALE_COLLATERAL";
inline constexpr char kCollateralStaleBeyondGrace[] = "COLLATERAL_STALE_BEYOND_GRACE";
// OCSP (crypto::VerifyOcspResponse codes are passed through: OCSP_STALE, ...).
inline constexpr char kCertRevoked[] = "CERT_REVOKED";
inline constexpr char kCertOnHold[] = "CERT_ON_HOLD";
inline constexpr char kOcspUnknown[] = "OCSP_UNKNOWN";
inline constexpr char kOcspUnavailable[] = "OCSP_UNAVAILABLE";
inline constexpr char kOcspNotConfigured[] = "OCSP_NOT_CONFIGURED";
}  // namespace reason

// A Status of `code` whose message is "<reason>: <detail>".
inline absl::Status ReasonError(absl::StatusCode code, absl::string_view reason_code,
                                absl::string_view detail) {
  std::string msg(reason_code);
  msg += ": ";
  msg.append(detail.data(), detail.size());
  return absl::Status(code, msg);
}

// The leading UPPER_SNAKE token of a message made by ReasonError ("" if the
// message does not start with one). Survives Annotate() only when it is the
// first layer, so read it before annotating.
inline std::string ReasonOf(const absl::Status& status) {
  const absl::string_view msg = status.message();
  size_t n = 0;
  while (n < msg.size() && ((msg[n] >= 'A' && msg[n] <= 'Z') || msg[n] == '_' ||
                            (msg[n] >= '0' && msg[n] <= '9'))) {
    ++n;
  }
  if (n == 0 || n + 1 >= msg.size() || msg[n] != ':' || msg[n + 1] != ' ') return "";
  return std::string(msg.substr(0, n));
}

}  // namespace rp::nvidia::rim

#endif  // RP_VERIFIER_NVIDIA_RIM_REASONS_H_
