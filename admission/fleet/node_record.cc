#include "admission/fleet/node_record.h"

#include <algorithm>
#include <set>
#include <tuple>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "verifier/core/runtime_claims.h"

namespace rp::admission::fleet {
namespace {

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

absl::StatusOr<absl::Time> ParseRfc3339(const nlohmann::json& j, const char* name) {
  if (!j.is_string()) {
    return absl::InvalidArgumentError(absl::StrCat("node record: ", name, " is not a string"));
  }
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, j.get<std::string>(), &t, &err)) {
    return absl::InvalidArgumentError(absl::StrCat("node record: ", name, ": ", err));
  }
  return t;
}

// A string member, "" when absent; error when present and not a string.
absl::StatusOr<std::string> Str(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return std::string();
  if (!it->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat("node record: ", name, " is not a string"));
  }
  return it->get<std::string>();
}

absl::StatusOr<int> Int(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end()) return 0;
  if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("node record: ", name, " is not an integer 0..1024"));
  }
  return static_cast<int>(it->get<int64_t>());
}

absl::StatusOr<std::vector<std::string>> StrList(const nlohmann::json& j, const char* name) {
  std::vector<std::string> out;
  auto it = j.find(name);
  if (it == j.end()) return out;
  if (!it->is_array() || it->size() > 1024) {
    return absl::InvalidArgumentError(absl::StrCat("node record: ", name, " is not a list"));
  }
  for (const auto& v : *it) {
    if (!v.is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat("node record: ", name, " has a non-string item"));
    }
    out.push_back(v.get<std::string>());
  }
  return out;
}

std::string ClaimString(const nlohmann::json& obj, const char* name) {
  if (!obj.is_object()) return "";
  auto it = obj.find(name);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string SnpTcbSummary(const nlohmann::json& tcb) {
  if (!tcb.is_object()) return "";
  std::string out;
  for (const auto& [key, label] : std::vector<std::pair<const char*, const char*>>{
           {"bootloader", "bl"}, {"tee", "tee"}, {"snp", "snp"}, {"microcode", "ucode"},
           {"fmc", "fmc"}}) {
    auto it = tcb.find(key);
    if (it == tcb.end() || !it->is_number_integer()) continue;
    absl::StrAppend(&out, out.empty() ? "" : " ", label, "=", it->get<int64_t>());
  }
  return out;
}

}  // namespace

bool NodeRecord::NewerThan(const NodeRecord& other) const {
  return std::tie(attested_at, token_jti) > std::tie(other.attested_at, other.token_jti);
}

nlohmann::json NodeRecord::ToJson(bool with_claims) const {
  nlohmann::json j = {
      {"version", kNodeRecordVersion},
      {"node", node},
      {"verdict", verdict},
      {"attested_at", Rfc3339(attested_at)},
      {"tee", tee},
      {"tcb_status", tcb_status},
      {"gpus", gpu_count},
      {"switches", switch_count},
      {"driver_versions", driver_versions},
      {"vbios_versions", vbios_versions},
      {"policy", {{"id", policy_id}, {"version", policy_version}, {"sha256", policy_sha256}}},
      {"token", {{"jti", token_jti}, {"exp", Rfc3339(token_expires_at)}}},
      {"binding", binding},
  };
  if (auto it = claims.find("runtime_claims"); it != claims.end()) j["runtime_claims"] = *it;
  if (with_claims) j["claims"] = claims;
  return j;
}

absl::StatusOr<NodeRecord> NodeRecord::FromJson(const nlohmann::json& j) {
  if (!j.is_object()) return absl::InvalidArgumentError("node record: not a JSON object");
  if (!j.contains("version") || j["version"] != kNodeRecordVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat("node record: version must be ", kNodeRecordVersion));
  }
  NodeRecord r;
  absl::StatusOr<std::string> s = Str(j, "node");
  if (!s.ok()) return s.status();
  r.node = *s;
  if (!core::IsDnsSubdomain(r.node)) {
    return absl::InvalidArgumentError("node record: node is not a node name");
  }
  if (s = Str(j, "verdict"); !s.ok()) return s.status();
  r.verdict = *s;
  if (r.verdict != "affirming" && r.verdict != "warning" && r.verdict != "contraindicated") {
    return absl::InvalidArgumentError("node record: verdict is not a verdict");
  }
  absl::StatusOr<absl::Time> t = ParseRfc3339(j.value("attested_at", nlohmann::json()),
                                              "attested_at");
  if (!t.ok()) return t.status();
  r.attested_at = *t;
  if (s = Str(j, "tee"); !s.ok()) return s.status();
  r.tee = *s;
  if (s = Str(j, "tcb_status"); !s.ok()) return s.status();
  r.tcb_status = *s;
  absl::StatusOr<int> n = Int(j, "gpus");
  if (!n.ok()) return n.status();
  r.gpu_count = *n;
  if (n = Int(j, "switches"); !n.ok()) return n.status();
  r.switch_count = *n;
  absl::StatusOr<std::vector<std::string>> l = StrList(j, "driver_versions");
  if (!l.ok()) return l.status();
  r.driver_versions = *l;
  if (l = StrList(j, "vbios_versions"); !l.ok()) return l.status();
  r.vbios_versions = *l;
  const nlohmann::json policy = j.value("policy", nlohmann::json::object());
  if (!policy.is_object()) return absl::InvalidArgumentError("node record: policy");
  for (auto [name, field] : {std::pair{"id", &r.policy_id}, std::pair{"version", &r.policy_version},
                             std::pair{"sha256", &r.policy_sha256}}) {
    if (s = Str(policy, name); !s.ok()) return s.status();
    *field = *s;
  }
  const nlohmann::json token = j.value("token", nlohmann::json::object());
  if (!token.is_object()) return absl::InvalidArgumentError("node record: token");
  if (s = Str(token, "jti"); !s.ok()) return s.status();
  r.token_jti = *s;
  if (t = ParseRfc3339(token.value("exp", nlohmann::json()), "token.exp"); !t.ok()) {
    return t.status();
  }
  r.token_expires_at = *t;
  if (s = Str(j, "binding"); !s.ok()) return s.status();
  r.binding = *s;
  auto claims = j.find("claims");
  if (claims == j.end() || !claims->is_object()) {
    return absl::InvalidArgumentError("node record: claims is not an object");
  }
  r.claims = *claims;
  return r;
}

