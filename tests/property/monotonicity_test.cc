// Issue 10, principle 1 (monotonicity), as a property over every real
// evidence bundle in tests/data and over simulated SNP / TDX nodes with 0-2
// GPUs (and a PPCIe one): no removal, truncation or replacement of any
// field of the bundle may give a better verdict, a cnf the intact bundle
// does not give, a passing check the intact bundle ran without passing, or
// a better status / authenticity for any device that is still the intact
// bundle's device; and no outcome may carry an unbound cnf or a freshness
// check passed on a bundle-named nonce. README.md beside this file states
// the property, the mutation kinds, the policies and how to run the full /
// sampled modes.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <limits>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "appraisal/collateral_stack.h"
#include "appraisal/engine.h"
#include "appraisal/registry_factory.h"
#include "cli/bundle_io.h"
#include "cli/simulate.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "policy/yaml_json.h"
#include "tests/property/monotonicity.h"
#include "tests/property/mutate.h"
#include "verifier/common/clock.h"
#include "verifier/common/encoding.h"
#include "verifier/core/registry.h"
#include "verifier/core/verifier.h"
#include "verifier/crypto/digest.h"
#include "verifier/crypto/verified_memo.h"

namespace rp::property {
namespace {

namespace fs = std::filesystem;
using attestation::v1::EvidenceBundle;

const std::string kRoot = RP_SOURCE_DIR;

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : fallback;
}

// ---- Inputs ---------------------------------------------------------------

struct Case {
  std::string name;
  std::string group;  // real-tdx-gpu | real-snp | simulated
  EvidenceBundle bundle;
  absl::Time at;
  std::string collateral_dir;
  bool trust_simulation = false;
  std::optional<Bytes> expected_nonce;
  bool allow_no_freshness = false;
};

// Verification times (tests/data/bundles/PROVENANCE.md, cli/real_bundles_test.cc,
// tests/data/nvidia/PROVENANCE.md). A bundle file not listed here fails the
// test: every real bundle must be covered.
const std::map<std::string, std::string>& RealTimes() {
  static const auto* m = new std::map<std::string, std::string>{
      {"tdx_phala_uptodate", "2025-07-01T00:00:00Z"},
      {"tdx_phala_no_tcb_level", "2026-03-01T00:00:00Z"},
      {"tdx_gotdx_v5", "2026-02-15T00:00:00Z"},
      {"gpu_h100_drv545.00", "2025-01-15T00:00:00Z"},
      {"gpu_h100_drv550.90.07", "2026-11-22T00:00:00Z"},
      {"gpu_gb100_drv575.32", "2026-11-22T00:00:00Z"},
      {"gpu_h100_NEG_badsig", "2026-11-22T00:00:00Z"},
      {"h100_drv570.86.10_cert_hold_evidence", "2026-11-22T00:00:00Z"},
      {"hgx_h100_4gpu_drv590.12_ppcie_evidence", "2026-11-22T00:00:00Z"},
  };
  return *m;
}

std::vector<std::string> JsonFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".json") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<Case> RealTdxGpuCases() {
  std::vector<Case> out;
  std::vector<std::string> files = JsonFiles(kRoot + "/tests/data/bundles");
  for (const std::string& f : JsonFiles(kRoot + "/tests/data/nvidia/evidence_json")) {
    files.push_back(f);
  }
  for (const std::string& f : files) {
    const std::string name = fs::path(f).stem().string();
    auto t = RealTimes().find(name);
    if (t == RealTimes().end()) {
      ADD_FAILURE() << f << ": no verification time for this bundle; add it to RealTimes()";
      continue;
    }
    auto b = cli::ReadBundleFile(f);
    if (!b.ok()) {
      ADD_FAILURE() << b.status();
      continue;
    }
    Case c;
    c.name = name;
    c.group = "real-tdx-gpu";
    c.bundle = *b;
    c.at = *ParseTime(t->second);
    c.collateral_dir = kRoot + "/tests/data/bundles/offline";
    c.allow_no_freshness = true;
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<Case> RealSnpCases() {
  std::vector<Case> out;
  const std::string dir = kRoot + "/tests/data/snp/bundles";
  auto text = ReadSmallFile(dir + "/expected_verdicts.json", 1 << 20);
  if (!text.ok()) {
    ADD_FAILURE() << text.status();
    return out;
  }
  const nlohmann::json expected = nlohmann::json::parse(*text);
  for (const std::string& f : JsonFiles(dir)) {
    const std::string name = fs::path(f).stem().string();
    if (name == "expected_verdicts") continue;
    if (!expected.contains(name) || !expected[name].contains("at")) {
      ADD_FAILURE() << f << ": no verification time in expected_verdicts.json";
      continue;
    }
    auto b = cli::ReadBundleFile(f);
    if (!b.ok()) {
      ADD_FAILURE() << b.status();
      continue;
    }
    Case c;
    c.name = name;
    c.group = "real-snp";
    c.bundle = *b;
    c.at = *ParseTime(expected[name]["at"].get<std::string>());
    c.collateral_dir = kRoot + "/tests/data/snp/offline";
    c.allow_no_freshness = true;
    out.push_back(std::move(c));
  }
  return out;
}

// Simulated nodes under a per-process simulation root (dev configuration:
// the registry trusts it), verified now with the challenge nonce.
std::vector<Case> SimulatedCases(const std::string& dir, absl::Time now) {
  std::vector<Case> out;
  if (!sim::CompositeSimulationAvailable()) {
    ADD_FAILURE() << "built without the simulation builders";
    return out;
  }
  auto roots = sim::LoadOrCreateSimulationRoots(dir);
  if (!roots.ok()) {
    ADD_FAILURE() << roots.status();
    return out;
  }
  struct Spec {
    std::string name;
    sim::SimulatedTee tee;
    int gpus;
    sim::GpuMode mode;
    bool runtime_claims = false;  // attest-v2 with runtime claims
  };
  const Spec specs[] = {
      {"sim_snp_0gpu", sim::SimulatedTee::kSnp, 0, sim::GpuMode::kCc},
      {"sim_snp_1gpu", sim::SimulatedTee::kSnp, 1, sim::GpuMode::kCc},
      {"sim_snp_2gpu", sim::SimulatedTee::kSnp, 2, sim::GpuMode::kCc},
      {"sim_tdx_0gpu", sim::SimulatedTee::kTdx, 0, sim::GpuMode::kCc},
      {"sim_tdx_1gpu", sim::SimulatedTee::kTdx, 1, sim::GpuMode::kCc},
      {"sim_tdx_2gpu", sim::SimulatedTee::kTdx, 2, sim::GpuMode::kCc},
      {"sim_tdx_2gpu_ppcie", sim::SimulatedTee::kTdx, 2, sim::GpuMode::kPpcie},
      {"sim_tdx_1gpu_attest_v2", sim::SimulatedTee::kTdx, 1, sim::GpuMode::kCc, true},
      {"sim_snp_0gpu_attest_v2", sim::SimulatedTee::kSnp, 0, sim::GpuMode::kCc, true},
  };
  for (const Spec& s : specs) {
    // A fixed nonce per case (the bytes signed differ per run: fresh keys).
    const Bytes nonce = crypto::Sha256(AsBytes(s.name));
    sim::NodeSimulationOptions o;
    o.tee = s.tee;
    o.gpus = s.gpus;
    o.gpu_mode = s.mode;
    if (s.runtime_claims) {
      const std::map<std::string, std::string> rc = {{"node", "gpu-node-1"},
                                                     {"workload", "llm-serving"}};
      o.tdx.runtime_claims = rc;
      o.snp.runtime_claims = rc;
    }
    auto ev = sim::SimulateNode(*roots, ToString(nonce), now, o);
    if (!ev.ok()) {
      ADD_FAILURE() << s.name << ": " << ev.status();
      continue;
    }
    Case c;
    c.name = s.name;
    c.group = "simulated";
    c.bundle = ev->bundle;
    c.at = now;
    c.collateral_dir = roots->CollateralDir();
    c.trust_simulation = true;
    c.expected_nonce = nonce;
    out.push_back(c);
    if (s.name == "sim_tdx_1gpu") {
      // `attestctl verify --no-freshness` of a bundle that names its nonce.
      Case named = c;
      named.name = "sim_tdx_1gpu_named_nonce";
      named.bundle.set_nonce(HexEncode(nonce));
      named.expected_nonce.reset();
      named.allow_no_freshness = true;
      out.push_back(std::move(named));
    }
  }
  return out;
}

// ---- Engines and policies -------------------------------------------------

// Verification does not depend on the policy except through the
// collateral grace; the same mutant is appraised under several policies, so
// each verifier's result is memoized per thread for (bundle, time, nonce,
// grace). The engine, binding and policy still run every time. Off with
// PROPERTY_NO_MEMO=1.
class MemoVerifier : public core::EvidenceVerifier {
 public:
  explicit MemoVerifier(const core::EvidenceVerifier* inner) : inner_(inner) {}
  absl::StatusOr<std::vector<core::DeviceResult>> Verify(
      const EvidenceBundle& bundle, const core::VerifyContext& ctx) const override {
    thread_local std::map<std::string, absl::StatusOr<std::vector<core::DeviceResult>>> cache;
    std::string key = absl::StrCat(reinterpret_cast<uintptr_t>(this), "|",
                                   absl::ToUnixNanos(ctx.at), "|",
                                   absl::ToInt64Seconds(ctx.collateral_grace), "|",
                                   ctx.expected_nonce ? HexEncode(*ctx.expected_nonce) : "-", "|",
                                   reinterpret_cast<uintptr_t>(ctx.collateral), "|",
                                   reinterpret_cast<uintptr_t>(ctx.ocsp), "|",
                                   bundle.SerializeAsString());
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
    if (cache.size() > 8) cache.clear();
    auto r = inner_->Verify(bundle, ctx);
    cache.emplace(std::move(key), r);
    return r;
  }

 private:
  const core::EvidenceVerifier* inner_;
};

class Engines {
 public:
  // memo_wrapper: wrap each verifier in MemoVerifier (unless PROPERTY_NO_MEMO=1).
  explicit Engines(std::string sim_dir, bool memo_wrapper = true)
      : sim_dir_(std::move(sim_dir)), memo_wrapper_(memo_wrapper) {}

  const appraisal::Engine* For(const Case& c) {
    const std::string key = absl::StrCat(c.collateral_dir, "|", absl::FormatTime(c.at), "|",
                                         c.trust_simulation);
    auto it = engines_.find(key);
    if (it != engines_.end()) return it->second.get();
    attestation::v1::SimulationConfig sc;
    sc.set_trust_simulation_root(c.trust_simulation);
    if (c.trust_simulation) sc.set_dir(sim_dir_);
    attestation::v1::CollateralConfig cc;
    cc.set_offline(true);
    auto stack = appraisal::BuildCollateralStack(cc, c.collateral_dir, c.at);
    EXPECT_TRUE(stack.ok()) << stack.status();
    if (!stack.ok()) return nullptr;
    appraisal::RegistryOptions ro;
    ro.offline = true;
    auto reg = appraisal::MakeDefaultRegistry(sc, ro);
    EXPECT_TRUE(reg.ok()) << reg.status();
    if (!reg.ok()) return nullptr;
    std::unique_ptr<core::Registry> use = std::move(*reg);
    if (memo_wrapper_ && EnvInt("PROPERTY_NO_MEMO", 0) == 0) {
      auto memo = std::make_unique<core::Registry>();
      for (core::TeeType t : {core::TeeType::kSevSnp, core::TeeType::kTdx, core::TeeType::kNvidia}) {
        if (const core::EvidenceVerifier* v = use->Find(t)) {
          EXPECT_TRUE(memo->Register(t, std::make_unique<MemoVerifier>(v)).ok());
        }
      }
      inner_.push_back(std::move(use));
      use = std::move(memo);
    }
    auto e = appraisal::Engine::Create(std::move(use), stack->source, stack->ocsp);
    EXPECT_TRUE(e.ok()) << e.status();
    if (!e.ok()) return nullptr;
    return (engines_[key] = std::move(*e)).get();
  }

 private:
  std::string sim_dir_;
  bool memo_wrapper_ = true;
  std::vector<std::unique_ptr<core::Registry>> inner_;  // what MemoVerifiers call
  std::map<std::string, std::unique_ptr<appraisal::Engine>> engines_;
};

struct NamedPolicy {
  std::string name;
  policy::LoadedPolicy loaded;
};

// Through the policy loader (validation included), as a policy file would.
policy::LoadedPolicy Load(const attestation::v1::Policy& p) {
  std::string json;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(p, &json, o).ok());
  auto lp = policy::ParsePolicy(json, p.id());
  EXPECT_TRUE(lp.ok()) << lp.status() << "\n" << json;
  return lp.ok() ? *lp : policy::DefaultPolicy();
}

bool HasCpu(const EvidenceBundle& b) { return b.has_sev_snp() || b.has_tdx(); }

// Every device count the node has is pinned: a relying party knows its
// node's shape (without this, dropping a failing GPU is "attesting less").
void PinShape(const EvidenceBundle& b, attestation::v1::Policy* p) {
  p->mutable_nvidia()->set_expected_gpus(b.nvidia().evidence_list_size());
  p->mutable_nvidia()->set_expected_switches(b.nvidia().switch_evidence_list_size());
}

// The best the intact bundle can get: every knob relaxed.
attestation::v1::Policy PermissiveBase(const Case& c) {
  attestation::v1::Policy p;
  p.set_id("permissive");
  p.set_version("1");
  for (const char* b : {"attest-v1", "attest-v2", "nonce", "none"}) p.add_allowed_bindings(b);
  p.set_allow_simulated(c.trust_simulation);
  // No collateral grace (as the default): every policy verifies the same
  // way, so one verification serves them all (MemoVerifier).
  p.set_require_cpu_evidence(HasCpu(c.bundle));
  auto* s = p.mutable_sev_snp();
  s->set_allow_debug(true);
  s->set_allow_migrate_ma(true);
  s->set_require_revocation_check(false);
  auto* t = p.mutable_tdx();
  t->set_allow_debug(true);
  t->set_require_revocation_check(false);
  for (const char* st : {"UpToDate", "SWHardeningNeeded", "ConfigurationNeeded",
                         "ConfigurationAndSWHardeningNeeded", "OutOfDate",
                         "OutOfDateConfigurationNeeded"}) {
    t->add_accepted_tcb_statuses(st);
  }
  auto* g = p.mutable_nvidia();
  g->set_mode("any");
  g->set_allow_rim_mismatch(true);
  g->mutable_ocsp()->set_allow_hold(true);
  g->mutable_ocsp()->set_allow_unknown(true);
  g->mutable_ocsp()->set_soft_fail(true);
  PinShape(c.bundle, &p);
  return p;
}

appraisal::RunOptions Options(const Case& c) {
  appraisal::RunOptions o;
  o.at = c.at;
  o.expected_nonce = c.expected_nonce;
  o.allow_no_freshness = c.allow_no_freshness;
  return o;
}

std::string FlipHex(std::string v) {
  if (v.empty()) return v;
  v[0] = v[0] == '0' ? '1' : '0';
  return v;
}

std::string ClaimString(const nlohmann::json& claims, const char* key) {
  auto it = claims.find(key);
  return it != claims.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Names optional_checks may not hold (policy/relaxations.cc rejects them
// at load time).
bool IsReservedCheck(const std::string& name) {
  return name == "nonce" || name == "binding" || name == "nvidia.nonce" ||
         name.rfind("policy.", 0) == 0;
}

// The policies each bundle is checked under (README.md "Policies").
std::vector<NamedPolicy> PoliciesFor(const Case& c, const appraisal::Engine& engine) {
  std::vector<NamedPolicy> out;
  const appraisal::RunOptions opts = Options(c);
  // permissive: relax, by name, every check the intact bundle leaves
  // not-checked and unrelaxed (fixpoint: relaxing can change what is
  // evaluated). Freshness and binding (`nonce`, `binding`, `nvidia.nonce`)
  // and the policy's own `policy.*` checks cannot be named there (the
  // loader rejects them): they have their own knobs, set above from the
  // case (allowed_bindings, require_cpu_evidence, allow_simulated,
  // RunOptions::allow_no_freshness), and what those leave is left.
  attestation::v1::Policy perm = PermissiveBase(c);
  std::map<std::string, nlohmann::json> claims;  // tee -> claims of its first device
  for (int round = 0; round < 4; ++round) {
    auto a = engine.Run(c.bundle, Load(perm), opts);
    if (!a.ok()) break;
    std::set<std::string> have(perm.optional_checks().begin(), perm.optional_checks().end());
    bool added = false;
    auto relax = [&](const core::Check& ch) {
      if (ch.status == core::CheckStatus::kNotChecked && ch.affects_status &&
          ch.relaxed_by.empty() && !IsReservedCheck(ch.name) &&
          perm.optional_checks_size() < 64 && have.insert(ch.name).second) {
        perm.add_optional_checks(ch.name);
        added = true;
      }
    };
    claims.clear();
    for (const auto& d : a->devices) {
      for (const auto& ch : d.device.checks) relax(ch);
      claims.emplace(d.device.tee, d.device.claims);
    }
    for (const auto& ch : a->bundle_checks) relax(ch);
    if (!added) break;
  }
  out.push_back(NamedPolicy{"permissive", Load(perm)});

  // default: the built-in default policy (simulation allowed for simulated
  // nodes, device counts pinned).
  attestation::v1::Policy def = policy::DefaultPolicy().policy;
  def.set_id("default");
  def.set_allow_simulated(c.trust_simulation);
  PinShape(c.bundle, &def);
  out.push_back(NamedPolicy{"default", Load(def)});

  // constrained-a/b/c: permissive plus one constraint per device type that
  // the intact claims fail. The intact bundle is contraindicated; a mutant
  // that hides or forges the claim must stay so (per device as well).
  const nlohmann::json none = nlohmann::json::object();
  auto claims_of = [&](const char* tee) -> const nlohmann::json& {
    auto it = claims.find(tee);
    return it == claims.end() ? none : it->second;
  };
  const nlohmann::json& tdx = claims_of("tdx");
  const nlohmann::json& snp = claims_of("sev-snp");
  const nlohmann::json& gpu = claims_of("nvidia-gpu");
  const bool has_tdx = c.bundle.has_tdx(), has_snp = c.bundle.has_sev_snp(),
             has_gpu = c.bundle.nvidia().evidence_list_size() > 0;
  const std::string zeros48(96, '0'), zeros32(64, '0');
  for (const char* which : {"a", "b", "c"}) {
    attestation::v1::Policy p = perm;
    p.set_id(absl::StrCat("constrained-", which));
    bool any = false;
    const std::string w = which;
    if (has_tdx) {
      auto* t = p.mutable_tdx();
      if (w == "a") {
        const std::string status = ClaimString(tdx, "tcb_status");
        t->clear_accepted_tcb_statuses();
        t->clear_tolerated_tcb_statuses();
        t->add_accepted_tcb_statuses(status == "OutOfDate" ? "UpToDate" : "OutOfDate");
        any = true;
      } else if (w == "b") {
        const std::string mrtd = ClaimString(tdx, "mrtd");
        t->add_mrtd(mrtd.size() == 96 ? FlipHex(mrtd) : zeros48);
        any = true;
      } else {
        const auto it = tdx.find("tcb_evaluation_data_number");
        t->set_min_tcb_evaluation_data_number(
            it != tdx.end() && it->is_number_integer() ? it->get<int>() + 1 : 1000000);
        if (tdx.contains("advisory_ids") && tdx["advisory_ids"].is_array() &&
            !tdx["advisory_ids"].empty()) {
          t->add_accepted_advisory_ids("INTEL-SA-00000");
        }
        any = true;
      }
    }
    if (has_snp) {
      auto* s = p.mutable_sev_snp();
      if (w == "a") {
        const std::string m = ClaimString(snp, "measurement");
        s->add_measurements(m.size() == 96 ? FlipHex(m) : zeros48);
        any = true;
      } else if (w == "b") {
        const std::string h = ClaimString(snp, "host_data");
        s->add_host_data(h.size() == 64 ? FlipHex(h) : zeros32);
        any = true;
      } else {
        const auto vm = snp.find("vmpl");
        const auto ver = snp.find("version");
        if (vm != snp.end() && vm->is_number_integer() && vm->get<int>() > 0) {
          s->set_max_vmpl(vm->get<int>() - 1);
          any = true;
        } else if (ver != snp.end() && ver->is_number_integer() && ver->get<int>() < 5) {
          s->set_min_version(ver->get<int>() + 1);
          any = true;
        }
      }
    }
    if (has_gpu) {
      auto* g = p.mutable_nvidia();
      if (w == "a") {
        const std::string hw = ClaimString(gpu, "hwmodel");
        g->add_hwmodel(hw.empty() ? "NO SUCH GPU" : hw + " (other)");
      } else if (w == "b") {
        g->set_min_driver_version("9999");
      } else {
        g->set_min_vbios_version("FF.FF.FF.FF.FF");
      }
      any = true;
    }
    if (any) out.push_back(NamedPolicy{p.id(), Load(p)});
  }
  return out;
}

// ---- Running --------------------------------------------------------------

struct Violation {
  std::string bundle, policy, path, kind;
  std::string intact, mutant;  // outcome names
  Finding finding;
  std::string reasons;  // the mutant's reasons
};

std::string NormalizeKind(const std::string& kind) {
  if (kind.rfind("swap:", 0) == 0) return "swap";
  return std::regex_replace(kind, std::regex("\\[[0-9,]+\\]"), "[]");
}

std::string Line(const Violation& v) {
  return absl::StrCat("VIOLATION bundle=", v.bundle, " policy=", v.policy, " path=", v.path,
                      " kind=", v.kind, " intact=", v.intact, " mutant=", v.mutant,
                      " property=", v.finding.property, " (", v.finding.detail, ") reasons=[",
                      v.reasons, "]");
}

class MonotonicityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    sim_dir_ = new std::string(absl::StrCat(::testing::TempDir(), "/property_sim_", getpid()));
    now_ = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()));
    all_ = new std::vector<Case>();
    for (auto* f : {&RealTdxGpuCases, &RealSnpCases}) {
      for (Case& c : f()) all_->push_back(std::move(c));
    }
    for (Case& c : SimulatedCases(*sim_dir_, now_)) all_->push_back(std::move(c));
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(*sim_dir_, ec);
    delete all_;
    delete sim_dir_;
  }

  void RunGroup(const std::string& group) {
    const auto t0 = std::chrono::steady_clock::now();
    const int stride = std::max(1, EnvInt("PROPERTY_STRIDE", 1));
    const int threads = std::clamp(
        EnvInt("PROPERTY_THREADS", static_cast<int>(std::thread::hardware_concurrency())), 1, 16);
    const bool verbose = EnvInt("PROPERTY_VERBOSE", 0) != 0;
    const char* only_env = std::getenv("PROPERTY_ONLY");
    const std::regex only(only_env != nullptr && *only_env != '\0' ? only_env : ".*");
    EnumerateOptions eo;
    std::map<std::string, const Case*> by_name;
    for (const Case& c : *all_) {
      eo.donors.push_back(Donor{c.name, &c.bundle});
      by_name[c.name] = &c;
    }
    Engines engines(*sim_dir_);

    std::vector<Violation> violations, explained, recombined;
    size_t total_mutants = 0, total_runs = 0, total_rejected = 0;
    int cases = 0;
    for (const Case& c : *all_) {
      if (c.group != group || !std::regex_search(c.name, only)) continue;
      ++cases;
      const auto c0 = std::chrono::steady_clock::now();
      const appraisal::Engine* engine = engines.For(c);
      ASSERT_NE(engine, nullptr) << c.name;
      const std::vector<NamedPolicy> policies = PoliciesFor(c, *engine);
      const appraisal::RunOptions opts = Options(c);
      std::vector<Outcome> intact;
      // Absolute findings of the intact bundle, per policy: reported once
      // (path "(intact)"), not again for every mutant that keeps them.
      std::vector<std::set<std::string>> intact_absolute(policies.size());
      std::string intact_line;
      for (const NamedPolicy& p : policies) {
        intact.push_back(Evaluate(*engine, c.bundle, p.loaded, opts));
        absl::StrAppend(&intact_line, " ", p.name, "=", OutcomeName(intact.back()));
        for (Finding& f : CheckAbsolute(intact.back(), c.expected_nonce.has_value())) {
          intact_absolute[intact.size() - 1].insert(f.property + f.detail);
          violations.push_back(Violation{c.name, p.name, "(intact)", "none",
                                         OutcomeName(intact.back()), OutcomeName(intact.back()),
                                         std::move(f), absl::StrJoin(intact.back().reasons, ",")});
        }
      }
      if (EnvInt("PROPERTY_DUMP_INTACT", 0) != 0) {
        // Every check of the intact bundle under `permissive` that does not
        // pass: why the baseline is what it is.
        auto a = engine->Run(c.bundle, policies[0].loaded, opts);
        if (a.ok()) {
          auto dump = [&](const std::string& who, const core::Check& ch) {
            if (ch.status == core::CheckStatus::kPass) return;
            std::cout << "[intact] " << c.name << " " << who << " " << ch.name << " "
                      << core::CheckStatusName(ch.status) << " " << ch.reason
                      << (ch.relaxed_by.empty() ? "" : " relaxed_by=" + ch.relaxed_by)
                      << (ch.affects_status ? "" : " (informational)") << ": "
                      << ch.detail.substr(0, 160) << "\n";
          };
          for (const auto& ch : a->bundle_checks) dump("bundle", ch);
          for (const auto& d : a->devices) {
            for (const auto& ch : d.device.checks) dump(d.device.name, ch);
          }
        }
      }
      // The intact bundle must be appraised (it is the baseline).
      ASSERT_EQ(intact[0].kind, Outcome::Kind::kAppraisal)
          << c.name << ": intact bundle not appraised: " << intact[0].error;

      std::vector<Mutant> mutants;
      size_t index = 0;
      EnumerateMutants(c.name, c.bundle, eo, [&](Mutant&& m) {
        if (index++ % static_cast<size_t>(stride) == 0) mutants.push_back(std::move(m));
      });
      // Donor bundles appraised under this bundle's policies and options
      // (computed when a swap mutant first needs them).
      std::mutex donor_mu;
      std::map<std::pair<std::string, size_t>, Outcome> donor_outcomes;
      auto donor_outcome = [&](const std::string& donor, size_t p) -> Outcome {
        {
          std::lock_guard<std::mutex> l(donor_mu);
          auto it = donor_outcomes.find({donor, p});
          if (it != donor_outcomes.end()) return it->second;
        }
        Outcome o = Evaluate(*engine, by_name.at(donor)->bundle, policies[p].loaded, opts);
        std::lock_guard<std::mutex> l(donor_mu);
        return donor_outcomes.emplace(std::make_pair(donor, p), std::move(o)).first->second;
      };
      std::atomic<size_t> next{0};
      std::atomic<size_t> rejected{0};
      std::mutex mu;
      auto worker = [&] {
        std::vector<Violation> local, local_explained, local_recombined;
        for (size_t i = next++; i < mutants.size(); i = next++) {
          const Mutant& m = mutants[i];
          for (size_t p = 0; p < policies.size(); ++p) {
            const Outcome o = Evaluate(*engine, m.bundle, policies[p].loaded, opts);
            if (o.kind == Outcome::Kind::kError) ++rejected;
            std::vector<Finding> findings = Compare(intact[p], o, m);
            std::string recombination;  // what makes it one (README "Recombination")
            if (!findings.empty() && m.kind.rfind("swap:", 0) == 0) {
              const Outcome d = donor_outcome(m.kind.substr(5), p);
              findings = Compare(intact[p], o, m, &d);
              recombination = Recombination(m, intact[p], o, d);
              for (Finding& f : findings) {
                f.recombination =
                    !f.donor_explained && !recombination.empty() && RecombinationMayExcuse(f);
              }
            }
            for (Finding& f : CheckAbsolute(o, c.expected_nonce.has_value())) {
              if (intact_absolute[p].count(f.property + f.detail) == 0) {
                findings.push_back(std::move(f));
              }
            }
            for (Finding& f : findings) {
              std::vector<Violation>& to = f.donor_explained ? local_explained
                                           : f.recombination ? local_recombined
                                                             : local;
              if (f.recombination) absl::StrAppend(&f.detail, "; same ", recombination);
              to.push_back(Violation{c.name, policies[p].name, m.path, m.kind,
                                     OutcomeName(intact[p]), OutcomeName(o), std::move(f),
                                     absl::StrJoin(o.reasons, ",")});
            }
          }
        }
        std::lock_guard<std::mutex> l(mu);
        for (Violation& v : local) violations.push_back(std::move(v));
        for (Violation& v : local_explained) explained.push_back(std::move(v));
        for (Violation& v : local_recombined) recombined.push_back(std::move(v));
      };
      std::vector<std::thread> pool;
      for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
      for (std::thread& t : pool) t.join();
      total_mutants += mutants.size();
      total_runs += mutants.size() * policies.size();
      total_rejected += rejected;
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - c0).count();
      std::cout << "[property] " << c.name << ": " << mutants.size() << " mutants x "
                << policies.size() << " policies, intact:" << intact_line << " (permissive reasons ["
                << absl::StrJoin(intact[0].reasons, ",") << "], optional_checks ["
                << absl::StrJoin(policies[0].loaded.policy.optional_checks(), ",") << "]), "
                << absl::StrFormat("%.1f", secs) << " s\n";
    }
    ASSERT_GT(cases, 0) << group;

    const std::vector<std::string> classes = PrintClasses(violations, "class", !verbose);
    const std::vector<std::string> excused = PrintClasses(explained, "donor-explained", false);
    // Recombinations are printed with examples: each one is a claim that a
    // better verdict was earned, worth reading.
    PrintClasses(recombined, "recombination", true);
    if (verbose) {
      for (const Violation& v : violations) std::cout << Line(v) << "\n";
    }
    if (const char* path = std::getenv("PROPERTY_REPORT"); path != nullptr && *path != '\0') {
      std::ofstream f(absl::StrCat(path, ".", group), std::ios::trunc);
      for (const Violation& v : violations) f << Line(v) << "\n";
      for (const Violation& v : explained) f << "DONOR-EXPLAINED " << Line(v) << "\n";
      for (const Violation& v : recombined) f << "RECOMBINATION " << Line(v) << "\n";
    }
    std::cout << "[property] " << group << ": " << cases << " bundles, " << total_mutants
              << " mutated bundles, " << total_runs << " appraisals (" << total_rejected
              << " refused by the engine), " << violations.size() << " violations in "
              << classes.size() << " classes (not counted: " << explained.size()
              << " swap findings no better than the donor itself, " << recombined.size()
              << " recombinations), "
              << absl::StrFormat("%.1f", std::chrono::duration<double>(
                                             std::chrono::steady_clock::now() - t0)
                                             .count())
              << " s on " << threads << " thread(s)" << (stride > 1 ? " (sampled)" : "") << "\n";
    EXPECT_TRUE(violations.empty())
        << violations.size() << " monotonicity violations in " << classes.size()
        << " classes (listed above; PROPERTY_VERBOSE=1 prints every one)";
  }

  // Groups violations into classes (property, field path without indices,
  // mutation kind without indices / donor, verdict change), prints one
  // line per class (most frequent first) and up to 3 examples each.
  static std::vector<std::string> PrintClasses(std::vector<Violation>& vs, const char* tag,
                                               bool examples) {
    std::sort(vs.begin(), vs.end(), [](const Violation& a, const Violation& b) {
      return std::tie(a.bundle, a.policy, a.path, a.kind, a.finding.property, a.finding.detail) <
             std::tie(b.bundle, b.policy, b.path, b.kind, b.finding.property, b.finding.detail);
    });
    struct Class {
      size_t count = 0;
      std::set<std::string> bundles, policies;
      std::vector<const Violation*> examples;
    };
    std::map<std::string, Class> classes;
    for (const Violation& v : vs) {
      const std::string& d = v.finding.detail;
      const std::string& prop = v.finding.property;
      std::string key;
      if (prop == "cnf" || prop == "cnf_unbound" || prop == "nonce_unverified" ||
          prop == "claims_unauthentic" || prop == "binding_unverified") {
        // One root cause (the token's cnf): grouped by the top-level field.
        const std::string top = v.path.substr(0, v.path.find_first_of(".["));
        key = absl::StrCat(prop, " | ", top, " | * | ", prop == "cnf" ? "" : d);
      } else {
        std::string change = absl::StrCat(v.intact, "->", v.mutant);
        if (prop == "device") {
          change = absl::StrCat(d.substr(0, 3), " ", d.substr(d.rfind(": ") + 2));
        } else if (prop == "check" || prop == "bundle_check") {
          const size_t colon = d.find(": ");
          const size_t from = prop == "check" && colon != std::string::npos ? colon + 2 : 0;
          change = absl::StrCat(prop == "check" ? d.substr(0, 3) + " " : "",
                                d.substr(from, d.find(" passes") - from));
        }
        key = absl::StrCat(prop, " | ", NormalizePath(v.path), " | ", NormalizeKind(v.kind), " | ",
                           change);
      }
      Class& cl = classes[key];
      ++cl.count;
      cl.bundles.insert(v.bundle);
      cl.policies.insert(v.policy);
      if (cl.examples.size() < 3) cl.examples.push_back(&v);
    }
    std::vector<std::pair<std::string, const Class*>> sorted;
    for (const auto& [k, cl] : classes) sorted.emplace_back(k, &cl);
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const auto& a, const auto& b) { return a.second->count > b.second->count; });
    std::vector<std::string> keys;
    for (const auto& [key, cl] : sorted) {
      keys.push_back(key);
      std::cout << "[" << tag << "] " << cl->count << " x " << key << "  bundles{"
                << absl::StrJoin(cl->bundles, ",") << "} policies{"
                << absl::StrJoin(cl->policies, ",") << "}\n";
      if (examples) {
        for (const Violation* v : cl->examples) std::cout << "  " << Line(*v) << "\n";
      }
    }
    return keys;
  }

  static std::string* sim_dir_;
  static absl::Time now_;
  static std::vector<Case>* all_;
};
std::string* MonotonicityTest::sim_dir_ = nullptr;
absl::Time MonotonicityTest::now_;
std::vector<Case>* MonotonicityTest::all_ = nullptr;

