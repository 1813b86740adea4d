// The real SEV-SNP samples in tests/data/snp (test-only), shared by the
// golden tests and the benchmark.
#ifndef RP_VERIFIER_SEV_SNP_GOLDEN_SAMPLES_H_
#define RP_VERIFIER_SEV_SNP_GOLDEN_SAMPLES_H_

#include <ostream>
#include <string>
#include <vector>

namespace rp::sev_snp::test {

struct GoldenSample {
  std::string folder;  // under tests/data/snp
  std::string report;  // report file in the folder (its name in expected.json)
  std::string cert;    // endorsement certificate file
  bool vlek = false;
  std::string product;  // expected product line
};

// Short printable form, so test listings (and CTest names) stay readable.
inline void PrintTo(const GoldenSample& s, std::ostream* os) {
  *os << s.folder << "/" << s.report;
}

inline std::vector<GoldenSample> GoldenSamples() {
  return {
      {"milan_v2_gsg", "report.bin", "vcek.der", false, "Milan"},
      {"milan_v2_trustee", "report.bin", "vcek.der", false, "Milan"},
      {"milan_v3_vlek_aws_trustee", "report.bin", "vlek.der", true, "Milan"},
      {"azure_milan_v2_hcl_trustee", "report.bin", "vcek.der", false, "Milan"},
      {"azure_milan_v3_trustee_evidence_v0_v1", "report_v0.bin", "vcek.der",
       false, "Milan"},
      {"azure_milan_v3_trustee_evidence_v0_v1", "report_v1.bin", "vcek.der",
       false, "Milan"},
      {"azure_milan_v2_constellation", "report.bin", "vcek.der", false,
       "Milan"},
      {"milan_v3_oak_oc", "report_release.bin", "vcek.der", false, "Milan"},
      {"milan_v3_oak_oc", "report_staging.bin", "vcek.der", false, "Milan"},
      {"milan_v3_oak_cb", "report.bin", "vcek.der", false, "Milan"},
      {"azure_genoa_v3_trustee", "report.bin", "vcek.der", false, "Genoa"},
      {"siena_genoa_family_v3_trustee_e2e", "report_reconstructed.bin",
       "vcek.der", false, "Genoa"},
      {"genoa_v5_oak", "report.bin", "vcek.der", false, "Genoa"},
      {"turin_v5_oak", "report.bin", "vcek.der", false, "Turin"},
  };
}

inline std::string SampleName(const GoldenSample& s) {
  std::string name = s.folder + "_" + s.report.substr(0, s.report.find('.'));
  for (char& c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9')))
      c = '_';
  }
  return name;
}

}  // namespace rp::sev_snp::test

#endif  // RP_VERIFIER_SEV_SNP_GOLDEN_SAMPLES_H_
