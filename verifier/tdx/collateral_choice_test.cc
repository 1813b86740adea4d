// The "which copy" rules between the bundle's and the server's collateral
// (issue 10: the server's view wins).
#include "verifier/tdx/collateral_choice.h"

#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "verifier/crypto/crl.h"
#include "verifier/tdx/collateral.h"
#include "verifier/tdx/test_util.h"

namespace rp::tdx {
namespace {

const absl::Time kT = absl::FromUnixSeconds(1750000000);

Freshness Signed(int64_t tedn, absl::Time issued) {
  return Freshness{tedn, std::nullopt, issued};
}
Freshness Crl(std::optional<Bytes> number, absl::Time this_update) {
  return Freshness{std::nullopt, std::move(number), this_update};
}

TEST(CompareFreshness, EvaluationNumberDecidesBeforeIssueDate) {
  EXPECT_LT(CompareFreshness(Signed(17, kT + absl::Hours(48)), Signed(18, kT)),
            0);
  EXPECT_GT(CompareFreshness(Signed(18, kT), Signed(17, kT + absl::Hours(48))),
            0);
  EXPECT_LT(CompareFreshness(Signed(17, kT), Signed(17, kT + absl::Seconds(1))),
            0);
  EXPECT_EQ(CompareFreshness(Signed(17, kT), Signed(17, kT)), 0);
}

TEST(CompareFreshness, CrlNumberThenThisUpdate) {
  EXPECT_LT(CompareFreshness(Crl(Bytes{0x02}, kT + absl::Hours(1)),
                             Crl(Bytes{0x01, 0x00}, kT)),
            0);
  EXPECT_GT(CompareFreshness(Crl(Bytes{0x03}, kT),
                             Crl(Bytes{0x02}, kT + absl::Hours(1))),
            0);
  // Intel numbers every CRL 1: equal numbers fall through to thisUpdate.
  EXPECT_LT(CompareFreshness(Crl(Bytes{0x01}, kT),
                             Crl(Bytes{0x01}, kT + absl::Hours(1))),
            0);
  // Only one side numbered: thisUpdate decides.
  EXPECT_GT(CompareFreshness(Crl(Bytes{0x09}, kT),
                             Crl(std::nullopt, kT - absl::Hours(1))),
            0);
  EXPECT_LT(CompareFreshness(Crl(Bytes{0x09}, kT),
                             Crl(std::nullopt, kT + absl::Hours(1))),
            0);
}

TEST(ChooseCollateral, NothingAnywhere) {
  EXPECT_EQ(ChooseCollateral(CopyStatus::Absent(), CopyStatus::Absent()).chosen,
            Chosen::kNone);
}

TEST(ChooseCollateral, OnlyOneCopyIsUsedEvenUnverified) {
  // The caller then reports that copy's failure.
  Choice c = ChooseCollateral(CopyStatus::Unusable("bad signature"),
                              CopyStatus::Absent());
  EXPECT_EQ(c.chosen, Chosen::kBundle);
  EXPECT_TRUE(c.why.empty());
  c = ChooseCollateral(CopyStatus::Absent(), CopyStatus::Unusable("expired"));
  EXPECT_EQ(c.chosen, Chosen::kServer);
}

TEST(ChooseCollateral, UnverifiedBundleNeverHidesTheServerCopy) {
  Choice c = ChooseCollateral(CopyStatus::Unusable("no signature"),
                              CopyStatus::Verified(Signed(17, kT)));
  EXPECT_EQ(c.chosen, Chosen::kServer);
  EXPECT_NE(c.why.find("no signature"), std::string::npos) << c.why;
  // Even when the server's copy failed too: its failure is what counts.
  c = ChooseCollateral(CopyStatus::Unusable("garbage"),
                       CopyStatus::Unusable("expired"));
  EXPECT_EQ(c.chosen, Chosen::kServer);
}

TEST(ChooseCollateral, OlderBundleCopyLosesNewerOrEqualWins) {
  Choice c =
      ChooseCollateral(CopyStatus::Verified(Signed(16, kT + absl::Hours(24))),
                       CopyStatus::Verified(Signed(17, kT)));
  EXPECT_EQ(c.chosen, Chosen::kServer);
  EXPECT_NE(c.why.find("server's copy (tcbEvaluationDataNumber 17"),
            std::string::npos)
      << c.why;
  c = ChooseCollateral(CopyStatus::Verified(Signed(18, kT)),
                       CopyStatus::Verified(Signed(17, kT)));
  EXPECT_EQ(c.chosen, Chosen::kBundle);
  EXPECT_NE(c.why.find("newer than"), std::string::npos) << c.why;
  c = ChooseCollateral(CopyStatus::Verified(Signed(17, kT)),
                       CopyStatus::Verified(Signed(17, kT)));
  EXPECT_EQ(c.chosen, Chosen::kBundle);
  EXPECT_NE(c.why.find("as recent as"), std::string::npos) << c.why;
  // CRLs: an older thisUpdate loses.
  c = ChooseCollateral(
      CopyStatus::Verified(Crl(Bytes{1}, kT - absl::Hours(24))),
      CopyStatus::Verified(Crl(Bytes{1}, kT)));
  EXPECT_EQ(c.chosen, Chosen::kServer);
}

TEST(ChooseCollateral, VerifiedBundleReplacesABrokenServerCopy) {
  Choice c = ChooseCollateral(CopyStatus::Verified(Signed(17, kT)),
                              CopyStatus::Unusable("expired"));
  EXPECT_EQ(c.chosen, Chosen::kBundle);
  EXPECT_NE(c.why.find("expired"), std::string::npos) << c.why;
}

TEST(CrlNumber, ReadsIntelsRootCaCrlNumber) {
  const nlohmann::json c = nlohmann::json::parse(
      ToString(test::ReadTdxData("phala_uptodate/collateral.json")));
  absl::StatusOr<Bytes> der =
      DecodeCrlField(c["root_ca_crl"].get<std::string>());
  ASSERT_TRUE(der.ok());
  auto crl = crypto::ParseCrl(*der);
  ASSERT_TRUE(crl.ok()) << crl.status();
  EXPECT_EQ(CrlNumber(crl->get()), std::optional<Bytes>(Bytes{0x01}));
  EXPECT_EQ(CrlNumber(nullptr), std::nullopt);
  EXPECT_EQ(DescribeFreshness(Crl(Bytes{0x01}, absl::FromUnixSeconds(0))),
            "CRL number 1, thisUpdate 1970-01-01T00:00:00Z");
}

}  // namespace
}  // namespace rp::tdx
