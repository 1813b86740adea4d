#include "admission/webhook.h"

#include <fstream>
#include <sstream>
#include <string>

#include "admission/fleet/node_store.h"
#include "admission/fleet/registry.h"
#include "gtest/gtest.h"
#include "policy/appraisal.h"
#include "prometheus/text_serializer.h"

namespace rp::admission {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1767225600);

// The digests of admission/testdata/make_fixtures.py's two initdata files.
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

std::string ReadFixture(const std::string& name) {
  std::ifstream in(std::string(RP_SOURCE_DIR) + "/admission/testdata/" + name);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class WebhookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto p = policy::ParsePolicy(kPolicy, "k8s-test");
    ASSERT_TRUE(p.ok()) << p.status();
    policy_ = std::make_shared<const policy::LoadedPolicy>(*std::move(p));
    fleet::FleetOptions fo;
    fo.freshness = absl::Minutes(10);
    auto reg = fleet::FleetRegistry::Create(fo, store_, clock_);
    ASSERT_TRUE(reg.ok());
    fleet_ = *std::move(reg);
    Attested("gpu-node-1", "affirming", kNow - absl::Minutes(1));
    Attested("gpu-node-stale", "affirming", kNow - absl::Minutes(11));
    Attested("gpu-node-bad", "contraindicated", kNow - absl::Minutes(1));
    WebhookOptions o;
    o.runtime_classes = {"kata-qemu-tdx", "kata-qemu-snp", "kata-qemu-nvidia-gpu-tdx"};
    o.metrics = &metrics_;
    webhook_ = std::make_unique<AdmissionWebhook>(
        o, WebhookDeps{*fleet_, [this] { return policy_; }});
  }

  void Attested(const std::string& node, const std::string& verdict, absl::Time at,
                const std::string& policy_id = "k8s-test") {
    fleet::NodeRecord r;
    r.node = node;
    r.verdict = verdict;
    r.attested_at = at;
    r.token_expires_at = at + absl::Minutes(5);
    r.token_jti = "jti-" + node;
    r.policy_id = policy_id;
    r.policy_sha256 = policy_->sha256_hex;
    r.claims = {{"ear.status", verdict},
                {"policy", {{"id", policy_id}, {"version", "3"}, {"sha256", policy_->sha256_hex}}},
                {"runtime_claims", {{"node", node}}},
                {"submods", {{"cpu0", {{"ear.status", verdict}, {"tee", "tdx"}}}}}};
    ASSERT_TRUE(fleet_->Record(std::move(r)).ok());
  }

  nlohmann::json Review(const std::string& body, int* http = nullptr) {
    const WebhookReply r = webhook_->Review(body);
    if (http != nullptr) *http = r.http_status;
    return nlohmann::json::parse(r.body);
  }

  FakeClock clock_{kNow};
  fleet::InMemoryNodeStore store_{100};
  std::unique_ptr<fleet::FleetRegistry> fleet_;
  std::shared_ptr<const policy::LoadedPolicy> policy_;
  prometheus::Registry metrics_;
  std::unique_ptr<AdmissionWebhook> webhook_;
};

// Every golden fixture against expected.json: HTTP status, allowed, status
// code and reason; uid echoed; warnings <= 120 characters; audit annotations.
TEST_F(WebhookTest, GoldenFixtures) {
  const nlohmann::json expected = nlohmann::json::parse(ReadFixture("expected.json"));
  ASSERT_GE(expected.size(), 20u);
  for (const auto& [name, want] : expected.items()) {
    SCOPED_TRACE(name);
    const std::string body = ReadFixture(name + ".json");
    ASSERT_FALSE(body.empty());
    int http = 0;
    const nlohmann::json got = Review(body, &http);
    EXPECT_EQ(http, want["http"].get<int>()) << got.dump();
    EXPECT_EQ(got["apiVersion"], "admission.k8s.io/v1");
    EXPECT_EQ(got["kind"], "AdmissionReview");
    const nlohmann::json& resp = got["response"];
    EXPECT_EQ(resp["allowed"], want["allowed"]) << resp.dump();
    const nlohmann::json request =
        nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    const std::string uid = want.contains("uid") ? want["uid"].get<std::string>()
                                                 : request["request"]["uid"].get<std::string>();
    EXPECT_EQ(resp["uid"], uid);
    if (want.contains("code")) {
      EXPECT_EQ(resp["status"]["code"], want["code"]) << resp.dump();
      EXPECT_EQ(resp["status"]["reason"], want["reason"]) << resp.dump();
      EXPECT_EQ(resp["status"]["message"].get<std::string>().rfind(want["reason"], 0), 0u)
          << "the message starts with the reason code";
    } else {
      EXPECT_FALSE(resp.contains("status")) << resp.dump();
    }
    for (const auto& w : resp.value("warnings", nlohmann::json::array())) {
      EXPECT_LE(w.get<std::string>().size(), kMaxWarningChars) << w;
    }
    if (http == 200 && name.find("ignored") == std::string::npos) {
      EXPECT_EQ(resp["auditAnnotations"]["policy"], "k8s-test@3") << resp.dump();
      EXPECT_EQ(resp["auditAnnotations"]["policy-sha256"], policy_->sha256_hex);
      EXPECT_FALSE(resp["auditAnnotations"]["decision"].get<std::string>().empty());
    }
  }
}

