#include "verifier/sev_snp/vcek.h"

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "verifier/common/byte_reader.h"
#include "verifier/common/status_macros.h"
#include "verifier/crypto/x509.h"
#include "verifier/sev_snp/layout.h"

namespace rp::sev_snp {
namespace {

constexpr uint8_t kTagInteger = 0x02;
constexpr uint8_t kTagOctetString = 0x04;
constexpr uint8_t kTagIa5String = 0x16;
constexpr size_t kMaxStringLength = 256;

absl::Status Malformed(std::string_view what, std::span<const uint8_t> value) {
  return absl::InvalidArgumentError(absl::StrFormat(
      "%s (value %s)", what,
      HexEncode(value.first(std::min<size_t>(value.size(), 16)))));
}

// Reads one DER TLV with the given tag. Definite, minimal length only (DER);
// the value must fill `value` exactly.
absl::StatusOr<std::span<const uint8_t>> ReadSingleTlv(
    std::span<const uint8_t> value, uint8_t tag, std::string_view type) {
  ByteReader r(value);
  uint8_t got_tag = 0;
  uint8_t len0 = 0;
  if (!r.ReadU8(&got_tag) || !r.ReadU8(&len0)) {
    return Malformed(absl::StrFormat("%s: truncated header", type), value);
  }
  if (got_tag != tag) {
    return Malformed(
        absl::StrFormat("%s: tag 0x%02X, expected 0x%02X", type, got_tag, tag),
        value);
  }
  size_t length = 0;
  if (len0 < 0x80) {
    length = len0;
  } else if (len0 == 0x81) {
    uint8_t l = 0;
    if (!r.ReadU8(&l) || l < 0x80)
      return Malformed(absl::StrFormat("%s: bad length", type), value);
    length = l;
  } else if (len0 == 0x82) {
    uint16_t l = 0;
    if (!r.ReadU16Be(&l) || l < 0x100) {
      return Malformed(absl::StrFormat("%s: bad length", type), value);
    }
    length = l;
  } else {
    return Malformed(
        absl::StrFormat("%s: unsupported length form 0x%02X", type, len0),
        value);
  }
  std::span<const uint8_t> contents;
  if (!r.ReadBytes(length, &contents)) {
    return Malformed(absl::StrFormat("%s: length %d exceeds the %d bytes left",
                                     type, length, r.remaining()),
                     value);
  }
  if (!r.empty()) {
    return Malformed(
        absl::StrFormat("%s: %d trailing bytes", type, r.remaining()), value);
  }
  return contents;
}

bool IsHwIdSize(size_t n) { return n == kChipIdSize || n == kTurinChipIdSize; }

}  // namespace

absl::StatusOr<uint8_t> DecodeSplInteger(std::span<const uint8_t> value) {
  ASSIGN_OR_RETURN(std::span<const uint8_t> c,
                   ReadSingleTlv(value, kTagInteger, "INTEGER"));
  if (c.size() == 1) {
    if (c[0] & 0x80) return Malformed("INTEGER is negative", value);
    return c[0];
  }
  if (c.size() == 2) {
    // DER minimal form: a leading 00 only when the next byte has its top bit
    // set.
    if (c[0] != 0x00 || (c[1] & 0x80) == 0) {
      return Malformed("INTEGER is not in 0..255 or not minimally encoded",
                       value);
    }
    return c[1];
  }
  return Malformed(
      absl::StrFormat(
          "INTEGER has %d content bytes, expected a value in 0..255", c.size()),
      value);
}

absl::StatusOr<std::string> DecodeIa5String(std::span<const uint8_t> value) {
  ASSIGN_OR_RETURN(std::span<const uint8_t> c,
                   ReadSingleTlv(value, kTagIa5String, "IA5String"));
  if (c.size() > kMaxStringLength)
    return Malformed("IA5String too long", value);
  std::string out;
  out.reserve(c.size());
  for (uint8_t ch : c) {
    if (ch < 0x20 || ch > 0x7E) {
      return Malformed(
          absl::StrFormat("IA5String has non-printable byte 0x%02X", ch),
          value);
    }
    out.push_back(static_cast<char>(ch));
  }
  return out;
}

absl::StatusOr<HwId> DecodeHwId(std::span<const uint8_t> value) {
  if (IsHwIdSize(value.size())) {
    return HwId{Bytes(value.begin(), value.end()), HwIdEncoding::kRaw};
  }
  ASSIGN_OR_RETURN(std::span<const uint8_t> c,
                   ReadSingleTlv(value, kTagOctetString,
                                 "hwID is neither 64/8 raw bytes nor an "
                                 "OCTET STRING"));
  if (!IsHwIdSize(c.size())) {
    return Malformed(
        absl::StrFormat("hwID OCTET STRING holds %d bytes, expected 64 or 8",
                        c.size()),
        value);
  }
  return HwId{Bytes(c.begin(), c.end()), HwIdEncoding::kOctetString};
}

absl::StatusOr<KdsExtensions> ParseKdsExtensions(
    const ExtensionLookup& lookup) {
  KdsExtensions ext;
  auto context = [](std::string_view name, std::string_view oid) {
    return absl::StrFormat("sev_snp: vcek extension %s (%s)", name, oid);
  };
  auto spl = [&](std::string_view name, std::string_view oid,
                 std::optional<uint8_t>* out) -> absl::Status {
    absl::StatusOr<std::optional<Bytes>> v = lookup(oid);
    if (!v.ok()) return Annotate(v.status(), context(name, oid));
    if (!v->has_value()) return absl::OkStatus();
    absl::StatusOr<uint8_t> d = DecodeSplInteger(**v);
    if (!d.ok()) return Annotate(d.status(), context(name, oid));
    *out = *d;
    return absl::OkStatus();
  };
  auto string_ext = [&](std::string_view name, std::string_view oid,
                        std::optional<std::string>* out) -> absl::Status {
    absl::StatusOr<std::optional<Bytes>> v = lookup(oid);
    if (!v.ok()) return Annotate(v.status(), context(name, oid));
    if (!v->has_value()) return absl::OkStatus();
    absl::StatusOr<std::string> d = DecodeIa5String(**v);
    if (!d.ok()) return Annotate(d.status(), context(name, oid));
    *out = *std::move(d);
    return absl::OkStatus();
  };

  std::optional<uint8_t> struct_version;
  RETURN_IF_ERROR(spl("structVersion", kOidStructVersion, &struct_version));
  if (struct_version) ext.struct_version = *struct_version;
  RETURN_IF_ERROR(
      string_ext("productName", kOidProductName, &ext.product_name));
  RETURN_IF_ERROR(spl("blSPL", kOidBlSpl, &ext.bl_spl));
  RETURN_IF_ERROR(spl("teeSPL", kOidTeeSpl, &ext.tee_spl));
  RETURN_IF_ERROR(spl("snpSPL", kOidSnpSpl, &ext.snp_spl));
  RETURN_IF_ERROR(spl("spl_4", kOidSpl4, &ext.spl4));
  RETURN_IF_ERROR(spl("spl_5", kOidSpl5, &ext.spl5));
  RETURN_IF_ERROR(spl("spl_6", kOidSpl6, &ext.spl6));
  RETURN_IF_ERROR(spl("spl_7", kOidSpl7, &ext.spl7));
  RETURN_IF_ERROR(spl("ucodeSPL", kOidUcodeSpl, &ext.ucode_spl));
  RETURN_IF_ERROR(spl("fmcSPL", kOidFmcSpl, &ext.fmc_spl));

  absl::StatusOr<std::optional<Bytes>> hw = lookup(kOidHwId);
  if (!hw.ok()) return Annotate(hw.status(), context("hwID", kOidHwId));
  if (hw->has_value()) {
    absl::StatusOr<HwId> d = DecodeHwId(**hw);
    if (!d.ok()) return Annotate(d.status(), context("hwID", kOidHwId));
    ext.hw_id = std::move(d->id);
    ext.hw_id_encoding = d->encoding;
  }
  RETURN_IF_ERROR(string_ext("cspID", kOidCspId, &ext.csp_id));
  return ext;
}

absl::StatusOr<KdsExtensions> ParseKdsExtensions(const X509* cert) {
  if (cert == nullptr)
    return absl::InvalidArgumentError("sev_snp: vcek: no certificate");
  return ParseKdsExtensions([cert](std::string_view oid) {
    return crypto::ExtensionValue(cert, oid);
  });
}

std::optional<TcbParts> EndorsedTcb(const KdsExtensions& ext, Product product) {
  if (product == Product::kUnknown) return std::nullopt;
  if (!ext.bl_spl || !ext.tee_spl || !ext.snp_spl || !ext.ucode_spl)
    return std::nullopt;
  TcbParts parts;
  parts.bootloader = *ext.bl_spl;
  parts.tee = *ext.tee_spl;
  parts.snp = *ext.snp_spl;
  parts.microcode = *ext.ucode_spl;
  if (product == Product::kTurin) {
    if (!ext.fmc_spl) return std::nullopt;
    parts.fmc = *ext.fmc_spl;
  }
  return parts;
}

}  // namespace rp::sev_snp
