// Golden layout test (STYLE §14): every {field, offset, size} in layout.h is
// checked against real AMD-signed reports and the independently produced
// expected.json of each sample.
#include "verifier/sev_snp/layout.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "verifier/common/encoding.h"
#include "verifier/crypto/digest.h"
#include "verifier/sev_snp/golden_samples.h"
#include "verifier/sev_snp/test_util.h"

namespace rp::sev_snp {
namespace {

using test::GoldenSample;

nlohmann::json ExpectedFor(const GoldenSample& s) {
  Bytes text = test::ReadSnpData(s.folder + "/expected.json");
  nlohmann::json all = nlohmann::json::parse(ToString(text));
  for (const auto& e : all) {
    if (e.value("report", "") == s.report) return e;
  }
  return nullptr;
}

const FieldLayout& Field(std::string_view name) {
  for (const FieldLayout& f : kReportFields) {
    if (f.name == name) return f;
  }
  ADD_FAILURE() << "no field " << name;
  return kReportFields[0];
}

std::span<const uint8_t> At(const Bytes& report, std::string_view name) {
  const FieldLayout& f = Field(name);
  return std::span<const uint8_t>(report).subspan(f.offset, f.size);
}

uint64_t Le(std::span<const uint8_t> b) {
  uint64_t v = 0;
  for (size_t i = b.size(); i > 0; --i) v = (v << 8) | b[i - 1];
  return v;
}

// "0x1f..." big-endian hex of an integer → the 72-byte little-endian field.
std::string LeHexOf(const std::string& be_hex) {
  std::string digits = be_hex.substr(2);
  if (digits.size() % 2) digits = "0" + digits;
  Bytes be = HexDecode(digits).value();
  Bytes le(kSignatureComponentSize, 0);
  std::reverse_copy(be.begin(), be.end(), le.begin());
  return HexEncode(le);
}

TEST(LayoutTest, FieldsTileTheWholeReport) {
  std::vector<FieldLayout> fields(std::begin(kReportFields),
                                  std::end(kReportFields));
  std::sort(fields.begin(), fields.end(),
            [](const FieldLayout& a, const FieldLayout& b) {
              return a.offset < b.offset;
            });
  size_t next = 0;
  for (const FieldLayout& f : fields) {
    EXPECT_EQ(f.offset, next) << f.name << " leaves a gap or overlaps";
    next = f.offset + f.size;
  }
  EXPECT_EQ(next, kReportSize);
  EXPECT_EQ(kSignedSize, Field("sig_r").offset);
  EXPECT_EQ(kReportSize, 0x4A0u);
}

class GoldenLayoutTest : public ::testing::TestWithParam<GoldenSample> {};

TEST_P(GoldenLayoutTest, OffsetsMatchRealBytes) {
  const GoldenSample& s = GetParam();
  const Bytes report = test::ReadSnpData(s.folder + "/" + s.report);
  ASSERT_EQ(report.size(), kReportSize) << s.folder << "/" << s.report;
  const nlohmann::json e = ExpectedFor(s);
  ASSERT_FALSE(e.is_null());

  EXPECT_EQ(Le(At(report, "version")), e["version"].get<uint64_t>());
  EXPECT_EQ(Le(At(report, "guest_svn")), e["guest_svn"].get<uint64_t>());
  EXPECT_EQ(absl::StrFormat("0x%x", Le(At(report, "policy"))), e["policy"]);
  EXPECT_EQ(Le(At(report, "vmpl")), e["vmpl"].get<uint64_t>());
  EXPECT_EQ(Le(At(report, "sig_algo")), e["sig_algo"].get<uint64_t>());
  EXPECT_EQ(absl::StrFormat("0x%x", Le(At(report, "platform_info"))),
            e["platform_info"]);
  EXPECT_EQ(absl::StrFormat("0x%x", Le(At(report, "signer_info"))),
            e["signer_info"]["raw"]);
  for (const char* name :
       {"report_data", "measurement", "host_data", "id_key_digest",
        "author_key_digest", "report_id", "report_id_ma", "chip_id"}) {
    EXPECT_EQ(HexEncode(At(report, name)), e[name]) << name;
  }
  for (const char* name :
       {"current_tcb", "reported_tcb", "committed_tcb", "launch_tcb"}) {
    EXPECT_EQ(HexEncode(At(report, name)), e[name]["raw"]) << name;
  }
  EXPECT_EQ(absl::StrFormat("%d.%d.%d", At(report, "current_major")[0],
                            At(report, "current_minor")[0],
                            At(report, "current_build")[0]),
            e["current_version"]);
  EXPECT_EQ(absl::StrFormat("%d.%d.%d", At(report, "committed_major")[0],
                            At(report, "committed_minor")[0],
                            At(report, "committed_build")[0]),
            e["committed_version"]);
  EXPECT_EQ(absl::StrFormat("0x%x", Le(At(report, "launch_mit_vector"))),
            e["launch_mit_vector"]);
  EXPECT_EQ(absl::StrFormat("0x%x", Le(At(report, "current_mit_vector"))),
            e["current_mit_vector"]);
  if (e["cpuid_fam_mod_step"].is_array()) {
    EXPECT_EQ(At(report, "cpuid_fam_id")[0],
              e["cpuid_fam_mod_step"][0].get<int>());
    EXPECT_EQ(At(report, "cpuid_mod_id")[0],
              e["cpuid_fam_mod_step"][1].get<int>());
    EXPECT_EQ(At(report, "cpuid_step")[0],
              e["cpuid_fam_mod_step"][2].get<int>());
  }
  EXPECT_EQ(HexEncode(At(report, "sig_r")), LeHexOf(e["sig_r"]));
  EXPECT_EQ(HexEncode(At(report, "sig_s")), LeHexOf(e["sig_s"]));
  // The signed range: SHA-384 of exactly 0x000..0x29F.
  EXPECT_EQ(HexEncode(crypto::Sha384(
                std::span<const uint8_t>(report).first(kSignedSize))),
            e["sha384_signed_bytes"]);
  // Reserved ranges are zero in every real report.
  for (const char* name : {"reserved_04c", "reserved_1eb", "reserved_1ef",
                           "reserved_208", "sig_tail"}) {
    auto b = At(report, name);
    EXPECT_TRUE(std::all_of(b.begin(), b.end(), [](uint8_t x) {
      return x == 0;
    })) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(RealReports, GoldenLayoutTest,
                         ::testing::ValuesIn(test::GoldenSamples()),
                         [](const auto& p) {
                           return test::SampleName(p.param);
                         });

}  // namespace
}  // namespace rp::sev_snp
