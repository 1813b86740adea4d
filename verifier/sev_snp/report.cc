#include "verifier/sev_snp/report.h"

#include <algorithm>
#include <span>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "verifier/common/byte_reader.h"
#include "verifier/common/encoding.h"

namespace rp::sev_snp {
namespace {

// Status payload carrying the ReportError's reason code, so that callers
// can map a parse failure onto a stable code without parsing messages.
constexpr char kReportErrorPayloadUrl[] = "type.rp/sev_snp.ReportError";

// Debian's Abseil is built with its own string_view type (not std::).
absl::string_view AbslView(std::string_view s) { return {s.data(), s.size()}; }

constexpr ReportError kAllErrors[] = {
    ReportError::kTruncated,          ReportError::kTrailingBytes,
    ReportError::kVersionUnsupported, ReportError::kSignatureAlgoUnsupported,
    ReportError::kReservedNonzero,    ReportError::kPolicyInvalid,
    ReportError::kUnsigned,           ReportError::kSigningKeyInvalid,
};

absl::Status Error(ReportError error, std::string_view message) {
  absl::Status s = absl::InvalidArgumentError(
      absl::StrFormat("sev_snp: report: %s", message));
  s.SetPayload(kReportErrorPayloadUrl,
               absl::Cord(AbslView(ReportErrorReason(error))));
  return s;
}

// Reads `n` bytes that must all be zero (a reserved, MBZ range).
absl::Status ReadReserved(ByteReader& r, size_t n, std::string_view what) {
  const size_t offset = r.offset();
  std::span<const uint8_t> b;
  if (!r.ReadBytes(n, &b)) {
    return Error(ReportError::kTruncated,
                 absl::StrFormat("%s at 0x%03X is cut off", what, offset));
  }
  for (size_t i = 0; i < b.size(); ++i) {
    if (b[i] != 0) {
      return Error(
          ReportError::kReservedNonzero,
          absl::StrFormat(
              "reserved %s (0x%03X..0x%03X) must be zero; byte 0x%03X = 0x%02X",
              what, offset, offset + n - 1, offset + i, b[i]));
    }
  }
  return absl::OkStatus();
}

// Sequential field reader: the first short read is remembered, so the body
// of the parser reads like the ABI table. kReportSize is checked up front,
// so a short read here is a bug, not an input problem; it still returns an
// error rather than reading out of bounds.
class FieldReader {
 public:
  explicit FieldReader(std::span<const uint8_t> data) : r_(data) {}

  uint8_t U8() {
    uint8_t v = 0;
    if (!r_.ReadU8(&v)) ok_ = false;
    return v;
  }
  uint32_t U32() {
    uint32_t v = 0;
    if (!r_.ReadU32Le(&v)) ok_ = false;
    return v;
  }
  uint64_t U64() {
    uint64_t v = 0;
    if (!r_.ReadU64Le(&v)) ok_ = false;
    return v;
  }
  template <size_t N>
  std::array<uint8_t, N> Array() {
    std::array<uint8_t, N> out{};
    std::span<const uint8_t> b;
    if (!r_.ReadBytes(N, &b)) {
      ok_ = false;
      return out;
    }
    std::copy(b.begin(), b.end(), out.begin());
    return out;
  }
  TcbVersion Tcb() { return TcbVersion{Array<kTcbSize>()}; }
  absl::Status Reserved(size_t n, std::string_view what) {
    if (!ok_) return absl::OkStatus();  // reported by Finish()
    return ReadReserved(r_, n, what);
  }
  size_t offset() const { return r_.offset(); }
  absl::Status Finish() {
    if (!ok_)
      return Error(ReportError::kTruncated,
                   "internal: short read inside a full-size report");
    if (!r_.empty()) {
      return Error(
          ReportError::kTrailingBytes,
          absl::StrFormat("%d bytes left after the report", r_.remaining()));
    }
    return absl::OkStatus();
  }

