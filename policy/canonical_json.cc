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

// A string literal (RFC 8785 §3.2.2.2, verifier/common/jcs.h); the string
// must be valid UTF-8.
absl::Status AppendString(std::string_view s, std::string* out) {
  if (!IsValidUtf8(s)) return absl::InvalidArgumentError("canonical json: string is not UTF-8");
  AppendJcsString(s, out);
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
      // nlohmann::json keeps members sorted by their UTF-8 bytes, which is
      // code point order. JCS sorts by UTF-16 code units, which differs from
      // it only for characters beyond U+FFFF (surrogate pairs, lead byte
      // 0xF0..0xF4): without such a name the stored order is the JCS order
      // and needs no sort keys (most objects, and every one of ours).
      bool supplementary = false;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!IsValidUtf8(it.key())) {
          return absl::InvalidArgumentError("canonical json: a member name is not UTF-8");
        }
        for (const char ch : it.key()) {
          if (static_cast<unsigned char>(ch) >= 0xF0) supplementary = true;
        }
      }
      std::vector<std::pair<std::u16string, nlohmann::json::const_iterator>> order;
      order.reserve(v.size());
      for (auto it = v.begin(); it != v.end(); ++it) {
        order.emplace_back(supplementary ? JcsSortKey(it.key()) : std::u16string(), it);
      }
      if (supplementary) {
        std::sort(order.begin(), order.end(),
                  [](const auto& a, const auto& b) { return a.first < b.first; });
      }
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

absl::StatusOr<std::string> CanonicalString(std::string_view s) {
  std::string out;
  if (absl::Status st = AppendString(s, &out); !st.ok()) return st;
  return out;
}

absl::StatusOr<std::string> CanonicalArray(std::vector<absl::StatusOr<std::string>> elements) {
  size_t size = 2;
  for (const auto& e : elements) {
    if (!e.ok()) return e.status();
    size += e->size() + 1;
  }
  std::string out;
  out.reserve(size);
  out.push_back('[');
  for (size_t i = 0; i < elements.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.append(*elements[i]);
  }
  out.push_back(']');
  return out;
}

void CanonicalObjectWriter::Add(std::string_view name, std::string text) {
  if (!status_.ok()) return;
  if (!IsValidUtf8(name)) {
    status_ = absl::InvalidArgumentError("canonical json: a member name is not UTF-8");
    return;
  }
  members_.emplace_back(std::string(name), std::move(text));
}

void CanonicalObjectWriter::String(std::string_view name, std::string_view value) {
  Canonical(name, CanonicalString(value));
}

void CanonicalObjectWriter::Bool(std::string_view name, bool value) {
  Add(name, value ? "true" : "false");
}

void CanonicalObjectWriter::Int(std::string_view name, int64_t value) {
  Add(name, std::to_string(value));
}

void CanonicalObjectWriter::Json(std::string_view name, const nlohmann::json& value) {
  if (!status_.ok()) return;
  std::string text;
  if (absl::Status st = Append(value, member_depth(), &text); !st.ok()) {
    status_ = st;
    return;
  }
  Add(name, std::move(text));
}

void CanonicalObjectWriter::Canonical(std::string_view name, absl::StatusOr<std::string> text) {
  if (!status_.ok()) return;
  if (!text.ok()) {
    status_ = text.status();
    return;
  }
  Add(name, *std::move(text));
}

absl::StatusOr<std::string> CanonicalObjectWriter::Finish() {
  if (depth_ > kMaxDepth) return absl::InvalidArgumentError("canonical json: nested too deeply");
  if (!status_.ok()) return status_;
  // The member order CanonicalJson writes: by UTF-16 code units (RFC 8785
  // §3.2.3), which is byte order unless a name has a character beyond
  // U+FFFF. Stable, so that of equal names the last added is last.
  bool supplementary = false;
  for (const auto& m : members_) {
    for (const char ch : m.first) {
      if (static_cast<unsigned char>(ch) >= 0xF0) supplementary = true;
    }
  }
  std::vector<size_t> order(members_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  if (supplementary) {
    std::vector<std::u16string> keys;
    keys.reserve(members_.size());
    for (const auto& m : members_) keys.push_back(JcsSortKey(m.first));
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return keys[a] < keys[b]; });
  } else {
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return members_[a].first < members_[b].first; });
  }
  std::string out;
  size_t size = 2;
  for (const auto& m : members_) size += m.first.size() + m.second.size() + 4;
  out.reserve(size);
  out.push_back('{');
  bool first = true;
  for (size_t k = 0; k < order.size(); ++k) {
    const auto& [name, text] = members_[order[k]];
    // Of equal names only the last added is written.
    if (k + 1 < order.size() && members_[order[k + 1]].first == name) continue;
    if (!first) out.push_back(',');
    first = false;
    AppendJcsString(name, &out);
    out.push_back(':');
    out.append(text);
  }
  out.push_back('}');
  return out;
}

}  // namespace rp::policy
