// Intel SGX extensions of a PCK certificate (OID 1.2.840.113741.1.13.1),
// Intel "SGX PCK Certificate and CRL Profile" §1.3.5. Decoded with OpenSSL's
// ASN.1 parser (d2i_ASN1_SEQUENCE_ANY: bounded, DER), then walked with exact
// type, size and uniqueness checks.
#ifndef RP_VERIFIER_TDX_PCK_EXTENSIONS_H_
#define RP_VERIFIER_TDX_PCK_EXTENSIONS_H_

#include <array>
#include <cstdint>
#include <optional>
#include <span>

#include "absl/status/statusor.h"
#include "verifier/common/encoding.h"
#include "verifier/crypto/openssl_ptr.h"

namespace rp::tdx {

inline constexpr char kSgxExtensionsOid[] = "1.2.840.113741.1.13.1";

struct PckExtensions {
  std::array<uint8_t, 16> ppid{};               // .1
  std::array<uint8_t, 16> cpusvn_components{};  // .2.1 - .2.16 (SGX TCB components)
  uint16_t pcesvn = 0;                          // .2.17
  std::array<uint8_t, 16> cpusvn{};             // .2.18
  std::array<uint8_t, 2> pce_id{};              // .3
  std::array<uint8_t, 6> fmspc{};               // .4
  int sgx_type = 0;                             // .5 (0 standard, 1 scalable, 2 scalable+integrity)
  std::optional<std::array<uint8_t, 16>> platform_instance_id;  // .6
  // .7 configuration (multi-package platforms).
  std::optional<bool> dynamic_platform;
  std::optional<bool> cached_keys;
  std::optional<bool> smt_enabled;
  bool operator==(const PckExtensions&) const = default;
};

// Decodes the DER contents of the SGX extensions' extnValue. Rejects wrong
// types and sizes, duplicate or missing mandatory entries, unknown entries,
// and trailing bytes. INVALID_ARGUMENT "tdx: pck extensions: ...".
absl::StatusOr<PckExtensions> ParsePckExtensionsDer(std::span<const uint8_t> der);
// The same, taken from a certificate (error when the extension is absent or
// present twice).
absl::StatusOr<PckExtensions> ParsePckExtensions(const X509* cert);

}  // namespace rp::tdx

#endif  // RP_VERIFIER_TDX_PCK_EXTENSIONS_H_
