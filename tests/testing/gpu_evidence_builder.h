// Builds NVIDIA GPU evidence byte by byte: SPDM 1.1 GET_MEASUREMENTS request
// + MEASUREMENTS response with NVIDIA opaque data, signed with ECDSA P-384
// (r||s big-endian) like the GPU's FMC alias key, and 5-certificate device
// chains (FMC leaf -> BROM -> Provisioner ICA -> Identity -> root) with the
// Hopper or Blackwell FWID extension, under a test or simulation root made
// with the cert factory. Used by one-change negative tests and by the
// simulator. Not used by any verifier.
//
// The encoder is written independently of verifier/nvidia/spdm.cc and
// opaque.cc (it shares only constants and value types), so a parser bug
// does not hide itself in its own tests.
#ifndef RP_TESTS_TESTING_GPU_EVIDENCE_BUILDER_H_
#define RP_TESTS_TESTING_GPU_EVIDENCE_BUILDER_H_

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tests/testing/cert_factory.h"
#include "verifier/common/encoding.h"
#include "verifier/crypto/openssl_ptr.h"
#include "verifier/nvidia/chain.h"
#include "verifier/nvidia/opaque.h"
#include "verifier/nvidia/spdm.h"

namespace rp::testing {

// --- Reports --------------------------------------------------------------------

// TLVs as on the wire: type u16 LE, length u16 LE, value.
Bytes EncodeOpaqueFields(const std::vector<nvidia::OpaqueField>& fields);
// Signs every byte of `report` (ECDSA P-384 / SHA-384) and appends r||s
// (48 + 48 bytes, big-endian). `key` must be an EC P-384 private key.
absl::Status AppendSpdmSignature(const EVP_PKEY* key, Bytes& report);

class GpuReportBuilder {
 public:
  // A valid H100 report in CC mode, shaped like the real 550.90.07 one:
  // 64 DMTF blocks of 48 bytes (index i: bytes i,i+1,...), requester nonce
  // 0x00..0x1f, responder nonce 0xa0..0xbf, opaque fields VBIOS_VERSION
  // 96.00.9F.00.01, BOARD_ID, CHIP_SKU 882, CHIP_SKU_MOD 0, PROJECT 1010,
  // PROJECT_SKU 0200, PROJECT_SKU_MOD "", DRIVER_VERSION 550.90.07,
  // GPU_INFO, MSRSCNT, CPRINFO, NVDEC0_STATUS 0x55, FWID (0x5a...),
  // PROTECTED_PCIE_STATUS 0x55.
  GpuReportBuilder();

  // Request.
  uint8_t request_version = nvidia::kSpdmVersion11;
  uint8_t request_code = nvidia::kSpdmGetMeasurements;
  uint8_t request_param1 = nvidia::kParam1SignatureRequested;
  uint8_t request_param2 = 0xFF;
  std::array<uint8_t, nvidia::kSpdmNonceSize> nonce{};
  uint8_t slot_id = 0;
  // Response.
  uint8_t response_version = nvidia::kSpdmVersion11;
  uint8_t response_code = nvidia::kSpdmMeasurements;
  uint8_t response_param1 = 0;
  uint8_t response_param2 = 0;
  std::vector<nvidia::MeasurementBlock> blocks;
  uint8_t measurement_spec = nvidia::kMeasurementSpecDmtf;  // for every block
  std::optional<uint8_t> number_of_blocks_override;
  std::array<uint8_t, nvidia::kSpdmNonceSize> responder_nonce{};
  std::vector<nvidia::OpaqueField> opaque;

  GpuReportBuilder& SetNonce(std::span<const uint8_t> n);
  // Replaces the value of `type` (appends the field if absent).
  GpuReportBuilder& SetOpaque(uint16_t type, Bytes value);
  GpuReportBuilder& RemoveOpaque(uint16_t type);
  GpuReportBuilder& SetFwid(std::span<const uint8_t> fwid);
  // PPCIe mode: PROTECTED_PCIE_STATUS 0xAA, SWITCH_PDI (`pdis`),
  // OPAQUE_DATA_VERSION 1, FEATURE_FLAG 2.
  GpuReportBuilder& SetPpcie(const std::vector<Bytes>& pdis);

