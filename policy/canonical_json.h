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
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace rp::policy {

// The canonical form of `value`. INVALID_ARGUMENT for invalid UTF-8, a
// non-finite number, a binary value, or nesting deeper than 64.
absl::StatusOr<std::string> CanonicalJson(const nlohmann::json& value);

// One JSON object written canonically from members added in any order,
// without building (or copying values into) a nlohmann::json tree first:
// Finish() returns exactly what CanonicalJson would write for the object
// those members make, nested at `depth` (0 = the document itself; the depth
// limit counts as in CanonicalJson). A later member of the same name
// replaces an earlier one, as assignment into a nlohmann::json object does.
// The first error (invalid UTF-8, a non-finite number, too deep) sticks
// and Finish() returns it. For hot paths (the Attest result): a member's
// value is serialized when added, never copied as a tree.
class CanonicalObjectWriter {
 public:
  explicit CanonicalObjectWriter(int depth = 0) : depth_(depth) {}

  // The depth at which a member's value sits (for nested writers).
  int member_depth() const { return depth_ + 1; }

  void String(std::string_view name, std::string_view value);
  void Bool(std::string_view name, bool value);
  void Int(std::string_view name, int64_t value);
  void Json(std::string_view name, const nlohmann::json& value);
  // A value already in canonical form (a nested writer's or
  // CanonicalArray's result); an error status is taken as the writer's.
  void Canonical(std::string_view name, absl::StatusOr<std::string> text);

  absl::StatusOr<std::string> Finish();

 private:
  void Add(std::string_view name, std::string text);

  int depth_;
  absl::Status status_;
  std::vector<std::pair<std::string, std::string>> members_;  // name, canonical value
};

// "[" + the elements (each already canonical) joined by "," + "]"; the
// first error among them is returned instead.
absl::StatusOr<std::string> CanonicalArray(std::vector<absl::StatusOr<std::string>> elements);

// A string value in canonical form (INVALID_ARGUMENT if not UTF-8).
absl::StatusOr<std::string> CanonicalString(std::string_view s);

}  // namespace rp::policy

#endif  // RP_POLICY_CANONICAL_JSON_H_
