// NvidiaVerifier on the real vectors (production trust config: the pinned
// NVIDIA Device Identity CA): every genuine report + chain verifies
// (signature, chain, FWID) and yields the documented claims; the negative
// vectors are rejected with their reasons; multi-GPU node rules.
#include "verifier/nvidia/verifier.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "verifier/nvidia/test_util.h"

namespace rp::nvidia {
namespace {

using core::CheckStatus;
using core::DeviceResult;
using test::FindCheck;
using test::RealVector;
using test::RealVectors;

const NvidiaVerifier& Production() {
  static auto* v = [] {
    auto created = NvidiaVerifier::Create(NvidiaTrustConfig::Default());
    if (!created.ok()) std::abort();
    return created->release();
  }();
  return *v;
}

struct Run {
  test::MapSource collateral;
  std::vector<DeviceResult> results;
};

absl::StatusOr<std::vector<DeviceResult>> VerifyBundle(
    const NvidiaVerifier& v, const attestation::v1::EvidenceBundle& b,
    std::optional<Bytes> nonce, const collateral::CollateralSource& source) {
  core::VerifyContext ctx{test::VectorTime(), &source, std::move(nonce)};
  return v.Verify(b, ctx);
}

attestation::v1::EvidenceBundle OneGpu(const std::string& arch, const Bytes& report,
                                       const std::string& chain) {
  attestation::v1::EvidenceBundle b;
  b.mutable_nvidia()->set_arch(arch);
  auto* e = b.mutable_nvidia()->add_evidence_list();
  e->set_evidence(ToString(report));
  e->set_certificate(chain);
  return b;
}

void ExpectStatus(const DeviceResult& d, const char* check, CheckStatus status,
                  const std::string& reason) {
  const core::Check* c = FindCheck(d, check);
  ASSERT_NE(c, nullptr) << check << "\n" << test::DescribeChecks(d);
  EXPECT_EQ(c->status, status) << check << "\n" << test::DescribeChecks(d);
  EXPECT_EQ(c->reason, reason) << check << "\n" << test::DescribeChecks(d);
}

class RealVerifyTest : public ::testing::TestWithParam<RealVector> {};

TEST_P(RealVerifyTest, VerifiesWithPinnedRoot) {
  const RealVector& v = GetParam();
  test::MapSource none;
  auto results = VerifyBundle(
      Production(),
      OneGpu(v.arch, test::ReadHexReport(v.report), test::ReadFile(test::DataPath(v.chain))),
      test::Unhex(v.nonce), none);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 1u);
  const DeviceResult& d = (*results)[0];
  EXPECT_EQ(d.tee, "nvidia-gpu");
  EXPECT_FALSE(d.simulated);
  ExpectStatus(d, kCheckArch, CheckStatus::kPass, "OK");
  ExpectStatus(d, kCheckReportFormat, CheckStatus::kPass, "OK");
  ExpectStatus(d, kCheckCertChain, CheckStatus::kPass, "OK");
  ExpectStatus(d, kCheckDeviceClass, CheckStatus::kPass, "OK");
  ExpectStatus(d, kCheckReportSignature, CheckStatus::kPass, "OK");
  EXPECT_TRUE(d.evidence_authentic);
  if (v.has_fwid) {
    ExpectStatus(d, kCheckFwid, CheckStatus::kPass, "OK");
  } else {
    ExpectStatus(d, kCheckFwid, CheckStatus::kNotChecked, reason::kFwidNotReported);
    EXPECT_FALSE(FindCheck(d, kCheckFwid)->affects_status);
  }
  ExpectStatus(d, kCheckNonce, CheckStatus::kPass, "OK");
  ExpectStatus(d, kCheckOpaqueFields, CheckStatus::kPass, "OK");
  ExpectStatus(d, kCheckCcMode, CheckStatus::kPass, "OK");
  ExpectStatus(d, kCheckUniqueDevice, CheckStatus::kPass, "OK");
  // No fetcher and nothing in the collateral: a warning, never a pass.
  ExpectStatus(d, kCheckCertOcsp, CheckStatus::kNotChecked, reason::kOcspNotConfigured);
  ExpectStatus(d, kCheckDriverRim, CheckStatus::kNotChecked, reason::kRimNotIntegrated);
  ExpectStatus(d, kCheckVbiosRim, CheckStatus::kNotChecked, reason::kRimNotIntegrated);
  EXPECT_FALSE(d.HasFailure()) << test::DescribeChecks(d);

