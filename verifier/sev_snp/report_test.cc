#include "verifier/sev_snp/report.h"

#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "tests/testing/snp_report_builder.h"
#include "verifier/sev_snp/golden_samples.h"
#include "verifier/sev_snp/layout.h"
#include "verifier/sev_snp/test_util.h"

namespace rp::sev_snp {
namespace {

using rp::testing::SnpReportBuilder;

TEST(ProductTest, FromCpuid) {
  struct Row {
    uint8_t family, model;
    Product want;
  };
  const Row rows[] = {
      {0x19, 0x00, Product::kMilan},   {0x19, 0x01, Product::kMilan},
      {0x19, 0x0F, Product::kMilan},   {0x19, 0x10, Product::kGenoa},
      {0x19, 0x11, Product::kGenoa},   {0x19, 0x1F, Product::kGenoa},
      {0x19, 0x20, Product::kUnknown}, {0x19, 0x9F, Product::kUnknown},
      {0x19, 0xA0, Product::kGenoa},  // Siena / Bergamo (Zen4c)
      {0x19, 0xAF, Product::kGenoa},   {0x19, 0xB0, Product::kUnknown},
      {0x1A, 0x00, Product::kTurin},   {0x1A, 0x02, Product::kTurin},
      {0x1A, 0x11, Product::kTurin},   {0x1A, 0x12, Product::kUnknown},
      {0x1A, 0x50, Product::kUnknown},  // Venice: no certificates yet
      {0x17, 0x31, Product::kUnknown}, {0x00, 0x00, Product::kUnknown},
  };
  for (const Row& r : rows) {
    EXPECT_EQ(ProductFromCpuid(r.family, r.model), r.want)
        << std::hex << int{r.family} << "/" << int{r.model};
  }
}

TEST(ProductTest, FromCertNameIgnoresStepping) {
  EXPECT_EQ(ProductFromCertName("Milan-B0"), Product::kMilan);
  EXPECT_EQ(ProductFromCertName("Milan"), Product::kMilan);
  EXPECT_EQ(ProductFromCertName("Genoa"), Product::kGenoa);
  EXPECT_EQ(ProductFromCertName("Genoa-B2"), Product::kGenoa);
  EXPECT_EQ(ProductFromCertName("Turin"), Product::kTurin);
  EXPECT_EQ(ProductFromCertName("Milano"), Product::kUnknown);
  EXPECT_EQ(ProductFromCertName("milan"), Product::kUnknown);
  EXPECT_EQ(ProductFromCertName(""), Product::kUnknown);
  EXPECT_EQ(ProductName(Product::kGenoa), "Genoa");
  EXPECT_EQ(ProductName(Product::kUnknown), "Unknown");
}

TEST(TcbTest, DecodesPerProductLayout) {
  // Spec §2 examples: Milan 04 00 00 00 00 00 18 DB; Turin 00 01 00 02 00 00
  // 00 47.
  TcbVersion milan{{0x04, 0x00, 0, 0, 0, 0, 0x18, 0xDB}};
  EXPECT_EQ(DecodeTcb(milan, Product::kMilan),
            (TcbParts{std::nullopt, 4, 0, 24, 219}));
  TcbVersion turin{{0x00, 0x01, 0x00, 0x02, 0, 0, 0, 0x47}};
  EXPECT_EQ(DecodeTcb(turin, Product::kTurin), (TcbParts{0, 1, 0, 2, 71}));
  // Read with the legacy layout the Turin TCB would be bl0/tee1/snp0.
  EXPECT_EQ(DecodeTcb(turin, Product::kGenoa),
            (TcbParts{std::nullopt, 0, 1, 0, 71}));
  EXPECT_EQ(DecodeTcb(turin, Product::kUnknown), std::nullopt);
  EXPECT_EQ(turin.Hex(), "0001000200000047");
  EXPECT_EQ(EncodeTcb(TcbParts{0, 1, 0, 2, 71}, Product::kTurin), turin);
  EXPECT_EQ(EncodeTcb(TcbParts{std::nullopt, 4, 0, 24, 219}, Product::kMilan),
            milan);
}

TEST(TcbTest, ComparesComponentWiseNotAsInteger) {
  const TcbVersion a =
      EncodeTcb(TcbParts{std::nullopt, 4, 0, 24, 220}, Product::kMilan);
  const TcbVersion b =
      EncodeTcb(TcbParts{std::nullopt, 4, 0, 25, 100}, Product::kMilan);
  // As a u64, a > b (microcode is the top byte), but snp 24 < 25.
  EXPECT_FALSE(TcbAtLeast(a, b, Product::kMilan));
  EXPECT_FALSE(TcbAtLeast(b, a, Product::kMilan));
  EXPECT_TRUE(TcbAtLeast(a, a, Product::kMilan));
  const TcbVersion t1 = EncodeTcb(TcbParts{1, 1, 0, 2, 71}, Product::kTurin);
  const TcbVersion t0 = EncodeTcb(TcbParts{0, 1, 0, 2, 71}, Product::kTurin);
  EXPECT_TRUE(TcbAtLeast(t1, t0, Product::kTurin));
  EXPECT_FALSE(TcbAtLeast(t0, t1, Product::kTurin));
  EXPECT_FALSE(TcbAtLeast(a, a, Product::kUnknown));
}

TEST(ReportTest, ParsesBuilderDefault) {
  SnpReportBuilder b;
  absl::StatusOr<SnpReport> r = ParseReportUnverified(b.Build());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, b.fields());
  EXPECT_EQ(r->ProductFromReport(), Product::kMilan);
  EXPECT_EQ(r->signing_key(), kSigningKeyVcek);
  EXPECT_FALSE(r->ChipIdIsZero());
}

TEST(ReportTest, AllRealReportsParse) {
  for (const auto& s : test::GoldenSamples()) {
    const Bytes bytes = test::ReadSnpData(s.folder + "/" + s.report);
    absl::StatusOr<SnpReport> r = ParseReportUnverified(bytes);
    ASSERT_TRUE(r.ok()) << s.folder << ": " << r.status();
    if (r->has_cpuid()) {
      EXPECT_EQ(ProductName(r->ProductFromReport()), s.product) << s.folder;
    }
    EXPECT_EQ(r->signing_key(), s.vlek ? kSigningKeyVlek : kSigningKeyVcek)
        << s.folder;
  }
}

TEST(ReportTest, V2HasNoCpuidAndV5HasMitVectors) {
  absl::StatusOr<SnpReport> v2 =
      ParseReportUnverified(test::ReadSnpData("milan_v2_gsg/report.bin"));
  ASSERT_TRUE(v2.ok()) << v2.status();
  EXPECT_FALSE(v2->has_cpuid());
  EXPECT_EQ(v2->ProductFromReport(), Product::kUnknown);
  absl::StatusOr<SnpReport> v5 =
      ParseReportUnverified(test::ReadSnpData("genoa_v5_oak/report.bin"));
  ASSERT_TRUE(v5.ok()) << v5.status();
  EXPECT_TRUE(v5->has_mit_vectors());
  EXPECT_EQ(v5->launch_mit_vector, 1u);
  EXPECT_EQ(v5->current_mit_vector, 1u);
}

TEST(ReportTest, ErrorOfForeignStatusIsNone) {
  EXPECT_EQ(ReportErrorOf(absl::OkStatus()), ReportError::kNone);
  EXPECT_EQ(ReportErrorOf(absl::InvalidArgumentError("x")), ReportError::kNone);
  EXPECT_EQ(ReportErrorReason(ReportError::kTruncated), "REPORT_TRUNCATED");
}

// One change per row from a valid report; each must fail with its own code.
struct ParseCase {
  std::string name;
  std::function<void(SnpReportBuilder&)> mutate;
  ReportError want;
};
void PrintTo(const ParseCase& c, std::ostream* os) { *os << c.name; }

class ParseErrorTest : public ::testing::TestWithParam<ParseCase> {};

TEST_P(ParseErrorTest, RejectsWithReason) {
  SnpReportBuilder b;
  GetParam().mutate(b);
  absl::StatusOr<SnpReport> r = ParseReportUnverified(b.Build());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReportErrorReason(ReportErrorOf(r.status())),
            ReportErrorReason(GetParam().want))
      << r.status();
  EXPECT_NE(r.status().message().find("sev_snp: report:"),
            std::string_view::npos);
}

