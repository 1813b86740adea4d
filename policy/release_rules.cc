#include "policy/release_rules.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <regex>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace rp::policy {
namespace {

using attestation::v1::Condition;
using attestation::v1::ReleaseRule;

// Deeper pointers than this are refused at validation (and never resolve).
constexpr size_t kMaxPathSegments = 32;
// Device failures spelled out in one `every` failure line; the rest counted.
constexpr size_t kMaxShownDeviceFailures = 8;
constexpr size_t kMaxRuleNameLength = 128;
constexpr size_t kMaxVersionComponents = 8;
constexpr size_t kMaxVersionComponentDigits = 16;
constexpr size_t kMaxShownText = 120;

constexpr char kOps[] = "eq | ne | in | ge | le | matches | exists";
constexpr char kCountOps[] = "eq | ne | in | ge | le";

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

// ---- JSON Pointers (RFC 6901) ----

// Parses `p` into its unescaped reference tokens, or says what is wrong
// (offsets are 0-based byte offsets into `p`). Stricter than RFC 6901 in
// two ways that only refuse typos: an empty reference token ("//", a
// trailing '/') and characters outside printable ASCII are errors.
absl::StatusOr<std::vector<std::string>> ParsePointer(std::string_view p) {
  if (p.empty() || p.front() != '/') {
    return absl::InvalidArgumentError("a JSON Pointer starts with '/'");
  }
  if (p.size() > kMaxClaimPathLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("longer than ", kMaxClaimPathLength, " characters (", p.size(), ")"));
  }
  std::vector<std::string> tokens;
  std::string cur;
  for (size_t i = 1; i <= p.size(); ++i) {
    if (i == p.size() || p[i] == '/') {
      if (cur.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "empty reference token at offset ", i, " ('//' or a trailing '/')"));
      }
      if (tokens.size() == kMaxPathSegments) {
        return absl::InvalidArgumentError(
            absl::StrCat("more than ", kMaxPathSegments, " reference tokens"));
      }
      tokens.push_back(std::move(cur));
      cur.clear();
      continue;
    }
    const char c = p[i];
    if (c < 0x21 || c > 0x7e) {
      return absl::InvalidArgumentError(
          absl::StrFormat("character 0x%02x at offset %d is not printable ASCII",
                          static_cast<unsigned int>(static_cast<unsigned char>(c)), i));
    }
    if (c == '~') {
      if (i + 1 >= p.size() || (p[i + 1] != '0' && p[i + 1] != '1')) {
        const std::string got = i + 1 < p.size() ? std::string(p.substr(i, 2)) : "~";
        return absl::InvalidArgumentError(
            absl::StrCat("bad escape '", got, "' at offset ", i,
                         " (RFC 6901: ~0 is '~', ~1 is '/')"));
      }
      cur.push_back(p[i + 1] == '0' ? '~' : '/');
      ++i;
      continue;
    }
    cur.push_back(c);
  }
  return tokens;
}

// A member name as a reference token: '~' -> "~0", '/' -> "~1".
std::string EscapeToken(std::string_view t) {
  std::string out;
  out.reserve(t.size());
  for (char c : t) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// The pointer a dotted path of earlier versions meant, for the validation
// error only (never applied): "ear.<x>" is the token's only family of
// member names with a dot.
std::string DottedToPointer(std::string_view dotted) {
  const std::vector<std::string_view> seg = SplitDots(dotted);
  std::string out;
  for (size_t i = 0; i < seg.size(); ++i) {
    if (seg[i] == "ear" && i + 1 < seg.size()) {
      absl::StrAppend(&out, "/", EscapeToken(absl::StrCat("ear.", std::string(seg[i + 1]))));
      ++i;
    } else {
      absl::StrAppend(&out, "/", EscapeToken(seg[i]));
    }
  }
  return out;
}

// ---- Device quantifiers ----

bool IsGlobChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || IsDigit(c) || c == '.' || c == '_' ||
         c == '-' || c == '*' || c == '?';
}

