#include "verifier/nvidia/opaque.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"
#include "verifier/common/byte_reader.h"

namespace rp::nvidia {
namespace {

absl::Status Malformed(uint16_t type, size_t offset, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrFormat(
      "OPAQUE_MALFORMED: field %s (type %d) at opaque offset %d: %s", OpaqueFieldName(type), type,
      offset, what));
}

// ASCII text padded with NULs: printable characters, then only NULs.
absl::StatusOr<std::string> DecodeText(uint16_t type, size_t offset,
                                       std::span<const uint8_t> v) {
  std::string out;
  size_t i = 0;
  for (; i < v.size() && v[i] != 0; ++i) {
    if (v[i] < 0x20 || v[i] > 0x7E) {
      return Malformed(type, offset,
                       absl::StrFormat("non-printable byte 0x%02x at %d in text", v[i], i));
    }
    out.push_back(static_cast<char>(v[i]));
  }
  for (; i < v.size(); ++i) {
    if (v[i] != 0) {
      return Malformed(type, offset, "text has bytes after its NUL terminator");
    }
  }
  return out;
}

absl::StatusOr<uint64_t> DecodeUintLe(uint16_t type, size_t offset, std::span<const uint8_t> v) {
  if (v.empty() || v.size() > 8) {
    return Malformed(type, offset, absl::StrFormat("integer of %d bytes (1..8 expected)", v.size()));
  }
  uint64_t x = 0;
  for (size_t i = v.size(); i > 0; --i) x = (x << 8) | v[i - 1];
  return x;
}

absl::StatusOr<uint8_t> DecodeStatusByte(uint16_t type, size_t offset,
                                         std::span<const uint8_t> v) {
  if (v.size() != 1) {
    return Malformed(type, offset, absl::StrFormat("%d bytes (1 expected)", v.size()));
  }
  if (v[0] != kStatusEnabled && v[0] != kStatusDisabled) {
    return Malformed(type, offset,
                     absl::StrFormat("status 0x%02x (0xAA or 0x55 expected)", v[0]));
  }
  return v[0];
}

absl::Status ExactSize(uint16_t type, size_t offset, std::span<const uint8_t> v, size_t n) {
  if (v.size() != n) {
    return Malformed(type, offset, absl::StrFormat("%d bytes (%d expected)", v.size(), n));
  }
  return absl::OkStatus();
}

#define RP_ASSIGN_FIELD(dst, expr)            \
  do {                                        \
    auto rp_field_ = (expr);                  \
    if (!rp_field_.ok()) return rp_field_.status(); \
    dst = *std::move(rp_field_);              \
  } while (0)

absl::Status Decode(uint16_t type, size_t off, std::span<const uint8_t> v, OpaqueData& o) {
  namespace t = opaque_type;
  switch (type) {
    case t::kDriverVersion:
      RP_ASSIGN_FIELD(o.driver_version, DecodeText(type, off, v));
      return absl::OkStatus();
    case t::kVbiosVersion:
      if (absl::Status s = ExactSize(type, off, v, kVbiosVersionSize); !s.ok()) return s;
      o.vbios_version = FormatVbiosVersion(v);
      return absl::OkStatus();
    case t::kGpuInfo:
      o.gpu_info = Bytes(v.begin(), v.end());
      return absl::OkStatus();
    case t::kBoardId: {
      if (absl::Status s = ExactSize(type, off, v, 4); !s.ok()) return s;
      uint64_t x = 0;
      RP_ASSIGN_FIELD(x, DecodeUintLe(type, off, v));
      o.board_id = static_cast<uint32_t>(x);
      return absl::OkStatus();
    }
    case t::kChipSku:
      RP_ASSIGN_FIELD(o.chip_sku, DecodeText(type, off, v));
      return absl::OkStatus();
    case t::kChipSkuMod:
      RP_ASSIGN_FIELD(o.chip_sku_mod, DecodeText(type, off, v));
      return absl::OkStatus();
    case t::kProject:
      RP_ASSIGN_FIELD(o.project, DecodeText(type, off, v));
      return absl::OkStatus();
    case t::kProjectSku:
      RP_ASSIGN_FIELD(o.project_sku, DecodeText(type, off, v));
      return absl::OkStatus();
    case t::kProjectSkuMod:
      RP_ASSIGN_FIELD(o.project_sku_mod, DecodeText(type, off, v));
      return absl::OkStatus();
    case t::kChipInfo:
      RP_ASSIGN_FIELD(o.chip_info, DecodeText(type, off, v));
      return absl::OkStatus();
    case t::kNvdec0Status:
      RP_ASSIGN_FIELD(o.nvdec0_status, DecodeStatusByte(type, off, v));
      return absl::OkStatus();
    case t::kProtectedPcieStatus:
      RP_ASSIGN_FIELD(o.protected_pcie_status, DecodeStatusByte(type, off, v));
      return absl::OkStatus();
    case t::kMsrsCnt: {
      if (v.size() % 4 != 0) {
        return Malformed(type, off, absl::StrFormat("%d bytes (multiple of 4 expected)", v.size()));
      }
      std::vector<uint32_t> counters;
      ByteReader r(v);
      while (!r.empty()) {
        uint32_t c = 0;
        if (!r.ReadU32Le(&c)) return Malformed(type, off, "truncated counter");
        counters.push_back(c);
      }
      o.msrscnt = std::move(counters);
      return absl::OkStatus();
    }
    case t::kCprInfo:
      o.cpr_info = Bytes(v.begin(), v.end());
      return absl::OkStatus();
    case t::kFwid:
      if (absl::Status s = ExactSize(type, off, v, kFwidSize); !s.ok()) return s;
      o.fwid = Bytes(v.begin(), v.end());
      return absl::OkStatus();
    case t::kSwitchPdi: {
      if (v.empty() || v.size() % kPdiSize != 0) {
        return Malformed(type, off,
                         absl::StrFormat("%d bytes (non-zero multiple of 8 expected)", v.size()));
      }
      std::vector<Bytes> pdis;
      for (size_t i = 0; i < v.size(); i += kPdiSize) {
        pdis.emplace_back(v.begin() + static_cast<std::ptrdiff_t>(i),
                          v.begin() + static_cast<std::ptrdiff_t>(i + kPdiSize));
      }
      o.switch_pdis = std::move(pdis);
      return absl::OkStatus();
    }
    case t::kSysEnableStatus:
      o.sys_enable_status = Bytes(v.begin(), v.end());
      return absl::OkStatus();
    case t::kOpaqueDataVersion: {
      uint64_t version = 0;
      RP_ASSIGN_FIELD(version, DecodeUintLe(type, off, v));
      if (version > kMaxOpaqueDataVersion) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "OPAQUE_VERSION_UNSUPPORTED: OPAQUE_DATA_VERSION %d (at most %d understood)", version,
            kMaxOpaqueDataVersion));
      }
      o.opaque_data_version = version;
      return absl::OkStatus();
    }
    case t::kFeatureFlag:
      RP_ASSIGN_FIELD(o.feature_flag, DecodeUintLe(type, off, v));
      return absl::OkStatus();
    case 0:
    case t::kInvalid:
      return Malformed(type, off, "invalid field type");
    default:
      o.other.emplace(type, Bytes(v.begin(), v.end()));
      return absl::OkStatus();
  }
}

