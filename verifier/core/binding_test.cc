#include "verifier/core/binding.h"

#include "gtest/gtest.h"
#include "verifier/common/encoding.h"

namespace rp::core {
namespace {

// RFC 7638 §3.1 example key (thumbprint NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs).
attestation::v1::Jwk Rfc7638Key() {
  attestation::v1::Jwk k;
  k.set_kty("RSA");
  k.set_e("AQAB");
  k.set_n(
      "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"
      "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_"
      "FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-"
      "bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw");
  return k;
}

Bytes Nonce() {
  Bytes n(32);
  for (size_t i = 0; i < n.size(); ++i) n[i] = static_cast<uint8_t>(i);
  return n;
}

// Known answers computed independently (Python hashlib) from the rule text.
TEST(Binding, AttestV1KnownAnswerNoGpu) {
  auto rd = ExpectedAttestV1ReportData(Nonce(), Rfc7638Key(), {});
  ASSERT_TRUE(rd.ok()) << rd.status();
  EXPECT_EQ(HexEncode(*rd),
            "6eb68232210d529538f2616499f2816c4d765561d80b9e0e281fdf80b8209648f6118b26dc3f846fe96"
            "cb14d34a06250fc27d4ebe8801c2c4b9b5289a9f2240a");
}

TEST(Binding, AttestV1KnownAnswerTwoGpus) {
  std::string g0 = "gpu-report-0", g1 = "gpu-report-1";
  std::vector<Bytes> gpus = {Bytes(g0.begin(), g0.end()), Bytes(g1.begin(), g1.end())};
  auto rd = ExpectedAttestV1ReportData(Nonce(), Rfc7638Key(), gpus);
  ASSERT_TRUE(rd.ok()) << rd.status();
  EXPECT_EQ(HexEncode(*rd),
            "f31c56be2350df4f82f16a2e5ecfaebc5ef04e67982200ea069284fc0b6c2f109d4bb5018aa0f3f661a"
            "031139cbec2ffb9b57fcb65f14ff51b6812f35041f524");
}

// GPU reports first, then NVSwitch reports (independent Python hashlib answer).
TEST(Binding, AttestV1KnownAnswerGpusThenSwitches) {
  auto b = [](const std::string& s) { return Bytes(s.begin(), s.end()); };
  std::vector<Bytes> gpus = {b("gpu-report-0"), b("gpu-report-1")};
  std::vector<Bytes> switches = {b("switch-report-0"), b("switch-report-1")};
  auto rd = ExpectedAttestV1ReportData(Nonce(), Rfc7638Key(), gpus, switches);
  ASSERT_TRUE(rd.ok()) << rd.status();
  EXPECT_EQ(HexEncode(*rd),
            "74ff13e0458a4e9ac74d51198c52c7643e3bf5c4efe27b300c5545bf36067cc4d2988736611e939f0c3"
            "a8e735b49b015223b357fbd324f66b1420377bdf8f4da");
  auto only_switch = ExpectedAttestV1ReportData(Nonce(), Rfc7638Key(), {}, {b("switch-report-0")});
  ASSERT_TRUE(only_switch.ok());
  EXPECT_EQ(HexEncode(*only_switch),
            "7dc5eb771825411fecc81b4918ff755f8bac1be41ac2b7e94e9996942d1b4d50074ca5e6fae8bd6a90b"
            "363e13701ba35cb0f6625a996a6c9bfd5071400392efe");
  // No switches: exactly the GPU-only value of before (real bundles stay valid).
  auto no_switch = ExpectedAttestV1ReportData(Nonce(), Rfc7638Key(), gpus, {});
  ASSERT_TRUE(no_switch.ok());
  EXPECT_EQ(*no_switch, *ExpectedAttestV1ReportData(Nonce(), Rfc7638Key(), gpus));
}

// Issue 10: NVSwitch reports are bound too. Before, CheckBinding ignored
// switch_evidence_list, so the GPU-only report data passed with any switches.
TEST(Binding, SwitchReportsAreBound) {
  auto b = [](const std::string& s) { return Bytes(s.begin(), s.end()); };
  attestation::v1::EvidenceBundle bundle;
  *bundle.mutable_tee_public_key() = Rfc7638Key();
  auto* nv = bundle.mutable_nvidia();
  nv->add_evidence_list()->set_evidence("gpu-report-0");
  nv->add_switch_evidence_list()->set_evidence("switch-report-0");
  nv->add_switch_evidence_list()->set_evidence("switch-report-1");
  const Bytes good = *ExpectedAttestV1ReportData(Nonce(), Rfc7638Key(), {b("gpu-report-0")},
                                                 {b("switch-report-0"), b("switch-report-1")});
  Check ok = CheckBinding(bundle, kBindingAttestV1, Nonce(), good);
  EXPECT_EQ(ok.status, CheckStatus::kPass) << ok.detail;
  EXPECT_NE(ok.detail.find("2 NVSwitch report(s)"), std::string::npos) << ok.detail;

  // Report data over the GPUs only (the old rule) no longer passes.
  const Bytes gpu_only = *ExpectedAttestV1ReportData(Nonce(), Rfc7638Key(), {b("gpu-report-0")});
  EXPECT_EQ(CheckBinding(bundle, kBindingAttestV1, Nonce(), gpu_only).reason, "BINDING_MISMATCH");

  // Switch reports swapped.
  attestation::v1::EvidenceBundle swapped = bundle;
  swapped.mutable_nvidia()->mutable_switch_evidence_list()->SwapElements(0, 1);
  EXPECT_EQ(CheckBinding(swapped, kBindingAttestV1, Nonce(), good).reason, "BINDING_MISMATCH");

  // A switch report removed.
  attestation::v1::EvidenceBundle removed = bundle;
  removed.mutable_nvidia()->mutable_switch_evidence_list()->RemoveLast();
  EXPECT_EQ(CheckBinding(removed, kBindingAttestV1, Nonce(), good).reason, "BINDING_MISMATCH");

  // A switch report replaced by another one.
  attestation::v1::EvidenceBundle replaced = bundle;
  replaced.mutable_nvidia()->mutable_switch_evidence_list(1)->set_evidence("switch-report-X");
  EXPECT_EQ(CheckBinding(replaced, kBindingAttestV1, Nonce(), good).reason, "BINDING_MISMATCH");

  // A switch report added.
  attestation::v1::EvidenceBundle added = bundle;
  added.mutable_nvidia()->add_switch_evidence_list()->set_evidence("switch-report-2");
  EXPECT_EQ(CheckBinding(added, kBindingAttestV1, Nonce(), good).reason, "BINDING_MISMATCH");

  // A GPU and a switch report exchanged between the lists.
  attestation::v1::EvidenceBundle exchanged = bundle;
  exchanged.mutable_nvidia()->mutable_evidence_list(0)->set_evidence("switch-report-0");
  exchanged.mutable_nvidia()->mutable_switch_evidence_list(0)->set_evidence("gpu-report-0");
  EXPECT_EQ(CheckBinding(exchanged, kBindingAttestV1, Nonce(), good).reason, "BINDING_MISMATCH");
}

TEST(Binding, CheckOutcomes) {
  attestation::v1::EvidenceBundle bundle;
  *bundle.mutable_tee_public_key() = Rfc7638Key();
  Bytes good = *ExpectedAttestV1ReportData(Nonce(), Rfc7638Key(), {});
  EXPECT_EQ(CheckBinding(bundle, kBindingAttestV1, Nonce(), good).status, CheckStatus::kPass);

  Bytes bad = good;
  bad[63] ^= 1;
  Check c = CheckBinding(bundle, kBindingAttestV1, Nonce(), bad);
  EXPECT_EQ(c.status, CheckStatus::kFail);
  EXPECT_EQ(c.reason, "BINDING_MISMATCH");

  Bytes other_nonce = Nonce();
  other_nonce[0] ^= 1;
  EXPECT_EQ(CheckBinding(bundle, kBindingAttestV1, other_nonce, good).reason, "BINDING_MISMATCH");

  EXPECT_EQ(CheckBinding(bundle, kBindingAttestV1, std::nullopt, good).reason,
            "NONCE_NOT_PROVIDED");
  EXPECT_EQ(CheckBinding(bundle, kBindingAttestV1, Nonce(), std::nullopt).status,
            CheckStatus::kNotChecked);
  EXPECT_EQ(CheckBinding(bundle, kBindingNone, Nonce(), good).reason, "BINDING_NONE");

  // A GPU report added after the CPU report was made breaks attest-v1.
  bundle.mutable_nvidia()->add_evidence_list()->set_evidence("gpu");
  EXPECT_EQ(CheckBinding(bundle, kBindingAttestV1, Nonce(), good).reason, "BINDING_MISMATCH");

  // Missing TEE key.
  attestation::v1::EvidenceBundle no_key;
  EXPECT_EQ(CheckBinding(no_key, kBindingAttestV1, Nonce(), good).reason, "BINDING_KEY_INVALID");
}

TEST(Binding, NonceProfile) {
  attestation::v1::EvidenceBundle bundle;
  Bytes rd(64, 0);
  Bytes n = Nonce();
  std::copy(n.begin(), n.end(), rd.begin());
  EXPECT_EQ(CheckBinding(bundle, kBindingNonce, n, rd).status, CheckStatus::kPass);
  rd[5] ^= 0xff;
  EXPECT_EQ(CheckBinding(bundle, kBindingNonce, n, rd).reason, "BINDING_MISMATCH");
}

TEST(Binding, ProfileNames) {
  attestation::v1::EvidenceBundle b;
  EXPECT_EQ(*BindingProfile(b), "attest-v1");
  b.set_binding("nonce");
  EXPECT_EQ(*BindingProfile(b), "nonce");
  b.set_binding("sha1-please");
  EXPECT_FALSE(BindingProfile(b).ok());
}

}  // namespace
}  // namespace rp::core
