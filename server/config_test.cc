#include "server/config.h"
#include "server/fleet_config.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>

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

// The least a production config needs for its transport.
constexpr char kProductionTransport[] =
    "tls:\n  cert_file: /etc/rp/tls.crt\n  key_file: /etc/rp/tls.key\n"
    "http_behind_tls_proxy: true\n";

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
  EXPECT_EQ(c->nonce().max_outstanding_challenges(), 1000000);
  EXPECT_EQ(c->limits().get_challenge().rate_per_second(), 10);
  EXPECT_EQ(c->limits().get_challenge().burst(), 40);
  EXPECT_EQ(c->limits().attest().rate_per_second(), 10);
  EXPECT_EQ(c->limits().attest().burst(), 40);
  EXPECT_EQ(c->limits().max_tracked_peers(), 100000);
  EXPECT_EQ(c->limits().grpc_memory_bytes(), 512 * 1024 * 1024);
  // Admission control: 2 x cores running, 4 x that waiting, 1 s; the thread
  // quota is 64 unless they need more.
  const int in_flight = 2 * DefaultCores();
  EXPECT_EQ(c->limits().max_in_flight(), in_flight);
  EXPECT_EQ(c->limits().max_queued(), 4 * in_flight);
  EXPECT_EQ(c->limits().max_queue_wait_ms(), 1000);
  EXPECT_EQ(c->limits().grpc_max_threads(), std::max(64, 5 * in_flight + 16));
  EXPECT_EQ(c->limits().grpc_max_concurrent_streams(), 100);
  EXPECT_TRUE(ReflectionEnabled(*c));  // development
}

// An empty environment is production, and production without TLS does not
// start (docs/hardening.md).
TEST(ConfigTest, MissingEnvironmentMeansProduction) {
  attestation::v1::ServerConfig empty;
  ApplyDefaults(&empty);
  EXPECT_EQ(empty.environment(), "production");
  auto c = ParseServerConfig("{}", "t.json", "");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(c.status().message(), HasSubstr("TLS on gRPC"));
  auto tls = ParseServerConfig(kProductionTransport, "t.yaml", "");
  ASSERT_TRUE(tls.ok()) << tls.status();
  EXPECT_EQ(tls->environment(), "production");
}

TEST(ConfigTest, ParsesYamlWithTypedScalars) {
  auto c = ParseServerConfig(
      "listen: 0.0.0.0:6000\n"
      "max_request_bytes: 65536\n"
      "environment: development\n"
      "nonce:\n"
      "  lifetime_seconds: 1\n"
      "  replay_capacity: 10\n"
      // A store this small needs small per-client limits: one client may
      // hold at most half of it (2 + 1 x 1 <= 5).
      "limits:\n"
      "  get_challenge: {rate_per_second: 1, burst: 2}\n"
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
      "token:\n  profile: medium\n",
      "token:\n  profile: Full\n",
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

TEST(ConfigTest, TokenProfile) {
  for (const char* p : {"compact", "full"}) {
    auto c = ParseServerConfig(absl::StrCat("environment: development\ntoken:\n  profile: ", p, "\n"),
                               "t.yaml", "");
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->token().profile(), p);
  }
  auto bad = ParseServerConfig("environment: development\ntoken:\n  profile: tiny\n", "t.yaml", "");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("token.profile is 'tiny', must be compact or full"),
            std::string_view::npos)
      << bad.status();
}

