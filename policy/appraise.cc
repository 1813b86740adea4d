#include "policy/appraise.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "policy/relaxations.h"
#include "verifier/common/clock.h"

namespace rp::policy {
namespace {

using core::CheckStatus;
using core::Component;
using core::DeviceResult;

bool Contains(const google::protobuf::RepeatedPtrField<std::string>& list, const std::string& v) {
  std::string lv = absl::AsciiStrToLower(v);
  return std::any_of(list.begin(), list.end(),
                     [&](const std::string& x) { return absl::AsciiStrToLower(x) == lv; });
}

// Claims come from evidence: a missing, null or differently typed claim
// reads as the fallback, never as an exception.
std::string JsonString(const nlohmann::json& j, const char* key, const char* fallback = "") {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string(fallback);
}

int64_t JsonInt(const nlohmann::json& j, const char* key, int64_t fallback) {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : fallback;
}

bool JsonBool(const nlohmann::json& j, const char* key) {
  return j.contains(key) && j[key].is_boolean() && j[key].get<bool>();
}

// Informational "not configured" entry: listed, never lowers the status.
void NotConfigured(DeviceResult& d, std::string name, Component c, std::string what) {
  auto& check = d.NotChecked(std::move(name), c, "NO_REFERENCE_VALUES",
                             absl::StrCat("the policy sets no ", what, "; not appraised"));
  check.affects_status = false;
}

void Allowlist(DeviceResult& d, const char* check, const char* claim,
               const google::protobuf::RepeatedPtrField<std::string>& allowed, Component c,
               const char* reason) {
  if (allowed.empty()) {
    NotConfigured(d, check, c, absl::StrCat(claim, " allowlist"));
    return;
  }
  std::string value = JsonString(d.claims, claim);
  if (Contains(allowed, value)) {
    d.Pass(check, c, absl::StrCat(claim, " ", value, " is in the policy allowlist"));
  } else {
    d.Fail(check, c, reason,
           absl::StrCat(claim, " ", value, " is not among the ", allowed.size(),
                        " allowed value(s)"));
  }
}

int Worst(int a, int b) { return std::max(a, b); }

// A not-checked check lowers the device to warning only when the policy
// relaxed it by name (relaxed_by); otherwise a required check was not
// performed and the device is contraindicated.
int TierOf(const core::Check& c) {
  if (c.status == CheckStatus::kFail) return kTierContraindicated;
  if (c.status == CheckStatus::kNotChecked) {
    if (!c.affects_status) return kTierNoClaim;
    return c.relaxed_by.empty() ? kTierContraindicated : kTierWarning;
  }
  return kTierAffirming;
}

// A not-checked entry the policy itself grants (the policy rule is the
// knob), e.g. a tolerated TCB status.
core::Check& Relaxed(core::Check& c, std::string knob) {
  c.relaxed_by = std::move(knob);
  return c;
}

// Claims a policy rule needs are missing: the rule fails (fail closed).
void ClaimsUnavailable(DeviceResult& d, const char* check, const char* what) {
  d.Fail(check, Component::kConfiguration, "CLAIMS_UNAVAILABLE",
         absl::StrCat("the ", what, " did not parse; the policy rules cannot be evaluated"));
}

}  // namespace

void AppraiseSnpMinTcb(const attestation::v1::SnpPolicy& p, DeviceResult& d) {
  const std::string product = JsonString(d.claims, "product");
  auto it = p.min_reported_tcb().find(product);
  if (it == p.min_reported_tcb().end()) {
    if (!p.min_reported_tcb().empty()) {
      NotConfigured(d, "policy.sev_snp.min_reported_tcb", Component::kHardware,
                    absl::StrCat("minimum reported TCB for product '", product, "'"));
    }
    return;
  }
  const attestation::v1::SnpTcbMinimum& min = it->second;
  const nlohmann::json& tcb =
      d.claims.contains("reported_tcb") ? d.claims["reported_tcb"] : nlohmann::json();
  struct Part {
    const char* name;
    bool has;
    uint32_t min;
  };
  const Part parts[] = {{"bootloader", min.has_bootloader(), min.bootloader()},
                        {"tee", min.has_tee(), min.tee()},
                        {"snp", min.has_snp(), min.snp()},
                        {"microcode", min.has_microcode(), min.microcode()},
                        {"fmc", min.has_fmc(), min.fmc()}};
  std::vector<std::string> low, seen;
  for (const Part& part : parts) {
    if (!part.has) continue;
    // A component the report does not carry (e.g. fmc before Turin) reads
    // as -1: below any minimum (fail closed).
    const int64_t have = JsonInt(tcb, part.name, -1);
    seen.push_back(absl::StrCat(part.name, " ", have, " >= ", part.min));
    if (have < static_cast<int64_t>(part.min)) {
      low.push_back(absl::StrCat(part.name, " ", have < 0 ? std::string("(missing)")
                                                          : absl::StrCat(have),
                                 " < ", part.min));
    }
  }
  if (low.empty()) {
    d.Pass("policy.sev_snp.min_reported_tcb", Component::kHardware,
           absl::StrCat(product, ": ", absl::StrJoin(seen, ", ")));
  } else {
    d.Fail("policy.sev_snp.min_reported_tcb", Component::kHardware, "TCB_TOO_OLD",
           absl::StrCat(product, " reported TCB below the policy minimum: ",
                        absl::StrJoin(low, ", ")));
  }
}

void AppraiseSnp(const attestation::v1::SnpPolicy& p, DeviceResult& d) {
  const nlohmann::json& cl = d.claims;
  if (!cl.contains("policy") || !cl.contains("vmpl")) {
    ClaimsUnavailable(d, "policy.sev_snp", "report");
    return;
  }
  const nlohmann::json& gp = cl["policy"];

  // DEBUG lets the host read and change guest memory: nothing about the
  // guest can be trusted, so it is forbidden unless the policy allows it.
  if (JsonBool(gp, "debug") && !p.allow_debug()) {
    d.Fail("policy.sev_snp.debug", Component::kConfiguration, "DEBUG_ENABLED",
           "guest policy DEBUG=1 and the appraisal policy forbids debug guests");
  } else {
    d.Pass("policy.sev_snp.debug", Component::kConfiguration,
           JsonBool(gp, "debug") ? "DEBUG=1 allowed by policy" : "DEBUG=0");
  }
  // A migration agent can export guest state.
  if (JsonBool(gp, "migrate_ma") && !p.allow_migrate_ma()) {
    d.Fail("policy.sev_snp.migrate_ma", Component::kConfiguration, "MIGRATION_AGENT_NOT_ALLOWED",
           "guest policy MIGRATE_MA=1 and the appraisal policy forbids it");
  } else {
    d.Pass("policy.sev_snp.migrate_ma", Component::kConfiguration);
  }
  if (p.enforce_smt()) {
    if (JsonBool(gp, "smt") && !p.allow_smt()) {
      d.Fail("policy.sev_snp.smt", Component::kConfiguration, "SMT_NOT_ALLOWED",
             "guest policy allows SMT and the appraisal policy forbids it");
    } else {
      d.Pass("policy.sev_snp.smt", Component::kConfiguration);
    }
  }
  // VMPL: the privilege level that requested the report.
  int vmpl = cl["vmpl"].is_number_integer() ? cl["vmpl"].get<int>() : 99;
  if (p.has_max_vmpl()) {
    if (vmpl > p.max_vmpl()) {
      d.Fail("policy.sev_snp.vmpl", Component::kConfiguration, "VMPL_NOT_ALLOWED",
             absl::StrCat("report VMPL ", vmpl, " > policy maximum ", p.max_vmpl()));
    } else {
      d.Pass("policy.sev_snp.vmpl", Component::kConfiguration,
             absl::StrCat("VMPL ", vmpl, " <= ", p.max_vmpl()));
    }
  } else {
    NotConfigured(d, "policy.sev_snp.vmpl", Component::kConfiguration, "VMPL maximum");
  }
  int version = static_cast<int>(JsonInt(cl, "version", 0));
  int min_version = p.has_min_version() ? p.min_version() : 2;
  if (version < min_version) {
    d.Fail("policy.sev_snp.min_version", Component::kHardware, "REPORT_VERSION_TOO_OLD",
           absl::StrCat("report version ", version, " < policy minimum ", min_version));
  } else {
    d.Pass("policy.sev_snp.min_version", Component::kHardware);
  }
  if (p.forbid_vlek() && JsonString(cl, "signing_key") == "vlek") {
    d.Fail("policy.sev_snp.signing_key", Component::kHardware, "VLEK_NOT_ALLOWED",
           "report signed by a VLEK and the policy forbids VLEKs");
  }
  Allowlist(d, "policy.sev_snp.measurement", "measurement", p.measurements(),
            Component::kExecutables, "MEASUREMENT_NOT_ALLOWED");
  Allowlist(d, "policy.sev_snp.host_data", "host_data", p.host_data(), Component::kConfiguration,
            "HOST_DATA_NOT_ALLOWED");
  AppraiseSnpMinTcb(p, d);
  // A revocation check that could not be performed is handled like every
  // other not-checked check (relaxations.cc: sev_snp.require_revocation_check).
}

bool IsKnownTcbStatus(const std::string& status) {
  static const char* const kStatuses[] = {"UpToDate",
                                          "SWHardeningNeeded",
                                          "ConfigurationNeeded",
                                          "ConfigurationAndSWHardeningNeeded",
                                          "OutOfDate",
                                          "OutOfDateConfigurationNeeded",
                                          "Revoked"};
  return std::any_of(std::begin(kStatuses), std::end(kStatuses),
                     [&](const char* s) { return status == s; });
}

int CompareDottedVersions(const std::string& a, const std::string& b, bool hex) {
  auto parse = [hex](const std::string& v, std::vector<uint64_t>* out) {
    for (absl::string_view part : absl::StrSplit(v, '.')) {
      uint64_t n = 0;
      const std::string p(part);
      if (p.empty() || p.size() > 8) return false;
      for (char ch : p) {
        const int d = absl::ascii_isdigit(static_cast<unsigned char>(ch))
                          ? ch - '0'
                          : (hex && absl::ascii_isxdigit(static_cast<unsigned char>(ch))
                                 ? absl::ascii_tolower(static_cast<unsigned char>(ch)) - 'a' + 10
                                 : -1);
        if (d < 0) return false;
        n = n * (hex ? 16 : 10) + static_cast<uint64_t>(d);
      }
      out->push_back(n);
    }
    return !out->empty();
  };
  std::vector<uint64_t> va, vb;
  const bool oka = parse(a, &va), okb = parse(b, &vb);
  if (!oka || !okb) return oka == okb ? 0 : (oka ? 1 : -1);
  const size_t n = std::max(va.size(), vb.size());
  va.resize(n, 0);
  vb.resize(n, 0);
  for (size_t i = 0; i < n; ++i) {
    if (va[i] != vb[i]) return va[i] < vb[i] ? -1 : 1;
  }
  return 0;
}

void AppraiseTdx(const attestation::v1::TdxPolicy& p, DeviceResult& d) {
  const nlohmann::json& cl = d.claims;
  if (!cl.contains("td_attributes") || !cl.contains("mrtd")) {
    ClaimsUnavailable(d, "policy.tdx", "quote");
    return;
  }
  // A debug TD exposes its memory and registers to the host.
  const bool debug = JsonBool(cl["td_attributes"], "debug");
  if (debug && !p.allow_debug()) {
    d.Fail("policy.tdx.debug", Component::kConfiguration, "DEBUG_ENABLED",
           "TDATTRIBUTES.DEBUG=1 and the appraisal policy forbids debug TDs");
  } else {
    d.Pass("policy.tdx.debug", Component::kConfiguration,
           debug ? "DEBUG=1 allowed by policy" : "DEBUG=0");
  }

  // TCB status: accepted → affirming, tolerated → warning, else rejected.
  if (cl.contains("tcb_status") && cl["tcb_status"].is_string()) {
    const std::string status = cl["tcb_status"].get<std::string>();
    std::vector<std::string> accepted(p.accepted_tcb_statuses().begin(),
                                      p.accepted_tcb_statuses().end());
    if (accepted.empty()) accepted = {"UpToDate"};
    std::vector<std::string> tolerated(p.tolerated_tcb_statuses().begin(),
                                       p.tolerated_tcb_statuses().end());
    if (p.accepted_tcb_statuses().empty() && p.tolerated_tcb_statuses().empty()) {
      tolerated = {"SWHardeningNeeded", "ConfigurationNeeded",
                   "ConfigurationAndSWHardeningNeeded"};
    }
    auto in = [&](const std::vector<std::string>& v) {
      return std::find(v.begin(), v.end(), status) != v.end();
    };
    if (status != "Revoked" && in(accepted)) {
      d.Pass("policy.tdx.tcb_status", Component::kHardware,
             absl::StrCat("TCB status ", status, " is accepted"));
    } else if (status != "Revoked" && in(tolerated)) {
      Relaxed(d.NotChecked("policy.tdx.tcb_status", Component::kHardware, "TCB_STATUS_TOLERATED",
                           absl::StrCat("TCB status ", status,
                                        " is tolerated by the policy (warning), not accepted")),
              "tdx.tolerated_tcb_statuses");
    } else {
      d.Fail("policy.tdx.tcb_status", Component::kHardware, "TCB_STATUS_NOT_ACCEPTED",
             absl::StrCat("TCB status ", status, " is neither accepted [",
                          absl::StrJoin(accepted, ", "), "] nor tolerated [",
                          absl::StrJoin(tolerated, ", "), "]"));
    }
  } else {
    // The TCB status is always constrained (accepted / tolerated lists have
    // defaults): without the claim the constraint cannot hold.
    d.Fail("policy.tdx.tcb_status", Component::kHardware, "TCB_STATUS_UNAVAILABLE",
           "no tcb_status claim: the TCB status could not be established (see the tdx.* checks)");
  }

  if (!p.accepted_advisory_ids().empty()) {
    std::vector<std::string> unexpected;
    const bool known = cl.contains("advisory_ids") && cl["advisory_ids"].is_array();
    if (known) {
      for (const auto& a : cl["advisory_ids"]) {
        if (!a.is_string()) {
          unexpected.push_back(a.dump());
        } else if (!Contains(p.accepted_advisory_ids(), a.get<std::string>())) {
          unexpected.push_back(a.get<std::string>());
        }
      }
    }
    if (!known) {
      d.Fail("policy.tdx.advisory_ids", Component::kHardware, "ADVISORY_IDS_UNAVAILABLE",
             "no advisory_ids claim: the advisories could not be established");
    } else if (unexpected.empty()) {
      d.Pass("policy.tdx.advisory_ids", Component::kHardware,
             "every advisory is in the policy's accepted list");
    } else {
      d.Fail("policy.tdx.advisory_ids", Component::kHardware, "ADVISORY_NOT_ACCEPTED",
             absl::StrCat("advisories not accepted by the policy: ",
                          absl::StrJoin(unexpected, ", ")));
    }
  }

  Allowlist(d, "policy.tdx.mrtd", "mrtd", p.mrtd(), Component::kExecutables,
            "MEASUREMENT_NOT_ALLOWED");
  Allowlist(d, "policy.tdx.mrseam", "mrseam", p.mrseam(), Component::kExecutables,
            "MRSEAM_NOT_ALLOWED");
  Allowlist(d, "policy.tdx.mrconfigid", "mrconfigid", p.mrconfigid(), Component::kConfiguration,
            "MRCONFIGID_NOT_ALLOWED");
  const google::protobuf::RepeatedPtrField<std::string>* rtmr_lists[] = {
      &p.rtmr0(), &p.rtmr1(), &p.rtmr2(), &p.rtmr3()};
  for (int i = 0; i < 4; ++i) {
    const std::string check = absl::StrCat("policy.tdx.rtmr", i);
    if (rtmr_lists[i]->empty()) {
      NotConfigured(d, check, Component::kExecutables, absl::StrCat("rtmr", i, " allowlist"));
      continue;
    }
    std::string value;
    if (cl.contains("rtmr") && cl["rtmr"].is_array() && cl["rtmr"].size() > static_cast<size_t>(i) &&
        cl["rtmr"][i].is_string()) {
      value = cl["rtmr"][i].get<std::string>();
    }
    if (Contains(*rtmr_lists[i], value)) {
      d.Pass(check, Component::kExecutables, absl::StrCat("rtmr", i, " is in the allowlist"));
    } else {
      d.Fail(check, Component::kExecutables, "RTMR_NOT_ALLOWED",
             absl::StrCat("rtmr", i, " ", value, " is not among the ", rtmr_lists[i]->size(),
                          " allowed value(s)"));
    }
  }
  if (p.has_min_tcb_evaluation_data_number()) {
    const int64_t n = JsonInt(cl, "tcb_evaluation_data_number", -1);
    if (n < p.min_tcb_evaluation_data_number()) {
      d.Fail("policy.tdx.tcb_evaluation_data_number", Component::kSourcedData,
             "COLLATERAL_TOO_OLD",
             absl::StrCat("TCB evaluation data number ", n, " < policy minimum ",
                          p.min_tcb_evaluation_data_number()));
    } else {
      d.Pass("policy.tdx.tcb_evaluation_data_number", Component::kSourcedData);
    }
  }
  if (!p.min_tcb_date_by_fmspc().empty()) {
    const std::string fmspc = absl::AsciiStrToLower(JsonString(cl, "fmspc"));
    for (const auto& [key, min_date] : p.min_tcb_date_by_fmspc()) {
      if (absl::AsciiStrToLower(key) != fmspc) continue;
      absl::StatusOr<absl::Time> want = ParseTime(min_date);
      absl::StatusOr<absl::Time> have = ParseTime(JsonString(cl, "tcb_date"));
      if (want.ok() && have.ok() && *have >= *want) {
        d.Pass("policy.tdx.min_tcb_date", Component::kHardware);
      } else {
        d.Fail("policy.tdx.min_tcb_date", Component::kHardware, "TCB_TOO_OLD",
               absl::StrCat("TCB date ", JsonString(cl, "tcb_date", "(none)"), " < policy minimum ",
                            min_date, " for FMSPC ", fmspc));
      }
    }
  }
}

void AppraiseGpu(const attestation::v1::GpuPolicy& p, DeviceResult& d) {
  const nlohmann::json& cl = d.claims;
  // OCSP relaxations the policy grants (the verifier fails closed).
  for (auto& c : d.checks) {
    if (c.status != CheckStatus::kFail) continue;
    const bool allowed = (c.reason == "CERT_ON_HOLD" && p.ocsp().allow_hold()) ||
                         (c.reason == "OCSP_UNKNOWN" && p.ocsp().allow_unknown()) ||
                         (c.reason == "OCSP_UNAVAILABLE" && p.ocsp().soft_fail());
    if (allowed) {
      c.status = CheckStatus::kNotChecked;
      c.detail = absl::StrCat(c.detail, " (accepted as a warning by policy nvidia.ocsp)");
      c.relaxed_by = c.reason == "CERT_ON_HOLD"   ? "nvidia.ocsp.allow_hold"
                     : c.reason == "OCSP_UNKNOWN" ? "nvidia.ocsp.allow_unknown"
                                                  : "nvidia.ocsp.soft_fail";
      c.reason = absl::StrCat(c.reason, "_ALLOWED");
    }
  }
  if (!cl.contains("cc_mode")) {
    ClaimsUnavailable(d, "policy.nvidia", "GPU evidence");
    return;
  }
  const std::string mode = JsonString(cl, "cc_mode");
  const std::string want = p.mode().empty() ? "cc" : p.mode();
  // The device class the evidence proves (verified certificate chain), not
  // the list the attester put it in; without it, the list decides (and the
  // verifier has already failed nvidia.device_class).
  const std::string cls = JsonString(cl, "device_class");
  const bool is_gpu = cls == "gpu" || (cls.empty() && d.tee == "nvidia-gpu");
  if (mode != "cc" && mode != "ppcie") {
    // CC off or developer mode: never trusted, whatever else the policy says.
    d.Fail("policy.nvidia.mode", Component::kConfiguration, "GPU_NOT_IN_CC_MODE",
           absl::StrCat("GPU confidential-computing mode is '", mode, "'"));
  } else if (is_gpu && want != "any" && mode != want) {
    d.Fail("policy.nvidia.mode", Component::kConfiguration, "GPU_MODE_NOT_ALLOWED",
           absl::StrCat("GPU mode '", mode, "', the policy requires '", want, "'"));
  } else if (!is_gpu && mode != "ppcie") {
    d.Fail("policy.nvidia.mode", Component::kConfiguration, "GPU_MODE_NOT_ALLOWED",
           absl::StrCat("NVSwitch mode '", mode, "': a switch is only trusted in ppcie mode"));
  } else {
    d.Pass("policy.nvidia.mode", Component::kConfiguration, absl::StrCat("mode ", mode));
  }
  if (!is_gpu) return;  // the rest is about GPUs (switch RIMs: nvidia.* checks)
  Allowlist(d, "policy.nvidia.hwmodel", "hwmodel", p.hwmodel(), Component::kHardware,
            "HWMODEL_NOT_ALLOWED");
  struct MinVersion {
    const char* check;
    const char* claim;
    const std::string& min;
    bool hex;
    const char* reason;
  };
  const MinVersion mins[] = {
      {"policy.nvidia.min_driver_version", "driver_version", p.min_driver_version(), false,
       "DRIVER_VERSION_TOO_OLD"},
      {"policy.nvidia.min_vbios_version", "vbios_version", p.min_vbios_version(), true,
       "VBIOS_VERSION_TOO_OLD"}};
  for (const MinVersion& m : mins) {
    if (m.min.empty()) {
      NotConfigured(d, m.check, Component::kExecutables, absl::StrCat("minimum ", m.claim));
      continue;
    }
    const std::string have = JsonString(cl, m.claim);
    if (CompareDottedVersions(have, m.min, m.hex) >= 0) {
      d.Pass(m.check, Component::kExecutables, absl::StrCat(m.claim, " ", have, " >= ", m.min));
    } else {
      d.Fail(m.check, Component::kExecutables, m.reason,
             absl::StrCat(m.claim, " '", have, "' < policy minimum ", m.min));
    }
  }
  const bool matched = JsonBool(cl, "measurements_match");
  if (matched) {
    d.Pass("policy.nvidia.rim_match", Component::kExecutables,
           "measurements match the signed RIMs");
  } else if (p.allow_rim_mismatch()) {
    Relaxed(d.NotChecked("policy.nvidia.rim_match", Component::kExecutables,
                         "RIM_MISMATCH_ALLOWED",
                         "measurements do not match (or were not compared); the policy allows it"),
            "nvidia.allow_rim_mismatch");
  } else {
    d.Fail("policy.nvidia.rim_match", Component::kExecutables, "RIM_MATCH_REQUIRED",
           "the policy requires GPU measurements matching the signed RIMs; see nvidia.* checks");
  }
}

std::vector<core::Check> AppraiseGpuNode(const attestation::v1::GpuPolicy& p,
                                         const std::vector<core::DeviceResult>& devices) {
  std::vector<core::Check> out;
  int gpus = 0, switches = 0;
  for (const auto& d : devices) {
    if (d.tee == "nvidia-gpu") ++gpus;
    if (d.tee == "nvidia-switch") ++switches;
  }
  auto count = [&](const char* name, const char* what, bool has, int want, int have,
                   const char* reason) {
    if (!has) return;
    if (want == have) {
      out.push_back(core::Check{name, CheckStatus::kPass, "OK",
                                absl::StrCat(have, " ", what), Component::kHardware});
    } else {
      out.push_back(core::Check{name, CheckStatus::kFail, reason,
                                absl::StrCat(have, " ", what, ", the policy expects ", want),
                                Component::kHardware});
    }
  };
  count("policy.nvidia.gpu_count", "GPU(s)", p.has_expected_gpus(), p.expected_gpus(), gpus,
        "GPU_COUNT_MISMATCH");
  count("policy.nvidia.switch_count", "NVSwitch(es)", p.has_expected_switches(),
        p.expected_switches(), switches, "SWITCH_COUNT_MISMATCH");
  return out;
}

namespace {

// Verifiers and the engine report; they do not relax. Whatever they wrote
// into relaxed_by is dropped, and only the named informational checks stay
// informational.
void ResetRelaxations(core::Check& c) {
  c.relaxed_by.clear();
  if (!c.affects_status && !VerifierMayBeInformational(c)) c.affects_status = true;
}

// Marks the not-checked checks the policy relaxes by name; returns the
// names of the required checks that were not performed.
std::vector<std::string> ApplyRelaxations(const attestation::v1::Policy& p,
                                          const RelaxationContext& context,
                                          std::vector<core::Check>& checks) {
  std::vector<std::string> required;
  for (core::Check& c : checks) {
    if (c.status != CheckStatus::kNotChecked || !c.affects_status || !c.relaxed_by.empty()) {
      continue;
    }
    if (std::optional<std::string> knob = RelaxationFor(p, c, context)) {
      c.relaxed_by = *std::move(knob);
    } else {
      required.push_back(absl::StrCat(c.name, " (", c.reason, ")"));
    }
  }
  return required;
}

// One visible failure naming every required check left undone, so that the
// reasons say "required, not performed" and not only "not-checked".
std::optional<core::Check> RequiredChecksFailure(const std::vector<std::string>& names) {
  if (names.empty()) return std::nullopt;
  constexpr size_t kMaxListed = 12;
  std::vector<std::string> listed(names.begin(),
                                  names.begin() + static_cast<std::ptrdiff_t>(
                                                      std::min(names.size(), kMaxListed)));
  std::string more =
      names.size() > kMaxListed ? absl::StrCat(" and ", names.size() - kMaxListed, " more") : "";
  return core::Check{"policy.required_checks", CheckStatus::kFail,
                     "REQUIRED_CHECK_NOT_PERFORMED",
                     absl::StrCat("required check(s) not performed and not relaxed by the "
                                  "policy: ",
                                  absl::StrJoin(listed, ", "), more),
                     Component::kSourcedData};
}

}  // namespace

Appraisal AppraiseAll(const LoadedPolicy& policy, const std::string& binding_profile,
                      std::vector<core::DeviceResult> devices,
                      std::vector<core::Check> bundle_checks,
                      const RelaxationContext& relaxation_context) {
  const attestation::v1::Policy& p = policy.policy;
  for (core::Check& c : bundle_checks) ResetRelaxations(c);
  for (core::DeviceResult& d : devices) {
    for (core::Check& c : d.checks) ResetRelaxations(c);
  }
  Appraisal out;
  out.policy_id = policy.id;
  out.policy_version = policy.version;
  out.policy_sha256 = policy.sha256_hex;
  out.binding = binding_profile;

  // Binding profile must be one the policy allows (attest-v1 by default).
  std::vector<std::string> allowed(p.allowed_bindings().begin(), p.allowed_bindings().end());
  if (allowed.empty()) allowed.push_back("attest-v1");
  if (std::find(allowed.begin(), allowed.end(), binding_profile) == allowed.end()) {
    bundle_checks.push_back(core::Check{
        "policy.binding", CheckStatus::kFail, "BINDING_PROFILE_NOT_ALLOWED",
        absl::StrCat("binding '", binding_profile, "' not in policy list [",
                     absl::StrJoin(allowed, ", "), "]"),
        Component::kInstanceIdentity});
  }

  for (core::Check& c : AppraiseGpuNode(p.nvidia(), devices)) {
    bundle_checks.push_back(std::move(c));
  }
  for (auto& d : devices) {
    if (!d.evidence_authentic) {
      // Claims of evidence whose signature or chain did not verify were
      // decoded from bytes nobody vouches for: no policy rule may pass on
      // them. The verifier's failures say why; this names the consequence
      // (and rejects a device a verifier forgot to vouch for).
      d.Fail("policy.evidence", Component::kHardware, "EVIDENCE_NOT_AUTHENTIC",
             "the evidence's signature or certificate chain did not verify: policy rules not "
             "evaluated on its claims");
    } else if (d.tee == "sev-snp") {
      AppraiseSnp(p.sev_snp(), d);
    } else if (d.tee == "tdx") {
      AppraiseTdx(p.tdx(), d);
    } else if (d.tee == "nvidia-gpu" || d.tee == "nvidia-switch") {
      AppraiseGpu(p.nvidia(), d);
    } else {
      // No policy rules exist for this kind of device: it cannot be
      // appraised, so it cannot be trusted.
      d.Fail("policy.device_type", Component::kHardware, "DEVICE_TYPE_UNKNOWN",
             absl::StrCat("no appraisal rules for device type '", d.tee.substr(0, 32), "'"));
    }
    if (d.simulated) {
      out.simulated = true;
      if (p.allow_simulated()) {
        Relaxed(d.NotChecked("policy.simulated", Component::kHardware, "SIMULATED_EVIDENCE",
                             "evidence chains to the simulation root: not real hardware"),
                "allow_simulated");
      } else {
        d.Fail("policy.simulated", Component::kHardware, "SIMULATED_EVIDENCE_NOT_ALLOWED",
               "evidence chains to the simulation root and the policy does not allow it");
      }
    }
  }

  for (core::DeviceResult& d : devices) {
    std::vector<std::string> required = ApplyRelaxations(p, relaxation_context, d.checks);
    if (std::optional<core::Check> f = RequiredChecksFailure(required)) {
      d.checks.push_back(*std::move(f));
    }
  }
  {
    std::vector<std::string> required = ApplyRelaxations(p, relaxation_context, bundle_checks);
    if (std::optional<core::Check> f = RequiredChecksFailure(required)) {
      bundle_checks.push_back(*std::move(f));
    }
  }

  std::vector<std::string> reasons;
  std::set<std::string> seen;
  auto note = [&](const core::Check& c) {
    if (c.status == CheckStatus::kPass || !c.affects_status) return;
    if (seen.insert(c.reason).second) reasons.push_back(c.reason);
  };
  for (const auto& c : bundle_checks) note(c);

  Verdict overall = Verdict::kAffirming;
  for (auto& d : devices) {
    for (const auto& c : d.checks) note(c);
    AppraisedDevice ad;
    std::map<std::string, int> tv;
    int worst = kTierNoClaim;
    auto fold = [&](const core::Check& c) {
      int t = TierOf(c);
      worst = Worst(worst, t);
      if (t == kTierNoClaim) return;
      std::string comp(core::ComponentName(c.component));
      auto it = tv.find(comp);
      tv[comp] = it == tv.end() ? t : Worst(it->second, t);
    };
    for (const auto& c : d.checks) fold(c);
    for (const auto& c : bundle_checks) fold(c);
    ad.status = worst >= kTierContraindicated ? Verdict::kContraindicated
                : worst >= kTierWarning       ? Verdict::kWarning
                                              : Verdict::kAffirming;
    ad.trust_vector = std::move(tv);
    ad.device = std::move(d);
    overall = std::max(overall, ad.status);
    out.devices.push_back(std::move(ad));
  }
  for (const auto& c : bundle_checks) {
    int t = TierOf(c);
    if (t >= kTierContraindicated) overall = Verdict::kContraindicated;
    else if (t >= kTierWarning) overall = std::max(overall, Verdict::kWarning);
  }
  if (out.devices.empty()) overall = Verdict::kContraindicated;
  out.verdict = overall;
  out.binding_verified = std::any_of(bundle_checks.begin(), bundle_checks.end(), [](const auto& c) {
    return c.name == "binding" && c.status == CheckStatus::kPass;
  });
  // attest-v2 binds the TEE key exactly as attest-v1 does (plus the runtime
  // claims, which the engine attaches: appraisal/engine.cc).
  out.key_bound = out.binding_verified &&
                  (binding_profile == "attest-v1" || binding_profile == "attest-v2");
  out.bundle_checks = std::move(bundle_checks);
  out.reasons = std::move(reasons);
  return out;
}

}  // namespace rp::policy
