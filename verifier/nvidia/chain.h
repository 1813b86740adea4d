// GPU / NVSwitch device certificate chain (spec nvidia-gpu.md §2): parsing,
// the pinned NVIDIA Device Identity CA, the leaf FWID extension, device
// identity claims, and OCSP for the intermediate certificates.
#ifndef RP_VERIFIER_NVIDIA_CHAIN_H_
#define RP_VERIFIER_NVIDIA_CHAIN_H_

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "verifier/common/encoding.h"
#include "verifier/core/result.h"
#include "verifier/core/verifier.h"
#include "verifier/crypto/openssl_ptr.h"

namespace rp::nvidia {

enum class GpuArch { kHopper, kBlackwell };

// "HOPPER" / "BLACKWELL" (exact, as NVIDIA tools send it); nullopt else.
std::optional<GpuArch> ParseArch(std::string_view arch);
std::string_view ArchName(GpuArch arch);  // "HOPPER" | "BLACKWELL"

// Exact chain shape (spec §2.1): FMC leaf -> BROM -> Provisioner ICA ->
// <chip> Identity -> NVIDIA Device Identity CA.
inline constexpr size_t kGpuChainLength = 5;
// Parsing cap: a longer bundle is rejected as CERT_CHAIN_LENGTH without
// building paths (STYLE §11).
inline constexpr size_t kMaxBundleCerts = 8;

// The pinned production trust anchor "NVIDIA Device Identity CA"
// (nvtrust certs/verifier_device_root.pem, serial 2D3670B1…5B54), compiled in.
std::string_view PinnedDeviceRootPem();
// SHA-256 of its DER SubjectPublicKeyInfo.
std::array<uint8_t, 32> PinnedDeviceRootSpkiSha256();

// Certificates of `text`: PEM, or base64 of PEM (how NVIDIA's JSON carries
// it), leaf first. At most kMaxBundleCerts.
absl::StatusOr<std::vector<crypto::OpensslPtr<X509>>> ParseGpuCertChain(std::string_view text);

// FWID extension OIDs (spec §2.3).
inline constexpr char kHopperFwidOid[] = "2.23.133.5.4.1";        // NVIDIA layout
inline constexpr char kBlackwellFwidOid[] = "2.23.133.5.4.1.1";   // DICE TcbInfo

struct LeafFwid {
  GpuArch format = GpuArch::kHopper;  // which extension carried it
  Bytes fwid;                         // 48-byte SHA-384 digest
};

// The FWID the leaf certifies, parsed as ASN.1 (no fixed offsets):
//  Hopper  2.23.133.5.4.1:   SEQUENCE { INTEGER, SubjectPublicKeyInfo,
//                            SEQUENCE { OID sha384, OCTET STRING(48) } }
//  Blackwell 2.23.133.5.4.1.1: DiceTcbInfo, fwids [6] IMPLICIT SEQUENCE OF
//                            FWID { OID sha384, OCTET STRING(48) }; fwids[0].
// nullopt when the leaf has neither extension; error when both are present
// or the one present is malformed.
absl::StatusOr<std::optional<LeafFwid>> ExtractLeafFwid(const X509* leaf);

// Serial number as an unsigned decimal string (the `ueid` claim).
std::string DecimalSerial(const X509* cert);

// --- OCSP (spec §2.4) ---------------------------------------------------------

// How OCSP answers map onto checks. Defaults fail closed.
struct GpuOcspPolicy {
  // revoked with reason certificateHold -> not-checked CERT_ON_HOLD_ALLOWED
  // (a warning) instead of fail CERT_ON_HOLD.
  bool allow_hold = false;
  // unknown -> not-checked OCSP_UNKNOWN_ALLOWED instead of fail OCSP_UNKNOWN.
  bool allow_unknown = false;
  // responder unreachable / no answer -> not-checked OCSP_UNAVAILABLE (a
  // warning) instead of fail OCSP_UNAVAILABLE.
  bool soft_fail_unreachable = false;
};

struct GpuOcspSettings {
  // Responder URL (device certs carry no AIA). "" = offline only.
  std::string url;
  GpuOcspPolicy policy;
};

// One certificate's OCSP outcome (also the `ocsp` claim entry).
struct CertOcspOutcome {
  size_t index = 0;          // position in the chain (1..3)
  std::string subject;       // subject CN
  std::string serial_hex;
  // good | revoked | hold | unknown | unavailable | not-configured | invalid
  std::string status;
  core::CheckStatus check = core::CheckStatus::kNotChecked;
  std::string reason;        // OK, CERT_REVOKED, CERT_ON_HOLD, ...
  std::string detail;
  std::string source;        // "responder" | "cache/offline" | ""
  std::string key;              // nvidia/ocsp/<...>.der when a response was obtained
  std::string response_sha256;  // hex SHA-256 of that response
  int revocation_reason = -1;
  std::optional<absl::Time> this_update, next_update, revocation_time;
};

// Offline-layout key "nvidia/ocsp/<OcspCacheKey(...)>.der" for `cert`.
absl::StatusOr<std::string> OcspCollateralKey(const X509* cert, const X509* issuer);

// Checks certs[1..n-2] of a VERIFIED path (leaf first, root last; the root
// and the GPU-generated leaf are skipped), top of the chain first. Uses
// ctx.ocsp when set (nonce checked when the answer is fresh), else
// ctx.collateral's nvidia/ocsp/ entries (no nonce). Each response is verified
// with crypto::VerifyOcspResponse at ctx.at. Never returns a pass without a
// verified "good" response. Results are in chain order (index 1 first).
std::vector<CertOcspOutcome> CheckChainOcsp(std::span<const X509* const> path,
                                            const GpuOcspSettings& settings,
                                            const core::VerifyContext& ctx);

}  // namespace rp::nvidia

#endif  // RP_VERIFIER_NVIDIA_CHAIN_H_
