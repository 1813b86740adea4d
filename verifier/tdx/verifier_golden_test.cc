// Golden tests over every real quote in tests/data/tdx at the time
// PROVENANCE.md gives, with Intel-signed collateral. Expected values were
// extracted independently of this code (python struct slicing at the
// documented offsets; FMSPCs from PROVENANCE.md).
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "verifier/crypto/x509.h"
#include "verifier/tdx/checks.h"
#include "verifier/tdx/collateral.h"
#include "verifier/tdx/pck_extensions.h"
#include "verifier/tdx/quote.h"
#include "verifier/tdx/roots.h"
#include "verifier/tdx/tcb.h"
#include "verifier/tdx/test_util.h"
#include "verifier/tdx/verifier.h"

namespace rp::tdx {
namespace {

using core::CheckStatus;
using core::DeviceResult;

const std::vector<std::string> kCheckOrder = {
    kCheckQuoteFormat,        kCheckPckChain,      kCheckPckRevocation,
    kCheckPckExtensions,      kCheckQeReportSignature, kCheckQeReportData,
    kCheckQuoteSignature,     kCheckQeIdentityCollateral, kCheckQeIdentity,
    kCheckTcbInfoCollateral,  kCheckTcbSigningRevocation, kCheckTcbInfoMatch, kCheckTdxModule,
    kCheckTcbLevel,           kCheckTcbStatus};

const core::Check* FindCheck(const DeviceResult& d, std::string_view name) {
  for (const auto& c : d.checks) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

std::string Describe(const DeviceResult& d) {
  std::string out;
  for (const auto& c : d.checks) {
    out += "  " + c.name + " " + std::string(core::CheckStatusName(c.status)) + " " + c.reason +
           ": " + c.detail + "\n";
  }
  return out;
}

std::vector<std::string> Names(const DeviceResult& d) {
  std::vector<std::string> n;
  for (const auto& c : d.checks) n.push_back(c.name);
  return n;
}

class TdxGoldenTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto v = TdxVerifier::Create(TdxTrustConfig::Default());
    ASSERT_TRUE(v.ok()) << v.status();
    verifier_ = v->release();
  }
  static void TearDownTestSuite() {
    delete verifier_;
    verifier_ = nullptr;
  }

  // Bundle with the folder's collateral.json as the bundle's TdxCollateral.
  static attestation::v1::EvidenceBundle BundleWithQvl(const std::string& folder) {
    attestation::v1::EvidenceBundle b;
    b.mutable_tdx()->set_quote(ToString(test::ReadTdxData(folder + "/quote.bin")));
    const nlohmann::json c =
        nlohmann::json::parse(ToString(test::ReadTdxData(folder + "/collateral.json")));
    auto* col = b.mutable_tdx()->mutable_collateral();
    col->set_pck_crl_issuer_chain(c["pck_crl_issuer_chain"]);
    col->set_root_ca_crl(c["root_ca_crl"]);
    col->set_pck_crl(c["pck_crl"]);
    col->set_tcb_info_issuer_chain(c["tcb_info_issuer_chain"]);
    col->set_tcb_info(c["tcb_info"]);
    col->set_tcb_info_signature(c["tcb_info_signature"]);
    col->set_qe_identity_issuer_chain(c["qe_identity_issuer_chain"]);
    col->set_qe_identity(c["qe_identity"]);
    col->set_qe_identity_signature(c["qe_identity_signature"]);
    return b;
  }

  static DeviceResult Run(const attestation::v1::EvidenceBundle& b, absl::Time at,
                          const collateral::CollateralSource& source) {
    core::VerifyContext ctx{at, &source, std::nullopt};
    auto r = verifier_->Verify(b, ctx);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok() || r->size() != 1) return DeviceResult{};
    return (*r)[0];
  }

  static void ExpectStatus(const DeviceResult& d, const std::string& name, CheckStatus s,
                           const std::string& reason) {
    const core::Check* c = FindCheck(d, name);
    ASSERT_NE(c, nullptr) << name << "\n" << Describe(d);
    EXPECT_EQ(c->status, s) << name << "\n" << Describe(d);
    EXPECT_EQ(c->reason, reason) << name << "\n" << Describe(d);
  }

  static TdxVerifier* verifier_;
};

TdxVerifier* TdxGoldenTest::verifier_ = nullptr;

