// Composite simulated nodes (TDX or SNP + 8 GPUs) through the whole offline
// pipeline in-process (registry trusting a temp simulation dir → verifiers →
// RIM appraisal from the simulator's collateral dir → binding → policy):
// the strict production policy (with allow_simulated switched on) affirms
// every check but the simulation notice; a GPU report swapped in from
// another node breaks the binding; a GPU in CC-off mode is refused.
#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "appraisal/collateral_stack.h"
#include "cli/simulate.h"
#include "gtest/gtest.h"
#include "appraisal/engine.h"
#include "appraisal/registry_factory.h"
#include "policy/yaml_json.h"
#include "verifier/core/verifier.h"
#include "verifier/crypto/digest.h"

namespace rp {
namespace {

bool Has(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

const core::Check* FindCheck(const policy::AppraisedDevice& d, const std::string& name) {
  for (const core::Check& c : d.device.checks) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

class CompositeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!sim::CompositeSimulationAvailable()) return;
    dir_ = new std::string(::testing::TempDir() + "/composite_sim_root");
    auto roots = sim::LoadOrCreateSimulationRoots(*dir_);
    ASSERT_TRUE(roots.ok()) << roots.status();
    roots_ = new sim::SimulationRoots(std::move(*roots));
  }
  static void TearDownTestSuite() {
    delete roots_;
    delete dir_;
    roots_ = nullptr;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!sim::CompositeSimulationAvailable()) GTEST_SKIP() << "built without the builders";
  }

  // The same stack `attestctl verify --trust-simulation DIR --collateral
  // DIR/collateral` builds (offline).
  std::unique_ptr<appraisal::Engine> MakeEngine(absl::Time at) {
    attestation::v1::SimulationConfig sc;
    sc.set_trust_simulation_root(true);
    sc.set_dir(*dir_);
    attestation::v1::CollateralConfig cc;
    cc.set_offline(true);
    auto stack = appraisal::BuildCollateralStack(cc, roots_->CollateralDir(), at);
    EXPECT_TRUE(stack.ok()) << stack.status();
    appraisal::RegistryOptions ro;
    ro.offline = true;
    auto reg = appraisal::MakeDefaultRegistry(sc, ro);
    EXPECT_TRUE(reg.ok()) << reg.status();
    auto e = appraisal::Engine::Create(std::move(*reg), stack->source, stack->ocsp);
    EXPECT_TRUE(e.ok()) << e.status();
    return std::move(*e);
  }

  // deploy/policies/strict-production.yaml with allow_simulated: true.
  static policy::LoadedPolicy StrictWithSimulation() {
    auto text = ReadSmallFile(std::string(RP_SOURCE_DIR) +
                                  "/deploy/policies/strict-production.yaml",
                              1024 * 1024);
    EXPECT_TRUE(text.ok()) << text.status();
    std::string t = *text;
    const std::string from = "allow_simulated: false";
    const size_t at = t.find(from);
    EXPECT_NE(at, std::string::npos);
    t.replace(at, from.size(), "allow_simulated: true");
    auto p = policy::ParsePolicy(t, "strict-production (allow_simulated)");
    EXPECT_TRUE(p.ok()) << p.status();
    return *p;
  }

  static absl::StatusOr<sim::SimulatedEvidence> Node(sim::SimulatedTee tee, const std::string& nonce,
                                                     int off_index = -1) {
    sim::NodeSimulationOptions o;
    o.tee = tee;
    o.gpus = 8;
    o.gpu_mode_off_index = off_index;
    return sim::SimulateNode(*roots_, nonce, absl::Now(), o);
  }

  absl::StatusOr<policy::Appraisal> Run(const attestation::v1::EvidenceBundle& b,
                                        const std::string& nonce) {
    const absl::Time now = absl::Now();
    return MakeEngine(now)->Run(b, StrictWithSimulation(),
                                appraisal::RunOptions{now, Bytes(nonce.begin(), nonce.end())});
  }

