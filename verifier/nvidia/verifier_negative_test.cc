// One-change negative tests (STYLE §15): valid GPU evidence from the builder
// under a test root registered with NvidiaTrustConfig::ForTest (the
// production path: simulated = false), one change per row, ONE stable reason
// code on ONE named check.
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/gpu_evidence_builder.h"
#include "verifier/crypto/signature.h"
#include "verifier/crypto/x509.h"
#include "verifier/nvidia/opaque.h"
#include "verifier/nvidia/test_util.h"
#include "verifier/nvidia/verifier.h"

namespace rp::nvidia {
namespace {

using core::CheckStatus;
using core::DeviceResult;
using testing::GpuDeviceOptions;
using testing::GpuReportBuilder;
using testing::GpuTestDevice;
using testing::GpuTestPki;
namespace ot = opaque_type;

template <typename T>
T& OrDie(absl::StatusOr<T>& v, const char* what) {
  if (!v.ok()) {
    std::cerr << what << ": " << v.status() << "\n";
    std::abort();
  }
  return *v;
}

const GpuTestPki& Pki() {
  static auto* pki = new absl::StatusOr<GpuTestPki>(testing::MakeGpuTestPki({}));
  return OrDie(*pki, "MakeGpuTestPki");
}

// Same names, other keys: a look-alike hierarchy nobody trusts.
const GpuTestPki& ForeignPki() {
  static auto* pki = new absl::StatusOr<GpuTestPki>(testing::MakeGpuTestPki({}));
  return OrDie(*pki, "MakeGpuTestPki(foreign)");
}

// Certificates that expired in 2025.
const GpuTestPki& ExpiredPki() {
  static auto* pki = new absl::StatusOr<GpuTestPki>([] {
    testing::GpuPkiOptions o;
    o.not_after = absl::FromUnixSeconds(1740000000);  // 2025-02-19
    return testing::MakeGpuTestPki(o);
  }());
  return OrDie(*pki, "MakeGpuTestPki(expired)");
}

const NvidiaVerifier& TestVerifier() {
  static auto* v = [] {
    NvidiaTrustConfig c = NvidiaTrustConfig::ForTest(Pki().RootPem());
    c.device_roots_pem.push_back(ExpiredPki().RootPem());
    auto created = NvidiaVerifier::Create(c);
    return OrDie(created, "Create").release();
  }();
  return *v;
}

absl::Time At() { return test::VectorTime(); }

struct Env {
  GpuReportBuilder report;
  GpuDeviceOptions device;
  const GpuTestPki* pki = &Pki();
  std::string arch = "HOPPER";
  std::optional<Bytes> expected_nonce;  // default: the builder's nonce
  bool no_expected_nonce = false;
  std::function<void(Bytes&)> after_signing;
  bool sign_with_other_key = false;
  // Replaces the PEM chain (gets the valid one).
  std::function<std::string(const std::string&, const GpuTestPki&, const GpuTestDevice&)> chain;
  int copies = 1;  // the same evidence entry this many times
  // A second, distinct GPU (own serials) built from this edit.
  std::function<void(GpuReportBuilder&)> second_gpu;
  bool empty_evidence = false;
  int switches = 0;  // NVSwitch entries (distinct LS10 devices, PPCIe report)
  std::function<void(Bytes&)> switch_after_signing;
  std::function<void(GpuReportBuilder&)> switch_report;  // edits every switch report
  // The switch_evidence_list entries are GPUs (GPU certificates, GPU report).
  bool switches_are_gpus = false;
  // The main entry goes to switch_evidence_list instead of evidence_list.
  bool gpu_in_switch_list = false;
};

struct Case {
  std::string name;
  std::function<void(Env&)> change;
  std::string check;
  CheckStatus status = CheckStatus::kFail;
  std::string reason;
  size_t device = 0;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name << " -> " << c.reason; }

absl::StatusOr<std::pair<Bytes, std::string>> MakeEntry(const Env& env,
                                                        const GpuReportBuilder& report,
                                                        const GpuDeviceOptions& device) {
  absl::StatusOr<GpuTestDevice> dev = testing::MakeGpuTestDevice(*env.pki, device);
  if (!dev.ok()) return dev.status();
  crypto::OpensslPtr<EVP_PKEY> other;
  const EVP_PKEY* key = dev->leaf.key.get();
  if (env.sign_with_other_key || crypto::EcCurveName(key) != std::string_view("P-384")) {
    absl::StatusOr<crypto::OpensslPtr<EVP_PKEY>> k = testing::MakeKey(testing::KeyType::kEcP384);
    if (!k.ok()) return k.status();
    other = *std::move(k);
    key = other.get();
  }
  absl::StatusOr<Bytes> signed_report = report.BuildSigned(key);
  if (!signed_report.ok()) return signed_report.status();
  if (env.after_signing) env.after_signing(*signed_report);
  std::string pem = testing::GpuChainPem(*env.pki, *dev);
  if (env.chain) pem = env.chain(pem, *env.pki, *dev);
  return std::make_pair(*std::move(signed_report), pem);
}

absl::StatusOr<std::vector<DeviceResult>> RunEnv(Env& env,
                                                 const NvidiaVerifier& v = TestVerifier()) {
  attestation::v1::EvidenceBundle b;
  b.mutable_nvidia()->set_arch(env.arch);
  absl::StatusOr<std::pair<Bytes, std::string>> first = MakeEntry(env, env.report, env.device);
  if (!first.ok()) return first.status();
  for (int i = 0; i < env.copies; ++i) {
    auto* e = env.gpu_in_switch_list ? b.mutable_nvidia()->add_switch_evidence_list()
                                     : b.mutable_nvidia()->add_evidence_list();
    if (!env.empty_evidence) e->set_evidence(ToString(first->first));
    e->set_certificate(first->second);
  }
  if (env.second_gpu) {
    GpuReportBuilder second;
    env.second_gpu(second);
    GpuDeviceOptions opts;
    opts.brom_serial = {0x41, 0xE2, 0x3D, 0x02};
    opts.leaf_serial = {0x53, 0xC2, 0x2B, 0xA2};
    Env plain;
    plain.pki = env.pki;
    absl::StatusOr<std::pair<Bytes, std::string>> e2 = MakeEntry(plain, second, opts);
    if (!e2.ok()) return e2.status();
    auto* e = b.mutable_nvidia()->add_evidence_list();
    e->set_evidence(ToString(e2->first));
    e->set_certificate(e2->second);
  }
  for (int i = 0; i < env.switches; ++i) {
    GpuDeviceOptions opts;
    opts.brom_serial = {0x61, static_cast<uint8_t>(i)};
    opts.leaf_serial = {0x71, static_cast<uint8_t>(i)};
    opts.nvswitch = !env.switches_are_gpus;
    Env plain;
    plain.pki = env.pki;
    plain.after_signing = env.switch_after_signing;
    GpuReportBuilder sw;
    sw.nonce = env.report.nonce;
    if (opts.nvswitch) {
      // An NVSwitch in PPCIe mode: no driver, PROTECTED_PCIE_STATUS on.
      sw.RemoveOpaque(ot::kDriverVersion);
      sw.SetOpaque(ot::kProtectedPcieStatus, {kStatusEnabled});
    }
    if (env.switch_report) env.switch_report(sw);
    absl::StatusOr<std::pair<Bytes, std::string>> e2 = MakeEntry(plain, sw, opts);
    if (!e2.ok()) return e2.status();
    auto* e = b.mutable_nvidia()->add_switch_evidence_list();
    e->set_evidence(ToString(e2->first));
    e->set_certificate(e2->second);
  }
  test::MapSource none;
  std::optional<Bytes> nonce;
  if (!env.no_expected_nonce) {
    nonce = env.expected_nonce.value_or(Bytes(env.report.nonce.begin(), env.report.nonce.end()));
  }
  core::VerifyContext ctx{At(), &none, nonce};
  return v.Verify(b, ctx);
}

TEST(GpuBaseline, ValidEvidencePassesEveryCheck) {
  Env env;
  auto results = RunEnv(env);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 1u);
  const DeviceResult& d = (*results)[0];
  EXPECT_FALSE(d.HasFailure()) << test::DescribeChecks(d);
  EXPECT_FALSE(d.simulated);
  for (const char* check : {kCheckArch, kCheckReportFormat, kCheckCertChain, kCheckReportSignature,
                            kCheckFwid, kCheckNonce, kCheckOpaqueFields, kCheckCcMode,
                            kCheckUniqueDevice}) {
    const core::Check* c = test::FindCheck(d, check);
    ASSERT_NE(c, nullptr) << check;
    EXPECT_EQ(c->status, CheckStatus::kPass) << check << " " << c->detail;
  }
  EXPECT_EQ(d.claims["ueid"], "1405234081");  // 0x53C22BA1
  EXPECT_EQ(d.claims["hwmodel"], "GH100 A01 GSP BROM");
  EXPECT_EQ(d.claims["cc_mode"], "cc");
}

// Issue 10: a real NVSwitch (LS_10 certificate) keeps switch treatment, and
// what it does not get checked is recorded as not-checked, never absent.
// (Before: no .device_class, no .cc_mode, no cc_mode claim, no RIM check.)
TEST(GpuBaseline, SwitchEvidenceIsVerifiedAsSwitch) {
  Env env;
  env.switches = 2;
  auto results = RunEnv(env);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 3u);
  EXPECT_EQ((*results)[0].claims["device_class"], "gpu");
  for (size_t i = 1; i < 3; ++i) {
    const DeviceResult& d = (*results)[i];
    EXPECT_EQ(d.tee, "nvidia-switch");
    EXPECT_FALSE(d.HasFailure()) << test::DescribeChecks(d);
    for (const char* check : {kCheckReportFormat, kCheckCertChain, kCheckDeviceClass,
                              kCheckReportSignature, kCheckFwid, kCheckNonce, kCheckOpaqueFields,
                              kCheckCcMode, kCheckUniqueDevice}) {
      const core::Check* c = test::FindCheck(d, check);
      ASSERT_NE(c, nullptr) << check;
      EXPECT_EQ(c->status, CheckStatus::kPass) << check << " " << c->detail;
    }
    // GPU-only checks: no bundle arch, no driver RIM, no GPU mode set.
    EXPECT_EQ(test::FindCheck(d, kCheckArch), nullptr);
    EXPECT_EQ(test::FindCheck(d, kCheckDriverRim), nullptr);
    EXPECT_EQ(test::FindCheck(d, kCheckGpuModes), nullptr);
    // No switch RIM appraisal: not-checked with its reason.
    const core::Check* rim = test::FindCheck(d, kCheckVbiosRim);
    ASSERT_NE(rim, nullptr) << test::DescribeChecks(d);
    EXPECT_EQ(rim->status, CheckStatus::kNotChecked);
    EXPECT_EQ(rim->reason, reason::kSwitchRimNotSupported);
    EXPECT_EQ(d.claims["cc_mode"], "ppcie");
    EXPECT_EQ(d.claims["device_class"], "nvswitch");
    EXPECT_EQ(d.claims["hwmodel"], "LS_10 A01 FSP BROM");
    EXPECT_TRUE(d.claims["measurements_match"].is_null());
    EXPECT_TRUE(d.claims["driver_version"].is_null());
    EXPECT_EQ(d.claims["vbios_version"], "96.00.9F.00.01");
    EXPECT_TRUE(d.evidence_authentic);
  }
}

