#include "policy/release_rules.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace rp::policy {
namespace {

using attestation::v1::Condition;
using attestation::v1::ReleaseRule;

// Deeper paths than this are refused at validation; keeps the longest-name
// lookup in ResolveClaimPath at most kMaxPathSegments^2 map lookups.
constexpr size_t kMaxPathSegments = 32;
constexpr size_t kMaxRuleNameLength = 128;
constexpr size_t kMaxVersionComponents = 8;
constexpr size_t kMaxVersionComponentDigits = 16;
constexpr size_t kMaxShownText = 120;

constexpr char kOps[] = "eq | ne | in | ge | le | matches | exists";

// libstdc++'s default regex executor backtracks: a pattern such as (a+)+b
// takes exponential time in the length of the text, and claim texts come
// from the attester. __polynomial (a libstdc++ extension) selects its
// breadth-first executor instead: time linear in the text (times the
// pattern's state count). It cannot run back-references, so validation
// refuses them.
#if defined(__GLIBCXX__)
constexpr std::regex::flag_type kRegexFlags =
    std::regex::ECMAScript | std::regex_constants::__polynomial;
#else
#error "release rules need libstdc++'s polynomial regex executor (see above)"
#endif

// True if `re` has a back-reference (\1..\9) outside a bracket expression.
bool HasBackReference(const std::string& re) {
  bool in_class = false;
  for (size_t i = 0; i < re.size(); ++i) {
    const char c = re[i];
    if (c == '\\') {
      if (i + 1 < re.size() && !in_class && re[i + 1] >= '1' && re[i + 1] <= '9') return true;
      ++i;  // the escaped character
    } else if (c == '[') {
      in_class = true;
    } else if (c == ']') {
      in_class = false;
    }
  }
  return false;
}

absl::Status Invalid(const std::string& origin, const std::string& path, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(origin, ": ", path, ": ", what));
}

bool IsKnownOp(const std::string& op) {
  return op == "eq" || op == "ne" || op == "in" || op == "ge" || op == "le" || op == "matches" ||
         op == "exists";
}

bool IsNameChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == ':' || c == '/' || c == '@' || c == '-';
}

bool IsSegmentChar(char c) { return c != '.' && IsNameChar(c); }

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Splits on '.', keeping empty parts. (Debian's Abseil has its own
// string_view, so absl::StrSplit does not take std::string_view.)
std::vector<std::string_view> SplitDots(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    const size_t dot = s.find('.', start);
    if (dot == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, dot - start));
    start = dot + 1;
  }
}

bool IsHexDigit(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// "-12", "550": optional minus, 1..18 digits (exact as long double).
bool IsDecimalInteger(std::string_view s) {
  if (!s.empty() && s.front() == '-') s.remove_prefix(1);
  if (s.empty() || s.size() > 18) return false;
  for (char c : s) {
    if (!IsDigit(c)) return false;
  }
  return true;
}

// A JSON-style decimal number: -?digits(.digits)?([eE][+-]?digits)?
std::optional<long double> ParseDecimalNumber(std::string_view s) {
  static const std::regex kNumber("-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]{1,4})?");
  if (s.empty() || s.size() > 64 || !std::regex_match(s.begin(), s.end(), kNumber)) {
    return std::nullopt;
  }
  const std::string copy(s);
  char* end = nullptr;
  const long double v = std::strtold(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size()) return std::nullopt;
  return v;
}

// Dotted version: 1..8 components of 1..16 hex digits. Digit-only components
// order the same read as decimal or hex, so reading every component as hex
// serves driver versions ("550.90.07") and VBIOS versions ("96.00.9F.00.01").
std::optional<std::vector<uint64_t>> ParseVersion(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::vector<uint64_t> out;
  for (std::string_view part : SplitDots(s)) {
    if (part.empty() || part.size() > kMaxVersionComponentDigits ||
        out.size() == kMaxVersionComponents) {
      return std::nullopt;
    }
    for (char c : part) {
      if (!IsHexDigit(c)) return std::nullopt;
    }
    uint64_t v = 0;
    auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), v, 16);
    if (ec != std::errc() || ptr != part.data() + part.size()) return std::nullopt;
    out.push_back(v);
  }
  return out;
}