  void ExpectOnlySimulationNotice(sim::SimulatedTee tee, const std::string& cpu_tee) {
    const std::string nonce = ToString(crypto::RandomBytes(32));
    auto ev = Node(tee, nonce);
    ASSERT_TRUE(ev.ok()) << ev.status();
    ASSERT_EQ(ev->bundle.nvidia().evidence_list_size(), 8);
    auto a = Run(ev->bundle, nonce);
    ASSERT_TRUE(a.ok()) << a.status();
    const std::string dump = a->ToJson().dump(1);
    EXPECT_EQ(a->verdict, policy::Verdict::kWarning) << dump;
    EXPECT_EQ(a->reasons, std::vector<std::string>{"SIMULATED_EVIDENCE"}) << dump;
    EXPECT_TRUE(a->simulated);
    for (const core::Check& c : a->bundle_checks) {
      EXPECT_EQ(c.status, core::CheckStatus::kPass) << c.name << " " << c.reason;
    }
    ASSERT_EQ(a->devices.size(), 9u) << dump;
    EXPECT_EQ(a->devices[0].device.tee, cpu_tee);
    int gpus = 0;
    for (const policy::AppraisedDevice& d : a->devices) {
      EXPECT_EQ(d.status, policy::Verdict::kWarning) << d.device.name;
      for (const core::Check& c : d.device.checks) {
        if (c.reason == "SIMULATED_EVIDENCE" || !c.affects_status) continue;
        EXPECT_EQ(c.status, core::CheckStatus::kPass)
            << d.device.name << " " << c.name << " " << c.reason << " " << c.detail;
      }
      if (d.device.tee == "nvidia-gpu") {
        ++gpus;
        EXPECT_EQ(d.device.claims.value("measurements_match", nlohmann::json()), true)
            << d.device.name;
        EXPECT_EQ(d.device.claims.value("cc_mode", nlohmann::json()), "cc") << d.device.name;
      }
    }
    EXPECT_EQ(gpus, 8);
    // The result keeps the raw GPU measurements; no token profile does
    // (size), but both carry the verdict on them. The full profile lists the
    // collateral; the compact one (the default) leaves it to the result.
    const nlohmann::json result = a->ToJson();
    policy::EarOptions full_profile;
    full_profile.profile = policy::TokenProfile::kFull;
    const nlohmann::json full = a->EarClaims(nullptr, "test", full_profile);
    const nlohmann::json compact = a->EarClaims(nullptr, "test");
    EXPECT_TRUE(result["submods"]["gpu0"]["claims"].contains("measurements"));
    for (const nlohmann::json* token : {&full, &compact}) {
      EXPECT_FALSE((*token)["submods"]["gpu0"]["claims"].contains("measurements"));
      EXPECT_EQ((*token)["submods"]["gpu0"]["claims"]["measurements_match"], true);
    }
    EXPECT_FALSE(full["submods"]["gpu0"]["collateral"].empty());
    EXPECT_FALSE(compact["submods"]["gpu0"].contains("collateral"));
    EXPECT_LT(full.dump().size(), 64u * 1024) << "full token claims for a 9-device node";
    EXPECT_LT(compact.dump().size(), 6u * 1024) << "compact token claims for a 9-device node";
  }

  static std::string* dir_;
  static sim::SimulationRoots* roots_;
};
std::string* CompositeTest::dir_ = nullptr;
sim::SimulationRoots* CompositeTest::roots_ = nullptr;

TEST_F(CompositeTest, TdxWithEightGpusPassesStrictPolicyButForTheSimulationNotice) {
  ExpectOnlySimulationNotice(sim::SimulatedTee::kTdx, "tdx");
}

// A simulated machine kept across requests (bench/attest_load): the same
// certificates and collateral each time, fresh nonces and signatures, and
// every node passes as a fresh one does.
TEST_F(CompositeTest, KeptPlatformSendsTheSameCertificatesAndCollateral) {
  sim::NodeSimulationOptions o;
  o.tee = sim::SimulatedTee::kTdx;
  o.gpus = 8;
  auto tdx = sim::SimulateTdxPlatform(*roots_, absl::Now());
  ASSERT_TRUE(tdx.ok()) << tdx.status();
  auto gpus = sim::SimulateGpuPlatform(*roots_, 8, absl::Now());
  ASSERT_TRUE(gpus.ok()) << gpus.status();
  o.tdx.platform = *tdx;
  o.gpu_platform = *gpus;
  std::vector<attestation::v1::EvidenceBundle> bundles;
  for (int i = 0; i < 2; ++i) {
    const std::string nonce = ToString(crypto::RandomBytes(32));
    auto ev = sim::SimulateNode(*roots_, nonce, absl::Now(), o);
    ASSERT_TRUE(ev.ok()) << ev.status();
    auto a = Run(ev->bundle, nonce);
    ASSERT_TRUE(a.ok()) << a.status();
    EXPECT_EQ(a->verdict, policy::Verdict::kWarning) << a->ToJson().dump(1);
    EXPECT_EQ(a->reasons, std::vector<std::string>{"SIMULATED_EVIDENCE"});
    bundles.push_back(std::move(ev->bundle));
  }
  const auto& [b0, b1] = std::tie(bundles[0], bundles[1]);
  EXPECT_NE(b0.tdx().quote(), b1.tdx().quote());
  EXPECT_EQ(b0.tdx().collateral().SerializeAsString(), b1.tdx().collateral().SerializeAsString());
  ASSERT_EQ(b1.nvidia().evidence_list_size(), 8);
  for (int g = 0; g < 8; ++g) {
    EXPECT_EQ(b0.nvidia().evidence_list(g).certificate(), b1.nvidia().evidence_list(g).certificate());
    EXPECT_NE(b0.nvidia().evidence_list(g).evidence(), b1.nvidia().evidence_list(g).evidence());
  }
  // A platform of 8 GPUs does not pose as a node of another size.
  o.gpus = 3;
  EXPECT_FALSE(sim::SimulateNode(*roots_, ToString(crypto::RandomBytes(32)), absl::Now(), o).ok());
}

