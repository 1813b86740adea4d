#include "verifier/tdx/quote.h"

#include <algorithm>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "verifier/common/byte_reader.h"
#include "verifier/tdx/layout.h"

namespace rp::tdx {
namespace {

constexpr char kPayloadUrl[] = "rp.tdx/quote_error";

absl::Status Error(QuoteError e, const std::string& message) {
  absl::Status s = absl::InvalidArgumentError(absl::StrCat("tdx: quote: ", message));
  s.SetPayload(kPayloadUrl, absl::Cord(std::string(QuoteErrorReason(e))));
  return s;
}

absl::Status Truncated(std::string_view field, const ByteReader& r) {
  return Error(QuoteError::kMalformed,
               absl::StrFormat("truncated at offset %d reading %s", r.offset(), field));
}

template <size_t N>
bool ReadArray(ByteReader& r, std::array<uint8_t, N>* out) {
  std::span<const uint8_t> b;
  if (!r.ReadBytes(N, &b)) return false;
  std::copy(b.begin(), b.end(), out->begin());
  return true;
}

uint64_t Le64(const std::array<uint8_t, 8>& b) {
  uint64_t v = 0;
  for (size_t i = 8; i > 0; --i) v = (v << 8) | b[i - 1];
  return v;
}

absl::StatusOr<TdReportBody> ParseBody(std::span<const uint8_t> bytes) {
  ByteReader r(bytes);
  TdReportBody b;
  bool ok = ReadArray(r, &b.tee_tcb_svn) && ReadArray(r, &b.mrseam) &&
            ReadArray(r, &b.mrsignerseam) && ReadArray(r, &b.seam_attributes_raw) &&
            ReadArray(r, &b.td_attributes_raw) && ReadArray(r, &b.xfam_raw) &&
            ReadArray(r, &b.mrtd) && ReadArray(r, &b.mrconfigid) && ReadArray(r, &b.mrowner) &&
            ReadArray(r, &b.mrownerconfig);
  for (Measurement& m : b.rtmr) ok = ok && ReadArray(r, &m);
  ok = ok && ReadArray(r, &b.report_data);
  if (ok && bytes.size() == kTd15BodySize) {
    std::array<uint8_t, 16> svn2{};
    Measurement service{};
    ok = ReadArray(r, &svn2) && ReadArray(r, &service);
    b.tee_tcb_svn2 = svn2;
    b.mrservicetd = service;
  }
  if (!ok || !r.empty()) {
    return Error(QuoteError::kMalformed, "TD report body has the wrong size");
  }
  b.seam_attributes = Le64(b.seam_attributes_raw);
  b.td_attributes = Le64(b.td_attributes_raw);
  b.xfam = Le64(b.xfam_raw);
  return b;
}

absl::StatusOr<EnclaveReport> ParseEnclaveReport(std::span<const uint8_t> bytes) {
  ByteReader r(bytes);
  EnclaveReport e;
  std::array<uint8_t, 28> reserved1{};
  std::array<uint8_t, 32> reserved2{};
  std::array<uint8_t, 96> reserved3{};
  std::array<uint8_t, 60> reserved4{};
  const bool ok = ReadArray(r, &e.cpusvn) && r.ReadU32Le(&e.miscselect) &&
                  ReadArray(r, &reserved1) && ReadArray(r, &e.attributes) &&
                  ReadArray(r, &e.mrenclave) && ReadArray(r, &reserved2) &&
                  ReadArray(r, &e.mrsigner) && ReadArray(r, &reserved3) &&
                  r.ReadU16Le(&e.isvprodid) && r.ReadU16Le(&e.isvsvn) &&
                  ReadArray(r, &reserved4) && ReadArray(r, &e.report_data);
  if (!ok || !r.empty()) {
    return Error(QuoteError::kMalformed, "QE report has the wrong size");
  }
  return e;
}

// The type-5 payload must be PEM text: certificate blocks, whitespace and
// optional trailing NUL terminators (Intel's QE writes a C string).
absl::StatusOr<std::string> PckChainText(std::span<const uint8_t> data) {
  size_t end = data.size();
  while (end > 0 && data[end - 1] == 0) --end;
  std::string text(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(end));
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u == 0 || u > 0x7e || (u < 0x20 && c != '\n' && c != '\r' && c != '\t')) {
      return Error(QuoteError::kMalformed,
                   "PCK certificate chain (certification data type 5) is not PEM text");
    }
  }
  constexpr std::string_view kBegin = "-----BEGIN CERTIFICATE-----";
  constexpr std::string_view kEnd = "-----END CERTIFICATE-----";
  const size_t first = text.find_first_not_of(" \t\r\n");
  const size_t last = text.find_last_not_of(" \t\r\n");
  if (first == std::string::npos || text.compare(first, kBegin.size(), kBegin) != 0 ||
      last + 1 < kEnd.size() || text.compare(last + 1 - kEnd.size(), kEnd.size(), kEnd) != 0) {
    return Error(QuoteError::kMalformed,
                 "PCK certificate chain (certification data type 5) is not a PEM "
                 "certificate sequence");
  }
  return text;
}

}  // namespace

