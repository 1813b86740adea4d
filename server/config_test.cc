#include "server/config.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rp::server {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class TempDir {
 public:
  TempDir() {
    std::string tmpl =
        (fs::temp_directory_path() / "rp_config_test_XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string Write(const std::string& name, const std::string& text) const {
    const std::string p = (fs::path(path_) / name).string();
    std::ofstream(p) << text;
    return p;
  }

 private:
  std::string path_;
};

TEST(ConfigTest, EmptyDocumentGetsDefaults) {
  auto c = ParseServerConfig("environment: development\n", "t.yaml", "");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen(), "127.0.0.1:50051");
  EXPECT_EQ(c->http_listen(), "127.0.0.1:8080");
  EXPECT_EQ(c->metrics_listen(), "127.0.0.1:9464");
  EXPECT_EQ(c->max_request_bytes(), 4 * 1024 * 1024);
  EXPECT_EQ(c->nonce().lifetime_seconds(), 300);
  EXPECT_EQ(c->nonce().replay_capacity(), 1000000);
  EXPECT_EQ(c->token().algorithm(), "ES256");
  EXPECT_EQ(c->token().lifetime_seconds(), 300);
  EXPECT_EQ(c->environment(), "development");
}

TEST(ConfigTest, MissingEnvironmentMeansProduction) {
  auto c = ParseServerConfig("{}", "t.json", "");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->environment(), "production");
}

TEST(ConfigTest, ParsesYamlWithTypedScalars) {
  auto c = ParseServerConfig(
      "listen: 0.0.0.0:6000\n"
      "max_request_bytes: 65536\n"
      "environment: development\n"
      "nonce:\n"
      "  lifetime_seconds: 1\n"
      "  replay_capacity: 10\n"
      "token:\n"
      "  algorithm: ES384\n"
      "  issuer: https://attest.example\n"
      "  keys:\n"
      "    - pem_file: /keys/a.pem\n"
      "      status: current\n"
      "simulation:\n"
      "  trust_simulation_root: true\n"
      "  dir: /sim\n",
      "t.yaml", "");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen(), "0.0.0.0:6000");
  EXPECT_EQ(c->max_request_bytes(), 65536);
  EXPECT_EQ(c->nonce().lifetime_seconds(), 1);
  EXPECT_EQ(c->nonce().replay_capacity(), 10);
  EXPECT_EQ(c->token().algorithm(), "ES384");
  ASSERT_EQ(c->token().keys_size(), 1);
  EXPECT_EQ(c->token().keys(0).pem_file(), "/keys/a.pem");
  EXPECT_TRUE(c->simulation().trust_simulation_root());
}

TEST(ConfigTest, ParsesJson) {
  auto c = ParseServerConfig(
      R"({"listen":"127.0.0.1:0","environment":"development","nonce":{"lifetimeSeconds":"7"},
          "audit_log":"-"})",
      "t.json", "");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen(), "127.0.0.1:0");
  EXPECT_EQ(c->nonce().lifetime_seconds(), 7);
  EXPECT_EQ(c->audit_log(), "-");
}

TEST(ConfigTest, UnknownFieldIsAnErrorNamingTheFile) {
  auto c =
      ParseServerConfig("listen: 127.0.0.1:1\nlisten_port: 5\n", "my.yaml", "");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(c.status().message(), HasSubstr("my.yaml"));
  EXPECT_THAT(c.status().message(), HasSubstr("listen_port"));
}

TEST(ConfigTest, WrongTypeIsAnError) {
  auto c =
      ParseServerConfig("nonce:\n  lifetime_seconds: soon\n", "t.yaml", "");
  EXPECT_FALSE(c.ok());
}

TEST(ConfigTest, ProductionRefusesSimulationRoot) {
  for (const char* env : {"environment: production\n", ""}) {
    auto c = ParseServerConfig(
        absl::StrCat(
            env, "simulation:\n  trust_simulation_root: true\n  dir: /sim\n"),
        "p.yaml", "");
    ASSERT_FALSE(c.ok()) << env;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(c.status().message(), HasSubstr("trust_simulation_root"));
  }
  auto dev = ParseServerConfig(
      "environment: development\nsimulation:\n  trust_simulation_root: true\n",
      "d.yaml", "");
  EXPECT_TRUE(dev.ok()) << dev.status();
}

TEST(ConfigTest, RejectsBadValues) {
  const char* kBad[] = {
      "environment: staging\n",
      "listen: nocolon\n",
      "listen: 127.0.0.1:70000\n",
      "http_listen: ':80'\n",
      "max_request_bytes: -1\n",
      "max_request_bytes: 999999999999\n",
      "nonce:\n  lifetime_seconds: -5\n",
      "nonce:\n  lifetime_seconds: 100000\n",
      "token:\n  algorithm: HS256\n",
      "token:\n  algorithm: none\n",
      "token:\n  keys:\n    - status: current\n",
      "token:\n  keys:\n    - pem_file: a.pem\n      status: old\n",
      "tls:\n  cert_file: c.pem\n",
      "tls:\n  client_ca_file: ca.pem\n",
  };
  for (const char* text : kBad) {
    auto c = ParseServerConfig(absl::StrCat("environment: development\n", text),
                               "b.yaml", "");
    EXPECT_FALSE(c.ok()) << text;
  }
}