  const nlohmann::json& c = d.claims;
  EXPECT_EQ(c["arch"], v.arch);
  EXPECT_EQ(c["ueid"], v.ueid);
  EXPECT_EQ(c["hwmodel"], v.arch == "HOPPER" ? "GH100 A01 GSP BROM" : "GB100 A01 GSP BROM");
  EXPECT_EQ(c["driver_version"], v.driver);
  EXPECT_EQ(c["vbios_version"], v.vbios);
  EXPECT_EQ(c["project"], v.project);
  EXPECT_EQ(c["project_sku"], v.project_sku);
  EXPECT_EQ(c["chip_sku"], v.chip_sku);
  EXPECT_EQ(c["nonce"], v.nonce);
  EXPECT_EQ(c["cc_mode"], "cc");
  EXPECT_EQ(c["nvdec0_status"], "disabled");
  EXPECT_EQ(c["measurements"].size(), 64u);
  EXPECT_EQ(c["cert_chain"]["status"], "valid");
  EXPECT_EQ(c["cert_chain"]["expiration"], "9999-12-31T23:59:59Z");
  ASSERT_EQ(c["ocsp"].size(), 3u);
  for (const auto& o : c["ocsp"]) EXPECT_EQ(o["status"], "not-configured");
  EXPECT_EQ(c["fwid"].is_null(), !v.has_fwid);
  EXPECT_EQ(c["device_class"], "gpu");
}

INSTANTIATE_TEST_SUITE_P(Vectors, RealVerifyTest, ::testing::ValuesIn(RealVectors()),
                         [](const auto& p) { return p.param.name; });

TEST(RealVerify, ClaimsOf550MatchTrustee) {
  test::MapSource none;
  const RealVector& v = RealVectors()[0];
  auto results = VerifyBundle(
      Production(),
      OneGpu(v.arch, test::ReadHexReport(v.report), test::ReadFile(test::DataPath(v.chain))),
      test::Unhex(v.nonce), none);
  ASSERT_TRUE(results.ok());
  const nlohmann::json& c = (*results)[0].claims;
  const nlohmann::json trustee = nlohmann::json::parse(
      test::ReadFile(test::DataPath("expected/h100_drv550.90.07_trustee_claims.json")));
  EXPECT_EQ(c["ueid"], trustee["ueid"]);
  EXPECT_EQ(c["measurements"], trustee["measurements"]);
  EXPECT_EQ(c["fwid"], trustee["config"]["fwid"]);
  EXPECT_EQ(c["board_id"], 945);
  EXPECT_EQ(c["protected_pcie"], false);
}

TEST(RealVerify, BadSignatureReportIsRejected) {
  test::MapSource none;
  auto results = VerifyBundle(
      Production(),
      OneGpu("HOPPER", test::ReadHexReport("hopper/h100_drv560.00_g520_NEG_badsig_report.hex"),
             test::ReadFile(
                 test::DataPath("hopper/h100_drv570.124.03_vbios96005E0004_certchain.pem"))),
      test::Unhex("931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb"), none);
  ASSERT_TRUE(results.ok());
  const DeviceResult& d = (*results)[0];
  ExpectStatus(d, kCheckReportFormat, CheckStatus::kPass, "OK");
  ExpectStatus(d, kCheckCertChain, CheckStatus::kPass, "OK");
  ExpectStatus(d, kCheckReportSignature, CheckStatus::kFail, reason::kSignatureInvalid);
  // Its FWID belongs to another firmware than this leaf certifies.
  ExpectStatus(d, kCheckFwid, CheckStatus::kFail, reason::kFwidMismatch);
  EXPECT_EQ(d.claims["driver_version"], "560.00");
  EXPECT_EQ(d.claims["vbios_version"], "96.00.A5.00.01");
  EXPECT_EQ(d.claims["switch_pdis"].size(), 4u);
}

TEST(RealVerify, NegativeChainsAreRejected) {
  const RealVector& v = RealVectors()[0];
  const Bytes report = test::ReadHexReport(v.report);
  struct Case {
    std::string file;
    std::string want;
  };
  for (const Case& c : {Case{"chains_negative/h100_chain_case2.pem", reason::kCertChainLength},
                        Case{"chains_negative/h100_chain_case3.pem", reason::kCertChainLength},
                        Case{"chains_negative/h100_chain_case4.pem", reason::kCertChainLength}}) {
    test::MapSource none;
    auto results = VerifyBundle(Production(),
                                OneGpu("HOPPER", report, test::ReadFile(test::DataPath(c.file))),
                                test::Unhex(v.nonce), none);
    ASSERT_TRUE(results.ok());
    const DeviceResult& d = (*results)[0];
    ExpectStatus(d, kCheckCertChain, CheckStatus::kFail, c.want);
    ExpectStatus(d, kCheckCertOcsp, CheckStatus::kNotChecked, reason::kPrerequisiteFailed);
    EXPECT_TRUE(d.HasFailure());
  }
  // case4 (leaf removed: BROM first) must not verify the report: its first
  // certificate's key did not sign it.
  test::MapSource none;
  auto results = VerifyBundle(
      Production(),
      OneGpu("HOPPER", report,
             test::ReadFile(test::DataPath("chains_negative/h100_chain_case4.pem"))),
      test::Unhex(v.nonce), none);
  ASSERT_TRUE(results.ok());
  ExpectStatus((*results)[0], kCheckReportSignature, CheckStatus::kFail,
               reason::kSignatureInvalid);
  // case3's 4 certificates with the missing ICA cannot build a path even
  // when the pinned root is appended as a 5th certificate.
  std::string case3 = test::ReadFile(test::DataPath("chains_negative/h100_chain_case3.pem"));
  case3 += std::string(PinnedDeviceRootPem());
  results = VerifyBundle(Production(), OneGpu("HOPPER", report, case3), test::Unhex(v.nonce), none);
  ASSERT_TRUE(results.ok());
  const core::Check* chain = FindCheck((*results)[0], kCheckCertChain);
  ASSERT_NE(chain, nullptr);
  EXPECT_EQ(chain->status, CheckStatus::kFail);
  EXPECT_NE(chain->reason, "OK");
}

TEST(RealVerify, WrongNonceArchAndMissingNonce) {
  const RealVector& v = RealVectors()[0];
  const Bytes report = test::ReadHexReport(v.report);
  const std::string chain = test::ReadFile(test::DataPath(v.chain));
  test::MapSource none;
  auto wrong = VerifyBundle(Production(), OneGpu("HOPPER", report, chain), Bytes(32, 0x01), none);
  ASSERT_TRUE(wrong.ok());
  ExpectStatus((*wrong)[0], kCheckNonce, CheckStatus::kFail, reason::kNonceMismatch);
  auto missing = VerifyBundle(Production(), OneGpu("HOPPER", report, chain), std::nullopt, none);
  ASSERT_TRUE(missing.ok());
  ExpectStatus((*missing)[0], kCheckNonce, CheckStatus::kNotChecked, reason::kNonceNotProvided);
  auto arch = VerifyBundle(Production(), OneGpu("BLACKWELL", report, chain), test::Unhex(v.nonce),
                           none);
  ASSERT_TRUE(arch.ok());
  ExpectStatus((*arch)[0], kCheckArch, CheckStatus::kFail, reason::kArchMismatch);
  auto bad = VerifyBundle(Production(), OneGpu("AMPERE", report, chain), test::Unhex(v.nonce),
                          none);
  ASSERT_TRUE(bad.ok());
  ExpectStatus((*bad)[0], kCheckArch, CheckStatus::kFail, reason::kArchUnsupported);
}

TEST(RealVerify, CertHoldEvidenceJsonVerifies) {
  const auto gpus = test::LoadEvidenceJson("evidence_json/h100_drv570.86.10_cert_hold_evidence.json");
  ASSERT_EQ(gpus.size(), 1u);
  test::MapSource none;
  auto results = VerifyBundle(Production(),
                              OneGpu(gpus[0].arch, gpus[0].report, gpus[0].chain_pem),
                              test::Unhex(gpus[0].nonce_hex), none);
  ASSERT_TRUE(results.ok());
  const DeviceResult& d = (*results)[0];
  EXPECT_FALSE(d.HasFailure()) << test::DescribeChecks(d);
  ExpectStatus(d, kCheckReportSignature, CheckStatus::kPass, "OK");
  ExpectStatus(d, kCheckFwid, CheckStatus::kPass, "OK");
  EXPECT_EQ(d.claims["driver_version"], "570.86.10");
  EXPECT_EQ(d.claims["vbios_version"], "96.00.AF.00.01");
}

attestation::v1::EvidenceBundle PpcieNode(std::vector<test::JsonEvidence>& gpus) {
  gpus = test::LoadEvidenceJson("evidence_json/hgx_h100_4gpu_drv590.12_ppcie_evidence.json");
  attestation::v1::EvidenceBundle b;
  b.mutable_nvidia()->set_arch("HOPPER");
  for (const auto& g : gpus) {
    auto* e = b.mutable_nvidia()->add_evidence_list();
    e->set_evidence(ToString(g.report));
    // As NVIDIA's JSON carries it: base64 of the PEM text.
    e->set_certificate(Base64Encode(AsBytes(g.chain_pem)));
  }
  return b;
}

TEST(RealVerify, FourGpuPpcieNodeAppraisesAsOneNode) {
  std::vector<test::JsonEvidence> gpus;
  const auto bundle = PpcieNode(gpus);
  ASSERT_EQ(gpus.size(), 4u);
  test::MapSource none;
  auto results = VerifyBundle(Production(), bundle, test::Unhex(gpus[0].nonce_hex), none);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 4u);
  std::set<std::string> ueids;
  for (const DeviceResult& d : *results) {
    for (const char* check : {kCheckArch, kCheckReportFormat, kCheckCertChain,
                              kCheckReportSignature, kCheckFwid, kCheckNonce, kCheckCcMode,
                              kCheckUniqueDevice, kCheckGpuModes}) {
      ExpectStatus(d, check, CheckStatus::kPass, "OK");
    }
    EXPECT_EQ(d.claims["cc_mode"], "ppcie");
    EXPECT_EQ(d.claims["gpu_mode"], "ppcie");
    EXPECT_EQ(d.claims["switch_pdis"].size(), 4u);
    ueids.insert(d.claims["ueid"].get<std::string>());
    // Fail closed by default: PPCIe trusts NVLink, the switches must be attested.
    ExpectStatus(d, kCheckPpcieSwitches, CheckStatus::kFail, reason::kPpcieSwitchEvidenceMissing);
    ExpectStatus(d, kCheckPpcieTopology, CheckStatus::kNotChecked,
                 reason::kPpcieTopologyNotChecked);
  }
  EXPECT_EQ(ueids.size(), 4u);