std::string_view QuoteErrorReason(QuoteError e) {
  switch (e) {
    case QuoteError::kNone: return "OK";
    case QuoteError::kMalformed: return "QUOTE_MALFORMED";
    case QuoteError::kTooLarge: return "QUOTE_TOO_LARGE";
    case QuoteError::kUnsupportedVersion: return "UNSUPPORTED_QUOTE_VERSION";
    case QuoteError::kUnsupportedKeyType: return "UNSUPPORTED_ATTESTATION_KEY_TYPE";
    case QuoteError::kUnsupportedTeeType: return "UNSUPPORTED_TEE_TYPE";
    case QuoteError::kUnknownQeVendor: return "UNKNOWN_QE_VENDOR";
    case QuoteError::kUnsupportedBodyType: return "UNSUPPORTED_BODY_TYPE";
    case QuoteError::kUnsupportedCertDataType: return "UNSUPPORTED_CERTIFICATION_DATA_TYPE";
    case QuoteError::kTrailingBytes: return "QUOTE_TRAILING_BYTES";
  }
  return "QUOTE_MALFORMED";
}

QuoteError QuoteErrorOf(const absl::Status& status) {
  if (status.ok()) return QuoteError::kNone;
  auto p = status.GetPayload(kPayloadUrl);
  if (!p) return QuoteError::kNone;
  const std::string s(*p);
  for (QuoteError e :
       {QuoteError::kMalformed, QuoteError::kTooLarge, QuoteError::kUnsupportedVersion,
        QuoteError::kUnsupportedKeyType, QuoteError::kUnsupportedTeeType,
        QuoteError::kUnknownQeVendor, QuoteError::kUnsupportedBodyType,
        QuoteError::kUnsupportedCertDataType, QuoteError::kTrailingBytes}) {
    if (QuoteErrorReason(e) == s) return e;
  }
  return QuoteError::kNone;
}

