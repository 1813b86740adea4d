#include "verifier/core/runtime_claims.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace rp::core {
namespace {

TEST(RuntimeClaims, AcceptsTypicalClaims) {
  RuntimeClaims c = {{"node", "gpu-node-1"},
                     {"pod_uid", "0f8e7a52-3c1d-4b8e-9a4e-1d2c3b4a5f60"},
                     {"workload", "llm-serving"},
                     {"tls.spki_sha256", "4a1f"},
                     {"note", "Grüße ✓"}};
  EXPECT_TRUE(ValidateRuntimeClaims(c).ok());
  EXPECT_TRUE(ValidateRuntimeClaims({}).ok());
  EXPECT_EQ(*CanonicalRuntimeClaims({{"b", "2"}, {"a", "1"}}), "{\"a\":\"1\",\"b\":\"2\"}");
}

TEST(RuntimeClaims, RejectsOutsideTheSubset) {
  const std::string long_name(kMaxRuntimeClaimNameBytes + 1, 'a');
  const std::vector<RuntimeClaims> bad = {
      {{"", "x"}},
      {{long_name, "x"}},
      {{"a/b", "x"}},                                     // '/' would need ~1 in a pointer
      {{"a b", "x"}},
      {{"a", std::string(kMaxRuntimeClaimValueBytes + 1, 'x')}},
      {{"a", "line\nbreak"}},
      {{"a", std::string("nul\0", 4)}},
      {{"a", "\x7f"}},
      {{"a", "\xff"}},                                    // not UTF-8
      {{"node", "Gpu-Node-1"}},                           // not a node name
      {{"node", "-gpu"}},
      {{"node", "gpu..node"}},
      {{"node", std::string(254, 'a')}},
  };
  for (const RuntimeClaims& c : bad) {
    EXPECT_FALSE(ValidateRuntimeClaims(c).ok()) << c.begin()->first.substr(0, 16);
    EXPECT_FALSE(RuntimeClaimsDigest(c).ok());
  }
  RuntimeClaims many;
  for (size_t i = 0; i <= kMaxRuntimeClaims; ++i) many["c" + std::to_string(i)] = "v";
  EXPECT_FALSE(ValidateRuntimeClaims(many).ok());
  // 32 claims of 200 bytes: JCS over 4096 bytes.
  RuntimeClaims big;
  for (size_t i = 0; i < 30; ++i) big["c" + std::to_string(i)] = std::string(200, 'v');
  EXPECT_FALSE(ValidateRuntimeClaims(big).ok());
}

TEST(RuntimeClaims, DnsSubdomain) {
  EXPECT_TRUE(IsDnsSubdomain("gpu-node-1"));
  EXPECT_TRUE(IsDnsSubdomain("ip-10-0-0-1.ec2.internal"));
  EXPECT_TRUE(IsDnsSubdomain("a"));
  EXPECT_FALSE(IsDnsSubdomain(""));
  EXPECT_FALSE(IsDnsSubdomain("a."));
  EXPECT_FALSE(IsDnsSubdomain("a_b"));
  EXPECT_FALSE(IsDnsSubdomain("a-"));
}

TEST(RuntimeClaims, ParseJson) {
  auto ok = ParseRuntimeClaimsJson(R"({"node":"gpu-node-1","workload":"w"})");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->at("node"), "gpu-node-1");
  EXPECT_FALSE(ParseRuntimeClaimsJson(R"({"node":"a","node":"b"})").ok());  // duplicate
  EXPECT_FALSE(ParseRuntimeClaimsJson(R"({"n":1})").ok());                 // not a string
  EXPECT_FALSE(ParseRuntimeClaimsJson(R"({"n":{"x":"y"}})").ok());
  EXPECT_FALSE(ParseRuntimeClaimsJson(R"(["node"])").ok());
  EXPECT_FALSE(ParseRuntimeClaimsJson("{").ok());
  EXPECT_FALSE(ParseRuntimeClaimsJson(std::string(9000, ' ')).ok());
}

}  // namespace
}  // namespace rp::core