  // Request + response without the signature.
  Bytes BuildUnsigned() const;
  // BuildUnsigned() + signature by `key`.
  absl::StatusOr<Bytes> BuildSigned(const EVP_PKEY* key) const;
};

// ASCII text NUL-padded to `width` bytes (at least the text + 1 NUL).
Bytes PaddedText(std::string_view text, size_t width);

// --- Certificates -----------------------------------------------------------------

// Extension values (raw extnValue contents) as NVIDIA writes them.
// Hopper 2.23.133.5.4.1: SEQUENCE { INTEGER 1, SPKI(key), SEQUENCE { sha384, fwid } }.
absl::StatusOr<Bytes> HopperFwidExtension(const EVP_PKEY* key, std::span<const uint8_t> fwid);
// Blackwell 2.23.133.5.4.1.1: DiceTcbInfo { [0] "NVIDIA", [1] model, [2] "01",
// [3] svn, [4] layer, [5] index, [6] fwids { fwid, zeros }, [7] flags }.
Bytes BlackwellFwidExtension(std::string_view model, std::span<const uint8_t> fwid);

struct GpuPkiOptions {
  nvidia::GpuArch arch = nvidia::GpuArch::kHopper;
  std::string root_cn = "NVIDIA Device Identity CA";
  absl::Time not_before = absl::FromUnixSeconds(1603000000);  // 2020-10-18
  absl::Time not_after = absl::FromCivil(absl::CivilSecond(9999, 12, 31, 23, 59, 59),
                                         absl::UTCTimeZone());
};

// Root -> <chip> Identity -> Provisioner ICA, shared by the devices of a node.
struct GpuTestPki {
  GpuPkiOptions options;
  Issued root, identity, provisioner;
  std::string RootPem() const;
};
absl::StatusOr<GpuTestPki> MakeGpuTestPki(const GpuPkiOptions& options);

struct GpuDeviceOptions {
  Bytes brom_serial = {0x41, 0xE2, 0x3D, 0x01};
  Bytes leaf_serial = {0x53, 0xC2, 0x2B, 0xA1};  // ueid = its decimal value
  Bytes fwid = Bytes(nvidia::kFwidSize, 0x5A);
  bool fwid_extension = true;
  // Put the other architecture's FWID extension on the leaf.
  bool wrong_fwid_extension = false;
  KeyType leaf_key = KeyType::kEcP384;
  // An LS10 NVSwitch instead of a GPU: BROM "LS_10 A01 FSP BROM", leaf
  // "LS_10 A01 FSP FMC LF", the Hopper-style FWID extension (as NVIDIA's SDK
  // reads LS10 certificates), issued by the same Provisioner ICA as the
  // pki's GPUs (the verifier reads the class from the BROM CN only).
  bool nvswitch = false;
  // Replaces the "<chip> A01 GSP" / "LS_10 A01 FSP" prefix of the BROM and
  // leaf names (a device of a class the verifier does not know, "GA100 A01 GSP").
  std::string name_prefix;
  // The leaf's FWID extension value as these raw bytes (under the OID the
  // options select) instead of a well-formed one.
  std::optional<Bytes> fwid_extension_value;
};

// BROM (device identity) and FMC leaf (signs reports) of one device.
struct GpuTestDevice {
  Issued brom, leaf;
};
absl::StatusOr<GpuTestDevice> MakeGpuTestDevice(const GpuTestPki& pki,
                                                const GpuDeviceOptions& options);

// Leaf first: leaf, BROM, Provisioner ICA, Identity, root.
std::string GpuChainPem(const GpuTestPki& pki, const GpuTestDevice& device);

// Chip names per architecture: "GH100"/"GB100".
std::string ChipName(nvidia::GpuArch arch);

}  // namespace rp::testing

#endif  // RP_TESTS_TESTING_GPU_EVIDENCE_BUILDER_H_