absl::StatusOr<TdxQuote> ParseQuoteUnverified(std::span<const uint8_t> data) {
  if (data.size() > kMaxQuoteBytes) {
    return Error(QuoteError::kTooLarge,
                 absl::StrFormat("%d bytes, more than the %d-byte cap", data.size(),
                                 kMaxQuoteBytes));
  }
  ByteReader r(data);
  TdxQuote q;
  uint16_t reserved1 = 0;
  uint16_t reserved2 = 0;
  if (!r.ReadU16Le(&q.version)) return Truncated("header.version", r);
  if (q.version != kQuoteVersion4 && q.version != kQuoteVersion5) {
    return Error(QuoteError::kUnsupportedVersion,
                 absl::StrFormat("version %d (expected 4 or 5)", q.version));
  }
  if (!r.ReadU16Le(&q.attestation_key_type)) return Truncated("header.att_key_type", r);
  if (q.attestation_key_type != kAttestationKeyTypeEcdsaP256) {
    return Error(QuoteError::kUnsupportedKeyType,
                 absl::StrFormat("attestation key type %d (expected 2, ECDSA P-256)",
                                 q.attestation_key_type));
  }
  if (!r.ReadU32Le(&q.tee_type)) return Truncated("header.tee_type", r);
  if (q.tee_type != kTeeTypeTdx) {
    return Error(QuoteError::kUnsupportedTeeType,
                 absl::StrFormat("TEE type 0x%x (expected 0x81, TDX)", q.tee_type));
  }
  if (!r.ReadU16Le(&reserved1) || !r.ReadU16Le(&reserved2)) {
    return Truncated("header.reserved", r);
  }
  if (!ReadArray(r, &q.qe_vendor_id)) return Truncated("header.qe_vendor_id", r);
  if (q.qe_vendor_id != kIntelQeVendorId) {
    return Error(QuoteError::kUnknownQeVendor,
                 absl::StrFormat("QE vendor ID %s (expected Intel's %s)",
                                 HexEncode(q.qe_vendor_id), HexEncode(kIntelQeVendorId)));
  }
  if (!ReadArray(r, &q.user_data)) return Truncated("header.user_data", r);

  size_t body_size = kTd10BodySize;
  q.body_type = kBodyTypeTd10;
  if (q.version == kQuoteVersion5) {
    uint32_t size = 0;
    if (!r.ReadU16Le(&q.body_type) || !r.ReadU32Le(&size)) {
      return Truncated("body descriptor", r);
    }
    if (q.body_type == kBodyTypeTd10) {
      body_size = kTd10BodySize;
    } else if (q.body_type == kBodyTypeTd15) {
      body_size = kTd15BodySize;
    } else {
      return Error(QuoteError::kUnsupportedBodyType,
                   absl::StrFormat("v5 body type %d (expected 2 = TD 1.0 or 3 = TD 1.5)",
                                   q.body_type));
    }
    if (size != body_size) {
      return Error(QuoteError::kMalformed,
                   absl::StrFormat("v5 body type %d declares size %d (expected %d)",
                                   q.body_type, size, body_size));
    }
  }
  std::span<const uint8_t> body;
  if (!r.ReadBytes(body_size, &body)) return Truncated("TD report body", r);
  {
    absl::StatusOr<TdReportBody> b = ParseBody(body);
    if (!b.ok()) return b.status();
    q.body = *std::move(b);
  }
  q.signed_bytes.assign(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(r.offset()));

  uint32_t sig_len = 0;
  if (!r.ReadU32Le(&sig_len)) return Truncated("signature data length", r);
  std::span<const uint8_t> sig_data;
  if (!r.ReadBytes(sig_len, &sig_data)) {
    return Error(QuoteError::kMalformed,
                 absl::StrFormat("signature data length %d exceeds the %d remaining bytes",
                                 sig_len, r.remaining()));
  }
  // After the declared signature data only zero padding may follow.
  std::span<const uint8_t> rest;
  const size_t rest_offset = r.offset();
  (void)r.ReadBytes(r.remaining(), &rest);
  auto nonzero = std::find_if(rest.begin(), rest.end(), [](uint8_t b) { return b != 0; });
  if (nonzero != rest.end()) {
    return Error(QuoteError::kTrailingBytes,
                 absl::StrFormat("%d bytes after the signature data (offset %d), first "
                                 "non-zero at offset %d",
                                 rest.size(), rest_offset,
                                 rest_offset + static_cast<size_t>(nonzero - rest.begin())));
  }
  q.zero_padding = rest.size();

  ByteReader s(sig_data);
  if (!ReadArray(s, &q.signature)) return Truncated("quote signature", s);
  if (!ReadArray(s, &q.attestation_key)) return Truncated("attestation key", s);
  uint32_t cert_size = 0;
  if (!s.ReadU16Le(&q.certification_data_type)) return Truncated("certification data type", s);
  if (q.certification_data_type != kCertDataQeReport) {
    return Error(QuoteError::kUnsupportedCertDataType,
                 absl::StrFormat("certification data type %d (expected 6, QE report)",
                                 q.certification_data_type));
  }
  if (!s.ReadU32Le(&cert_size)) return Truncated("certification data size", s);
  std::span<const uint8_t> cert_data;
  if (!s.ReadBytes(cert_size, &cert_data) || !s.empty()) {
    return Error(QuoteError::kMalformed,
                 absl::StrFormat("certification data size %d does not fill the %d bytes of "
                                 "signature data left",
                                 cert_size, s.remaining()));
  }

  ByteReader c(cert_data);
  std::span<const uint8_t> qe_report;
  if (!c.ReadBytes(kEnclaveReportSize, &qe_report)) return Truncated("QE report", c);
  q.qe_report_raw.assign(qe_report.begin(), qe_report.end());
  {
    absl::StatusOr<EnclaveReport> e = ParseEnclaveReport(qe_report);
    if (!e.ok()) return e.status();
    q.qe_report = *std::move(e);
  }
  if (!ReadArray(c, &q.qe_report_signature)) return Truncated("QE report signature", c);
  uint16_t auth_size = 0;
  std::span<const uint8_t> auth;
  if (!c.ReadU16Le(&auth_size) || !c.ReadBytes(auth_size, &auth)) {
    return Truncated("QE authentication data", c);
  }
  q.qe_auth_data.assign(auth.begin(), auth.end());
  uint32_t pck_size = 0;
  if (!c.ReadU16Le(&q.pck_cert_data_type)) return Truncated("nested certification data type", c);
  if (q.pck_cert_data_type != kCertDataPckChain) {
    return Error(QuoteError::kUnsupportedCertDataType,
                 absl::StrFormat("nested certification data type %d (expected 5, PCK "
                                 "certificate chain)",
                                 q.pck_cert_data_type));
  }
  if (!c.ReadU32Le(&pck_size)) return Truncated("nested certification data size", c);
  if (pck_size > kMaxPckChainBytes) {
    return Error(QuoteError::kMalformed,
                 absl::StrFormat("PCK chain of %d bytes exceeds the %d-byte cap", pck_size,
                                 kMaxPckChainBytes));
  }
  std::span<const uint8_t> pck;
  if (!c.ReadBytes(pck_size, &pck) || !c.empty()) {
    return Error(QuoteError::kMalformed,
                 absl::StrFormat("nested certification data size %d does not fill the %d "
                                 "bytes of QE certification data left",
                                 pck_size, c.remaining()));
  }
  absl::StatusOr<std::string> text = PckChainText(pck);
  if (!text.ok()) return text.status();
  q.pck_chain_pem = *std::move(text);
  return q;
}

}  // namespace rp::tdx
