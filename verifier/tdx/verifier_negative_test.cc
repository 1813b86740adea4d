// One-change negative tests (STYLE §15): valid evidence from the quote
// builder under a test PCK hierarchy (TdxTrustConfig::ForTest puts its root
// where the pinned Intel root sits, so the production path runs), one
// change per row, ONE stable reason on ONE named check.
#include <algorithm>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/cert_factory.h"
#include "tests/testing/tdx_quote_builder.h"
#include "verifier/crypto/digest.h"
#include "verifier/crypto/x509.h"
#include "verifier/tdx/checks.h"
#include "verifier/tdx/test_util.h"
#include "verifier/tdx/verifier.h"

namespace rp::tdx {
namespace {

using core::CheckStatus;
using core::DeviceResult;
using rp::testing::Issued;
using rp::testing::PckExtensionSpec;
using rp::testing::TdxQuoteBuilder;
using rp::testing::TdxTestPki;

const absl::Time kAt = absl::FromUnixSeconds(1736899200);  // 2025-01-15T00:00:00Z

template <typename T>
T& OrDie(absl::StatusOr<T>& v, const char* what) {
  if (!v.ok()) {
    std::cerr << what << ": " << v.status() << "\n";
    std::abort();
  }
  return *v;
}

const TdxTestPki& Pki() {
  static auto* pki = new absl::StatusOr<TdxTestPki>(testing::MakeTdxTestPki());
  return OrDie(*pki, "MakeTdxTestPki");
}
// Same names, different keys: not trusted.
const TdxTestPki& OtherPki() {
  static auto* pki = new absl::StatusOr<TdxTestPki>(testing::MakeTdxTestPki());
  return OrDie(*pki, "MakeTdxTestPki(other)");
}
const EVP_PKEY* AttestationKey() {
  static auto* key = new absl::StatusOr<crypto::OpensslPtr<EVP_PKEY>>(
      testing::MakeKey(testing::KeyType::kEcP256));
  return OrDie(*key, "attestation key").get();
}
const TdxVerifier& Verifier() {
  static auto* v = new absl::StatusOr<std::unique_ptr<TdxVerifier>>(
      TdxVerifier::Create(TdxTrustConfig::ForTest({Pki().root_pem})));
  return *OrDie(*v, "TdxVerifier::Create");
}

struct Scenario {
  TdxQuoteBuilder quote;
  PckExtensionSpec ext;
  testing::CertSpec leaf_spec;
  const TdxTestPki* leaf_pki = nullptr;  // issuer of the PCK leaf (default Pki())
  nlohmann::json tcb_info = testing::DefaultTcbInfo(kAt);
  nlohmann::json qe_identity = testing::DefaultQeIdentity(kAt);
  testing::TdxCollateralSpec crls;
  absl::Time at = kAt;
  bool sign_qe_report_with_other_key = false;
  std::function<void(Bytes&)> after_build;
  std::function<void(attestation::v1::TdxCollateral&)> edit_collateral;
  std::function<void(std::string&)> edit_chain;
};

struct Built {
  attestation::v1::EvidenceBundle bundle;
  Bytes leaf_serial;
};

Built Build(Scenario& s) {
  const TdxTestPki& pki = s.leaf_pki ? *s.leaf_pki : Pki();
  if (s.leaf_spec.serial == Bytes{0x01}) s.leaf_spec.serial = {0x3c, 0x16, 0xed};
  absl::StatusOr<Issued> leaf = testing::MakePckLeaf(pki, s.ext, s.leaf_spec);
  OrDie(leaf, "MakePckLeaf");
  s.quote.pck_chain_pem =
      testing::PckChainPem(leaf->cert.get(), pki.pck_ca.cert.get(), pki.root.cert.get());
  if (s.edit_chain) s.edit_chain(s.quote.pck_chain_pem);
  absl::StatusOr<crypto::OpensslPtr<EVP_PKEY>> other = testing::MakeKey(testing::KeyType::kEcP256);
  absl::StatusOr<Bytes> q = s.quote.Build(
      AttestationKey(), s.sign_qe_report_with_other_key ? OrDie(other, "key").get() : leaf->key.get());
  OrDie(q, "TdxQuoteBuilder::Build");
  if (s.after_build) s.after_build(*q);
  s.crls.tcb_info = s.tcb_info;
  s.crls.qe_identity = s.qe_identity;
  absl::StatusOr<attestation::v1::TdxCollateral> col = testing::MakeTdxCollateral(Pki(), s.crls);
  OrDie(col, "MakeTdxCollateral");
  if (s.edit_collateral) s.edit_collateral(*col);
  Built b;
  b.bundle.mutable_tdx()->set_quote(ToString(*q));
  *b.bundle.mutable_tdx()->mutable_collateral() = *col;
  b.leaf_serial = s.leaf_spec.serial;
  return b;
}

DeviceResult RunScenario(Scenario& s, const collateral::CollateralSource* source = nullptr,
                 absl::Duration grace = absl::ZeroDuration(), const TdxVerifier* v = nullptr) {
  Built b = Build(s);
  test::MapSource none;
  core::VerifyContext ctx{s.at, source ? source : &none, std::nullopt, grace};
  auto r = (v ? *v : Verifier()).Verify(b.bundle, ctx);
  if (!r.ok() || r->size() != 1) {
    ADD_FAILURE() << "Verify: " << r.status();
    return DeviceResult{};
  }
  return (*r)[0];
}

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

// --- The valid baseline ------------------------------------------------------

TEST(TdxBuilderEvidence, BaselinePassesEveryCheck) {
  Scenario s;
  const DeviceResult d = RunScenario(s);
  ASSERT_EQ(d.checks.size(), 15u) << Describe(d);
  for (const auto& c : d.checks) {
    EXPECT_EQ(c.status, CheckStatus::kPass) << c.name << " " << c.reason << ": " << c.detail;
  }
  EXPECT_EQ(d.claims["tcb_status"], "UpToDate");
  EXPECT_EQ(d.claims["advisory_ids"], nlohmann::json::array());
  EXPECT_EQ(d.claims["qe_tcb_status"], "UpToDate");
  EXPECT_EQ(d.claims["tdx_module_tcb_status"], "UpToDate");
  EXPECT_EQ(d.claims["fmspc"], "00906ed50000");
  EXPECT_EQ(d.claims["td_attributes"]["sept_ve_disable"], true);
  EXPECT_EQ(d.claims["td_attributes"]["debug"], false);
  ASSERT_TRUE(d.report_data.has_value());
  EXPECT_EQ((*d.report_data)[63], 63);
  EXPECT_FALSE(d.simulated);
  EXPECT_TRUE(d.evidence_authentic);
}

TEST(TdxBuilderEvidence, V5Td15BaselinePasses) {
  Scenario s;
  s.quote.UseV5(/*td15=*/true);
  const DeviceResult d = RunScenario(s);
  EXPECT_FALSE(d.HasFailure()) << Describe(d);
  EXPECT_EQ(d.claims["quote_version"], 5);
  EXPECT_EQ(d.claims["tcb_status"], "UpToDate");
  EXPECT_TRUE(d.claims.contains("mrservicetd"));
}

TEST(TdxBuilderEvidence, V5Td10BaselinePasses) {
  Scenario s;
  s.quote.UseV5(/*td15=*/false);
  const DeviceResult d = RunScenario(s);
  EXPECT_FALSE(d.HasFailure()) << Describe(d);
  EXPECT_FALSE(d.claims.contains("mrservicetd"));
}

TEST(TdxBuilderEvidence, DebugTdIsReportedNotRejected) {
  Scenario s;
  s.quote.SetTdAttributes(1);  // DEBUG: the policy refuses it, verification reports it
  const DeviceResult d = RunScenario(s);
  EXPECT_FALSE(d.HasFailure()) << Describe(d);
  EXPECT_EQ(d.claims["td_attributes"]["debug"], true);
}

// --- TCB status combination (a verification result, not a failure) ---------

TEST(TdxTcbStatus, OutOfDatePlatformPassesWithStatusAndAdvisories) {
  Scenario s;
  s.tcb_info["tcbLevels"][0]["tcbStatus"] = "OutOfDate";
  s.tcb_info["tcbLevels"][0]["advisoryIDs"] = {"INTEL-SA-00837"};
  const DeviceResult d = RunScenario(s);
  EXPECT_FALSE(d.HasFailure()) << Describe(d);
  EXPECT_EQ(d.claims["tcb_status"], "OutOfDate");
  EXPECT_EQ(d.claims["advisory_ids"], nlohmann::json::array({"INTEL-SA-00837"}));
  EXPECT_EQ(FindCheck(d, kCheckTcbStatus)->status, CheckStatus::kPass);
}

TEST(TdxTcbStatus, OldModuleMakesUpToDatePlatformOutOfDate) {
  Scenario s;
  s.quote.SetTeeTcbSvn({0x03, 0x01, 0x03});  // module SVN 3 -> TDX_01 level isvsvn 2
  const DeviceResult d = RunScenario(s);
  EXPECT_FALSE(d.HasFailure()) << Describe(d);
  EXPECT_EQ(d.claims["tdx_module_tcb_status"], "OutOfDate");
  EXPECT_EQ(d.claims["platform_tcb_status"], "UpToDate");
  EXPECT_EQ(d.claims["tcb_status"], "OutOfDate");
  EXPECT_EQ(d.claims["advisory_ids"], nlohmann::json::array({"INTEL-SA-00960"}));
}

TEST(TdxTcbStatus, OutOfDateQeWithConfigurationNeededPlatform) {
  Scenario s;
  s.tcb_info["tcbLevels"][0]["tcbStatus"] = "ConfigurationNeeded";
  s.qe_identity["tcbLevels"][0]["tcbStatus"] = "OutOfDate";
  s.qe_identity["tcbLevels"][0]["advisoryIDs"] = {"INTEL-SA-00615"};
  const DeviceResult d = RunScenario(s);
  EXPECT_FALSE(d.HasFailure()) << Describe(d);
  EXPECT_EQ(d.claims["qe_tcb_status"], "OutOfDate");
  EXPECT_EQ(d.claims["tcb_status"], "OutOfDateConfigurationNeeded");
  EXPECT_EQ(d.claims["advisory_ids"], nlohmann::json::array({"INTEL-SA-00615"}));
}

TEST(TdxTcbStatus, SwHardeningNeededIsRecorded) {
  Scenario s;
  s.tcb_info["tcbLevels"][0]["tcbStatus"] = "SWHardeningNeeded";
  const DeviceResult d = RunScenario(s);
  EXPECT_FALSE(d.HasFailure()) << Describe(d);
  EXPECT_EQ(d.claims["tcb_status"], "SWHardeningNeeded");
}

TEST(TdxTcbStatus, SecondLevelSelectedForOlderPlatform) {
  Scenario s;
  s.ext.cpusvn_components = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  const DeviceResult d = RunScenario(s);
  EXPECT_FALSE(d.HasFailure()) << Describe(d);
  EXPECT_EQ(d.claims["tcb_status"], "OutOfDate");
  EXPECT_EQ(d.claims["tcb_date"], "2018-01-04T00:00:00Z");
  EXPECT_EQ(d.claims["advisory_ids"], nlohmann::json::array({"INTEL-SA-00106", "INTEL-SA-00115"}));
}

// --- Simulation roots and collateral freshness -------------------------------

TEST(TdxTrust, SimulationRootIsFlagged) {
  TdxTrustConfig config = TdxTrustConfig::Default();
  config.simulation_root_pems = {Pki().root_pem};
  auto v = TdxVerifier::Create(config);
  ASSERT_TRUE(v.ok()) << v.status();
  Scenario s;
  const DeviceResult d = RunScenario(s, nullptr, absl::ZeroDuration(), v->get());
  EXPECT_FALSE(d.HasFailure()) << Describe(d);
  EXPECT_TRUE(d.simulated);
}

TEST(TdxTrust, DefaultConfigRejectsTestHierarchy) {
  auto v = TdxVerifier::Create(TdxTrustConfig::Default());
  ASSERT_TRUE(v.ok());
  Scenario s;
  const DeviceResult d = RunScenario(s, nullptr, absl::ZeroDuration(), v->get());
  EXPECT_EQ(FindCheck(d, kCheckPckChain)->reason, reason::kPckChainUntrustedRoot) << Describe(d);
  EXPECT_FALSE(d.report_data.has_value());
}

TEST(TdxTrust, UnpinnedRootRefused) {
  TdxTrustConfig config;
  config.intel_root_pems = {Pki().root_pem};
  EXPECT_EQ(TdxVerifier::Create(config).status().code(), absl::StatusCode::kInvalidArgument);
}

// Collateral from the offline layout, served stale by a cache.
test::MapSource OfflineFrom(const attestation::v1::TdxCollateral& c) {
  test::MapSource m;
  nlohmann::json qvl = {{"pck_crl_issuer_chain", c.pck_crl_issuer_chain()},
                        {"root_ca_crl", c.root_ca_crl()},
                        {"pck_crl", c.pck_crl()},
                        {"tcb_info_issuer_chain", c.tcb_info_issuer_chain()},
                        {"tcb_info", c.tcb_info()},
                        {"tcb_info_signature", c.tcb_info_signature()},
                        {"qe_identity_issuer_chain", c.qe_identity_issuer_chain()},
                        {"qe_identity", c.qe_identity()},
                        {"qe_identity_signature", c.qe_identity_signature()}};
  const std::string text = qvl.dump();
  m.Put(QvlCollateralKey("00906ed50000"), Bytes(text.begin(), text.end()));
  return m;
}

TEST(TdxCollateralSources, OfflinePiecesWithPcsBodies) {
  Scenario s;
  s.edit_collateral = [](attestation::v1::TdxCollateral& c) { c.Clear(); };
  Built b = Build(s);
  // Rebuild the pieces from a fresh collateral set.
  testing::TdxCollateralSpec spec;
  spec.tcb_info = s.tcb_info;
  spec.qe_identity = s.qe_identity;
  auto col = testing::MakeTdxCollateral(Pki(), spec);
  ASSERT_TRUE(col.ok());
  test::MapSource m;
  const std::string tcb_body = "{\"tcbInfo\":" + col->tcb_info() + ",\"signature\":\"" +
                               col->tcb_info_signature() + "\"}";
  const std::string qe_body = "{\"enclaveIdentity\": " + col->qe_identity() +
                              " , \"signature\":\"" + col->qe_identity_signature() + "\"}\n";
  auto put = [&m](const std::string& k, const std::string& v) { m.Put(k, Bytes(v.begin(), v.end())); };
  put(TcbInfoKey("00906ed50000"), tcb_body);
  put(TcbInfoIssuerChainKey("00906ed50000"), col->tcb_info_issuer_chain());
  put(QeIdentityKey(), qe_body);
  put(QeIdentityIssuerChainKey(), col->qe_identity_issuer_chain());
  m.Put(PckCrlKey("platform"), *HexDecode(col->pck_crl()));
  m.Put(RootCaCrlKey(), *HexDecode(col->root_ca_crl()));
  core::VerifyContext ctx{kAt, &m, std::nullopt};
  auto r = Verifier().Verify(b.bundle, ctx);
  ASSERT_TRUE(r.ok()) << r.status();
  const DeviceResult& d = (*r)[0];
  for (const auto& c : d.checks) {
    EXPECT_EQ(c.status, CheckStatus::kPass) << c.name << " " << c.reason << ": " << c.detail;
  }
  EXPECT_EQ(d.claims["tcb_status"], "UpToDate");
}

TEST(TdxCollateralSources, StaleWithinGraceIsAWarningCheck) {
  Scenario s;
  Built b = Build(s);
  test::MapSource m = OfflineFrom(b.bundle.tdx().collateral());
  m.MarkStale(QvlCollateralKey("00906ed50000"));
  b.bundle.mutable_tdx()->clear_collateral();
  core::VerifyContext ctx{kAt, &m, std::nullopt, absl::Hours(24)};
  auto r = Verifier().Verify(b.bundle, ctx);
  ASSERT_TRUE(r.ok()) << r.status();
  const DeviceResult& d = (*r)[0];
  EXPECT_FALSE(d.HasFailure()) << Describe(d);
  const core::Check* f = FindCheck(d, kCheckCollateralFreshness);
  ASSERT_NE(f, nullptr) << Describe(d);
  EXPECT_EQ(f->status, CheckStatus::kNotChecked);
  EXPECT_EQ(f->reason, reason::kStaleCollateral);
}

TEST(TdxCollateralSources, StaleBeyondGraceFailsClosed) {
  Scenario s;
  Built b = Build(s);
  test::MapSource m = OfflineFrom(b.bundle.tdx().collateral());
  m.MarkStale(QvlCollateralKey("00906ed50000"));
  b.bundle.mutable_tdx()->clear_collateral();
  core::VerifyContext ctx{kAt, &m, std::nullopt};
  auto r = Verifier().Verify(b.bundle, ctx);
  ASSERT_TRUE(r.ok()) << r.status();
  const DeviceResult& d = (*r)[0];
  // The QVL JSON is refused as a whole: every item it held fails closed.
  EXPECT_EQ(FindCheck(d, kCheckTcbInfoCollateral)->reason, reason::kCollateralStaleBeyondGrace)
      << Describe(d);
  EXPECT_EQ(FindCheck(d, kCheckTcbInfoCollateral)->status, CheckStatus::kFail);
  EXPECT_EQ(FindCheck(d, kCheckPckRevocation)->reason, reason::kCollateralStaleBeyondGrace);
  EXPECT_FALSE(d.claims.contains("tcb_status"));
}

// --- Issue 10: fail closed; the server's view of the collateral wins ------------

const core::CollateralRef* FindRef(const DeviceResult& d, std::string_view kind) {
  for (const auto& r : d.collateral) {
    if (r.kind == kind) return &r;
  }
  return nullptr;
}

void ExpectCheck(const DeviceResult& d, std::string_view name, CheckStatus status,
                 std::string_view reason) {
  const core::Check* c = FindCheck(d, name);
  ASSERT_NE(c, nullptr) << name << "\n" << Describe(d);
  EXPECT_EQ(c->status, status) << name << "\n" << Describe(d);
  EXPECT_EQ(c->reason, reason) << name << "\n" << Describe(d);
}

// The server's copy of everything, from a collateral set built with `edit`
// applied to a fresh scenario's JSON (QVL JSON in the offline layout).
test::MapSource ServerWith(const std::function<void(testing::TdxCollateralSpec&)>& edit) {
  testing::TdxCollateralSpec spec;
  spec.tcb_info = testing::DefaultTcbInfo(kAt);
  spec.qe_identity = testing::DefaultQeIdentity(kAt);
  if (edit) edit(spec);
  auto col = testing::MakeTdxCollateral(Pki(), spec);
  return OfflineFrom(OrDie(col, "MakeTdxCollateral"));
}

// (a) No QE identity anywhere: a FAIL, and the combined TCB status fails
// too (incomplete); no tcb_status / advisory_ids claims.
TEST(TdxFailClosed, QeIdentityAbsentFailsAndTcbStatusFails) {
  Scenario s;
  s.edit_collateral = [](attestation::v1::TdxCollateral& c) {
    c.clear_qe_identity();
    c.clear_qe_identity_signature();
    c.clear_qe_identity_issuer_chain();
  };
  const DeviceResult d = RunScenario(s);
  ExpectCheck(d, kCheckQeIdentityCollateral, CheckStatus::kFail, reason::kQeIdentityMissing);
  ExpectCheck(d, kCheckQeIdentity, CheckStatus::kNotChecked, reason::kPrerequisiteFailed);
  ExpectCheck(d, kCheckTcbStatus, CheckStatus::kFail, reason::kTcbStatusIncomplete);
  EXPECT_FALSE(d.claims.contains("tcb_status"));
  EXPECT_FALSE(d.claims.contains("advisory_ids"));
  EXPECT_EQ(d.claims["platform_tcb_status"], "UpToDate");
  // The quote itself is authentic; the collateral is what is missing.
  EXPECT_TRUE(d.evidence_authentic);
}

// (b) A QE identity whose signature does not verify (a well-formed r||s
// over other text) fails, and so does the TCB status.
TEST(TdxFailClosed, QeIdentityWithBadSignatureFails) {
  Scenario s;
  s.edit_collateral = [](attestation::v1::TdxCollateral& c) {
    auto sig = testing::SignJsonHex(Pki().tcb_signing.key.get(), c.qe_identity() + "x");
    c.set_qe_identity_signature(OrDie(sig, "sign"));
  };
  const DeviceResult d = RunScenario(s);
  ExpectCheck(d, kCheckQeIdentityCollateral, CheckStatus::kFail,
              reason::kQeIdentitySignatureInvalid);
  ExpectCheck(d, kCheckTcbStatus, CheckStatus::kFail, reason::kTcbStatusIncomplete);
  EXPECT_FALSE(d.claims.contains("tcb_status"));
}

TEST(TdxFailClosed, QeIdentityWithoutSignatureFails) {
  Scenario s;
  s.edit_collateral = [](attestation::v1::TdxCollateral& c) { c.clear_qe_identity_signature(); };
  const DeviceResult d = RunScenario(s);
  ExpectCheck(d, kCheckQeIdentityCollateral, CheckStatus::kFail, reason::kQeIdentityMissing);
  ExpectCheck(d, kCheckTcbStatus, CheckStatus::kFail, reason::kTcbStatusIncomplete);
}

// (c) No root CA CRL: neither the TCB signing certificate's nor the PCK
// CA's revocation was checked: both checks are not-checked, never pass.
TEST(TdxFailClosed, NoRootCaCrlLeavesBothRevocationChecksNotChecked) {
  Scenario s;
  s.edit_collateral = [](attestation::v1::TdxCollateral& c) { c.clear_root_ca_crl(); };
  const DeviceResult d = RunScenario(s);
  ExpectCheck(d, kCheckTcbSigningRevocation, CheckStatus::kNotChecked, reason::kCollateralMissing);
  ExpectCheck(d, kCheckPckRevocation, CheckStatus::kNotChecked, reason::kCollateralMissing);
  // The signed collateral itself verified and is used.
  ExpectCheck(d, kCheckTcbInfoCollateral, CheckStatus::kPass, reason::kOk);
  ExpectCheck(d, kCheckQeIdentityCollateral, CheckStatus::kPass, reason::kOk);
  EXPECT_FALSE(d.HasFailure()) << Describe(d);
  EXPECT_TRUE(d.evidence_authentic);
}

TEST(TdxFailClosed, NoCrlsAtAllNeverPass) {
  Scenario s;
  s.edit_collateral = [](attestation::v1::TdxCollateral& c) {
    c.clear_root_ca_crl();
    c.clear_pck_crl();
  };
  const DeviceResult d = RunScenario(s);
  ExpectCheck(d, kCheckTcbSigningRevocation, CheckStatus::kNotChecked, reason::kCollateralMissing);
  ExpectCheck(d, kCheckPckRevocation, CheckStatus::kNotChecked, reason::kCollateralMissing);
}

TEST(TdxFailClosed, ExpiredRootCaCrlFailsBothRevocationChecks) {
  Scenario s;
  s.crls.root_crl.this_update = kAt - absl::Hours(24 * 40);
  s.crls.root_crl.next_update = kAt - absl::Hours(24);
  const DeviceResult d = RunScenario(s);
  ExpectCheck(d, kCheckTcbSigningRevocation, CheckStatus::kFail, reason::kCrlNotCurrent);
  ExpectCheck(d, kCheckPckRevocation, CheckStatus::kFail, reason::kCrlNotCurrent);
  EXPECT_FALSE(d.evidence_authentic);
  EXPECT_FALSE(d.report_data.has_value());
}

TEST(TdxFailClosed, RootCaCrlStaleBeyondGraceFailsSigningRevocation) {
  Scenario s;
  s.edit_collateral = [](attestation::v1::TdxCollateral& c) { c.clear_root_ca_crl(); };
  Built b = Build(s);
  test::MapSource m;
  auto col = testing::MakeTdxCollateral(Pki(), s.crls);
  m.Put(RootCaCrlKey(), *HexDecode(OrDie(col, "collateral").root_ca_crl()));
  m.MarkStale(RootCaCrlKey());
  core::VerifyContext ctx{kAt, &m, std::nullopt};
  auto r = Verifier().Verify(b.bundle, ctx);
  ASSERT_TRUE(r.ok()) << r.status();
  ExpectCheck((*r)[0], kCheckTcbSigningRevocation, CheckStatus::kFail,
              reason::kCollateralStaleBeyondGrace);
  ExpectCheck((*r)[0], kCheckPckRevocation, CheckStatus::kFail, reason::kCollateralStaleBeyondGrace);
}

// (d) An unsigned qe_identity in the bundle does not hide the server's
// copy: the server's is used and the QE identity check runs on it.
TEST(TdxServerViewWins, UnsignedBundleQeIdentityDoesNotHideTheServerCopy) {
  Scenario s;
  s.edit_collateral = [](attestation::v1::TdxCollateral& c) {
    c.set_qe_identity("{\"id\":\"TD_QE\",\"version\":2}");
    c.clear_qe_identity_signature();
  };
  test::MapSource server = ServerWith(nullptr);
  const DeviceResult d = RunScenario(s, &server);
  ExpectCheck(d, kCheckQeIdentityCollateral, CheckStatus::kPass, reason::kOk);
  ExpectCheck(d, kCheckQeIdentity, CheckStatus::kPass, reason::kOk);
  ExpectCheck(d, kCheckTcbStatus, CheckStatus::kPass, reason::kOk);
  EXPECT_EQ(d.claims["tcb_status"], "UpToDate");
  const core::Check* qe = FindCheck(d, kCheckQeIdentityCollateral);
  EXPECT_NE(qe->detail.find("collateral intel/collateral/00906ed50000.json"), std::string::npos)
      << qe->detail;
  EXPECT_NE(qe->detail.find("server copy used: the bundle's copy was ignored"), std::string::npos)
      << qe->detail;
  const core::CollateralRef* ref = FindRef(d, "qe_identity");
  ASSERT_NE(ref, nullptr);
  EXPECT_EQ(ref->id, QvlCollateralKey("00906ed50000"));
  EXPECT_NE(ref->source.find("bundle's copy was ignored"), std::string::npos) << ref->source;
}

// The same with a garbage signature: the bundle item is ignored, the
// server's verdict stands (here the server's QE identity says OutOfDate).
TEST(TdxServerViewWins, GarbageBundleQeIdentityCannotImproveTheVerdict) {
  Scenario s;
  s.edit_collateral = [](attestation::v1::TdxCollateral& c) {
    c.set_qe_identity_signature(std::string(128, '0'));
  };
  test::MapSource server = ServerWith([](testing::TdxCollateralSpec& spec) {
    spec.qe_identity["tcbLevels"][0]["tcbStatus"] = "OutOfDate";
  });
  const DeviceResult d = RunScenario(s, &server);
  ExpectCheck(d, kCheckQeIdentityCollateral, CheckStatus::kPass, reason::kOk);
  EXPECT_EQ(d.claims["qe_tcb_status"], "OutOfDate");
  EXPECT_EQ(d.claims["tcb_status"], "OutOfDate");
}

// (e) A rollback: the bundle's TCB info is Intel-signed and still inside
// its validity window but older (tcbEvaluationDataNumber 16, when this
// level was UpToDate) than the server's (17, now OutOfDate).
TEST(TdxServerViewWins, OlderBundleTcbInfoLosesToTheServerCopy) {
  Scenario s;
  s.tcb_info["tcbEvaluationDataNumber"] = 16;
  s.tcb_info["issueDate"] = FormatRfc3339(kAt - absl::Hours(24 * 20));
  test::MapSource server = ServerWith([](testing::TdxCollateralSpec& spec) {
    spec.tcb_info["tcbLevels"][0]["tcbStatus"] = "OutOfDate";
    spec.tcb_info["tcbLevels"][0]["advisoryIDs"] = {"INTEL-SA-01000"};
  });
  const DeviceResult d = RunScenario(s, &server);
  ExpectCheck(d, kCheckTcbInfoCollateral, CheckStatus::kPass, reason::kOk);
  EXPECT_EQ(d.claims["tcb_evaluation_data_number"], 17);
  EXPECT_EQ(d.claims["tcb_status"], "OutOfDate");
  EXPECT_EQ(d.claims["advisory_ids"], nlohmann::json::array({"INTEL-SA-01000"}));
  const core::Check* tcb = FindCheck(d, kCheckTcbInfoCollateral);
  EXPECT_NE(tcb->detail.find("server copy used: the server's copy (tcbEvaluationDataNumber 17"),
            std::string::npos)
      << tcb->detail;
  const core::CollateralRef* ref = FindRef(d, "tcb_info");
  ASSERT_NE(ref, nullptr);
  EXPECT_EQ(ref->id, QvlCollateralKey("00906ed50000"));
}

// Same evaluation number, older issueDate: the server's copy still wins.
TEST(TdxServerViewWins, SameNumberOlderIssueDateLoses) {
  Scenario s;
  s.tcb_info["issueDate"] = FormatRfc3339(kAt - absl::Hours(24 * 6));
  test::MapSource server = ServerWith([](testing::TdxCollateralSpec& spec) {
    spec.tcb_info["tcbLevels"][0]["tcbStatus"] = "SWHardeningNeeded";
  });
  const DeviceResult d = RunScenario(s, &server);
  EXPECT_EQ(d.claims["tcb_status"], "SWHardeningNeeded") << Describe(d);
}

// (f) A newer signed TCB info in the bundle than the server holds (the
// server's cache lags): the bundle's copy is used.
TEST(TdxServerViewWins, NewerBundleTcbInfoIsUsed) {
  Scenario s;
  s.tcb_info["tcbEvaluationDataNumber"] = 18;
  test::MapSource server = ServerWith([](testing::TdxCollateralSpec& spec) {
    spec.tcb_info["tcbLevels"][0]["tcbStatus"] = "OutOfDate";
  });
  const DeviceResult d = RunScenario(s, &server);
  EXPECT_FALSE(d.HasFailure()) << Describe(d);
  EXPECT_EQ(d.claims["tcb_evaluation_data_number"], 18);
  EXPECT_EQ(d.claims["tcb_status"], "UpToDate");
  const core::Check* tcb = FindCheck(d, kCheckTcbInfoCollateral);
  EXPECT_NE(tcb->detail.find("bundle copy used: the bundle's copy (tcbEvaluationDataNumber 18"),
            std::string::npos)
      << tcb->detail;
  const core::CollateralRef* ref = FindRef(d, "tcb_info");
  ASSERT_NE(ref, nullptr);
  EXPECT_EQ(ref->id, "bundle");
  EXPECT_NE(ref->source.find("newer than the server's"), std::string::npos) << ref->source;
}

// A newer bundle copy that does not verify is ignored.
TEST(TdxServerViewWins, NewerButUnverifiableBundleTcbInfoIsIgnored) {
  Scenario s;
  s.tcb_info["tcbEvaluationDataNumber"] = 18;
  s.edit_collateral = [](attestation::v1::TdxCollateral& c) {
    c.set_tcb_info_issuer_chain(OtherPki().tcb_signing_chain_pem);
  };
  test::MapSource server = ServerWith(nullptr);
  const DeviceResult d = RunScenario(s, &server);
  ExpectCheck(d, kCheckTcbInfoCollateral, CheckStatus::kPass, reason::kOk);
  EXPECT_EQ(d.claims["tcb_evaluation_data_number"], 17);
}

// (g) An older PCK CRL in the bundle (before the leaf was revoked) loses
// to the server's newer one, which revokes it.
TEST(TdxServerViewWins, OlderBundlePckCrlLosesToTheServerCopy) {
  Scenario s;
  s.crls.pck_crl.this_update = kAt - absl::Hours(24 * 10);
  test::MapSource server = ServerWith([](testing::TdxCollateralSpec& spec) {
    spec.pck_crl.this_update = kAt - absl::Hours(24);
    spec.pck_revoked = {testing::RevokedEntry{{0x3c, 0x16, 0xed}}};
  });
  const DeviceResult d = RunScenario(s, &server);
  ExpectCheck(d, kCheckPckRevocation, CheckStatus::kFail, reason::kPckRevoked);
  const core::Check* rev = FindCheck(d, kCheckPckRevocation);
  EXPECT_NE(rev->detail.find("collateral intel/collateral/00906ed50000.json (pck_crl)"),
            std::string::npos)
      << rev->detail;
  EXPECT_FALSE(d.evidence_authentic);
  EXPECT_FALSE(d.report_data.has_value());
}

// The reverse: a newer bundle CRL (the server's lags) is used.
TEST(TdxServerViewWins, NewerBundlePckCrlIsUsed) {
  Scenario s;
  s.crls.pck_crl.this_update = kAt - absl::Hours(24);
  s.crls.pck_revoked = {testing::RevokedEntry{{0x3c, 0x16, 0xed}}};
  test::MapSource server = ServerWith([](testing::TdxCollateralSpec& spec) {
    spec.pck_crl.this_update = kAt - absl::Hours(24 * 10);
  });
  const DeviceResult d = RunScenario(s, &server);
  ExpectCheck(d, kCheckPckRevocation, CheckStatus::kFail, reason::kPckRevoked);
}

// An older root CA CRL in the bundle loses too (it serves the PCK CA and
// the TCB signing certificate).
TEST(TdxServerViewWins, OlderBundleRootCaCrlLosesToTheServerCopy) {
  Scenario s;
  s.crls.root_crl.this_update = kAt - absl::Hours(24 * 10);
  test::MapSource server = ServerWith([](testing::TdxCollateralSpec& spec) {
    spec.root_crl.this_update = kAt - absl::Hours(24);
    spec.root_revoked = {testing::RevokedEntry{{0x7e, 0x38}}};  // the TCB signing cert
  });
  const DeviceResult d = RunScenario(s, &server);
  ExpectCheck(d, kCheckTcbSigningRevocation, CheckStatus::kFail, reason::kTcbSigningCertRevoked);
  ExpectCheck(d, kCheckTcbInfoCollateral, CheckStatus::kFail, reason::kTcbSigningCertRevoked);
  EXPECT_FALSE(d.claims.contains("tcb_status"));
}

// The server's copy is stale beyond the grace: a bundle copy cannot stand
// in for it (nothing says it is current).
TEST(TdxServerViewWins, ServerRefusalIsNotBypassedByBundleCollateral) {
  Scenario s;
  Built b = Build(s);
  test::MapSource m = OfflineFrom(b.bundle.tdx().collateral());
  m.MarkStale(QvlCollateralKey("00906ed50000"));
  core::VerifyContext ctx{kAt, &m, std::nullopt};
  auto r = Verifier().Verify(b.bundle, ctx);
  ASSERT_TRUE(r.ok()) << r.status();
  const DeviceResult& d = (*r)[0];
  ExpectCheck(d, kCheckTcbInfoCollateral, CheckStatus::kFail, reason::kCollateralStaleBeyondGrace);
  ExpectCheck(d, kCheckQeIdentityCollateral, CheckStatus::kFail,
              reason::kCollateralStaleBeyondGrace);
  EXPECT_FALSE(d.claims.contains("tcb_status"));
}

// Identical copies in the bundle and on the server are verified once and
// the server's is named.
TEST(TdxServerViewWins, IdenticalCopiesUseTheServerCopy) {
  Scenario s;
  Built b = Build(s);
  test::MapSource m = OfflineFrom(b.bundle.tdx().collateral());
  core::VerifyContext ctx{kAt, &m, std::nullopt};
  auto r = Verifier().Verify(b.bundle, ctx);
  ASSERT_TRUE(r.ok()) << r.status();
  const DeviceResult& d = (*r)[0];
  for (const auto& c : d.checks) {
    EXPECT_EQ(c.status, CheckStatus::kPass) << c.name << " " << c.reason << ": " << c.detail;
  }
  const core::Check* tcb = FindCheck(d, kCheckTcbInfoCollateral);
  EXPECT_NE(tcb->detail.find("the bundle's copy is identical"), std::string::npos) << tcb->detail;
  for (const auto& ref : d.collateral) EXPECT_NE(ref.id, "bundle") << ref.kind;
}

// --- One change, one reason ------------------------------------------------------

struct Case {
  std::string name;
  std::function<void(Scenario&)> edit;
  std::string check;
  CheckStatus status = CheckStatus::kFail;
  std::string reason;
  // Checks that fail as a direct consequence of the same change.
  std::vector<std::string> also_fail = {};
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.name << " -> " << c.check << " " << core::CheckStatusName(c.status) << " " << c.reason;
}

void FlipByte(Bytes& b, size_t offset) { b[offset] ^= 0x01; }

// Flips the last byte of the PCK leaf's signature (inside the ECDSA s value)
// and puts the re-encoded leaf back in front of the rest of the chain.
void FlipLeafCertificateSignature(std::string& pem) {
  absl::StatusOr<std::vector<crypto::OpensslPtr<X509>>> certs =
      crypto::ParsePemCertificates(pem, 8);
  auto& parsed = OrDie(certs, "ParsePemCertificates");
  Bytes der = crypto::CertificateDer(parsed[0].get());
  der.back() ^= 0x01;
  absl::StatusOr<crypto::OpensslPtr<X509>> leaf = crypto::ParseDerCertificate(der);
  std::string out = crypto::CertificatePem(OrDie(leaf, "ParseDerCertificate").get());
  for (size_t i = 1; i < parsed.size(); ++i) out += crypto::CertificatePem(parsed[i].get());
  pem = out;
}

std::vector<Case> Cases() {
  const absl::Duration day = absl::Hours(24);
  return {
      // Parsing and header (tdx.quote_format).
      {"truncated_quote", [](Scenario& s) { s.after_build = [](Bytes& q) { q.resize(1000); }; },
       kCheckQuoteFormat, CheckStatus::kFail, "QUOTE_MALFORMED"},
      {"wrong_version", [](Scenario& s) { s.quote.version = 3; }, kCheckQuoteFormat,
       CheckStatus::kFail, "UNSUPPORTED_QUOTE_VERSION"},
      {"wrong_attestation_key_type", [](Scenario& s) { s.quote.attestation_key_type = 3; },
       kCheckQuoteFormat, CheckStatus::kFail, "UNSUPPORTED_ATTESTATION_KEY_TYPE"},
      {"sgx_tee_type", [](Scenario& s) { s.quote.tee_type = 0; }, kCheckQuoteFormat,
       CheckStatus::kFail, "UNSUPPORTED_TEE_TYPE"},
      {"unknown_qe_vendor", [](Scenario& s) { s.quote.qe_vendor_id[0] ^= 0xff; },
       kCheckQuoteFormat, CheckStatus::kFail, "UNKNOWN_QE_VENDOR"},
      {"v5_unknown_body_type",
       [](Scenario& s) {
         s.quote.UseV5(false);
         s.quote.body_type = 4;
       },
       kCheckQuoteFormat, CheckStatus::kFail, "UNSUPPORTED_BODY_TYPE"},
      {"v5_body_size_mismatch",
       [](Scenario& s) {
         s.quote.UseV5(true);
         s.quote.body_size_override = 584;
       },
       kCheckQuoteFormat, CheckStatus::kFail, "QUOTE_MALFORMED"},
      {"unknown_certification_data_type", [](Scenario& s) { s.quote.certification_data_type = 7; },
       kCheckQuoteFormat, CheckStatus::kFail, "UNSUPPORTED_CERTIFICATION_DATA_TYPE"},
      {"nested_certification_data_not_pck_chain",
       [](Scenario& s) { s.quote.pck_cert_data_type = 3; }, kCheckQuoteFormat, CheckStatus::kFail,
       "UNSUPPORTED_CERTIFICATION_DATA_TYPE"},
      {"trailing_bytes", [](Scenario& s) { s.quote.trailing = {0x00, 0x01}; }, kCheckQuoteFormat,
       CheckStatus::kFail, "QUOTE_TRAILING_BYTES"},
      {"quote_too_large", [](Scenario& s) { s.quote.trailing = Bytes(70000, 0); },
       kCheckQuoteFormat, CheckStatus::kFail, "QUOTE_TOO_LARGE"},
      {"pck_chain_not_pem", [](Scenario& s) { s.edit_chain = [](std::string& p) { p = "garbage"; }; },
       kCheckQuoteFormat, CheckStatus::kFail, "QUOTE_MALFORMED"},
      // PCK chain.
      {"pck_chain_only_two_certs",
       [](Scenario& s) {
         s.edit_chain = [](std::string& p) {
           p = p.substr(0, p.rfind("-----BEGIN CERTIFICATE-----"));
         };
       },
       kCheckPckChain, CheckStatus::kFail, reason::kPckChainMalformed},
      {"pck_chain_untrusted_root", [](Scenario& s) { s.leaf_pki = &OtherPki(); }, kCheckPckChain,
       CheckStatus::kFail, reason::kPckChainUntrustedRoot},
      {"pck_cert_expired", [day](Scenario& s) { s.leaf_spec.not_after = kAt - day; },
       kCheckPckChain, CheckStatus::kFail, reason::kPckCertExpired},
      {"pck_cert_not_yet_valid", [day](Scenario& s) { s.leaf_spec.not_before = kAt + day; },
       kCheckPckChain, CheckStatus::kFail, reason::kPckCertNotYetValid},
      {"pck_leaf_signature_flipped",
       // The PCK certificate's own signature (its last byte) no longer
       // verifies with the PCK CA's key: names, dates and root are all right.
       [](Scenario& s) { s.edit_chain = FlipLeafCertificateSignature; }, kCheckPckChain,
       CheckStatus::kFail, reason::kPckChainInvalid},
      // Revocation.
      {"pck_revoked",
       [](Scenario& s) { s.crls.pck_revoked = {testing::RevokedEntry{{0x3c, 0x16, 0xed}}}; },
       kCheckPckRevocation, CheckStatus::kFail, reason::kPckRevoked},
      {"pck_ca_revoked",
       [](Scenario& s) { s.crls.root_revoked = {testing::RevokedEntry{{0x09, 0x56}}}; },
       kCheckPckRevocation, CheckStatus::kFail, reason::kPckCaRevoked},
      {"pck_crl_expired",
       [day](Scenario& s) {
         s.crls.pck_crl.this_update = kAt - 40 * day;
         s.crls.pck_crl.next_update = kAt - day;
       },
       kCheckPckRevocation, CheckStatus::kFail, reason::kCrlNotCurrent},
      {"pck_crl_signed_by_other_ca",
       [](Scenario& s) {
         s.edit_collateral = [](attestation::v1::TdxCollateral& c) {
           auto crl = testing::MakeCrl({}, OtherPki().pck_ca.cert.get(), OtherPki().pck_ca.key.get());
           c.set_pck_crl(HexEncode(testing::CrlDer(OrDie(crl, "crl").get())));
         };
       },
       kCheckPckRevocation, CheckStatus::kFail, reason::kCrlSignatureInvalid},
      {"pck_crl_missing",
       [](Scenario& s) {
         s.edit_collateral = [](attestation::v1::TdxCollateral& c) { c.clear_pck_crl(); };
       },
       kCheckPckRevocation, CheckStatus::kNotChecked, reason::kCollateralMissing},
      // PCK extensions.
      {"pck_extensions_duplicate_fmspc", [](Scenario& s) { s.ext.duplicate_fmspc = true; },
       kCheckPckExtensions, CheckStatus::kFail, reason::kPckExtensionsInvalid},
      {"pck_extensions_missing_fmspc", [](Scenario& s) { s.ext.omit_fmspc = true; },
       kCheckPckExtensions, CheckStatus::kFail, reason::kPckExtensionsInvalid},
      // Signatures and the QE binding.
      {"qe_report_signed_by_other_key", [](Scenario& s) { s.sign_qe_report_with_other_key = true; },
       kCheckQeReportSignature, CheckStatus::kFail, reason::kQeReportSignatureInvalid},
      {"qe_report_data_not_bound", [](Scenario& s) { s.quote.bind_qe_report_data = false; },
       kCheckQeReportData, CheckStatus::kFail, reason::kQeReportDataMismatch},
      {"qe_report_data_tail_not_zero",
       [](Scenario& s) {
         auto raw = testing::RawP256PublicKey(AttestationKey());
         Bytes in(OrDie(raw, "raw").begin(), raw->end());
         in.insert(in.end(), s.quote.qe_auth_data.begin(), s.quote.qe_auth_data.end());
         Bytes rd = crypto::Sha256(in);
         rd.resize(64, 0);
         rd[40] = 1;
         s.quote.qe_report_data_override = rd;
       },
       kCheckQeReportData, CheckStatus::kFail, reason::kQeReportDataMismatch},
      {"quote_signature_flipped",
       [](Scenario& s) {
         s.after_build = [](Bytes& q) { FlipByte(q, testing::kV4SignatureOffset + 40); };
       },
       kCheckQuoteSignature, CheckStatus::kFail, reason::kQuoteSignatureInvalid},
      {"quote_body_changed_after_signing",
       [](Scenario& s) { s.after_build = [](Bytes& q) { FlipByte(q, 48 + 136); }; },
       kCheckQuoteSignature, CheckStatus::kFail, reason::kQuoteSignatureInvalid},
      {"attestation_key_not_on_curve",
       [](Scenario& s) {
         s.after_build = [](Bytes& q) { FlipByte(q, testing::kV4SignatureOffset + 64 + 63); };
       },
       kCheckQuoteSignature, CheckStatus::kFail, reason::kAttestationKeyInvalid,
       {kCheckQeReportData}},
      // QE identity.
      {"qe_identity_missing",
       [](Scenario& s) {
         s.edit_collateral = [](attestation::v1::TdxCollateral& c) { c.clear_qe_identity(); };
       },
       kCheckQeIdentityCollateral, CheckStatus::kFail, reason::kQeIdentityMissing, {kCheckTcbStatus}},
      {"qe_identity_signature_invalid",
       [](Scenario& s) {
         s.edit_collateral = [](attestation::v1::TdxCollateral& c) {
           c.set_qe_identity(c.qe_identity() + " ");
         };
       },
       kCheckQeIdentityCollateral, CheckStatus::kFail, reason::kQeIdentitySignatureInvalid,
       {kCheckTcbStatus}},
      {"qe_identity_expired",
       [day](Scenario& s) {
         s.qe_identity["issueDate"] = FormatRfc3339(kAt - 40 * day);
         s.qe_identity["nextUpdate"] = FormatRfc3339(kAt - day);
       },
       kCheckQeIdentityCollateral, CheckStatus::kFail, reason::kQeIdentityExpired,
       {kCheckTcbStatus}},
      {"qe_identity_not_yet_valid",
       [day](Scenario& s) { s.qe_identity["issueDate"] = FormatRfc3339(kAt + day); },
       kCheckQeIdentityCollateral, CheckStatus::kFail, reason::kQeIdentityNotYetValid,
       {kCheckTcbStatus}},
      {"qe_identity_without_isvprodid",
       // Validly signed, but not a QE identity this verifier can read.
       [](Scenario& s) { s.qe_identity.erase("isvprodid"); }, kCheckQeIdentityCollateral,
       CheckStatus::kFail, reason::kQeIdentityMalformed, {kCheckTcbStatus}},
      {"qe_identity_wrong_id", [](Scenario& s) { s.qe_identity["id"] = "QE"; },
       kCheckQeIdentityCollateral, CheckStatus::kFail, reason::kQeIdentityUnsupported,
       {kCheckTcbStatus}},
      {"qe_identity_mrsigner_mismatch",
       [](Scenario& s) { s.quote.SetQeMrSigner(std::array<uint8_t, 32>{1}); }, kCheckQeIdentity,
       CheckStatus::kFail, reason::kQeIdentityMismatch, {kCheckTcbStatus}},
      {"qe_identity_miscselect_mismatch", [](Scenario& s) { s.quote.SetQeMiscSelect(1); },
       kCheckQeIdentity, CheckStatus::kFail, reason::kQeIdentityMismatch, {kCheckTcbStatus}},
      {"qe_identity_isvprodid_mismatch", [](Scenario& s) { s.qe_identity["isvprodid"] = 1; },
       kCheckQeIdentity, CheckStatus::kFail, reason::kQeIdentityMismatch, {kCheckTcbStatus}},
      {"qe_tcb_level_not_found", [](Scenario& s) { s.quote.SetQeIsvSvn(3); }, kCheckQeIdentity,
       CheckStatus::kFail, reason::kQeTcbLevelNotFound, {kCheckTcbStatus}},
      {"qe_tcb_revoked",
       [](Scenario& s) { s.qe_identity["tcbLevels"][0]["tcbStatus"] = "Revoked"; },
       kCheckQeIdentity, CheckStatus::kFail, reason::kQeTcbRevoked},
      // TCB info.
      {"tcb_info_missing",
       [](Scenario& s) {
         s.edit_collateral = [](attestation::v1::TdxCollateral& c) { c.clear_tcb_info(); };
       },
       kCheckTcbInfoCollateral, CheckStatus::kFail, reason::kCollateralMissing},
      {"tcb_info_signature_invalid",
       [](Scenario& s) {
         s.edit_collateral = [](attestation::v1::TdxCollateral& c) {
           c.set_tcb_info(c.tcb_info() + " ");
         };
       },
       kCheckTcbInfoCollateral, CheckStatus::kFail, reason::kTcbInfoSignatureInvalid},
      {"tcb_info_expired",
       [day](Scenario& s) {
         s.tcb_info["issueDate"] = FormatRfc3339(kAt - 40 * day);
         s.tcb_info["nextUpdate"] = FormatRfc3339(kAt);
       },
       kCheckTcbInfoCollateral, CheckStatus::kFail, reason::kTcbInfoExpired},
      {"tcb_info_not_yet_valid",
       [day](Scenario& s) { s.tcb_info["issueDate"] = FormatRfc3339(kAt + day); },
       kCheckTcbInfoCollateral, CheckStatus::kFail, reason::kTcbInfoNotYetValid},
      {"tcb_info_sgx_id", [](Scenario& s) { s.tcb_info["id"] = "SGX"; }, kCheckTcbInfoCollateral,
       CheckStatus::kFail, reason::kTcbInfoUnsupported},
      {"tcb_info_malformed_level",
       [](Scenario& s) { s.tcb_info["tcbLevels"][0]["tcbStatus"] = "Great"; },
       kCheckTcbInfoCollateral, CheckStatus::kFail, reason::kTcbInfoMalformed},
      {"tcb_signing_chain_untrusted",
       [](Scenario& s) {
         s.edit_collateral = [](attestation::v1::TdxCollateral& c) {
           c.set_tcb_info_issuer_chain(OtherPki().tcb_signing_chain_pem);
         };
       },
       kCheckTcbInfoCollateral, CheckStatus::kFail, reason::kTcbSigningChainInvalid},
      {"tcb_signing_cert_revoked",
       [](Scenario& s) { s.crls.root_revoked = {testing::RevokedEntry{{0x7e, 0x38}}}; },
       kCheckTcbSigningRevocation, CheckStatus::kFail, reason::kTcbSigningCertRevoked,
       {kCheckQeIdentityCollateral, kCheckTcbInfoCollateral}},
      {"tcb_info_unknown_tcb_type", [](Scenario& s) { s.tcb_info["tcbType"] = 1; },
       kCheckTcbInfoCollateral, CheckStatus::kFail, reason::kTcbInfoUnsupported},
      {"tcb_info_signed_by_pck_ca",
       [](Scenario& s) {
         s.edit_collateral = [](attestation::v1::TdxCollateral& c) {
           // A certificate Intel's root issued for another role.
           c.set_tcb_info_issuer_chain(crypto::CertificatePem(Pki().pck_ca.cert.get()) +
                                       Pki().root_pem);
           auto sig = testing::SignJsonHex(Pki().pck_ca.key.get(), c.tcb_info());
           c.set_tcb_info_signature(OrDie(sig, "sign"));
         };
       },
       kCheckTcbInfoCollateral, CheckStatus::kFail, reason::kTcbSigningChainInvalid},
      {"fmspc_mismatch", [](Scenario& s) { s.tcb_info["fmspc"] = "00906ED50001"; },
       kCheckTcbInfoMatch, CheckStatus::kFail, reason::kFmspcMismatch},
      {"pce_id_mismatch", [](Scenario& s) { s.tcb_info["pceId"] = "0100"; }, kCheckTcbInfoMatch,
       CheckStatus::kFail, reason::kPceIdMismatch},
      // TDX module.
      {"module_mrsigner_mismatch",
       [](Scenario& s) { s.quote.SetMrSignerSeam(std::array<uint8_t, 48>{0xff}); }, kCheckTdxModule,
       CheckStatus::kFail, reason::kTdxModuleIdentityMismatch},
      {"module_attributes_mismatch", [](Scenario& s) { s.quote.SetSeamAttributes(1); },
       kCheckTdxModule, CheckStatus::kFail, reason::kTdxModuleIdentityMismatch},
      {"module_identity_not_found", [](Scenario& s) { s.quote.SetTeeTcbSvn({0x06, 0x02, 0x03}); },
       kCheckTdxModule, CheckStatus::kFail, reason::kTdxModuleIdentityNotFound},
      {"module_svn_below_every_level",
       [](Scenario& s) { s.quote.SetTeeTcbSvn({0x01, 0x01, 0x03}); }, kCheckTdxModule,
       CheckStatus::kFail, reason::kTdxModuleTcbLevelNotFound},
      {"base_module_mrsigner_mismatch",
       [](Scenario& s) {
         s.quote.SetTeeTcbSvn({0x06, 0x00, 0x03});  // major 0: matched against tdxModule
         s.tcb_info["tdxModule"]["mrsigner"] = std::string(95, '0') + "1";
       },
       kCheckTdxModule, CheckStatus::kFail, reason::kTdxModuleIdentityMismatch},
      // Platform TCB level.
      {"tcb_level_not_found",
       [](Scenario& s) { s.ext.cpusvn_components = std::array<uint8_t, 16>{}; }, kCheckTcbLevel,
       CheckStatus::kFail, reason::kTcbLevelNotFound},
      {"tdx_components_below_every_level",
       [](Scenario& s) { s.quote.SetTeeTcbSvn({0x06, 0x01, 0x00}); }, kCheckTcbLevel,
       CheckStatus::kFail, reason::kTcbLevelNotFound},
      {"pcesvn_below_every_level", [](Scenario& s) { s.ext.pcesvn = 4; }, kCheckTcbLevel,
       CheckStatus::kFail, reason::kTcbLevelNotFound},
      {"tcb_level_revoked",
       [](Scenario& s) { s.tcb_info["tcbLevels"][0]["tcbStatus"] = "Revoked"; }, kCheckTcbLevel,
       CheckStatus::kFail, reason::kTcbRevoked},
      {"module_tcb_revoked",
       [](Scenario& s) {
         s.tcb_info["tdxModuleIdentities"][0]["tcbLevels"][0]["tcbStatus"] = "Revoked";
       },
       kCheckTcbStatus, CheckStatus::kFail, reason::kTcbRevoked},
  };
}

class TdxNegativeTest : public ::testing::TestWithParam<Case> {};

TEST_P(TdxNegativeTest, OneChangeOneReason) {
  const Case& c = GetParam();
  Scenario s;
  c.edit(s);
  const DeviceResult d = RunScenario(s);
  const core::Check* check = FindCheck(d, c.check);
  ASSERT_NE(check, nullptr) << Describe(d);
  EXPECT_EQ(check->status, c.status) << Describe(d);
  EXPECT_EQ(check->reason, c.reason) << Describe(d);
  // No other check fails for a different reason than the prerequisites.
  for (const auto& other : d.checks) {
    if (other.name == c.check || other.status != CheckStatus::kFail) continue;
    if (std::find(c.also_fail.begin(), c.also_fail.end(), other.name) != c.also_fail.end()) continue;
    // A revoked component makes the combined TCB status Revoked too.
    if (other.name == kCheckTcbStatus && other.reason == reason::kTcbRevoked) continue;
    ADD_FAILURE() << "unexpected failure " << other.name << " " << other.reason << ": "
                  << other.detail;
  }
  // A failing case never leaves a usable REPORTDATA behind unless the
  // quote's own signature chain is intact.
  if (c.check == kCheckQuoteSignature || c.check == kCheckQeReportSignature ||
      c.check == kCheckQeReportData || c.check == kCheckPckChain || c.check == kCheckQuoteFormat) {
    EXPECT_FALSE(d.report_data.has_value());
  }
  // Authentic only with the quote's whole signature chain verified and
  // the PCK chain not revoked (nor its revocation status unreadable).
  const bool chain_broken = c.check == kCheckQuoteSignature || c.check == kCheckQeReportSignature ||
                            c.check == kCheckQeReportData || c.check == kCheckPckChain ||
                            c.check == kCheckQuoteFormat ||
                            (c.check == kCheckPckRevocation && c.status == CheckStatus::kFail);
  EXPECT_EQ(d.evidence_authentic, !chain_broken) << Describe(d);
  EXPECT_EQ(d.report_data.has_value(), d.evidence_authentic);
}

INSTANTIATE_TEST_SUITE_P(Cases, TdxNegativeTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<Case>& p) { return p.param.name; });

TEST(TdxNegativeCases, ReasonsAreDistinctPerFailureKind) {
  // Every reason code in the table is UPPER_SNAKE and the table is large.
  const std::vector<Case> cases = Cases();
  EXPECT_GE(cases.size(), 25u);
  for (const Case& c : cases) {
    for (char ch : c.reason) {
      EXPECT_TRUE((ch >= 'A' && ch <= 'Z') || ch == '_') << c.name << ": " << c.reason;
    }
  }
}

}  // namespace
}  // namespace rp::tdx
