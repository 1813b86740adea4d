// Hex and base64 codecs for untrusted text. Decoders reject malformed input.
#ifndef RP_VERIFIER_COMMON_ENCODING_H_
#define RP_VERIFIER_COMMON_ENCODING_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace rp {

using Bytes = std::vector<uint8_t>;

std::string HexEncode(std::span<const uint8_t> data);
// Accepts upper or lower case; rejects odd length and non-hex characters.
absl::StatusOr<Bytes> HexDecode(std::string_view hex);
// True when every character is a hex digit (either case); any length.
bool IsHexString(std::string_view s);

// Standard alphabet with padding.
std::string Base64Encode(std::span<const uint8_t> data);
// Accepts standard or URL-safe alphabet, with or without padding; ASCII
// whitespace (line breaks in PEM-like text) is ignored.
absl::StatusOr<Bytes> Base64Decode(std::string_view text);
// RFC 4648 §5 without padding (JOSE).
std::string Base64UrlEncode(std::span<const uint8_t> data);

inline std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};  // NOLINT: char→byte view
}
inline std::string ToString(std::span<const uint8_t> b) {
  return std::string(b.begin(), b.end());
}

}  // namespace rp

#endif  // RP_VERIFIER_COMMON_ENCODING_H_
