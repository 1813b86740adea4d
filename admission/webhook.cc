#include "admission/webhook.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "policy/release_rules.h"
#include "verifier/common/jcs.h"
#include "verifier/common/strict_json.h"
#include "verifier/core/runtime_claims.h"

namespace rp::admission {
namespace {

constexpr char kApiVersion[] = "admission.k8s.io/v1";
constexpr size_t kMaxUidBytes = 256;
constexpr size_t kMaxStatusMessage = 1024;
constexpr size_t kMaxWarnings = 8;

const nlohmann::json& Member(const nlohmann::json& obj, const char* name) {
  static const nlohmann::json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(name);
  return it == obj.end() ? kNull : *it;
}

std::string StringMember(const nlohmann::json& obj, const char* name) {
  const nlohmann::json& m = Member(obj, name);
  return m.is_string() ? m.get<std::string>() : "";
}

// Printable, bounded text from client-chosen strings (names, images).
std::string Quote(std::string_view s, size_t max = 64) {
  std::string out;
  for (const char c : s.substr(0, max)) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7F ? '?' : c);
  }
  if (!IsValidUtf8(out)) {
    for (char& c : out) {
      if (static_cast<unsigned char>(c) >= 0x80) c = '?';
    }
  }
  if (s.size() > max) out += "...";
  return out;
}

bool HexListContains(const google::protobuf::RepeatedPtrField<std::string>& list,
                     const std::string& hex_lower) {
  return std::any_of(list.begin(), list.end(), [&](const std::string& h) {
    return absl::AsciiStrToLower(h) == hex_lower;
  });
}

nlohmann::json ReviewEnvelope(nlohmann::json response) {
  return {{"apiVersion", kApiVersion}, {"kind", "AdmissionReview"}, {"response", std::move(response)}};
}

}  // namespace

namespace {

// At most `max` characters (UTF-8 lead bytes counted, not bytes: the API
// server's warning limit is in characters), cut at a character boundary
// with "..." at the end when cut.
std::string CapChars(std::string_view text, size_t max) {
  size_t chars = 0, cut = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) continue;  // continuation byte
    if (chars == max - 3) cut = i;
    if (++chars > max) return absl::StrCat(std::string(text.substr(0, cut)), "...");
  }
  return std::string(text);
}

}  // namespace

std::string CapWarning(std::string_view text) { return CapChars(text, kMaxWarningChars); }