// Issue 10: a GPU report placed in switch_evidence_list gets every GPU check
// (here: a GPU whose mode is not a CC mode). Before, it was verified as a
// switch: no .cc_mode, no .arch, no RIM check, and no failure at all.
TEST(GpuBaseline, GpuInSwitchListGetsGpuChecks) {
  Env env;
  env.gpu_in_switch_list = true;
  env.report.SetOpaque(ot::kOpaqueDataVersion, {1, 0});
  env.report.SetOpaque(ot::kFeatureFlag, {0xFF, 0});  // not SPT / MPT / PPCIe
  auto results = RunEnv(env);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 1u);
  const DeviceResult& d = (*results)[0];
  EXPECT_EQ(d.tee, "nvidia-switch");
  EXPECT_TRUE(d.HasFailure());
  auto expect = [&](const char* check, CheckStatus status, const std::string& why) {
    const core::Check* c = test::FindCheck(d, check);
    ASSERT_NE(c, nullptr) << check << "\n" << test::DescribeChecks(d);
    EXPECT_EQ(c->status, status) << check << " " << c->detail;
    EXPECT_EQ(c->reason, why) << check << " " << c->detail;
  };
  expect(kCheckDeviceClass, CheckStatus::kFail, reason::kDeviceClassMismatch);
  expect(kCheckArch, CheckStatus::kPass, "OK");
  expect(kCheckOpaqueFields, CheckStatus::kPass, "OK");
  expect(kCheckCcMode, CheckStatus::kFail, reason::kCcModeUnknown);
  expect(kCheckDriverRim, CheckStatus::kNotChecked, reason::kRimNotIntegrated);
  expect(kCheckVbiosRim, CheckStatus::kNotChecked, reason::kRimNotIntegrated);
  EXPECT_EQ(d.claims["arch"], "HOPPER");
  EXPECT_TRUE(d.claims["cc_mode"].is_null());
  EXPECT_EQ(d.claims["device_class"], "gpu");
}

