// libFuzzer target: the Kubernetes AdmissionReview webhook
// (admission/webhook.h AdmissionWebhook::Review: strict JSON, pods and
// pods/binding, CoCo initdata base64 -> gzip -> TOML). Fixture as in
// webhook_test.cc: a policy with one allowed TDX mrconfigid / SNP host_data,
// a fleet with a fresh affirming node "gpu-node-1", a stale node and a
// contraindicated node.
// Invariants: no crash / sanitizer report; the reply is a JSON
// AdmissionReview v1 with a boolean response.allowed; HTTP 200, 400 or
// 503, and allowed only with 200; a denial carries status.code and a reason
// the message starts with; warnings <= 120 characters; fail closed: a
// pods/binding CREATE is allowed only to the one fresh affirming node.
#include <cstdint>
#include <memory>
#include <string>

#include "admission/fleet/node_store.h"
#include "admission/fleet/registry.h"
#include "admission/webhook.h"
#include "nlohmann/json.hpp"
#include "policy/appraisal.h"
#include "tests/fuzz/fuzz_util.h"
#include "verifier/common/clock.h"

namespace {
constexpr char kT[] = "admission_review_fuzzer";
using rp::fuzz::Fail;
namespace adm = rp::admission;

const absl::Time kNow = absl::FromUnixSeconds(1767225600);
constexpr char kPolicy[] =
    "id: k8s-test\n"
    "version: \"3\"\n"
    "tdx:\n"
    "  mrconfigid: [056ac2feddb7929e0b806e5555851868f701e37efb6e8f41b0603b16511638979fe7236cc2648"
    "cc745f2dfb5ab221e80]\n"
    "sev_snp:\n"
    "  host_data: [298ED62FC75E0DFBD0CEF4A798C371563662E3759FCFDDB8AA19EDB4BC702A8B]\n"
    "release_rules:\n"
    "  - name: k8s/admission\n"
    "    all_of:\n"
    "      - {claim: /ear.status, op: in, values: [affirming, warning]}\n"
    "      - {claim: /runtime_claims/node, op: exists, value: \"true\"}\n";

struct Fixture {
  rp::FakeClock clock{kNow};
  adm::fleet::InMemoryNodeStore store{100};
  std::unique_ptr<adm::fleet::FleetRegistry> fleet;
  std::shared_ptr<const rp::policy::LoadedPolicy> policy;
  std::unique_ptr<adm::AdmissionWebhook> webhook;

  Fixture() {
    auto p = rp::policy::ParsePolicy(kPolicy, "k8s-test");
    if (!p.ok()) Fail(kT, "fixture policy");
    policy = std::make_shared<const rp::policy::LoadedPolicy>(*std::move(p));
    adm::fleet::FleetOptions fo;
    fo.freshness = absl::Minutes(10);
    auto reg = adm::fleet::FleetRegistry::Create(fo, store, clock);
    if (!reg.ok()) Fail(kT, "fixture registry");
    fleet = *std::move(reg);
    Attested("gpu-node-1", "affirming", kNow - absl::Minutes(1));
    Attested("gpu-node-stale", "affirming", kNow - absl::Minutes(11));
    Attested("gpu-node-bad", "contraindicated", kNow - absl::Minutes(1));
    adm::WebhookOptions o;
    o.runtime_classes = {"kata-qemu-tdx", "kata-qemu-snp", "kata-qemu-nvidia-gpu-tdx"};
    webhook = std::make_unique<adm::AdmissionWebhook>(
        o, adm::WebhookDeps{*fleet, [this] { return policy; }});
  }

  void Attested(const std::string& node, const std::string& verdict, absl::Time at) {
    adm::fleet::NodeRecord r;
    r.node = node;
    r.verdict = verdict;
    r.attested_at = at;
    r.token_expires_at = at + absl::Minutes(5);
    r.token_jti = "jti-" + node;
    r.policy_id = "k8s-test";
    r.policy_sha256 = policy->sha256_hex;
    r.claims = {{"ear.status", verdict},
                {"policy", {{"id", "k8s-test"}, {"version", "3"}, {"sha256", policy->sha256_hex}}},
                {"runtime_claims", {{"node", node}}},
                {"submods", {{"cpu0", {{"ear.status", verdict}, {"tee", "tdx"}}}}}};
    if (!fleet->Record(std::move(r)).ok()) Fail(kT, "fixture record");
  }
};

size_t Utf8Chars(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

const nlohmann::json* Path(const nlohmann::json& j, std::initializer_list<const char*> keys) {
  const nlohmann::json* cur = &j;
  for (const char* k : keys) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(k);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture* f = new Fixture();
  const std::string_view body = rp::fuzz::AsText(data, size);
  const adm::WebhookReply r = f->webhook->Review(body);
  if (r.http_status != 200 && r.http_status != 400 && r.http_status != 503) Fail(kT, "HTTP status");
  const nlohmann::json out = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (out.is_discarded() || !out.is_object()) Fail(kT, "reply is not a JSON object");
  if (out.value("apiVersion", "") != "admission.k8s.io/v1" || out.value("kind", "") != "AdmissionReview") {
    Fail(kT, "reply is not an AdmissionReview v1");
  }
  const nlohmann::json* allowed = Path(out, {"response", "allowed"});
  if (allowed == nullptr || !allowed->is_boolean()) Fail(kT, "response.allowed missing");
  const bool ok = allowed->get<bool>();
  if (ok && r.http_status != 200) Fail(kT, "allowed with a non-200 status");
  if (!ok) {
    const nlohmann::json* code = Path(out, {"response", "status", "code"});
    const nlohmann::json* reason = Path(out, {"response", "status", "reason"});
    const nlohmann::json* msg = Path(out, {"response", "status", "message"});
    if (code == nullptr || !code->is_number_integer() || reason == nullptr || !reason->is_string() ||
        msg == nullptr || !msg->is_string() ||
        msg->get<std::string>().rfind(reason->get<std::string>(), 0) != 0) {
      Fail(kT, "a denial without code / reason / message starting with the reason");
    }
  }
  if (const nlohmann::json* w = Path(out, {"response", "warnings"}); w != nullptr) {
    for (const auto& s : *w) {
      if (!s.is_string() || Utf8Chars(s.get<std::string>()) > adm::kMaxWarningChars) {
        Fail(kT, "warning longer than 120 characters");
      }
    }
  }
  if (ok) {
    // Fail closed for bindings: only the fresh affirming node may be a target.
    const nlohmann::json in = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    const nlohmann::json* req = Path(in, {"request"});
    auto str = [&](std::initializer_list<const char*> keys) -> std::string {
      const nlohmann::json* v = req ? Path(*req, keys) : nullptr;
      return v != nullptr && v->is_string() ? v->get<std::string>() : std::string();
    };
    if (req != nullptr && str({"operation"}) == "CREATE" && str({"resource", "group"}).empty() &&
        str({"resource", "resource"}) == "pods" && str({"subResource"}) == "binding" &&
        str({"object", "target", "name"}) != "gpu-node-1") {
      Fail(kT, "a binding to a node that is not fresh and affirming was allowed");
    }
  }
  return 0;
}