  NvidiaTrustConfig relaxed = NvidiaTrustConfig::Default();
  relaxed.require_switch_evidence_for_ppcie = false;
  auto v = NvidiaVerifier::Create(relaxed);
  ASSERT_TRUE(v.ok());
  results = VerifyBundle(**v, bundle, test::Unhex(gpus[0].nonce_hex), none);
  ASSERT_TRUE(results.ok());
  for (const DeviceResult& d : *results) {
    ExpectStatus(d, kCheckPpcieSwitches, CheckStatus::kNotChecked,
                 reason::kPpcieSwitchEvidenceMissing);
    EXPECT_FALSE(d.HasFailure()) << test::DescribeChecks(d);
  }
}

// The RIM integration hook sees the verified report.
class RecordingAppraiser : public GpuRimAppraiser {
 public:
  absl::Status Appraise(const VerifiedGpu& gpu, const core::VerifyContext&,
                        core::DeviceResult& device) const override {
    seen.push_back(gpu.driver_version + "|" + gpu.vbios_version + "|" + gpu.project + "|" +
                   gpu.project_sku + "|" + gpu.chip_sku + "|" + gpu.ueid + "|" +
                   std::to_string(gpu.measurements.size()) + "|" +
                   HexEncode(gpu.measurements.at(10)).substr(0, 8) + "|" +
                   (!gpu.nvdec0_enabled      ? "nvdec-missing"
                    : *gpu.nvdec0_enabled ? "nvdec"
                                          : "no-nvdec"));
    device.Pass(kCheckDriverRim, core::Component::kExecutables, "fake");
    device.Pass(kCheckVbiosRim, core::Component::kExecutables, "fake");
    return absl::OkStatus();
  }
  mutable std::vector<std::string> seen;
};

