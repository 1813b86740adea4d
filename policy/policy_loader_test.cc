#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "policy/appraisal.h"

namespace rp::policy {
namespace {

TEST(PolicyLoader, DefaultPolicyLoads) {
  LoadedPolicy p = DefaultPolicy();
  EXPECT_EQ(p.id, "default");
  EXPECT_EQ(p.version, "1");
  EXPECT_EQ(p.sha256_hex.size(), 64u);
  EXPECT_FALSE(p.policy.sev_snp().allow_debug());
  EXPECT_FALSE(p.policy.allow_simulated());
}

TEST(PolicyLoader, YamlAndJsonGiveTheSamePolicy) {
  auto y = ParsePolicy(
      "id: p1\nversion: '3'\nsev_snp:\n  max_vmpl: 0\n  measurements:\n"
      "    - 8922ebbdd00ec2c541f36a6e7a82a8773a7accb451ed67bc94e740dbe92c93c4e8c9af857f5ceeb5a493df2a570d7bf0\n",
      "p1.yaml");
  ASSERT_TRUE(y.ok()) << y.status();
  auto j = ParsePolicy(
      R"({"id":"p1","version":"3","sev_snp":{"max_vmpl":0,"measurements":["8922ebbdd00ec2c541f36a6e7a82a8773a7accb451ed67bc94e740dbe92c93c4e8c9af857f5ceeb5a493df2a570d7bf0"]}})",
      "p1.json");
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ(y->policy.SerializeAsString(), j->policy.SerializeAsString());
  EXPECT_TRUE(y->policy.sev_snp().has_max_vmpl());
  EXPECT_EQ(y->policy.sev_snp().max_vmpl(), 0);
}

struct BadCase {
  const char* text;
  const char* expect;  // substring of the error
};

TEST(PolicyLoader, PreciseErrors) {
  const BadCase cases[] = {
      {"version: 1\n", "id: required"},
      {"id: x\nunknown_knob: 1\n", "unknown_knob"},
      {"id: x\nallowed_bindings: [attest-v3]\n", "allowed_bindings[0]"},
      {"id: x\nallowed_bindings: [nonce, nonce]\n", "duplicate"},
      {"id: x\nsev_snp: {max_vmpl: 4}\n", "sev_snp.max_vmpl"},
      {"id: x\ncollateral_grace_seconds: -1\n", "collateral_grace_seconds"},
      {"id: x\ncollateral_grace_seconds: 2592001\n", "collateral_grace_seconds"},
      {"id: x\nsev_snp: {min_version: 1}\n", "sev_snp.min_version"},
      {"id: x\nsev_snp: {measurements: [abcd]}\n", "sev_snp.measurements[0]"},
      {"id: x\nsev_snp: {host_data: [zz]}\n", "sev_snp.host_data[0]"},
      {"id: x\nsev_snp: {allow_debug: maybe}\n", "allow_debug"},
      {"- a\n- b\n", "top level must be a mapping"},
      {"id: [unclosed\n", "bad.yaml"},
  };
  for (const auto& c : cases) {
    auto p = ParsePolicy(c.text, "bad.yaml");
    ASSERT_FALSE(p.ok()) << c.text;
    EXPECT_NE(std::string(p.status().message()).find(c.expect), std::string::npos)
        << c.text << " -> " << p.status();
    EXPECT_NE(std::string(p.status().message()).find("bad.yaml"), std::string::npos);
  }
}

TEST(PolicyLoader, HashTracksTheDocument) {
  auto a = ParsePolicy("id: x\n", "a");
  auto b = ParsePolicy("id: x\n# comment\n", "b");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->sha256_hex, b->sha256_hex);
}

TEST(PolicyLoader, CollateralGraceDefaultsToZeroAndAcceptsThirtyDays) {
  EXPECT_EQ(DefaultPolicy().policy.collateral_grace_seconds(), 0);
  auto p = ParsePolicy("id: x\ncollateral_grace_seconds: 2592000\n", "p.yaml");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->policy.collateral_grace_seconds(), 2592000);
}

// Found by tests/fuzz/policy_yaml_fuzzer: a scalar that is not valid UTF-8
// made the YAML -> JSON step throw out of ParsePolicy (std::terminate).
TEST(PolicyLoader, InvalidUtf8IsAnErrorNotACrash) {
  const std::string doc = std::string("id: gpu-on") + "\xff\xfe" + "ly\nversion: \"1\"\n";
  auto p = ParsePolicy(doc, "bad.yaml");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(p.status().message().find("UTF-8"), std::string::npos) << p.status();
}

}  // namespace
}  // namespace rp::policy
