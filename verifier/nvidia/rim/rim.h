// NVIDIA Reference Integrity Manifests (RIMs): ISO/IEC 19770-2 SWID tags
// with TCG RIM attributes and an enveloped XML-DSig (specs/nvidia-gpu.md §3.1).
//
// ParseRimUnverified turns XML text into an immutable Rim. It does no crypto:
// a Rim from here has NOT been authenticated. Use VerifyRim (rim_signature.h),
// which parses and verifies one and the same document, before trusting any
// value.
//
// The parser is libxml2 with network access, DTD loading and entity
// substitution off; it rejects any DTD, entity reference or processing
// instruction, documents over kMaxRimBytes, deeper than kMaxXmlDepth or with
// more than kMaxXmlNodes nodes, and matches element and attribute namespaces
// exactly. Thread-safe (no shared state besides libxml2's one-time init).
#ifndef RP_VERIFIER_NVIDIA_RIM_RIM_H_
#define RP_VERIFIER_NVIDIA_RIM_RIM_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "verifier/common/encoding.h"

namespace rp::nvidia::rim {

inline constexpr size_t kMaxRimBytes = 2 * 1024 * 1024;
inline constexpr int kMaxXmlDepth = 32;
inline constexpr size_t kMaxXmlNodes = 20000;
// A GPU report has at most 255 measurement blocks (1-based u8 index), so a
// RIM index (0-based) is at most 254.
inline constexpr uint32_t kMaxRimIndex = 254;
inline constexpr size_t kMaxRimResources = 255;
inline constexpr size_t kMaxAlternatives = 16;
inline constexpr size_t kSha384Bytes = 48;

// Namespaces (exact strings, §3.1).
inline constexpr char kSwidNs[] = "http://standards.iso.org/iso/19770/-2/2015/schema.xsd";
inline constexpr char kTcgRimNs[] =
    "https://trustedcomputinggroup.org/resource/tcg-reference-integrity-manifest-rim-information-model/";
inline constexpr char kSha384HashNs[] = "http://www.w3.org/2001/04/xmlenc#sha384";
inline constexpr char kXmlDsigNs[] = "http://www.w3.org/2000/09/xmldsig#";

// One <Resource type="Measurement">.
struct RimMeasurement {
  uint32_t index = 0;  // 0-based (= SPDM block index - 1)
  std::string name;
  bool active = false;
  // Hash0..Hash{alternatives-1}: each a SHA-384 digest (48 bytes). A runtime
  // value matches if it equals any of them.
  std::vector<Bytes> alternatives;
};

// Parsed content of a RIM. Plain value, never modified after parsing.
struct Rim {
  // <SoftwareIdentity> attributes.
  std::string tag_id;
  std::string name;      // chip, e.g. "GH100"
  std::string version;   // SoftwareIdentity@version (tag format, "1.0")
  std::string tag_version;
  // <Meta> attributes (no namespace).
  std::string colloquial_version;  // driver "550.144.03" / VBIOS "96.00.5E.00.01"
  std::string edition;
  std::string product;
  std::string revision;
  std::string payload_type;
  // <Meta> attributes in the TCG RIM namespace.
  std::string firmware_manufacturer;
  std::string firmware_manufacturer_id;  // → oemid claim
  std::string platform_manufacturer_id;
  std::string platform_model;
  std::string binding_spec;
  std::string binding_spec_version;
  // Every Measurement resource, sorted by index, indices unique.
  std::vector<RimMeasurement> measurements;

  // nullptr if the index is not in the RIM.
  const RimMeasurement* Find(uint32_t index) const;
  // Indices of active measurements, ascending.
  std::vector<uint32_t> ActiveIndices() const;
};

// Errors are INVALID_ARGUMENT with message "RIM_MALFORMED: <what>" (see
// reasons.h). Does not look at the ds:Signature element.
absl::StatusOr<Rim> ParseRimUnverified(std::string_view xml);

}  // namespace rp::nvidia::rim

#endif  // RP_VERIFIER_NVIDIA_RIM_RIM_H_
