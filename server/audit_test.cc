#include "server/audit.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "verifier/common/encoding.h"

namespace rp::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

AuditRecord Sample() {
  AuditRecord r;
  r.time = absl::FromUnixSeconds(1760000000);
  r.request_id = "abc";
  r.peer = "ipv4:127.0.0.1:5555";
  r.code = "OK";
  r.policy_id = "dev";
  r.policy_sha256 = "00ff";
  r.verdict = "warning";
  r.reasons = {"SIMULATED_EVIDENCE"};
  r.devices = {{"cpu0", "sev-snp", "warning"}};
  r.nonce_sha256_prefix = "0011223344556677";
  r.latency_ms = 12.5;
  return r;
}

TEST(AuditTest, NonceHashPrefixIsEightBytesOfSha256) {
  // SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223...
  EXPECT_EQ(NonceHashPrefix(AsBytes("abc")), "ba7816bf8f01cfea");
  EXPECT_EQ(NonceHashPrefix({}), "");
}

TEST(AuditTest, RecordHasTheDocumentedFields) {
  const nlohmann::json j = AuditRecordToJson(Sample());
  EXPECT_EQ(j["event"], "attest");
  EXPECT_EQ(j["request_id"], "abc");
  EXPECT_EQ(j["peer"], "ipv4:127.0.0.1:5555");
  EXPECT_EQ(j["policy_id"], "dev");
  EXPECT_EQ(j["policy_sha256"], "00ff");
  EXPECT_EQ(j["verdict"], "warning");
  EXPECT_EQ(j["reasons"], nlohmann::json::array({"SIMULATED_EVIDENCE"}));
  EXPECT_EQ(j["devices"][0]["tee"], "sev-snp");
  EXPECT_EQ(j["devices"][0]["status"], "warning");
  EXPECT_EQ(j["nonce_sha256_prefix"], "0011223344556677");
  EXPECT_DOUBLE_EQ(j["latency_ms"].get<double>(), 12.5);
  EXPECT_TRUE(j["time"].is_string());
  EXPECT_FALSE(j.contains("error"));
  EXPECT_FALSE(j.contains("token"));
}

TEST(AuditTest, InMemoryLogKeepsOneLinePerRecord) {
  auto log = AuditLog::InMemoryForTest();
  log->Write(Sample());
  AuditRecord bad = Sample();
  bad.peer = "\xff\xfe";  // invalid UTF-8 must not throw
  log->Write(bad);
  auto lines = log->LinesForTest();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0], Not(HasSubstr("\n")));
  EXPECT_TRUE(nlohmann::json::parse(lines[1], nullptr, false).is_object());
}

TEST(AuditTest, FileLogAppends) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("rp_audit_test_" + std::to_string(::getpid())))
                               .string();
  std::filesystem::remove(path);
  for (int i = 0; i < 2; ++i) {
    auto log = AuditLog::Open(path);
    ASSERT_TRUE(log.ok()) << log.status();
    (*log)->Write(Sample());
  }
  std::ifstream in(path);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    EXPECT_EQ(nlohmann::json::parse(line)["request_id"], "abc");
    ++n;
  }
  EXPECT_EQ(n, 2);
  std::filesystem::remove(path);
}

TEST(AuditTest, UnwritablePathIsAnError) {
  EXPECT_FALSE(AuditLog::Open("/nonexistent-dir/audit.log").ok());
}

}  // namespace
}  // namespace rp::server