TEST_F(TdxGoldenTest, PinnedRootMatchesItsSpkiPin) {
  auto certs = crypto::ParsePemCertificates(IntelSgxRootCaPem(), 1);
  ASSERT_TRUE(certs.ok()) << certs.status();
  const Bytes spki = crypto::SpkiSha256(certs->front().get());
  const auto pin = IntelSgxRootCaSpkiSha256();
  EXPECT_EQ(spki, Bytes(pin.begin(), pin.end()));
  EXPECT_EQ(crypto::SubjectCommonName(certs->front().get()), "Intel SGX Root CA");
  // A different root is refused by Default-style configs.
  TdxTrustConfig bad;
  bad.intel_root_pems = {crypto::CertificatePem(certs->front().get())};
  EXPECT_TRUE(TdxVerifier::Create(bad).ok());
  bad.intel_root_pems = {"not a pem"};
  EXPECT_FALSE(TdxVerifier::Create(bad).ok());
}

TEST_F(TdxGoldenTest, NoTdxEvidenceGivesNoResult) {
  test::MapSource none;
  core::VerifyContext ctx{test::At("2025-07-01T00:00:00Z"), &none, std::nullopt};
  auto r = verifier_->Verify(attestation::v1::EvidenceBundle(), ctx);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}

// phala_uptodate: v4, FMSPC B0C06F000000, at 2025-07-01 -> UpToDate, no
// advisories (PROVENANCE.md; @phala/dcap-qvl agrees).
TEST_F(TdxGoldenTest, PhalaUpToDateFromBundleCollateral) {
  test::MapSource none;
  const DeviceResult d =
      Run(BundleWithQvl("phala_uptodate"), test::At("2025-07-01T00:00:00Z"), none);
  EXPECT_EQ(Names(d), kCheckOrder) << Describe(d);
  for (const auto& c : d.checks) {
    EXPECT_EQ(c.status, CheckStatus::kPass) << c.name << ": " << c.reason << " " << c.detail;
  }
  EXPECT_FALSE(d.HasFailure());
  EXPECT_EQ(d.tee, "tdx");
  EXPECT_FALSE(d.simulated);
  EXPECT_TRUE(d.evidence_authentic);
  const nlohmann::json& c = d.claims;
  EXPECT_EQ(c["quote_version"], 4);
  EXPECT_EQ(c["tcb_status"], "UpToDate");
  EXPECT_EQ(c["advisory_ids"], nlohmann::json::array());
  EXPECT_EQ(c["qe_tcb_status"], "UpToDate");
  EXPECT_EQ(c["tcb_date"], "2024-03-13T00:00:00Z");
  EXPECT_EQ(c["tcb_evaluation_data_number"], 17);
  EXPECT_EQ(c["fmspc"], "b0c06f000000");
  EXPECT_EQ(c["pce_id"], "0000");
  EXPECT_EQ(c["tee_tcb_svn"], "06010300000000000000000000000000");
  EXPECT_EQ(c["mrtd"],
            "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f2742"
            "8b2538873118b7");
  EXPECT_EQ(c["rtmr"][0],
            "44c0197b39157fdd7a4dcc44767f9d6b0bb3977c7a8e347b8492f827fe9d9e5c48aca29b220b80b6a5"
            "40cf994b9bc9c0");
  EXPECT_EQ(c["rtmr"][1],
            "0084452c01668329d4bc06acdf58a7205c26743304509973949e5619bf81a6a7aea8c323c173019b30"
            "93d54e579e9378");
  EXPECT_EQ(c["rtmr"][2],
            "d833feef2cd945148aa38ead2c53e9b7f138190aaaebfc551dccd829fc207aa3ba80b70870d7330733"
            "642e01d48c3132");
  EXPECT_EQ(c["rtmr"][3], std::string(96, '0'));
  const std::string rd =
      "9a9d48e7f6799642d3d1b34e1e5e1742d4bb02dd6ddd551862c1211d35c304f9eca3efdbb481601c163cf52493"
      "d6e44aed55d51ec39b7e518fadb92c2b523f20";
  EXPECT_EQ(c["report_data"], rd);
  ASSERT_TRUE(d.report_data.has_value());
  EXPECT_EQ(HexEncode(*d.report_data), rd);
  EXPECT_EQ(c["td_attributes"]["raw"], "0000001000000000");
  EXPECT_EQ(c["td_attributes"]["debug"], false);
  EXPECT_EQ(c["td_attributes"]["sept_ve_disable"], true);
  EXPECT_EQ(c["td_attributes"]["pks"], false);
  EXPECT_EQ(c["xfam"], "e702060000000000");
  EXPECT_EQ(c["mrsignerseam"], std::string(96, '0'));
}

