// One strict JSON object parser for untrusted JOSE headers and payloads
// (tokens, JWEs): duplicate member names at any level are refused (two
// parsers must never read one document differently: "last wins" is not a
// rule) and nesting is bounded.
#ifndef RP_VERIFIER_COMMON_STRICT_JSON_H_
#define RP_VERIFIER_COMMON_STRICT_JSON_H_

#include <cstdint>
#include <span>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace rp {

// The object in `bytes`. INVALID_ARGUMENT "<name> is not valid JSON",
// "<name>: duplicate member \"m\"", "<name>: nested deeper than N" or
// "<name> is not a JSON object".
absl::StatusOr<nlohmann::json> ParseStrictJsonObject(std::span<const uint8_t> bytes,
                                                     absl::string_view name, int max_depth);

}  // namespace rp

#endif  // RP_VERIFIER_COMMON_STRICT_JSON_H_
