#include "admission/fleet/node_record.h"

#include <string>

#include "gtest/gtest.h"

namespace rp::admission::fleet {
namespace {

// The claims of a token as Appraisal::EarClaims + TokenIssuer make them, for
// a TDX node with `gpus` GPUs (trimmed to what the record reads).
nlohmann::json TokenClaims(const std::string& node, int gpus = 8) {
  nlohmann::json submods = {
      {"cpu0", {{"ear.status", "affirming"}, {"tee", "tdx"},
                {"claims", {{"tcb_status", "UpToDate"}, {"mrtd", "00"}}}}}};
  for (int i = 0; i < gpus; ++i) {
    submods["gpu" + std::to_string(i)] = {
        {"ear.status", "affirming"},
        {"tee", "nvidia-gpu"},
        {"claims", {{"driver_version", "550.90.07"}, {"vbios_version", "96.00.9F.00.01"}}}};
  }
  nlohmann::json j = {{"iss", "attestation-rp"},
                      {"iat", 1767225600},
                      {"nbf", 1767225600},
                      {"exp", 1767225900},
                      {"jti", "abc"},
                      {"ear.status", "warning"},
                      {"submods", submods},
                      {"policy", {{"id", "fleet"}, {"version", "1"}, {"sha256", "ab12"}}},
                      {"binding", "attest-v2"}};
  if (!node.empty()) j["runtime_claims"] = {{"node", node}, {"pod_uid", "u1"}};
  return j;
}

TEST(NodeRecord, FromTokenClaims) {
  auto r = RecordFromTokenClaims(TokenClaims("gpu-node-1"));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->has_value());
  const NodeRecord& n = **r;
  EXPECT_EQ(n.node, "gpu-node-1");
  EXPECT_EQ(n.verdict, "warning");
  EXPECT_EQ(n.attested_at, absl::FromUnixSeconds(1767225600));
  EXPECT_EQ(n.token_expires_at, absl::FromUnixSeconds(1767225900));
  EXPECT_EQ(n.tee, "tdx");
  EXPECT_EQ(n.tcb_status, "UpToDate");
  EXPECT_EQ(n.gpu_count, 8);
  EXPECT_EQ(n.switch_count, 0);
  EXPECT_EQ(n.driver_versions, std::vector<std::string>{"550.90.07"});
  EXPECT_EQ(n.vbios_versions, std::vector<std::string>{"96.00.9F.00.01"});
  EXPECT_EQ(n.policy_id, "fleet");
  EXPECT_EQ(n.policy_sha256, "ab12");
  EXPECT_EQ(n.token_jti, "abc");
  EXPECT_EQ(n.binding, "attest-v2");
  EXPECT_EQ(n.claims, TokenClaims("gpu-node-1"));
}

TEST(NodeRecord, NoBoundNodeNoRecord) {
  auto none = RecordFromTokenClaims(TokenClaims(""));
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  nlohmann::json other = TokenClaims("");
  other["runtime_claims"] = {{"workload", "w"}};
  EXPECT_FALSE(RecordFromTokenClaims(other)->has_value());
  nlohmann::json bad = TokenClaims("Bad_Node");
  EXPECT_FALSE(RecordFromTokenClaims(bad).ok());
  nlohmann::json no_status = TokenClaims("n1");
  no_status.erase("ear.status");
  EXPECT_FALSE(RecordFromTokenClaims(no_status).ok());
}

TEST(NodeRecord, SnpTcbSummary) {
  nlohmann::json j = TokenClaims("n1", 0);
  j["submods"]["cpu0"] = {
      {"tee", "sev-snp"},
      {"claims", {{"reported_tcb", {{"bootloader", 3}, {"tee", 0}, {"snp", 8}, {"microcode", 115}}}}}};
  auto r = RecordFromTokenClaims(j);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->tee, "sev-snp");
  EXPECT_EQ((*r)->tcb_status, "bl=3 tee=0 snp=8 ucode=115");
  EXPECT_EQ((*r)->gpu_count, 0);
}

// The JSON form is what a shared store keeps: it must round-trip exactly.
TEST(NodeRecord, JsonRoundTrip) {
  NodeRecord n = **RecordFromTokenClaims(TokenClaims("gpu-node-1"));
  const nlohmann::json j = n.ToJson(true);
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(j["attested_at"], "2026-01-01T00:00:00Z");
  EXPECT_EQ(j["runtime_claims"]["node"], "gpu-node-1");
  auto back = NodeRecord::FromJson(nlohmann::json::parse(j.dump()));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->ToJson(true), j);
  EXPECT_FALSE(n.ToJson(false).contains("claims"));

  for (const char* member : {"version", "node", "verdict", "attested_at", "claims"}) {
    nlohmann::json m = j;
    m.erase(member);
    EXPECT_FALSE(NodeRecord::FromJson(m).ok()) << member;
  }
  nlohmann::json bad = j;
  bad["verdict"] = "great";
  EXPECT_FALSE(NodeRecord::FromJson(bad).ok());
  bad = j;
  bad["gpus"] = -1;
  EXPECT_FALSE(NodeRecord::FromJson(bad).ok());
  bad = j;
  bad["version"] = 2;
  EXPECT_FALSE(NodeRecord::FromJson(bad).ok());
}

TEST(NodeRecord, NewerThan) {
  NodeRecord a = **RecordFromTokenClaims(TokenClaims("n1"));
  NodeRecord b = a;
  b.attested_at += absl::Seconds(1);
  EXPECT_TRUE(b.NewerThan(a));
  EXPECT_FALSE(a.NewerThan(b));
  b = a;
  b.token_jti = "abd";  // same second: the jti breaks the tie, the same way everywhere
  EXPECT_TRUE(b.NewerThan(a));
  EXPECT_FALSE(a.NewerThan(a));
}

}  // namespace
}  // namespace rp::admission::fleet