// dryRun: the same decision as without it, and no state changes (the
// webhook has none to change: sideEffects None). The registry is untouched.
TEST_F(WebhookTest, DryRunAnswersTheSameWithoutSideEffects) {
  nlohmann::json dry = nlohmann::json::parse(ReadFixture("binding_dry_run_attested.json"));
  nlohmann::json wet = dry;
  wet["request"]["dryRun"] = false;
  const auto before = fleet_->Snapshot();
  const nlohmann::json a = Review(dry.dump());
  const nlohmann::json b = Review(wet.dump());
  EXPECT_EQ(a["response"]["allowed"], b["response"]["allowed"]);
  EXPECT_EQ(a["response"].value("status", nlohmann::json()),
            b["response"].value("status", nlohmann::json()));
  const auto after = fleet_->Snapshot();
  ASSERT_EQ(before.size(), after.size());
  for (size_t i = 0; i < before.size(); ++i) EXPECT_EQ(before[i], after[i]);
}

// Missing state is an explicit allowed:false with 503, never a hang or an
// allow: the policy not loaded, its rule missing, the fleet view not synced.
TEST_F(WebhookTest, MissingStateIs503) {
  const std::string binding = ReadFixture("binding_attested.json");
  const std::string pod = ReadFixture("pod_create_allowed_tdx.json");
  {
    auto none = std::make_unique<AdmissionWebhook>(
        WebhookOptions{{"kata-qemu-nvidia-gpu-tdx"}, "k8s/admission", {}, nullptr},
        WebhookDeps{*fleet_, [] { return std::shared_ptr<const policy::LoadedPolicy>(); }});
    for (const std::string* body : {&binding, &pod}) {
      const nlohmann::json r = nlohmann::json::parse(none->Review(*body).body);
      EXPECT_EQ(r["response"]["allowed"], false);
      EXPECT_EQ(r["response"]["status"]["code"], 503);
      EXPECT_EQ(r["response"]["status"]["reason"], kReasonPolicyUnavailable);
    }
  }
  {
    auto other_rule = std::make_unique<AdmissionWebhook>(
        WebhookOptions{{"kata-qemu-nvidia-gpu-tdx"}, "k8s/other", {}, nullptr},
        WebhookDeps{*fleet_, [this] { return policy_; }});
    const nlohmann::json r = nlohmann::json::parse(other_rule->Review(binding).body);
    EXPECT_EQ(r["response"]["status"]["code"], 503);
    EXPECT_EQ(r["response"]["status"]["reason"], kReasonRuleMissing);
  }
  {
    // A store the replicas share, never synced: the view is unavailable.
    class NeverSynced : public fleet::NodeStore {
     public:
      absl::Status Put(const fleet::NodeRecord&) override { return absl::OkStatus(); }
      absl::StatusOr<std::optional<fleet::NodeRecord>> Get(std::string_view) const override {
        return std::optional<fleet::NodeRecord>();
      }
      absl::StatusOr<std::vector<fleet::NodeRecord>> List() const override {
        return absl::UnavailableError("down");
      }
      bool shared() const override { return true; }
      std::string Describe() const override { return "never synced"; }
    } shared;
    auto reg = fleet::FleetRegistry::Create({}, shared, clock_);
    ASSERT_TRUE(reg.ok());
    AdmissionWebhook w(WebhookOptions{{"kata-qemu-nvidia-gpu-tdx"}, "k8s/admission", {}, nullptr},
                       WebhookDeps{**reg, [this] { return policy_; }});
    const nlohmann::json r = nlohmann::json::parse(w.Review(binding).body);
    EXPECT_EQ(r["response"]["allowed"], false);
    EXPECT_EQ(r["response"]["status"]["code"], 503);
    EXPECT_EQ(r["response"]["status"]["reason"], kReasonFleetUnavailable);
    // A definite denial wins over missing state.
    const nlohmann::json p =
        nlohmann::json::parse(w.Review(ReadFixture("pod_create_node_name_attested.json")).body);
    EXPECT_EQ(p["response"]["status"]["code"], 503);  // only the node part is unknown
    nlohmann::json runc = nlohmann::json::parse(ReadFixture("pod_create_node_name_attested.json"));
    runc["request"]["object"]["spec"]["runtimeClassName"] = "runc";
    const nlohmann::json q = nlohmann::json::parse(w.Review(runc.dump()).body);
    EXPECT_EQ(q["response"]["status"]["code"], 403);
    EXPECT_EQ(q["response"]["status"]["reason"], kReasonRuntimeClassNotAllowed);
  }
}

// The binding rule is pinned to the admission policy: a fresh affirming
// record from another policy does not admit.
TEST_F(WebhookTest, RecordFromAnotherPolicyIsNotAffirming) {
  Attested("gpu-node-1", "affirming", kNow, "dev");
  const nlohmann::json r = Review(ReadFixture("binding_attested.json"));
  EXPECT_EQ(r["response"]["allowed"], false);
  EXPECT_EQ(r["response"]["status"]["reason"], kReasonNodeNotAffirming);
}

