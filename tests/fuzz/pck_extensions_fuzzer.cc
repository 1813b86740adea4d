// libFuzzer target: the SGX extensions of an Intel PCK certificate
// (OID 1.2.840.113741.1.13.1; verifier/tdx/pck_extensions.h). The PCK chain
// comes inside the attacker's quote; the extensions are parsed before the
// chain verifies (to pick collateral by FMSPC).
//   ParsePckExtensionsDer(der)   the extnValue contents
//   ParsePckExtensions(X509*)    the same from a whole certificate (the
//                                input is also tried as a DER certificate)
// Invariants: no crash / sanitizer report; errors are INVALID_ARGUMENT with
// the "tdx: pck extensions" context; a value has sgx_type in 0..255 and
// parsing is deterministic (operator==).
#include <cstdint>
#include <span>

#include "absl/status/status.h"
#include "openssl/err.h"
#include "openssl/x509.h"
#include "tests/fuzz/fuzz_util.h"
#include "verifier/tdx/pck_extensions.h"

namespace {
constexpr char kT[] = "pck_extensions_fuzzer";
using rp::fuzz::Fail;

void CheckResult(const absl::StatusOr<rp::tdx::PckExtensions>& e) {
  if (!e.ok()) {
    if (e.status().code() != absl::StatusCode::kInvalidArgument) Fail(kT, "not INVALID_ARGUMENT");
    if (e.status().message().find("pck extensions") == std::string_view::npos) {
      Fail(kT, "error without context");
    }
    return;
  }
  // The parser takes any ENUMERATED 0..255 (only 0..2 are defined; the value
  // is reported, never decided on), so that is the range to hold.
  if (e->sgx_type < 0 || e->sgx_type > 255) Fail(kT, "sgx_type out of range");
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> der(data, size);
  absl::StatusOr<rp::tdx::PckExtensions> e = rp::tdx::ParsePckExtensionsDer(der);
  CheckResult(e);
  if (e.ok()) {
    absl::StatusOr<rp::tdx::PckExtensions> again = rp::tdx::ParsePckExtensionsDer(der);
    if (!again.ok() || !(*again == *e)) Fail(kT, "parsing is not deterministic");
  }
  const unsigned char* p = data;
  X509* cert = d2i_X509(nullptr, &p, static_cast<long>(size));
  if (cert != nullptr) {
    CheckResult(rp::tdx::ParsePckExtensions(cert));
    X509_free(cert);
  }
  // Free the error strings OpenSSL queued for this input: otherwise every
  // input ends with more mallocs than frees and libFuzzer runs a full
  // LeakSanitizer scan after each one (~100 exec/s instead of thousands).
  ERR_clear_error();
  return 0;
}
