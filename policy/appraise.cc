#include "policy/appraise.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/ascii.h"

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
  std::string value = d.claims.value(claim, "");
  if (Contains(allowed, value)) {
    d.Pass(check, c, absl::StrCat(claim, " ", value, " is in the policy allowlist"));
  } else {
    d.Fail(check, c, reason,
           absl::StrCat(claim, " ", value, " is not among the ", allowed.size(),
                        " allowed value(s)"));
  }
}

int Worst(int a, int b) { return std::max(a, b); }

int TierOf(const core::Check& c) {
  if (c.status == CheckStatus::kFail) return kTierContraindicated;
  if (c.status == CheckStatus::kNotChecked) return c.affects_status ? kTierWarning : kTierNoClaim;
  return kTierAffirming;
}

}  // namespace

void AppraiseSnp(const attestation::v1::SnpPolicy& p, DeviceResult& d) {
  const nlohmann::json& cl = d.claims;
  if (!cl.contains("policy") || !cl.contains("vmpl")) {
    auto& c = d.NotChecked("policy.sev_snp", Component::kConfiguration, "CLAIMS_UNAVAILABLE",
                           "the report did not parse; policy rules not evaluated");
    c.affects_status = false;
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
  int version = cl.value("version", 0);
  int min_version = p.has_min_version() ? p.min_version() : 2;
  if (version < min_version) {
    d.Fail("policy.sev_snp.min_version", Component::kHardware, "REPORT_VERSION_TOO_OLD",
           absl::StrCat("report version ", version, " < policy minimum ", min_version));
  } else {
    d.Pass("policy.sev_snp.min_version", Component::kHardware);
  }
  if (p.forbid_vlek() && cl.value("signing_key", "") == "vlek") {
    d.Fail("policy.sev_snp.signing_key", Component::kHardware, "VLEK_NOT_ALLOWED",
           "report signed by a VLEK and the policy forbids VLEKs");
  }
  Allowlist(d, "policy.sev_snp.measurement", "measurement", p.measurements(),
            Component::kExecutables, "MEASUREMENT_NOT_ALLOWED");
  Allowlist(d, "policy.sev_snp.host_data", "host_data", p.host_data(), Component::kConfiguration,
            "HOST_DATA_NOT_ALLOWED");
  if (p.require_revocation_check()) {
    for (const auto& c : d.checks) {
      if (c.name == "sev_snp.revocation" && c.status == CheckStatus::kNotChecked) {
        d.Fail("policy.sev_snp.revocation_required", Component::kHardware,
               "REVOCATION_NOT_CHECKED",
               absl::StrCat("policy requires a revocation check: ", c.detail));
        break;
      }
    }
  }
}

Appraisal AppraiseAll(const LoadedPolicy& policy, const std::string& binding_profile,
                      std::vector<core::DeviceResult> devices,
                      std::vector<core::Check> bundle_checks) {
  const attestation::v1::Policy& p = policy.policy;
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

  for (auto& d : devices) {
    if (d.tee == "sev-snp") AppraiseSnp(p.sev_snp(), d);
    if (d.simulated) {
      out.simulated = true;
      if (p.allow_simulated()) {
        d.NotChecked("policy.simulated", Component::kHardware, "SIMULATED_EVIDENCE",
                     "evidence chains to the simulation root: not real hardware");
      } else {
        d.Fail("policy.simulated", Component::kHardware, "SIMULATED_EVIDENCE_NOT_ALLOWED",
               "evidence chains to the simulation root and the policy does not allow it");
      }
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
  out.bundle_checks = std::move(bundle_checks);
  out.reasons = std::move(reasons);
  return out;
}

}  // namespace rp::policy