int CompareVersions(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const uint64_t x = i < a.size() ? a[i] : 0;
    const uint64_t y = i < b.size() ? b[i] : 0;
    if (x != y) return x < y ? -1 : 1;
  }
  return 0;
}

template <typename T>
int Sign(T a, T b) {
  return a < b ? -1 : (b < a ? 1 : 0);
}

bool IsScalar(const nlohmann::json& j) {
  return j.is_string() || j.is_number() || j.is_boolean();
}

// Text form used by eq / ne / in / matches (documented in the header).
std::string TextOf(const nlohmann::json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_boolean()) return j.get<bool>() ? "true" : "false";
  if (j.is_number_unsigned()) return std::to_string(j.get<uint64_t>());
  if (j.is_number_integer()) return std::to_string(j.get<int64_t>());
  return j.dump();  // float: shortest round-trip form, e.g. "2.0", "0.5"
}

std::string Shown(const std::string& s) {
  if (s.size() <= kMaxShownText) return s;
  return absl::StrCat(s.substr(0, kMaxShownText), "...(", s.size(), " bytes)");
}

// Result of ordering a claim against a value: -1 / 0 / 1, or an explanation.
struct Ordering {
  std::optional<int> cmp;
  std::string why_not;
};

Ordering OrderClaim(const nlohmann::json& claim, const std::string& value) {
  if (claim.is_number()) {
    std::optional<long double> v = ParseDecimalNumber(value);
    if (!v.has_value()) {
      return {std::nullopt, absl::StrCat("is a number but '", Shown(value), "' is not")};
    }
    // long double holds every int64 / uint64 exactly on the supported
    // (x86-64, aarch64) targets.
    long double c = 0;
    if (claim.is_number_unsigned()) {
      c = static_cast<long double>(claim.get<uint64_t>());
    } else if (claim.is_number_integer()) {
      c = static_cast<long double>(claim.get<int64_t>());
    } else {
      c = static_cast<long double>(claim.get<double>());
    }
    return {Sign(c, *v), ""};
  }
  if (!claim.is_string()) {
    return {std::nullopt, absl::StrCat("is a ", claim.type_name(), ", not a number or version")};
  }
  const std::string text = claim.get<std::string>();
  if (IsDecimalInteger(text) && IsDecimalInteger(value)) {
    return {Sign(*ParseDecimalNumber(text), *ParseDecimalNumber(value)), ""};
  }
  auto a = ParseVersion(text);
  auto b = ParseVersion(value);
  if (a.has_value() && b.has_value()) return {CompareVersions(*a, *b), ""};
  return {std::nullopt, absl::StrCat("'", Shown(text), "' and '", Shown(value),
                                     "' are not both numbers or both dotted versions")};
}

