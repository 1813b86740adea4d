// The harness can fail: fake verifiers (registered in a Registry run by the
// real appraisal::Engine and policy) that get better when a field is
// dropped, truncated or swapped must be flagged by EnumerateMutants +
// Compare, with the field path and mutation kind that did it; honest fakes
// must not be.
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "appraisal/engine.h"
#include "gtest/gtest.h"
#include "policy/appraisal.h"
#include "tests/property/monotonicity.h"
#include "tests/property/mutate.h"
#include "verifier/core/binding.h"
#include "verifier/core/registry.h"
#include "verifier/core/verifier.h"

namespace rp::property {
namespace {

using attestation::v1::EvidenceBundle;
using core::Component;
using core::DeviceResult;

// Fail-open on purpose: a VCEK that is present is "checked" and found bad;
// no VCEK at all and the check is skipped with PASS (the bug class of
// issue 10). Fail-closed when `honest`.
const char kGoodVcek[] = "-----BEGIN CERTIFICATE-----\nR09PRA==\n-----END CERTIFICATE-----\n";

class FakeSnp : public core::EvidenceVerifier {
 public:
  explicit FakeSnp(bool honest) : honest_(honest) {}
  absl::StatusOr<std::vector<DeviceResult>> Verify(const EvidenceBundle& b,
                                                   const core::VerifyContext&) const override {
    DeviceResult d;
    d.tee = "sev-snp";
    // The claims the SNP policy rules read (a guest the rules accept).
    d.claims["policy"] = {{"debug", false}, {"migrate_ma", false}, {"smt", false}};
    d.claims["vmpl"] = 0;
    d.claims["version"] = 3;
    if (b.sev_snp().report() != "genuine report") {
      d.Fail("fake.report", Component::kHardware, "FAKE_BAD_REPORT", "not the genuine report");
    } else {
      d.Pass("fake.report", Component::kHardware);
    }
    bool vcek_ok = false;
    if (b.sev_snp().vcek() == kGoodVcek) {
      d.Pass("fake.vcek", Component::kHardware);
      vcek_ok = true;
    } else if (!b.sev_snp().vcek().empty()) {
      d.Fail("fake.vcek", Component::kHardware, "FAKE_VCEK_BAD", "vcek does not verify");
    } else if (honest_) {
      d.Fail("fake.vcek", Component::kHardware, "FAKE_VCEK_MISSING", "no vcek");
    } else {
      d.Pass("fake.vcek", Component::kHardware, "no vcek: skipped (fail-open bug)");
      vcek_ok = true;
    }
    // "Verified" in the sense of issue 10: signature and chain checked (the
    // dishonest fake counts a skipped chain as verified).
    d.evidence_authentic = b.sev_snp().report() == "genuine report" && vcek_ok;
    // The report data: the dishonest fake echoes whatever attest-v1 expects
    // for this bundle (it trusts the bundle's key: fail-open binding); the
    // honest one reports the fixed report data of the genuine report.
    Bytes nonce(32, 0);
    if (auto n = HexDecode(b.nonce()); n.ok() && n->size() == 32) nonce = *n;
    if (!honest_) {
      auto rd = core::ExpectedAttestV1ReportData(nonce, b.tee_public_key(), {});
      d.report_data = rd.ok() ? *rd : Bytes(64, 0);
    } else {
      d.report_data = Bytes(64, 0);
    }
    return std::vector<DeviceResult>{std::move(d)};
  }

 private:
  bool honest_;
};

// One device per GPU element: passes only when the certificate is shorter
// than the genuine one (a truncation "improves" it) unless `honest`.
class FakeGpus : public core::EvidenceVerifier {
 public:
  explicit FakeGpus(bool honest) : honest_(honest) {}
  absl::StatusOr<std::vector<DeviceResult>> Verify(const EvidenceBundle& b,
                                                   const core::VerifyContext&) const override {
    std::vector<DeviceResult> out;
    for (const auto& e : b.nvidia().evidence_list()) {
      DeviceResult d;
      d.tee = "nvidia-gpu";
      d.claims["cc_mode"] = "cc";
      d.claims["measurements_match"] = true;
      const bool good = honest_ ? e.certificate() == "good chain"
                                : e.certificate().size() < std::string("bad chain!").size();
      d.evidence_authentic = good;
      if (good) {
        d.Pass("fake.chain", Component::kHardware);
      } else {
        d.Fail("fake.chain", Component::kHardware, "FAKE_CHAIN_BAD", "chain does not verify");
      }
      out.push_back(std::move(d));
    }
    return out;
  }

