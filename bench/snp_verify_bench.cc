// SEV-SNP verification benchmarks (Google Benchmark).
//
// CMake target this file needs (bench/CMakeLists.txt, owned by the lead):
//   add_executable(snp_verify_bench snp_verify_bench.cc)
//   target_link_libraries(snp_verify_bench PRIVATE rp::sev_snp
//   benchmark::benchmark) target_compile_definitions(snp_verify_bench PRIVATE
//   RP_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
//
// Full Verify of two real reports with warm collateral (the offline fixture
// tests/data/snp/offline: KDS cert chain + ARK CRL, read per iteration like a
// warmed disk cache), and parse-only.
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include "benchmark/benchmark.h"
#include "verifier/collateral/source.h"
#include "verifier/common/encoding.h"
#include "verifier/sev_snp/report.h"
#include "verifier/sev_snp/roots.h"
#include "verifier/sev_snp/verifier.h"

namespace rp::sev_snp {
namespace {

#ifndef RP_SOURCE_DIR
#define RP_SOURCE_DIR "."
#endif

std::string DataPath(const std::string& relative) {
  return std::string(RP_SOURCE_DIR) + "/tests/data/snp/" + relative;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in),
                     std::istreambuf_iterator<char>());
}

// 2025-09-01T00:00:00Z: the real certificates and CRLs are all valid then.
const absl::Time kAt = absl::FromUnixSeconds(1756684800);

attestation::v1::EvidenceBundle Bundle(const std::string& folder) {
  attestation::v1::EvidenceBundle b;
  b.mutable_sev_snp()->set_report(ReadFile(DataPath(folder + "/report.bin")));
  b.mutable_sev_snp()->set_vcek(
      Base64Encode(AsBytes(ReadFile(DataPath(folder + "/vcek.der")))));
  return b;
}

void VerifyFull(benchmark::State& state, const std::string& folder) {
  absl::StatusOr<std::unique_ptr<SnpVerifier>> verifier =
      SnpVerifier::Create(TrustConfig::Default());
  if (!verifier.ok()) {
    state.SkipWithError(std::string(verifier.status().message()).c_str());
    return;
  }
  const attestation::v1::EvidenceBundle bundle = Bundle(folder);
  const collateral::OfflineDirectorySource offline(DataPath("offline"));
  const core::VerifyContext ctx{kAt, &offline, std::nullopt};
  for (auto _ : state) {
    absl::StatusOr<std::vector<core::DeviceResult>> r =
        (*verifier)->Verify(bundle, ctx);
    if (!r.ok() || r->size() != 1 || r->front().HasFailure()) {
      state.SkipWithError("verification did not pass");
      return;
    }
    benchmark::DoNotOptimize(r);
  }
}

void BM_VerifyTurinV5Oak(benchmark::State& state) {
  VerifyFull(state, "turin_v5_oak");
}
BENCHMARK(BM_VerifyTurinV5Oak)->Unit(benchmark::kMicrosecond);

void BM_VerifyMilanV3OakCb(benchmark::State& state) {
  VerifyFull(state, "milan_v3_oak_cb");
}
BENCHMARK(BM_VerifyMilanV3OakCb)->Unit(benchmark::kMicrosecond);

void BM_ParseReportOnly(benchmark::State& state) {
  const std::string report = ReadFile(DataPath("turin_v5_oak/report.bin"));
  for (auto _ : state) {
    absl::StatusOr<SnpReport> r = ParseReportUnverified(AsBytes(report));
    if (!r.ok()) {
      state.SkipWithError("parse failed");
      return;
    }
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(report.size()));
}
BENCHMARK(BM_ParseReportOnly);

}  // namespace
}  // namespace rp::sev_snp

BENCHMARK_MAIN();