absl::StatusOr<std::optional<NodeRecord>> RecordFromTokenClaims(const nlohmann::json& claims) {
  if (!claims.is_object()) return absl::InvalidArgumentError("token claims: not an object");
  auto rc = claims.find("runtime_claims");
  if (rc == claims.end() || !rc->is_object()) return std::optional<NodeRecord>();
  const std::string node = ClaimString(*rc, core::kRuntimeClaimNode);
  if (node.empty()) return std::optional<NodeRecord>();
  if (!core::IsDnsSubdomain(node)) {
    return absl::InvalidArgumentError("token claims: runtime_claims.node is not a node name");
  }
  NodeRecord r;
  r.node = node;
  r.verdict = ClaimString(claims, "ear.status");
  if (r.verdict != "affirming" && r.verdict != "warning" && r.verdict != "contraindicated") {
    return absl::InvalidArgumentError("token claims: ear.status is not a verdict");
  }
  const auto seconds = [&](const char* name) -> absl::StatusOr<absl::Time> {
    auto it = claims.find(name);
    if (it == claims.end() || !it->is_number_integer()) {
      return absl::InvalidArgumentError(absl::StrCat("token claims: ", name, " missing"));
    }
    return absl::FromUnixSeconds(it->get<int64_t>());
  };
  absl::StatusOr<absl::Time> iat = seconds("iat");
  if (!iat.ok()) return iat.status();
  absl::StatusOr<absl::Time> exp = seconds("exp");
  if (!exp.ok()) return exp.status();
  r.attested_at = *iat;
  r.token_expires_at = *exp;
  r.token_jti = ClaimString(claims, "jti");
  r.binding = ClaimString(claims, "binding");
  const nlohmann::json policy = claims.value("policy", nlohmann::json::object());
  r.policy_id = ClaimString(policy, "id");
  r.policy_version = ClaimString(policy, "version");
  r.policy_sha256 = ClaimString(policy, "sha256");
  std::set<std::string> drivers, vbioses;
  const nlohmann::json submods = claims.value("submods", nlohmann::json::object());
  if (submods.is_object()) {
    for (const auto& [name, s] : submods.items()) {
      if (!s.is_object()) continue;
      const std::string tee = ClaimString(s, "tee");
      const nlohmann::json dc = s.value("claims", nlohmann::json::object());
      if (tee == "tdx" || tee == "sev-snp") {
        if (!r.tee.empty()) continue;  // cpu0 only (a bundle has one CPU)
        r.tee = tee;
        r.tcb_status = tee == "tdx" ? ClaimString(dc, "tcb_status")
                                    : SnpTcbSummary(dc.value("reported_tcb", nlohmann::json()));
      } else if (tee == "nvidia-gpu") {
        ++r.gpu_count;
      } else if (tee == "nvidia-switch") {
        ++r.switch_count;
      } else {
        continue;
      }
      if (tee == "nvidia-gpu" || tee == "nvidia-switch") {
        if (std::string v = ClaimString(dc, "driver_version"); !v.empty()) drivers.insert(v);
        if (std::string v = ClaimString(dc, "vbios_version"); !v.empty()) vbioses.insert(v);
      }
    }
  }
  r.driver_versions.assign(drivers.begin(), drivers.end());
  r.vbios_versions.assign(vbioses.begin(), vbioses.end());
  r.claims = claims;
  return std::optional<NodeRecord>(std::move(r));
}

}  // namespace rp::admission::fleet
