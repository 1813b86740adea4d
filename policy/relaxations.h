// Which checks may be not performed, and who says so (issue 10, fail closed
// by construction).
//
// Every check a verifier or the engine records is pass, fail or not-checked.
// A not-checked check is a required check that was not performed, and it
// rejects the device (contraindicated) — unless the POLICY names it as
// optional. This file is the one place that maps a not-checked check to the
// policy knob that relaxes it; the appraisal (appraise.cc) consults it for
// every not-checked check that the policy rules themselves did not mark.
//
// Verifiers cannot relax anything: the appraisal clears `relaxed_by` on
// every check it receives, and only the (check, reason) pairs listed by
// VerifierMayBeInformational may stay informational (not lowering the
// device at all).
#ifndef RP_POLICY_RELAXATIONS_H_
#define RP_POLICY_RELAXATIONS_H_

#include <optional>
#include <string>

#include "attestation/v1/policy.pb.h"
#include "verifier/core/result.h"

namespace rp::policy {

// Caller-side relaxations that are not part of a policy document.
struct RelaxationContext {
  // attestctl verify --no-freshness: third-party evidence checked offline,
  // without a nonce this verifier issued.
  bool allow_no_freshness = false;
};

// The knob that allows `check` (status not-checked) to be not performed
// under `policy`, e.g. "sev_snp.require_revocation_check: false"; nullopt
// when nothing relaxes it (the check is required).
std::optional<std::string> RelaxationFor(const attestation::v1::Policy& policy,
                                         const core::Check& check,
                                         const RelaxationContext& context);

// True for the few verifier checks that are informational by nature (they
// describe a property of genuine evidence, never a check left undone), e.g.
// nvidia.fwid FWID_NOT_REPORTED on firmware that predates the field. Every
// other verifier check counts towards the device status.
bool VerifierMayBeInformational(const core::Check& check);

// True when `name` matches an optional_checks entry: equal, or the entry
// ends in ".*" and `name` starts with the entry without the "*".
bool MatchesCheckPattern(const std::string& pattern, const std::string& name);

// Validates optional_checks entries ([a-z0-9_.]+, optionally ending in
// ".*"; at most 64 entries). INVALID_ARGUMENT naming the entry.
absl::Status ValidateOptionalChecks(const attestation::v1::Policy& policy,
                                    const std::string& origin);

}  // namespace rp::policy

#endif  // RP_POLICY_RELAXATIONS_H_
