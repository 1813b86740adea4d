// Whole-appraisal benchmarks (Google Benchmark): appraisal::Engine::Run, as
// the server runs it per Attest minus gRPC, the nonce store and the token:
// every verifier, the collateral source (offline directory), OCSP answers,
// RIM appraisal (XML-DSig, chain, OCSP of the RIM chain), the binding and
// the policy. Each case runs with the verified-object memo (the server's
// default, verifier/crypto/verified_memo.h) and with it bypassed
// (/memo:0), to show what the memo saves.
//
//   real_tdx      tests/data/bundles/tdx_phala_uptodate.json at 2025-07-01
//                 (quote v4, PCK chain in the quote, QVL collateral offline)
//   real_snp      tests/data/snp/bundles/milan_v3_oak_cb_with_chain.json at
//                 2025-09-01 (VCEK chain + ARK CRL offline)
//   real_gpu_rim  tests/data/bundles/gpu_h100_drv545.00.json at 2025-01-15
//                 (one H100, driver + VBIOS RIMs verified and compared; OCSP
//                 not configured there: no real OCSP answers are on file)
//   sim_tdx_gpusN a simulated TDX node with N Hopper GPUs (0, 1, 8): GPU
//                 chains, RIMs and OCSP answers (GPU and RIM chains) from
//                 the simulation collateral directory, verified now
//
// Counters: items/s (appraisals per second), verdict (0 contraindicated,
// 1 warning, 2 affirming: the appraisal must not be an error).
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "appraisal/collateral_stack.h"
#include "appraisal/engine.h"
#include "appraisal/registry_factory.h"
#include "benchmark/benchmark.h"
#include "cli/bundle_io.h"
#include "cli/simulate.h"
#include "policy/appraisal.h"
#include "verifier/common/clock.h"
#include "verifier/common/encoding.h"
#include "verifier/crypto/digest.h"
#include "verifier/crypto/verified_memo.h"

namespace rp {
namespace {

#ifndef RP_SOURCE_DIR
#define RP_SOURCE_DIR "."
#endif

struct Case {
  attestation::v1::EvidenceBundle bundle;
  std::unique_ptr<appraisal::Engine> engine;
  policy::LoadedPolicy policy;
  appraisal::RunOptions options;
};

policy::LoadedPolicy BenchPolicy(bool simulated) {
  policy::LoadedPolicy p = policy::DefaultPolicy();
  p.policy.set_allow_simulated(simulated);
  p.policy.mutable_nvidia()->set_allow_rim_mismatch(false);
  return p;
}

absl::StatusOr<std::unique_ptr<appraisal::Engine>> MakeEngine(const std::string& collateral_dir,
                                                               absl::Time at,
                                                               const std::string& sim_dir) {
  attestation::v1::CollateralConfig cc;
  cc.set_offline(true);
  auto stack = appraisal::BuildCollateralStack(cc, collateral_dir, at);
  if (!stack.ok()) return stack.status();
  attestation::v1::SimulationConfig sc;
  if (!sim_dir.empty()) {
    sc.set_trust_simulation_root(true);
    sc.set_dir(sim_dir);
  }
  appraisal::RegistryOptions ro;
  ro.offline = true;
  auto reg = appraisal::MakeDefaultRegistry(sc, ro);
  if (!reg.ok()) return reg.status();
  return appraisal::Engine::Create(std::move(*reg), stack->source, stack->ocsp);
}

absl::StatusOr<Case> RealCase(const std::string& bundle, const std::string& collateral,
                              const std::string& at) {
  Case c;
  auto b = cli::ReadBundleFile(std::string(RP_SOURCE_DIR) + "/" + bundle);
  if (!b.ok()) return b.status();
  c.bundle = *std::move(b);
  c.options.at = *ParseTime(at);
  c.options.allow_no_freshness = true;  // third-party evidence: no nonce of ours
  auto e = MakeEngine(std::string(RP_SOURCE_DIR) + "/" + collateral, c.options.at, "");
  if (!e.ok()) return e.status();
  c.engine = *std::move(e);
  c.policy = BenchPolicy(false);
  return c;
}

const std::string& SimDir() {
  static const std::string* dir = new std::string(
      absl::StrCat(std::filesystem::temp_directory_path().string(), "/engine_bench_sim_", getpid()));
  return *dir;
}

absl::StatusOr<Case> SimulatedTdxCase(int gpus) {
  auto roots = sim::LoadOrCreateSimulationRoots(SimDir());
  if (!roots.ok()) return roots.status();
  const absl::Time now = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()));
  const Bytes nonce = crypto::Sha256(AsBytes(absl::StrCat("engine_bench ", gpus)));
  sim::NodeSimulationOptions o;
  o.tee = sim::SimulatedTee::kTdx;
  o.gpus = gpus;
  auto ev = sim::SimulateNode(*roots, ToString(nonce), now, o);
  if (!ev.ok()) return ev.status();
  Case c;
  c.bundle = ev->bundle;
  c.options.at = now;
  c.options.expected_nonce = nonce;
  auto e = MakeEngine(roots->CollateralDir(), now, SimDir());
  if (!e.ok()) return e.status();
  c.engine = *std::move(e);
  c.policy = BenchPolicy(true);
  return c;
}

