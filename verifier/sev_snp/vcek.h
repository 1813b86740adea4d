// AMD KDS certificate extensions (OID arc 1.3.6.1.4.1.3704.1.*) of a VCEK or
// VLEK (spec §3.2, KDS spec #57230). Parsing only: whether the values match
// the report is decided by the rules in rules.h.
#ifndef RP_VERIFIER_SEV_SNP_VCEK_H_
#define RP_VERIFIER_SEV_SNP_VCEK_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "verifier/common/encoding.h"
#include "verifier/crypto/openssl_ptr.h"
#include "verifier/sev_snp/report.h"

namespace rp::sev_snp {

// How the hwID extension value was encoded. Every real AMD certificate seen
// carries the raw bytes; some tools write a DER OCTET STRING (04 40 ...).
enum class HwIdEncoding { kAbsent, kRaw, kOctetString };

// The decoded extensions. A field is nullopt when its extension is absent;
// a present but malformed extension is a parse error, never nullopt.
struct KdsExtensions {
  std::optional<int> struct_version;        // .1   0 Milan/Genoa, 1 Turin
  std::optional<std::string> product_name;  // .2   "Milan-B0", "Genoa", "Turin"
  std::optional<uint8_t> bl_spl;            // .3.1
  std::optional<uint8_t> tee_spl;           // .3.2
  std::optional<uint8_t> snp_spl;           // .3.3
  std::optional<uint8_t> spl4;              // .3.4 (absent on Turin)
  std::optional<uint8_t> spl5;              // .3.5
  std::optional<uint8_t> spl6;              // .3.6
  std::optional<uint8_t> spl7;              // .3.7
  std::optional<uint8_t> ucode_spl;         // .3.8
  std::optional<uint8_t> fmc_spl;           // .3.9 (Turin only)
  std::optional<Bytes> hw_id;               // .4   64 bytes (Turin: 8)
  HwIdEncoding hw_id_encoding = HwIdEncoding::kAbsent;
  std::optional<std::string> csp_id;  // .5   VLEK only

  bool operator==(const KdsExtensions&) const = default;
};

// Decoders for single extnValue contents (exposed for tests and fuzzing).
// An SPL: a DER INTEGER in 0..255, minimally encoded, so values >= 128 take
// two content bytes ("02 02 00 DB" = 219).
absl::StatusOr<uint8_t> DecodeSplInteger(std::span<const uint8_t> value);
// A DER IA5String of printable ASCII, at most 256 characters.
absl::StatusOr<std::string> DecodeIa5String(std::span<const uint8_t> value);
// hwID: decided by length, never by the first byte (a raw ID may begin with
// 0x04). 64 or 8 bytes are raw; otherwise it must be exactly one DER OCTET
// STRING holding 64 or 8 bytes.
struct HwId {
  Bytes id;
  HwIdEncoding encoding = HwIdEncoding::kAbsent;
};
absl::StatusOr<HwId> DecodeHwId(std::span<const uint8_t> value);

// Looks up the extnValue contents of an extension by dotted OID.
using ExtensionLookup =
    std::function<absl::StatusOr<std::optional<Bytes>>(std::string_view oid)>;

// Decodes every KDS extension found through `lookup`. Errors name the
// extension ("sev_snp: vcek extension hwID (1.3.6.1.4.1.3704.1.4): ...").
absl::StatusOr<KdsExtensions> ParseKdsExtensions(const ExtensionLookup& lookup);
// Same, over a certificate's extensions (duplicates are an error).
absl::StatusOr<KdsExtensions> ParseKdsExtensions(const X509* cert);

// The SPLs as a TCB in the product's layout; nullopt if a required SPL is
// missing (bl, tee, snp, ucode; and fmc on Turin) or the product is unknown.
std::optional<TcbParts> EndorsedTcb(const KdsExtensions& ext, Product product);

}  // namespace rp::sev_snp

#endif  // RP_VERIFIER_SEV_SNP_VCEK_H_