TEST_F(MonotonicityTest, RealTdxAndGpuBundles) { RunGroup("real-tdx-gpu"); }
TEST_F(MonotonicityTest, RealSnpBundles) { RunGroup("real-snp"); }
TEST_F(MonotonicityTest, SimulatedNodes) { RunGroup("simulated"); }

// Issue 16: the verified-object memo (docs/verified-memo.md) gives exactly
// what a full verification gives. For every bundle (real and simulated):
// the memo is warmed on the intact bundle, then the whole appraisal result
// (verdict, every check with status, reason and detail) with the memo is
// compared with the result under ScopedMemoBypass, (a) for the intact
// bundle at its time and at every second around every edge of every
// remembered chain window and OCSP answer window, and (b) for its mutants (every
// MEMO_PROPERTY_STRIDE-th, default 5; 1 = all), each appraised three times
// with the memo (miss, admission, hit) and once in full.
TEST_F(MonotonicityTest, VerifiedMemoEqualsFullVerification) {
  const int stride = std::max(1, EnvInt("MEMO_PROPERTY_STRIDE", 5));
  // MEMO_PROPERTY_EDGES=0 skips (a)'s window-edge times (the sanitizer pass:
  // a property of the logic, which the normal build checks in full; the
  // mutants still take the memo paths under the sanitizers).
  const bool probe_edges = EnvInt("MEMO_PROPERTY_EDGES", 1) != 0;
  const auto t0 = std::chrono::steady_clock::now();
  Engines engines(*sim_dir_, /*memo_wrapper=*/false);
  size_t times_checked = 0, mutants_checked = 0, hits_seen = 0, differences = 0;
  for (const Case& c : *all_) {
    const appraisal::Engine* engine = engines.For(c);
    ASSERT_NE(engine, nullptr) << c.name;
    const policy::LoadedPolicy pol = Load(PermissiveBase(c));
    auto result = [&](const EvidenceBundle& b, absl::Time at) -> std::string {
      appraisal::RunOptions o = Options(c);
      o.at = at;
      auto a = engine->Run(b, pol, o);
      return a.ok() ? a->ToJson().dump() : absl::StrCat("error: ", a.status().ToString());
    };
    auto compare = [&](const std::string& what, const EvidenceBundle& b, absl::Time at,
                       int memo_runs) {
      std::vector<std::string> memo;
      for (int i = 0; i < memo_runs; ++i) memo.push_back(result(b, at));
      std::string full;
      {
        crypto::ScopedMemoBypass bypass;
        full = result(b, at);
      }
      for (const std::string& m : memo) {
        if (m != full) {
          ++differences;
          ADD_FAILURE() << c.name << " " << what << " at " << absl::FormatTime(at)
                        << ": memo and full verification differ\nmemo: " << m
                        << "\nfull: " << full;
          break;
        }
      }
    };
    crypto::ConfigureVerifiedMemo(crypto::MemoOptions{});
    compare("intact", c.bundle, c.at, 3);
    std::set<int64_t> times = {absl::ToUnixSeconds(c.at)};
    // Every edge of every remembered chain window and OCSP answer window
    // (an unbounded side, e.g. an answer without nextUpdate, has no edge).
    auto add_edges = [&](const std::vector<std::pair<int64_t, int64_t>>& windows) {
      for (const auto& [from, until] : windows) {
        for (const int64_t edge : {from, until}) {
          if (edge <= std::numeric_limits<int64_t>::min() + 1 ||
              edge >= std::numeric_limits<int64_t>::max() - 1) {
            continue;
          }
          for (int64_t d : {-1, 0, 1}) times.insert(edge + d);
        }
      }
    };
    add_edges(crypto::VerifiedMemoChainWindows());
    add_edges(crypto::VerifiedMemoOcspWindows());
    for (const int64_t t : times) {
      if (!probe_edges) break;
      compare(absl::StrCat("intact (window edge ", t, ")"), c.bundle, absl::FromUnixSeconds(t), 2);
      ++times_checked;
    }
    size_t index = 0;
    EnumerateMutants(c.name, c.bundle, EnumerateOptions{}, [&](Mutant&& m) {
      if (index++ % stride != 0) return;
      compare(absl::StrCat("mutant ", m.path, " ", m.kind), m.bundle, c.at, 3);
      ++mutants_checked;
    });
    for (int k = 0; k < crypto::kMemoKindCount; ++k) {
      hits_seen += crypto::VerifiedMemoStats(static_cast<crypto::MemoKind>(k)).hits;
    }
  }
  crypto::ConfigureVerifiedMemo(crypto::MemoOptions{});
  std::cout << "[memo-property] " << all_->size() << " bundles, " << times_checked
            << " window-edge times, " << mutants_checked << " mutants (stride " << stride
            << "), " << hits_seen << " memo hits, " << differences << " differences, "
            << absl::StrFormat("%.1f", std::chrono::duration<double>(
                                           std::chrono::steady_clock::now() - t0)
                                           .count())
            << " s\n";
  EXPECT_GT(hits_seen, 0u);  // the memo was really exercised
}

}  // namespace
}  // namespace rp::property