// The same evidence with the collateral from the offline directory's QVL
// JSON (intel/collateral/<fmspc>.json) instead of the bundle.
TEST_F(TdxGoldenTest, PhalaUpToDateFromOfflineQvlJson) {
  attestation::v1::EvidenceBundle b;
  b.mutable_tdx()->set_quote(ToString(test::ReadTdxData("phala_uptodate/quote.bin")));
  test::MapSource source;
  source.Put(QvlCollateralKey("b0c06f000000"), test::ReadTdxData("phala_uptodate/collateral.json"));
  const DeviceResult d = Run(b, test::At("2025-07-01T00:00:00Z"), source);
  EXPECT_FALSE(d.HasFailure()) << Describe(d);
  EXPECT_EQ(d.claims["tcb_status"], "UpToDate");
  const core::Check* tcb = FindCheck(d, kCheckTcbInfoCollateral);
  ASSERT_NE(tcb, nullptr);
  EXPECT_NE(tcb->detail.find("intel/collateral/b0c06f000000.json"), std::string::npos) << tcb->detail;
}

// Issue 10: a bundle whose qe_identity is garbage (unsigned JSON, no
// signature) while the server holds the real collateral (offline QVL JSON)
// gets the same verdict as the intact bundle: the bundle item never hides
// the server's copy. Likewise a truncated signature on the real text.
TEST_F(TdxGoldenTest, PhalaUpToDateGarbageBundleQeIdentityUsesTheServerCopy) {
  test::MapSource source;
  source.Put(QvlCollateralKey("b0c06f000000"), test::ReadTdxData("phala_uptodate/collateral.json"));
  const absl::Time at = test::At("2025-07-01T00:00:00Z");
  const DeviceResult intact = Run(BundleWithQvl("phala_uptodate"), at, source);
  for (int variant = 0; variant < 2; ++variant) {
    attestation::v1::EvidenceBundle b = BundleWithQvl("phala_uptodate");
    auto* col = b.mutable_tdx()->mutable_collateral();
    if (variant == 0) {
      col->set_qe_identity("{\"id\":\"TD_QE\",\"version\":2,\"tcbLevels\":[]}");
      col->clear_qe_identity_signature();
    } else {
      col->set_qe_identity_signature(col->qe_identity_signature().substr(0, 64));
    }
    const DeviceResult d = Run(b, at, source);
    EXPECT_EQ(Names(d), kCheckOrder) << Describe(d);
    ASSERT_EQ(d.checks.size(), intact.checks.size());
    for (size_t i = 0; i < d.checks.size(); ++i) {
      EXPECT_EQ(d.checks[i].status, intact.checks[i].status) << d.checks[i].name << "\n" << Describe(d);
      EXPECT_EQ(d.checks[i].reason, intact.checks[i].reason) << d.checks[i].name;
      EXPECT_EQ(d.checks[i].status, CheckStatus::kPass) << d.checks[i].name;
    }
    EXPECT_EQ(d.claims, intact.claims);
    EXPECT_EQ(d.claims["tcb_status"], "UpToDate");
    EXPECT_EQ(d.evidence_authentic, intact.evidence_authentic);
    const core::Check* qe = FindCheck(d, kCheckQeIdentityCollateral);
    EXPECT_NE(qe->detail.find("collateral intel/collateral/b0c06f000000.json (qe_identity)"),
              std::string::npos)
        << qe->detail;
  }
}

TEST_F(TdxGoldenTest, PhalaUpToDateOutsideTheCollateralWindow) {
  test::MapSource none;
  // 2025-08-01: TCB info (nextUpdate 2025-07-19) and PCK CRL have expired.
  const DeviceResult d =
      Run(BundleWithQvl("phala_uptodate"), test::At("2025-08-01T00:00:00Z"), none);
  ExpectStatus(d, kCheckTcbInfoCollateral, CheckStatus::kFail, reason::kTcbInfoExpired);
  ExpectStatus(d, kCheckPckRevocation, CheckStatus::kFail, reason::kCrlNotCurrent);
  EXPECT_FALSE(d.claims.contains("tcb_status"));
  EXPECT_FALSE(d.report_data.has_value());
  EXPECT_FALSE(d.evidence_authentic);
}

