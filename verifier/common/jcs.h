// JSON Canonicalization Scheme (JCS, RFC 8785) for the one subset this
// project canonicalises: a flat JSON object whose members are all strings
// (the runtime claims of binding profile attest-v2, verifier/core/
// runtime_claims.h). Numbers, literals, arrays and nested objects are not
// part of the subset, so the ECMAScript number serialisation of RFC 8785
// §3.2.2.3 is not needed.
//
// What RFC 8785 requires for this subset and what this code does:
//  - §3.2.2.2 strings: '"' and '\' escaped as \" and \\; U+0008, U+0009,
//    U+000A, U+000C, U+000D as \b \t \n \f \r; every other code point below
//    U+0020 as \u00xx with lower-case hex; everything else (including '/',
//    U+007F, U+2028, U+2029 and non-ASCII) as its UTF-8 bytes, unescaped.
//  - §3.2.3 member order: property names sorted by their UTF-16 code units
//    (not by UTF-8 bytes or code points: a name with a supplementary-plane
//    character sorts before one with a code point in U+E000..U+FFFF).
//  - §3.2.1 no whitespace between tokens.
//  - Input strings must be valid UTF-8 (no overlong forms, no surrogate code
//    points, nothing above U+10FFFF): I-JSON (RFC 7493), which JCS requires.
// Duplicate names cannot occur (the input is a map).
#ifndef RP_VERIFIER_COMMON_JCS_H_
#define RP_VERIFIER_COMMON_JCS_H_

#include <cstddef>
#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace rp {

// The canonical form of `object`. INVALID_ARGUMENT when a name or value is
// not valid UTF-8, or when the result would exceed `max_bytes` (checked as
// it is built, so the work is bounded by max_bytes plus one member).
absl::StatusOr<std::string> JcsCanonicalizeStringObject(
    const std::map<std::string, std::string>& object, size_t max_bytes);

// True when `s` is valid UTF-8 in the sense above.
bool IsValidUtf8(std::string_view s);

// The pieces, shared with the full canonicaliser (policy/canonical_json.h).
// JcsSortKey: the UTF-16 code units of a valid UTF-8 string (§3.2.3 sort
// key). AppendJcsString: `s` (valid UTF-8) as a §3.2.2.2 string literal.
std::u16string JcsSortKey(std::string_view s);
void AppendJcsString(std::string_view s, std::string* out);

}  // namespace rp

#endif  // RP_VERIFIER_COMMON_JCS_H_