// Issue 10: the device class comes from the verified chain, not the list.
// Before, the real GPU moved into switch_evidence_list was verified as a
// switch: no arch / cc_mode / RIM checks, no failure, and it counted as the
// NVSwitch evidence the PPCIe GPUs need (ppcie_switches passed).
TEST(RealVerify, GpuMovedIntoSwitchListKeepsGpuChecks) {
  std::vector<test::JsonEvidence> gpus;
  auto bundle = PpcieNode(gpus);
  auto* nv = bundle.mutable_nvidia();
  *nv->add_switch_evidence_list() = nv->evidence_list(3);
  nv->mutable_evidence_list()->RemoveLast();
  RecordingAppraiser appraiser;
  NvidiaTrustConfig c = NvidiaTrustConfig::Default();
  c.rim_appraiser = &appraiser;
  auto v = NvidiaVerifier::Create(c);
  ASSERT_TRUE(v.ok());
  test::MapSource none;
  auto results = VerifyBundle(**v, bundle, test::Unhex(gpus[0].nonce_hex), none);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 4u);
  const DeviceResult& moved = (*results)[3];
  EXPECT_EQ(moved.tee, "nvidia-switch");  // named by its list
  ExpectStatus(moved, kCheckDeviceClass, CheckStatus::kFail, reason::kDeviceClassMismatch);
  EXPECT_TRUE(moved.HasFailure());
  // ... and verified as the GPU it is.
  ExpectStatus(moved, kCheckArch, CheckStatus::kPass, "OK");
  ExpectStatus(moved, kCheckOpaqueFields, CheckStatus::kPass, "OK");
  ExpectStatus(moved, kCheckCcMode, CheckStatus::kPass, "OK");
  ExpectStatus(moved, kCheckGpuModes, CheckStatus::kPass, "OK");
  ExpectStatus(moved, kCheckPpcieSwitches, CheckStatus::kFail,
               reason::kPpcieSwitchEvidenceMissing);
  ExpectStatus(moved, kCheckDriverRim, CheckStatus::kPass, "OK");  // the appraiser ran
  EXPECT_EQ(appraiser.seen.size(), 4u);
  EXPECT_EQ(moved.claims["device_class"], "gpu");
  EXPECT_EQ(moved.claims["cc_mode"], "ppcie");
  EXPECT_EQ(moved.claims["arch"], "HOPPER");
  EXPECT_TRUE(moved.evidence_authentic);  // authentic, but in the wrong place
  // The GPUs do not count it as NVSwitch evidence.
  for (size_t i = 0; i < 3; ++i) {
    ExpectStatus((*results)[i], kCheckDeviceClass, CheckStatus::kPass, "OK");
    ExpectStatus((*results)[i], kCheckPpcieSwitches, CheckStatus::kFail,
                 reason::kPpcieSwitchEvidenceMissing);
  }
}

