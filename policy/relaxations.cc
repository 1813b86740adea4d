#include "policy/relaxations.h"

#include <algorithm>
#include <initializer_list>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace rp::policy {
namespace {

using attestation::v1::Policy;

constexpr std::string_view kPrerequisiteFailed = "PREREQUISITE_FAILED";

bool In(std::string_view v, std::initializer_list<std::string_view> list) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

bool AllowsBinding(const Policy& p, std::string_view b) {
  return std::any_of(p.allowed_bindings().begin(), p.allowed_bindings().end(),
                     [&](const std::string& x) { return x == b; });
}

// One named relaxation: which not-checked checks it covers and whether the
// policy (or the caller's context) grants it.
struct Named {
  std::initializer_list<std::string_view> checks;   // empty: any check
  std::initializer_list<std::string_view> reasons;  // empty: any reason
  const char* knob;
  bool (*granted)(const Policy&, const RelaxationContext&);
};

// The table. Each row names the policy knob in the words of the policy
// document, so a result says exactly which setting let the check go.
const Named kNamed[] = {
    // Collateral used past its freshness, inside the grace the policy set
    // (beyond the grace the verifiers fail closed).
    {{}, {"STALE_COLLATERAL"}, "collateral_grace_seconds",
     [](const Policy& p, const RelaxationContext&) { return p.collateral_grace_seconds() > 0; }},
    // Revocation without a current CRL.
    {{"sev_snp.revocation"}, {}, "sev_snp.require_revocation_check: false",
     [](const Policy& p, const RelaxationContext&) {
       return p.sev_snp().has_require_revocation_check() &&
              !p.sev_snp().require_revocation_check();
     }},
    {{"tdx.pck_revocation", "tdx.tcb_signing_revocation"}, {},
     "tdx.require_revocation_check: false",
     [](const Policy& p, const RelaxationContext&) {
       return p.tdx().has_require_revocation_check() && !p.tdx().require_revocation_check();
     }},
    // OCSP for the GPU device chain and the RIM signing chains: no responder
    // configured or none reachable.
    {{"nvidia.cert_ocsp", "nvidia.driver_rim.ocsp", "nvidia.vbios_rim.ocsp"},
     {"OCSP_NOT_CONFIGURED", "OCSP_UNAVAILABLE"}, "nvidia.ocsp.soft_fail",
     [](const Policy& p, const RelaxationContext&) { return p.nvidia().ocsp().soft_fail(); }},
    // Freshness: only the caller of an offline check may waive it.
    {{"nonce", "binding", "nvidia.nonce"}, {"NONCE_NOT_PROVIDED"},
     "--no-freshness (offline check of third-party evidence)",
     [](const Policy&, const RelaxationContext& c) { return c.allow_no_freshness; }},
    // GPU evidence without CPU evidence binds nothing to a TEE key.
    {{"binding"}, {"BINDING_NO_CPU_EVIDENCE"}, "require_cpu_evidence: false",
     [](const Policy& p, const RelaxationContext&) {
       return p.has_require_cpu_evidence() && !p.require_cpu_evidence();
     }},
    {{"binding"}, {"BINDING_NONE"}, "allowed_bindings: [none]",
     [](const Policy& p, const RelaxationContext&) { return AllowsBinding(p, "none"); }},
};

// Checks optional_checks can never relax: freshness and binding have their
// own knobs (require_cpu_evidence, allowed_bindings, the caller's
// --no-freshness), and policy.* checks are the policy's own verdicts.
bool IsReservedCheck(absl::string_view name) {
  return name == "nonce" || name == "binding" || name == "nvidia.nonce" ||
         absl::StartsWith(name, "policy.");
}

}  // namespace

bool MatchesCheckPattern(const std::string& pattern, const std::string& name) {
  if (absl::EndsWith(pattern, ".*")) {
    return absl::StartsWith(name, pattern.substr(0, pattern.size() - 1));
  }
  return pattern == name;
}

std::optional<std::string> RelaxationFor(const Policy& policy, const core::Check& check,
                                         const RelaxationContext& context) {
  if (check.status != core::CheckStatus::kNotChecked) return std::nullopt;
  // A check skipped because something before it failed is not relaxed by
  // a named knob: the knob speaks about the check itself.
  if (check.reason != kPrerequisiteFailed) {
    for (const Named& n : kNamed) {
      if (n.checks.size() > 0 && !In(check.name, n.checks)) continue;
      if (n.reasons.size() > 0 && !In(check.reason, n.reasons)) continue;
      if (n.granted(policy, context)) return std::string(n.knob);
    }
  }
  if (IsReservedCheck(check.name)) return std::nullopt;
  for (const std::string& pattern : policy.optional_checks()) {
    if (MatchesCheckPattern(pattern, check.name)) {
      return absl::StrCat("optional_checks: ", pattern);
    }
  }
  return std::nullopt;
}

bool VerifierMayBeInformational(const core::Check& check) {
  struct Pair {
    std::string_view name, reason;
  };
  // Older GPU firmware has no FWID field: the report is still bound to the
  // firmware by the per-FMC leaf key that signed it.
  // No NVDEC0 status: index 35 is then compared (stricter, not weaker).
  static constexpr Pair kInformational[] = {
      {"nvidia.fwid", "FWID_NOT_REPORTED"},
      {"nvidia.rim.nvdec0", "NVDEC0_STATUS_MISSING"},
  };
  return std::any_of(std::begin(kInformational), std::end(kInformational), [&](const Pair& p) {
    return p.name == check.name && p.reason == check.reason;
  });
}

absl::Status ValidateOptionalChecks(const Policy& policy, const std::string& origin) {
  if (policy.optional_checks_size() > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, ": optional_checks: at most 64 entries"));
  }
  for (int i = 0; i < policy.optional_checks_size(); ++i) {
    const std::string& e = policy.optional_checks(i);
    absl::string_view body = e;
    if (absl::EndsWith(body, ".*")) body.remove_suffix(2);
    const bool shape_ok =
        !body.empty() && body.size() <= 128 && body.front() != '.' && body.back() != '.' &&
        std::all_of(body.begin(), body.end(), [](char c) {
          return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
        });
    if (!shape_ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          origin, ": optional_checks[", i, "]: '", e.substr(0, 64),
          "' is not a check name ([a-z0-9_.], optionally ending in \".*\")"));
    }
    if (IsReservedCheck(body) || body == "policy") {
      return absl::InvalidArgumentError(absl::StrCat(
          origin, ": optional_checks[", i, "]: '", e,
          "' cannot be relaxed here (nonce / binding / policy.* have their own settings: "
          "require_cpu_evidence, allowed_bindings; freshness only by attestctl --no-freshness)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace rp::policy
