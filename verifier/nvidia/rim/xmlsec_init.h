// Internal: one-time, thread-safe xmlsec1 (OpenSSL backend) initialisation,
// shared by the verifier and the test RIM builder.
#ifndef RP_VERIFIER_NVIDIA_RIM_XMLSEC_INIT_H_
#define RP_VERIFIER_NVIDIA_RIM_XMLSEC_INIT_H_

#include <string>

#include "absl/status/status.h"

namespace rp::nvidia::rim::internal {

// Initialises libxml2, xmlsec1 and its OpenSSL backend exactly once
// (std::call_once) and installs an error callback that writes into a
// thread-local buffer instead of stderr. Returns the init result (the same
// on every call). Never shut down: xmlsec1 has no reference counting and
// other threads may be verifying.
absl::Status EnsureXmlsecInitialized();

// xmlsec1 errors recorded on this thread since the last call (then cleared).
std::string TakeXmlsecErrors();

}  // namespace rp::nvidia::rim::internal

#endif  // RP_VERIFIER_NVIDIA_RIM_XMLSEC_INIT_H_