// Issue 10: evidence_authentic only after signature + chain (+ FWID).
TEST(RealVerify, EvidenceAuthenticOnlyWhenSignatureAndChainVerify) {
  const RealVector& r = RealVectors()[0];
  const std::string chain = test::ReadFile(test::DataPath(r.chain));
  test::MapSource none;
  auto good = VerifyBundle(Production(), OneGpu("HOPPER", test::ReadHexReport(r.report), chain),
                           test::Unhex(r.nonce), none);
  ASSERT_TRUE(good.ok());
  EXPECT_TRUE((*good)[0].evidence_authentic);
  // A wrong nonce does not make the evidence forged (the nonce check fails).
  auto wrong_nonce = VerifyBundle(
      Production(), OneGpu("HOPPER", test::ReadHexReport(r.report), chain), Bytes(32, 1), none);
  ASSERT_TRUE(wrong_nonce.ok());
  EXPECT_TRUE((*wrong_nonce)[0].evidence_authentic);
  // Bad signature (real negative vector).
  auto badsig = VerifyBundle(
      Production(),
      OneGpu("HOPPER", test::ReadHexReport("hopper/h100_drv560.00_g520_NEG_badsig_report.hex"),
             chain),
      std::nullopt, none);
  ASSERT_TRUE(badsig.ok());
  ExpectStatus((*badsig)[0], kCheckReportSignature, CheckStatus::kFail, reason::kSignatureInvalid);
  EXPECT_FALSE((*badsig)[0].evidence_authentic);
  // Chain under a root that is not trusted.
  auto other = NvidiaVerifier::Create(NvidiaTrustConfig::ForTest(
      test::ReadFile(test::DataPath("roots/nvidia_corim_signing_root_ca.pem"))));
  ASSERT_TRUE(other.ok());
  auto untrusted = VerifyBundle(**other, OneGpu("HOPPER", test::ReadHexReport(r.report), chain),
                                test::Unhex(r.nonce), none);
  ASSERT_TRUE(untrusted.ok());
  ExpectStatus((*untrusted)[0], kCheckReportSignature, CheckStatus::kPass, "OK");
  EXPECT_FALSE((*untrusted)[0].evidence_authentic);
}

