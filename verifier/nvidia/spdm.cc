#include "verifier/nvidia/spdm.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"
#include "verifier/common/byte_reader.h"

namespace rp::nvidia {
namespace {

absl::Status Err(std::string_view code, std::string detail) {
  return absl::InvalidArgumentError(absl::StrFormat("%s: %s", code, detail));
}

absl::Status Truncated(std::string_view field, const ByteReader& r) {
  return Err("REPORT_MALFORMED",
             absl::StrFormat("truncated at %s (offset %d, %d bytes left)", field, r.offset(),
                             r.remaining()));
}

template <size_t N>
bool ReadArray(ByteReader& r, std::array<uint8_t, N>& out) {
  std::span<const uint8_t> b;
  if (!r.ReadBytes(N, &b)) return false;
  std::copy(b.begin(), b.end(), out.begin());
  return true;
}

absl::Status ParseBlocks(std::span<const uint8_t> record, size_t record_offset, uint8_t count,
                         std::vector<MeasurementBlock>& out) {
  ByteReader r(record);
  std::set<uint8_t> seen;
  for (int i = 0; i < count; ++i) {
    const size_t at = record_offset + r.offset();
    uint8_t index = 0;
    uint8_t spec = 0;
    uint16_t size = 0;
    if (!r.ReadU8(&index) || !r.ReadU8(&spec) || !r.ReadU16Le(&size)) {
      return Err("MEASUREMENT_BLOCK_INVALID",
                 absl::StrFormat("block %d header at offset %d exceeds MeasurementRecordLength",
                                 i, at));
    }
    if (index == 0) {
      return Err("MEASUREMENT_BLOCK_INVALID",
                 absl::StrFormat("block %d at offset %d has index 0 (1-based)", i, at));
    }
    if (spec != kMeasurementSpecDmtf) {
      return Err("MEASUREMENT_BLOCK_INVALID",
                 absl::StrFormat("block index %d at offset %d: MeasurementSpecification 0x%02x "
                                 "(0x01 DMTF expected)",
                                 index, at, spec));
    }
    std::span<const uint8_t> measurement;
    if (!r.ReadBytes(size, &measurement)) {
      return Err("MEASUREMENT_BLOCK_INVALID",
                 absl::StrFormat("block index %d at offset %d: MeasurementSize %d exceeds the "
                                 "record (%d left)",
                                 index, at, size, r.remaining()));
    }
    ByteReader m(measurement);
    MeasurementBlock b;
    b.index = index;
    uint16_t value_size = 0;
    std::span<const uint8_t> value;
    if (!m.ReadU8(&b.value_type) || !m.ReadU16Le(&value_size) ||
        !m.ReadBytes(value_size, &value) || !m.empty()) {
      return Err("MEASUREMENT_BLOCK_INVALID",
                 absl::StrFormat("block index %d at offset %d: DMTF value size does not match "
                                 "MeasurementSize %d",
                                 index, at, size));
    }
    if (!seen.insert(index).second) {
      return Err("MEASUREMENT_INDEX_DUPLICATE",
                 absl::StrFormat("block index %d occurs again at offset %d", index, at));
    }
    b.value.assign(value.begin(), value.end());
    out.push_back(std::move(b));
  }
  if (!r.empty()) {
    return Err("MEASUREMENT_BLOCK_INVALID",
               absl::StrFormat("%d bytes of MeasurementRecord left after %d blocks",
                               r.remaining(), count));
  }
  return absl::OkStatus();
}

}  // namespace

const MeasurementBlock* GpuReport::Block(uint8_t index) const {
  for (const MeasurementBlock& b : blocks) {
    if (b.index == index) return &b;
  }
  return nullptr;
}

absl::StatusOr<GpuReport> ParseGpuReportUnverified(std::span<const uint8_t> data) {
  if (data.size() > kMaxReportSize) {
    return Err("REPORT_TOO_LARGE",
               absl::StrFormat("%d bytes (at most %d)", data.size(), kMaxReportSize));
  }
  GpuReport rep;
  ByteReader r(data);
  // Request (37 bytes).
  uint8_t version = 0;
  uint8_t code = 0;
  if (!r.ReadU8(&version) || !r.ReadU8(&code)) return Truncated("request header", r);
  if (version != kSpdmVersion11) {
    return Err("SPDM_VERSION_UNSUPPORTED",
               absl::StrFormat("request SPDMVersion 0x%02x (0x11 expected)", version));
  }
  if (code != kSpdmGetMeasurements) {
    return Err("REPORT_MALFORMED",
               absl::StrFormat("request code 0x%02x (GET_MEASUREMENTS 0xE0 expected)", code));
  }
  if (!r.ReadU8(&rep.request_param1) || !r.ReadU8(&rep.request_param2) ||
      !ReadArray(r, rep.requester_nonce) || !r.ReadU8(&rep.request_slot_id)) {
    return Truncated("request", r);
  }
  if ((rep.request_param1 & kParam1SignatureRequested) == 0) {
    return Err("REPORT_MALFORMED",
               absl::StrFormat("request Param1 0x%02x: no signature requested",
                               rep.request_param1));
  }
  // Response.
  if (!r.ReadU8(&version) || !r.ReadU8(&code)) return Truncated("response header", r);
  if (version != kSpdmVersion11) {
    return Err("SPDM_VERSION_UNSUPPORTED",
               absl::StrFormat("response SPDMVersion 0x%02x (0x11 expected)", version));
  }
  if (code != kSpdmMeasurements) {
    return Err("REPORT_MALFORMED",
               absl::StrFormat("response code 0x%02x (MEASUREMENTS 0x60 expected)", code));
  }
  uint8_t count = 0;
  uint32_t record_length = 0;
  if (!r.ReadU8(&rep.response_param1) || !r.ReadU8(&rep.response_param2) || !r.ReadU8(&count) ||
      !r.ReadU24Le(&record_length)) {
    return Truncated("response header", r);
  }
  if (count == 0) {
    return Err("MEASUREMENT_BLOCK_INVALID", "NumberOfBlocks is 0");
  }
  const size_t record_offset = r.offset();
  std::span<const uint8_t> record;
  if (!r.ReadBytes(record_length, &record)) {
    return Err("REPORT_MALFORMED",
               absl::StrFormat("MeasurementRecordLength %d at offset %d exceeds the %d bytes "
                               "left",
                               record_length, record_offset - 3, r.remaining()));
  }
  if (absl::Status s = ParseBlocks(record, record_offset, count, rep.blocks); !s.ok()) return s;
  uint16_t opaque_length = 0;
  if (!ReadArray(r, rep.responder_nonce)) return Truncated("responder nonce", r);
  if (!r.ReadU16Le(&opaque_length)) return Truncated("OpaqueLength", r);
  std::span<const uint8_t> opaque;
  if (!r.ReadBytes(opaque_length, &opaque)) {
    return Err("REPORT_MALFORMED",
               absl::StrFormat("OpaqueLength %d at offset %d exceeds the %d bytes left",
                               opaque_length, r.offset() - 2, r.remaining()));
  }
  if (!ReadArray(r, rep.signature)) {
    return Err("REPORT_MALFORMED",
               absl::StrFormat("%d bytes left for the signature (96 expected)", r.remaining()));
  }
  if (!r.empty()) {
    return Err("REPORT_TRAILING_BYTES",
               absl::StrFormat("%d bytes after the signature (report %d bytes, signature ends at "
                               "%d)",
                               r.remaining(), data.size(), r.offset()));
  }
  absl::StatusOr<OpaqueData> parsed = ParseOpaqueData(opaque);
  if (!parsed.ok()) return parsed.status();
  rep.opaque = *std::move(parsed);
  rep.opaque_raw.assign(opaque.begin(), opaque.end());
  rep.raw.assign(data.begin(), data.end());
  return rep;
}

std::string ReportErrorReason(const absl::Status& status) {
  const std::string msg(status.message());
  const size_t colon = msg.find(':');
  if (colon != std::string::npos && colon > 0) {
    const std::string code = msg.substr(0, colon);
    if (std::all_of(code.begin(), code.end(), [](char c) {
          return absl::ascii_isupper(static_cast<unsigned char>(c)) || c == '_';
        })) {
      return code;
    }
  }
  return "REPORT_MALFORMED";
}

}  // namespace rp::nvidia