TEST_F(CompositeTest, SnpWithEightGpusPassesStrictPolicyButForTheSimulationNotice) {
  ExpectOnlySimulationNotice(sim::SimulatedTee::kSnp, "sev-snp");
}

TEST_F(CompositeTest, GpuReportFromAnotherNodeBreaksTheBinding) {
  for (auto tee : {sim::SimulatedTee::kTdx, sim::SimulatedTee::kSnp}) {
    const std::string nonce = ToString(crypto::RandomBytes(32));
    auto ev = Node(tee, nonce);
    ASSERT_TRUE(ev.ok()) << ev.status();
    // Another node, attesting to another challenge.
    auto other = Node(sim::SimulatedTee::kTdx, ToString(crypto::RandomBytes(32)));
    ASSERT_TRUE(other.ok()) << other.status();
    attestation::v1::EvidenceBundle swapped = ev->bundle;
    *swapped.mutable_nvidia()->mutable_evidence_list(3) = other->bundle.nvidia().evidence_list(3);
    auto a = Run(swapped, nonce);
    ASSERT_TRUE(a.ok()) << a.status();
    const std::string dump = a->ToJson().dump(1);
    EXPECT_EQ(a->verdict, policy::Verdict::kContraindicated) << dump;
    EXPECT_TRUE(Has(a->reasons, "BINDING_MISMATCH")) << dump;
    EXPECT_TRUE(Has(a->reasons, "NONCE_MISMATCH")) << dump;
    ASSERT_EQ(a->devices.size(), 9u);
    const core::Check* nonce_check = FindCheck(a->devices[4], "nvidia.nonce");  // gpu3
    ASSERT_NE(nonce_check, nullptr);
    EXPECT_EQ(nonce_check->reason, "NONCE_MISMATCH");
    EXPECT_EQ(a->devices[4].status, policy::Verdict::kContraindicated);
    // The swapped report is authentic: only its freshness / binding fail.
    EXPECT_EQ(FindCheck(a->devices[4], "nvidia.report_signature")->status,
              core::CheckStatus::kPass);

    // The same swap with the CPU report re-bound to the foreign GPU report
    // is impossible without the CPU's key; the untouched node still passes.
    auto ok = Run(ev->bundle, nonce);
    ASSERT_TRUE(ok.ok());
    EXPECT_EQ(ok->verdict, policy::Verdict::kWarning) << ok->ToJson().dump(1);
  }
}

