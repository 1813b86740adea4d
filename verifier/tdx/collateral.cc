#include "verifier/tdx/collateral.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"
#include "verifier/common/clock.h"
#include "verifier/common/status_macros.h"

namespace rp::tdx {
namespace {

using nlohmann::json;

constexpr size_t kMaxLevels = 256;
constexpr size_t kMaxAdvisories = 256;

class Fields {
 public:
  Fields(const json& j, std::string ctx) : j_(j), ctx_(std::move(ctx)) {}

  absl::Status Bad(const std::string& what) const {
    return absl::InvalidArgumentError(absl::StrCat(ctx_, ": ", what));
  }

  absl::StatusOr<const json*> Get(const char* key, json::value_t type) const {
    auto it = j_.find(key);
    if (it == j_.end()) return Bad(absl::StrFormat("missing \"%s\"", key));
    const bool number = type == json::value_t::number_unsigned;
    if (number ? !it->is_number_unsigned() : it->type() != type) {
      return Bad(absl::StrFormat("\"%s\" has the wrong JSON type", key));
    }
    return &*it;
  }
  bool Has(const char* key) const { return j_.contains(key); }

  absl::StatusOr<std::string> String(const char* key) const {
    ASSIGN_OR_RETURN(const json* v, Get(key, json::value_t::string));
    return v->get<std::string>();
  }
  absl::StatusOr<uint64_t> Uint(const char* key, uint64_t max) const {
    ASSIGN_OR_RETURN(const json* v, Get(key, json::value_t::number_unsigned));
    const uint64_t n = v->get<uint64_t>();
    if (n > max) return Bad(absl::StrFormat("\"%s\" = %d exceeds %d", key, n, max));
    return n;
  }
  absl::StatusOr<absl::Time> Time(const char* key) const {
    ASSIGN_OR_RETURN(std::string s, String(key));
    absl::StatusOr<absl::Time> t = ParseTime(s);
    if (!t.ok()) return Bad(absl::StrFormat("\"%s\" is not an RFC 3339 time", key));
    return *t;
  }
  template <size_t N>
  absl::Status HexArray(const char* key, std::array<uint8_t, N>* out) const {
    ASSIGN_OR_RETURN(std::string s, String(key));
    absl::StatusOr<Bytes> b = HexDecode(s);
    if (!b.ok() || b->size() != N) {
      return Bad(absl::StrFormat("\"%s\" is not %d bytes of hex", key, N));
    }
    std::copy(b->begin(), b->end(), out->begin());
    return absl::OkStatus();
  }

 private:
  const json& j_;
  std::string ctx_;
};

absl::StatusOr<json> ParseJsonObject(std::string_view text, const std::string& ctx) {
  if (text.size() > kMaxCollateralJsonBytes) {
    return absl::InvalidArgumentError(absl::StrCat(ctx, ": too large"));
  }
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(ctx, ": not a JSON object"));
  }
  return j;
}

absl::StatusOr<std::vector<std::string>> Advisories(const json& level, const std::string& ctx) {
  std::vector<std::string> out;
  auto it = level.find("advisoryIDs");
  if (it == level.end()) return out;
  if (!it->is_array() || it->size() > kMaxAdvisories) {
    return absl::InvalidArgumentError(absl::StrCat(ctx, ": bad \"advisoryIDs\""));
  }
  for (const json& a : *it) {
    if (!a.is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(ctx, ": advisory ID is not a string"));
    }
    out.push_back(a.get<std::string>());
  }
  return out;
}

