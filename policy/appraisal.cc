#include "policy/appraisal.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "policy/appraise.h"
#include "policy/canonical_json.h"
#include "verifier/common/jcs.h"
#include "verifier/common/status_macros.h"
#include "verifier/core/binding.h"
#include "verifier/crypto/digest.h"
#include "verifier/crypto/keys.h"

namespace rp::policy {

std::string_view VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kAffirming:
      return "affirming";
    case Verdict::kWarning:
      return "warning";
    case Verdict::kContraindicated:
      return "contraindicated";
  }
  return "contraindicated";
}

std::string_view TokenProfileName(TokenProfile p) {
  return p == TokenProfile::kFull ? "full" : "compact";
}

absl::StatusOr<TokenProfile> ParseTokenProfile(std::string_view name, std::string_view field) {
  if (name == "compact") return TokenProfile::kCompact;
  if (name == "full") return TokenProfile::kFull;
  return absl::InvalidArgumentError(absl::StrCat(std::string(field), " is '",
                                                 std::string(name.substr(0, 64)),
                                                 "', must be compact or full"));
}

const std::set<std::string>& CompactKeyClaims(std::string_view tee) {
  // Chosen per claim (docs/token.md#profiles): the identity of what runs
  // (measurements), the configuration a release rule tests (debug, policy,
  // VMPL, initdata digests), the TCB summary the fleet registry shows, and
  // for GPUs / switches the verdict on their measurements and the versions
  // rules compare. Left to the full profile: raw report fields (report_data,
  // chip / report ids, certificates, OCSP records, RIM provenance, nonces),
  // which no rule example reads and which make up most of a full token.
  static const auto* const kTdx = new std::set<std::string>{
      "quote_version", "mrtd",       "rtmr",         "mrconfigid", "td_attributes",
      "tcb_status",    "advisory_ids"};
  static const auto* const kSnp = new std::set<std::string>{
      "product", "measurement", "host_data", "vmpl", "policy", "reported_tcb", "guest_svn"};
  static const auto* const kNvidia = new std::set<std::string>{
      "arch",    "hwmodel",           "driver_version",    "vbios_version",
      "cc_mode", "measurements_match", "mismatched_indices"};
  static const auto* const kNone = new std::set<std::string>{};
  if (tee == "tdx") return *kTdx;
  if (tee == "sev-snp") return *kSnp;
  if (tee == "nvidia-gpu" || tee == "nvidia-switch") return *kNvidia;
  return *kNone;
}

namespace {

attestation::v1::Verdict ToProtoVerdict(Verdict v) {
  switch (v) {
    case Verdict::kAffirming:
      return attestation::v1::AFFIRMING;
    case Verdict::kWarning:
      return attestation::v1::WARNING;
    case Verdict::kContraindicated:
      return attestation::v1::CONTRAINDICATED;
  }
  return attestation::v1::CONTRAINDICATED;
}

attestation::v1::CheckStatus ToProtoStatus(core::CheckStatus s) {
  switch (s) {
    case core::CheckStatus::kPass:
      return attestation::v1::PASS;
    case core::CheckStatus::kFail:
      return attestation::v1::FAIL;
    case core::CheckStatus::kNotChecked:
      return attestation::v1::NOT_CHECKED;
  }
  return attestation::v1::FAIL;
}

nlohmann::json CheckJson(const core::Check& c) {
  nlohmann::json j = {{"name", c.name},
                      {"status", std::string(core::CheckStatusName(c.status))},
                      {"reason", c.reason}};
  if (!c.detail.empty()) j["detail"] = c.detail;
  if (!c.affects_status) j["informational"] = true;
  if (!c.relaxed_by.empty()) j["relaxed_by"] = c.relaxed_by;
  return j;
}

void FillCheck(const core::Check& c, attestation::v1::Check* out) {
  out->set_name(c.name);
  out->set_status(ToProtoStatus(c.status));
  out->set_reason(c.reason);
  out->set_detail(c.detail);
  out->set_informational(!c.affects_status);
  out->set_relaxed_by(c.relaxed_by);
}

nlohmann::json CollateralJson(const std::vector<core::CollateralRef>& refs) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& r : refs) {
    nlohmann::json e = {{"kind", r.kind}, {"id", r.id}, {"sha256", r.sha256}};
    if (!r.next_update.empty()) e["next_update"] = r.next_update;
    if (!r.source.empty()) e["source"] = r.source;
    list.push_back(std::move(e));
  }
  return list;
}

}  // namespace