// A GPU in CC-off mode (the simulator writes a report without a valid CC
// mode) is refused by the GPU verifier of the same registry: nvidia.cc_mode
// fails and the cc_mode claim is null; the node's other GPUs are fine.
// NOTE: checked at the verifier level only. Through appraisal::Engine this
// device currently makes policy/appraise.cc AppraiseGpu throw
// (cl.value("cc_mode", "") on a null claim: nlohmann type_error 302), which
// is reported to the policy owner; once fixed, the engine gives
// GPU_NOT_IN_CC_MODE (contraindicated) for it.
TEST_F(CompositeTest, GpuInCcOffModeIsRefusedByVerifierAndPolicy) {
  const std::string nonce = ToString(crypto::RandomBytes(32));
  auto ev = Node(sim::SimulatedTee::kTdx, nonce, /*off_index=*/2);
  ASSERT_TRUE(ev.ok()) << ev.status();
  attestation::v1::SimulationConfig sc;
  sc.set_trust_simulation_root(true);
  sc.set_dir(*dir_);
  auto reg = appraisal::MakeDefaultRegistry(sc, appraisal::RegistryOptions{"", true});
  ASSERT_TRUE(reg.ok()) << reg.status();
  const core::EvidenceVerifier* gpus = (*reg)->Find(core::TeeType::kNvidia);
  ASSERT_NE(gpus, nullptr);
  attestation::v1::CollateralConfig cc;
  cc.set_offline(true);
  auto stack = appraisal::BuildCollateralStack(cc, roots_->CollateralDir(), absl::Now());
  ASSERT_TRUE(stack.ok()) << stack.status();
  core::VerifyContext ctx{absl::Now(), stack->source.get(), Bytes(nonce.begin(), nonce.end())};
  auto devices = gpus->Verify(ev->bundle, ctx);
  ASSERT_TRUE(devices.ok()) << devices.status();
  ASSERT_EQ(devices->size(), 8u);
  for (size_t i = 0; i < devices->size(); ++i) {
    const core::DeviceResult& d = (*devices)[i];
    const core::Check* mode = nullptr;
    for (const core::Check& c : d.checks) {
      if (c.name == "nvidia.cc_mode") mode = &c;
    }
    ASSERT_NE(mode, nullptr) << i;
    if (i == 2) {
      EXPECT_EQ(mode->status, core::CheckStatus::kFail) << mode->detail;
      EXPECT_TRUE(mode->reason == "CC_MODE_UNKNOWN" || mode->reason == "CC_MODE_OFF")
          << mode->reason;
      EXPECT_TRUE(d.claims.value("cc_mode", nlohmann::json("x")).is_null());
    } else {
      EXPECT_EQ(mode->status, core::CheckStatus::kPass) << i << " " << mode->reason;
      EXPECT_EQ(d.claims.value("cc_mode", nlohmann::json()), "cc") << i;
    }
  }
  // Through the whole engine and the strict policy: the node is refused,
  // and the policy names the GPU that is not in CC mode, whatever else.
  auto a = Run(ev->bundle, nonce);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->verdict, policy::Verdict::kContraindicated);
  const std::string dump = a->ToJson().dump();
  EXPECT_NE(dump.find("GPU_NOT_IN_CC_MODE"), std::string::npos) << dump.substr(0, 2000);
  ASSERT_GE(a->devices.size(), 4u);
  EXPECT_EQ(a->devices[3].device.name, "gpu2");
  EXPECT_EQ(a->devices[3].status, policy::Verdict::kContraindicated);
}

