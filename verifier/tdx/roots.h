// Intel trust anchors for TDX (the Intel SGX Root CA, compiled in and pinned
// by SPKI SHA-256) and the configuration of which roots a TdxVerifier trusts.
#ifndef RP_VERIFIER_TDX_ROOTS_H_
#define RP_VERIFIER_TDX_ROOTS_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rp::tdx {

// CN=Intel SGX Root CA (valid 2018-05-21 -> 2049-12-31), PEM text.
std::string_view IntelSgxRootCaPem();
// SHA-256 of its DER SubjectPublicKeyInfo.
std::array<uint8_t, 32> IntelSgxRootCaSpkiSha256();

// Copyable plain data; TdxVerifier::Create parses and validates it.
struct TdxTrustConfig {
  // Real trust anchors (PEM, one certificate each). Each must match the
  // compiled Intel SPKI pin unless allow_unpinned_roots_for_test is set.
  std::vector<std::string> intel_root_pems;
  // Simulation roots (ARCHITECTURE 9): evidence chained to them verifies
  // with DeviceResult.simulated = true. Production configs leave this empty.
  std::vector<std::string> simulation_root_pems;
  bool allow_unpinned_roots_for_test = false;

  // The compiled Intel SGX Root CA, nothing else.
  static TdxTrustConfig Default();
  // The given roots in place of Intel's, treated exactly like it
  // (simulated = false), for tests with the builder's PCK hierarchy.
  static TdxTrustConfig ForTest(std::vector<std::string> root_pems);
};

}  // namespace rp::tdx

#endif  // RP_VERIFIER_TDX_ROOTS_H_