// phala_no_tcb_level: v5 (TD 1.5 body), FMSPC 90C06F000000, at 2026-03-01:
// the platform's TCB is below every listed level -> rejected.
TEST_F(TdxGoldenTest, PhalaNoTcbLevelIsRejected) {
  test::MapSource none;
  const DeviceResult d =
      Run(BundleWithQvl("phala_no_tcb_level"), test::At("2026-03-01T00:00:00Z"), none);
  EXPECT_EQ(Names(d), kCheckOrder) << Describe(d);
  ExpectStatus(d, kCheckTcbLevel, CheckStatus::kFail, reason::kTcbLevelNotFound);
  ExpectStatus(d, kCheckTcbStatus, CheckStatus::kNotChecked, reason::kPrerequisiteFailed);
  for (const char* name : {kCheckQuoteFormat, kCheckPckChain, kCheckPckRevocation,
                           kCheckQeReportSignature, kCheckQeReportData, kCheckQuoteSignature,
                           kCheckQeIdentityCollateral, kCheckTcbInfoCollateral,
                           kCheckTcbSigningRevocation, kCheckTcbInfoMatch}) {
    ExpectStatus(d, name, CheckStatus::kPass, reason::kOk);
  }
  EXPECT_TRUE(d.HasFailure());
  EXPECT_FALSE(d.claims.contains("tcb_status"));
  EXPECT_EQ(d.claims["quote_version"], 5);
  EXPECT_EQ(d.claims["fmspc"], "90c06f000000");
  EXPECT_EQ(d.claims["mrtd"],
            "273828c46252fcbdd8ad2dd907130222b03466d52a2911d70c1a5950895d6bd1ae451d382d5a9b1b4c0ed0"
            "e5ae9a3dbd");
  EXPECT_EQ(d.claims["report_data"],
            "d2142b643598eb5fae2bc8529dd79a558b29f868ccbb6531cb28dab9dce47728" + std::string(64, '0'));
  EXPECT_TRUE(d.claims.contains("mrservicetd"));
}

// gotdx_spr_e4 as stored: go-tdx-guest appended "\nextra bytes(only for
// testing purpose)\n" after the signature data. Non-zero bytes after the
// quote are not part of any signed structure: rejected.
TEST_F(TdxGoldenTest, GoTdxSprE4WithAppendedTestBytesIsRejected) {
  const Bytes quote = test::ReadTdxData("gotdx_spr_e4/quote.bin");
  ASSERT_EQ(quote.size(), 4974u);
  absl::StatusOr<TdxQuote> q = ParseQuoteUnverified(quote);
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(QuoteErrorOf(q.status()), QuoteError::kTrailingBytes) << q.status();
  attestation::v1::EvidenceBundle b = BundleWithQvl("gotdx_spr_e4");
  test::MapSource none;
  const DeviceResult d = Run(b, test::At("2023-06-25T00:00:00Z"), none);
  ASSERT_EQ(d.checks.size(), 1u) << Describe(d);
  ExpectStatus(d, kCheckQuoteFormat, CheckStatus::kFail, "QUOTE_TRAILING_BYTES");
}

// The offline collateral of gotdx_spr_e4 in the directory layout: PCS
// bodies (signed text cut out byte-exactly), DER CRLs, issuer chains.
test::MapSource SprE4Offline() {
  test::MapSource s;
  const nlohmann::json c =
      nlohmann::json::parse(ToString(test::ReadTdxData("gotdx_spr_e4/collateral.json")));
  s.Put(TcbInfoKey("50806f000000"), test::ReadTdxData("gotdx_spr_e4/pcs_tcb_info_response.json"));
  const std::string tcb_chain = c["tcb_info_issuer_chain"];
  s.Put(TcbInfoIssuerChainKey("50806f000000"), Bytes(tcb_chain.begin(), tcb_chain.end()));
  const std::string qe_chain = c["qe_identity_issuer_chain"];
  s.Put(QeIdentityKey(), test::ReadTdxData("gotdx_spr_e4/pcs_qe_identity_response.json"));
  s.Put(QeIdentityIssuerChainKey(), Bytes(qe_chain.begin(), qe_chain.end()));
  s.Put(PckCrlKey("platform"), test::ReadTdxData("gotdx_spr_e4/pck_crl_platform.der"));
  s.Put(RootCaCrlKey(), test::ReadTdxData("gotdx_spr_e4/root_ca.crl.der"));
  return s;
}

