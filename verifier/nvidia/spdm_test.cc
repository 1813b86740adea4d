// SPDM report and opaque-data parsing: every real report decodes to the
// values PROVENANCE.md, NVIDIA's SDK dump and Trustee's claims give; malformed
// inputs fail with their stable code; mutations never crash the parser.
#include "verifier/nvidia/spdm.h"

#include <random>
#include <regex>
#include <sstream>
#include <string>

#include "absl/strings/ascii.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "verifier/nvidia/opaque.h"
#include "verifier/nvidia/test_util.h"

namespace rp::nvidia {
namespace fuzz {
// tests/fuzz/spdm_report_fuzzer.cc
std::string CheckSpdmParseInvariants(std::span<const uint8_t> data);
}  // namespace fuzz

namespace {

using test::ReadHexReport;
using test::RealVector;
using test::RealVectors;
using test::Unhex;

class RealReportTest : public ::testing::TestWithParam<RealVector> {};

TEST_P(RealReportTest, DecodesToProvenanceValues) {
  const RealVector& v = GetParam();
  const Bytes raw = ReadHexReport(v.report);
  ASSERT_EQ(raw.size(), v.size);
  absl::StatusOr<GpuReport> r = ParseGpuReportUnverified(raw);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(HexEncode(r->requester_nonce), v.nonce);
  EXPECT_EQ(r->SignedBytes().size(), v.size - 96);
  EXPECT_EQ(r->blocks.size(), 64u);
  for (size_t i = 0; i < r->blocks.size(); ++i) {
    EXPECT_EQ(r->blocks[i].index, i + 1);
    EXPECT_EQ(r->blocks[i].value_type, 0x01);
    EXPECT_EQ(r->blocks[i].value.size(), 48u);
  }
  const OpaqueData& o = r->opaque;
  EXPECT_EQ(o.driver_version, v.driver);
  EXPECT_EQ(o.vbios_version, v.vbios);
  EXPECT_EQ(o.project, v.project);
  EXPECT_EQ(o.project_sku, v.project_sku);
  EXPECT_EQ(o.chip_sku, v.chip_sku);
  EXPECT_EQ(o.fwid.has_value(), v.has_fwid);
  EXPECT_EQ(o.nvdec0_status, kStatusDisabled);
  EXPECT_TRUE(o.other.empty()) << "undecoded field " << o.other.begin()->first;
}

INSTANTIATE_TEST_SUITE_P(Vectors, RealReportTest, ::testing::ValuesIn(RealVectors()),
                         [](const auto& p) { return p.param.name; });

// NVIDIA attestation-sdk's field dump of the 550.90.07 response.
TEST(RealReport, MatchesNvidiaSdkParsedOutput) {
  absl::StatusOr<GpuReport> r =
      ParseGpuReportUnverified(ReadHexReport("hopper/h100_drv550.90.07_vbios96009F0001_report.hex"));
  ASSERT_TRUE(r.ok()) << r.status();
  std::istringstream in(
      test::ReadFile(test::DataPath("expected/h100_drv550.90.07_spdm_parsed_output.txt")));
  const std::regex block(R"(MeasurementBlocks\[(\d+)\]\.DMTFSpecMeasurementValue = 0x([0-9a-f]+))");
  const std::regex field(R"(OpaqueDataField\['OPAQUE_FIELD_ID_([A-Z0-9_]+)'\] = 0x([0-9a-f]+))");
  std::map<std::string, std::string> opaque_by_name;
  for (const OpaqueField& f : r->opaque.fields) {
    opaque_by_name[OpaqueFieldName(f.type)] = HexEncode(f.value);
  }
  int blocks = 0;
  int fields = 0;
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_search(line, m, block)) {
      const MeasurementBlock* b = r->Block(static_cast<uint8_t>(std::stoi(m[1])));
      ASSERT_NE(b, nullptr) << line;
      EXPECT_EQ(HexEncode(b->value), m[2].str()) << line;
      ++blocks;
    } else if (std::regex_search(line, m, field)) {
      EXPECT_EQ(opaque_by_name[m[1].str()], m[2].str()) << line;
      ++fields;
    } else if (line.rfind("SpdmMeasurementResponseMessage.Nonce = 0x", 0) == 0) {
      EXPECT_EQ(HexEncode(r->responder_nonce), line.substr(line.find("0x") + 2));
    } else if (line.rfind("SpdmMeasurementResponseMessage.OpaqueLength = ", 0) == 0) {
      EXPECT_EQ(std::to_string(r->opaque_raw.size()), line.substr(line.find("= ") + 2));
    } else if (line.rfind("SpdmMeasurementResponseMessage.Signature = 0x", 0) == 0) {
      EXPECT_EQ(HexEncode(r->signature), line.substr(line.find("0x") + 2));
    } else if (line.rfind("SpdmMeasurementResponseMessage.MeasurementRecordLength = ", 0) == 0) {
      EXPECT_EQ(line.substr(line.find("= ") + 2), "3520");
    }
  }
  EXPECT_EQ(blocks, 64);
  EXPECT_EQ(fields, 13);  // MSRSCNT is dumped per element, not matched here
  ASSERT_TRUE(r->opaque.msrscnt.has_value());
  EXPECT_EQ(r->opaque.msrscnt->size(), 64u);
  EXPECT_EQ((*r->opaque.msrscnt)[11], 130u);  // Trustee measurement_count["12"]
}