 private:
  ByteReader r_;
  bool ok_ = true;
};

}  // namespace

std::string_view ProductName(Product product) {
  switch (product) {
    case Product::kMilan:
      return "Milan";
    case Product::kGenoa:
      return "Genoa";
    case Product::kTurin:
      return "Turin";
    case Product::kUnknown:
      break;
  }
  return "Unknown";
}

Product ProductFromCpuid(uint8_t family, uint8_t model) {
  if (family == kCpuFamilyZen3Zen4) {
    if (model <= 0x0F) return Product::kMilan;
    if (model >= 0x10 && model <= 0x1F) return Product::kGenoa;
    // Zen4c (Siena, Bergamo) use the Genoa ARK/ASK and KDS path (spec §3.1).
    if (model >= 0xA0 && model <= 0xAF) return Product::kGenoa;
    return Product::kUnknown;
  }
  if (family == kCpuFamilyZen5) {
    if (model <= 0x11) return Product::kTurin;
    return Product::kUnknown;
  }
  return Product::kUnknown;
}

Product ProductFromCertName(std::string_view product_name) {
  std::string_view prefix = product_name.substr(0, product_name.find('-'));
  for (Product p : {Product::kMilan, Product::kGenoa, Product::kTurin}) {
    if (prefix == ProductName(p)) return p;
  }
  return Product::kUnknown;
}

std::string_view ReportErrorReason(ReportError error) {
  switch (error) {
    case ReportError::kNone:
      return "OK";
    case ReportError::kTruncated:
      return "REPORT_TRUNCATED";
    case ReportError::kTrailingBytes:
      return "REPORT_TRAILING_BYTES";
    case ReportError::kVersionUnsupported:
      return "REPORT_VERSION_UNSUPPORTED";
    case ReportError::kSignatureAlgoUnsupported:
      return "REPORT_SIGNATURE_ALGO_UNSUPPORTED";
    case ReportError::kReservedNonzero:
      return "REPORT_RESERVED_NONZERO";
    case ReportError::kPolicyInvalid:
      return "REPORT_POLICY_INVALID";
    case ReportError::kUnsigned:
      return "REPORT_UNSIGNED";
    case ReportError::kSigningKeyInvalid:
      return "REPORT_SIGNING_KEY_INVALID";
  }
  return "REPORT_INVALID";
}

ReportError ReportErrorOf(const absl::Status& status) {
  if (status.ok()) return ReportError::kNone;
  auto payload = status.GetPayload(kReportErrorPayloadUrl);
  if (!payload.has_value()) return ReportError::kNone;
  for (ReportError e : kAllErrors) {
    if (*payload == AbslView(ReportErrorReason(e))) return e;
  }
  return ReportError::kNone;
}

std::string TcbVersion::Hex() const { return HexEncode(raw); }

std::optional<TcbParts> DecodeTcb(const TcbVersion& tcb, Product product) {
  const auto& b = tcb.raw;
  switch (product) {
    case Product::kMilan:
    case Product::kGenoa:
      return TcbParts{std::nullopt, b[kLegacyTcbBootloaderByte],
                      b[kLegacyTcbTeeByte], b[kLegacyTcbSnpByte],
                      b[kLegacyTcbMicrocodeByte]};
    case Product::kTurin:
      return TcbParts{b[kTurinTcbFmcByte], b[kTurinTcbBootloaderByte],
                      b[kTurinTcbTeeByte], b[kTurinTcbSnpByte],
                      b[kTurinTcbMicrocodeByte]};
    case Product::kUnknown:
      break;
  }
  return std::nullopt;
}

TcbVersion EncodeTcb(const TcbParts& parts, Product product) {
  TcbVersion t;
  if (product == Product::kTurin) {
    t.raw[kTurinTcbFmcByte] = parts.fmc.value_or(0);
    t.raw[kTurinTcbBootloaderByte] = parts.bootloader;
    t.raw[kTurinTcbTeeByte] = parts.tee;
    t.raw[kTurinTcbSnpByte] = parts.snp;
    t.raw[kTurinTcbMicrocodeByte] = parts.microcode;
  } else {
    t.raw[kLegacyTcbBootloaderByte] = parts.bootloader;
    t.raw[kLegacyTcbTeeByte] = parts.tee;
    t.raw[kLegacyTcbSnpByte] = parts.snp;
    t.raw[kLegacyTcbMicrocodeByte] = parts.microcode;
  }
  return t;
}

bool TcbAtLeast(const TcbVersion& a, const TcbVersion& b, Product product) {
  std::optional<TcbParts> pa = DecodeTcb(a, product);
  std::optional<TcbParts> pb = DecodeTcb(b, product);
  if (!pa || !pb) return false;
  return pa->fmc.value_or(0) >= pb->fmc.value_or(0) &&
         pa->bootloader >= pb->bootloader && pa->tee >= pb->tee &&
         pa->snp >= pb->snp && pa->microcode >= pb->microcode;
}

std::string FirmwareVersion::ToString() const {
  return absl::StrFormat("%d.%d.%d", major, minor, build);
}

bool SnpReport::ChipIdIsZero() const {
  return std::all_of(chip_id.begin(), chip_id.end(),
                     [](uint8_t b) { return b == 0; });
}

absl::StatusOr<SnpReport> ParseReportUnverified(std::span<const uint8_t> data) {
  // Step 1: frame. The report has one size in every version.
  if (data.size() < kReportSize) {
    return Error(ReportError::kTruncated,
                 absl::StrFormat("%d bytes, expected exactly %d (0x%X)",
                                 data.size(), kReportSize, kReportSize));
  }
  if (data.size() > kReportSize) {
    return Error(
        ReportError::kTrailingBytes,
        absl::StrFormat(
            "%d bytes, expected exactly %d (0x%X); %d trailing bytes",
            data.size(), kReportSize, kReportSize, data.size() - kReportSize));
  }

  // Step 2: structure, field by field in ABI order.
  FieldReader r(data);
  SnpReport rep;
  rep.version = r.U32();  // 0x000
  // The version decides which ranges are reserved, so check it first.
  if (rep.version < kMinReportVersion || rep.version > kMaxReportVersion) {
    return Error(
        ReportError::kVersionUnsupported,
        absl::StrFormat("VERSION (0x000) = %d, supported %d..%d", rep.version,
                        kMinReportVersion, kMaxReportVersion));
  }
  rep.guest_svn = r.U32();                   // 0x004
  rep.policy = r.U64();                      // 0x008
  rep.family_id = r.Array<kFamilyIdSize>();  // 0x010
  rep.image_id = r.Array<kImageIdSize>();    // 0x020
  rep.vmpl = r.U32();                        // 0x030
  rep.signature_algo = r.U32();              // 0x034
  rep.current_tcb = r.Tcb();                 // 0x038
  rep.platform_info = r.U64();               // 0x040
  rep.signer_info = r.U32();                 // 0x048
  if (rep.signature_algo != kSignatureAlgoEcdsaP384Sha384) {
    return Error(
        ReportError::kSignatureAlgoUnsupported,
        absl::StrFormat(
            "SIGNATURE_ALGO (0x034) = %d, only 1 (ECDSA P-384 SHA-384) is "
            "defined",
            rep.signature_algo));
  }
  // SIGNING_KEY 7 means the firmware did not sign the report at all; 2..6
  // are reserved. Either way nothing could vouch for the contents.
  if (rep.signing_key() == kSigningKeyNone) {
    return Error(ReportError::kUnsigned,
                 "signer info (0x048) SIGNING_KEY = 7: the report is unsigned");
  }
  if (rep.signing_key() != kSigningKeyVcek &&
      rep.signing_key() != kSigningKeyVlek) {
    return Error(
        ReportError::kSigningKeyInvalid,
        absl::StrFormat(
            "signer info (0x048) SIGNING_KEY = %d, expected 0 (VCEK) or 1 "
            "(VLEK)",
            rep.signing_key()));
  }
  if ((rep.signer_info & kSignerReservedMask) != 0) {
    return Error(
        ReportError::kReservedNonzero,
        absl::StrFormat(
            "signer info (0x048) = 0x%08X: reserved bits 31:5 must be zero",
            rep.signer_info));
  }
  // POLICY bit 17 is reserved-must-be-one; bits 63:26 must be zero. A
  // policy outside this shape was not produced by conforming firmware.
  if ((rep.policy & kPolicyReservedMustBeOne) == 0) {
    return Error(
        ReportError::kPolicyInvalid,
        absl::StrFormat("POLICY (0x008) = 0x%X: reserved bit 17 must be 1",
                        rep.policy));
  }
  if ((rep.policy & kPolicyReservedMbzMask) != 0) {
    return Error(ReportError::kPolicyInvalid,
                 absl::StrFormat(
                     "POLICY (0x008) = 0x%X: reserved bits 63:26 must be zero",
                     rep.policy));
  }
  if (auto s = r.Reserved(kReserved04CSize, "0x04C"); !s.ok()) return s;
  rep.report_data = r.Array<kReportDataSize>();             // 0x050
  rep.measurement = r.Array<kMeasurementSize>();            // 0x090
  rep.host_data = r.Array<kHostDataSize>();                 // 0x0C0
  rep.id_key_digest = r.Array<kIdKeyDigestSize>();          // 0x0E0
  rep.author_key_digest = r.Array<kAuthorKeyDigestSize>();  // 0x110
  rep.report_id = r.Array<kReportIdSize>();                 // 0x140
  rep.report_id_ma = r.Array<kReportIdMaSize>();            // 0x160
  rep.reported_tcb = r.Tcb();                               // 0x180
  if (rep.has_cpuid()) {
    rep.cpuid_fam_id = r.U8();  // 0x188
    rep.cpuid_mod_id = r.U8();  // 0x189
    rep.cpuid_step = r.U8();    // 0x18A
    if (auto s = r.Reserved(kReserved18BSize, "0x18B"); !s.ok()) return s;
  } else {
    if (auto s = r.Reserved(kReserved188V2Size, "0x188 (v2)"); !s.ok())
      return s;
  }
  rep.chip_id = r.Array<kChipIdSize>();  // 0x1A0
  rep.committed_tcb = r.Tcb();           // 0x1E0
  rep.current_version.build = r.U8();    // 0x1E8
  rep.current_version.minor = r.U8();    // 0x1E9
  rep.current_version.major = r.U8();    // 0x1EA
  if (auto s = r.Reserved(1, "0x1EB"); !s.ok()) return s;
  rep.committed_version.build = r.U8();  // 0x1EC
  rep.committed_version.minor = r.U8();  // 0x1ED
  rep.committed_version.major = r.U8();  // 0x1EE
  if (auto s = r.Reserved(1, "0x1EF"); !s.ok()) return s;
  rep.launch_tcb = r.Tcb();  // 0x1F0
  if (rep.has_mit_vectors()) {
    rep.launch_mit_vector = r.U64();   // 0x1F8
    rep.current_mit_vector = r.U64();  // 0x200
  } else {
    if (auto s = r.Reserved(16, "0x1F8 (before v5)"); !s.ok()) return s;
  }
  if (auto s = r.Reserved(kReserved208Size, "0x208"); !s.ok()) return s;
  rep.signature_r = r.Array<kSignatureComponentSize>();  // 0x2A0
  rep.signature_s = r.Array<kSignatureComponentSize>();  // 0x2E8
  if (auto s = r.Reserved(kSignatureTailSize, "signature tail 0x330"); !s.ok())
    return s;
  if (auto s = r.Finish(); !s.ok()) return s;
  return rep;
}

}  // namespace rp::sev_snp