// gotdx_spr_e4 without go-tdx-guest's appended test bytes (the signature
// data ends at 48 + 584 + 4 + 4299 = 4935), at 2023-06-25.
//
// The two second opinions disagree (@phala/dcap-qvl: no matching TCB
// level; go-tdx-guest's tests: passes). Intel's rule (QVL, TCB info v3):
// a level matches when every sgxtcbcomponent <= the PCK cert's SGX TCB
// components, pcesvn <= the cert's PCESVN, and every tdxtcbcomponent <=
// TEE_TCB_SVN, compared from index 2 only when TEE_TCB_SVN[1] > 0 (then
// indices 0-1 are the module SVN / major version, judged by the
// tdxModuleIdentities entry). Here TEE_TCB_SVN = 03 00 04 ..: [1] == 0,
// so all 16 are compared, and TEE_TCB_SVN[2] = 4 < 5 required by both
// levels. The PCK cert's SGX TCB components (03 03 02 02 02 01 00 02 ..)
// are also below both levels' (05 05 02 02 03 01 00 03 ..), PCESVN 11.
// (The QE report's CPUSVN is not an input.) No level matches -> TCB_LEVEL_NOT_FOUND; we side with
// @phala/dcap-qvl (and Intel's rule).
TEST_F(TdxGoldenTest, GoTdxSprE4HasNoMatchingTcbLevelByIntelsRule) {
  Bytes quote = test::ReadTdxData("gotdx_spr_e4/quote.bin");
  quote.resize(4935);
  absl::StatusOr<TdxQuote> q = ParseQuoteUnverified(quote);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(HexEncode(q->body.tee_tcb_svn), "03000400000000000000000000000000");

  attestation::v1::EvidenceBundle b;
  b.mutable_tdx()->set_quote(ToString(quote));
  const test::MapSource source = SprE4Offline();
  const DeviceResult d = Run(b, test::At("2023-06-25T00:00:00Z"), source);
  EXPECT_EQ(Names(d), kCheckOrder) << Describe(d);
  for (const char* name : {kCheckQuoteFormat, kCheckPckChain, kCheckPckRevocation,
                           kCheckPckExtensions, kCheckQeReportSignature, kCheckQeReportData,
                           kCheckQuoteSignature, kCheckQeIdentityCollateral, kCheckQeIdentity,
                           kCheckTcbInfoCollateral, kCheckTcbSigningRevocation,
                           kCheckTcbInfoMatch, kCheckTdxModule}) {
    ExpectStatus(d, name, CheckStatus::kPass, reason::kOk);
  }
  ExpectStatus(d, kCheckTcbLevel, CheckStatus::kFail, reason::kTcbLevelNotFound);
  EXPECT_EQ(d.claims["fmspc"], "50806f000000");
  EXPECT_EQ(d.claims["td_attributes"]["pks"], true);
  EXPECT_EQ(d.claims["td_attributes"]["raw"], "0000004000000000");
  EXPECT_EQ(d.claims["mrtd"],
            "6363b8043668a3ad953278e10389574d326c6749fb78aa810ecd9336923db86f22fc00b8dcd404bc10d5e1"
            "19d7215cbb");

  // The rule itself, on the parsed inputs: with TEE_TCB_SVN[2] raised to 5
  // the TDX components would match, but the SGX components still do not.
  const nlohmann::json body = nlohmann::json::parse(
      ToString(test::ReadTdxData("gotdx_spr_e4/pcs_tcb_info_response.json")));
  absl::StatusOr<TcbInfo> info = ParseTcbInfo(body["tcbInfo"].dump());
  ASSERT_TRUE(info.ok()) << info.status();
  auto certs = crypto::ParsePemCertificates(q->pck_chain_pem, 3);
  ASSERT_TRUE(certs.ok());
  absl::StatusOr<PckExtensions> ext = ParsePckExtensions(certs->front().get());
  ASSERT_TRUE(ext.ok()) << ext.status();
  EXPECT_EQ(TdxComponentStart(*info, q->body.tee_tcb_svn), 0u);
  EXPECT_FALSE(SelectTcbLevel(*info, *ext, q->body.tee_tcb_svn).has_value());
  std::array<uint8_t, 16> svn = q->body.tee_tcb_svn;
  svn[2] = 5;
  EXPECT_FALSE(SelectTcbLevel(*info, *ext, svn).has_value());
  PckExtensions raised = *ext;
  EXPECT_EQ(HexEncode(ext->cpusvn_components), "03030202020100020000000000000000");
  EXPECT_EQ(ext->pcesvn, 11);
  raised.cpusvn_components = info->tcb_levels[0].sgx_components;
  EXPECT_FALSE(SelectTcbLevel(*info, raised, q->body.tee_tcb_svn).has_value());
  EXPECT_EQ(SelectTcbLevel(*info, raised, svn), std::optional<size_t>(0));
}