// fleet: and admission: (issue 13, docs/admission.md).
TEST(ConfigTest, FleetAndAdmissionDefaultsAndValidation) {
  auto d = ParseServerConfig("environment: development\n", "t.yaml", "");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->fleet().freshness_seconds(), 600);
  EXPECT_EQ(d->fleet().max_nodes(), 10000);
  EXPECT_EQ(d->fleet().sync_interval_ms(), 5000);
  EXPECT_TRUE(d->admission().listen().empty());
  auto a = ParseServerConfig(
      "environment: development\n"
      "fleet: {freshness_seconds: 60, policies: [fleet]}\n"
      "admission:\n"
      "  listen: 127.0.0.1:0\n"
      "  tls: {cert_file: w.pem, key_file: w.key}\n"
      "  runtime_classes: [kata-qemu-tdx, kata-qemu-nvidia-gpu-tdx]\n",
      "t.yaml", "/etc/rp");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->admission().rule(), "k8s/admission");
  EXPECT_EQ(a->admission().max_body_bytes(), 3 * 1024 * 1024);
  EXPECT_EQ(a->admission().tls().cert_file(), "/etc/rp/w.pem");
  EXPECT_EQ(FleetOptionsFromConfig(a->fleet()).freshness, absl::Seconds(60));
  EXPECT_TRUE(FleetOptionsFromConfig(a->fleet()).policies.contains("fleet"));
  const char* kBad[] = {
      "fleet: {freshness_seconds: -1}\n",
      "fleet: {max_nodes: -3}\n",
      "fleet: {freshness_seconds: 600, retention_seconds: 60}\n",
      "fleet: {sync_interval_ms: 10}\n",
      "admission: {runtime_classes: [kata-qemu-tdx]}\n",  // no listen
      "admission: {listen: '127.0.0.1:0', runtime_classes: [kata-qemu-tdx]}\n",  // no TLS
      "admission: {listen: '127.0.0.1:0', tls: {cert_file: c, key_file: k}}\n",  // no classes
      "admission: {listen: '127.0.0.1:0', tls: {cert_file: c, key_file: k}, "
      "runtime_classes: [Kata_Bad]}\n",
      "admission: {listen: '127.0.0.1:0', tls: {cert_file: c, key_file: k}, "
      "runtime_classes: [a, a]}\n",
      "admission: {listen: '127.0.0.1:0', tls: {cert_file: c, key_file: k}, "
      "runtime_classes: [a], max_body_bytes: 100}\n",
  };
  for (const char* text : kBad) {
    EXPECT_FALSE(
        ParseServerConfig(absl::StrCat("environment: development\n", text), "b.yaml", "").ok())
        << text;
  }
}

// token.audiences: what AttestRequest.audience may name (docs/key-release.md).
TEST(ConfigTest, TokenAudiencesAreValidated) {
  auto ok = ParseServerConfig(
      "environment: development\ntoken:\n  audiences: [vault, 'https://kms.example.com/v1']\n",
      "a.yaml", "");
  ASSERT_TRUE(ok.ok()) << ok.status();
  ASSERT_EQ(ok->token().audiences_size(), 2);
  EXPECT_EQ(ok->token().audiences(1), "https://kms.example.com/v1");

  const std::string kLong(257, 'a');
  const std::pair<std::string, std::string> kBad[] = {
      {"token:\n  audiences: ['']\n", "token.audiences[0] is 0 characters"},
      {"token:\n  audiences: [vault, vault]\n", "token.audiences[1] 'vault' is listed twice"},
      {"token:\n  audiences: ['two words']\n", "printable ASCII without spaces"},
      {"token:\n  audiences: [\"tab\\there\"]\n", "printable ASCII"},
      {absl::StrCat("token:\n  audiences: [", kLong, "]\n"), "257 characters, must be 1..256"},
  };
  for (const auto& [text, want] : kBad) {
    auto c = ParseServerConfig(absl::StrCat("environment: development\n", text), "b.yaml", "");
    ASSERT_FALSE(c.ok()) << text;
    EXPECT_THAT(c.status().message(), HasSubstr(want)) << text;
  }
  std::string many = "token:\n  audiences:\n";
  for (int i = 0; i < 65; ++i) absl::StrAppend(&many, "    - aud", i, "\n");
  auto c = ParseServerConfig(absl::StrCat("environment: development\n", many), "m.yaml", "");
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("65 entries, at most 64"));
}

TEST(ConfigTest, RejectsBadLimits) {
  const char* kBad[] = {
      "nonce:\n  replay_capacity: 100\n  max_outstanding_challenges: 101\n",
      "nonce:\n  max_outstanding_challenges: -1\n",
      "limits:\n  get_challenge: {burst: 0.5}\n",
      "limits:\n  attest: {rate_per_second: 2000000}\n",
      "limits:\n  max_tracked_peers: -3\n",
      "limits:\n  grpc_max_threads: 2\n",
      "limits:\n  grpc_max_concurrent_streams: -1\n",
      // Below 4 x max_request_bytes (4 MiB): one request could not be buffered.
      "limits:\n  grpc_memory_bytes: 1048576\n",
  };
  for (const char* text : kBad) {
    auto c = ParseServerConfig(absl::StrCat("environment: development\n", text), "b.yaml", "");
    EXPECT_FALSE(c.ok()) << text;
  }
}