bool ImagePinnedByDigest(std::string_view image) {
  const size_t at = image.rfind('@');
  if (at == std::string_view::npos || at == 0) return false;
  const std::string_view digest = image.substr(at + 1);
  for (auto [alg, hex_len] : {std::pair{std::string_view("sha256:"), size_t{64}},
                              std::pair{std::string_view("sha384:"), size_t{96}},
                              std::pair{std::string_view("sha512:"), size_t{128}}}) {
    if (digest.size() != alg.size() + hex_len || digest.substr(0, alg.size()) != alg) continue;
    return std::all_of(digest.begin() + static_cast<std::ptrdiff_t>(alg.size()), digest.end(),
                       [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
  }
  return false;
}

struct AdmissionWebhook::Decision {
  std::string kind = "other";  // pod | binding | other
  std::vector<std::pair<std::string, std::string>> denied_403;  // reason, detail
  std::vector<std::pair<std::string, std::string>> denied_503;
  std::vector<std::string> warnings;
  std::shared_ptr<const policy::LoadedPolicy> policy;

  void Deny(int code, std::string reason, std::string detail) {
    (code == 503 ? denied_503 : denied_403).emplace_back(std::move(reason), std::move(detail));
  }
  void Warn(std::string text) {
    if (warnings.size() < kMaxWarnings) warnings.push_back(CapWarning(text));
  }
  bool allowed() const { return denied_403.empty() && denied_503.empty(); }
};

AdmissionWebhook::AdmissionWebhook(WebhookOptions options, WebhookDeps deps)
    : options_(std::move(options)), deps_(std::move(deps)) {
  if (options_.metrics != nullptr) {
    reviews_ = &prometheus::BuildCounter()
                    .Name("rp_admission_reviews_total")
                    .Help("AdmissionReviews answered, by object kind and decision")
                    .Register(*options_.metrics);
  }
}

void AdmissionWebhook::Count(std::string_view kind, std::string_view decision) const {
  if (reviews_ == nullptr) return;
  reviews_->Add({{"kind", std::string(kind)}, {"decision", std::string(decision)}}).Increment();
}

void AdmissionWebhook::CheckNode(std::string_view node_name, const policy::LoadedPolicy& policy,
                                 Decision& d) const {
  const std::string node(node_name);
  if (!core::IsDnsSubdomain(node)) {
    d.Deny(403, kReasonBindingTargetInvalid,
           absl::StrCat("'", Quote(node), "' is not a node name"));
    return;
  }
  const attestation::v1::ReleaseRule* rule = policy::FindReleaseRule(policy.policy, options_.rule);
  if (rule == nullptr) {
    d.Deny(503, kReasonRuleMissing,
           absl::StrCat("policy ", policy.id, " has no release rule '", options_.rule, "'"));
    return;
  }
  const fleet::NodeLookup l = deps_.fleet.Find(node);
  switch (l.state) {
    case fleet::NodeState::kUnavailable:
      d.Deny(503, kReasonFleetUnavailable,
             "the fleet registry view is not current (shared store not synced); retry");
      return;
    case fleet::NodeState::kMissing:
      d.Deny(403, kReasonNodeNotAttested,
             absl::StrCat("node ", node, " has no attestation record"));
      return;
    case fleet::NodeState::kStale:
      d.Deny(403, kReasonNodeAttestationStale,
             absl::StrCat("node ", node, " last attested ", absl::ToInt64Seconds(l.age),
                          " s ago, freshness window ",
                          absl::ToInt64Seconds(deps_.fleet.options().freshness), " s"));
      return;
    case fleet::NodeState::kFresh:
      break;
  }
  const policy::RuleResult r =
      policy::EvaluatePinnedReleaseRule(policy.policy, *rule, l.record->claims);
  if (!r.allowed) {
    d.Deny(403, kReasonNodeNotAffirming,
           absl::StrCat("node ", node, " (verdict ", l.record->verdict, ") fails rule ",
                        options_.rule, r.failed.empty() ? "" : ": ",
                        r.failed.empty() ? "" : r.failed.front()));
    return;
  }
  if (l.record->verdict != "affirming") {
    d.Warn(absl::StrCat("node ", node, " attested with verdict ", l.record->verdict,
                        " (allowed by rule ", options_.rule, ")"));
  }
  if (l.record->policy_sha256 != policy.sha256_hex) {
    d.Warn(absl::StrCat("node ", node, " was appraised under another revision of policy ",
                        policy.id, "; it re-attests under the current one"));
  }
}

void AdmissionWebhook::CheckPod(const nlohmann::json& pod, const policy::LoadedPolicy& policy,
                                Decision& d) const {
  const nlohmann::json& spec = Member(pod, "spec");
  if (!spec.is_object()) {
    d.Deny(403, kReasonPodMalformed, "the pod has no spec");
    return;
  }
  // (a) Runtime class.
  const std::string runtime_class = StringMember(spec, "runtimeClassName");
  if (!options_.runtime_classes.contains(runtime_class)) {
    d.Deny(403, kReasonRuntimeClassNotAllowed,
           runtime_class.empty()
               ? std::string("no runtimeClassName (a confidential runtime class is required)")
               : absl::StrCat("runtimeClassName '", Quote(runtime_class),
                              "' is not an allowed confidential runtime class"));
  }
  // (b) Initdata: present, decodable, and a digest the policy allows for the
  // runtime class's TEE.
  const nlohmann::json& annotations = Member(Member(pod, "metadata"), "annotations");
  const nlohmann::json& initdata = Member(annotations, kInitdataAnnotation);
  if (!initdata.is_string() || initdata.get<std::string>().empty()) {
    d.Deny(403, kReasonInitdataMissing,
           absl::StrCat("annotation ", kInitdataAnnotation, " is missing"));
  } else {
    const Initdata id = DecodeInitdataAnnotation(initdata.get<std::string>(), options_.initdata);
    if (!id.ok) {
      d.Deny(403, id.reason, id.detail);
    } else {
      const bool tdx = runtime_class.find("tdx") != std::string::npos;
      const bool snp = runtime_class.find("snp") != std::string::npos;
      const bool check_tdx = tdx || !snp, check_snp = snp || !tdx;
      const std::string host_data = HexEncode(id.snp_host_data);
      const std::string mrconfigid = HexEncode(id.tdx_mrconfigid);
      const bool allowed =
          (check_snp && HexListContains(policy.policy.sev_snp().host_data(), host_data)) ||
          (check_tdx && HexListContains(policy.policy.tdx().mrconfigid(), mrconfigid));
      if (!allowed) {
        const bool none_listed =
            (!check_snp || policy.policy.sev_snp().host_data().empty()) &&
            (!check_tdx || policy.policy.tdx().mrconfigid().empty());
        d.Deny(403, kReasonInitdataNotAllowed,
               absl::StrCat("initdata ", id.algorithm, " digest ", HexEncode(id.digest).substr(0, 16),
                            "... is not in policy ", policy.id, "'s ",
                            check_tdx && check_snp ? "host_data / mrconfigid"
                            : check_tdx            ? "tdx.mrconfigid"
                                                   : "sev_snp.host_data",
                            none_listed ? " (the policy lists none)" : " list"));
      }
    }
  }
  // (c) Every image pinned by digest.
  const nlohmann::json& containers = Member(spec, "containers");
  if (!containers.is_array() || containers.empty()) {
    d.Deny(403, kReasonPodMalformed, "the pod has no containers");
  }
  std::vector<std::string> unpinned;
  size_t total_unpinned = 0;
  for (const char* list : {"initContainers", "containers", "ephemeralContainers"}) {
    const nlohmann::json& l = Member(spec, list);
    if (!l.is_array()) continue;
    for (const nlohmann::json& c : l) {
      const nlohmann::json& image = Member(c, "image");
      if (image.is_string() && ImagePinnedByDigest(image.get<std::string>())) continue;
      ++total_unpinned;
      if (unpinned.size() < 3) unpinned.push_back(Quote(StringMember(c, "name"), 32));
    }
  }
  if (total_unpinned > 0) {
    d.Deny(403, kReasonImageNotPinned,
           absl::StrCat(total_unpinned, " container image(s) not pinned by digest (",
                        absl::StrJoin(unpinned, ", "), total_unpinned > unpinned.size() ? ", ..." : "",
                        "); use name@sha256:<digest>"));
  }
  // (d) A pod created with spec.nodeName bypasses the scheduler's binding:
  // the node must pass the binding check here.
  const std::string node = StringMember(spec, "nodeName");
  if (!node.empty()) CheckNode(node, policy, d);
}

AdmissionWebhook::Decision AdmissionWebhook::Decide(const nlohmann::json& request) const {
  Decision d;
  const std::string operation = StringMember(request, "operation");
  const nlohmann::json& resource = Member(request, "resource");
  const std::string group = StringMember(resource, "group");
  const std::string res = StringMember(resource, "resource");
  const std::string sub = StringMember(request, "subResource");
  if (group.empty() && res == "pods" && sub.empty()) {
    d.kind = "pod";
  } else if (group.empty() && res == "pods" && sub == "binding") {
    d.kind = "binding";
  } else {
    d.Warn(absl::StrCat("attestation-rp: ", Quote(group.empty() ? "core" : group, 32), "/",
                        Quote(res, 32), sub.empty() ? "" : "/", Quote(sub, 32),
                        " is not checked by this webhook"));
    return d;
  }
  // Only creation is gated: UPDATE (pod spec fields that matter are
  // immutable), DELETE and CONNECT pass.
  if (operation != "CREATE") return d;
  d.policy = deps_.policy ? deps_.policy() : nullptr;
  if (d.policy == nullptr) {
    d.Deny(503, kReasonPolicyUnavailable, "the admission policy is not loaded");
    return d;
  }
  const nlohmann::json& object = Member(request, "object");
  if (d.kind == "pod") {
    CheckPod(object, *d.policy, d);
    return d;
  }
  const nlohmann::json& target = Member(object, "target");
  const std::string target_kind = StringMember(target, "kind");
  const std::string target_name = StringMember(target, "name");
  if ((!target_kind.empty() && target_kind != "Node") || target_name.empty()) {
    d.Deny(403, kReasonBindingTargetInvalid, "the binding's target is not a named Node");
    return d;
  }
  CheckNode(target_name, *d.policy, d);
  return d;
}

WebhookReply AdmissionWebhook::Review(std::string_view body) const {
  const auto bad_request = [&](const char* reason, std::string detail, std::string uid) {
    Count("invalid", "bad_request");
    nlohmann::json response = {
        {"uid", std::move(uid)},
        {"allowed", false},
        {"status", {{"code", 400}, {"reason", reason}, {"message", absl::StrCat(reason, ": ", detail)}}}};
    return WebhookReply{400, ReviewEnvelope(std::move(response))
                                 .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)};
  };
  absl::StatusOr<nlohmann::json> review =
      ParseStrictJsonObject(AsBytes(body), "AdmissionReview", kMaxReviewDepth);
  if (!review.ok()) {
    return bad_request(kReasonMalformedReview, std::string(review.status().message()), "");
  }
  const nlohmann::json& request = Member(*review, "request");
  const nlohmann::json& uid_member = Member(request, "uid");
  std::string uid = uid_member.is_string() && uid_member.get<std::string>().size() <= kMaxUidBytes
                        ? uid_member.get<std::string>()
                        : "";
  if (StringMember(*review, "apiVersion") != kApiVersion ||
      StringMember(*review, "kind") != "AdmissionReview") {
    return bad_request(kReasonUnsupportedVersion,
                       absl::StrCat("expected apiVersion ", kApiVersion,
                                    ", kind AdmissionReview (admissionReviewVersions: [v1])"),
                       uid);
  }
  if (!request.is_object() || uid.empty()) {
    return bad_request(kReasonMalformedReview, "request or request.uid missing", uid);
  }

  const Decision d = Decide(request);
  nlohmann::json response = {{"uid", uid}, {"allowed", d.allowed()}};
  std::string decision = "allowed";
  if (!d.allowed()) {
    // A definite denial (403) wins over missing state (503): retrying would
    // not change it.
    const bool definite = !d.denied_403.empty();
    const auto& list = definite ? d.denied_403 : d.denied_503;
    std::vector<std::string> parts, codes;
    for (const auto& [reason, detail] : list) {
      parts.push_back(absl::StrCat(reason, ": ", detail));
      codes.push_back(reason);
    }
    std::string message = absl::StrJoin(parts, "; ");
    message = CapChars(message, kMaxStatusMessage);
    response["status"] = {{"code", definite ? 403 : 503},
                          {"reason", list.front().first},
                          {"message", std::move(message)}};
    decision = absl::StrJoin(codes, ",");
    Count(d.kind, definite ? "denied" : "unavailable");
  } else {
    Count(d.kind, "allowed");
  }
  if (!d.warnings.empty()) response["warnings"] = d.warnings;
  nlohmann::json audit = {{"decision", decision}};
  if (d.policy != nullptr) {
    audit["policy"] = absl::StrCat(d.policy->id, "@", d.policy->version);
    audit["policy-sha256"] = d.policy->sha256_hex;
  }
  response["auditAnnotations"] = std::move(audit);
  return WebhookReply{200, ReviewEnvelope(std::move(response))
                              .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)};
}

}  // namespace rp::admission
