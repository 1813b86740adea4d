// libFuzzer target for sev_snp::ParseReportUnverified (STYLE §17).
// Build: cmake -DRP_BUILD_FUZZERS=ON -DCMAKE_CXX_COMPILER=clang++ (links only
// rp::sev_snp). Run: ./snp_report_fuzzer tests/fuzz/snp_report_fuzzer_corpus
// The seed corpus is the real AMD-signed reports of tests/data/snp.
#include "tests/fuzz/snp_report_fuzzer.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>

#include "absl/strings/str_format.h"
#include "verifier/sev_snp/claims.h"
#include "verifier/sev_snp/layout.h"
#include "verifier/sev_snp/report.h"

namespace rp::sev_snp::fuzz {
namespace {

uint64_t Le(std::span<const uint8_t> b) {
  uint64_t v = 0;
  for (size_t i = b.size(); i > 0; --i) v = (v << 8) | b[i - 1];
  return v;
}

template <size_t N>
bool SameBytes(const std::array<uint8_t, N>& field,
               std::span<const uint8_t> data, size_t offset) {
  return std::equal(field.begin(), field.end(),
                    data.begin() + static_cast<std::ptrdiff_t>(offset));
}

bool AllZero(std::span<const uint8_t> data, size_t offset, size_t size) {
  auto b = data.subspan(offset, size);
  return std::all_of(b.begin(), b.end(), [](uint8_t x) { return x == 0; });
}

std::string CheckValue(const SnpReport& r, std::span<const uint8_t> d) {
  if (d.size() != kReportSize)
    return "value for an input that is not 0x4A0 bytes";
  struct U {
    const char* name;
    uint64_t got;
    size_t offset, size;
  };
  const U ints[] = {
      {"version", r.version, kVersionOffset, 4},
      {"guest_svn", r.guest_svn, kGuestSvnOffset, 4},
      {"policy", r.policy, kPolicyOffset, 8},
      {"vmpl", r.vmpl, kVmplOffset, 4},
      {"signature_algo", r.signature_algo, kSignatureAlgoOffset, 4},
      {"platform_info", r.platform_info, kPlatformInfoOffset, 8},
      {"signer_info", r.signer_info, kSignerInfoOffset, 4},
      {"launch_mit_vector", r.launch_mit_vector, kLaunchMitVectorOffset, 8},
      {"current_mit_vector", r.current_mit_vector, kCurrentMitVectorOffset, 8},
  };
  for (const U& u : ints) {
    if (u.got != Le(d.subspan(u.offset, u.size))) {
      return absl::StrFormat("%s decoded as 0x%x, wire 0x%x", u.name, u.got,
                             Le(d.subspan(u.offset, u.size)));
    }
  }
  if (!SameBytes(r.family_id, d, kFamilyIdOffset) ||
      !SameBytes(r.image_id, d, kImageIdOffset) ||
      !SameBytes(r.current_tcb.raw, d, kCurrentTcbOffset) ||
      !SameBytes(r.report_data, d, kReportDataOffset) ||
      !SameBytes(r.measurement, d, kMeasurementOffset) ||
      !SameBytes(r.host_data, d, kHostDataOffset) ||
      !SameBytes(r.id_key_digest, d, kIdKeyDigestOffset) ||
      !SameBytes(r.author_key_digest, d, kAuthorKeyDigestOffset) ||
      !SameBytes(r.report_id, d, kReportIdOffset) ||
      !SameBytes(r.report_id_ma, d, kReportIdMaOffset) ||
      !SameBytes(r.reported_tcb.raw, d, kReportedTcbOffset) ||
      !SameBytes(r.chip_id, d, kChipIdOffset) ||
      !SameBytes(r.committed_tcb.raw, d, kCommittedTcbOffset) ||
      !SameBytes(r.launch_tcb.raw, d, kLaunchTcbOffset) ||
      !SameBytes(r.signature_r, d, kSignatureROffset) ||
      !SameBytes(r.signature_s, d, kSignatureSOffset)) {
    return "a byte field differs from the wire bytes at its offset";
  }
  if (r.current_version.build != d[kCurrentBuildOffset] ||
      r.current_version.minor != d[kCurrentMinorOffset] ||
      r.current_version.major != d[kCurrentMajorOffset] ||
      r.committed_version.build != d[kCommittedBuildOffset] ||
      r.committed_version.minor != d[kCommittedMinorOffset] ||
      r.committed_version.major != d[kCommittedMajorOffset]) {
    return "firmware version differs from the wire bytes";
  }
  if (r.version < kMinReportVersion || r.version > kMaxReportVersion)
    return "version accepted";
  if (r.signature_algo != kSignatureAlgoEcdsaP384Sha384)
    return "signature algo accepted";
  if (r.signing_key() > kSigningKeyVlek) return "signing key accepted";
  if ((r.policy & kPolicyReservedMustBeOne) == 0 ||
      (r.policy & kPolicyReservedMbzMask) != 0) {
    return "invalid policy accepted";
  }
  if ((r.signer_info & kSignerReservedMask) != 0)
    return "signer info reserved bits accepted";
  const bool mbz_zero =
      AllZero(d, kReserved04COffset, kReserved04CSize) &&
      AllZero(d, kReserved1EBOffset, 1) && AllZero(d, kReserved1EFOffset, 1) &&
      AllZero(d, kReserved208Offset, kReserved208Size) &&
      AllZero(d, kSignatureTailOffset, kSignatureTailSize) &&
      (r.has_cpuid() ? AllZero(d, kReserved18BOffset, kReserved18BSize)
                     : AllZero(d, kCpuidFamIdOffset, kReserved188V2Size)) &&
      (r.has_mit_vectors() || AllZero(d, kLaunchMitVectorOffset, 16));
  if (!mbz_zero) return "a nonzero reserved range was accepted";
  if (r.has_cpuid() && (r.cpuid_fam_id != d[kCpuidFamIdOffset] ||
                        r.cpuid_mod_id != d[kCpuidModIdOffset] ||
                        r.cpuid_step != d[kCpuidStepOffset])) {
    return "CPUID differs from the wire bytes";
  }
  return "";
}

}  // namespace

std::string CheckParseInvariants(std::span<const uint8_t> data) {
  absl::StatusOr<SnpReport> r = ParseReportUnverified(data);
  if (!r.ok()) {
    const ReportError e = ReportErrorOf(r.status());
    if (e == ReportError::kNone) return "error without a reason code";
    if (r.status().message().find("sev_snp: report:") ==
        std::string_view::npos) {
      return "error without context";
    }
    if (data.size() < kReportSize && e != ReportError::kTruncated) {
      return "short input not reported as REPORT_TRUNCATED";
    }
    if (data.size() > kReportSize && e != ReportError::kTrailingBytes) {
      return "long input not reported as REPORT_TRAILING_BYTES";
    }
    return "";
  }
  if (ReportErrorOf(r.status()) != ReportError::kNone)
    return "value with a reason code";
  if (std::string why = CheckValue(*r, data); !why.empty()) return why;
  absl::StatusOr<SnpReport> again = ParseReportUnverified(data);
  if (!again.ok() || !(*again == *r)) return "parsing is not deterministic";
  const Product product = r->ProductFromReport();
  const nlohmann::json claims = BuildClaims(*r, product, nullptr);
  if (!claims.contains("measurement") || claims["version"] != r->version) {
    return "claims incomplete";
  }
  return "";
}

}  // namespace rp::sev_snp::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string why = rp::sev_snp::fuzz::CheckParseInvariants(
      std::span<const uint8_t>(data, size));
  if (!why.empty()) {
    // A crash is how libFuzzer records a violated invariant.
    std::fprintf(stderr, "snp_report_fuzzer invariant violated: %s\n",
                 why.c_str());
    std::abort();
  }
  return 0;
}