nlohmann::json Appraisal::ToJson() const {
  nlohmann::json j;
  j["verdict"] = std::string(VerdictName(verdict));
  j["policy"] = {{"id", policy_id}, {"version", policy_version}, {"sha256", policy_sha256}};
  j["binding"] = binding;
  j["binding_verified"] = binding_verified;
  if (runtime_claims.has_value()) j["runtime_claims"] = *runtime_claims;
  if (nonce.has_value()) j["nonce"] = HexEncode(*nonce);
  if (simulated) j["simulated"] = true;
  nlohmann::json checks = nlohmann::json::array();
  for (const auto& c : bundle_checks) checks.push_back(CheckJson(c));
  j["checks"] = checks;
  j["reasons"] = reasons;
  nlohmann::json submods = nlohmann::json::object();
  for (const auto& d : devices) {
    nlohmann::json s;
    s["status"] = std::string(VerdictName(d.status));
    s["tee"] = d.device.tee;
    if (d.device.evidence_authentic) {
      s["claims"] = d.device.claims;
    } else {
      s["claims"] = nlohmann::json::object();
      s["unverified_claims"] = d.device.claims;
    }
    nlohmann::json dc = nlohmann::json::array();
    for (const auto& c : d.device.checks) dc.push_back(CheckJson(c));
    s["checks"] = dc;
    s["trust_vector"] = d.trust_vector;
    if (!d.device.collateral.empty()) s["collateral"] = CollateralJson(d.device.collateral);
    if (d.device.simulated) s["simulated"] = true;
    submods[d.device.name] = s;
  }
  j["submods"] = submods;
  return j;
}

namespace {

// The canonical forms of CheckJson and CollateralJson, written directly
// (CanonicalResultJson): `depth` is that of the array.
absl::StatusOr<std::string> CanonicalChecks(const std::vector<core::Check>& checks, int depth) {
  std::vector<absl::StatusOr<std::string>> items;
  items.reserve(checks.size());
  for (const core::Check& c : checks) {
    CanonicalObjectWriter w(depth + 1);
    w.String("name", c.name);
    w.String("status", core::CheckStatusName(c.status));
    w.String("reason", c.reason);
    if (!c.detail.empty()) w.String("detail", c.detail);
    if (!c.affects_status) w.Bool("informational", true);
    if (!c.relaxed_by.empty()) w.String("relaxed_by", c.relaxed_by);
    items.push_back(w.Finish());
  }
  return CanonicalArray(std::move(items));
}

absl::StatusOr<std::string> CanonicalCollateral(const std::vector<core::CollateralRef>& refs,
                                                int depth) {
  std::vector<absl::StatusOr<std::string>> items;
  items.reserve(refs.size());
  for (const core::CollateralRef& r : refs) {
    CanonicalObjectWriter w(depth + 1);
    w.String("kind", r.kind);
    w.String("id", r.id);
    w.String("sha256", r.sha256);
    if (!r.next_update.empty()) w.String("next_update", r.next_update);
    if (!r.source.empty()) w.String("source", r.source);
    items.push_back(w.Finish());
  }
  return CanonicalArray(std::move(items));
}

}  // namespace