void Run(benchmark::State& state, const absl::StatusOr<Case>& c) {
  if (!c.ok()) {
    state.SkipWithError(std::string(c.status().message()).c_str());
    return;
  }
  const bool memo = state.range(0) != 0;
  crypto::ConfigureVerifiedMemo(crypto::MemoOptions{});
  std::optional<crypto::ScopedMemoBypass> bypass;
  if (!memo) bypass.emplace();
  // Warm collateral: two untimed runs first. The memo admits an entry on
  // its second sighting (verified_memo.h), so the timed runs are all hits, as
  // on a server that has seen this platform before; without these, each of
  // Google Benchmark's runs would average two cold appraisals into its figure.
  if (memo) {
    for (int i = 0; i < 2; ++i) {
      absl::StatusOr<policy::Appraisal> warm = c->engine->Run(c->bundle, c->policy, c->options);
      if (!warm.ok()) {
        state.SkipWithError(std::string(warm.status().message()).c_str());
        return;
      }
    }
  }
  int verdict = -1;
  for (auto _ : state) {
    absl::StatusOr<policy::Appraisal> a = c->engine->Run(c->bundle, c->policy, c->options);
    if (!a.ok()) {
      state.SkipWithError(std::string(a.status().message()).c_str());
      return;
    }
    verdict = a->verdict == policy::Verdict::kAffirming ? 2
              : a->verdict == policy::Verdict::kWarning ? 1
                                                        : 0;
    benchmark::DoNotOptimize(a);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["verdict"] = verdict;
  // Full verifications the memo did not save, per run, by kind, counting the
  // two warm-up runs (with a memo that works for this case, these are the
  // warm-up's misses only, and shrink as the run count grows).
  if (memo) {
    for (int k = 0; k < crypto::kMemoKindCount; ++k) {
      const auto kind = static_cast<crypto::MemoKind>(k);
      const crypto::MemoKindStats stats = crypto::VerifiedMemoStats(kind);
      if (stats.misses > 2) {
        state.counters[std::string(crypto::MemoKindName(kind)) + "_misses/run"] =
            static_cast<double>(stats.misses) / static_cast<double>(state.iterations());
      }
    }
  }
}

#define RP_ENGINE_BENCH(name, make)                          \
  void BM_##name(benchmark::State& state) {                  \
    static const absl::StatusOr<Case>* c = new auto(make);   \
    Run(state, *c);                                          \
  }                                                          \
  BENCHMARK(BM_##name)->ArgName("memo")->Arg(1)->Arg(0)->Unit(benchmark::kMicrosecond)

RP_ENGINE_BENCH(real_tdx, RealCase("tests/data/bundles/tdx_phala_uptodate.json",
                                   "tests/data/bundles/offline", "2025-07-01T00:00:00Z"));
RP_ENGINE_BENCH(real_snp, RealCase("tests/data/snp/bundles/milan_v3_oak_cb_with_chain.json",
                                   "tests/data/snp/offline", "2025-09-01T00:00:00Z"));
RP_ENGINE_BENCH(real_gpu_rim, RealCase("tests/data/bundles/gpu_h100_drv545.00.json",
                                       "tests/data/bundles/offline", "2025-01-15T00:00:00Z"));
RP_ENGINE_BENCH(sim_tdx_gpus0, SimulatedTdxCase(0));
RP_ENGINE_BENCH(sim_tdx_gpus1, SimulatedTdxCase(1));
RP_ENGINE_BENCH(sim_tdx_gpus8, SimulatedTdxCase(8));

// The signature floor in this process: one ECDSA verification of a 32- or
// 48-byte digest through EVP_PKEY_verify, the call `openssl speed ecdsapNNN`
// times. With --benchmark_repetitions and
// --benchmark_enable_random_interleaving (scripts/bench.sh) its repetitions
// alternate with the appraisals', so a host whose speed drifts (a shared
// VM) moves both alike; bench/floor_ratios.mjs divides medians.
void BM_floor_ecdsa(benchmark::State& state) {
  const bool p384 = state.range(0) == 384;
  EVP_PKEY* key = EVP_EC_gen(p384 ? "P-384" : "P-256");
  if (key == nullptr) {
    state.SkipWithError("EVP_EC_gen failed");
    return;
  }
  const crypto::OpensslPtr<EVP_PKEY> owned(key);
  const Bytes digest = p384 ? crypto::Sha384(AsBytes("floor")) : crypto::Sha256(AsBytes("floor"));
  const crypto::OpensslPtr<EVP_PKEY_CTX> sign_ctx(EVP_PKEY_CTX_new(key, nullptr));
  Bytes sig(256);
  size_t sig_len = sig.size();
  if (sign_ctx == nullptr || EVP_PKEY_sign_init(sign_ctx.get()) != 1 ||
      EVP_PKEY_sign(sign_ctx.get(), sig.data(), &sig_len, digest.data(), digest.size()) != 1) {
    state.SkipWithError("sign failed");
    return;
  }
  sig.resize(sig_len);
  const crypto::OpensslPtr<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new(key, nullptr));
  if (ctx == nullptr || EVP_PKEY_verify_init(ctx.get()) != 1) {
    state.SkipWithError("verify init failed");
    return;
  }
  for (auto _ : state) {
    if (EVP_PKEY_verify(ctx.get(), sig.data(), sig.size(), digest.data(), digest.size()) != 1) {
      state.SkipWithError("verify failed");
      return;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_floor_ecdsa)->ArgName("p")->Arg(256)->Arg(384)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace rp

BENCHMARK_MAIN();
