#include "verifier/common/jcs.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace rp {
namespace {

// Decodes one UTF-8 sequence at s[*i]; advances *i. False on any
// malformed, overlong, surrogate or out-of-range sequence.
bool NextCodePoint(std::string_view s, size_t* i, uint32_t* cp) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t b0 = byte(*i);
  size_t len = 0;
  uint32_t v = 0;
  uint32_t min = 0;
  if (b0 < 0x80) {
    *cp = b0;
    *i += 1;
    return true;
  }
  if ((b0 & 0xE0) == 0xC0) {
    len = 2;
    v = b0 & 0x1F;
    min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3;
    v = b0 & 0x0F;
    min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4;
    v = b0 & 0x07;
    min = 0x10000;
  } else {
    return false;
  }
  if (s.size() - *i < len) return false;
  for (size_t k = 1; k < len; ++k) {
    const uint8_t b = byte(*i + k);
    if ((b & 0xC0) != 0x80) return false;
    v = (v << 6) | (b & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return false;
  *cp = v;
  *i += len;
  return true;
}

}  // namespace

std::u16string JcsSortKey(std::string_view s) {
  std::u16string out;
  out.reserve(s.size());
  size_t i = 0;
  uint32_t cp = 0;
  while (i < s.size() && NextCodePoint(s, &i, &cp)) {
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out.push_back(static_cast<char16_t>(0xD800 + (cp >> 10)));
      out.push_back(static_cast<char16_t>(0xDC00 + (cp & 0x3FF)));
    } else {
      out.push_back(static_cast<char16_t>(cp));
    }
  }
  return out;
}

void AppendJcsString(std::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->reserve(out->size() + s.size() + 2);
  out->push_back('"');
  // Runs of bytes that pass through unescaped (UTF-8 included) are appended
  // whole; only '"', '\\' and control characters are rewritten.
  size_t run = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<uint8_t>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case 0x08:
        out->append("\\b");
        break;
      case 0x09:
        out->append("\\t");
        break;
      case 0x0A:
        out->append("\\n");
        break;
      case 0x0C:
        out->append("\\f");
        break;
      case 0x0D:
        out->append("\\r");
        break;
      default:
        out->append("\\u00");
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 0x0F]);
    }
  }
  out->append(s.data() + run, s.size() - run);
  out->push_back('"');
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  uint32_t cp = 0;
  while (i < s.size()) {
    // ASCII (almost every claim) eight bytes at a time; anything else one
    // code point at a time, checked in full.
    constexpr uint64_t kHighBits = 0x8080808080808080ULL;
    uint64_t word = 0;
    while (s.size() - i >= sizeof(word)) {
      std::memcpy(&word, s.data() + i, sizeof(word));
      if ((word & kHighBits) != 0) break;
      i += sizeof(word);
    }
    if (i == s.size()) break;
    if (static_cast<uint8_t>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    if (!NextCodePoint(s, &i, &cp)) return false;
  }
  return true;
}

absl::StatusOr<std::string> JcsCanonicalizeStringObject(
    const std::map<std::string, std::string>& object, size_t max_bytes) {
  std::vector<std::pair<std::u16string, const std::pair<const std::string, std::string>*>> order;
  order.reserve(object.size());
  for (const auto& member : object) {
    if (!IsValidUtf8(member.first)) {
      return absl::InvalidArgumentError("jcs: a member name is not valid UTF-8");
    }
    if (!IsValidUtf8(member.second)) {
      return absl::InvalidArgumentError(
          absl::StrCat("jcs: the value of member '", member.first.substr(0, 64),
                       "' is not valid UTF-8"));
    }
    order.emplace_back(JcsSortKey(member.first), &member);
  }
  std::sort(order.begin(), order.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string out = "{";
  bool first = true;
  for (const auto& [key, member] : order) {
    if (!first) out.push_back(',');
    first = false;
    AppendJcsString(member->first, &out);
    out.push_back(':');
    AppendJcsString(member->second, &out);
    if (out.size() + 1 > max_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("jcs: canonical form exceeds ", max_bytes, " bytes"));
    }
  }
  out.push_back('}');
  if (out.size() > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("jcs: canonical form exceeds ", max_bytes, " bytes"));
  }
  return out;
}

}  // namespace rp