TEST(DeviceClass, FromHwmodel) {
  EXPECT_EQ(DeviceClassFromHwmodel("GH100 A01 GSP BROM"), DeviceClass::kGpu);
  EXPECT_EQ(DeviceClassFromHwmodel("GB100 A01 GSP BROM"), DeviceClass::kGpu);
  EXPECT_EQ(DeviceClassFromHwmodel("GB20X A01 GSP BROM"), DeviceClass::kGpu);
  EXPECT_EQ(DeviceClassFromHwmodel("LS_10 A01 FSP BROM"), DeviceClass::kNvSwitch);
  EXPECT_EQ(DeviceClassFromHwmodel("LS10 A01 FSP BROM"), DeviceClass::kNvSwitch);
  EXPECT_EQ(DeviceClassFromHwmodel(""), std::nullopt);
  EXPECT_EQ(DeviceClassFromHwmodel("LS_100 A01"), std::nullopt);
  EXPECT_EQ(DeviceClassFromHwmodel("GA100 A01 GSP BROM"), std::nullopt);
}

TEST(RealVerify, SameGpuTwiceIsDuplicate) {
  std::vector<test::JsonEvidence> gpus;
  auto bundle = PpcieNode(gpus);
  *bundle.mutable_nvidia()->add_evidence_list() = bundle.nvidia().evidence_list(2);
  test::MapSource none;
  auto results = VerifyBundle(Production(), bundle, test::Unhex(gpus[0].nonce_hex), none);
  ASSERT_TRUE(results.ok());
  ASSERT_EQ(results->size(), 5u);
  ExpectStatus((*results)[0], kCheckUniqueDevice, CheckStatus::kPass, "OK");
  ExpectStatus((*results)[2], kCheckUniqueDevice, CheckStatus::kFail, reason::kDuplicateDevice);
  ExpectStatus((*results)[4], kCheckUniqueDevice, CheckStatus::kFail, reason::kDuplicateDevice);
}

TEST(RealVerify, MixedNoncesWithoutExpectedNonceAreInconsistent) {
  attestation::v1::EvidenceBundle b;
  b.mutable_nvidia()->set_arch("HOPPER");
  for (const RealVector* v : {&RealVectors()[0], &RealVectors()[1]}) {
    auto* e = b.mutable_nvidia()->add_evidence_list();
    e->set_evidence(ToString(test::ReadHexReport(v->report)));
    e->set_certificate(test::ReadFile(test::DataPath(v->chain)));
  }
  test::MapSource none;
  auto results = VerifyBundle(Production(), b, std::nullopt, none);
  ASSERT_TRUE(results.ok());
  EXPECT_EQ(FindCheck((*results)[0], kCheckNonce)->reason, reason::kNonceNotProvided);
  ExpectStatus((*results)[1], kCheckNonce, CheckStatus::kFail, reason::kNonceInconsistent);
}

TEST(RealVerify, NoNvidiaEvidenceGivesNoDevices) {
  test::MapSource none;
  attestation::v1::EvidenceBundle b;
  auto results = VerifyBundle(Production(), b, std::nullopt, none);
  ASSERT_TRUE(results.ok());
  EXPECT_TRUE(results->empty());
}