// Issue 10: evidence_authentic is set only after signature and chain (and
// FWID) verified; before it was never set.
// A certificate whose OCSP request cannot be built fails cert_ocsp, whatever
// the soft-fail policy says. The verifier only asks for certificates of a
// verified chain, for which BuildOcspRequest fails only on an OpenSSL
// failure; the API is reached here with a path whose root is null.
TEST(GpuOcspRequest, RequestThatCannotBeBuiltFails) {
  absl::StatusOr<GpuTestDevice> dev = testing::MakeGpuTestDevice(Pki(), {});
  ASSERT_TRUE(dev.ok()) << dev.status();
  const X509* path[] = {dev->leaf.cert.get(), dev->brom.cert.get(), Pki().provisioner.cert.get(),
                        Pki().identity.cert.get(), nullptr};
  GpuOcspSettings settings;
  settings.policy.soft_fail_unreachable = true;
  test::MapSource none;
  core::VerifyContext ctx{At(), &none, std::nullopt};
  const std::vector<CertOcspOutcome> out = CheckChainOcsp(path, settings, ctx);
  ASSERT_EQ(out.size(), 3u);
  const CertOcspOutcome& identity = out.back();  // index 3: its issuer is the null root
  EXPECT_EQ(identity.index, 3u);
  EXPECT_EQ(identity.status, "invalid");
  EXPECT_EQ(identity.reason, "OCSP_REQUEST_FAILED");
  EXPECT_EQ(identity.check, CheckStatus::kFail);
  EXPECT_EQ(out[0].reason, "OCSP_NOT_CONFIGURED");
}