// Evaluates one condition; nullopt when it holds, else the failure text.
std::optional<std::string> CheckCondition(const Condition& c, const nlohmann::json& claims) {
  const nlohmann::json* found = ResolveClaimPath(claims, c.claim());
  const bool present = found != nullptr && !found->is_null();
  const std::string& op = c.op();
  if (op == "exists") {
    const bool want = c.value() != "false";
    if (present == want) return std::nullopt;
    return want ? absl::StrCat(c.claim(), " is missing")
                : absl::StrCat(c.claim(), " exists (exists: false)");
  }
  if (!present) return absl::StrCat(c.claim(), " is missing");
  const nlohmann::json& claim = *found;
  if (!IsScalar(claim)) {
    return absl::StrCat(c.claim(), " is an ", claim.type_name(), ", not a scalar (op ", op, ")");
  }
  const std::string text = TextOf(claim);
  if (op == "eq") {
    if (text == c.value()) return std::nullopt;
    return absl::StrCat(c.claim(), " is '", Shown(text), "', not eq '", Shown(c.value()), "'");
  }
  if (op == "ne") {
    if (text != c.value()) return std::nullopt;
    return absl::StrCat(c.claim(), " is '", Shown(text), "' (op ne)");
  }
  if (op == "in") {
    for (const std::string& v : c.values()) {
      if (text == v) return std::nullopt;
    }
    return absl::StrCat(c.claim(), " '", Shown(text), "' is not in [",
                        absl::StrJoin(c.values(), ", "), "]");
  }
  if (op == "ge" || op == "le") {
    Ordering o = OrderClaim(claim, c.value());
    if (!o.cmp.has_value()) return absl::StrCat(c.claim(), " ", o.why_not, " (op ", op, ")");
    const bool holds = op == "ge" ? *o.cmp >= 0 : *o.cmp <= 0;
    if (holds) return std::nullopt;
    return absl::StrCat(c.claim(), " '", Shown(text), "' is not ", op, " '", Shown(c.value()), "'");
  }
  if (op == "matches") {
    if (text.size() > kMaxMatchTextBytes) {
      return absl::StrCat(c.claim(), " is longer than ", kMaxMatchTextBytes,
                          " bytes; not matched");
    }
    try {
      const std::regex re(c.value(), kRegexFlags);
      if (std::regex_match(text, re)) return std::nullopt;
    } catch (const std::regex_error& e) {
      return absl::StrCat(c.claim(), ": regex /", c.value(), "/ failed: ", e.what());
    }
    return absl::StrCat(c.claim(), " '", Shown(text), "' does not match /", c.value(), "/");
  }
  return absl::StrCat(c.claim(), ": unknown op '", op, "'");
}

