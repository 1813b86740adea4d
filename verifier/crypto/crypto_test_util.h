// Test-only helpers shared by the crypto tests (not part of rp::crypto).
#ifndef RP_VERIFIER_CRYPTO_CRYPTO_TEST_UTIL_H_
#define RP_VERIFIER_CRYPTO_CRYPTO_TEST_UTIL_H_

#include <fstream>
#include <iterator>
#include <string>

#include "absl/time/time.h"
#include "verifier/common/encoding.h"

namespace rp::crypto::testing {

// Reads tests/data/<relative> from the source tree (RP_SOURCE_DIR is set by
// rp_test); empty if missing, which the caller's expectations will catch.
inline Bytes ReadTestDataForTest(const std::string& relative) {
  std::ifstream in(std::string(RP_SOURCE_DIR) + "/tests/data/" + relative, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// 2025-09-01T00:00:00Z, the verification time used with the real AMD data.
inline absl::Time AmdTestTime() { return absl::FromUnixSeconds(1756684800); }

}  // namespace rp::crypto::testing

#endif  // RP_VERIFIER_CRYPTO_CRYPTO_TEST_UTIL_H_
