// Intel TDX quote v4 / v5, parsed without any cryptography (STYLE §2): the
// bytes are decoded with the bounded ByteReader into an immutable TdxQuote.
// Nothing in a TdxQuote is trusted until TdxVerifier has checked it.
#ifndef RP_VERIFIER_TDX_QUOTE_H_
#define RP_VERIFIER_TDX_QUOTE_H_

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "verifier/common/encoding.h"

namespace rp::tdx {

using Measurement = std::array<uint8_t, 48>;

// TD report body 1.0 (584 bytes) or 1.5 (648 bytes).
struct TdReportBody {
  std::array<uint8_t, 16> tee_tcb_svn{};
  Measurement mrseam{};
  Measurement mrsignerseam{};
  uint64_t seam_attributes = 0;  // little-endian on the wire
  uint64_t td_attributes = 0;
  uint64_t xfam = 0;
  std::array<uint8_t, 8> seam_attributes_raw{};
  std::array<uint8_t, 8> td_attributes_raw{};
  std::array<uint8_t, 8> xfam_raw{};
  Measurement mrtd{};
  Measurement mrconfigid{};
  Measurement mrowner{};
  Measurement mrownerconfig{};
  std::array<Measurement, 4> rtmr{};
  std::array<uint8_t, 64> report_data{};
  // TD report 1.5 only.
  std::optional<std::array<uint8_t, 16>> tee_tcb_svn2;
  std::optional<Measurement> mrservicetd;
  bool operator==(const TdReportBody&) const = default;
};

// The QE's SGX enclave report (384 bytes).
struct EnclaveReport {
  std::array<uint8_t, 16> cpusvn{};
  uint32_t miscselect = 0;
  std::array<uint8_t, 16> attributes{};
  std::array<uint8_t, 32> mrenclave{};
  std::array<uint8_t, 32> mrsigner{};
  uint16_t isvprodid = 0;
  uint16_t isvsvn = 0;
  std::array<uint8_t, 64> report_data{};
  bool operator==(const EnclaveReport&) const = default;
};

// A parsed, unverified quote. Owns copies of every byte range it needs.
struct TdxQuote {
  uint16_t version = 0;                 // 4 or 5
  uint16_t attestation_key_type = 0;    // 2 (ECDSA P-256)
  uint32_t tee_type = 0;                // 0x81 (TDX)
  std::array<uint8_t, 16> qe_vendor_id{};
  std::array<uint8_t, 20> user_data{};
  uint16_t body_type = 0;               // v4: 2 (implied); v5: 2 or 3
  TdReportBody body;
  // header ‖ body (v5: header ‖ descriptor ‖ body): what the attestation key signs.
  Bytes signed_bytes;
  std::array<uint8_t, 64> signature{};        // r ‖ s, big-endian
  std::array<uint8_t, 64> attestation_key{};  // x ‖ y, big-endian
  uint16_t certification_data_type = 0;       // 6
  EnclaveReport qe_report;
  Bytes qe_report_raw;                        // the 384 signed bytes
  std::array<uint8_t, 64> qe_report_signature{};
  Bytes qe_auth_data;
  uint16_t pck_cert_data_type = 0;            // 5
  // The type-5 data as text with trailing NUL terminators removed.
  std::string pck_chain_pem;
  // Zero bytes after the declared signature data (quote buffers padded by
  // the quote generation library); never signed, never read.
  size_t zero_padding = 0;
  bool operator==(const TdxQuote&) const = default;
};

// Why parsing failed; each has a stable reason code (QuoteErrorReason).
enum class QuoteError {
  kNone,
  kMalformed,            // QUOTE_MALFORMED: truncated / inconsistent lengths
  kTooLarge,             // QUOTE_TOO_LARGE
  kUnsupportedVersion,   // UNSUPPORTED_QUOTE_VERSION
  kUnsupportedKeyType,   // UNSUPPORTED_ATTESTATION_KEY_TYPE
  kUnsupportedTeeType,   // UNSUPPORTED_TEE_TYPE
  kUnknownQeVendor,      // UNKNOWN_QE_VENDOR
  kUnsupportedBodyType,  // UNSUPPORTED_BODY_TYPE (v5 descriptor)
  kUnsupportedCertDataType,  // UNSUPPORTED_CERTIFICATION_DATA_TYPE
  kTrailingBytes,        // QUOTE_TRAILING_BYTES
};

std::string_view QuoteErrorReason(QuoteError e);
// The QuoteError a ParseQuoteUnverified status carries (kNone for OK or
// for statuses from elsewhere).
QuoteError QuoteErrorOf(const absl::Status& status);

// Parses a v4 or v5 TDX quote. Checks the header (version, key type, TEE
// type, QE vendor ID), exact nesting (certification data type 6 wrapping
// type 5), and that nothing but zero padding follows the signature data.
// Errors are INVALID_ARGUMENT "tdx: quote: ..." carrying a QuoteError.
absl::StatusOr<TdxQuote> ParseQuoteUnverified(std::span<const uint8_t> data);

}  // namespace rp::tdx

#endif  // RP_VERIFIER_TDX_QUOTE_H_
