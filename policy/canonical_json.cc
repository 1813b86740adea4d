#include "policy/canonical_json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "verifier/common/jcs.h"

namespace rp::policy {
namespace {

constexpr int kMaxDepth = 64;

// UTF-16 code units of valid UTF-8 (checked by the caller): the sort key of
// RFC 8785 §3.2.3.
std::u16string Utf16Units(std::string_view s) {
  std::u16string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    uint32_t cp = 0;
    size_t len = 1;
    if (b < 0x80) {
      cp = b;
    } else if ((b >> 5) == 0x6) {
      cp = b & 0x1f;
      len = 2;
    } else if ((b >> 4) == 0xe) {
      cp = b & 0x0f;
      len = 3;
    } else {
      cp = b & 0x07;
      len = 4;
    }
    for (size_t k = 1; k < len && i + k < s.size(); ++k) {
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
    }
    i += len;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out.push_back(static_cast<char16_t>(0xd800 + (cp >> 10)));
      out.push_back(static_cast<char16_t>(0xdc00 + (cp & 0x3ff)));
    } else {
      out.push_back(static_cast<char16_t>(cp));
    }
  }
  return out;
}

absl::Status AppendString(std::string_view s, std::string* out) {
  if (!IsValidUtf8(s)) return absl::InvalidArgumentError("canonical json: string is not UTF-8");
  out->push_back('"');
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
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
      case 0x0a:
        out->append("\\n");
        break;
      case 0x0c:
        out->append("\\f");
        break;
      case 0x0d:
        out->append("\\r");
        break;
      default:
        if (c < 0x20) {
          static const char kHex[] = "0123456789abcdef";
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xf]);
        } else {
          out->push_back(ch);
        }
    }
  }
  out->push_back('"');
  return absl::OkStatus();
}

// ECMAScript Number::toString (ES2015 7.1.12.1) for a finite double.
void AppendDouble(double d, std::string* out) {
  if (d == 0) {  // +0 and -0 are both "0"
    out->push_back('0');
    return;
  }
  if (d < 0) {
    out->push_back('-');
    d = -d;
  }
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  const std::string_view sci(buf, static_cast<size_t>(r.ptr - buf));  // d[.ddd]e±XX
  const size_t e = sci.find('e');
  std::string digits;
  for (const char c : sci.substr(0, e)) {
    if (c != '.') digits.push_back(c);
  }
  int exp10 = 0;
  std::from_chars(sci.data() + e + 1 + (sci[e + 1] == '+' ? 1 : 0), sci.data() + sci.size(),
                  exp10);
  const int k = static_cast<int>(digits.size());
  const int n = exp10 + 1;
  if (k <= n && n <= 21) {
    out->append(digits);
    out->append(static_cast<size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out->append(digits, 0, static_cast<size_t>(n));
    out->push_back('.');
    out->append(digits, static_cast<size_t>(n));
  } else if (-6 < n && n <= 0) {
    out->append("0.");
    out->append(static_cast<size_t>(-n), '0');
    out->append(digits);
  } else {
    out->push_back(digits[0]);
    if (k > 1) {
      out->push_back('.');
      out->append(digits, 1);
    }
    out->push_back('e');
    out->push_back(n - 1 < 0 ? '-' : '+');
    out->append(std::to_string(std::abs(n - 1)));
  }
}

absl::Status Append(const nlohmann::json& v, int depth, std::string* out) {
  if (depth > kMaxDepth) return absl::InvalidArgumentError("canonical json: nested too deeply");
  switch (v.type()) {
    case nlohmann::json::value_t::null:
      out->append("null");
      return absl::OkStatus();
    case nlohmann::json::value_t::boolean:
      out->append(v.get<bool>() ? "true" : "false");
      return absl::OkStatus();
    case nlohmann::json::value_t::number_integer:
      out->append(std::to_string(v.get<int64_t>()));
      return absl::OkStatus();
    case nlohmann::json::value_t::number_unsigned:
      out->append(std::to_string(v.get<uint64_t>()));
      return absl::OkStatus();
    case nlohmann::json::value_t::number_float: {
      const double d = v.get<double>();
      if (!std::isfinite(d)) {
        return absl::InvalidArgumentError("canonical json: a number is not finite");
      }
      AppendDouble(d, out);
      return absl::OkStatus();
    }
    case nlohmann::json::value_t::string:
      return AppendString(v.get_ref<const std::string&>(), out);
    case nlohmann::json::value_t::array: {
      out->push_back('[');
      bool first = true;
      for (const auto& e : v) {
        if (!first) out->push_back(',');
        first = false;
        if (absl::Status st = Append(e, depth + 1, out); !st.ok()) return st;
      }
      out->push_back(']');
      return absl::OkStatus();
    }
    case nlohmann::json::value_t::object: {
      std::vector<std::pair<std::u16string, nlohmann::json::const_iterator>> order;
      order.reserve(v.size());
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!IsValidUtf8(it.key())) {
          return absl::InvalidArgumentError("canonical json: a member name is not UTF-8");
        }
        order.emplace_back(Utf16Units(it.key()), it);
      }
      std::sort(order.begin(), order.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      out->push_back('{');
      bool first = true;
      for (const auto& [key, it] : order) {
        if (!first) out->push_back(',');
        first = false;
        if (absl::Status st = AppendString(it.key(), out); !st.ok()) return st;
        out->push_back(':');
        if (absl::Status st = Append(*it, depth + 1, out); !st.ok()) return st;
      }
      out->push_back('}');
      return absl::OkStatus();
    }
    case nlohmann::json::value_t::binary:
    case nlohmann::json::value_t::discarded:
      break;
  }
  return absl::InvalidArgumentError("canonical json: not a JSON value");
}

}  // namespace

absl::StatusOr<std::string> CanonicalJson(const nlohmann::json& value) {
  std::string out;
  if (absl::Status st = Append(value, 0, &out); !st.ok()) return st;
  return out;
}

}  // namespace rp::policy
