// Collateral parsing: real TCB info / QE identity, byte-exact extraction of
// the signed text from PCS bodies, QVL JSON.
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "verifier/tdx/collateral.h"
#include "verifier/tdx/test_util.h"

namespace rp::tdx {
namespace {

TEST(TdxCollateral, RealTcbInfoAndQeIdentity) {
  const nlohmann::json c =
      nlohmann::json::parse(ToString(test::ReadTdxData("phala_uptodate/collateral.json")));
  absl::StatusOr<TcbInfo> t = ParseTcbInfo(c["tcb_info"].get<std::string>());
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->id, "TDX");
  EXPECT_EQ(t->version, 3);
  EXPECT_EQ(HexEncode(t->fmspc), "b0c06f000000");
  EXPECT_EQ(t->tcb_evaluation_data_number, 17);
  ASSERT_EQ(t->tdx_module_identities.size(), 2u);
  EXPECT_EQ(t->tdx_module_identities[1].id, "TDX_01");
  EXPECT_EQ(t->tcb_levels[0].status, TcbStatus::kUpToDate);
  EXPECT_EQ(t->tcb_levels[0].pcesvn, 11);
  absl::StatusOr<QeIdentity> q = ParseQeIdentity(c["qe_identity"].get<std::string>());
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->id, "TD_QE");
  EXPECT_EQ(q->isvprodid, 2);
  EXPECT_EQ(q->miscselect_mask, 0xffffffffu);
  EXPECT_EQ(q->tcb_levels[0].isvsvn, 4);
}

TEST(TdxCollateral, SignedTextIsCutByteExactly) {
  const std::string body = ToString(test::ReadTdxData("gotdx_spr_e4/pcs_tcb_info_response.json"));
  absl::StatusOr<SignedJson> s = ExtractSignedJson(body, "tcbInfo");
  ASSERT_TRUE(s.ok()) << s.status();
  // Same bytes as the tcb_info string assembled into collateral.json.
  const nlohmann::json c =
      nlohmann::json::parse(ToString(test::ReadTdxData("gotdx_spr_e4/collateral.json")));
  EXPECT_EQ(s->text, c["tcb_info"].get<std::string>());
  EXPECT_EQ(HexEncode(s->signature), c["tcb_info_signature"].get<std::string>());
  absl::StatusOr<SignedJson> qe = ExtractSignedJson(
      ToString(test::ReadTdxData("gotdx_spr_e4/pcs_qe_identity_response.json")), "enclaveIdentity");
  ASSERT_TRUE(qe.ok()) << qe.status();
  EXPECT_EQ(qe->text, c["qe_identity"].get<std::string>());
}

TEST(TdxCollateral, SignedTextExtractionRejectsAmbiguity) {
  const std::string sig(128, 'a');
  EXPECT_TRUE(ExtractSignedJson("{\"tcbInfo\": {\"a\":\"}\"} ,\"signature\":\"" + sig + "\"}", "tcbInfo").ok());
  EXPECT_EQ(ExtractSignedJson("{\"tcbInfo\": {\"a\":\"}\"} ,\"signature\":\"" + sig + "\"}", "tcbInfo")->text,
            "{\"a\":\"}\"}");
  EXPECT_FALSE(ExtractSignedJson("{\"tcbInfo\":{},\"tcbInfo\":{},\"signature\":\"" + sig + "\"}", "tcbInfo").ok());
  EXPECT_FALSE(ExtractSignedJson("{\"tcbInfo\":{}}", "tcbInfo").ok());
  EXPECT_FALSE(ExtractSignedJson("{\"tcbInfo\":{},\"signature\":\"00\"}", "tcbInfo").ok());
  EXPECT_FALSE(ExtractSignedJson("{\"tcbInfo\":{},\"signature\":\"" + sig + "\"} x", "tcbInfo").ok());
  EXPECT_FALSE(ExtractSignedJson("{\"tcbInfo\":[],\"signature\":\"" + sig + "\"}", "tcbInfo").ok());
  EXPECT_FALSE(ExtractSignedJson("", "tcbInfo").ok());
}

TEST(TdxCollateral, QvlJsonAndStatuses) {
  absl::StatusOr<QvlCollateral> c =
      ParseQvlCollateral(ToString(test::ReadTdxData("phala_uptodate/collateral.json")));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->tcb_info.empty());
  EXPECT_TRUE(DecodeCrlField(c->pck_crl).ok());
  EXPECT_FALSE(ParseQvlCollateral("{\"tcb_info\": 5}").ok());
  for (const char* s : {"UpToDate", "SWHardeningNeeded", "ConfigurationNeeded",
                        "ConfigurationAndSWHardeningNeeded", "OutOfDate",
                        "OutOfDateConfigurationNeeded", "Revoked"}) {
    ASSERT_TRUE(ParseTcbStatus(s).has_value()) << s;
    EXPECT_EQ(TcbStatusName(*ParseTcbStatus(s)), s);
  }
  EXPECT_FALSE(ParseTcbStatus("uptodate").has_value());
}

}  // namespace
}  // namespace rp::tdx