// CanonicalJson(ToJson()), member for member, without building the tree
// (the device claims are not copied): every Attest writes it.
// CanonicalResultJsonTest checks the two stay byte-identical.
absl::StatusOr<std::string> Appraisal::CanonicalResultJson() const {
  CanonicalObjectWriter top(0);
  top.String("verdict", VerdictName(verdict));
  {
    CanonicalObjectWriter p(top.member_depth());
    p.String("id", policy_id);
    p.String("version", policy_version);
    p.String("sha256", policy_sha256);
    top.Canonical("policy", p.Finish());
  }
  top.String("binding", binding);
  top.Bool("binding_verified", binding_verified);
  if (runtime_claims.has_value()) {
    CanonicalObjectWriter rc(top.member_depth());
    for (const auto& [k, v] : *runtime_claims) rc.String(k, v);
    top.Canonical("runtime_claims", rc.Finish());
  }
  if (nonce.has_value()) top.String("nonce", HexEncode(*nonce));
  if (simulated) top.Bool("simulated", true);
  top.Canonical("checks", CanonicalChecks(bundle_checks, top.member_depth()));
  {
    std::vector<absl::StatusOr<std::string>> items;
    items.reserve(reasons.size());
    for (const std::string& r : reasons) items.push_back(CanonicalString(r));
    top.Canonical("reasons", CanonicalArray(std::move(items)));
  }
  CanonicalObjectWriter submods(top.member_depth());
  for (const auto& d : devices) {
    CanonicalObjectWriter s(submods.member_depth());
    s.String("status", VerdictName(d.status));
    s.String("tee", d.device.tee);
    if (d.device.evidence_authentic) {
      s.Json("claims", d.device.claims);
    } else {
      s.Canonical("claims", std::string("{}"));
      s.Json("unverified_claims", d.device.claims);
    }
    s.Canonical("checks", CanonicalChecks(d.device.checks, s.member_depth()));
    CanonicalObjectWriter tv(s.member_depth());
    for (const auto& [k, v] : d.trust_vector) tv.Int(k, v);
    s.Canonical("trust_vector", tv.Finish());
    if (!d.device.collateral.empty()) {
      s.Canonical("collateral", CanonicalCollateral(d.device.collateral, s.member_depth()));
    }
    if (d.device.simulated) s.Bool("simulated", true);
    submods.Canonical(d.device.name, s.Finish());
  }
  top.Canonical("submods", submods.Finish());
  return top.Finish();
}

namespace {

constexpr int kMaxStructDepth = 100;  // google::protobuf::util's JSON parser limit

bool JsonToValue(const nlohmann::json& j, google::protobuf::Value* out, int depth);

bool JsonToStructFields(const nlohmann::json& j, google::protobuf::Struct* out, int depth) {
  if (depth > kMaxStructDepth) return false;
  auto* fields = out->mutable_fields();
  for (const auto& [key, value] : j.items()) {
    if (!IsValidUtf8(key)) return false;
    if (!JsonToValue(value, &(*fields)[key], depth + 1)) return false;
  }
  return true;
}

// depth: the nesting level of the object or array j would be (1 = the top).
bool JsonToValue(const nlohmann::json& j, google::protobuf::Value* out, int depth) {
  switch (j.type()) {
    case nlohmann::json::value_t::null:
    case nlohmann::json::value_t::discarded:
      out->set_null_value(google::protobuf::NULL_VALUE);
      return true;
    case nlohmann::json::value_t::boolean:
      out->set_bool_value(j.get<bool>());
      return true;
    case nlohmann::json::value_t::number_integer:
      out->set_number_value(static_cast<double>(j.get<int64_t>()));
      return true;
    case nlohmann::json::value_t::number_unsigned:
      out->set_number_value(static_cast<double>(j.get<uint64_t>()));
      return true;
    case nlohmann::json::value_t::number_float: {
      const double v = j.get<double>();
      if (std::isfinite(v)) {
        out->set_number_value(v);
      } else {
        out->set_null_value(google::protobuf::NULL_VALUE);  // dump() writes null
      }
      return true;
    }
    case nlohmann::json::value_t::string: {
      const std::string& s = j.get_ref<const std::string&>();
      if (!IsValidUtf8(s)) return false;
      out->set_string_value(s);
      return true;
    }
    case nlohmann::json::value_t::array: {
      if (depth > kMaxStructDepth) return false;
      google::protobuf::ListValue* list = out->mutable_list_value();
      for (const nlohmann::json& e : j) {
        if (!JsonToValue(e, list->add_values(), depth + 1)) return false;
      }
      return true;
    }
    case nlohmann::json::value_t::object:
      return JsonToStructFields(j, out->mutable_struct_value(), depth);
    case nlohmann::json::value_t::binary:
      return false;  // not JSON
  }
  return false;
}

}  // namespace