TEST(ConfigTest, RejectsBadAdmissionLimits) {
  const std::pair<const char*, const char*> kBad[] = {
      {"limits:\n  max_in_flight: -2\n", "limits.max_in_flight is -2"},
      {"limits:\n  max_in_flight: 5000\n", "limits.max_in_flight is 5000"},
      {"limits:\n  max_queued: -2\n", "limits.max_queued (-1 = no queue) is -2"},
      {"limits:\n  max_queued: 70000\n", "limits.max_queued (-1 = no queue) is 70000"},
      {"limits:\n  max_queue_wait_ms: -1\n", "limits.max_queue_wait_ms is -1"},
      {"limits:\n  max_queue_wait_ms: 60001\n", "limits.max_queue_wait_ms is 60001"},
      // Waiting and running requests hold gRPC threads: 8 must stay free.
      {"limits:\n  grpc_max_threads: 64\n  max_in_flight: 8\n  max_queued: 49\n",
       "must leave 8 of limits.grpc_max_threads (64)"},
  };
  for (const auto& [text, want] : kBad) {
    auto c = ParseServerConfig(absl::StrCat("environment: development\n", text), "b.yaml", "");
    ASSERT_FALSE(c.ok()) << text;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(c.status().message(), HasSubstr(want)) << text;
  }
  auto edge = ParseServerConfig(
      "environment: development\nlimits:\n  grpc_max_threads: 64\n  max_in_flight: 8\n"
      "  max_queued: 48\n",
      "t.yaml", "");
  ASSERT_TRUE(edge.ok()) << edge.status();
  auto no_queue = ParseServerConfig(
      "environment: development\nlimits:\n  max_in_flight: 3\n  max_queued: -1\n", "t.yaml", "");
  ASSERT_TRUE(no_queue.ok()) << no_queue.status();
  EXPECT_EQ(InflightLimitsFromConfig(no_queue->limits()).max_queued, 0);
  EXPECT_EQ(InflightLimitsFromConfig(no_queue->limits()).max_in_flight, 3);
  EXPECT_EQ(InflightLimitsFromConfig(no_queue->limits()).max_queue_wait, absl::Seconds(1));
}

// A set grpc_max_threads bounds the defaults instead of failing the config.
TEST(ConfigTest, AdmissionDefaultsFitASetThreadQuota) {
  auto c = ParseServerConfig("environment: development\nlimits:\n  grpc_max_threads: 12\n",
                             "t.yaml", "");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->limits().grpc_max_threads(), 12);
  EXPECT_LE(c->limits().max_in_flight(), 4);
  EXPECT_GE(c->limits().max_in_flight(), 1);
  EXPECT_LE(c->limits().max_in_flight() + std::max(0, c->limits().max_queued()), 4);
  auto tight = ParseServerConfig(
      "environment: development\nlimits:\n  grpc_max_threads: 9\n", "t.yaml", "");
  ASSERT_TRUE(tight.ok()) << tight.status();
  EXPECT_EQ(tight->limits().max_in_flight(), 1);
  EXPECT_EQ(tight->limits().max_queued(), -1);  // no room for a queue
}

// nonce.max_outstanding_challenges must fit the replay store, and one client
// at its GetChallenge limit for a whole lifetime may hold at most half of it.
TEST(ConfigTest, OneClientCannotHoldMostChallenges) {
  auto ok = ParseServerConfig(
      "environment: development\nnonce:\n  replay_capacity: 1000\n  lifetime_seconds: 10\n"
      "limits:\n  get_challenge: {rate_per_second: 40, burst: 100}\n",
      "t.yaml", "");
  ASSERT_TRUE(ok.ok()) << ok.status();  // 100 + 40 x 10 = 500 = half
  EXPECT_EQ(ok->nonce().max_outstanding_challenges(), 1000);
  auto bad = ParseServerConfig(
      "environment: development\nnonce:\n  replay_capacity: 1000\n  lifetime_seconds: 10\n"
      "limits:\n  get_challenge: {rate_per_second: 41, burst: 100}\n",
      "t.yaml", "");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("more than half"));
}