absl::Status ValidateClaimPath(const std::string& origin, const std::string& at,
                               const std::string& claim) {
  if (claim.empty()) return Invalid(origin, at, "required");
  if (claim.size() > kMaxClaimPathLength) {
    return Invalid(origin, at,
                   absl::StrCat("longer than ", kMaxClaimPathLength, " characters (",
                                claim.size(), ")"));
  }
  const std::vector<std::string_view> segments = SplitDots(claim);
  if (segments.size() > kMaxPathSegments) {
    return Invalid(origin, at, absl::StrCat("more than ", kMaxPathSegments, " segments"));
  }
  for (std::string_view s : segments) {
    if (s.empty()) {
      return Invalid(origin, at, absl::StrCat("'", claim, "' has an empty segment"));
    }
    for (char ch : s) {
      if (!IsSegmentChar(ch)) {
        return Invalid(origin, at,
                       absl::StrCat("'", claim, "': segments are [A-Za-z0-9_:/@-], separated by '.'"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateCondition(const std::string& origin, const std::string& at,
                               const Condition& c) {
  if (auto st = ValidateClaimPath(origin, absl::StrCat(at, ".claim"), c.claim()); !st.ok()) {
    return st;
  }
  const std::string& op = c.op();
  if (op.empty()) return Invalid(origin, absl::StrCat(at, ".op"), absl::StrCat("required: ", kOps));
  if (!IsKnownOp(op)) {
    return Invalid(origin, absl::StrCat(at, ".op"), absl::StrCat("'", op, "' is not ", kOps));
  }
  const std::string value_at = absl::StrCat(at, ".value");
  if (c.value().size() > kMaxConditionValueLength) {
    return Invalid(origin, value_at,
                   absl::StrCat("longer than ", kMaxConditionValueLength, " characters"));
  }
  if (op == "in") {
    if (!c.value().empty()) {
      return Invalid(origin, value_at, "op in takes `values` (a list), not `value`");
    }
    if (c.values().empty()) {
      return Invalid(origin, absl::StrCat(at, ".values"), "op in needs at least one value");
    }
    if (c.values_size() > kMaxInValues) {
      return Invalid(origin, absl::StrCat(at, ".values"),
                     absl::StrCat("at most ", kMaxInValues, " values, got ", c.values_size()));
    }
    for (int k = 0; k < c.values_size(); ++k) {
      if (c.values(k).size() > kMaxConditionValueLength) {
        return Invalid(origin, absl::StrCat(at, ".values[", k, "]"),
                       absl::StrCat("longer than ", kMaxConditionValueLength, " characters"));
      }
    }
    return absl::OkStatus();
  }
  if (!c.values().empty()) {
    return Invalid(origin, absl::StrCat(at, ".values"),
                   absl::StrCat("only op in takes `values`; op ", op, " takes `value`"));
  }
  if (op == "exists") {
    if (!c.value().empty() && c.value() != "true" && c.value() != "false") {
      return Invalid(origin, value_at,
                     absl::StrCat("'", c.value(), "' is not \"true\" or \"false\""));
    }
    return absl::OkStatus();
  }
  if (c.value().empty()) {
    return Invalid(origin, value_at,
                   absl::StrCat("required for op ", op, " (use op exists for presence)"));
  }
  if (op == "ge" || op == "le") {
    if (!ParseDecimalNumber(c.value()).has_value() && !ParseVersion(c.value()).has_value()) {
      return Invalid(origin, value_at,
                     absl::StrCat("'", Shown(c.value()), "' is neither a number nor a dotted version"));
    }
  }
  if (op == "matches") {
    if (c.value().size() > kMaxRegexLength) {
      return Invalid(origin, value_at,
                     absl::StrCat("regex longer than ", kMaxRegexLength, " characters"));
    }
    if (HasBackReference(c.value())) {
      return Invalid(origin, value_at,
                     absl::StrCat("regex /", c.value(),
                                  "/: back-references are not supported (matching must stay "
                                  "linear in the claim's length)"));
    }
    try {
      const std::regex re(c.value(), kRegexFlags);
    } catch (const std::regex_error& e) {
      return Invalid(origin, value_at,
                     absl::StrCat("invalid regex /", c.value(), "/: ", e.what()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

const nlohmann::json* ResolveClaimPath(const nlohmann::json& claims, std::string_view path) {
  if (path.empty()) return nullptr;
  const std::vector<std::string_view> seg = SplitDots(path);
  if (seg.size() > kMaxPathSegments) return nullptr;
  const nlohmann::json* cur = &claims;
  size_t i = 0;
  while (i < seg.size()) {
    if (cur->is_object()) {
      // Longest run of segments that names a member ("ear.status").
      bool matched = false;
      for (size_t j = seg.size(); j > i; --j) {
        // seg[i..j) are contiguous in `path`: the key is that substring.
        const size_t from = static_cast<size_t>(seg[i].data() - path.data());
        const size_t to = static_cast<size_t>(seg[j - 1].data() - path.data()) + seg[j - 1].size();
        const std::string key(path.substr(from, to - from));
        auto it = cur->find(key);
        if (it != cur->end()) {
          cur = &*it;
          i = j;
          matched = true;
          break;
        }
      }
      if (!matched) return nullptr;
    } else if (cur->is_array()) {
      std::string_view s = seg[i];
      if (s.empty() || s.size() > 9) return nullptr;
      size_t idx = 0;
      auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), idx);
      if (ec != std::errc() || ptr != s.data() + s.size() || idx >= cur->size()) return nullptr;
      cur = &(*cur)[idx];
      ++i;
    } else {
      return nullptr;  // path continues below a scalar
    }
  }
  return cur;
}

absl::Status ValidateReleaseRules(const attestation::v1::Policy& p, const std::string& origin) {
  if (p.release_rules_size() > kMaxReleaseRules) {
    return Invalid(origin, "release_rules",
                   absl::StrCat("at most ", kMaxReleaseRules, " rules, got ",
                                p.release_rules_size()));
  }
  std::map<std::string, int> names;
  for (int i = 0; i < p.release_rules_size(); ++i) {
    const ReleaseRule& r = p.release_rules(i);
    const std::string at = absl::StrCat("release_rules[", i, "]");
    if (r.name().empty()) return Invalid(origin, at + ".name", "required");
    bool name_ok = r.name().size() <= kMaxRuleNameLength;
    for (char c : r.name()) name_ok = name_ok && IsNameChar(c);
    if (!name_ok) {
      return Invalid(origin, at + ".name",
                     absl::StrCat("'", Shown(r.name()), "' is not 1-", kMaxRuleNameLength,
                                  " of [A-Za-z0-9._:/@-]"));
    }
    if (auto [it, inserted] = names.emplace(r.name(), i); !inserted) {
      return Invalid(origin, at + ".name",
                     absl::StrCat("duplicate '", r.name(), "' (also release_rules[", it->second,
                                  "])"));
    }
    const int count = r.all_of_size() + r.any_of_size();
    if (count == 0) {
      return Invalid(origin, at,
                     "needs at least one all_of or any_of condition (an empty rule would allow "
                     "everything)");
    }
    if (count > kMaxConditionsPerRule) {
      return Invalid(origin, at,
                     absl::StrCat("at most ", kMaxConditionsPerRule,
                                  " conditions (all_of + any_of), got ", count));
    }
    for (int j = 0; j < r.all_of_size(); ++j) {
      if (auto st = ValidateCondition(origin, absl::StrCat(at, ".all_of[", j, "]"), r.all_of(j));
          !st.ok()) {
        return st;
      }
    }
    for (int j = 0; j < r.any_of_size(); ++j) {
      if (auto st = ValidateCondition(origin, absl::StrCat(at, ".any_of[", j, "]"), r.any_of(j));
          !st.ok()) {
        return st;
      }
    }
  }
  return absl::OkStatus();
}

RuleResult EvaluateReleaseRule(const ReleaseRule& rule, const nlohmann::json& claims) {
  RuleResult out;
  out.name = rule.name();
  for (int j = 0; j < rule.all_of_size(); ++j) {
    if (auto why = CheckCondition(rule.all_of(j), claims); why.has_value()) {
      out.failed.push_back(absl::StrCat("all_of[", j, "]: ", *why));
    }
  }
  if (rule.any_of_size() > 0) {
    std::vector<std::string> any_failed;
    bool any_holds = false;
    for (int j = 0; j < rule.any_of_size() && !any_holds; ++j) {
      if (auto why = CheckCondition(rule.any_of(j), claims); why.has_value()) {
        any_failed.push_back(absl::StrCat("any_of[", j, "]: ", *why));
      } else {
        any_holds = true;
      }
    }
    if (!any_holds) {
      for (auto& f : any_failed) out.failed.push_back(std::move(f));
    }
  }
  // Fail closed: a rule with no conditions (refused at validation) denies.
  const bool has_conditions = rule.all_of_size() + rule.any_of_size() > 0;
  if (!has_conditions) out.failed.push_back("rule has no conditions");
  out.allowed = out.failed.empty();
  return out;
}

std::vector<RuleResult> EvaluateReleaseRules(const attestation::v1::Policy& p,
                                             const nlohmann::json& claims) {
  std::vector<RuleResult> out;
  out.reserve(static_cast<size_t>(p.release_rules_size()));
  for (const ReleaseRule& r : p.release_rules()) out.push_back(EvaluatePinnedReleaseRule(p, r, claims));
  return out;
}

RuleResult EvaluatePinnedReleaseRule(const attestation::v1::Policy& p, const ReleaseRule& rule,
                                     const nlohmann::json& claims) {
  RuleResult out = EvaluateReleaseRule(rule, claims);
  const nlohmann::json* id = ResolveClaimPath(claims, "policy.id");
  if (id == nullptr || !id->is_string() || id->get<std::string>() != p.id()) {
    const std::string have =
        id == nullptr ? "(missing)" : absl::StrCat("'", id->dump().substr(0, 66), "'");
    out.failed.insert(out.failed.begin(),
                      absl::StrCat("policy pin: policy.id ", have, " is not '", p.id(),
                                   "' (a release rule trusts only results appraised under its "
                                   "own policy)"));
    out.allowed = false;
  }
  return out;
}

const ReleaseRule* FindReleaseRule(const attestation::v1::Policy& p, std::string_view name) {
  for (const ReleaseRule& r : p.release_rules()) {
    if (r.name() == name) return &r;
  }
  return nullptr;
}

}  // namespace rp::policy