TEST(TrustConfig, UnpinnedRootIsRefusedOutsideTests) {
  NvidiaTrustConfig c = NvidiaTrustConfig::Default();
  c.device_roots_pem = {test::ReadFile(test::DataPath("roots/nvidia_corim_signing_root_ca.pem"))};
  auto v = NvidiaVerifier::Create(c);
  ASSERT_FALSE(v.ok());
  EXPECT_THAT(std::string(v.status().message()), ::testing::HasSubstr("pin"));
  c.device_roots_pem = {"garbage"};
  EXPECT_FALSE(NvidiaVerifier::Create(c).ok());
}

TEST(TrustConfig, RealChainDoesNotVerifyUnderAnotherRoot) {
  // The CoRIM root in the place of the device root (ForTest: no pin check).
  auto v = NvidiaVerifier::Create(NvidiaTrustConfig::ForTest(
      test::ReadFile(test::DataPath("roots/nvidia_corim_signing_root_ca.pem"))));
  ASSERT_TRUE(v.ok());
  const RealVector& r = RealVectors()[0];
  test::MapSource none;
  auto results = VerifyBundle(
      **v, OneGpu("HOPPER", test::ReadHexReport(r.report), test::ReadFile(test::DataPath(r.chain))),
      test::Unhex(r.nonce), none);
  ASSERT_TRUE(results.ok());
  ExpectStatus((*results)[0], kCheckCertChain, CheckStatus::kFail,
               reason::kCertChainUntrustedRoot);
}


// NVDEC0_STATUS reaches the RIM appraisal as reported: enabled, disabled, or
// absent (nullopt: the appraisal compares index 35 and records
// NVDEC0_STATUS_MISSING). Absent used to read as "disabled", which skips
// index 35: a field the attester can drop must never skip a comparison.
TEST(RimHook, Nvdec0StatusAsReported) {
  const RealVector& r = RealVectors()[0];
  absl::StatusOr<GpuReport> report = ParseGpuReportUnverified(test::ReadHexReport(r.report));
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->opaque.nvdec0_status, kStatusDisabled);
  EXPECT_EQ(DescribeVerifiedGpu(*report, GpuArch::kHopper, false, "", "").nvdec0_enabled, false);
  report->opaque.nvdec0_status = kStatusEnabled;
  EXPECT_EQ(DescribeVerifiedGpu(*report, GpuArch::kHopper, false, "", "").nvdec0_enabled, true);
  report->opaque.nvdec0_status.reset();
  EXPECT_FALSE(
      DescribeVerifiedGpu(*report, GpuArch::kHopper, false, "", "").nvdec0_enabled.has_value());
}

TEST(RimHook, AppraiserGetsVerifiedReport) {
  RecordingAppraiser appraiser;
  NvidiaTrustConfig c = NvidiaTrustConfig::Default();
  c.rim_appraiser = &appraiser;
  auto v = NvidiaVerifier::Create(c);
  ASSERT_TRUE(v.ok());
  const RealVector& r = RealVectors()[0];
  test::MapSource none;
  auto results = VerifyBundle(
      **v, OneGpu("HOPPER", test::ReadHexReport(r.report), test::ReadFile(test::DataPath(r.chain))),
      test::Unhex(r.nonce), none);
  ASSERT_TRUE(results.ok());
  ASSERT_EQ(appraiser.seen.size(), 1u);
  EXPECT_EQ(appraiser.seen[0],
            "550.90.07|96.00.9F.00.01|1010|0200|882|"
            "478176379286082186618948445787393647364802107249|64|059b32e7|no-nvdec");
  ExpectStatus((*results)[0], kCheckDriverRim, CheckStatus::kPass, "OK");
  // Not called for a report whose signature fails.
  appraiser.seen.clear();
  results = VerifyBundle(
      **v,
      OneGpu("HOPPER", test::ReadHexReport("hopper/h100_drv560.00_g520_NEG_badsig_report.hex"),
             test::ReadFile(test::DataPath(r.chain))),
      std::nullopt, none);
  ASSERT_TRUE(results.ok());
  EXPECT_TRUE(appraiser.seen.empty());
  ExpectStatus((*results)[0], kCheckDriverRim, CheckStatus::kNotChecked,
               reason::kPrerequisiteFailed);
}

}  // namespace
}  // namespace rp::nvidia