// Name order with digit runs compared as numbers: gpu2 before gpu10 (so the
// devices a failure line shows, and the order budgets are spent in, follow
// the device numbering).
bool NaturalLess(std::string_view a, std::string_view b) {
  size_t i = 0;
  size_t j = 0;
  while (i < a.size() && j < b.size()) {
    if (IsDigit(a[i]) && IsDigit(b[j])) {
      size_t ie = i;
      size_t je = j;
      while (ie < a.size() && IsDigit(a[ie])) ++ie;
      while (je < b.size() && IsDigit(b[je])) ++je;
      size_t is = i;
      size_t js = j;
      while (is + 1 < ie && a[is] == '0') ++is;  // leading zeros
      while (js + 1 < je && b[js] == '0') ++js;
      const std::string_view da = a.substr(is, ie - is);
      const std::string_view db = b.substr(js, je - js);
      if (da.size() != db.size()) return da.size() < db.size();
      if (da != db) return da < db;
      i = ie;
      j = je;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  if ((a.size() - i) != (b.size() - j)) return (a.size() - i) < (b.size() - j);
  return a < b;  // e.g. "gpu01" vs "gpu1": any fixed order
}

// The submods whose names match a glob, in natural name order.
struct Selection {
  std::vector<std::pair<std::string, const nlohmann::json*>> devices;
  std::string error;  // non-empty: the quantifier cannot be evaluated (it fails)
};

Selection SelectSubmods(const nlohmann::json& claims, const std::string& glob) {
  Selection out;
  const nlohmann::json* submods = nullptr;
  if (claims.is_object()) {
    auto it = claims.find("submods");
    if (it != claims.end()) submods = &*it;
  }
  if (submods == nullptr || submods->is_null()) {
    out.error = "/submods is missing";
  } else if (!submods->is_object()) {
    out.error = absl::StrCat("/submods is not an object (", submods->type_name(), ")");
  } else if (submods->size() > kMaxQuantifiedSubmods) {
    out.error = absl::StrCat("/submods has ", submods->size(), " members, more than ",
                             kMaxQuantifiedSubmods, "; not evaluated");
  } else {
    for (auto it = submods->begin(); it != submods->end(); ++it) {
      if (SubmodGlobMatches(glob, it.key())) out.devices.emplace_back(it.key(), &it.value());
    }
    std::stable_sort(out.devices.begin(), out.devices.end(),
                     [](const auto& a, const auto& b) { return NaturalLess(a.first, b.first); });
  }
  return out;
}

// "0".."64" without sign or leading zeros.
bool IsSubmodCount(std::string_view s) {
  if (s.empty() || s.size() > 2 || (s.size() == 2 && s[0] == '0')) return false;
  for (char c : s) {
    if (!IsDigit(c)) return false;
  }
  size_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v <= kMaxQuantifiedSubmods;
}

bool IsCountOp(const std::string& op) {
  return op == "eq" || op == "ne" || op == "in" || op == "ge" || op == "le";
}

// ---- Evaluation ----

// Work shared by the conditions of one rule evaluation.
struct EvalBudget {
  size_t match_bytes_left = kMaxMatchBytesPerRule;
};

// A condition's regex, compiled once per evaluation of the condition (an
// `every` applies it to each device).
struct Matcher {
  std::optional<std::regex> re;
  std::string error;
};

Matcher CompileMatcher(const std::string& pattern) {
  Matcher m;
  try {
    m.re.emplace(pattern, kRegexFlags);
  } catch (const std::regex_error& e) {
    m.error = e.what();
  }
  return m;
}

// Applies c's op (and value / values) to `found`, the claim shown as `shown`
// in messages (nullptr when missing). nullopt when it holds, else the
// failure text.
std::optional<std::string> CheckValue(const Condition& c, const nlohmann::json* found,
                                      const std::string& shown, const Matcher& matcher,
                                      EvalBudget& budget) {
  const bool present = found != nullptr && !found->is_null();
  const std::string& op = c.op();
  if (op == "exists") {
    const bool want = c.value() != "false";
    if (present == want) return std::nullopt;
    return want ? absl::StrCat(shown, " is missing")
                : absl::StrCat(shown, " exists (exists: false)");
  }
  if (!present) return absl::StrCat(shown, " is missing");
  const nlohmann::json& claim = *found;
  if (!IsScalar(claim)) {
    return absl::StrCat(shown, " is an ", claim.type_name(), ", not a scalar (op ", op, ")");
  }
  const std::string text = TextOf(claim);
  if (op == "eq") {
    if (text == c.value()) return std::nullopt;
    return absl::StrCat(shown, " is '", Shown(text), "', not eq '", Shown(c.value()), "'");
  }
  if (op == "ne") {
    if (text != c.value()) return std::nullopt;
    return absl::StrCat(shown, " is '", Shown(text), "' (op ne)");
  }
  if (op == "in") {
    for (const std::string& v : c.values()) {
      if (text == v) return std::nullopt;
    }
    return absl::StrCat(shown, " '", Shown(text), "' is not in [",
                        absl::StrJoin(c.values(), ", "), "]");
  }
  if (op == "ge" || op == "le") {
    Ordering o = OrderClaim(claim, c.value());
    if (!o.cmp.has_value()) return absl::StrCat(shown, " ", o.why_not, " (op ", op, ")");
    const bool holds = op == "ge" ? *o.cmp >= 0 : *o.cmp <= 0;
    if (holds) return std::nullopt;
    return absl::StrCat(shown, " '", Shown(text), "' is not ", op, " '", Shown(c.value()), "'");
  }
  if (op == "matches") {
    if (text.size() > kMaxMatchTextBytes) {
      return absl::StrCat(shown, " is longer than ", kMaxMatchTextBytes, " bytes; not matched");
    }
    if (text.size() > budget.match_bytes_left) {
      return absl::StrCat(shown, ": the rule's budget of ", kMaxMatchBytesPerRule,
                          " claim bytes for regexes is spent; not matched");
    }
    budget.match_bytes_left -= text.size();
    if (!matcher.re.has_value()) {
      return absl::StrCat(shown, ": regex /", c.value(), "/ failed: ", matcher.error);
    }
    try {
      if (std::regex_match(text, *matcher.re)) return std::nullopt;
    } catch (const std::regex_error& e) {
      return absl::StrCat(shown, ": regex /", c.value(), "/ failed: ", e.what());
    }
    return absl::StrCat(shown, " '", Shown(text), "' does not match /", c.value(), "/");
  }
  return absl::StrCat(shown, ": unknown op '", op, "'");
}

// What makes `c` unevaluable (validation refuses it); checked again at
// evaluation so that an unvalidated condition fails instead of, say, an
// unparsable pointer resolving to "missing" and satisfying exists: false.
std::optional<std::string> Unevaluable(const Condition& c) {
  if (!c.every().empty() && !c.count().empty()) return "every and count together";
  if (!c.count().empty()) {
    if (!c.claim().empty()) return absl::StrCat("count ", c.count(), " with a claim");
    if (!IsCountOp(c.op())) return absl::StrCat("count ", c.count(), " with op '", c.op(), "'");
    if (c.op() == "in") {
      for (const std::string& v : c.values()) {
        if (!IsSubmodCount(v)) return absl::StrCat("count ", c.count(), " with value '", v, "'");
      }
    } else if (!IsSubmodCount(c.value())) {
      return absl::StrCat("count ", c.count(), " with value '", Shown(c.value()), "'");
    }
    return std::nullopt;
  }
  if (auto tokens = ParsePointer(c.claim()); !tokens.ok()) {
    return absl::StrCat("'", Shown(c.claim()), "' is not a valid JSON Pointer: ",
                        tokens.status().message());
  }
  return std::nullopt;
}

// ---- Compact tokens (docs/token.md#profiles) ----

// Device members every profile carries (and that are never left out).
bool IsAlwaysCarriedDeviceMember(std::string_view m) {
  return m == "ear.status" || m == "ear.trustworthiness-vector" ||
         m == "ear.appraisal-policy-id" || m == "tee" || m == "claims" || m == "claims-omitted";
}

// True when `claims` is a token whose profile may have left device claims
// out: token_profile present and not "full" (an unknown profile counts as
// compact: fail closed). Results and tokens without token_profile carry
// every claim.
bool MayOmitDeviceClaims(const nlohmann::json& claims) {
  if (!claims.is_object()) return false;
  auto it = claims.find("token_profile");
  if (it == claims.end()) return false;
  return !(it->is_string() && it->get<std::string>() == "full");
}

// For a token that may omit device claims: when `tokens` (relative to the
// submod `device`) names a device member or a top-level device claim the
// token does not carry, the text saying so; the condition then fails
// whatever its op (exists: false included), because the claim's absence
// from this token says nothing about the device.
std::optional<std::string> OmittedFromCompactToken(const nlohmann::json& device,
                                                   const std::vector<std::string>& tokens,
                                                   const std::string& shown) {
  if (!device.is_object() || tokens.empty()) return std::nullopt;
  const std::string why = absl::StrCat(
      shown, " is not in this compact token (token_profile compact leaves it out; name it in a "
             "release rule of the policy, or use token_profile: full)");
  if (!device.contains(tokens[0])) {
    if (IsAlwaysCarriedDeviceMember(tokens[0])) return std::nullopt;
    return why;
  }
  if (tokens[0] != "claims" || tokens.size() < 2) return std::nullopt;
  const nlohmann::json& dc = device["claims"];
  if (!dc.is_object() || dc.contains(tokens[1])) return std::nullopt;
  // Evidence that did not verify: no claims in any profile.
  if (device.contains("claims-omitted")) return std::nullopt;
  return why;
}

// OmittedFromCompactToken for an absolute pointer (/submods/<name>/...).
std::optional<std::string> OmittedFromCompactToken(const nlohmann::json& claims,
                                                   const std::string& pointer) {
  absl::StatusOr<std::vector<std::string>> tokens = ParsePointer(pointer);
  if (!tokens.ok() || tokens->size() < 3 || (*tokens)[0] != "submods") return std::nullopt;
  const nlohmann::json* submods = ResolveClaimPath(claims, "/submods");
  if (submods == nullptr || !submods->is_object()) return std::nullopt;
  auto dev = submods->find((*tokens)[1]);
  if (dev == submods->end()) return std::nullopt;  // no such device: genuinely missing
  return OmittedFromCompactToken(*dev, std::vector<std::string>(tokens->begin() + 2, tokens->end()),
                                 pointer);
}

// Evaluates one condition; nullopt when it holds, else the failure text.
std::optional<std::string> CheckCondition(const Condition& c, const nlohmann::json& claims,
                                          EvalBudget& budget) {
  if (auto why = Unevaluable(c); why.has_value()) {
    return absl::StrCat("invalid condition (", *why, ")");
  }
  if (!c.count().empty()) {
    const std::string shown = absl::StrCat("count ", c.count());
    Selection sel = SelectSubmods(claims, c.count());
    if (!sel.error.empty()) return absl::StrCat(shown, ": ", sel.error);
    const nlohmann::json n = static_cast<uint64_t>(sel.devices.size());
    return CheckValue(c, &n, shown, Matcher{}, budget);
  }
  const bool compact = MayOmitDeviceClaims(claims);
  const Matcher matcher = c.op() == "matches" ? CompileMatcher(c.value()) : Matcher{};
  if (c.every().empty()) {
    const nlohmann::json* found = ResolveClaimPath(claims, c.claim());
    if (compact && found == nullptr) {
      if (auto why = OmittedFromCompactToken(claims, c.claim()); why.has_value()) return why;
    }
    return CheckValue(c, found, c.claim(), matcher, budget);
  }
  std::vector<std::string> relative_tokens;
  if (compact) {
    if (auto t = ParsePointer(c.claim()); t.ok()) relative_tokens = *std::move(t);
  }
  const std::string head = absl::StrCat("every ", c.every());
  Selection sel = SelectSubmods(claims, c.every());
  if (!sel.error.empty()) return absl::StrCat(head, ": ", sel.error);
  if (sel.devices.empty()) {
    if (c.allow_empty()) return std::nullopt;
    return absl::StrCat(head,
                        ": no submod matches (every over no device fails; allow_empty: true "
                        "accepts that)");
  }
  std::vector<std::string> shown_failures;
  size_t failed = 0;
  for (const auto& [name, device] : sel.devices) {
    const std::string shown = absl::StrCat("/submods/", EscapeToken(name), c.claim());
    const nlohmann::json* found = ResolveClaimPath(*device, c.claim());
    std::optional<std::string> why;
    if (compact && found == nullptr) why = OmittedFromCompactToken(*device, relative_tokens, shown);
    if (!why.has_value()) why = CheckValue(c, found, shown, matcher, budget);
    if (why.has_value()) {
      ++failed;
      if (shown_failures.size() < kMaxShownDeviceFailures) shown_failures.push_back(*why);
    }
  }
  if (failed == 0) return std::nullopt;
  std::string out = absl::StrCat(head, " (", failed, " of ", sel.devices.size(),
                                 " failed): ", absl::StrJoin(shown_failures, "; "));
  if (failed > shown_failures.size()) {
    absl::StrAppend(&out, "; ... and ", failed - shown_failures.size(), " more");
  }
  return out;
}

// ---- Validation ----

absl::Status ValidateClaimPointer(const std::string& origin, const std::string& at,
                                  const std::string& claim, bool relative) {
  if (claim.empty()) {
    return Invalid(origin, at,
                   relative ? "required (with every: a JSON Pointer relative to each matching "
                              "submod, e.g. /claims/measurements_match)"
                            : "required");
  }
  if (claim.size() > kMaxClaimPathLength) {
    return Invalid(origin, at,
                   absl::StrCat("longer than ", kMaxClaimPathLength, " characters (",
                                claim.size(), ")"));
  }
  if (claim.front() != '/') {
    return Invalid(origin, at,
                   absl::StrCat("'", claim,
                                "' is not a JSON Pointer (RFC 6901); dotted paths are ambiguous "
                                "and no longer accepted: write '",
                                DottedToPointer(claim), "'"));
  }
  absl::StatusOr<std::vector<std::string>> tokens = ParsePointer(claim);
  if (!tokens.ok()) {
    return Invalid(origin, at, absl::StrCat("'", claim, "': ", tokens.status().message()));
  }
  if (relative && tokens->front() == "submods") {
    return Invalid(origin, at,
                   absl::StrCat("'", claim,
                                "': with every, the pointer is relative to each matching submod "
                                "(e.g. /claims/measurements_match, /ear.status)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateGlob(const std::string& origin, const std::string& at,
                          const std::string& glob) {
  if (glob.size() > kMaxGlobLength) {
    return Invalid(origin, at,
                   absl::StrCat("glob longer than ", kMaxGlobLength, " characters"));
  }
  for (char c : glob) {
    if (!IsGlobChar(c)) {
      return Invalid(origin, at,
                     absl::StrCat("'", Shown(glob),
                                  "' is not a submod glob: [A-Za-z0-9._-] match themselves, '*' "
                                  "any run, '?' one character"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateCountCondition(const std::string& origin, const std::string& at,
                                    const Condition& c) {
  if (auto st = ValidateGlob(origin, absl::StrCat(at, ".count"), c.count()); !st.ok()) return st;
  if (!c.claim().empty()) {
    return Invalid(origin, absl::StrCat(at, ".claim"),
                   absl::StrCat("count takes no claim: it counts the submods whose names match '",
                                c.count(), "' (use every to test each one's claims)"));
  }
  const std::string& op = c.op();
  if (op.empty()) {
    return Invalid(origin, absl::StrCat(at, ".op"), absl::StrCat("required: ", kCountOps));
  }
  if (!IsCountOp(op)) {
    return Invalid(origin, absl::StrCat(at, ".op"),
                   absl::StrCat("'", op, "' is not ", kCountOps,
                                " (count compares a number of submods)"));
  }
  const std::string what = absl::StrCat("is not an integer 0..", kMaxQuantifiedSubmods,
                                        " (a number of submods)");
  if (op == "in") {
    if (!c.value().empty()) {
      return Invalid(origin, absl::StrCat(at, ".value"),
                     "op in takes `values` (a list), not `value`");
    }
    if (c.values().empty()) {
      return Invalid(origin, absl::StrCat(at, ".values"), "op in needs at least one value");
    }
    if (c.values_size() > kMaxInValues) {
      return Invalid(origin, absl::StrCat(at, ".values"),
                     absl::StrCat("at most ", kMaxInValues, " values, got ", c.values_size()));
    }
    for (int k = 0; k < c.values_size(); ++k) {
      if (!IsSubmodCount(c.values(k))) {
        return Invalid(origin, absl::StrCat(at, ".values[", k, "]"),
                       absl::StrCat("'", Shown(c.values(k)), "' ", what));
      }
    }
    return absl::OkStatus();
  }
  if (!c.values().empty()) {
    return Invalid(origin, absl::StrCat(at, ".values"),
                   absl::StrCat("only op in takes `values`; op ", op, " takes `value`"));
  }
  if (c.value().empty()) return Invalid(origin, absl::StrCat(at, ".value"), "required for count");
  if (!IsSubmodCount(c.value())) {
    return Invalid(origin, absl::StrCat(at, ".value"),
                   absl::StrCat("'", Shown(c.value()), "' ", what));
  }
  return absl::OkStatus();
}

absl::Status ValidateCondition(const std::string& origin, const std::string& at,
                               const Condition& c) {
  const bool every = !c.every().empty();
  const bool count = !c.count().empty();
  if (every && count) {
    return Invalid(origin, absl::StrCat(at, ".count"),
                   "every and count exclude each other (a condition quantifies one way)");
  }
  if (c.allow_empty() && !every) {
    return Invalid(origin, absl::StrCat(at, ".allow_empty"), "only every takes allow_empty");
  }
  if (count) return ValidateCountCondition(origin, at, c);
  if (every) {
    if (auto st = ValidateGlob(origin, absl::StrCat(at, ".every"), c.every()); !st.ok()) {
      return st;
    }
  }
  if (auto st = ValidateClaimPointer(origin, absl::StrCat(at, ".claim"), c.claim(), every);
      !st.ok()) {
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

const nlohmann::json* ResolveClaimPath(const nlohmann::json& claims, std::string_view pointer) {
  absl::StatusOr<std::vector<std::string>> tokens = ParsePointer(pointer);
  if (!tokens.ok()) return nullptr;
  const nlohmann::json* cur = &claims;
  for (const std::string& t : *tokens) {
    if (cur->is_object()) {
      auto it = cur->find(t);
      if (it == cur->end()) return nullptr;
      cur = &*it;
    } else if (cur->is_array()) {
      // RFC 6901: "0" or a decimal without leading zeros; "-" (the element
      // after the last) never exists.
      if (t.size() > 9 || (t.size() > 1 && t[0] == '0')) return nullptr;
      for (char c : t) {
        if (!IsDigit(c)) return nullptr;
      }
      size_t idx = 0;
      auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), idx);
      if (ec != std::errc() || ptr != t.data() + t.size() || idx >= cur->size()) return nullptr;
      cur = &(*cur)[idx];
    } else {
      return nullptr;  // the pointer continues below a scalar
    }
  }
  return cur;
}

bool SubmodGlobMatches(std::string_view glob, std::string_view name) {
  // Greedy match with one backtrack point (the last '*'): O(|glob| * |name|).
  size_t g = 0;
  size_t n = 0;
  size_t star = std::string_view::npos;
  size_t resume = 0;
  while (n < name.size()) {
    if (g < glob.size() && glob[g] == '*') {
      star = g++;
      resume = n;
    } else if (g < glob.size() && (glob[g] == '?' || glob[g] == name[n])) {
      ++g;
      ++n;
    } else if (star != std::string_view::npos) {
      g = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (g < glob.size() && glob[g] == '*') ++g;
  return g == glob.size();
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
  EvalBudget budget;
  for (int j = 0; j < rule.all_of_size(); ++j) {
    if (auto why = CheckCondition(rule.all_of(j), claims, budget); why.has_value()) {
      out.failed.push_back(absl::StrCat("all_of[", j, "]: ", *why));
    }
  }
  if (rule.any_of_size() > 0) {
    std::vector<std::string> any_failed;
    bool any_holds = false;
    for (int j = 0; j < rule.any_of_size() && !any_holds; ++j) {
      if (auto why = CheckCondition(rule.any_of(j), claims, budget); why.has_value()) {
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
  const nlohmann::json* id = ResolveClaimPath(claims, "/policy/id");
  if (id == nullptr || !id->is_string() || id->get<std::string>() != p.id()) {
    const std::string have =
        id == nullptr ? "(missing)" : absl::StrCat("'", id->dump().substr(0, 66), "'");
    out.failed.insert(out.failed.begin(),
                      absl::StrCat("policy pin: /policy/id ", have, " is not '", p.id(),
                                   "' (a release rule trusts only results appraised under its "
                                   "own policy)"));
    out.allowed = false;
  }
  return out;
}

TokenNeeds ReleaseRuleTokenNeeds(const attestation::v1::Policy& p) {
  TokenNeeds out;
  const auto add = [&out](const std::vector<std::string>& device_tokens) {
    if (device_tokens.empty()) return;
    if (device_tokens[0] == "claims") {
      if (device_tokens.size() >= 2) out.device_claims.insert(device_tokens[1]);
    } else if (!IsAlwaysCarriedDeviceMember(device_tokens[0])) {
      out.device_members.insert(device_tokens[0]);
    }
  };
  const auto visit = [&](const Condition& c) {
    if (c.claim().empty()) return;
    absl::StatusOr<std::vector<std::string>> t = ParsePointer(c.claim());
    if (!t.ok()) return;
    if (!c.every().empty()) {
      add(*t);
    } else if (t->size() >= 3 && (*t)[0] == "submods") {
      add(std::vector<std::string>(t->begin() + 2, t->end()));
    }
  };
  for (const ReleaseRule& r : p.release_rules()) {
    for (const Condition& c : r.all_of()) visit(c);
    for (const Condition& c : r.any_of()) visit(c);
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