TEST(ConfigTest, RateLimitsCannotBeSwitchedOffInProduction) {
  const std::string off = "limits:\n  attest: {rate_per_second: -1}\n";
  auto dev = ParseServerConfig(absl::StrCat("environment: development\n", off), "t.yaml", "");
  ASSERT_TRUE(dev.ok()) << dev.status();
  auto prod = ParseServerConfig(absl::StrCat(kProductionTransport, off), "t.yaml", "");
  ASSERT_FALSE(prod.ok());
  EXPECT_EQ(prod.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(prod.status().message(), HasSubstr("limits.attest"));
}

TEST(ConfigTest, ProductionRequiresTlsOnGrpcAndHttp) {
  // No gRPC TLS.
  auto no_grpc = ParseServerConfig("environment: production\nhttp_behind_tls_proxy: true\n",
                                   "t.yaml", "");
  ASSERT_FALSE(no_grpc.ok());
  EXPECT_EQ(no_grpc.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(no_grpc.status().message(), HasSubstr("tls.cert_file"));
  // gRPC TLS but a plaintext HTTP port without a proxy.
  auto no_http = ParseServerConfig(
      "environment: production\ntls:\n  cert_file: /c.pem\n  key_file: /k.pem\n", "t.yaml", "");
  ASSERT_FALSE(no_http.ok());
  EXPECT_EQ(no_http.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(no_http.status().message(), HasSubstr("http_tls"));
  EXPECT_THAT(no_http.status().message(), HasSubstr("http_behind_tls_proxy"));
  // Either TLS on the HTTP port or the explicit proxy statement.
  auto http_tls = ParseServerConfig(
      "environment: production\ntls:\n  cert_file: /c.pem\n  key_file: /k.pem\n"
      "http_tls:\n  cert_file: /h.pem\n  key_file: /hk.pem\n",
      "t.yaml", "");
  EXPECT_TRUE(http_tls.ok()) << http_tls.status();
  EXPECT_TRUE(ParseServerConfig(kProductionTransport, "t.yaml", "").ok());
  // http_tls is checked like tls.
  auto half = ParseServerConfig(
      absl::StrCat(kProductionTransport, "http_tls:\n  cert_file: /h.pem\n"), "t.yaml", "");
  ASSERT_FALSE(half.ok());
  EXPECT_THAT(half.status().message(), HasSubstr("http_tls.cert_file and http_tls.key_file"));
  // Development needs neither.
  EXPECT_TRUE(ParseServerConfig("environment: development\n", "t.yaml", "").ok());
}

TEST(ConfigTest, ReflectionIsOffInProductionUnlessEnabled) {
  auto prod = ParseServerConfig(kProductionTransport, "t.yaml", "");
  ASSERT_TRUE(prod.ok()) << prod.status();
  EXPECT_FALSE(ReflectionEnabled(*prod));
  auto enabled =
      ParseServerConfig(absl::StrCat(kProductionTransport, "enable_reflection: true\n"), "t.yaml", "");
  ASSERT_TRUE(enabled.ok()) << enabled.status();
  EXPECT_TRUE(ReflectionEnabled(*enabled));
  auto dev = ParseServerConfig("environment: development\n", "t.yaml", "");
  ASSERT_TRUE(dev.ok());
  EXPECT_TRUE(ReflectionEnabled(*dev));
}

TEST(ConfigTest, PolicyClientsAreValidated) {
  auto ok = ParseServerConfig(
      "environment: development\n"
      "policy_clients:\n"
      "  fleet:\n"
      "    identities: ['sha256:" + std::string(64, 'a') + "', 'san:spiffe://x/y', 'cn:node-1']\n"
      "    peers: [10.0.0.0/8, '2001:db8::/32', 192.0.2.7]\n",
      "t.yaml", "");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->policy_clients().at("fleet").peers_size(), 3);
  const char* kBad[] = {
      "policy_clients:\n  fleet: {}\n",
      "policy_clients:\n  fleet: {identities: ['sha256:abc']}\n",
      "policy_clients:\n  fleet: {identities: ['node-1']}\n",
      "policy_clients:\n  fleet: {identities: ['dns:x']}\n",
      "policy_clients:\n  fleet: {identities: ['san:']}\n",
      "policy_clients:\n  fleet: {peers: [10.0.0.1/8]}\n",
      "policy_clients:\n  fleet: {peers: [10.0.0.0/33]}\n",
      "policy_clients:\n  fleet: {peers: [example.com]}\n",
      "policy_clients:\n  'fleet@2': {peers: [10.0.0.0/8]}\n",
  };
  for (const char* text : kBad) {
    auto c = ParseServerConfig(absl::StrCat("environment: development\n", text), "b.yaml", "");
    EXPECT_FALSE(c.ok()) << text;
    if (!c.ok()) EXPECT_THAT(c.status().message(), HasSubstr("policy_clients['fleet")) << text;
  }
}

// Secret files: 0600 / 0400 only, in every environment.
TEST(ConfigTest, SecretFilesWithGroupOrOtherBitsAreRefused) {
  TempDir dir;
  const std::string key = dir.Write("k.pem", "key");
  const std::string hmac = dir.Write("hmac.key", std::string(64, 'a'));
  for (const char* env : {"development", "production"}) {
    attestation::v1::ServerConfig c;
    c.set_environment(env);
    c.mutable_tls()->set_cert_file(dir.path() + "/c.pem");
    c.mutable_tls()->set_key_file(key);
    c.mutable_nonce()->set_hmac_key_file(hmac);
    c.mutable_token()->add_keys()->set_pem_file(key);
    c.mutable_http_tls()->set_key_file(key);
    fs::permissions(key, fs::perms::owner_read | fs::perms::owner_write);
    fs::permissions(hmac, fs::perms::owner_read);
    EXPECT_TRUE(CheckSecretFilePermissions(c).ok()) << env;
    for (const auto& [file, field] : {std::pair{key, "tls.key_file"}, {hmac, "nonce.hmac_key_file"}}) {
      for (fs::perms extra : {fs::perms::group_read, fs::perms::others_read, fs::perms::group_write,
                              fs::perms::others_exec}) {
        fs::permissions(file, extra, fs::perm_options::add);
        absl::Status st = CheckSecretFilePermissions(c);
        EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << env << " " << file;
        EXPECT_THAT(st.message(), HasSubstr(field));
        EXPECT_THAT(st.message(), HasSubstr("chmod 600"));
        fs::permissions(file, extra, fs::perm_options::remove);
      }
    }
    EXPECT_TRUE(CheckSecretFilePermissions(c).ok());
  }
  // Each field is checked: a token key alone.
  attestation::v1::ServerConfig token_only;
  token_only.mutable_token()->add_keys()->set_pem_file(key);
  fs::permissions(key, fs::perms::group_read, fs::perm_options::add);
  EXPECT_THAT(CheckSecretFilePermissions(token_only).message(), HasSubstr("token.keys[0].pem_file"));
  // Group read is tolerated only when asked and only for our own group;
  // other bits never.
  token_only.set_allow_group_readable_secrets(true);
  EXPECT_TRUE(CheckSecretFilePermissions(token_only).ok());  // the file's group is ours
  fs::permissions(key, fs::perms::group_write, fs::perm_options::add);
  EXPECT_FALSE(CheckSecretFilePermissions(token_only).ok());
  fs::permissions(key, fs::perms::group_write, fs::perm_options::remove);
  fs::permissions(key, fs::perms::others_read, fs::perm_options::add);
  EXPECT_FALSE(CheckSecretFilePermissions(token_only).ok());
  // Missing file and directory.
  attestation::v1::ServerConfig missing;
  missing.mutable_nonce()->set_hmac_key_file(dir.path() + "/nope");
  EXPECT_EQ(CheckSecretFilePermissions(missing).code(), absl::StatusCode::kNotFound);
  missing.mutable_nonce()->set_hmac_key_file(dir.path());
  EXPECT_EQ(CheckSecretFilePermissions(missing).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ConfigTest, IntelPcsInSourceOrderIsAccepted) {
  auto c = ParseServerConfig(
      "environment: development\n"
      "collateral:\n  source_order: [offline, pcs, kds]\n"
      "  intel_pcs_base_url: http://127.0.0.1:8081\n",
      "t.yaml", "");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->collateral().source_order(), ::testing::ElementsAre("offline", "pcs", "kds"));
  // Default order: every source, offline first.
  auto d = ParseServerConfig("environment: development\ncollateral: {}\n", "t.yaml", "");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_THAT(d->collateral().source_order(), ::testing::ElementsAre("offline", "kds", "pcs"));
  // Still refused: unknown names and duplicates.
  for (const char* order : {"[offline, pcs, pcs]", "[intel]", "[nvidia-rim]"}) {
    auto bad = ParseServerConfig(
        absl::StrCat("environment: development\ncollateral:\n  source_order: ", order, "\n"),
        "t.yaml", "");
    EXPECT_FALSE(bad.ok()) << order;
  }
  // Production: PCS / PCCS and root CA CRL URLs must be https (unless offline).
  for (const char* field : {"intel_pcs_base_url", "intel_root_ca_crl_url"}) {
    auto prod = ParseServerConfig(
        absl::StrCat(kProductionTransport, "collateral:\n  ", field, ": http://pccs:8081\n"),
        "t.yaml", "");
    ASSERT_FALSE(prod.ok()) << field;
    EXPECT_THAT(prod.status().message(), HasSubstr(field));
    auto offline = ParseServerConfig(
        absl::StrCat(kProductionTransport, "collateral:\n  offline: true\n  ", field,
                     ": http://pccs:8081\n"),
        "t.yaml", "");
    EXPECT_TRUE(offline.ok()) << offline.status();
    auto ftp = ParseServerConfig(
        absl::StrCat("environment: development\ncollateral:\n  ", field, ": ftp://x\n"), "t.yaml",
        "");
    EXPECT_FALSE(ftp.ok()) << field;
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
      "http_tls:\n  cert_file: tls/h.pem\n  key_file: tls/hk.pem\n"
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
  EXPECT_EQ(c->http_tls().cert_file(), (etc / "tls/h.pem").string());
  EXPECT_EQ(c->http_tls().key_file(), (etc / "tls/hk.pem").string());
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
  EXPECT_EQ(prod->redis().namespace_(), "prod");
  EXPECT_EQ(prod->redis().password_file(), "/etc/rp/redis/password");
  EXPECT_FALSE(ReflectionEnabled(*prod));
  EXPECT_THAT(prod->collateral().source_order(), ::testing::Contains("pcs"));
  EXPECT_GT(prod->limits().get_challenge().rate_per_second(), 0);
  EXPECT_GT(prod->limits().attest().rate_per_second(), 0);
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

// Issue 12: the redis block (docs/scale-out.md).
TEST(ConfigTest, RedisBlockDefaultsAndValidation) {
  TempDir dir;
  auto ok = ParseServerConfig("environment: development\nredis: {address: 127.0.0.1:6379, "
                              "password_file: pw}\n",
                              "test", dir.path());
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->redis().namespace_(), "rp");
  EXPECT_EQ(ok->redis().pool_size(), 8);
  EXPECT_EQ(ok->redis().connect_timeout_ms(), 200);
  EXPECT_EQ(ok->redis().command_timeout_ms(), 100);
  EXPECT_EQ(ok->redis().wait_timeout_ms(), 50);
  EXPECT_EQ(ok->redis().password_file(), (fs::path(dir.path()) / "pw").string());
  auto none = ParseServerConfig("environment: development\n", "test", "");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_redis());
  for (const char* bad : {
           "redis: {namespace: x}",
           "redis: {address: 'h:1', namespace: 'a:b'}",
           "redis: {address: 'h:1', pool_size: 65}",
           "redis: {address: 'h:1', command_timeout_ms: 20000}",
           "redis: {address: 'h:1', wait_replicas: 17}",
           "redis: {address: 'h:1', username: rp}",
           "redis: {address: 'h:1', tls: true}",
       }) {
    auto r = ParseServerConfig(absl::StrCat("environment: development\n", bad, "\n"), "test", "");
    EXPECT_FALSE(r.ok()) << bad;
  }
}

TEST(ConfigTest, TrustedProxies) {
  EXPECT_TRUE(ParseServerConfig("environment: development\ntrusted_proxies: [10.0.0.0/8, "
                                "'2001:db8::/32', 127.0.0.1]\n",
                                "test", "")
                  .ok());
  for (const char* bad : {"[0.0.0.0/0]", "['::/0']", "[10.0.0.1/8]", "[nonsense]"}) {
    EXPECT_FALSE(ParseServerConfig(absl::StrCat("environment: development\ntrusted_proxies: ",
                                                bad, "\n"),
                                   "test", "")
                     .ok())
        << bad;
  }
}

TEST(ConfigTest, RedisPasswordFileMustBePrivate) {
  TempDir dir;
  const std::string pw = dir.Write("pw", "secret\n");
  auto cfg = ParseServerConfig(
      absl::StrCat("environment: development\nredis: {address: '127.0.0.1:1', password_file: ",
                   pw, "}\n"),
      "test", "");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  fs::permissions(pw, fs::perms::owner_read | fs::perms::owner_write | fs::perms::others_read);
  auto st = CheckSecretFilePermissions(*cfg);
  EXPECT_FALSE(st.ok());
  EXPECT_THAT(std::string(st.message()), HasSubstr("redis.password_file"));
  fs::permissions(pw, fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_TRUE(CheckSecretFilePermissions(*cfg).ok());
}

}  // namespace
}  // namespace rp::server
