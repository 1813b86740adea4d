#include <cstdint>
#include <regex>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "policy/appraise.h"
#include "policy/appraisal.h"
#include "policy/relaxations.h"
#include "policy/release_rules.h"
#include "verifier/common/clock.h"
#include "policy/yaml_json.h"
#include "verifier/crypto/digest.h"

namespace rp::policy {
namespace {

// Collateral older than a month past its freshness is not a grace period.
constexpr int64_t kMaxCollateralGraceSeconds = int64_t{30} * 24 * 60 * 60;

absl::Status Invalid(const std::string& origin, const std::string& path, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(origin, ": ", path, ": ", what));
}

absl::Status CheckHexList(const std::string& origin, const std::string& path,
                          const google::protobuf::RepeatedPtrField<std::string>& list,
                          size_t bytes) {
  static const std::regex kHex("[0-9a-fA-F]*");
  for (int i = 0; i < list.size(); ++i) {
    const std::string& v = list[i];
    if (v.size() != bytes * 2 || !std::regex_match(v, kHex)) {
      return Invalid(origin, absl::StrCat(path, "[", i, "]"),
                     absl::StrCat("must be ", bytes * 2, " hex characters, got '", v, "'"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckTcbStatuses(const std::string& origin, const std::string& path,
                              const google::protobuf::RepeatedPtrField<std::string>& list) {
  for (int i = 0; i < list.size(); ++i) {
    if (!IsKnownTcbStatus(list[i])) {
      return Invalid(origin, absl::StrCat(path, "[", i, "]"),
                     absl::StrCat("'", list[i], "' is not an Intel TCB status (UpToDate, "
                                  "SWHardeningNeeded, ConfigurationNeeded, "
                                  "ConfigurationAndSWHardeningNeeded, OutOfDate, "
                                  "OutOfDateConfigurationNeeded, Revoked)"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateTdx(const attestation::v1::TdxPolicy& t, const std::string& origin) {
  if (auto st = CheckTcbStatuses(origin, "tdx.accepted_tcb_statuses", t.accepted_tcb_statuses());
      !st.ok()) {
    return st;
  }
  if (auto st =
          CheckTcbStatuses(origin, "tdx.tolerated_tcb_statuses", t.tolerated_tcb_statuses());
      !st.ok()) {
    return st;
  }
  for (const std::string& s : t.accepted_tcb_statuses()) {
    if (s == "Revoked") {
      return Invalid(origin, "tdx.accepted_tcb_statuses", "Revoked can never be accepted");
    }
  }
  for (const std::string& s : t.tolerated_tcb_statuses()) {
    if (s == "Revoked") {
      return Invalid(origin, "tdx.tolerated_tcb_statuses", "Revoked can never be tolerated");
    }
  }
  static const std::regex kAdvisory("INTEL-SA-[0-9]{5}|INTEL-DOC-[0-9]{5}");
  for (int i = 0; i < t.accepted_advisory_ids_size(); ++i) {
    if (!std::regex_match(t.accepted_advisory_ids(i), kAdvisory)) {
      return Invalid(origin, absl::StrCat("tdx.accepted_advisory_ids[", i, "]"),
                     absl::StrCat("'", t.accepted_advisory_ids(i),
                                  "' is not INTEL-SA-NNNNN or INTEL-DOC-NNNNN"));
    }
  }
  struct HexField {
    const char* path;
    const google::protobuf::RepeatedPtrField<std::string>* list;
  };
  const HexField fields[] = {{"tdx.mrtd", &t.mrtd()},     {"tdx.mrseam", &t.mrseam()},
                             {"tdx.mrconfigid", &t.mrconfigid()}, {"tdx.rtmr0", &t.rtmr0()},
                             {"tdx.rtmr1", &t.rtmr1()},   {"tdx.rtmr2", &t.rtmr2()},
                             {"tdx.rtmr3", &t.rtmr3()}};
  for (const HexField& f : fields) {
    if (auto st = CheckHexList(origin, f.path, *f.list, 48); !st.ok()) return st;
  }
  if (t.has_min_tcb_evaluation_data_number() && t.min_tcb_evaluation_data_number() < 0) {
    return Invalid(origin, "tdx.min_tcb_evaluation_data_number", "must be >= 0");
  }
  static const std::regex kFmspc("[0-9a-fA-F]{12}");
  for (const auto& [fmspc, date] : t.min_tcb_date_by_fmspc()) {
    if (!std::regex_match(fmspc, kFmspc)) {
      return Invalid(origin, absl::StrCat("tdx.min_tcb_date_by_fmspc.", fmspc),
                     "key must be an FMSPC of 12 hex characters");
    }
    if (!ParseTime(date).ok()) {
      return Invalid(origin, absl::StrCat("tdx.min_tcb_date_by_fmspc.", fmspc),
                     absl::StrCat("'", date, "' is not an RFC 3339 time"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateGpu(const attestation::v1::GpuPolicy& g, const std::string& origin) {
  if (!g.mode().empty() && g.mode() != "cc" && g.mode() != "ppcie" && g.mode() != "any") {
    return Invalid(origin, "nvidia.mode", absl::StrCat("'", g.mode(), "' is not cc | ppcie | any"));
  }
  static const std::regex kVersion("[0-9A-Fa-f]+(\\.[0-9A-Fa-f]+){0,5}");
  if (!g.min_driver_version().empty() && !std::regex_match(g.min_driver_version(), kVersion)) {
    return Invalid(origin, "nvidia.min_driver_version",
                   absl::StrCat("'", g.min_driver_version(), "' is not a dotted version"));
  }
  if (!g.min_vbios_version().empty() && !std::regex_match(g.min_vbios_version(), kVersion)) {
    return Invalid(origin, "nvidia.min_vbios_version",
                   absl::StrCat("'", g.min_vbios_version(), "' is not a dotted version"));
  }
  if (g.has_expected_gpus() && (g.expected_gpus() < 0 || g.expected_gpus() > 8)) {
    return Invalid(origin, "nvidia.expected_gpus", "must be 0..8");
  }
  if (g.has_expected_switches() && (g.expected_switches() < 0 || g.expected_switches() > 8)) {
    return Invalid(origin, "nvidia.expected_switches", "must be 0..8");
  }
  return absl::OkStatus();
}

absl::Status Validate(const attestation::v1::Policy& p, const std::string& origin) {
  static const std::regex kId("[A-Za-z0-9._-]{1,64}");
  if (!std::regex_match(p.id(), kId)) {
    return Invalid(origin, "id", "required, 1-64 of [A-Za-z0-9._-]");
  }
  if (!p.version().empty() && !std::regex_match(p.version(), kId)) {
    return Invalid(origin, "version", "1-64 of [A-Za-z0-9._-]");
  }
  std::set<std::string> seen;
  for (int i = 0; i < p.allowed_bindings_size(); ++i) {
    const std::string& b = p.allowed_bindings(i);
    if (b != "attest-v1" && b != "attest-v2" && b != "nonce" && b != "none") {
      return Invalid(origin, absl::StrCat("allowed_bindings[", i, "]"),
                     absl::StrCat("'", b, "' is not attest-v1 | attest-v2 | nonce | none"));
    }
    if (!seen.insert(b).second) {
      return Invalid(origin, absl::StrCat("allowed_bindings[", i, "]"), "duplicate");
    }
  }
  if (p.collateral_grace_seconds() < 0 ||
      p.collateral_grace_seconds() > kMaxCollateralGraceSeconds) {
    return Invalid(origin, "collateral_grace_seconds",
                   absl::StrCat("must be 0..", kMaxCollateralGraceSeconds,
                                " (30 days), got ", p.collateral_grace_seconds()));
  }
  const auto& s = p.sev_snp();
  if (s.has_max_vmpl() && (s.max_vmpl() < 0 || s.max_vmpl() > 3)) {
    return Invalid(origin, "sev_snp.max_vmpl", "must be 0..3");
  }
  if (s.has_min_version() && (s.min_version() < 2 || s.min_version() > 5)) {
    return Invalid(origin, "sev_snp.min_version", "must be 2..5");
  }
  if (auto st = CheckHexList(origin, "sev_snp.measurements", s.measurements(), 48); !st.ok()) {
    return st;
  }
  if (auto st = CheckHexList(origin, "sev_snp.host_data", s.host_data(), 32); !st.ok()) return st;
  for (const auto& [product, min] : s.min_reported_tcb()) {
    // The `product` claim of the SEV-SNP verifier (sev_snp/report.cc).
    if (product != "Milan" && product != "Genoa" && product != "Turin") {
      return Invalid(origin, absl::StrCat("sev_snp.min_reported_tcb.", product.substr(0, 32)),
                     "product must be Milan | Genoa | Turin");
    }
    const bool any = min.has_bootloader() || min.has_tee() || min.has_snp() ||
                     min.has_microcode() || min.has_fmc();
    if (!any) {
      return Invalid(origin, absl::StrCat("sev_snp.min_reported_tcb.", product),
                     "sets no component (bootloader, tee, snp, microcode, fmc)");
    }
    const uint32_t parts[] = {min.bootloader(), min.tee(), min.snp(), min.microcode(), min.fmc()};
    for (uint32_t v : parts) {
      if (v > 255) {
        return Invalid(origin, absl::StrCat("sev_snp.min_reported_tcb.", product),
                       "SVNs are 0..255");
      }
    }
  }
  if (!p.token_profile().empty()) {
    if (auto tp = ParseTokenProfile(p.token_profile(), "token_profile"); !tp.ok()) {
      return Invalid(origin, "token_profile",
                     absl::StrCat("'", p.token_profile().substr(0, 64),
                                  "' is not compact | full"));
    }
  }
  if (auto st = ValidateOptionalChecks(p, origin); !st.ok()) return st;
  if (auto st = ValidateTdx(p.tdx(), origin); !st.ok()) return st;
  if (auto st = ValidateGpu(p.nvidia(), origin); !st.ok()) return st;
  return ValidateReleaseRules(p, origin);
}

}  // namespace

absl::StatusOr<LoadedPolicy> ParsePolicy(const std::string& text, const std::string& origin) {
  LoadedPolicy lp;
  if (auto st = ParseDocumentToProto(text, origin, &lp.policy); !st.ok()) return st;
  if (auto st = Validate(lp.policy, origin); !st.ok()) return st;
  lp.id = lp.policy.id();
  lp.version = lp.policy.version().empty() ? "1" : lp.policy.version();
  lp.sha256_hex = HexEncode(crypto::Sha256(AsBytes(text)));
  return lp;
}

absl::StatusOr<LoadedPolicy> LoadPolicyFile(const std::string& path) {
  auto text = ReadSmallFile(path, kMaxDocumentBytes);
  if (!text.ok()) return absl::Status(text.status().code(), absl::StrCat("policy: ", text.status().message()));
  return ParsePolicy(*text, path);
}

LoadedPolicy DefaultPolicy() {
  // Built-in default: attest-v1 binding, debug forbidden, no simulation.
  static const char kDefault[] =
      "id: default\n"
      "version: \"1\"\n"
      "allowed_bindings: [attest-v1]\n"
      "sev_snp:\n"
      "  allow_debug: false\n"
      "  allow_migrate_ma: false\n"
      "allow_simulated: false\n";
  auto p = ParsePolicy(kDefault, "built-in default policy");
  return *p;  // a compiled-in constant; covered by a test
}

}  // namespace rp::policy
