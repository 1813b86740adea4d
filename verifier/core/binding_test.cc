#include "verifier/core/binding.h"

#include <functional>
#include <string>
#include <utility>
#include <vector>

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


// attest-v2 known answers, computed independently (Python hashlib + json
// with sorted keys, which is JCS for these ASCII objects) from the rule text.
TEST(Binding, AttestV2KnownAnswers) {
  auto b = [](const std::string& s) { return Bytes(s.begin(), s.end()); };
  auto one = ExpectedAttestV2ReportData(Nonce(), Rfc7638Key(), {{"node", "gpu-node-1"}}, {});
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(HexEncode(*one),
            "09a3a68a383713175fa0ca0663fb9cfce39a1ce0366694b182a655d89d94b0c0e03fb66ac59b29c76c3"
            "98eaefe236e0fc7a3fc7fc46a5ac121eb31d2eccee259");
  auto empty = ExpectedAttestV2ReportData(Nonce(), Rfc7638Key(), {}, {});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(HexEncode(*empty),
            "24c9a19d4355125beba6698ab3400dbf1e7631d33238af3be88044b9cc41abf60b5849ffa8c0308d74a"
            "c6fe01e7e4cae69be96eb176cd5e99b1e14ef3db2b42a");
  auto full = ExpectedAttestV2ReportData(
      Nonce(), Rfc7638Key(), {{"workload", "llm"}, {"node", "gpu-node-1"}},
      {b("gpu-report-0"), b("gpu-report-1")}, {b("switch-report-0")});
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(HexEncode(*full),
            "2717cf38caabe5a9217437ce1ba931b3b41e8cc318c5a9909cdaf668fd4e736a10ff0f3f9139a939bdf"
            "86cfcc3a8591b67ea3b5c1a2223e4ffe91028d4f1c896");
  // Domain separation: an attest-v2 value never passes as attest-v1 and back.
  EXPECT_NE(*empty, *ExpectedAttestV1ReportData(Nonce(), Rfc7638Key(), {}));
}

// Any change to a runtime claim after the report was made fails the binding.
TEST(Binding, AttestV2EveryRuntimeClaimIsBound) {
  attestation::v1::EvidenceBundle bundle;
  *bundle.mutable_tee_public_key() = Rfc7638Key();
  bundle.set_binding("attest-v2");
  (*bundle.mutable_runtime_claims())["node"] = "gpu-node-1";
  (*bundle.mutable_runtime_claims())["pod_uid"] = "8f0c1b2e";
  const Bytes good = *ExpectedAttestV2ReportData(Nonce(), Rfc7638Key(), BundleRuntimeClaims(bundle),
                                                 {});
  Check ok = CheckBinding(bundle, kBindingAttestV2, Nonce(), good);
  EXPECT_EQ(ok.status, CheckStatus::kPass) << ok.detail;
  EXPECT_NE(ok.detail.find("2 runtime claim(s)"), std::string::npos) << ok.detail;

  using Mutation = std::function<void(attestation::v1::EvidenceBundle&)>;
  const std::vector<std::pair<std::string, Mutation>> mutations = {
      {"value changed", [](auto& x) { (*x.mutable_runtime_claims())["node"] = "gpu-node-2"; }},
      {"value extended", [](auto& x) { (*x.mutable_runtime_claims())["node"] = "gpu-node-10"; }},
      {"claim added", [](auto& x) { (*x.mutable_runtime_claims())["workload"] = "w"; }},
      {"claim removed", [](auto& x) { x.mutable_runtime_claims()->erase("pod_uid"); }},
      {"all removed", [](auto& x) { x.mutable_runtime_claims()->clear(); }},
      {"claim renamed",
       [](auto& x) {
         x.mutable_runtime_claims()->erase("pod_uid");
         (*x.mutable_runtime_claims())["pod_uid2"] = "8f0c1b2e";
       }},
      {"values swapped",
       [](auto& x) {
         (*x.mutable_runtime_claims())["node"] = "8f0c1b2e";
         (*x.mutable_runtime_claims())["pod_uid"] = "gpu-node-1";
       }},
  };
  for (const auto& [name, mutate] : mutations) {
    attestation::v1::EvidenceBundle m = bundle;
    mutate(m);
    Check c = CheckBinding(m, kBindingAttestV2, Nonce(), good);
    EXPECT_EQ(c.status, CheckStatus::kFail) << name;
    EXPECT_EQ(c.reason, "BINDING_MISMATCH") << name;
  }
  // The same report data under attest-v1 (claims dropped) fails too, and
  // runtime claims under any other profile are never bound.
  attestation::v1::EvidenceBundle v1 = bundle;
  v1.mutable_runtime_claims()->clear();
  EXPECT_EQ(CheckBinding(v1, kBindingAttestV1, Nonce(), good).reason, "BINDING_MISMATCH");
  for (std::string_view profile : {kBindingAttestV1, kBindingNonce, kBindingNone}) {
    Check c = CheckBinding(bundle, profile, Nonce(), good);
    EXPECT_EQ(c.status, CheckStatus::kFail) << profile;
    EXPECT_EQ(c.reason, "BINDING_RUNTIME_CLAIMS_UNBOUND") << profile;
  }
  // Claims outside the accepted subset.
  attestation::v1::EvidenceBundle bad = bundle;
  (*bad.mutable_runtime_claims())["node"] = "Not_A_Node";
  EXPECT_EQ(CheckBinding(bad, kBindingAttestV2, Nonce(), good).reason,
            "BINDING_RUNTIME_CLAIMS_INVALID");
}

TEST(Binding, ProfileNamesV2) {
  attestation::v1::EvidenceBundle b;
  EXPECT_EQ(*BindingProfile(b), "attest-v1");
  b.set_binding("attest-v2");
  EXPECT_EQ(*BindingProfile(b), "attest-v2");
  b.set_binding("attest-v3");
  EXPECT_FALSE(BindingProfile(b).ok());
}

}  // namespace
}  // namespace rp::core