TEST(ConfigTest, RelativePathsResolveAgainstTheConfigDirectory) {
  TempDir dir;
  fs::create_directories(fs::path(dir.path()) / "etc");
  const std::string path = dir.Write(
      "etc/server.yaml",
      "environment: development\n"
      "collateral_dir: ../collateral\n"
      "policy_file: policies/p.yaml\n"
      "audit_log: '-'\n"
      "nonce:\n  hmac_key_file: secrets/hmac.key\n"
      "token:\n  keys:\n    - pem_file: /abs/key.pem\n      status: current\n"
      "tls:\n  cert_file: tls/c.pem\n  key_file: tls/k.pem\n  client_ca_file: "
      "tls/ca.pem\n"
      "simulation:\n  dir: ../../var/sim\n");
  auto c = LoadServerConfig(path);
  ASSERT_TRUE(c.ok()) << c.status();
  const fs::path etc = fs::path(dir.path()) / "etc";
  EXPECT_EQ(c->collateral_dir(),
            (fs::path(dir.path()) / "collateral").string());
  EXPECT_EQ(c->policy_file(), (etc / "policies/p.yaml").string());
  EXPECT_EQ(c->nonce().hmac_key_file(), (etc / "secrets/hmac.key").string());
  EXPECT_EQ(c->token().keys(0).pem_file(), "/abs/key.pem");
  EXPECT_EQ(c->tls().cert_file(), (etc / "tls/c.pem").string());
  EXPECT_EQ(c->tls().key_file(), (etc / "tls/k.pem").string());
  EXPECT_EQ(c->tls().client_ca_file(), (etc / "tls/ca.pem").string());
  EXPECT_EQ(c->simulation().dir(),
            (fs::path(dir.path()).parent_path() / "var/sim")
                .lexically_normal()
                .string());
  EXPECT_EQ(c->audit_log(), "-");  // stdout is not a path
}

TEST(ConfigTest, MissingFileIsNotFound) {
  auto c = LoadServerConfig("/nonexistent/server.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
}

TEST(ConfigTest, ShippedConfigsLoad) {
  const std::string root = RP_SOURCE_DIR;
  auto local = LoadServerConfig(root + "/deploy/config/local.yaml");
  ASSERT_TRUE(local.ok()) << local.status();
  EXPECT_EQ(local->environment(), "development");
  EXPECT_TRUE(local->simulation().trust_simulation_root());
  EXPECT_EQ(local->simulation().dir(), root + "/var/sim");
  EXPECT_EQ(local->collateral_dir(), root + "/tests/data/snp/offline");
  EXPECT_EQ(local->audit_log(), "-");

  auto prod = LoadServerConfig(root + "/deploy/config/production.example.yaml");
  ASSERT_TRUE(prod.ok()) << prod.status();
  EXPECT_EQ(prod->environment(), "production");
  EXPECT_FALSE(prod->simulation().trust_simulation_root());
  EXPECT_FALSE(prod->tls().cert_file().empty());
  EXPECT_GT(prod->token().keys_size(), 0);
}

TEST(CommandLineTest, ParsesFlags) {
  auto cl = ParseCommandLine({"--config", "c.yaml", "--listen=127.0.0.1:0",
                              "--http-listen", "127.0.0.1:0",
                              "--metrics-listen=127.0.0.1:0", "--port-file",
                              "/tmp/p.json"});
  ASSERT_TRUE(cl.ok()) << cl.status();
  EXPECT_EQ(cl->config_path, "c.yaml");
  EXPECT_EQ(cl->listen, "127.0.0.1:0");
  EXPECT_EQ(cl->http_listen, "127.0.0.1:0");
  EXPECT_EQ(cl->metrics_listen, "127.0.0.1:0");
  EXPECT_EQ(cl->port_file, "/tmp/p.json");
}

TEST(CommandLineTest, RejectsBadInvocations) {
  EXPECT_FALSE(ParseCommandLine({}).ok());
  EXPECT_FALSE(ParseCommandLine({"--config"}).ok());
  EXPECT_FALSE(ParseCommandLine({"--config", "c", "--bogus", "x"}).ok());
  EXPECT_FALSE(ParseCommandLine({"--config="}).ok());
  EXPECT_FALSE(ParseCommandLine({"c.yaml"}).ok());
}

TEST(HostPortTest, Splits) {
  auto a = ParseHostPort("127.0.0.1:0");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 0);
  auto b = ParseHostPort("[::1]:50051");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->host, "[::1]");
  EXPECT_EQ(b->port, 50051);
  EXPECT_FALSE(ParseHostPort("::1:5").ok());
  EXPECT_FALSE(ParseHostPort("host:").ok());
  EXPECT_FALSE(ParseHostPort("host:-1").ok());
  EXPECT_FALSE(ParseHostPort("host:123456").ok());
}

}  // namespace
}  // namespace rp::server
