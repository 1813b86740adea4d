// Canonical JSON (RFC 8785, JCS) for the appraisal result: the bytes whose
// SHA-256 the token carries as `appraisal_sha256` and that the Attest
// response carries as `result_json` (docs/token.md#the-full-result-and-its-hash).
//
// What RFC 8785 requires and what this code does:
//  - §3.2.1 no whitespace between tokens.
//  - §3.2.2.2 strings: '"' and '\' escaped as \" and \\; U+0008, U+0009,
//    U+000A, U+000C, U+000D as \b \t \n \f \r; every other code point below
//    U+0020 as \u00xx with lower-case hex; everything else as its UTF-8
//    bytes, unescaped. Strings (values and names) must be valid UTF-8.
//  - §3.2.2.3 numbers: integers are written in decimal. Non-integral
//    numbers are written as ECMAScript's Number.prototype.toString does
//    (shortest round-trip digits; exponent form outside 1e-7 .. 1e21).
//    NaN and infinities are refused (JSON has none). One deliberate
//    difference: an integer beyond ±2^53 is written exactly, not rounded
//    to a double (RFC 8785 would round; I-JSON says not to use them, and no
//    claim of this project does — SVN and TCB "raw" fields are strings).
//  - §3.2.3 member names sorted by their UTF-16 code units.
//  - literals true, false, null.
#ifndef RP_POLICY_CANONICAL_JSON_H_
#define RP_POLICY_CANONICAL_JSON_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace rp::policy {

// The canonical form of `value`. INVALID_ARGUMENT for invalid UTF-8, a
// non-finite number, a binary value, or nesting deeper than 64.
absl::StatusOr<std::string> CanonicalJson(const nlohmann::json& value);

}  // namespace rp::policy

#endif  // RP_POLICY_CANONICAL_JSON_H_
