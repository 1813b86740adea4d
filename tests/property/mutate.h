// Deterministic, schema-driven mutations of an EvidenceBundle for the
// monotonicity property test (README.md beside this file).
//
// Every field of attestation.v1.EvidenceBundle is found through protobuf
// reflection, at every depth and for every element of a repeated field, so
// a field added to the schema is mutated without touching this code. For
// each field the enumerator applies the kinds listed in README.md (clear,
// empty, truncate, garbage, byte flips, format-aware PEM / JSON / hex edits,
// enum-like alternatives, cross-vector swaps, and for repeated fields drop /
// duplicate / swap elements). Garbage comes from a PRNG seeded by
// (bundle name, field path, kind), so a run is reproducible.
#ifndef RP_TESTS_PROPERTY_MUTATE_H_
#define RP_TESTS_PROPERTY_MUTATE_H_

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "attestation/v1/attestation.pb.h"

namespace rp::property {

// Another bundle whose fields may be swapped in ("cross-vector swap").
struct Donor {
  std::string name;
  const attestation::v1::EvidenceBundle* bundle;
};

struct Mutant {
  std::string path;   // e.g. "nvidia.evidence_list[1].certificate"
  std::string kind;   // e.g. "trunc_half", "swap:tdx_phala_uptodate"
  attestation::v1::EvidenceBundle bundle;
  // Which of the intact bundle's devices each device of the mutant is, for
  // the per-device comparison (README.md "Device identity"): for every
  // element of the mutant's nvidia.evidence_list / switch_evidence_list,
  // the intact device it derives from ("gpu1", "switch0"; an element moved
  // between the lists keeps its intact name), or "" when it is another
  // vector's evidence. `cpu_foreign` is true when the CPU report / quote is
  // another vector's.
  std::vector<std::string> gpu_origin;
  std::vector<std::string> switch_origin;
  bool cpu_foreign = false;
};

struct EnumerateOptions {
  // Swap fields in from these bundles (the intact bundle itself is skipped
  // by name).
  std::vector<Donor> donors;
};

// Calls `visit` once per distinct mutant of `intact` (mutants equal to the
// intact bundle or to an earlier mutant are skipped), in a fixed order.
// Returns the number of mutants visited.
size_t EnumerateMutants(const std::string& bundle_name,
                        const attestation::v1::EvidenceBundle& intact,
                        const EnumerateOptions& options,
                        const std::function<void(Mutant&&)>& visit);

// "nvidia.evidence_list[1].certificate" -> "nvidia.evidence_list[].certificate"
// (groups violations of the same field across elements).
std::string NormalizePath(const std::string& path);

}  // namespace rp::property

#endif  // RP_TESTS_PROPERTY_MUTATE_H_
