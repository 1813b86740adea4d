// libFuzzer target for nvidia::ParseGpuReportUnverified (STYLE §17).
// Build: cmake -DRP_BUILD_FUZZERS=ON -DCMAKE_CXX_COMPILER=clang++ (links
// only rp::nvidia). Seeds: the real reports of tests/data/nvidia (hex-decode
// the *_report.hex files into tests/fuzz/spdm_report_fuzzer_corpus/).
//
// The invariant function is also linked into nvidia_test, which replays
// seeded mutations of the real reports through it (spdm_test.cc).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>

#include "absl/strings/str_format.h"
#include "verifier/nvidia/spdm.h"

namespace rp::nvidia::fuzz {

// Parses `data` and checks:
//  - error <=> no value, and every error carries a known stable code;
//  - a value => size within the cap, 37-byte request with the nonce at
//    [4,36), the signature equals the last 96 bytes, every block index is
//    unique and non-zero, the opaque fields re-encode to the opaque bytes,
//    and parsing again gives the same value.
// Returns "" when all hold, else the first violation.
std::string CheckSpdmParseInvariants(std::span<const uint8_t> data) {
  absl::StatusOr<GpuReport> r = ParseGpuReportUnverified(data);
  if (!r.ok()) {
    static const char* const kCodes[] = {
        "REPORT_MALFORMED",        "REPORT_TOO_LARGE",           "REPORT_TRAILING_BYTES",
        "SPDM_VERSION_UNSUPPORTED", "MEASUREMENT_BLOCK_INVALID",  "MEASUREMENT_INDEX_DUPLICATE",
        "OPAQUE_MALFORMED",        "OPAQUE_FIELD_DUPLICATE",     "OPAQUE_VERSION_UNSUPPORTED"};
    const std::string code = ReportErrorReason(r.status());
    for (const char* c : kCodes) {
      if (code == c && std::string(r.status().message()).rfind(code + ":", 0) == 0) return "";
    }
    return absl::StrFormat("error without a stable code: %s", std::string(r.status().message()));
  }
  const GpuReport& g = *r;
  if (data.size() > kMaxReportSize) return "value for an oversized input";
  if (data.size() < kSpdmRequestSize + kSignatureSize) return "value for a too-short input";
  if (!std::equal(g.raw.begin(), g.raw.end(), data.begin(), data.end())) return "raw differs";
  if (!std::equal(g.requester_nonce.begin(), g.requester_nonce.end(),
                  data.begin() + kRequesterNonceOffset)) {
    return "requester nonce not at [4,36)";
  }
  if (!std::equal(g.signature.begin(), g.signature.end(),
                  data.end() - static_cast<std::ptrdiff_t>(kSignatureSize))) {
    return "signature is not the last 96 bytes";
  }
  if (g.blocks.empty()) return "no blocks";
  for (size_t i = 0; i < g.blocks.size(); ++i) {
    if (g.blocks[i].index == 0) return "block index 0";
    for (size_t k = 0; k < i; ++k) {
      if (g.blocks[k].index == g.blocks[i].index) return "duplicate block index";
    }
  }
  std::vector<uint8_t> reencoded;
  for (const OpaqueField& f : g.opaque.fields) {
    reencoded.push_back(static_cast<uint8_t>(f.type & 0xFF));
    reencoded.push_back(static_cast<uint8_t>(f.type >> 8));
    reencoded.push_back(static_cast<uint8_t>(f.value.size() & 0xFF));
    reencoded.push_back(static_cast<uint8_t>(f.value.size() >> 8));
    reencoded.insert(reencoded.end(), f.value.begin(), f.value.end());
  }
  if (reencoded != g.opaque_raw) return "opaque fields do not re-encode to the opaque bytes";
  absl::StatusOr<GpuReport> again = ParseGpuReportUnverified(data);
  if (!again.ok() || !(*again == g)) return "parsing is not deterministic";
  return "";
}

}  // namespace rp::nvidia::fuzz

// RP_FUZZ_NO_ENTRY: the structure-aware target includes this file for the
// invariants and brings its own entry point.
#ifndef RP_FUZZ_NO_ENTRY
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string why =
      rp::nvidia::fuzz::CheckSpdmParseInvariants(std::span<const uint8_t>(data, size));
  if (!why.empty()) {
    // A crash is how libFuzzer records a violated invariant.
    std::fprintf(stderr, "spdm_report_fuzzer invariant violated: %s\n", why.c_str());
    std::abort();
  }
  return 0;
}
#endif  // RP_FUZZ_NO_ENTRY
