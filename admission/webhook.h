// The Kubernetes validating admission webhook (docs/admission.md): one
// AdmissionReview (admission.k8s.io/v1) in, one out. Transport-free: the
// server serves it on HTTPS POST /k8s/validate (server/admission_http.h).
//
// What it checks (the namespaceSelector of the webhook configuration
// decides which namespaces' requests arrive; every request that arrives is
// checked):
//  - Pod CREATE: runtimeClassName in the allowlist; the CoCo initdata
//    annotation present, decodable (base64 -> gzip -> TOML, size-capped)
//    and its digest (by its declared algorithm) in the admission policy's
//    allowed SEV-SNP host_data / TDX mrconfigid set (per the runtime class:
//    "...tdx..." -> mrconfigid, "...snp..." -> host_data, other -> either);
//    every container / init container / ephemeral container image pinned
//    by digest (@sha256: / @sha384: / @sha512:); spec.nodeName, if set,
//    passes the node check below.
//  - pods/binding CREATE: the target node's registry record must exist, be
//    within the freshness window and satisfy the policy's release rule
//    (default "k8s/admission", pinned to the policy id).
//  - Anything else (UPDATE, DELETE, CONNECT, other resources): allowed
//    without checks (with a warning for unexpected resources).
// Answers:
//  - allowed, or allowed:false with status.code 403 and a stable reason
//    code (status.reason; the message starts with it);
//  - state that is missing (admission policy not loaded, its release rule
//    absent, the fleet view unavailable): allowed:false with status.code
//    503, immediately (never a hang; failurePolicy Fail would deny anyway);
//  - response.uid = request.uid; warnings at most 120 characters each;
//    auditAnnotations "policy" (id@version), "policy-sha256", "decision";
//  - dryRun requests are answered the same way (the webhook has no side
//    effects: sideEffects None);
//  - a body that is not an AdmissionReview v1: HTTP 400 with an
//    AdmissionReview whose response is allowed:false, status.code 400.
// Everything is answered from memory (the registry's view, the policy
// snapshot): no outbound call on the request path.
//
// Thread-safe; immutable after construction.
#ifndef RP_ADMISSION_WEBHOOK_H_
#define RP_ADMISSION_WEBHOOK_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "admission/fleet/registry.h"
#include "admission/initdata.h"
#include "nlohmann/json.hpp"
#include "policy/appraisal.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/registry.h"

namespace rp::admission {

// Reason codes (stable; docs/admission.md).
inline constexpr char kReasonRuntimeClassNotAllowed[] = "RUNTIME_CLASS_NOT_ALLOWED";
inline constexpr char kReasonInitdataMissing[] = "INITDATA_MISSING";
inline constexpr char kReasonInitdataNotAllowed[] = "INITDATA_NOT_ALLOWED";
inline constexpr char kReasonImageNotPinned[] = "IMAGE_NOT_PINNED";
inline constexpr char kReasonNodeNotAttested[] = "NODE_NOT_ATTESTED";
inline constexpr char kReasonNodeAttestationStale[] = "NODE_ATTESTATION_STALE";
inline constexpr char kReasonNodeNotAffirming[] = "NODE_NOT_AFFIRMING";
inline constexpr char kReasonBindingTargetInvalid[] = "BINDING_TARGET_INVALID";
inline constexpr char kReasonPodMalformed[] = "POD_MALFORMED";
inline constexpr char kReasonFleetUnavailable[] = "FLEET_STATE_UNAVAILABLE";    // 503
inline constexpr char kReasonPolicyUnavailable[] = "ADMISSION_POLICY_UNAVAILABLE";  // 503
inline constexpr char kReasonRuleMissing[] = "ADMISSION_RULE_MISSING";          // 503
inline constexpr char kReasonMalformedReview[] = "MALFORMED_REVIEW";            // HTTP 400
inline constexpr char kReasonUnsupportedVersion[] = "UNSUPPORTED_REVIEW_VERSION";  // HTTP 400

inline constexpr size_t kMaxWarningChars = 120;
inline constexpr int kMaxReviewDepth = 64;

struct WebhookOptions {
  std::set<std::string, std::less<>> runtime_classes;  // allowed runtimeClassName values
  std::string rule = "k8s/admission";
  InitdataLimits initdata;
  // Counters rp_admission_reviews_total{kind,decision} go here when set
  // (kind: pod | binding | other | invalid; decision: allowed | denied |
  // unavailable | bad_request).
  prometheus::Registry* metrics = nullptr;
};

struct WebhookDeps {
  const fleet::FleetRegistry& fleet;
  // The admission policy as of now (an immutable snapshot), nullptr when it
  // is not loaded. Must be quick and must not block (memory only).
  std::function<std::shared_ptr<const policy::LoadedPolicy>()> policy;
};

struct WebhookReply {
  int http_status = 200;
  std::string body;  // an AdmissionReview (application/json)
};

class AdmissionWebhook {
 public:
  AdmissionWebhook(WebhookOptions options, WebhookDeps deps);

  WebhookReply Review(std::string_view body) const;

 private:
  struct Decision;
  Decision Decide(const nlohmann::json& request) const;
  void CheckNode(std::string_view node, const policy::LoadedPolicy& policy,
                 Decision& d) const;
  void CheckPod(const nlohmann::json& pod, const policy::LoadedPolicy& policy,
                Decision& d) const;
  void Count(std::string_view kind, std::string_view decision) const;

  const WebhookOptions options_;
  const WebhookDeps deps_;
  prometheus::Family<prometheus::Counter>* reviews_ = nullptr;
};

// Cuts `text` to at most kMaxWarningChars characters (UTF-8 aware), with
// "..." at the end when cut.
std::string CapWarning(std::string_view text);

// True for an image reference pinned by digest ("...@sha256:<64 hex>").
bool ImagePinnedByDigest(std::string_view image);

}  // namespace rp::admission

#endif  // RP_ADMISSION_WEBHOOK_H_
