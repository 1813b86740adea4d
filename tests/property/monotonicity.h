// The monotonicity property (README.md beside this file): what the
// appraisal of a mutated bundle may not gain over the intact bundle.
#ifndef RP_TESTS_PROPERTY_MONOTONICITY_H_
#define RP_TESTS_PROPERTY_MONOTONICITY_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "appraisal/engine.h"
#include "attestation/v1/attestation.pb.h"
#include "nlohmann/json.hpp"
#include "policy/appraisal.h"
#include "tests/property/mutate.h"
#include "verifier/core/result.h"

namespace rp::property {

struct DeviceOutcome {
  std::string name;  // cpu0, gpu0.., switch0..
  std::string tee;
  policy::Verdict status = policy::Verdict::kContraindicated;
  bool authentic = false;
  // Check name -> every check of that name passed (status pass).
  std::map<std::string, bool> passed;
  // The platform / device the evidence names, from the verifier's claims:
  // TDX `fmspc`, SEV-SNP `chip_id`, GPU / NVSwitch `ueid` ("" if absent).
  // Used only to recognise recombinations (README.md "Recombination").
  std::string identity;
  // The device's submod in the EAR claims carries claims (non-empty).
  bool token_claims = false;
};

// What one Engine::Run gave, reduced to what the property compares.
struct Outcome {
  enum class Kind { kAppraisal, kError, kException };
  Kind kind = Kind::kError;
  std::string error;  // status / exception text
  policy::Verdict verdict = policy::Verdict::kContraindicated;
  std::vector<DeviceOutcome> devices;
  // The EAR claims' cnf (as the server builds them: the bundle's
  // tee_public_key is handed to Appraisal::EarClaims), if present.
  std::optional<nlohmann::json> cnf;
  std::optional<core::CheckStatus> binding;  // bundle-level "binding" check
  std::string binding_profile;               // Appraisal::binding
  std::map<std::string, bool> bundle_passed;  // bundle-level checks, as `passed`
  bool token_binding = false;                 // the EAR claims name a binding profile
  // The EAR claims' runtime_claims (attest-v2), if present.
  std::optional<nlohmann::json> runtime_claims;
  std::vector<std::string> reasons;
};

Outcome Evaluate(const appraisal::Engine& engine, const attestation::v1::EvidenceBundle& bundle,
                 const policy::LoadedPolicy& policy, const appraisal::RunOptions& options);

// "affirming" | "warning" | "contraindicated" | "error" | "exception".
std::string OutcomeName(const Outcome& o);

struct Finding {
  // Relative to the intact bundle: verdict | cnf | device | check |
  // bundle_check | authentic | exception. Absolute: cnf_unbound |
  // nonce_unverified (CheckAbsolute).
  std::string property;
  std::string detail;  // e.g. "gpu1 (intact gpu0): contraindicated -> warning"
  // A cross-vector swap whose result is no better than the donor bundle
  // itself appraised under the same policy and options: the attester holds
  // the donor, so it gains nothing (README.md "Cross-vector swaps").
  bool donor_explained = false;
  // Better than the donor too, but the mutant is an honest recombination
  // of authentic parts of the same platform (IsRecombination): excused,
  // counted apart. Set by the harness.
  bool recombination = false;
};

// Every way `mutant` is better than `intact` (empty: the property holds).
// `m` tells which intact device each mutant device is (Mutant::*_origin).
// `donor`: for a cross-vector swap, the donor bundle's own outcome under
// the same policy and options; findings no better than it are marked
// donor_explained.
std::vector<Finding> Compare(const Outcome& intact, const Outcome& mutant, const Mutant& m,
                             const Outcome* donor = nullptr);

// Recombination (README.md "Recombination"). A cross-vector swap mutant
// that is better than both the intact bundle and the donor is excused only
// when it is itself an honest bundle:
//  - the swapped field is primary evidence or collateral that the verifier
//    authenticates (tdx.quote, tdx.collateral.*, sev_snp.report / vcek /
//    vlek / cert_chain, a GPU / NVSwitch report or certificate chain, or a
//    whole tdx / sev_snp message, device list or nvidia message);
//  - every device of the mutant is evidence_authentic;
//  - each device the swap touches names the same platform in the intact
//    bundle, in the mutant and in the donor (TDX: same FMSPC, the unit of
//    Intel's TCB collateral; SEV-SNP: same chip id; GPU / NVSwitch: same
//    UEID), with the same device counts.
// Returns a short description ("fmspc 90c06f000000") when all hold, "" when
// not. RecombinationMayExcuse tells which findings it can excuse at all:
// never cnf, binding or freshness, nor the absolute claims.
std::string Recombination(const Mutant& m, const Outcome& intact, const Outcome& mutant,
                          const Outcome& donor);
bool RecombinationMayExcuse(const Finding& f);

// Claims no outcome may carry, whatever the intact bundle gave (issue 10):
//  - cnf_unbound: a `cnf` (token bound to the bundle's TEE key) unless the
//    binding check passed with attest-v1, the only profile that commits to
//    the key ("cnf / binding appear in a token only when the binding check
//    passed");
//  - nonce_unverified: without a nonce of ours (RunOptions::expected_nonce
//    unset), a freshness check (named "nonce" / "freshness" or ending in
//    ".nonce" / ".freshness", e.g. nvidia.nonce) that passes: a nonce only
//    the bundle names proves nothing ("reported as not-checked").
//  - claims_unauthentic: an EAR submod with claims for a device whose
//    evidence is not authentic (issue 10: such claims are omitted);
//  - binding_unverified: the EAR claims name a binding profile although
//    the binding check did not pass.
// These are checked on the intact bundle and on every mutant; a donor
// bound or a recombination never excuses them.
std::vector<Finding> CheckAbsolute(const Outcome& o, bool have_expected_nonce);

}  // namespace rp::property

#endif  // RP_TESTS_PROPERTY_MONOTONICITY_H_
