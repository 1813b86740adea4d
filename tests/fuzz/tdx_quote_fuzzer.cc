// libFuzzer target for tdx::ParseQuoteUnverified (STYLE §17).
// Build: cmake -DRP_BUILD_FUZZERS=ON -DCMAKE_CXX_COMPILER=clang++; the
// target needs (tests/fuzz/CMakeLists.txt, owned by the lead):
//   add_executable(tdx_quote_fuzzer tdx_quote_fuzzer.cc)
//   target_link_libraries(tdx_quote_fuzzer PRIVATE rp::tdx)
//   + the -fsanitize=fuzzer,address,undefined options of the loop there.
// Seed corpus: the real quotes of tests/data/tdx/*/quote.bin.
#include "openssl/err.h"
#include "tests/fuzz/tdx_quote_fuzzer.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>

#include "absl/strings/str_format.h"
#include "verifier/tdx/claims.h"
#include "verifier/tdx/layout.h"
#include "verifier/tdx/quote.h"

namespace rp::tdx::fuzz {
namespace {

uint64_t Le(std::span<const uint8_t> b) {
  uint64_t v = 0;
  for (size_t i = b.size(); i > 0; --i) v = (v << 8) | b[i - 1];
  return v;
}

template <size_t N>
bool Same(const std::array<uint8_t, N>& field, std::span<const uint8_t> data, size_t offset) {
  return offset + N <= data.size() &&
         std::equal(field.begin(), field.end(), data.begin() + static_cast<std::ptrdiff_t>(offset));
}

std::string CheckValue(const TdxQuote& q, std::span<const uint8_t> d) {
  if (q.version != kQuoteVersion4 && q.version != kQuoteVersion5) return "version accepted";
  if (q.version != Le(d.subspan(kHeaderVersionOffset, 2))) return "version differs from wire";
  if (q.attestation_key_type != kAttestationKeyTypeEcdsaP256) return "key type accepted";
  if (q.tee_type != kTeeTypeTdx || Le(d.subspan(kHeaderTeeTypeOffset, 4)) != kTeeTypeTdx) {
    return "TEE type accepted";
  }
  if (q.qe_vendor_id != kIntelQeVendorId || !Same(q.qe_vendor_id, d, kHeaderQeVendorIdOffset)) {
    return "QE vendor accepted / differs";
  }
  if (!Same(q.user_data, d, kHeaderUserDataOffset)) return "user data differs";
  const size_t body = kHeaderSize + (q.version == kQuoteVersion5 ? kBodyDescriptorSize : 0);
  const TdReportBody& b = q.body;
  if (!Same(b.tee_tcb_svn, d, body + kTeeTcbSvnOffset) || !Same(b.mrseam, d, body + kMrSeamOffset) ||
      !Same(b.mrsignerseam, d, body + kMrSignerSeamOffset) ||
      !Same(b.seam_attributes_raw, d, body + kSeamAttributesOffset) ||
      !Same(b.td_attributes_raw, d, body + kTdAttributesOffset) ||
      !Same(b.xfam_raw, d, body + kXfamOffset) || !Same(b.mrtd, d, body + kMrTdOffset) ||
      !Same(b.mrconfigid, d, body + kMrConfigIdOffset) || !Same(b.mrowner, d, body + kMrOwnerOffset) ||
      !Same(b.mrownerconfig, d, body + kMrOwnerConfigOffset) ||
      !Same(b.report_data, d, body + kReportDataOffset)) {
    return "a body field differs from the wire bytes at its offset";
  }
  for (size_t i = 0; i < 4; ++i) {
    if (!Same(b.rtmr[i], d, body + kRtmr0Offset + i * kMeasurementSize)) return "RTMR differs";
  }
  if (b.td_attributes != Le(b.td_attributes_raw)) return "TD attributes integer differs";
  const size_t body_size = b.tee_tcb_svn2 ? kTd15BodySize : kTd10BodySize;
  if (q.signed_bytes.size() != body + body_size ||
      !std::equal(q.signed_bytes.begin(), q.signed_bytes.end(), d.begin())) {
    return "signed bytes are not the header/body prefix";
  }
  if (q.certification_data_type != kCertDataQeReport || q.pck_cert_data_type != kCertDataPckChain) {
    return "certification data type accepted";
  }
  if (q.qe_report_raw.size() != kEnclaveReportSize) return "QE report size";
  if (!std::all_of(d.end() - static_cast<std::ptrdiff_t>(q.zero_padding), d.end(),
                   [](uint8_t x) { return x == 0; })) {
    return "non-zero bytes counted as padding";
  }
  return "";
}

}  // namespace

std::string CheckParseInvariants(std::span<const uint8_t> data) {
  absl::StatusOr<TdxQuote> q = ParseQuoteUnverified(data);
  if (!q.ok()) {
    if (QuoteErrorOf(q.status()) == QuoteError::kNone) return "error without a reason code";
    if (q.status().message().find("tdx: quote:") == std::string_view::npos) {
      return "error without context";
    }
    if (data.size() > kMaxQuoteBytes && QuoteErrorOf(q.status()) != QuoteError::kTooLarge) {
      return "oversized input not reported as QUOTE_TOO_LARGE";
    }
    return "";
  }
  if (std::string why = CheckValue(*q, data); !why.empty()) return why;
  absl::StatusOr<TdxQuote> again = ParseQuoteUnverified(data);
  if (!again.ok() || !(*again == *q)) return "parsing is not deterministic";
  const nlohmann::json claims = BuildQuoteClaims(*q, nullptr);
  if (claims["quote_version"] != q->version || claims["rtmr"].size() != 4) return "claims incomplete";
  return "";
}

}  // namespace rp::tdx::fuzz

// RP_FUZZ_NO_ENTRY: the structure-aware target includes this file for the
// invariants and brings its own entry point.
#ifndef RP_FUZZ_NO_ENTRY
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string why =
      rp::tdx::fuzz::CheckParseInvariants(std::span<const uint8_t>(data, size));
  if (!why.empty()) {
    std::fprintf(stderr, "tdx_quote_fuzzer invariant violated: %s\n", why.c_str());
    std::abort();
  }
  ERR_clear_error();  // queued OpenSSL errors would make libFuzzer scan for leaks per input
  return 0;
}
#endif  // RP_FUZZ_NO_ENTRY