// attest-v2 (issue 13): a TDX + 8 GPU node binds its runtime claims; they
// appear in the result, the response and the token. Any change to a claim
// after the report was made fails the binding, and then no runtime claims
// appear anywhere (property over every single-claim mutation).
TEST_F(CompositeTest, RuntimeClaimsAreBoundAndNeverReportedUnbound) {
  policy::LoadedPolicy p = StrictWithSimulation();
  p.policy.clear_allowed_bindings();
  p.policy.add_allowed_bindings("attest-v2");
  const std::string nonce = ToString(crypto::RandomBytes(32));
  sim::NodeSimulationOptions o;
  o.tee = sim::SimulatedTee::kTdx;
  o.gpus = 8;
  const std::map<std::string, std::string> claims = {
      {"node", "gpu-node-1"}, {"pod_uid", "0f8e7a52-3c1d"}, {"workload", "llm"}};
  o.tdx.runtime_claims = claims;
  auto ev = sim::SimulateNode(*roots_, nonce, absl::Now(), o);
  ASSERT_TRUE(ev.ok()) << ev.status();
  EXPECT_EQ(ev->bundle.binding(), "attest-v2");
  const absl::Time now = absl::Now();
  auto engine = MakeEngine(now);
  const appraisal::RunOptions run{now, Bytes(nonce.begin(), nonce.end())};

  auto a = engine->Run(ev->bundle, p, run);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->verdict, policy::Verdict::kWarning) << a->ToJson().dump(1);
  EXPECT_EQ(a->reasons, std::vector<std::string>{"SIMULATED_EVIDENCE"});
  ASSERT_TRUE(a->runtime_claims.has_value());
  EXPECT_EQ(*a->runtime_claims, claims);
  EXPECT_TRUE(a->key_bound);
  EXPECT_EQ(a->ToJson()["runtime_claims"]["node"], "gpu-node-1");
  const nlohmann::json token = a->EarClaims(&ev->bundle.tee_public_key(), "test");
  EXPECT_EQ(token["runtime_claims"], nlohmann::json(claims));
  EXPECT_EQ(token["binding"], "attest-v2");
  EXPECT_TRUE(token.contains("cnf"));
  attestation::v1::AttestResponse response;
  a->ToProto(&response);
  EXPECT_EQ(response.runtime_claims().at("node"), "gpu-node-1");

  // Every single change to the claims: value, added, removed, renamed.
  std::vector<std::map<std::string, std::string>> mutations;
  for (const auto& [k, v] : claims) {
    auto changed = claims;
    changed[k] = v + "x";
    mutations.push_back(changed);
    auto removed = claims;
    removed.erase(k);
    mutations.push_back(removed);
    auto renamed = claims;
    renamed.erase(k);
    renamed[k + "2"] = v;
    mutations.push_back(renamed);
  }
  auto added = claims;
  added["extra"] = "1";
  mutations.push_back(added);
  mutations.push_back({});
  for (const auto& m : mutations) {
    attestation::v1::EvidenceBundle b = ev->bundle;
    b.mutable_runtime_claims()->clear();
    b.mutable_runtime_claims()->insert(m.begin(), m.end());
    auto bad = engine->Run(b, p, run);
    ASSERT_TRUE(bad.ok()) << bad.status();
    const std::string dump = bad->ToJson().dump();
    EXPECT_EQ(bad->verdict, policy::Verdict::kContraindicated) << dump;
    EXPECT_TRUE(Has(bad->reasons, "BINDING_MISMATCH")) << dump;
    EXPECT_FALSE(bad->runtime_claims.has_value());
    EXPECT_FALSE(bad->ToJson().contains("runtime_claims"));
    const nlohmann::json t = bad->EarClaims(&b.tee_public_key(), "test");
    EXPECT_FALSE(t.contains("runtime_claims"));
    EXPECT_FALSE(t.contains("cnf"));
    attestation::v1::AttestResponse r;
    bad->ToProto(&r);
    EXPECT_TRUE(r.runtime_claims().empty());
  }

  // Claims under attest-v1, or claims outside the accepted subset: refused
  // as malformed before anything is verified.
  attestation::v1::EvidenceBundle v1 = ev->bundle;
  v1.set_binding("attest-v1");
  EXPECT_EQ(engine->Run(v1, p, run).status().code(), absl::StatusCode::kInvalidArgument);
  attestation::v1::EvidenceBundle oversize = ev->bundle;
  // Four 1000-byte values: each within the value cap, the JCS form over 4 KiB.
  for (const char* k : {"big1", "big2", "big3", "big4"}) {
    (*oversize.mutable_runtime_claims())[k] = std::string(1000, 'x');
  }
  EXPECT_EQ(engine->Run(oversize, p, run).status().code(), absl::StatusCode::kInvalidArgument);
  // The policy must allow attest-v2 (the default list is [attest-v1]).
  policy::LoadedPolicy v1_only = StrictWithSimulation();
  auto refused = engine->Run(ev->bundle, v1_only, run);
  ASSERT_TRUE(refused.ok());
  EXPECT_TRUE(Has(refused->reasons, "BINDING_PROFILE_NOT_ALLOWED"));
  EXPECT_EQ(refused->verdict, policy::Verdict::kContraindicated);
}

TEST_F(CompositeTest, SimulatorRefusesBadInput) {
  const std::string nonce = ToString(crypto::RandomBytes(32));
  EXPECT_FALSE(sim::SimulateGpuEvidence(*roots_, 9, nonce, sim::GpuMode::kCc, absl::Now()).ok());
  EXPECT_FALSE(sim::SimulateGpuEvidence(*roots_, 1, "short", sim::GpuMode::kCc, absl::Now()).ok());
  EXPECT_FALSE(sim::ParseGpuMode("devtools").ok());
  EXPECT_EQ(*sim::ParseGpuMode("off"), sim::GpuMode::kOff);
  // Distinct ueids and the challenge nonce in every report.
  auto g = sim::SimulateGpuEvidence(*roots_, 8, nonce, sim::GpuMode::kCc, absl::Now());
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_EQ(g->reports.size(), 8u);
  for (const Bytes& r : g->reports) {
    ASSERT_GT(r.size(), 36u);
    EXPECT_EQ(std::string(r.begin() + 4, r.begin() + 36), nonce);
  }
}

