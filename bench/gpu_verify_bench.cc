// NVIDIA GPU evidence verification benchmarks (Google Benchmark).
//
// CMake target this file needs (bench/CMakeLists.txt, owned by the lead;
// rp::gpu_testing is defined in verifier/nvidia/CMakeLists.txt under
// BUILD_TESTING):
//   add_executable(gpu_verify_bench gpu_verify_bench.cc)
//   target_link_libraries(gpu_verify_bench PRIVATE rp::nvidia rp::gpu_testing
//                         benchmark::benchmark)
//   target_compile_definitions(gpu_verify_bench PRIVATE
//                              RP_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
//
// Full Verify (parse, chain to the root, report signature, FWID, claims) of
//  - one real H100 report (550.90.07) with the production config (pinned
//    root), OCSP offline and absent (OCSP_NOT_CONFIGURED: no network);
//  - 1 and 8 builder-made GPUs of one node under a test root (same nonce).
// Parse-only of the real report as a baseline.
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "tests/testing/gpu_evidence_builder.h"
#include "verifier/collateral/source.h"
#include "verifier/common/encoding.h"
#include "verifier/nvidia/spdm.h"
#include "verifier/nvidia/verifier.h"

namespace rp::nvidia {
namespace {

#ifndef RP_SOURCE_DIR
#define RP_SOURCE_DIR "."
#endif

std::string ReadFile(const std::string& relative) {
  std::ifstream in(std::string(RP_SOURCE_DIR) + "/tests/data/nvidia/" + relative,
                   std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

Bytes RealReport() {
  std::string hex;
  for (char c : ReadFile("hopper/h100_drv550.90.07_vbios96009F0001_report.hex")) {
    if (c != '\n' && c != '\r' && c != ' ') hex.push_back(c);
  }
  return HexDecode(hex).value_or(Bytes());
}

// 2026-11-22T00:00:00Z; device chains are valid until 9999.
const absl::Time kAt = absl::FromUnixSeconds(1795305600);

void BM_ParseRealReport(benchmark::State& state) {
  const Bytes report = RealReport();
  for (auto _ : state) {
    absl::StatusOr<GpuReport> r = ParseGpuReportUnverified(report);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_ParseRealReport);

void BM_VerifyRealH100(benchmark::State& state) {
  absl::StatusOr<std::unique_ptr<NvidiaVerifier>> v =
      NvidiaVerifier::Create(NvidiaTrustConfig::Default());
  if (!v.ok()) {
    state.SkipWithError(std::string(v.status().message()).c_str());
    return;
  }
  attestation::v1::EvidenceBundle b;
  b.mutable_nvidia()->set_arch("HOPPER");
  auto* e = b.mutable_nvidia()->add_evidence_list();
  const Bytes report = RealReport();
  e->set_evidence(ToString(report));
  e->set_certificate(ReadFile("hopper/h100_drv550.90.07_vbios96009F0001_certchain.pem"));
  const collateral::EmptySource none;
  core::VerifyContext ctx{kAt, &none,
                          Bytes(report.begin() + kRequesterNonceOffset,
                                report.begin() + kRequesterNonceOffset + kSpdmNonceSize)};
  for (auto _ : state) {
    auto r = (*v)->Verify(b, ctx);
    if (!r.ok() || r->size() != 1 || (*r)[0].HasFailure()) {
      state.SkipWithError("verification did not pass");
      return;
    }
  }
}
BENCHMARK(BM_VerifyRealH100);

// state.range(0) GPUs of one node (distinct devices, one nonce).
void BM_VerifySimulatedNode(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  absl::StatusOr<testing::GpuTestPki> pki = testing::MakeGpuTestPki({});
  if (!pki.ok()) {
    state.SkipWithError("MakeGpuTestPki");
    return;
  }
  absl::StatusOr<std::unique_ptr<NvidiaVerifier>> v =
      NvidiaVerifier::Create(NvidiaTrustConfig::ForTest(pki->RootPem()));
  if (!v.ok()) {
    state.SkipWithError("Create");
    return;
  }
  attestation::v1::EvidenceBundle b;
  b.mutable_nvidia()->set_arch("HOPPER");
  testing::GpuReportBuilder builder;
  for (int i = 0; i < n; ++i) {
    testing::GpuDeviceOptions o;
    o.brom_serial = {0x41, static_cast<uint8_t>(i + 1)};
    o.leaf_serial = {0x53, static_cast<uint8_t>(i + 1)};
    absl::StatusOr<testing::GpuTestDevice> dev = testing::MakeGpuTestDevice(*pki, o);
    if (!dev.ok()) {
      state.SkipWithError("MakeGpuTestDevice");
      return;
    }
    absl::StatusOr<Bytes> report = builder.BuildSigned(dev->leaf.key.get());
    if (!report.ok()) {
      state.SkipWithError("BuildSigned");
      return;
    }
    auto* e = b.mutable_nvidia()->add_evidence_list();
    e->set_evidence(ToString(*report));
    e->set_certificate(testing::GpuChainPem(*pki, *dev));
  }
  const collateral::EmptySource none;
  core::VerifyContext ctx{kAt, &none, Bytes(builder.nonce.begin(), builder.nonce.end())};
  for (auto _ : state) {
    auto r = (*v)->Verify(b, ctx);
    if (!r.ok() || static_cast<int>(r->size()) != n) {
      state.SkipWithError("Verify failed");
      return;
    }
    for (const core::DeviceResult& d : *r) {
      if (d.HasFailure()) {
        state.SkipWithError("a GPU did not pass");
        return;
      }
    }
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_VerifySimulatedNode)->Arg(1)->Arg(8)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace rp::nvidia

BENCHMARK_MAIN();