// Trustee's decoded claims for the same report (third-party cross-check).
TEST(RealReport, MatchesTrusteeClaims) {
  absl::StatusOr<GpuReport> r =
      ParseGpuReportUnverified(ReadHexReport("hopper/h100_drv550.90.07_vbios96009F0001_report.hex"));
  ASSERT_TRUE(r.ok()) << r.status();
  const nlohmann::json j = nlohmann::json::parse(
      test::ReadFile(test::DataPath("expected/h100_drv550.90.07_trustee_claims.json")));
  const nlohmann::json& cfg = j["config"];
  const OpaqueData& o = r->opaque;
  EXPECT_EQ(cfg["driver_version"], *o.driver_version);
  EXPECT_EQ(cfg["vbios_version"], absl::AsciiStrToLower(*o.vbios_version));
  EXPECT_EQ(cfg["chip_sku"], *o.chip_sku);
  EXPECT_EQ(cfg["chip_sku_mod"], *o.chip_sku_mod);
  EXPECT_EQ(cfg["project"], *o.project);
  EXPECT_EQ(cfg["project_sku"], *o.project_sku);
  EXPECT_EQ(cfg["fwid"], HexEncode(*o.fwid));
  EXPECT_EQ(cfg["gpu_info"], HexEncode(*o.gpu_info));
  EXPECT_EQ(cfg["cpr_info"], HexEncode(*o.cpr_info));
  EXPECT_EQ(cfg["board_id"], "b1030000");
  EXPECT_EQ(*o.board_id, 945u);
  EXPECT_EQ(cfg["nvdec0_status"], "disabled");
  EXPECT_EQ(cfg["protected_pcie_status"], "55");
  for (const auto& [index, count] : cfg["measurement_count"].items()) {
    EXPECT_EQ((*o.msrscnt)[static_cast<size_t>(std::stoi(index) - 1)], count.get<uint32_t>())
        << index;
  }
  ASSERT_EQ(j["measurements"].size(), 64u);
  for (const auto& [index, value] : j["measurements"].items()) {
    const MeasurementBlock* b = r->Block(static_cast<uint8_t>(std::stoi(index)));
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(HexEncode(b->value), value.get<std::string>()) << index;
  }
}

