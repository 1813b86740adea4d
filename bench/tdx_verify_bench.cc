// Intel TDX verification benchmarks (Google Benchmark).
//
// CMake target this file needs (bench/CMakeLists.txt, owned by the lead):
//   add_executable(tdx_verify_bench tdx_verify_bench.cc)
//   target_link_libraries(tdx_verify_bench PRIVATE rp::tdx nlohmann_json::nlohmann_json
//                         benchmark::benchmark)
//   target_compile_definitions(tdx_verify_bench PRIVATE RP_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
//
// Full Verify of the real phala_uptodate quote (v4) at 2025-07-01 with warm
// collateral: the QVL collateral JSON served from memory under its offline
// key (like a warmed cache), and with the collateral inside the bundle.
// Plus parse-only.
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "benchmark/benchmark.h"
#include "nlohmann/json.hpp"
#include "verifier/collateral/source.h"
#include "verifier/common/clock.h"
#include "verifier/common/encoding.h"
#include "verifier/tdx/quote.h"
#include "verifier/tdx/roots.h"
#include "verifier/tdx/verifier.h"

namespace rp::tdx {
namespace {

#ifndef RP_SOURCE_DIR
#define RP_SOURCE_DIR "."
#endif

std::string ReadFile(const std::string& relative) {
  std::ifstream in(std::string(RP_SOURCE_DIR) + "/tests/data/tdx/" + relative, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Inside the TCB info, QE identity and PCK CRL windows (PROVENANCE.md).
absl::Time At() { return *ParseTime("2025-07-01T00:00:00Z"); }

// A warm cache: every item in memory.
class MemorySource : public collateral::CollateralSource {
 public:
  void Put(std::string key, const std::string& v) { items_[std::move(key)] = Bytes(v.begin(), v.end()); }
  absl::StatusOr<std::optional<Bytes>> Get(std::string_view key) const override {
    auto it = items_.find(std::string(key));
    if (it == items_.end()) return std::optional<Bytes>();
    return std::optional<Bytes>(it->second);
  }
  std::string Describe() const override { return "memory"; }

 private:
  std::map<std::string, Bytes> items_;
};

void Run(benchmark::State& state, const attestation::v1::EvidenceBundle& bundle,
         const collateral::CollateralSource& source) {
  absl::StatusOr<std::unique_ptr<TdxVerifier>> verifier = TdxVerifier::Create(TdxTrustConfig::Default());
  if (!verifier.ok()) {
    state.SkipWithError(std::string(verifier.status().message()).c_str());
    return;
  }
  const core::VerifyContext ctx{At(), &source, std::nullopt};
  for (auto _ : state) {
    absl::StatusOr<std::vector<core::DeviceResult>> r = (*verifier)->Verify(bundle, ctx);
    if (!r.ok() || r->size() != 1 || r->front().HasFailure()) {
      state.SkipWithError("verification did not pass");
      return;
    }
    benchmark::DoNotOptimize(r);
  }
}

void BM_VerifyPhalaUpToDateWarmCache(benchmark::State& state) {
  attestation::v1::EvidenceBundle b;
  b.mutable_tdx()->set_quote(ReadFile("phala_uptodate/quote.bin"));
  MemorySource source;
  source.Put(QvlCollateralKey("b0c06f000000"), ReadFile("phala_uptodate/collateral.json"));
  Run(state, b, source);
}
BENCHMARK(BM_VerifyPhalaUpToDateWarmCache)->Unit(benchmark::kMicrosecond);

void BM_VerifyPhalaUpToDateBundleCollateral(benchmark::State& state) {
  attestation::v1::EvidenceBundle b;
  b.mutable_tdx()->set_quote(ReadFile("phala_uptodate/quote.bin"));
  const nlohmann::json c = nlohmann::json::parse(ReadFile("phala_uptodate/collateral.json"));
  auto* col = b.mutable_tdx()->mutable_collateral();
  col->set_root_ca_crl(c["root_ca_crl"]);
  col->set_pck_crl(c["pck_crl"]);
  col->set_pck_crl_issuer_chain(c["pck_crl_issuer_chain"]);
  col->set_tcb_info(c["tcb_info"]);
  col->set_tcb_info_signature(c["tcb_info_signature"]);
  col->set_tcb_info_issuer_chain(c["tcb_info_issuer_chain"]);
  col->set_qe_identity(c["qe_identity"]);
  col->set_qe_identity_signature(c["qe_identity_signature"]);
  col->set_qe_identity_issuer_chain(c["qe_identity_issuer_chain"]);
  const collateral::EmptySource none;
  Run(state, b, none);
}
BENCHMARK(BM_VerifyPhalaUpToDateBundleCollateral)->Unit(benchmark::kMicrosecond);

void BM_ParseQuoteOnly(benchmark::State& state) {
  const std::string quote = ReadFile("phala_uptodate/quote.bin");
  for (auto _ : state) {
    absl::StatusOr<TdxQuote> q = ParseQuoteUnverified(AsBytes(quote));
    if (!q.ok()) {
      state.SkipWithError("parse failed");
      return;
    }
    benchmark::DoNotOptimize(q);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(quote.size()));
}
BENCHMARK(BM_ParseQuoteOnly);

}  // namespace
}  // namespace rp::tdx

BENCHMARK_MAIN();