// Files under `dir` (recursively) and their contents.
std::map<std::string, std::string> FilesUnder(const std::string& dir) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    auto text = ReadSmallFile(it->path().string(), 1024 * 1024);
    out[it->path().string()] = text.ok() ? *text : "<unreadable>";
  }
  return out;
}

// Issue 16: a load run simulates thousands of nodes; the OCSP answers the
// simulator writes are named by issuer and serial and reused while valid at
// the simulated time, so two runs leave the same files (byte for byte), and
// the node simulated second (on the reused answers) still verifies.
TEST_F(CompositeTest, SimulatorReusesOcspAnswersAcrossRuns) {
  const std::string ocsp_dir = roots_->CollateralDir() + "/nvidia/ocsp";
  const std::string n1 = ToString(crypto::RandomBytes(32));
  ASSERT_TRUE(Node(sim::SimulatedTee::kTdx, n1).ok());
  const std::map<std::string, std::string> first = FilesUnder(roots_->CollateralDir());
  const size_t ocsp_files = FilesUnder(ocsp_dir).size();
  EXPECT_GE(ocsp_files, 13u);  // RIM CA, L3, L4, GPU identity, provisioner, 8 BROMs
  const std::string n2 = ToString(crypto::RandomBytes(32));
  auto second = Node(sim::SimulatedTee::kTdx, n2);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(FilesUnder(roots_->CollateralDir()), first);  // same names, same bytes
  auto a = Run(second->bundle, n2);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->verdict, policy::Verdict::kWarning) << a->ToJson().dump(1);
  EXPECT_EQ(a->reasons, std::vector<std::string>{"SIMULATED_EVIDENCE"});
}

// The reuse is judged against the simulated time: an answer that no longer
// covers it (a run a week later, or one set before the answer's thisUpdate)
// is replaced under the same name, so the count stays the same.
TEST_F(CompositeTest, SimulatorReplacesOcspAnswersThatDoNotCoverTheSimulatedTime) {
  const std::string dir = ::testing::TempDir() + "/composite_ocsp_reuse";
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  auto roots = sim::LoadOrCreateSimulationRoots(dir);
  ASSERT_TRUE(roots.ok()) << roots.status();
  const std::string ocsp_dir = roots->CollateralDir() + "/nvidia/ocsp";
  const std::string nonce = ToString(crypto::RandomBytes(32));
  const absl::Time t0 = absl::Now();
  ASSERT_TRUE(sim::SimulateGpuEvidence(*roots, 8, nonce, sim::GpuMode::kCc, t0).ok());
  const std::map<std::string, std::string> at_t0 = FilesUnder(ocsp_dir);
  EXPECT_EQ(at_t0.size(), 13u);
  // An hour later: all reused.
  ASSERT_TRUE(
      sim::SimulateGpuEvidence(*roots, 8, nonce, sim::GpuMode::kCc, t0 + absl::Hours(1)).ok());
  EXPECT_EQ(FilesUnder(ocsp_dir), at_t0);
  // Fewer GPUs use a subset of the same answers.
  ASSERT_TRUE(sim::SimulateGpuEvidence(*roots, 3, nonce, sim::GpuMode::kCc, t0).ok());
  EXPECT_EQ(FilesUnder(ocsp_dir), at_t0);
  // Eight days later: every answer is past (or within a day of) its
  // nextUpdate, so each is replaced, under the same name.
  ASSERT_TRUE(
      sim::SimulateGpuEvidence(*roots, 8, nonce, sim::GpuMode::kCc, t0 + absl::Hours(24 * 8))
          .ok());
  const std::map<std::string, std::string> later = FilesUnder(ocsp_dir);
  ASSERT_EQ(later.size(), at_t0.size());
  for (const auto& [path, bytes] : later) {
    ASSERT_TRUE(at_t0.contains(path)) << path;
    EXPECT_NE(at_t0.at(path), bytes) << path;
  }
  // Back at t0: thisUpdate (t0 + 8 d - 1 h) is after it: replaced again.
  ASSERT_TRUE(sim::SimulateGpuEvidence(*roots, 8, nonce, sim::GpuMode::kCc, t0).ok());
  const std::map<std::string, std::string> back = FilesUnder(ocsp_dir);
  ASSERT_EQ(back.size(), at_t0.size());
  for (const auto& [path, bytes] : back) EXPECT_NE(later.at(path), bytes) << path;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace rp
