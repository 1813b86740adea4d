// Replays the fuzz corpus and ~2000 seeded mutations of real reports through
// the fuzz target's invariants, so CI checks them without clang/libFuzzer.
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/fuzz/snp_report_fuzzer.h"
#include "verifier/sev_snp/layout.h"
#include "verifier/sev_snp/report.h"
#include "verifier/sev_snp/test_util.h"

namespace rp::sev_snp {
namespace {

std::vector<std::filesystem::path> CorpusFiles() {
  std::vector<std::filesystem::path> files;
  const std::filesystem::path dir = std::filesystem::path(RP_SOURCE_DIR) /
                                    "tests/fuzz/snp_report_fuzzer_corpus";
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST(SnpReportCorpusTest, EverySeedParsesAndKeepsTheInvariants) {
  const std::vector<std::filesystem::path> files = CorpusFiles();
  ASSERT_GE(files.size(), 14u);
  for (const auto& f : files) {
    const Bytes data = test::ReadFileBytes(f.string());
    EXPECT_EQ(fuzz::CheckParseInvariants(data), "") << f;
    EXPECT_TRUE(ParseReportUnverified(data).ok()) << f << " is a real report";
  }
}

TEST(SnpReportCorpusTest, EdgeInputsKeepTheInvariants) {
  EXPECT_EQ(fuzz::CheckParseInvariants({}), "");
  EXPECT_EQ(fuzz::CheckParseInvariants(Bytes(kReportSize, 0)), "");
  EXPECT_EQ(fuzz::CheckParseInvariants(Bytes(kReportSize, 0xFF)), "");
  EXPECT_EQ(fuzz::CheckParseInvariants(Bytes(kReportSize + 1, 0)), "");
  EXPECT_EQ(fuzz::CheckParseInvariants(Bytes(1 << 16, 0x41)), "");
}

// Fixed-seed mutations: bit flips, byte sets, truncation, extension and
// field-sized overwrites of real reports. Deterministic, so a failure is
// reproducible from the iteration number.
TEST(SnpReportCorpusTest, SeededMutationsKeepTheInvariants) {
  const std::vector<std::filesystem::path> files = CorpusFiles();
  ASSERT_FALSE(files.empty());
  std::vector<Bytes> seeds;
  for (const auto& f : files) seeds.push_back(test::ReadFileBytes(f.string()));

  std::mt19937_64 rng(20250901);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  size_t parsed = 0;
  size_t rejected = 0;
  constexpr int kIterations = 2000;
  for (int i = 0; i < kIterations; ++i) {
    Bytes data = seeds[pick(seeds.size())];
    const int mutations = 1 + static_cast<int>(pick(3));
    for (int m = 0; m < mutations; ++m) {
      switch (pick(6)) {
        case 0:  // flip one bit
          if (!data.empty())
            data[pick(data.size())] ^= static_cast<uint8_t>(1u << pick(8));
          break;
        case 1:  // set one byte
          if (!data.empty())
            data[pick(data.size())] = static_cast<uint8_t>(rng());
          break;
        case 2:  // truncate
          data.resize(pick(data.size() + 1));
          break;
        case 3:  // append
          data.insert(data.end(), 1 + pick(32), static_cast<uint8_t>(rng()));
          break;
        case 4: {  // overwrite a field with random bytes
          const FieldLayout& f = kReportFields[pick(std::size(kReportFields))];
          for (size_t k = 0; k < f.size && f.offset + k < data.size(); ++k) {
            data[f.offset + k] = static_cast<uint8_t>(rng());
          }
          break;
        }
        case 5: {  // small change in a header field that selects behaviour
          const size_t offsets[] = {kVersionOffset,    kSignatureAlgoOffset,
                                    kSignerInfoOffset, kPolicyOffset + 2,
                                    kCpuidFamIdOffset, kCpuidModIdOffset};
          const size_t off = offsets[pick(std::size(offsets))];
          if (off < data.size()) data[off] = static_cast<uint8_t>(pick(8));
          break;
        }
      }
    }
    const std::string why = fuzz::CheckParseInvariants(data);
    ASSERT_EQ(why, "") << "iteration " << i;
    (ParseReportUnverified(data).ok() ? parsed : rejected)++;
  }
  // Both outcomes are exercised.
  EXPECT_GT(parsed, 100u);
  EXPECT_GT(rejected, 100u);
}

}  // namespace
}  // namespace rp::sev_snp