 private:
  bool honest_;
};

std::unique_ptr<appraisal::Engine> MakeEngine(bool honest) {
  auto reg = std::make_unique<core::Registry>();
  EXPECT_TRUE(reg->Register(core::TeeType::kSevSnp, std::make_unique<FakeSnp>(honest)).ok());
  EXPECT_TRUE(reg->Register(core::TeeType::kNvidia, std::make_unique<FakeGpus>(honest)).ok());
  auto e = appraisal::Engine::Create(std::move(reg), nullptr);
  EXPECT_TRUE(e.ok()) << e.status();
  return std::move(*e);
}

policy::LoadedPolicy AnyBinding() {
  auto p = policy::ParsePolicy(
      "id: selftest\nallowed_bindings: [attest-v1, nonce, none]\n"
      "require_cpu_evidence: false\n"
      "nvidia: {mode: any, allow_rim_mismatch: true}\n",
      "selftest");
  EXPECT_TRUE(p.ok()) << p.status();
  return *p;
}

struct Hit {
  std::string path, kind, property, detail;
};

appraisal::RunOptions Opts() {
  appraisal::RunOptions opts;
  opts.at = absl::FromUnixSeconds(1700000000);
  opts.allow_no_freshness = true;
  return opts;
}

std::vector<Hit> Check(const appraisal::Engine& engine, const EvidenceBundle& intact,
                       const std::vector<Donor>& donors = {}) {
  const policy::LoadedPolicy p = AnyBinding();
  const appraisal::RunOptions opts = Opts();
  const Outcome base = Evaluate(engine, intact, p, opts);
  EXPECT_EQ(base.kind, Outcome::Kind::kAppraisal) << base.error;
  std::vector<Hit> hits;
  EnumerateOptions eo;
  eo.donors = donors;
  const size_t n = EnumerateMutants("intact", intact, eo, [&](Mutant&& m) {
    for (const Finding& f : Compare(base, Evaluate(engine, m.bundle, p, opts), m)) {
      hits.push_back(Hit{m.path, m.kind, f.property, f.detail});
    }
  });
  EXPECT_GT(n, 10u);
  return hits;
}

bool Has(const std::vector<Hit>& hits, const std::string& path, const std::string& kind,
         const std::string& property) {
  return std::any_of(hits.begin(), hits.end(), [&](const Hit& h) {
    return h.path == path && h.kind == kind && h.property == property;
  });
}

std::string Dump(const std::vector<Hit>& hits) {
  std::string s;
  for (const Hit& h : hits) s += h.path + " " + h.kind + " " + h.property + " " + h.detail + "\n";
  return s;
}

EvidenceBundle SnpBundle() {
  EvidenceBundle b;
  b.mutable_sev_snp()->set_report("genuine report");
  b.mutable_sev_snp()->set_vcek("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
  b.set_binding("none");
  return b;
}

TEST(PropertySelfTest, DroppingAFieldThatFailsOpenIsFlagged) {
  auto engine = MakeEngine(/*honest=*/false);
  const std::vector<Hit> hits = Check(*engine, SnpBundle());
  // Intact: contraindicated (bad VCEK); without the VCEK: warning.
  EXPECT_TRUE(Has(hits, "sev_snp.vcek", "clear", "verdict")) << Dump(hits);
  EXPECT_TRUE(Has(hits, "sev_snp.vcek", "clear", "device")) << Dump(hits);
  // A garbage report never helps.
  EXPECT_FALSE(Has(hits, "sev_snp.report", "garbage", "verdict")) << Dump(hits);
}

TEST(PropertySelfTest, HonestVerifierIsNotFlagged) {
  // (CPU + GPU in one bundle is left out: the self-test policy sets
  // require_cpu_evidence: false for its GPU-only bundles, under which
  // dropping the CPU of a CPU + GPU bundle is allowed "attesting less".)
  auto engine = MakeEngine(/*honest=*/true);
  const std::vector<Hit> snp_hits = Check(*engine, SnpBundle());
  EXPECT_TRUE(snp_hits.empty()) << Dump(snp_hits);
  // A bundle the honest fake verifies (not contraindicated): no mutant of
  // it may do better either.
  EvidenceBundle good = SnpBundle();
  good.mutable_sev_snp()->set_vcek(kGoodVcek);
  const Outcome base = Evaluate(*engine, good, AnyBinding(), Opts());
  ASSERT_EQ(base.kind, Outcome::Kind::kAppraisal) << base.error;
  EXPECT_NE(base.verdict, policy::Verdict::kContraindicated) << absl::StrJoin(base.reasons, ",");
  ASSERT_EQ(base.devices.size(), 1u);
  EXPECT_TRUE(base.devices[0].authentic);
  const std::vector<Hit> good_hits = Check(*engine, good);
  EXPECT_TRUE(good_hits.empty()) << Dump(good_hits);
  EvidenceBundle b;
  b.mutable_nvidia()->set_arch("HOPPER");
  for (const char* r : {"report 0", "report 1"}) {
    auto* e = b.mutable_nvidia()->add_evidence_list();
    e->set_evidence(r);
    e->set_certificate("good chain");
  }
  const std::vector<Hit> gpu_hits = Check(*engine, b);
  EXPECT_TRUE(gpu_hits.empty()) << Dump(gpu_hits);
}

TEST(PropertySelfTest, DeviceThatImprovesWhenTruncatedIsFlaggedUnderItsOwnName) {
  auto engine = MakeEngine(/*honest=*/false);
  EvidenceBundle b;
  b.mutable_nvidia()->set_arch("HOPPER");
  for (const char* r : {"report 0", "report 1"}) {
    auto* e = b.mutable_nvidia()->add_evidence_list();
    e->set_evidence(r);
    e->set_certificate("bad chain!");
  }
  const std::vector<Hit> hits = Check(*engine, b);
  EXPECT_TRUE(Has(hits, "nvidia.evidence_list[1].certificate", "trunc_minus1", "device"))
      << Dump(hits);
  EXPECT_TRUE(Has(hits, "nvidia.evidence_list[0].certificate", "trunc_half", "device"))
      << Dump(hits);
  // The other GPU still fails: the node's verdict is not better.
  EXPECT_FALSE(Has(hits, "nvidia.evidence_list[0].certificate", "trunc_half", "verdict"))
      << Dump(hits);
  // Renumbering: after dropping gpu0 the old gpu1 is gpu0; it is compared
  // with the intact gpu1 (same status), so no device finding.
  EXPECT_FALSE(Has(hits, "nvidia.evidence_list", "drop[0]", "device")) << Dump(hits);
}

TEST(PropertySelfTest, CnfFromASwappedInKeyIsFlagged) {
  // The dishonest fake's report data commits to whatever key the bundle
  // names (fail-open binding). Intact: attest-v1 without a key, so the
  // binding fails and there is no cnf; the donor's key swapped in binds
  // and the token would carry a cnf the intact bundle never had.
  auto engine = MakeEngine(/*honest=*/false);
  EvidenceBundle intact = SnpBundle();
  intact.mutable_sev_snp()->set_vcek(kGoodVcek);
  intact.set_binding("attest-v1");
  intact.set_nonce(std::string(64, 'a'));
  EvidenceBundle donor = intact;
  donor.mutable_tee_public_key()->set_kty("EC");
  donor.mutable_tee_public_key()->set_crv("P-256");
  // A valid P-256 point (the generator).
  donor.mutable_tee_public_key()->set_x("axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY");
  donor.mutable_tee_public_key()->set_y("T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU");
  const std::vector<Hit> hits = Check(*engine, intact, {Donor{"donor", &donor}});
  EXPECT_TRUE(Has(hits, "tee_public_key", "swap:donor", "cnf")) << Dump(hits);
  EXPECT_TRUE(Has(hits, "tee_public_key", "swap:donor", "bundle_check")) << Dump(hits);
  // The honest fake's report data never commits to a swapped-in key.
  auto honest = MakeEngine(/*honest=*/true);
  const std::vector<Hit> honest_hits = Check(*honest, intact, {Donor{"donor", &donor}});
  EXPECT_FALSE(Has(honest_hits, "tee_public_key", "swap:donor", "cnf")) << Dump(honest_hits);
}

TEST(PropertySelfTest, AbsoluteClaimsAreFlagged) {
  Outcome o;
  o.kind = Outcome::Kind::kAppraisal;
  o.verdict = policy::Verdict::kWarning;
  o.cnf = nlohmann::json{{"jwk", {{"kty", "EC"}}}};
  o.binding = core::CheckStatus::kPass;
  o.binding_profile = "attest-v1";
  EXPECT_TRUE(CheckAbsolute(o, true).empty());
  o.binding_profile = "nonce";  // the key is not committed to
  ASSERT_EQ(CheckAbsolute(o, true).size(), 1u);
  EXPECT_EQ(CheckAbsolute(o, true)[0].property, "cnf_unbound");
  o.binding_profile = "attest-v1";
  o.binding = core::CheckStatus::kNotChecked;
  EXPECT_EQ(CheckAbsolute(o, true).size(), 1u);
  o.cnf.reset();
  o.devices.push_back(DeviceOutcome{"gpu0", "nvidia-gpu", policy::Verdict::kWarning, false,
                                    {{"nvidia.nonce", true}, {"nvidia.report_signature", true}}});
  EXPECT_TRUE(CheckAbsolute(o, true).empty());  // our nonce: fine
  ASSERT_EQ(CheckAbsolute(o, false).size(), 1u);  // only the bundle's
  EXPECT_EQ(CheckAbsolute(o, false)[0].property, "nonce_unverified");
}

// attest-v2 (issue 13): runtime claims only when that binding passed, and a
// mutant never carries runtime claims the intact bundle did not.
TEST(PropertySelfTest, UnboundOrChangedRuntimeClaimsAreFlagged) {
  Outcome o;
  o.kind = Outcome::Kind::kAppraisal;
  o.verdict = policy::Verdict::kWarning;
  o.cnf = nlohmann::json{{"jwk", {{"kty", "EC"}}}};
  o.runtime_claims = nlohmann::json{{"node", "gpu-node-1"}};
  o.binding = core::CheckStatus::kPass;
  o.binding_profile = "attest-v2";
  EXPECT_TRUE(CheckAbsolute(o, true).empty());  // attest-v2 binds the key too
  o.binding_profile = "attest-v1";               // commits to the key, not the claims
  ASSERT_EQ(CheckAbsolute(o, true).size(), 1u);
  EXPECT_EQ(CheckAbsolute(o, true)[0].property, "runtime_claims_unbound");
  o.binding_profile = "attest-v2";
  o.binding = core::CheckStatus::kFail;
  EXPECT_EQ(CheckAbsolute(o, true).size(), 2u);  // cnf_unbound + runtime_claims_unbound

  Outcome intact = o;
  intact.binding = core::CheckStatus::kPass;
  Outcome mutant = intact;
  Mutant m;
  EXPECT_TRUE(Compare(intact, mutant, m).empty());
  mutant.runtime_claims = nlohmann::json{{"node", "gpu-node-2"}};
  ASSERT_EQ(Compare(intact, mutant, m).size(), 1u);
  EXPECT_EQ(Compare(intact, mutant, m)[0].property, "runtime_claims");
  intact.runtime_claims.reset();
  ASSERT_EQ(Compare(intact, mutant, m).size(), 1u);
  EXPECT_EQ(Compare(intact, mutant, m)[0].property, "runtime_claims");
  EXPECT_FALSE(RecombinationMayExcuse(Finding{"runtime_claims", "intact has no runtime claims"}));
}

TEST(PropertySelfTest, TokenClaimsOfUnauthenticEvidenceAndUnverifiedBindingAreFlagged) {
  Outcome o;
  o.kind = Outcome::Kind::kAppraisal;
  o.devices.push_back(DeviceOutcome{"cpu0", "tdx", policy::Verdict::kContraindicated, true, {}});
  o.devices[0].token_claims = true;
  EXPECT_TRUE(CheckAbsolute(o, true).empty());
  o.devices[0].authentic = false;
  ASSERT_EQ(CheckAbsolute(o, true).size(), 1u);
  EXPECT_EQ(CheckAbsolute(o, true)[0].property, "claims_unauthentic");
  o.devices[0].token_claims = false;
  o.token_binding = true;
  o.binding = core::CheckStatus::kNotChecked;
  ASSERT_EQ(CheckAbsolute(o, true).size(), 1u);
  EXPECT_EQ(CheckAbsolute(o, true)[0].property, "binding_unverified");
  o.binding = core::CheckStatus::kPass;
  EXPECT_TRUE(CheckAbsolute(o, true).empty());
}

// The recombination rule (README.md "Recombination"): excused only for a
// swap of authenticated evidence / collateral of the same platform into a
// mutant whose devices are all authentic, and never for cnf, binding or
// freshness.
TEST(PropertySelfTest, RecombinationNeedsAuthenticPartsOfTheSamePlatform) {
  auto outcome = [](std::vector<std::pair<std::string, std::string>> devs, bool authentic) {
    Outcome o;
    o.kind = Outcome::Kind::kAppraisal;
    int gpu = 0;
    for (const auto& [tee, id] : devs) {
      DeviceOutcome d;
      d.name = tee == "tdx" || tee == "sev-snp" ? "cpu0" : absl::StrCat("gpu", gpu++);
      d.tee = tee;
      d.authentic = authentic;
      d.identity = id;
      o.devices.push_back(d);
    }
    return o;
  };
  Mutant m;
  m.path = "tdx.quote";
  m.kind = "swap:donor";
  const Outcome intact = outcome({{"tdx", "90c06f000000"}}, false);
  const Outcome donor = outcome({{"tdx", "90c06f000000"}}, false);
  const Outcome good = outcome({{"tdx", "90c06f000000"}}, true);
  EXPECT_EQ(Recombination(m, intact, good, donor), "fmspc 90c06f000000");
  m.path = "tdx.collateral.tcb_info";
  EXPECT_NE(Recombination(m, intact, good, donor), "");
  // Another FMSPC (donor's collateral or the intact's own), a device that
  // is not authentic, a non-swap mutation, an unsigned field: never.
  const Outcome other = outcome({{"tdx", "00806f050000"}}, false);
  EXPECT_EQ(Recombination(m, other, good, donor), "");
  EXPECT_EQ(Recombination(m, intact, good, other), "");
  EXPECT_EQ(Recombination(m, intact, outcome({{"tdx", "90c06f000000"}}, false), donor), "");
  m.kind = "clear";
  EXPECT_EQ(Recombination(m, intact, good, donor), "");
  m.kind = "swap:donor";
  for (const char* p : {"tee_public_key", "tee_public_key.x", "binding", "nonce", "nvidia.arch"}) {
    m.path = p;
    EXPECT_EQ(Recombination(m, intact, good, donor), "") << p;
  }
  // GPUs: the touched element must be the same device (UEID); every other
  // device must be authentic as well.
  const Outcome gi = outcome({{"tdx", "f"}, {"nvidia-gpu", "u0"}, {"nvidia-gpu", "u1"}}, true);
  const Outcome gd = outcome({{"tdx", "g"}, {"nvidia-gpu", "u1"}}, true);
  m.path = "nvidia.evidence_list[1].certificate";
  EXPECT_EQ(Recombination(m, gi, gi, gd), "ueid u1");
  m.path = "nvidia.evidence_list[0].certificate";
  EXPECT_EQ(Recombination(m, gi, gi, gd), "");  // u0 is not the donor's
  m.path = "nvidia.evidence_list";
  EXPECT_EQ(Recombination(m, gi, gi, gd), "");
  Outcome half = gi;
  half.devices[0].authentic = false;
  m.path = "nvidia.evidence_list[1]";
  EXPECT_EQ(Recombination(m, gi, half, gd), "");
  // What it may excuse.
  EXPECT_TRUE(RecombinationMayExcuse(Finding{"verdict", "contraindicated -> warning"}));
  EXPECT_TRUE(RecombinationMayExcuse(Finding{"check", "cpu0: tdx.tcb_level passes, intact does not"}));
  EXPECT_FALSE(RecombinationMayExcuse(Finding{"cnf", "intact has no cnf"}));
  EXPECT_FALSE(RecombinationMayExcuse(Finding{"bundle_check", "binding passes, intact does not"}));
  EXPECT_FALSE(RecombinationMayExcuse(Finding{"check", "gpu0: nvidia.nonce passes, intact does not"}));
  EXPECT_FALSE(RecombinationMayExcuse(Finding{"nonce_unverified", "nonce passes"}));
  EXPECT_FALSE(RecombinationMayExcuse(Finding{"cnf_unbound", "cnf with binding"}));
}

TEST(PropertySelfTest, EnumerationIsDeterministicAndCoversEveryField) {
  EvidenceBundle b = SnpBundle();
  b.mutable_tdx()->mutable_collateral()->set_tcb_info(R"({"id":"TDX","version":3})");
  for (const char* r : {"report 0", "report 1"}) {
    auto* e = b.mutable_nvidia()->add_evidence_list();
    e->set_evidence(r);
    e->set_certificate("chain");
  }
  auto run = [&] {
    std::vector<std::string> out;
    EnumerateMutants("x", b, {}, [&](Mutant&& m) {
      out.push_back(m.path + " " + m.kind + " " + m.bundle.SerializeAsString());
    });
    return out;
  };
  const std::vector<std::string> a = run(), c = run();
  EXPECT_EQ(a, c);
  auto has = [&](const std::string& prefix) {
    return std::any_of(a.begin(), a.end(),
                       [&](const std::string& s) { return s.rfind(prefix, 0) == 0; });
  };
  for (const char* want :
       {"sev_snp.report clear", "sev_snp.report trunc_half", "sev_snp.report garbage",
        "sev_snp.report flip_mid", "sev_snp.vcek pem_body_garbage", "sev_snp.vlek set_garbage",
        "tdx.collateral.tcb_info json_drop[id]", "tdx.collateral.tcb_info json_empty",
        "tdx clear", "tdx empty", "binding set:attest-v1", "nonce set_garbage",
        "sev_snp.vcek move_to:vlek", "nvidia.evidence_list drop[1]", "nvidia.evidence_list dup[0]",
        "nvidia.evidence_list swap[0,1]", "nvidia.evidence_list[1] move_to:switch_evidence_list",
        "nvidia.evidence_list[0].certificate trunc_half"}) {
    EXPECT_TRUE(has(want)) << want;
  }
  // Device attribution follows the evidence through list edits.
  std::map<std::string, Mutant> by_kind;
  EnumerateMutants("x", b, {}, [&](Mutant&& m) { by_kind.emplace(m.path + " " + m.kind, m); });
  using V = std::vector<std::string>;
  EXPECT_EQ(by_kind.at("nvidia.evidence_list drop[0]").gpu_origin, V({"gpu1"}));
  EXPECT_EQ(by_kind.at("nvidia.evidence_list dup[0]").gpu_origin, V({"gpu0", "gpu0", "gpu1"}));
  EXPECT_EQ(by_kind.at("nvidia.evidence_list swap[0,1]").gpu_origin, V({"gpu1", "gpu0"}));
  const Mutant& moved = by_kind.at("nvidia.evidence_list[0] move_to:switch_evidence_list");
  EXPECT_EQ(moved.gpu_origin, V({"gpu1"}));
  EXPECT_EQ(moved.switch_origin, V({"gpu0"}));
  EXPECT_EQ(by_kind.at("nvidia.evidence_list[1].evidence trunc_half").gpu_origin,
            V({"gpu0", "gpu1"}));
  EXPECT_FALSE(by_kind.at("sev_snp.report garbage").cpu_foreign);
  // Another vector's report / quote / GPU report is not the intact device.
  EvidenceBundle donor = b;
  donor.mutable_sev_snp()->set_report("other report");
  donor.mutable_sev_snp()->set_vcek("other vcek");
  donor.mutable_nvidia()->mutable_evidence_list(1)->set_evidence("other gpu report");
  donor.mutable_nvidia()->mutable_evidence_list(1)->set_certificate("other chain");
  donor.mutable_nvidia()->mutable_evidence_list(0)->set_certificate("other chain 0");
  donor.mutable_nvidia()->set_arch("BLACKWELL");
  EnumerateOptions eo;
  eo.donors = {Donor{"d", &donor}};
  by_kind.clear();
  EnumerateMutants("x", b, eo, [&](Mutant&& m) { by_kind.emplace(m.path + " " + m.kind, m); });
  EXPECT_TRUE(by_kind.at("sev_snp.report swap:d").cpu_foreign);
  EXPECT_FALSE(by_kind.at("sev_snp.vcek swap:d").cpu_foreign);  // our report, their VCEK
  EXPECT_EQ(by_kind.at("nvidia.evidence_list[1].evidence swap:d").gpu_origin, V({"gpu0", ""}));
  EXPECT_EQ(by_kind.at("nvidia.evidence_list[1].certificate swap:d").gpu_origin,
            V({"gpu0", "gpu1"}));
  EXPECT_EQ(by_kind.at("nvidia.evidence_list[1] swap:d").gpu_origin, V({"gpu0", ""}));
  EXPECT_EQ(by_kind.at("nvidia swap:d").gpu_origin, V({"", ""}));
}

}  // namespace
}  // namespace rp::property