absl::Status LevelCommon(const Fields& f, const json& level, const std::string& ctx,
                         std::string* date, TcbStatus* status,
                         std::vector<std::string>* advisories) {
  ASSIGN_OR_RETURN(*date, f.String("tcbDate"));
  if (!ParseTime(*date).ok()) return f.Bad("\"tcbDate\" is not an RFC 3339 time");
  ASSIGN_OR_RETURN(std::string s, f.String("tcbStatus"));
  std::optional<TcbStatus> st = ParseTcbStatus(s);
  if (!st) return f.Bad(absl::StrFormat("unknown tcbStatus \"%s\"", s));
  *status = *st;
  ASSIGN_OR_RETURN(*advisories, Advisories(level, ctx));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<IsvTcbLevel>> IsvLevels(const json& arr, const std::string& ctx) {
  if (!arr.is_array() || arr.empty() || arr.size() > kMaxLevels) {
    return absl::InvalidArgumentError(absl::StrCat(ctx, ": \"tcbLevels\" is not a non-empty array"));
  }
  std::vector<IsvTcbLevel> out;
  for (size_t i = 0; i < arr.size(); ++i) {
    const std::string lctx = absl::StrFormat("%s: tcbLevels[%d]", ctx, i);
    if (!arr[i].is_object()) return absl::InvalidArgumentError(lctx + ": not an object");
    Fields f(arr[i], lctx);
    ASSIGN_OR_RETURN(const json* tcb, f.Get("tcb", json::value_t::object));
    IsvTcbLevel l;
    ASSIGN_OR_RETURN(uint64_t svn, Fields(*tcb, lctx + ".tcb").Uint("isvsvn", 65535));
    l.isvsvn = static_cast<uint16_t>(svn);
    RETURN_IF_ERROR(LevelCommon(f, arr[i], lctx, &l.tcb_date, &l.status, &l.advisory_ids));
    out.push_back(std::move(l));
  }
  return out;
}

absl::StatusOr<std::array<uint8_t, 16>> Components(const json& arr, const std::string& ctx) {
  if (!arr.is_array() || arr.size() != 16) {
    return absl::InvalidArgumentError(absl::StrCat(ctx, ": not an array of 16 components"));
  }
  std::array<uint8_t, 16> out{};
  for (size_t i = 0; i < 16; ++i) {
    if (!arr[i].is_object()) {
      return absl::InvalidArgumentError(absl::StrFormat("%s[%d]: not an object", ctx, i));
    }
    ASSIGN_OR_RETURN(uint64_t svn, Fields(arr[i], absl::StrFormat("%s[%d]", ctx, i)).Uint("svn", 255));
    out[i] = static_cast<uint8_t>(svn);
  }
  return out;
}

absl::StatusOr<TdxModuleIdentity> ModuleIdentity(const json& j, const std::string& ctx,
                                                 bool with_levels) {
  if (!j.is_object()) return absl::InvalidArgumentError(ctx + ": not an object");
  Fields f(j, ctx);
  TdxModuleIdentity m;
  if (with_levels) {
    ASSIGN_OR_RETURN(m.id, f.String("id"));
    ASSIGN_OR_RETURN(const json* levels, f.Get("tcbLevels", json::value_t::array));
    ASSIGN_OR_RETURN(m.tcb_levels, IsvLevels(*levels, ctx));
  }
  RETURN_IF_ERROR(f.HexArray("mrsigner", &m.mrsigner));
  RETURN_IF_ERROR(f.HexArray("attributes", &m.attributes));
  RETURN_IF_ERROR(f.HexArray("attributesMask", &m.attributes_mask));
  return m;
}

// --- A small scanner over JSON text that records byte spans -------------------

class Scanner {
 public:
  explicit Scanner(std::string_view s) : s_(s) {}
  void Ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool Eat(char c) {
    Ws();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  // A string token; returns its raw contents (escapes left as they are).
  bool String(std::string_view* out) {
    Ws();
    if (i_ >= s_.size() || s_[i_] != '"') return false;
    const size_t start = ++i_;
    while (i_ < s_.size() && s_[i_] != '"') {
      if (s_[i_] == '\\') ++i_;
      ++i_;
    }
    if (i_ >= s_.size()) return false;
    *out = s_.substr(start, i_ - start);
    ++i_;
    return true;
  }
  // Skips one value, nesting bounded by `depth`.
  bool Value(int depth) {
    if (depth > 64) return false;
    Ws();
    if (i_ >= s_.size()) return false;
    const char c = s_[i_];
    std::string_view ignored;
    if (c == '"') return String(&ignored);
    if (c == '{' || c == '[') {
      const char close = c == '{' ? '}' : ']';
      ++i_;
      if (Eat(close)) return true;
      do {
        if (c == '{' && (!String(&ignored) || !Eat(':'))) return false;
        if (!Value(depth + 1)) return false;
      } while (Eat(','));
      return Eat(close);
    }
    const size_t start = i_;
    while (i_ < s_.size() && s_[i_] != ',' && s_[i_] != '}' && s_[i_] != ']' && s_[i_] != ' ' &&
           s_[i_] != '\n' && s_[i_] != '\r' && s_[i_] != '\t') {
      ++i_;
    }
    return i_ > start;
  }
  size_t pos() const { return i_; }
  bool AtEnd() {
    Ws();
    return i_ == s_.size();
  }

 private:
  std::string_view s_;
  size_t i_ = 0;
};

}  // namespace

std::string_view TcbStatusName(TcbStatus s) {
  switch (s) {
    case TcbStatus::kUpToDate: return "UpToDate";
    case TcbStatus::kSwHardeningNeeded: return "SWHardeningNeeded";
    case TcbStatus::kConfigurationNeeded: return "ConfigurationNeeded";
    case TcbStatus::kConfigurationAndSwHardeningNeeded: return "ConfigurationAndSWHardeningNeeded";
    case TcbStatus::kOutOfDate: return "OutOfDate";
    case TcbStatus::kOutOfDateConfigurationNeeded: return "OutOfDateConfigurationNeeded";
    case TcbStatus::kRevoked: return "Revoked";
  }
  return "Revoked";
}

std::optional<TcbStatus> ParseTcbStatus(std::string_view name) {
  for (TcbStatus s : {TcbStatus::kUpToDate, TcbStatus::kSwHardeningNeeded,
                      TcbStatus::kConfigurationNeeded,
                      TcbStatus::kConfigurationAndSwHardeningNeeded, TcbStatus::kOutOfDate,
                      TcbStatus::kOutOfDateConfigurationNeeded, TcbStatus::kRevoked}) {
    if (TcbStatusName(s) == name) return s;
  }
  return std::nullopt;
}

absl::StatusOr<TcbInfo> ParseTcbInfo(std::string_view text) {
  const std::string ctx = "tdx: tcb info";
  ASSIGN_OR_RETURN(json j, ParseJsonObject(text, ctx));
  Fields f(j, ctx);
  TcbInfo t;
  ASSIGN_OR_RETURN(t.id, f.String("id"));
  ASSIGN_OR_RETURN(uint64_t version, f.Uint("version", 1000));
  t.version = static_cast<int>(version);
  ASSIGN_OR_RETURN(t.issue_date, f.Time("issueDate"));
  ASSIGN_OR_RETURN(t.next_update, f.Time("nextUpdate"));
  RETURN_IF_ERROR(f.HexArray("fmspc", &t.fmspc));
  RETURN_IF_ERROR(f.HexArray("pceId", &t.pce_id));
  ASSIGN_OR_RETURN(uint64_t tcb_type, f.Uint("tcbType", 1000));
  t.tcb_type = static_cast<int>(tcb_type);
  ASSIGN_OR_RETURN(uint64_t eval, f.Uint("tcbEvaluationDataNumber", 1u << 31));
  t.tcb_evaluation_data_number = static_cast<int64_t>(eval);
  if (f.Has("tdxModule")) {
    ASSIGN_OR_RETURN(t.tdx_module, ModuleIdentity(j["tdxModule"], ctx + ": tdxModule", false));
  }
  if (f.Has("tdxModuleIdentities")) {
    ASSIGN_OR_RETURN(const json* ids, f.Get("tdxModuleIdentities", json::value_t::array));
    if (ids->size() > kMaxLevels) return f.Bad("too many tdxModuleIdentities");
    std::set<std::string> seen;
    for (size_t i = 0; i < ids->size(); ++i) {
      ASSIGN_OR_RETURN(TdxModuleIdentity m,
                       ModuleIdentity((*ids)[i], absl::StrFormat("%s: tdxModuleIdentities[%d]", ctx, i), true));
      if (!seen.insert(m.id).second) return f.Bad(absl::StrCat("duplicate module identity ", m.id));
      t.tdx_module_identities.push_back(std::move(m));
    }
  }
  ASSIGN_OR_RETURN(const json* levels, f.Get("tcbLevels", json::value_t::array));
  if (levels->empty() || levels->size() > kMaxLevels) return f.Bad("bad \"tcbLevels\"");
  for (size_t i = 0; i < levels->size(); ++i) {
    const std::string lctx = absl::StrFormat("%s: tcbLevels[%d]", ctx, i);
    const json& lj = (*levels)[i];
    if (!lj.is_object()) return absl::InvalidArgumentError(lctx + ": not an object");
    Fields lf(lj, lctx);
    ASSIGN_OR_RETURN(const json* tcb, lf.Get("tcb", json::value_t::object));
    Fields tf(*tcb, lctx + ".tcb");
    TcbLevel l;
    ASSIGN_OR_RETURN(const json* sgx, tf.Get("sgxtcbcomponents", json::value_t::array));
    ASSIGN_OR_RETURN(l.sgx_components, Components(*sgx, lctx + ".sgxtcbcomponents"));
    ASSIGN_OR_RETURN(uint64_t pcesvn, tf.Uint("pcesvn", 65535));
    l.pcesvn = static_cast<uint16_t>(pcesvn);
    ASSIGN_OR_RETURN(const json* tdx, tf.Get("tdxtcbcomponents", json::value_t::array));
    ASSIGN_OR_RETURN(l.tdx_components, Components(*tdx, lctx + ".tdxtcbcomponents"));
    RETURN_IF_ERROR(LevelCommon(lf, lj, lctx, &l.tcb_date, &l.status, &l.advisory_ids));
    t.tcb_levels.push_back(std::move(l));
  }
  return t;
}

absl::StatusOr<QeIdentity> ParseQeIdentity(std::string_view text) {
  const std::string ctx = "tdx: qe identity";
  ASSIGN_OR_RETURN(json j, ParseJsonObject(text, ctx));
  Fields f(j, ctx);
  QeIdentity q;
  ASSIGN_OR_RETURN(q.id, f.String("id"));
  ASSIGN_OR_RETURN(uint64_t version, f.Uint("version", 1000));
  q.version = static_cast<int>(version);
  ASSIGN_OR_RETURN(q.issue_date, f.Time("issueDate"));
  ASSIGN_OR_RETURN(q.next_update, f.Time("nextUpdate"));
  ASSIGN_OR_RETURN(uint64_t eval, f.Uint("tcbEvaluationDataNumber", 1u << 31));
  q.tcb_evaluation_data_number = static_cast<int64_t>(eval);
  std::array<uint8_t, 4> misc{};
  std::array<uint8_t, 4> misc_mask{};
  // MISCSELECT is written big-endian as hex text in the JSON ("00000000").
  RETURN_IF_ERROR(f.HexArray("miscselect", &misc));
  RETURN_IF_ERROR(f.HexArray("miscselectMask", &misc_mask));
  q.miscselect = (uint32_t{misc[0]} << 24) | (uint32_t{misc[1]} << 16) | (uint32_t{misc[2]} << 8) | misc[3];
  q.miscselect_mask = (uint32_t{misc_mask[0]} << 24) | (uint32_t{misc_mask[1]} << 16) |
                      (uint32_t{misc_mask[2]} << 8) | misc_mask[3];
  RETURN_IF_ERROR(f.HexArray("attributes", &q.attributes));
  RETURN_IF_ERROR(f.HexArray("attributesMask", &q.attributes_mask));
  RETURN_IF_ERROR(f.HexArray("mrsigner", &q.mrsigner));
  ASSIGN_OR_RETURN(uint64_t prodid, f.Uint("isvprodid", 65535));
  q.isvprodid = static_cast<uint16_t>(prodid);
  ASSIGN_OR_RETURN(const json* levels, f.Get("tcbLevels", json::value_t::array));
  ASSIGN_OR_RETURN(q.tcb_levels, IsvLevels(*levels, ctx));
  return q;
}

absl::StatusOr<SignedJson> ExtractSignedJson(std::string_view body, std::string_view key) {
  const std::string ctx = absl::StrCat("tdx: signed ", std::string(key));
  if (body.size() > kMaxCollateralJsonBytes) {
    return absl::InvalidArgumentError(ctx + ": body too large");
  }
  Scanner s(body);
  if (!s.Eat('{')) return absl::InvalidArgumentError(ctx + ": body is not a JSON object");
  std::set<std::string> seen;
  std::optional<std::string_view> value;
  std::optional<std::string> signature_hex;
  if (!s.Eat('}')) {
    do {
      std::string_view k;
      if (!s.String(&k) || !s.Eat(':')) return absl::InvalidArgumentError(ctx + ": malformed body");
      if (!seen.insert(std::string(k)).second) {
        return absl::InvalidArgumentError(absl::StrFormat("%s: duplicate key \"%s\"", ctx, k));
      }
      s.Ws();
      const size_t start = s.pos();
      if (!s.Value(0)) return absl::InvalidArgumentError(ctx + ": malformed body");
      const std::string_view v = body.substr(start, s.pos() - start);
      if (k == key) value = v;
      if (k == "signature") {
        std::string_view sig;
        Scanner vs(v);
        if (!vs.String(&sig) || !vs.AtEnd()) {
          return absl::InvalidArgumentError(ctx + ": \"signature\" is not a string");
        }
        signature_hex = std::string(sig);
      }
    } while (s.Eat(','));
    if (!s.Eat('}')) return absl::InvalidArgumentError(ctx + ": malformed body");
  }
  if (!s.AtEnd()) return absl::InvalidArgumentError(ctx + ": trailing text after the body");
  if (!value || value->empty() || value->front() != '{') {
    return absl::InvalidArgumentError(absl::StrFormat("%s: no \"%s\" object", ctx, key));
  }
  if (!signature_hex) return absl::InvalidArgumentError(ctx + ": no \"signature\"");
  // The whole body must also be valid JSON (the scanner is lenient on
  // literals and escapes).
  json whole = json::parse(body.begin(), body.end(), nullptr, false);
  if (whole.is_discarded()) return absl::InvalidArgumentError(ctx + ": body is not valid JSON");
  absl::StatusOr<Bytes> sig = HexDecode(*signature_hex);
  if (!sig.ok() || sig->size() != 64) {
    return absl::InvalidArgumentError(ctx + ": \"signature\" is not 64 bytes of hex");
  }
  return SignedJson{std::string(*value), *std::move(sig)};
}

absl::StatusOr<QvlCollateral> ParseQvlCollateral(std::string_view text) {
  const std::string ctx = "tdx: qvl collateral";
  ASSIGN_OR_RETURN(json j, ParseJsonObject(text, ctx));
  QvlCollateral c;
  const std::pair<const char*, std::string*> fields[] = {
      {"pck_crl_issuer_chain", &c.pck_crl_issuer_chain},
      {"root_ca_crl", &c.root_ca_crl},
      {"pck_crl", &c.pck_crl},
      {"tcb_info_issuer_chain", &c.tcb_info_issuer_chain},
      {"tcb_info", &c.tcb_info},
      {"tcb_info_signature", &c.tcb_info_signature},
      {"qe_identity_issuer_chain", &c.qe_identity_issuer_chain},
      {"qe_identity", &c.qe_identity},
      {"qe_identity_signature", &c.qe_identity_signature},
  };
  for (const auto& [name, out] : fields) {
    auto it = j.find(name);
    if (it == j.end() || it->is_null()) continue;
    if (!it->is_string()) {
      return absl::InvalidArgumentError(absl::StrFormat("%s: \"%s\" is not a string", ctx, name));
    }
    *out = it->get<std::string>();
  }
  return c;
}

absl::StatusOr<Bytes> DecodeCrlField(std::string_view text) {
  absl::StatusOr<Bytes> hex = HexDecode(text);
  if (hex.ok()) return hex;
  return Bytes(text.begin(), text.end());
}

}  // namespace rp::tdx