// gotdx_v5: quote v5 (TD 1.5 body), at 2026-02-15 with the TCB info of that
// era (PCS body in the offline layout; issuer chain and root CA CRL from
// the phala_no_tcb_level collateral, the same Intel certificates). No PCK
// CRL and no QE identity of that era exist: PCK revocation is not-checked,
// the missing QE identity FAILS (fail closed, issue 10) and with it the
// combined TCB status (incomplete without the QE's status).
TEST_F(TdxGoldenTest, GoTdxV5ParsesAndVerifiesWithoutQeIdentity) {
  attestation::v1::EvidenceBundle b;
  b.mutable_tdx()->set_quote(ToString(test::ReadTdxData("gotdx_v5/quote.bin")));
  test::MapSource s;
  const nlohmann::json c =
      nlohmann::json::parse(ToString(test::ReadTdxData("phala_no_tcb_level/collateral.json")));
  const std::string chain = c["tcb_info_issuer_chain"];
  s.Put(TcbInfoKey("90c06f000000"), test::ReadTdxData("gotdx_v5/pcs_tcb_info_response.json"));
  s.Put(TcbInfoIssuerChainKey("90c06f000000"), Bytes(chain.begin(), chain.end()));
  const Bytes root_crl = *HexDecode(c["root_ca_crl"].get<std::string>());
  s.Put(RootCaCrlKey(), root_crl);
  const DeviceResult d = Run(b, test::At("2026-02-15T00:00:00Z"), s);
  EXPECT_EQ(Names(d), kCheckOrder) << Describe(d);
  for (const char* name : {kCheckQuoteFormat, kCheckPckChain, kCheckPckExtensions,
                           kCheckQeReportSignature, kCheckQeReportData, kCheckQuoteSignature,
                           kCheckTcbInfoCollateral, kCheckTcbSigningRevocation,
                           kCheckTcbInfoMatch, kCheckTdxModule, kCheckTcbLevel}) {
    ExpectStatus(d, name, CheckStatus::kPass, reason::kOk);
  }
  ExpectStatus(d, kCheckPckRevocation, CheckStatus::kNotChecked, reason::kCollateralMissing);
  ExpectStatus(d, kCheckQeIdentityCollateral, CheckStatus::kFail, reason::kQeIdentityMissing);
  ExpectStatus(d, kCheckQeIdentity, CheckStatus::kNotChecked, reason::kPrerequisiteFailed);
  ExpectStatus(d, kCheckTcbStatus, CheckStatus::kFail, reason::kTcbStatusIncomplete);
  EXPECT_TRUE(d.HasFailure());
  EXPECT_FALSE(d.claims.contains("tcb_status"));
  EXPECT_EQ(d.claims["platform_tcb_status"], "UpToDate");
  EXPECT_EQ(d.claims["quote_version"], 5);
  EXPECT_EQ(d.claims["tee_tcb_svn"], "0b010400000000000000000000000000");
  EXPECT_EQ(d.claims["mrtd"],
            "7348651a34b2d2d3462822e3a750ec6110125f36757c78480bbfc69cc0d21fb001a1ced3ee19747dda8f75"
            "0c3bc8f876");
  EXPECT_EQ(d.claims["rtmr"][0],
            "5c8daf76063a71ac8fcef4067564661fc682ed7944c7a5d21dbbced02f61ceff4ba0678c6aef3bdae8cbc6"
            "14cec24619");
  EXPECT_EQ(d.claims["report_data"],
            "945eaacf5abc1f719d8666a942fda03d1edcb4490277396093dc5a5289ab9f1e094aed63060cd4a4933a4d"
            "d537ed1255c9c79ecb3ed82cd1b486233e31c25c3a");
  EXPECT_EQ(d.claims["fmspc"], "90c06f000000");
  // Signatures and the PCK chain verified: the binding may use REPORTDATA.
  EXPECT_TRUE(d.report_data.has_value());
  EXPECT_TRUE(d.evidence_authentic);
}

}  // namespace
}  // namespace rp::tdx