TEST(GpuBaseline, EvidenceAuthenticOnlyAfterSignatureAndChain) {
  struct Row {
    const char* name;
    std::function<void(Env&)> change;
    bool authentic;
  };
  const std::vector<Row> rows = {
      {"valid", [](Env&) {}, true},
      {"no expected nonce", [](Env& e) { e.no_expected_nonce = true; }, true},
      {"nvswitch in its list", [](Env& e) { e.gpu_in_switch_list = true; e.device.nvswitch = true; },
       true},
      {"signature byte flipped",
       [](Env& e) { e.after_signing = [](Bytes& b) { b.back() ^= 1; }; }, false},
      {"signed by another key", [](Env& e) { e.sign_with_other_key = true; }, false},
      {"look-alike root", [](Env& e) { e.pki = &ForeignPki(); }, false},
      {"expired chain", [](Env& e) { e.pki = &ExpiredPki(); }, false},
      {"FWID mismatch", [](Env& e) { e.device.fwid = Bytes(kFwidSize, 0x11); }, false},
      {"leaf without FWID extension", [](Env& e) { e.device.fwid_extension = false; }, false},
      {"report does not parse", [](Env& e) { e.after_signing = [](Bytes& b) { b.push_back(0); }; },
       false},
  };
  for (const Row& row : rows) {
    Env env;
    row.change(env);
    auto results = RunEnv(env);
    ASSERT_TRUE(results.ok()) << row.name << ": " << results.status();
    EXPECT_EQ((*results)[0].evidence_authentic, row.authentic)
        << row.name << "\n" << test::DescribeChecks((*results)[0]);
  }
}

TEST(GpuBaseline, BlackwellChainAndExtension) {
  static auto* pki = new absl::StatusOr<GpuTestPki>([] {
    testing::GpuPkiOptions o;
    o.arch = GpuArch::kBlackwell;
    return testing::MakeGpuTestPki(o);
  }());
  const GpuTestPki& bw = OrDie(*pki, "blackwell pki");
  auto v = NvidiaVerifier::Create(NvidiaTrustConfig::ForTest(bw.RootPem()));
  ASSERT_TRUE(v.ok());
  Env env;
  env.pki = &bw;
  env.arch = "BLACKWELL";
  auto results = RunEnv(env, **v);
  ASSERT_TRUE(results.ok()) << results.status();
  const DeviceResult& d = (*results)[0];
  EXPECT_FALSE(d.HasFailure()) << test::DescribeChecks(d);
  EXPECT_EQ(d.claims["hwmodel"], "GB100 A01 GSP BROM");
  EXPECT_NE(test::FindCheck(d, kCheckFwid)->detail.find("2.23.133.5.4.1.1"), std::string::npos);
}

TEST(GpuBaseline, SimulationRootMarksResultSimulated) {
  NvidiaTrustConfig c = NvidiaTrustConfig::Default();
  c.simulation_roots_pem = {Pki().RootPem()};
  auto v = NvidiaVerifier::Create(c);
  ASSERT_TRUE(v.ok()) << v.status();
  Env env;
  auto results = RunEnv(env, **v);
  ASSERT_TRUE(results.ok());
  const DeviceResult& d = (*results)[0];
  EXPECT_TRUE(d.simulated);
  EXPECT_FALSE(d.HasFailure()) << test::DescribeChecks(d);
  EXPECT_NE(test::FindCheck(d, kCheckCertChain)->detail.find("SIMULATION"), std::string::npos);
  // The production configuration refuses the simulated device.
  auto prod = NvidiaVerifier::Create(NvidiaTrustConfig::Default());
  ASSERT_TRUE(prod.ok());
  Env env2;
  results = RunEnv(env2, **prod);
  ASSERT_TRUE(results.ok());
  EXPECT_EQ(test::FindCheck((*results)[0], kCheckCertChain)->reason,
            reason::kCertChainUntrustedRoot);
}