bool JsonObjectToStruct(const nlohmann::json& object, google::protobuf::Struct* out) {
  out->Clear();
  if (!object.is_object() || !JsonToStructFields(object, out, 1)) {
    out->Clear();
    return false;
  }
  return true;
}

void Appraisal::ToProto(attestation::v1::AttestResponse* out) const {
  out->set_verdict(ToProtoVerdict(verdict));
  for (const auto& c : bundle_checks) FillCheck(c, out->add_checks());
  for (const auto& r : reasons) out->add_reasons(r);
  out->set_policy_id(absl::StrCat(policy_id, "@", policy_version));
  out->set_policy_sha256(policy_sha256);
  if (runtime_claims.has_value()) {
    out->mutable_runtime_claims()->insert(runtime_claims->begin(), runtime_claims->end());
  }
  for (const auto& d : devices) {
    auto* s = out->add_submods();
    s->set_name(d.device.name);
    s->set_status(ToProtoVerdict(d.status));
    s->set_tee(d.device.tee);
    // Claims are plain JSON objects of our making; a failed mapping (not
    // UTF-8, absurd depth) leaves the Struct empty, as before.
    (void)JsonObjectToStruct(d.device.claims, d.device.evidence_authentic
                                                  ? s->mutable_claims()
                                                  : s->mutable_unverified_claims());
    for (const auto& c : d.device.checks) FillCheck(c, s->add_checks());
    for (const auto& [k, v] : d.trust_vector) (*s->mutable_trust_vector())[k] = v;
  }
}

