// The CoCo initdata of a pod (annotation
// io.katacontainers.config.hypervisor.cc_init_data): base64 of gzip of a
// TOML document whose top level names the digest algorithm
//
//   algorithm = "sha384"        # sha256 | sha384 | sha512
//   version = "0.1.0"
//   [data]
//   "aa.toml" = '''...'''
//
// The TEE commits to digest(TOML bytes) by the declared algorithm: SEV-SNP
// HOST_DATA (32 bytes) and TDX MRCONFIGID (48 bytes), the digest truncated
// or zero-padded to that size (CoCo kata-types initdata.rs adjust_digest;
// trustee kbs/docs/initdata.md).
//
// Decoding is bounded at every step: the annotation text, the gzip output
// (inflated in chunks, stopped one byte past the cap), and the TOML, of
// which only the top-level section (before the first table header) is
// read, strictly: `algorithm` and `version` as single-line strings, once
// each; any other top-level content is refused rather than guessed at.
#ifndef RP_ADMISSION_INITDATA_H_
#define RP_ADMISSION_INITDATA_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "verifier/common/encoding.h"

namespace rp::admission {

inline constexpr char kInitdataAnnotation[] = "io.katacontainers.config.hypervisor.cc_init_data";

struct InitdataLimits {
  size_t max_annotation_bytes = 512 * 1024;  // the base64 text
  size_t max_toml_bytes = 64 * 1024;         // after gunzip
};

// Reason codes (docs/admission.md).
inline constexpr char kInitdataMalformed[] = "INITDATA_MALFORMED";
inline constexpr char kInitdataTooLarge[] = "INITDATA_TOO_LARGE";
inline constexpr char kInitdataAlgorithmUnsupported[] = "INITDATA_ALGORITHM_UNSUPPORTED";
inline constexpr char kInitdataVersionUnsupported[] = "INITDATA_VERSION_UNSUPPORTED";

struct Initdata {
  bool ok = false;
  std::string reason;  // one of the codes above when !ok
  std::string detail;
  std::string algorithm;  // sha256 | sha384 | sha512
  std::string version;
  Bytes digest;           // by `algorithm`, over the TOML bytes
  Bytes snp_host_data;    // digest adjusted to 32 bytes
  Bytes tdx_mrconfigid;   // digest adjusted to 48 bytes
};

Initdata DecodeInitdataAnnotation(std::string_view annotation, const InitdataLimits& limits);

// Gunzips `gz` (one gzip member, nothing after it) into at most `max_out`
// bytes. Exposed for tests; errors are INVALID_ARGUMENT / RESOURCE_EXHAUSTED.
absl::StatusOr<std::string> Gunzip(std::span<const uint8_t> gz, size_t max_out);

// The top-level `algorithm` and `version` of the TOML subset above.
struct InitdataHeader {
  std::string algorithm;
  std::string version;
};
absl::StatusOr<InitdataHeader> ParseInitdataHeader(std::string_view toml);

}  // namespace rp::admission

#endif  // RP_ADMISSION_INITDATA_H_