TEST(RealReport, BlackwellAndPpcieOpaqueFields) {
  absl::StatusOr<GpuReport> gb =
      ParseGpuReportUnverified(ReadHexReport("blackwell/gb100_drv575.32_vbios970088000F_report.hex"));
  ASSERT_TRUE(gb.ok()) << gb.status();
  EXPECT_EQ(HexEncode(*gb->opaque.fwid),
            "d090cab1b6e6ffddca83d1781e25b3f040fa1f3c7608230cb5f41b1c1b99f5f748349e59d0ef8eb830c9bc7"
            "9ccf77502");
  EXPECT_EQ(gb->opaque.opaque_data_version, 0u);
  EXPECT_EQ(HexEncode(*gb->opaque.sys_enable_status), "0707");
  EXPECT_FALSE(gb->opaque.chip_info.has_value());

  const auto gpus = test::LoadEvidenceJson("evidence_json/hgx_h100_4gpu_drv590.12_ppcie_evidence.json");
  ASSERT_EQ(gpus.size(), 4u);
  for (const auto& g : gpus) {
    absl::StatusOr<GpuReport> r = ParseGpuReportUnverified(g.report);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(HexEncode(r->requester_nonce), g.nonce_hex);
    EXPECT_EQ(r->opaque.driver_version, "590.12");
    EXPECT_EQ(r->opaque.vbios_version, "96.00.A5.00.01");
    EXPECT_EQ(r->opaque.project, "G520");
    EXPECT_EQ(r->opaque.chip_sku, "885");
    EXPECT_EQ(r->opaque.protected_pcie_status, kStatusEnabled);
    EXPECT_EQ(r->opaque.opaque_data_version, 1u);
    EXPECT_EQ(r->opaque.feature_flag, kFeaturePpcie);
    ASSERT_TRUE(r->opaque.switch_pdis.has_value());
    EXPECT_EQ(r->opaque.switch_pdis->size(), 18u);
  }
}

TEST(Opaque, VbiosVersionFormat) {
  EXPECT_EQ(FormatVbiosVersion(Unhex("009f009601000000")), "96.00.9F.00.01");
  EXPECT_EQ(FormatVbiosVersion(Unhex("0074009620000000")), "96.00.74.00.20");
  EXPECT_EQ(FormatVbiosVersion(Unhex("008800970f000000")), "97.00.88.00.0F");
}

TEST(Opaque, SwitchPdisAreReversedUpperCaseAndDeduplicated) {
  const std::vector<Bytes> pdis = {Unhex("77e911d843b7533a"), Unhex("77e911d843b7533a"),
                                   Unhex("7532679ebabee39a")};
  EXPECT_EQ(NormalizedSwitchPdis(pdis),
            (std::vector<std::string>{"3A53B743D811E977", "9AE3BEBA9E673275"}));
}

// --- Malformed reports: one defect each, built from the real 550.90.07 report.

struct Malformed {
  std::string name;
  std::function<void(Bytes&)> edit;
  std::string want;
};

void PrintTo(const Malformed& m, std::ostream* os) { *os << m.name; }

Bytes Real() { return ReadHexReport("hopper/h100_drv550.90.07_vbios96009F0001_report.hex"); }

// Offsets in the real 550.90.07 report (spec §1.2): opaque data at 3599.
constexpr size_t kOpaqueStart = 3599;

class MalformedReportTest : public ::testing::TestWithParam<Malformed> {};

