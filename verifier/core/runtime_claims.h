// Runtime claims of binding profile attest-v2 (docs/binding.md): a small
// flat JSON object of strings the attester states about itself at run time
// (Kubernetes node name, pod UID, workload name, a TLS key hash ...), bound
// into the CPU report data as SHA-256 of its JCS (RFC 8785) form. Only bound
// runtime claims ever reach a result or a token.
//
// Accepted subset (anything else is INVALID_ARGUMENT, before any crypto):
//  - at most kMaxRuntimeClaims members;
//  - names: 1..kMaxRuntimeClaimNameBytes of [A-Za-z0-9._-] (usable verbatim
//    in a release rule's JSON Pointer, "/runtime_claims/node");
//  - values: valid UTF-8 strings of at most kMaxRuntimeClaimValueBytes
//    without control characters (U+0000..U+001F, U+007F);
//  - the JCS form at most kMaxRuntimeClaimsBytes bytes;
//  - the well-known claim `node`, when present, must be a Kubernetes node
//    name (RFC 1123 subdomain: 1..253 of [a-z0-9.-], each label starting
//    and ending alphanumeric): the fleet registry and the admission webhook
//    key nodes by it.
#ifndef RP_VERIFIER_CORE_RUNTIME_CLAIMS_H_
#define RP_VERIFIER_CORE_RUNTIME_CLAIMS_H_

#include <cstddef>
#include <map>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "verifier/common/encoding.h"

namespace rp::core {

using RuntimeClaims = std::map<std::string, std::string>;

inline constexpr size_t kMaxRuntimeClaims = 32;
inline constexpr size_t kMaxRuntimeClaimNameBytes = 64;
inline constexpr size_t kMaxRuntimeClaimValueBytes = 1024;
inline constexpr size_t kMaxRuntimeClaimsBytes = 4096;  // of the JCS form
inline constexpr char kRuntimeClaimNode[] = "node";

// The rules above; the message names the offending member.
absl::Status ValidateRuntimeClaims(const RuntimeClaims& claims);

// JCS(claims) after ValidateRuntimeClaims.
absl::StatusOr<std::string> CanonicalRuntimeClaims(const RuntimeClaims& claims);

// SHA-256(JCS(claims)) after ValidateRuntimeClaims: what attest-v2 binds.
absl::StatusOr<Bytes> RuntimeClaimsDigest(const RuntimeClaims& claims);

// Parses JSON text (a file an attester writes, `attestctl simulate
// --runtime-claims`): strictly one object (duplicate names refused) of
// string members, then ValidateRuntimeClaims. At most 2 * kMaxRuntimeClaimsBytes
// bytes of text.
absl::StatusOr<RuntimeClaims> ParseRuntimeClaimsJson(std::string_view text);

// True for an RFC 1123 subdomain (Kubernetes object names such as nodes).
bool IsDnsSubdomain(std::string_view name);

}  // namespace rp::core

#endif  // RP_VERIFIER_CORE_RUNTIME_CLAIMS_H_
