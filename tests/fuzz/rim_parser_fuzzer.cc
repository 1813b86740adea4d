// libFuzzer target for nvidia::rim::ParseRimUnverified and VerifyRim
// (STYLE §17). Build: cmake -DRP_BUILD_FUZZERS=ON -DCMAKE_CXX_COMPILER=clang++
// (links rp::nvidia_rim; wiring in tests/fuzz/CMakeLists.txt is the lead's).
// Run: ./rim_parser_fuzzer tests/data/nvidia/rims/vbios (real RIMs as seeds).
//
// Invariants (abort on violation):
//  * ParseRimUnverified: error iff no value; errors carry RIM_MALFORMED;
//    a value has sorted unique indices <= kMaxRimIndex, 1..kMaxAlternatives
//    alternatives of 48 bytes each.
//  * VerifyRim agrees with the parser on well-formedness, and with no
//    trusted root configured can never report an authentic RIM.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "openssl/err.h"
#include "absl/time/time.h"
#include "verifier/nvidia/rim/reasons.h"
#include "verifier/nvidia/rim/rim.h"
#include "verifier/nvidia/rim/rim_signature.h"

namespace {

void Fail(const char* what) {
  std::fprintf(stderr, "invariant violated: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rp::nvidia::rim;  // NOLINT(google-build-using-namespace): fuzz entry only
  const std::string_view xml(reinterpret_cast<const char*>(data), size);  // NOLINT
  const absl::StatusOr<Rim> rim = ParseRimUnverified(xml);
  if (!rim.ok()) {
    if (ReasonOf(rim.status()) != reason::kRimMalformed) Fail("parse error without RIM_MALFORMED");
  } else {
    uint32_t last = 0;
    for (size_t i = 0; i < rim->measurements.size(); ++i) {
      const RimMeasurement& m = rim->measurements[i];
      if (i > 0 && m.index <= last) Fail("indices not sorted/unique");
      last = m.index;
      if (m.index > kMaxRimIndex) Fail("index out of range");
      if (m.alternatives.empty() || m.alternatives.size() > kMaxAlternatives) {
        Fail("alternatives count");
      }
      for (const auto& a : m.alternatives) {
        if (a.size() != kSha384Bytes) Fail("digest length");
      }
    }
  }
  RimTrustConfig no_roots;
  no_roots.trust_nvidia_root = false;
  const absl::StatusOr<RimVerification> v =
      VerifyRim(xml, no_roots, absl::FromUnixSeconds(1736899200));
  if (v.ok() != rim.ok()) Fail("VerifyRim and ParseRimUnverified disagree");
  if (v.ok() && v->ok()) Fail("authentic without a trusted root");
  ERR_clear_error();  // queued OpenSSL errors would make libFuzzer scan for leaks per input
  return 0;
}