TEST_P(MalformedReportTest, RejectedWithStableCode) {
  Bytes raw = Real();
  ASSERT_EQ(raw.size(), 4117u);
  GetParam().edit(raw);
  absl::StatusOr<GpuReport> r = ParseGpuReportUnverified(raw);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(ReportErrorReason(r.status()), GetParam().want) << r.status();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, MalformedReportTest,
    ::testing::Values(
        Malformed{"TrailingByte", [](Bytes& b) { b.push_back(0); }, "REPORT_TRAILING_BYTES"},
        Malformed{"Truncated", [](Bytes& b) { b.resize(4000); }, "REPORT_MALFORMED"},
        Malformed{"Empty", [](Bytes& b) { b.clear(); }, "REPORT_MALFORMED"},
        Malformed{"TooLarge", [](Bytes& b) { b.resize(kMaxReportSize + 1); }, "REPORT_TOO_LARGE"},
        Malformed{"RequestVersion10", [](Bytes& b) { b[0] = 0x10; }, "SPDM_VERSION_UNSUPPORTED"},
        Malformed{"RequestCode", [](Bytes& b) { b[1] = 0xE1; }, "REPORT_MALFORMED"},
        Malformed{"NoSignatureRequested", [](Bytes& b) { b[2] = 0x00; }, "REPORT_MALFORMED"},
        Malformed{"ResponseVersion12", [](Bytes& b) { b[37] = 0x12; }, "SPDM_VERSION_UNSUPPORTED"},
        Malformed{"ResponseCode", [](Bytes& b) { b[38] = 0x61; }, "REPORT_MALFORMED"},
        Malformed{"ZeroBlocks", [](Bytes& b) { b[41] = 0; }, "MEASUREMENT_BLOCK_INVALID"},
        Malformed{"FewerBlocksThanRecord", [](Bytes& b) { b[41] = 63; },
                  "MEASUREMENT_BLOCK_INVALID"},
        Malformed{"RecordLengthTooLong", [](Bytes& b) { b[44] = 0x10; }, "REPORT_MALFORMED"},
        Malformed{"BlockIndexZero", [](Bytes& b) { b[45] = 0; }, "MEASUREMENT_BLOCK_INVALID"},
        Malformed{"DuplicateBlockIndex", [](Bytes& b) { b[45 + 55] = 1; },
                  "MEASUREMENT_INDEX_DUPLICATE"},
        Malformed{"NonDmtfBlock", [](Bytes& b) { b[46] = 0x02; }, "MEASUREMENT_BLOCK_INVALID"},
        Malformed{"DmtfSizeInconsistent", [](Bytes& b) { b[50] = 47; },
                  "MEASUREMENT_BLOCK_INVALID"},
        Malformed{"OpaqueLengthTooLong", [](Bytes& b) { b[kOpaqueStart - 1] = 0x10; },
                  "REPORT_MALFORMED"},
        Malformed{"OpaqueFieldOverruns",
                  // first field VBIOS_VERSION: length 8 -> 0x0400
                  [](Bytes& b) { b[kOpaqueStart + 3] = 0x04; }, "OPAQUE_MALFORMED"},
        Malformed{"OpaqueDuplicateType",
                  // BOARD_ID (type 14, 2nd field at +12) -> VBIOS_VERSION (6)
                  [](Bytes& b) { b[kOpaqueStart + 12] = 6; }, "OPAQUE_FIELD_DUPLICATE"},
        Malformed{"OpaqueInvalidType", [](Bytes& b) { b[kOpaqueStart] = 0xFF; },
                  "OPAQUE_MALFORMED"},
        Malformed{"OpaqueTypeZero", [](Bytes& b) { b[kOpaqueStart] = 0x00; }, "OPAQUE_MALFORMED"}),
    [](const auto& p) { return p.param.name; });

TEST(Opaque, FieldRules) {
  auto tlv = [](uint16_t type, Bytes v) {
    // Built byte by byte: GCC 12 warns (-Warray-bounds, a false positive) on
    // vector::insert after a 4-element initializer list here.
    Bytes out;
    out.reserve(4 + v.size());
    for (uint8_t x : {static_cast<uint8_t>(type & 0xFF), static_cast<uint8_t>(type >> 8),
                      static_cast<uint8_t>(v.size() & 0xFF), static_cast<uint8_t>(v.size() >> 8)}) {
      out.push_back(x);
    }
    for (uint8_t x : v) out.push_back(x);
    return out;
  };
  auto code = [](const Bytes& b) {
    absl::StatusOr<OpaqueData> o = ParseOpaqueData(b);
    return o.ok() ? std::string("OK") : ReportErrorReason(o.status());
  };
  EXPECT_EQ(code(tlv(opaque_type::kNvdec0Status, {0x12})), "OPAQUE_MALFORMED");
  EXPECT_EQ(code(tlv(opaque_type::kProtectedPcieStatus, {0xAA, 0x00})), "OPAQUE_MALFORMED");
  EXPECT_EQ(code(tlv(opaque_type::kFwid, Bytes(47, 1))), "OPAQUE_MALFORMED");
  EXPECT_EQ(code(tlv(opaque_type::kVbiosVersion, Bytes(7, 1))), "OPAQUE_MALFORMED");
  EXPECT_EQ(code(tlv(opaque_type::kDriverVersion, {'5', 0, '1'})), "OPAQUE_MALFORMED");
  EXPECT_EQ(code(tlv(opaque_type::kDriverVersion, {'5', 0x07, 0})), "OPAQUE_MALFORMED");
  EXPECT_EQ(code(tlv(opaque_type::kSwitchPdi, Bytes(9, 1))), "OPAQUE_MALFORMED");
  EXPECT_EQ(code(tlv(opaque_type::kMsrsCnt, Bytes(6, 1))), "OPAQUE_MALFORMED");
  EXPECT_EQ(code(tlv(opaque_type::kOpaqueDataVersion, {0x02, 0x00})),
            "OPAQUE_VERSION_UNSUPPORTED");
  EXPECT_EQ(code(tlv(opaque_type::kOpaqueDataVersion, {0x01, 0x00})), "OK");
  EXPECT_EQ(code({0x03, 0x00, 0x01}), "OPAQUE_MALFORMED");  // truncated header
  // Unknown types are kept, not dropped.
  absl::StatusOr<OpaqueData> o = ParseOpaqueData(tlv(200, {0xDE, 0xAD}));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(HexEncode(o->other.at(200)), "dead");
  EXPECT_EQ(OpaqueFieldName(200), "TYPE_200");
}