// A node whose record turns stale is denied from then on; a failing
// attestation replaces an affirming record at once.
TEST_F(WebhookTest, FreshnessAndTheLatestVerdictDecide) {
  const std::string binding = ReadFixture("binding_attested.json");
  EXPECT_EQ(Review(binding)["response"]["allowed"], true);
  clock_.Advance(absl::Minutes(9) + absl::Seconds(1));
  EXPECT_EQ(Review(binding)["response"]["status"]["reason"], kReasonNodeAttestationStale);
  Attested("gpu-node-1", "affirming", clock_.Now());
  EXPECT_EQ(Review(binding)["response"]["allowed"], true);
  Attested("gpu-node-1", "contraindicated", clock_.Now() + absl::Seconds(1));
  EXPECT_EQ(Review(binding)["response"]["status"]["reason"], kReasonNodeNotAffirming);
}

TEST_F(WebhookTest, WarningsForAllowedButImperfectNodes) {
  Attested("gpu-node-1", "warning", kNow);
  const nlohmann::json r = Review(ReadFixture("binding_attested.json"));
  EXPECT_EQ(r["response"]["allowed"], true);
  ASSERT_TRUE(r["response"].contains("warnings"));
  EXPECT_NE(r["response"]["warnings"][0].get<std::string>().find("verdict warning"),
            std::string::npos);
  // Unexpected resources are passed with a warning (the configuration's
  // rules send only pods and pods/binding).
  nlohmann::json status = nlohmann::json::parse(ReadFixture("pod_update_ignored.json"));
  status["request"]["subResource"] = "status";
  const nlohmann::json s = Review(status.dump());
  EXPECT_EQ(s["response"]["allowed"], true);
  EXPECT_LE(s["response"]["warnings"][0].get<std::string>().size(), kMaxWarningChars);
}

TEST_F(WebhookTest, MalformedInputIsA400ReviewNeverAnAllow) {
  const std::string bodies[] = {
      "",
      "[]",
      "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\"}",
      "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{}}",
      "{\"apiVersion\":\"admission.k8s.io/v1\",\"apiVersion\":\"admission.k8s.io/v1\"}",
      "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":"
      "\"x\",\"uid\":\"y\"}}",
      std::string(100, '[') + std::string(100, ']'),
      "{\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"x\"}}",
  };
  for (const std::string& b : bodies) {
    int http = 0;
    const nlohmann::json r = Review(b, &http);
    EXPECT_EQ(http, 400) << b.substr(0, 60);
    EXPECT_EQ(r["response"]["allowed"], false);
    EXPECT_EQ(r["response"]["status"]["code"], 400);
  }
}

TEST_F(WebhookTest, MetricsCountDecisions) {
  Review(ReadFixture("binding_attested.json"));
  Review(ReadFixture("binding_unknown.json"));
  Review(ReadFixture("malformed.json"));
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, metrics_.Collect());
  const std::string text = out.str();
  EXPECT_NE(text.find("rp_admission_reviews_total{decision=\"allowed\",kind=\"binding\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("rp_admission_reviews_total{decision=\"denied\",kind=\"binding\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("decision=\"bad_request\""), std::string::npos);
}

TEST(WebhookHelpers, ImagePinnedByDigest) {
  const std::string hex64(64, 'a');
  EXPECT_TRUE(ImagePinnedByDigest("registry.example.com/a/b@sha256:" + hex64));
  EXPECT_TRUE(ImagePinnedByDigest("b:1.0@sha256:" + hex64));  // tag and digest
  EXPECT_TRUE(ImagePinnedByDigest("b@sha512:" + std::string(128, '0')));
  EXPECT_FALSE(ImagePinnedByDigest("nginx:1.27"));
  EXPECT_FALSE(ImagePinnedByDigest("nginx"));
  EXPECT_FALSE(ImagePinnedByDigest("@sha256:" + hex64));
  EXPECT_FALSE(ImagePinnedByDigest("b@sha256:" + std::string(63, 'a')));
  EXPECT_FALSE(ImagePinnedByDigest("b@sha256:" + std::string(64, 'A')));  // lower-case hex only
  EXPECT_FALSE(ImagePinnedByDigest("b@md5:" + std::string(32, 'a')));
}

TEST(WebhookHelpers, CapWarning) {
  EXPECT_EQ(CapWarning("short"), "short");
  const std::string w = CapWarning(std::string(300, 'x'));
  EXPECT_EQ(w.size(), 120u);
  EXPECT_EQ(w.substr(117), "...");
  // Characters, not bytes: 120 two-byte characters fit.
  std::string umlauts;
  for (int i = 0; i < 120; ++i) umlauts += "\u00fc";
  EXPECT_EQ(CapWarning(umlauts), umlauts);
  const std::string cut = CapWarning(umlauts + "\u00fc");
  EXPECT_EQ(cut.size(), 117u * 2 + 3);
}

}  // namespace
}  // namespace rp::admission