std::vector<std::string> SplitPem(const std::string& pem) {
  std::vector<std::string> out;
  const std::string end = "-----END CERTIFICATE-----\n";
  size_t start = 0;
  while (true) {
    const size_t e = pem.find(end, start);
    if (e == std::string::npos) break;
    out.push_back(pem.substr(start, e + end.size() - start));
    start = e + end.size();
  }
  return out;
}

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += p;
  return out;
}

const std::vector<Bytes>& FourPdis() {
  static const auto* p = new std::vector<Bytes>{
      test::Unhex("77e911d843b7533a"), test::Unhex("7532679ebabee39a"),
      test::Unhex("8abd113c3ba2db03"), test::Unhex("0aae42a1b8d8837d")};
  return *p;
}

const std::vector<Case>& Cases() {
  static const auto* cases = new std::vector<Case>{
      // Report signature.
      {"SignatureByteFlipped", [](Env& e) { e.after_signing = [](Bytes& b) { b.back() ^= 1; }; },
       kCheckReportSignature, CheckStatus::kFail, reason::kSignatureInvalid},
      {"SignedByAnotherKey", [](Env& e) { e.sign_with_other_key = true; }, kCheckReportSignature,
       CheckStatus::kFail, reason::kSignatureInvalid},
      {"MeasurementChangedAfterSigning",
       // Byte 200 is inside block 3's value.
       [](Env& e) { e.after_signing = [](Bytes& b) { b[200] ^= 0x01; }; }, kCheckReportSignature,
       CheckStatus::kFail, reason::kSignatureInvalid},
      {"RequesterNonceChangedAfterSigning",
       [](Env& e) {
         e.after_signing = [](Bytes& b) { b[4] ^= 0x80; };
         e.no_expected_nonce = true;
       },
       kCheckReportSignature, CheckStatus::kFail, reason::kSignatureInvalid},
      {"LeafKeyIsP256", [](Env& e) { e.device.leaf_key = testing::KeyType::kEcP256; },
       kCheckReportSignature, CheckStatus::kFail, reason::kLeafKeyInvalid},
      // Nonce.
      {"ExpectedNonceOneByteDifferent",
       [](Env& e) {
         Bytes n(e.report.nonce.begin(), e.report.nonce.end());
         n[31] ^= 1;
         e.expected_nonce = n;
       },
       kCheckNonce, CheckStatus::kFail, reason::kNonceMismatch},
      {"NoExpectedNonce", [](Env& e) { e.no_expected_nonce = true; }, kCheckNonce,
       CheckStatus::kNotChecked, reason::kNonceNotProvided},
      // FWID.
      {"ReportFwidDiffers", [](Env& e) { e.device.fwid = Bytes(kFwidSize, 0x11); }, kCheckFwid,
       CheckStatus::kFail, reason::kFwidMismatch},
      {"LeafWithoutFwidExtension", [](Env& e) { e.device.fwid_extension = false; }, kCheckFwid,
       CheckStatus::kFail, reason::kFwidCertMissing},
      {"ReportWithoutFwid", [](Env& e) { e.report.RemoveOpaque(ot::kFwid); }, kCheckFwid,
       CheckStatus::kNotChecked, reason::kFwidNotReported},
      {"LeafFwidExtensionEmptySequence",
       // The 2.23.133.5.4.1 extension is there but holds an empty SEQUENCE.
       [](Env& e) { e.device.fwid_extension_value = Bytes{0x30, 0x00}; }, kCheckFwid,
       CheckStatus::kFail, reason::kFwidCertMalformed},
      {"LeafFwidExtensionTruncated",
       // A well-formed extension value cut one byte short.
       [](Env& e) {
         absl::StatusOr<crypto::OpensslPtr<EVP_PKEY>> k =
             testing::MakeKey(testing::KeyType::kEcP384);
         absl::StatusOr<Bytes> ext =
             testing::HopperFwidExtension(OrDie(k, "key").get(), Bytes(kFwidSize, 0x5A));
         Bytes cut = OrDie(ext, "HopperFwidExtension");
         cut.pop_back();
         e.device.fwid_extension_value = cut;
       },
       kCheckFwid, CheckStatus::kFail, reason::kFwidCertMalformed},
      // Architecture.
      {"BundleArchBlackwellForHopperChain", [](Env& e) { e.arch = "BLACKWELL"; }, kCheckArch,
       CheckStatus::kFail, reason::kArchMismatch},
      {"BundleArchUnknown", [](Env& e) { e.arch = "AMPERE"; }, kCheckArch, CheckStatus::kFail,
       reason::kArchUnsupported},
      {"LeafCarriesBlackwellFwidExtension", [](Env& e) { e.device.wrong_fwid_extension = true; },
       kCheckArch, CheckStatus::kFail, reason::kArchMismatch},
      // Chain.
      {"ChainMissingProvisioner",
       [](Env& e) {
         e.chain = [](const std::string& pem, const GpuTestPki&, const GpuTestDevice&) {
           auto p = SplitPem(pem);
           p.erase(p.begin() + 2);
           return Join(p);
         };
       },
       kCheckCertChain, CheckStatus::kFail, reason::kCertChainLength},
      {"ChainWithExtraCertificate",
       [](Env& e) {
         e.chain = [](const std::string& pem, const GpuTestPki&, const GpuTestDevice&) {
           auto p = SplitPem(pem);
           p.push_back(p.back());
           return Join(p);
         };
       },
       kCheckCertChain, CheckStatus::kFail, reason::kCertChainLength},
      {"ChainOutOfOrder",
       [](Env& e) {
         e.chain = [](const std::string& pem, const GpuTestPki&, const GpuTestDevice&) {
           auto p = SplitPem(pem);
           std::swap(p[2], p[3]);
           return Join(p);
         };
       },
       kCheckCertChain, CheckStatus::kFail, reason::kCertChainInvalid},
      {"ChainUnderLookAlikeRoot", [](Env& e) { e.pki = &ForeignPki(); }, kCheckCertChain,
       CheckStatus::kFail, reason::kCertChainUntrustedRoot},
      {"ChainExpired", [](Env& e) { e.pki = &ExpiredPki(); }, kCheckCertChain, CheckStatus::kFail,
       reason::kCertExpired},
      {"ChainEmpty",
       [](Env& e) {
         e.chain = [](const std::string&, const GpuTestPki&, const GpuTestDevice&) {
           return std::string();
         };
       },
       kCheckCertChain, CheckStatus::kFail, reason::kCertChainLength},
      {"ChainGarbage",
       [](Env& e) {
         e.chain = [](const std::string&, const GpuTestPki&, const GpuTestDevice&) {
           return std::string("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
         };
       },
       kCheckCertChain, CheckStatus::kFail, reason::kCertChainMalformed},
      // Report structure.
      {"EmptyEvidence", [](Env& e) { e.empty_evidence = true; }, kCheckReportFormat,
       CheckStatus::kFail, reason::kEvidenceEmpty},
      {"TrailingByteAfterSignature", [](Env& e) { e.after_signing = [](Bytes& b) { b.push_back(0); }; },
       kCheckReportFormat, CheckStatus::kFail, "REPORT_TRAILING_BYTES"},
      {"ResponseSpdm12", [](Env& e) { e.report.response_version = 0x12; }, kCheckReportFormat,
       CheckStatus::kFail, "SPDM_VERSION_UNSUPPORTED"},
      {"DuplicateMeasurementIndex", [](Env& e) { e.report.blocks[5].index = 3; },
       kCheckReportFormat, CheckStatus::kFail, "MEASUREMENT_INDEX_DUPLICATE"},
      {"NonDmtfMeasurementBlocks", [](Env& e) { e.report.measurement_spec = 0x02; },
       kCheckReportFormat, CheckStatus::kFail, "MEASUREMENT_BLOCK_INVALID"},
      {"BlockCountTooHigh", [](Env& e) { e.report.number_of_blocks_override = 65; },
       kCheckReportFormat, CheckStatus::kFail, "MEASUREMENT_BLOCK_INVALID"},
      {"DuplicateOpaqueDriverVersion",
       [](Env& e) {
         e.report.opaque.push_back({ot::kDriverVersion, testing::PaddedText("999.0", 6)});
       },
       kCheckReportFormat, CheckStatus::kFail, "OPAQUE_FIELD_DUPLICATE"},
      {"OpaqueDataVersion2", [](Env& e) { e.report.SetOpaque(ot::kOpaqueDataVersion, {2, 0}); },
       kCheckReportFormat, CheckStatus::kFail, "OPAQUE_VERSION_UNSUPPORTED"},
      {"Nvdec0StatusInvalid", [](Env& e) { e.report.SetOpaque(ot::kNvdec0Status, {0x12}); },
       kCheckReportFormat, CheckStatus::kFail, "OPAQUE_MALFORMED"},
      {"MissingDriverVersion", [](Env& e) { e.report.RemoveOpaque(ot::kDriverVersion); },
       kCheckOpaqueFields, CheckStatus::kFail, reason::kOpaqueFieldMissing},
      {"MissingVbiosVersion", [](Env& e) { e.report.RemoveOpaque(ot::kVbiosVersion); },
       kCheckOpaqueFields, CheckStatus::kFail, reason::kOpaqueFieldMissing},
      {"MissingNvdec0Status", [](Env& e) { e.report.RemoveOpaque(ot::kNvdec0Status); },
       kCheckOpaqueFields, CheckStatus::kFail, reason::kOpaqueFieldMissing},
      // Mode.
      {"FeatureFlagUnknown",
       [](Env& e) {
         e.report.SetOpaque(ot::kOpaqueDataVersion, {1, 0});
         e.report.SetOpaque(ot::kFeatureFlag, {7, 0});
       },
       kCheckCcMode, CheckStatus::kFail, reason::kCcModeUnknown},
      {"PpcieStatusWithSptFlag",
       [](Env& e) {
         e.report.SetOpaque(ot::kOpaqueDataVersion, {1, 0});
         e.report.SetOpaque(ot::kFeatureFlag, {0, 0});
         e.report.SetOpaque(ot::kProtectedPcieStatus, {kStatusEnabled});
       },
       kCheckCcMode, CheckStatus::kFail, reason::kCcModeInconsistent},
      {"PpcieFlagWithPpcieOff",
       [](Env& e) {
         e.report.SetPpcie(FourPdis());
         e.report.SetOpaque(ot::kProtectedPcieStatus, {kStatusDisabled});
       },
       kCheckCcMode, CheckStatus::kFail, reason::kCcModeInconsistent},
      {"PpcieWithoutSwitchEvidence", [](Env& e) { e.report.SetPpcie(FourPdis()); },
       kCheckPpcieSwitches, CheckStatus::kFail, reason::kPpcieSwitchEvidenceMissing},
      {"PpcieWithoutSwitchPdis",
       [](Env& e) {
         e.report.SetPpcie(FourPdis());
         e.report.RemoveOpaque(ot::kSwitchPdi);
       },
       kCheckPpcieTopology, CheckStatus::kFail, reason::kPpcieTopologyMismatch},
      {"PpcieGpusSeeDifferentSwitches",
       [](Env& e) {
         e.report.SetPpcie(FourPdis());
         e.second_gpu = [](GpuReportBuilder& r) {
           auto pdis = FourPdis();
           pdis[3] = test::Unhex("0102030405060708");
           r.SetPpcie(pdis);
         };
       },
       kCheckPpcieTopology, CheckStatus::kFail, reason::kPpcieTopologyMismatch},
      {"MixedSptAndMpt",
       [](Env& e) {
         e.report.SetOpaque(ot::kOpaqueDataVersion, {1, 0});
         e.report.SetOpaque(ot::kFeatureFlag, {0, 0});
         e.second_gpu = [](GpuReportBuilder& r) {
           r.SetOpaque(ot::kOpaqueDataVersion, {1, 0});
           r.SetOpaque(ot::kFeatureFlag, {1, 0});
         };
       },
       kCheckGpuModes, CheckStatus::kFail, reason::kMixedGpuModes},
      {"MixedCcAndPpcie",
       [](Env& e) { e.second_gpu = [](GpuReportBuilder& r) { r.SetPpcie(FourPdis()); }; },
       kCheckGpuModes, CheckStatus::kFail, reason::kMixedGpuModes, 1},
      // Node.
      {"PpcieWithSwitchEvidence",
       [](Env& e) {
         e.report.SetPpcie(FourPdis());
         e.switches = 4;
       },
       kCheckPpcieSwitches, CheckStatus::kPass, "OK"},
      {"FiveSwitches", [](Env& e) { e.switches = 5; }, kCheckDeviceCount, CheckStatus::kFail,
       reason::kTooManyDevices},
      // Device class (issue 10): from the verified chain, not the list.
      {"GpuEvidenceInSwitchList", [](Env& e) { e.gpu_in_switch_list = true; },
       kCheckDeviceClass, CheckStatus::kFail, reason::kDeviceClassMismatch},
      {"GpuEvidenceInSwitchListStillGetsArchCheck",
       [](Env& e) {
         e.gpu_in_switch_list = true;
         e.arch = "BLACKWELL";
       },
       kCheckArch, CheckStatus::kFail, reason::kArchMismatch},
      {"SwitchEvidenceInGpuList", [](Env& e) { e.device.nvswitch = true; }, kCheckDeviceClass,
       CheckStatus::kFail, reason::kDeviceClassMismatch},
      {"AmpereDeviceUnderTrustedRoot",
       // A chain that verifies to the trusted root, but its BROM names a
       // device of neither known class (an A100).
       [](Env& e) { e.device.name_prefix = "GA100 A01 GSP"; }, kCheckDeviceClass,
       CheckStatus::kFail, reason::kDeviceClassUnknown},
      {"AmpereDeviceInSwitchList",
       [](Env& e) {
         e.device.name_prefix = "GA100 A01 GSP";
         e.gpu_in_switch_list = true;
       },
       kCheckDeviceClass, CheckStatus::kFail, reason::kDeviceClassUnknown},
      {"GpuCertificatesInSwitchList",
       [](Env& e) {
         e.switches = 1;
         e.switches_are_gpus = true;
       },
       kCheckDeviceClass, CheckStatus::kFail, reason::kDeviceClassMismatch, 1},
      {"PpcieWithGpusAsSwitchEvidence",
       [](Env& e) {
         e.report.SetPpcie(FourPdis());
         e.switches = 4;
         e.switches_are_gpus = true;
       },
       kCheckPpcieSwitches, CheckStatus::kFail, reason::kPpcieSwitchEvidenceMissing},
      {"SwitchWithoutPpcieStatus",
       [](Env& e) {
         e.switches = 1;
         e.switch_report = [](GpuReportBuilder& r) { r.RemoveOpaque(ot::kProtectedPcieStatus); };
       },
       kCheckCcMode, CheckStatus::kNotChecked, reason::kSwitchModeNotReported, 1},
      {"SwitchPpcieOff",
       [](Env& e) {
         e.switches = 1;
         e.switch_report = [](GpuReportBuilder& r) {
           r.SetOpaque(ot::kProtectedPcieStatus, {kStatusDisabled});
         };
       },
       kCheckCcMode, CheckStatus::kFail, reason::kCcModeOff, 1},
      {"SwitchFeatureFlagSpt",
       [](Env& e) {
         e.switches = 1;
         e.switch_report = [](GpuReportBuilder& r) {
           r.SetOpaque(ot::kOpaqueDataVersion, {1, 0});
           r.SetOpaque(ot::kFeatureFlag, {0, 0});
         };
       },
       kCheckCcMode, CheckStatus::kFail, reason::kCcModeInconsistent, 1},
      {"SwitchWithoutBiosVersion",
       [](Env& e) {
         e.switches = 1;
         e.switch_report = [](GpuReportBuilder& r) { r.RemoveOpaque(ot::kVbiosVersion); };
       },
       kCheckOpaqueFields, CheckStatus::kFail, reason::kOpaqueFieldMissing, 1},
      {"SwitchRimNotAppraised", [](Env& e) { e.switches = 1; }, kCheckVbiosRim,
       CheckStatus::kNotChecked, reason::kSwitchRimNotSupported, 1},
      {"SwitchSignatureByteFlipped",
       [](Env& e) {
         e.switches = 1;
         e.switch_after_signing = [](Bytes& b) { b.back() ^= 1; };
       },
       kCheckReportSignature, CheckStatus::kFail, reason::kSignatureInvalid, 1},
      {"SameGpuTwice", [](Env& e) { e.copies = 2; }, kCheckUniqueDevice, CheckStatus::kFail,
       reason::kDuplicateDevice, 1},
      {"NineGpus", [](Env& e) { e.copies = 9; }, kCheckDeviceCount, CheckStatus::kFail,
       reason::kTooManyDevices},
      {"SecondGpuWithOtherNonceWithoutExpectedNonce",
       [](Env& e) {
         e.no_expected_nonce = true;
         e.second_gpu = [](GpuReportBuilder& r) { r.nonce[0] ^= 1; };
       },
       kCheckNonce, CheckStatus::kFail, reason::kNonceInconsistent, 1},
  };
  return *cases;
}

class GpuNegativeTest : public ::testing::TestWithParam<Case> {};

TEST_P(GpuNegativeTest, OneChangeOneReason) {
  const Case& c = GetParam();
  Env env;
  c.change(env);
  auto results = RunEnv(env);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_GT(results->size(), c.device);
  const DeviceResult& d = (*results)[c.device];
  const core::Check* check = test::FindCheck(d, c.check);
  ASSERT_NE(check, nullptr) << c.check << "\n" << test::DescribeChecks(d);
  EXPECT_EQ(check->status, c.status) << test::DescribeChecks(d);
  EXPECT_EQ(check->reason, c.reason) << test::DescribeChecks(d);
  if (c.status == CheckStatus::kFail) {
    EXPECT_TRUE(d.HasFailure());
  }
}

INSTANTIATE_TEST_SUITE_P(Rows, GpuNegativeTest, ::testing::ValuesIn(Cases()),
                         [](const auto& p) { return p.param.name; });

TEST(GpuNegative, AtLeast25FailingRows) {
  int fails = 0;
  for (const Case& c : Cases()) fails += c.status == CheckStatus::kFail ? 1 : 0;
  EXPECT_GE(fails, 25);
}

}  // namespace
}  // namespace rp::nvidia