#undef RP_ASSIGN_FIELD

}  // namespace

absl::StatusOr<OpaqueData> ParseOpaqueData(std::span<const uint8_t> data) {
  OpaqueData o;
  std::set<uint16_t> seen;
  ByteReader r(data);
  while (!r.empty()) {
    const size_t off = r.offset();
    uint16_t type = 0;
    uint16_t length = 0;
    std::span<const uint8_t> value;
    if (!r.ReadU16Le(&type) || !r.ReadU16Le(&length)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "OPAQUE_MALFORMED: truncated field header at opaque offset %d (%d bytes left)", off,
          data.size() - off));
    }
    if (!r.ReadBytes(length, &value)) {
      return Malformed(type, off,
                       absl::StrFormat("length %d exceeds the %d bytes left", length, r.remaining()));
    }
    if (!seen.insert(type).second) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "OPAQUE_FIELD_DUPLICATE: field %s (type %d) occurs again at opaque offset %d",
          OpaqueFieldName(type), type, off));
    }
    if (absl::Status s = Decode(type, off, value, o); !s.ok()) return s;
    o.fields.push_back(OpaqueField{type, Bytes(value.begin(), value.end())});
  }
  return o;
}

std::string FormatVbiosVersion(std::span<const uint8_t> raw) {
  if (raw.size() < 5) return "";
  return absl::StrFormat("%02X.%02X.%02X.%02X.%02X", raw[3], raw[2], raw[1], raw[0], raw[4]);
}

std::string OpaqueFieldName(uint16_t type) {
  namespace t = opaque_type;
  switch (type) {
    case t::kCertIssuerName: return "CERT_ISSUER_NAME";
    case t::kCertAuthorityKeyIdentifier: return "CERT_AUTHORITY_KEY_IDENTIFIER";
    case t::kDriverVersion: return "DRIVER_VERSION";
    case t::kGpuInfo: return "GPU_INFO";
    case t::kSku: return "SKU";
    case t::kVbiosVersion: return "VBIOS_VERSION";
    case t::kManufacturerId: return "MANUFACTURER_ID";
    case t::kTamperDetection: return "TAMPER_DETECTION";
    case t::kSmc: return "SMC";
    case t::kVpr: return "VPR";
    case t::kNvdec0Status: return "NVDEC0_STATUS";
    case t::kMsrsCnt: return "MSRSCNT";
    case t::kCprInfo: return "CPRINFO";
    case t::kBoardId: return "BOARD_ID";
    case t::kChipSku: return "CHIP_SKU";
    case t::kChipSkuMod: return "CHIP_SKU_MOD";
    case t::kProject: return "PROJECT";
    case t::kProjectSku: return "PROJECT_SKU";
    case t::kProjectSkuMod: return "PROJECT_SKU_MOD";
    case t::kFwid: return "FWID";
    case t::kProtectedPcieStatus: return "PROTECTED_PCIE_STATUS";
    case t::kSwitchPdi: return "SWITCH_PDI";
    case t::kFloorsweptPorts: return "FLOORSWEPT_PORTS";
    case t::kPositionId: return "POSITION_ID";
    case t::kLockSwitchStatus: return "LOCK_SWITCH_STATUS";
    case t::kGpuLinkConn: return "GPU_LINK_CONN";
    case t::kSysEnableStatus: return "SYS_ENABLE_STATUS";
    case t::kOpaqueDataVersion: return "OPAQUE_DATA_VERSION";
    case t::kChipInfo: return "CHIP_INFO";
    case t::kFeatureFlag: return "FEATURE_FLAG";
    case t::kInvalid: return "INVALID";
    default: return absl::StrFormat("TYPE_%d", type);
  }
}

std::vector<std::string> NormalizedSwitchPdis(const std::vector<Bytes>& pdis) {
  std::set<std::string> out;
  for (const Bytes& p : pdis) {
    Bytes rev(p.rbegin(), p.rend());
    out.insert(absl::AsciiStrToUpper(HexEncode(rev)));
  }
  return {out.begin(), out.end()};
}

}  // namespace rp::nvidia
