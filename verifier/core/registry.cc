#include "verifier/core/registry.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace rp::core {

absl::Status Registry::Register(TeeType type, std::unique_ptr<EvidenceVerifier> verifier) {
  if (verifier == nullptr) return absl::InvalidArgumentError("registry: null verifier");
  auto [it, inserted] = verifiers_.emplace(type, std::move(verifier));
  if (!inserted) {
    return absl::AlreadyExistsError(
        absl::StrCat("registry: a verifier for TEE type ", static_cast<int>(type),
                     " is already registered"));
  }
  return absl::OkStatus();
}

const EvidenceVerifier* Registry::Find(TeeType type) const {
  auto it = verifiers_.find(type);
  return it == verifiers_.end() ? nullptr : it->second.get();
}

}  // namespace rp::core