// Fuzz-style: a few thousand seeded mutations and truncations of every real
// report never crash the parser and always satisfy its invariants.
TEST(SpdmFuzz, SeededMutationsKeepInvariants) {
  std::vector<Bytes> seeds;
  for (const RealVector& v : RealVectors()) seeds.push_back(ReadHexReport(v.report));
  seeds.push_back(ReadHexReport("hopper/h100_drv560.00_g520_NEG_badsig_report.hex"));
  for (const auto& g :
       test::LoadEvidenceJson("evidence_json/hgx_h100_4gpu_drv590.12_ppcie_evidence.json")) {
    seeds.push_back(g.report);
  }
  std::mt19937 rng(20261202);
  int parsed_ok = 0;
  int total = 0;
  for (const Bytes& seed : seeds) {
    ASSERT_FALSE(seed.empty());
    EXPECT_EQ(fuzz::CheckSpdmParseInvariants(seed), "");
    for (int i = 0; i < 500; ++i) {
      Bytes m = seed;
      switch (rng() % 5) {
        case 0:  // flip 1-4 bytes anywhere
          for (uint32_t k = 0, n = 1 + rng() % 4; k < n; ++k) {
            m[rng() % m.size()] ^= static_cast<uint8_t>(1 + rng() % 255);
          }
          break;
        case 1:  // truncate
          m.resize(rng() % m.size());
          break;
        case 2:  // flip in the header/opaque region, where lengths live
          m[rng() % 50] ^= static_cast<uint8_t>(1 + rng() % 255);
          m[m.size() - 96 - 1 - rng() % 400] ^= static_cast<uint8_t>(1 + rng() % 255);
          break;
        case 3: {  // insert or delete a byte
          const size_t at = rng() % m.size();
          if (rng() % 2) {
            m.insert(m.begin() + static_cast<std::ptrdiff_t>(at), static_cast<uint8_t>(rng()));
          } else {
            m.erase(m.begin() + static_cast<std::ptrdiff_t>(at));
          }
          break;
        }
        default:  // extreme length fields
          m[42] = 0xFF;
          m[43] = static_cast<uint8_t>(rng());
          m[44] = static_cast<uint8_t>(rng() % 2);
          break;
      }
      const std::string why = fuzz::CheckSpdmParseInvariants(m);
      ASSERT_EQ(why, "") << "mutation " << i;
      parsed_ok += ParseGpuReportUnverified(m).ok() ? 1 : 0;
      ++total;
    }
  }
  EXPECT_GE(total, 5000);
  // Byte flips inside measurement values keep the report parseable.
  EXPECT_GT(parsed_ok, 0);
}

}  // namespace
}  // namespace rp::nvidia
