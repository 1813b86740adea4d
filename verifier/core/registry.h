// Explicit registry of evidence verifiers, keyed by TEE type (no static
// self-registration). Registering a type twice is an error.
#ifndef RP_VERIFIER_CORE_REGISTRY_H_
#define RP_VERIFIER_CORE_REGISTRY_H_

#include <map>
#include <memory>

#include "absl/status/status.h"
#include "verifier/core/verifier.h"

namespace rp::core {

class Registry {
 public:
  absl::Status Register(TeeType type, std::unique_ptr<EvidenceVerifier> verifier);
  // nullptr if no verifier is registered for `type`.
  const EvidenceVerifier* Find(TeeType type) const;

 private:
  std::map<TeeType, std::unique_ptr<EvidenceVerifier>> verifiers_;
};

}  // namespace rp::core

#endif  // RP_VERIFIER_CORE_REGISTRY_H_