std::vector<ParseCase> ParseCases() {
  std::vector<ParseCase> cases = {
      {"empty", [](auto& b) { b.Truncate(0); }, ReportError::kTruncated},
      {"one_short", [](auto& b) { b.Truncate(kReportSize - 1); },
       ReportError::kTruncated},
      {"trailing", [](auto& b) { b.Append(Bytes{0}); },
       ReportError::kTrailingBytes},
      {"version_1", [](auto& b) { b.Version(1); },
       ReportError::kVersionUnsupported},
      {"version_6", [](auto& b) { b.Version(6); },
       ReportError::kVersionUnsupported},
      {"version_0", [](auto& b) { b.Version(0); },
       ReportError::kVersionUnsupported},
      {"sig_algo_2", [](auto& b) { b.SignatureAlgo(2); },
       ReportError::kSignatureAlgoUnsupported},
      {"sig_algo_0", [](auto& b) { b.SignatureAlgo(0); },
       ReportError::kSignatureAlgoUnsupported},
      {"signing_key_7", [](auto& b) { b.SigningKey(7); },
       ReportError::kUnsigned},
      {"signing_key_2", [](auto& b) { b.SigningKey(2); },
       ReportError::kSigningKeyInvalid},
      {"signing_key_6", [](auto& b) { b.SigningKey(6); },
       ReportError::kSigningKeyInvalid},
      {"signer_bit_5", [](auto& b) { b.SignerInfo(1u << 5); },
       ReportError::kReservedNonzero},
      {"signer_bit_31", [](auto& b) { b.SignerInfo(1u << 31); },
       ReportError::kReservedNonzero},
      {"policy_bit17_zero", [](auto& b) { b.Policy(0x10000); },
       ReportError::kPolicyInvalid},
      {"policy_bit26", [](auto& b) { b.Policy(0x30000 | (1ull << 26)); },
       ReportError::kPolicyInvalid},
      {"policy_bit63", [](auto& b) { b.Policy(0x30000 | (1ull << 63)); },
       ReportError::kPolicyInvalid},
      {"v2_cpuid_bytes", [](auto& b) { b.Version(2).PatchByte(0x188, 0x19); },
       ReportError::kReservedNonzero},
      {"v4_mit_vector", [](auto& b) { b.Version(4).PatchByte(0x1F8, 1); },
       ReportError::kReservedNonzero},
      {"v3_mit_vector_end", [](auto& b) { b.PatchByte(0x207, 1); },
       ReportError::kReservedNonzero},
  };
  for (size_t offset :
       {size_t{0x04C}, size_t{0x04F}, size_t{0x18B}, size_t{0x19F},
        size_t{0x1EB}, size_t{0x1EF}, size_t{0x208}, size_t{0x29F},
        size_t{0x330}, size_t{0x49F}}) {
    cases.push_back({absl::StrFormat("mbz_0x%03X", offset),
                     [offset](auto& b) { b.PatchByte(offset, 0x01); },
                     ReportError::kReservedNonzero});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(OneChange, ParseErrorTest,
                         ::testing::ValuesIn(ParseCases()),
                         [](const auto& p) { return p.param.name; });

TEST(ReportTest, AcceptsEveryVersionAndFieldRange) {
  for (uint32_t v : {2u, 3u, 4u, 5u}) {
    SnpReportBuilder b;
    b.Version(v)
        .Vmpl(3)
        .GuestSvn(0xFFFFFFFF)
        .SigningKey(kSigningKeyVlek)
        .AuthorKeyEn(true);
    b.MaskChipKey(true).PlatformInfo(~0ull).Policy(0x3FF0000 | 0x1F);
    if (v >= 5) b.LaunchMitVector(0x8000000000000001ull).CurrentMitVector(3);
    absl::StatusOr<SnpReport> r = ParseReportUnverified(b.Build());
    ASSERT_TRUE(r.ok()) << "v" << v << ": " << r.status();
    EXPECT_EQ(*r, b.fields());
    EXPECT_TRUE(r->author_key_en());
    EXPECT_TRUE(r->mask_chip_key());
  }
}

}  // namespace
}  // namespace rp::sev_snp