nlohmann::json Appraisal::EarClaims(const attestation::v1::Jwk* tee_key,
                                    const std::string& verifier_developer,
                                    const EarOptions& options) const {
  const bool full = options.profile == TokenProfile::kFull;
  nlohmann::json j;
  j["eat_profile"] = "tag:github.com,2023:veraison/ear";
  j["token_profile"] = std::string(TokenProfileName(options.profile));
  // The full appraisal result, by hash: the Attest response carries it
  // (result_json); a relying party holding both can check that they belong
  // together whatever this profile left out.
  if (!options.result_sha256.empty()) {
    j["appraisal_sha256"] = options.result_sha256;
  } else if (absl::StatusOr<std::string> result = CanonicalResultJson(); result.ok()) {
    j["appraisal_sha256"] = HexEncode(crypto::Sha256(AsBytes(*result)));
  }
  if (nonce.has_value()) j["eat_nonce"] = Base64UrlEncode(*nonce);
  j["ear.verifier-id"] = {
      {"developer", verifier_developer},
      {"build", simulated ? "attestation-rp 0.1.0 (SIMULATED EVIDENCE)" : "attestation-rp 0.1.0"}};
  j["ear.status"] = std::string(VerdictName(verdict));
  // cnf only when the report data was checked to commit to this key, and
  // only the members the commitment covers: the RFC 7638 thumbprint of an
  // EC key is over crv, kty, x, y; of an RSA key over e, kty, n. Anything
  // else the bundle's JWK carries was never bound and is dropped. The one
  // addition is `alg`, which we set from kty (never copied from the bundle):
  // how a key-release gate wraps a secret to this key (ECDH-ES+A256KW for
  // EC, RSA-OAEP-256 for RSA; Trustee's TeePubKey requires it). `alg` is not
  // a thumbprint member, so the attest-v1 binding is unchanged.
  // `sub` = "tee:" + base64url(RFC 7638 SHA-256 thumbprint of that key):
  // stable for the key, present exactly when cnf is (docs/token.md).
  if (key_bound && tee_key != nullptr && !tee_key->kty().empty()) {
    nlohmann::json jwk = {{"kty", tee_key->kty()}};
    std::vector<std::pair<const char*, std::string>> members;
    const char* alg = nullptr;
    if (tee_key->kty() == "EC") {
      members = {{"crv", tee_key->crv()}, {"x", tee_key->x()}, {"y", tee_key->y()}};
      alg = "ECDH-ES+A256KW";
    } else if (tee_key->kty() == "RSA") {
      members = {{"n", tee_key->n()}, {"e", tee_key->e()}};
      alg = "RSA-OAEP-256";
    }
    for (const auto& [k, v] : members) {
      if (!v.empty()) jwk[k] = v;
    }
    if (alg != nullptr) {
      // The binding computed this thumbprint already (over the same members);
      // a key whose thumbprint cannot be computed was never bound, so it gets
      // neither cnf nor sub.
      const absl::StatusOr<Bytes> thumbprint = crypto::JwkThumbprintSha256(
          {tee_key->kty(), tee_key->crv(), tee_key->x(), tee_key->y(), tee_key->n(),
           tee_key->e()});
      if (thumbprint.ok()) {
        jwk["alg"] = alg;
        j["cnf"] = {{"jwk", jwk}};
        j["sub"] = absl::StrCat("tee:", Base64UrlEncode(*thumbprint));
      }
    }
  }
  const std::string policy_ref = absl::StrCat("policy:", policy_id, "@", policy_version);
  nlohmann::json submods = nlohmann::json::object();
  for (const auto& d : devices) {
    nlohmann::json s;
    s["ear.status"] = std::string(VerdictName(d.status));
    s["ear.trustworthiness-vector"] = d.trust_vector;
    s["ear.appraisal-policy-id"] = policy_ref;
    s["tee"] = d.device.tee;
    // Claims of evidence whose signature or chain did not verify were
    // decoded from bytes nobody vouches for: they never enter a token.
    if (!d.device.evidence_authentic) {
      s["claims"] = nlohmann::json::object();
      s["claims-omitted"] = "evidence-not-authentic";
    } else if (full) {
      s["claims"] = d.device.claims;
      if (s["claims"].is_object()) {
        // Raw GPU measurements (64 per GPU) and per-index comparison records
        // stay in the Attest response even in the full profile. The verdict
        // on them is in measurements_match / mismatched_indices.
        s["claims"].erase("measurements");
        s["claims"].erase("mismatch_records");
      }
    } else {
      // Compact: the key claims of this evidence type and those the
      // policy's release rules name, as they are (whole top-level members).
      nlohmann::json kept = nlohmann::json::object();
      if (d.device.claims.is_object()) {
        const std::set<std::string>& key = CompactKeyClaims(d.device.tee);
        for (auto it = d.device.claims.begin(); it != d.device.claims.end(); ++it) {
          if (it.key() == "measurements" || it.key() == "mismatch_records") continue;
          if (key.contains(it.key()) || options.extra_claims.contains(it.key())) {
            kept[it.key()] = *it;
          }
        }
      }
      s["claims"] = std::move(kept);
    }
    if (full || options.extra_device_members.contains("reasons")) {
      std::vector<std::string> rs;
      for (const auto& c : d.device.checks) {
        if (c.status != core::CheckStatus::kPass && c.affects_status) rs.push_back(c.reason);
      }
      s["reasons"] = rs;
    }
    if (full || options.extra_device_members.contains("collateral")) {
      // Hashes of every piece of collateral the verification relied on, so a
      // relying party can audit (and pin) what the verdict was based on.
      s["collateral"] = CollateralJson(d.device.collateral);
    }
    submods[d.device.name] = s;
  }
  j["submods"] = submods;
  j["policy"] = {{"id", policy_id}, {"version", policy_version}, {"sha256", policy_sha256}};
  // The binding profile only when the binding was verified (release rules
  // test `binding eq attest-v1`).
  if (binding_verified) j["binding"] = binding;
  // Runtime claims only as bound by attest-v2 (docs/binding.md): the CPU
  // report data commits to exactly these members and values.
  if (runtime_claims.has_value()) j["runtime_claims"] = *runtime_claims;
  j["reasons"] = reasons;
  return j;
}

}  // namespace rp::policy
