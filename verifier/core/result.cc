#include "verifier/core/result.h"

namespace rp::core {

std::string_view CheckStatusName(CheckStatus s) {
  switch (s) {
    case CheckStatus::kPass:
      return "pass";
    case CheckStatus::kFail:
      return "fail";
    case CheckStatus::kNotChecked:
      return "not-checked";
  }
  return "not-checked";
}

std::string_view ComponentName(Component c) {
  switch (c) {
    case Component::kInstanceIdentity:
      return "instance-identity";
    case Component::kConfiguration:
      return "configuration";
    case Component::kExecutables:
      return "executables";
    case Component::kFileSystem:
      return "file-system";
    case Component::kHardware:
      return "hardware";
    case Component::kRuntimeOpaque:
      return "runtime-opaque";
    case Component::kStorageOpaque:
      return "storage-opaque";
    case Component::kSourcedData:
      return "sourced-data";
  }
  return "hardware";
}

}  // namespace rp::core
