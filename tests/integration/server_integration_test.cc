// End to end against the real attestation-server binary: ephemeral loopback
// ports (reported through --port-file), the generated gRPC stub, the HTTP
// side port, simulated SEV-SNP evidence bound to real challenges, and a
// graceful SIGTERM.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "attestation/v1/attestation.grpc.pb.h"
#include "cli/simulate.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/token/token_verifier.h"
#include "tests/integration/grpc_health.h"
#include "tests/integration/loopback_http.h"

extern char** environ;

namespace rp::testing {
namespace {

namespace fs = std::filesystem;
using attestation::v1::AttestRequest;
using attestation::v1::AttestResponse;
using attestation::v1::Challenge;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr absl::Duration kStartTimeout = absl::Seconds(20);
constexpr absl::Duration kStopTimeout = absl::Seconds(10);
constexpr int64_t kMaxRequestBytes = 64 * 1024;

std::string MakeTempDir() {
  std::string tmpl =
      (fs::temp_directory_path() / "rp_server_it_XXXXXX").string();
  return ::mkdtemp(tmpl.data());
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// One attestation-server child process.
class ServerProcess {
 public:
  ~ServerProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }

  // Writes `config_yaml` to `dir`/server.yaml and starts the binary with
  // ephemeral ports; waits (bounded) for the port file and /readyz.
  ::testing::AssertionResult Start(const std::string& dir,
                                   const std::string& config_yaml) {
    dir_ = dir;
    const std::string config = dir + "/server.yaml";
    std::ofstream(config) << config_yaml;
    const std::string port_file = dir + "/ports.json";
    log_ = dir + "/server.log";
    std::vector<std::string> args = {
        RP_SERVER_BINARY, "--config",
        config,           "--listen",
        "127.0.0.1:0",    "--http-listen",
        "127.0.0.1:0",    "--metrics-listen=127.0.0.1:0",
        "--port-file",    port_file};
    std::vector<char*> argv;
    for (auto& a : args) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    // The child must not inherit a blocked SIGTERM from gRPC's threads.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    const int rc =
        posix_spawn(&pid_, argv[0], &actions, &attr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
      return ::testing::AssertionFailure() << "posix_spawn: " << rc;
    }

    const absl::Time deadline = absl::Now() + kStartTimeout;
    while (absl::Now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return ::testing::AssertionFailure()
               << "server exited during startup:\n"
               << Log();
      }
      if (ports_.is_null() && fs::exists(port_file)) {
        ports_ = nlohmann::json::parse(ReadFile(port_file), nullptr, false);
      }
      if (ports_.is_object()) {
        auto ready = HttpGet(http_port(), "/readyz");
        if (ready.ok() && ready->status == 200) {
          return ::testing::AssertionSuccess();
        }
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    return ::testing::AssertionFailure() << "server not ready in time:\n"
                                         << Log();
  }

  // Sends `sig` and waits (bounded) for the exit; returns the exit status
  // (or -1 on timeout / abnormal exit).
  int StopWith(int sig) {
    if (pid_ <= 0) {
      return -1;
    }
    ::kill(pid_, sig);
    const absl::Time deadline = absl::Now() + kStopTimeout;
    while (absl::Now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    return -1;
  }

  int grpc_port() const { return ports_["grpc"].get<int>(); }
  int http_port() const { return ports_["http"].get<int>(); }
  int metrics_port() const { return ports_["metrics"].get<int>(); }
  std::string Log() const { return ReadFile(log_); }

  std::unique_ptr<attestation::v1::AttestationService::Stub> Stub() const {
    return attestation::v1::AttestationService::NewStub(Channel());
  }
  std::shared_ptr<grpc::Channel> Channel() const {
    return grpc::CreateChannel(absl::StrCat("127.0.0.1:", grpc_port()),
                               grpc::InsecureChannelCredentials());
  }

 private:
  pid_t pid_ = -1;
  std::string dir_, log_;
  nlohmann::json ports_;
};

std::string ConfigYaml(int64_t nonce_lifetime_seconds) {
  return absl::StrCat(
      "environment: development\n"
      // Overridden by the command line (ephemeral ports).
      "listen: 127.0.0.1:1\n"
      "http_listen: 127.0.0.1:1\n"
      "metrics_listen: 127.0.0.1:1\n"
      "max_request_bytes: ",
      kMaxRequestBytes, "\n",
      "nonce:\n  lifetime_seconds: ", nonce_lifetime_seconds, "\n",
      "token:\n  issuer: attestation-rp-it\n", "policy_file: ", RP_SOURCE_DIR,
      "/deploy/policies/dev.yaml\n",
      "simulation:\n  trust_simulation_root: true\n  dir: sim\n",  // relative
                                                                   // to the
                                                                   // config
      "audit_log: audit.log\n");
}

class ServerIntegrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(MakeTempDir());
    // The simulation root must exist before the server trusts it.
    auto root = sim::LoadOrCreateSimulationRoot(*dir_ + "/sim");
    ASSERT_TRUE(root.ok()) << root.status();
    root_ = new sim::SimulationRoot(*std::move(root));
    server_ = new ServerProcess();
    ::testing::AssertionResult started = server_->Start(*dir_, ConfigYaml(300));
    if (!started) {
      delete server_;
      server_ = nullptr;
    }
    ASSERT_TRUE(started);
  }
  static void TearDownTestSuite() {
    if (server_ != nullptr) {
      EXPECT_EQ(server_->StopWith(SIGTERM), 0) << server_->Log();
      delete server_;
    }
    delete root_;
    std::error_code ec;
    if (dir_ != nullptr) {
      fs::remove_all(*dir_, ec);
    }
    delete dir_;
  }
  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(root_, nullptr);
  }

  static Challenge GetChallenge(
      attestation::v1::AttestationService::Stub* stub) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    Challenge c;
    grpc::Status st =
        stub->GetChallenge(&ctx, attestation::v1::GetChallengeRequest(), &c);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return c;
  }
  static AttestRequest Request(const Challenge& c,
                               const std::string& policy = "") {
    auto ev = sim::SimulateSnpEvidence(*root_, c.nonce(), absl::Now(), {});
    EXPECT_TRUE(ev.ok()) << ev.status();
    AttestRequest req;
    *req.mutable_challenge() = c;
    if (ev.ok()) {
      *req.mutable_evidence() = ev->bundle;
    }
    req.set_policy(policy);
    return req;
  }
  static grpc::Status Attest(attestation::v1::AttestationService::Stub* stub,
                             const AttestRequest& req, AttestResponse* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    return stub->Attest(&ctx, req, resp);
  }

  static std::string* dir_;
  static sim::SimulationRoot* root_;
  static ServerProcess* server_;
};

std::string* ServerIntegrationTest::dir_ = nullptr;
sim::SimulationRoot* ServerIntegrationTest::root_ = nullptr;
ServerProcess* ServerIntegrationTest::server_ = nullptr;

TEST_F(ServerIntegrationTest, HealthIsServing) {
  auto health = CheckHealth(server_->Channel(), "");
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, HealthStatus::kServing);
  health = CheckHealth(server_->Channel(), "attestation.v1.AttestationService");
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, HealthStatus::kServing);
  auto healthz = HttpGet(server_->http_port(), "/healthz");
  ASSERT_TRUE(healthz.ok()) << healthz.status();
  EXPECT_EQ(healthz->status, 200);
}

TEST_F(ServerIntegrationTest, AttestIssuesATokenThatVerifiesAgainstBothJwks) {
  auto stub = server_->Stub();
  const Challenge c = GetChallenge(stub.get());
  ASSERT_EQ(c.nonce().size(), 32u);
  const AttestRequest req = Request(c);
  AttestResponse resp;
  grpc::Status st = Attest(stub.get(), req, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message() << "\n" << server_->Log();
  EXPECT_NE(resp.verdict(), attestation::v1::CONTRAINDICATED)
      << absl::StrJoin(resp.reasons(), ",");
  ASSERT_FALSE(resp.token().empty());
  EXPECT_EQ(resp.policy_id(), "dev@1");

  // JWKS over gRPC.
  attestation::v1::Jwks jwks;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(
        stub->GetJwks(&ctx, attestation::v1::GetJwksRequest(), &jwks).ok());
  }
  std::string grpc_jwks_json;
  google::protobuf::util::JsonPrintOptions print;
  print.preserve_proto_field_names = true;
  ASSERT_TRUE(
      google::protobuf::util::MessageToJsonString(jwks, &grpc_jwks_json, print)
          .ok());
  auto claims =
      token::VerifyToken(resp.token(), nlohmann::json::parse(grpc_jwks_json),
                         absl::Now(), absl::Seconds(5));
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ((*claims)["iss"], "attestation-rp-it");

  // JWKS over HTTP.
  auto http_jwks = HttpGet(server_->http_port(), "/.well-known/jwks.json");
  ASSERT_TRUE(http_jwks.ok()) << http_jwks.status();
  EXPECT_EQ(http_jwks->status, 200);
  EXPECT_EQ(http_jwks->headers["content-type"], "application/json");
  auto claims2 =
      token::VerifyToken(resp.token(), nlohmann::json::parse(http_jwks->body),
                         absl::Now(), absl::Seconds(5));
  ASSERT_TRUE(claims2.ok()) << claims2.status();
  EXPECT_EQ((*claims2)["jti"], (*claims)["jti"]);

  // The same challenge again: a verdict, not an error, and no token.
  AttestResponse replay;
  st = Attest(stub.get(), req, &replay);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(replay.verdict(), attestation::v1::CONTRAINDICATED);
  EXPECT_THAT(replay.reasons(), ElementsAre("NONCE_REPLAYED"));
  ASSERT_EQ(replay.checks_size(), 1);
  EXPECT_EQ(replay.checks(0).name(), "nonce");
  EXPECT_TRUE(replay.token().empty());

  // Metrics and audit saw both.
  auto metrics = HttpGet(server_->metrics_port(), "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_THAT(metrics->body,
              HasSubstr("rp_nonces_rejected_total{reason=\"replayed\"} 1"));
  EXPECT_THAT(metrics->body,
              HasSubstr("rp_stage_seconds_count{stage=\"verify\"}"));
  const std::string audit = ReadFile(*dir_ + "/audit.log");
  EXPECT_THAT(audit, HasSubstr((*claims)["jti"].get<std::string>()));
  EXPECT_THAT(audit, HasSubstr("NONCE_REPLAYED"));
  EXPECT_THAT(audit, ::testing::Not(HasSubstr(resp.token())));
}

TEST_F(ServerIntegrationTest, OpenIdConfigurationNamesTheJwks) {
  auto r = HttpGet(server_->http_port(), "/.well-known/openid-configuration");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  auto j = nlohmann::json::parse(r->body);
  EXPECT_EQ(j["issuer"], "attestation-rp-it");
  EXPECT_THAT(j["jwks_uri"].get<std::string>(),
              HasSubstr("/.well-known/jwks.json"));
}

// The relying party chooses the policy: without policy_clients in the
// config a client may not name one (issue 10). Was INVALID_ARGUMENT for an
// unknown name; now every non-default name is refused alike.
TEST_F(ServerIntegrationTest, NamedPolicyWithoutPolicyClientsIsPermissionDenied) {
  auto stub = server_->Stub();
  for (const char* name : {"no-such", "default"}) {
    AttestResponse resp;
    grpc::Status st = Attest(stub.get(), Request(GetChallenge(stub.get()), name), &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << name << ": "
                                                                    << st.error_message();
  }
  // The default by name is fine.
  AttestResponse resp;
  grpc::Status st = Attest(stub.get(), Request(GetChallenge(stub.get()), "dev"), &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(resp.policy_id(), "dev@1");
}

TEST_F(ServerIntegrationTest, OversizeRequestIsInvalidArgument) {
  auto stub = server_->Stub();
  AttestRequest req = Request(GetChallenge(stub.get()));
  req.mutable_evidence()->mutable_sev_snp()->set_cert_chain(
      std::string(100 * 1024, 'A'));
  AttestResponse resp;
  grpc::Status st = Attest(stub.get(), req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << st.error_message();
  EXPECT_THAT(st.error_message(),
              HasSubstr(absl::StrCat("limit ", kMaxRequestBytes)));
}

TEST(ServerLifecycleTest, ExpiredChallengeAndGracefulShutdown) {
  const std::string dir = MakeTempDir();
  auto root = sim::LoadOrCreateSimulationRoot(dir + "/sim");
  ASSERT_TRUE(root.ok()) << root.status();
  ServerProcess server;
  ASSERT_TRUE(server.Start(dir, ConfigYaml(1)));
  auto stub = server.Stub();
  Challenge c;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(
        stub->GetChallenge(&ctx, attestation::v1::GetChallengeRequest(), &c)
            .ok());
  }
  auto ev = sim::SimulateSnpEvidence(*root, c.nonce(), absl::Now(), {});
  ASSERT_TRUE(ev.ok()) << ev.status();
  AttestRequest req;
  *req.mutable_challenge() = c;
  *req.mutable_evidence() = ev->bundle;
  absl::SleepFor(
      absl::Seconds(2));  // lifetime is 1 s; the server's clock is real
  AttestResponse resp;
  {
    grpc::ClientContext ctx;
    grpc::Status st = stub->Attest(&ctx, req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  EXPECT_EQ(resp.verdict(), attestation::v1::CONTRAINDICATED);
  EXPECT_THAT(resp.reasons(), ElementsAre("NONCE_EXPIRED"));
  EXPECT_TRUE(resp.token().empty());

  const absl::Time t0 = absl::Now();
  EXPECT_EQ(server.StopWith(SIGTERM), 0) << server.Log();
  EXPECT_LT(absl::Now() - t0, kStopTimeout);
  EXPECT_THAT(server.Log(), HasSubstr("stopped"));
  std::error_code ec;
  fs::remove_all(dir, ec);
}

// The binary applies the per-client limits: one client (127.0.0.1) sending
// 20 challenges at a 1/s, burst 3 limit gets RESOURCE_EXHAUSTED with a
// retry-after trailer for the excess.
TEST(ServerLifecycleTest, FloodFromOneClientIsThrottled) {
  const std::string dir = MakeTempDir();
  auto root = sim::LoadOrCreateSimulationRoot(dir + "/sim");
  ASSERT_TRUE(root.ok()) << root.status();
  ServerProcess server;
  ASSERT_TRUE(server.Start(
      dir, ConfigYaml(300) + "limits:\n  get_challenge: {rate_per_second: 1, burst: 3}\n"));
  auto stub = server.Stub();
  int ok = 0, throttled = 0, with_hint = 0;
  for (int i = 0; i < 20; ++i) {
    grpc::ClientContext ctx;
    Challenge c;
    grpc::Status st = stub->GetChallenge(&ctx, attestation::v1::GetChallengeRequest(), &c);
    if (st.ok()) {
      ++ok;
    } else if (st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      ++throttled;
      auto it = ctx.GetServerTrailingMetadata().find("retry-after");
      if (it != ctx.GetServerTrailingMetadata().end() && it->second == "1") ++with_hint;
    }
  }
  EXPECT_GE(ok, 3);
  EXPECT_LE(ok, 5);  // burst + whatever refilled during the loop
  EXPECT_EQ(ok + throttled, 20);
  EXPECT_EQ(with_hint, throttled);
  auto metrics = HttpGet(server.metrics_port(), "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_THAT(metrics->body, HasSubstr("rp_requests_throttled_total"));
  EXPECT_EQ(server.StopWith(SIGTERM), 0) << server.Log();
  std::error_code ec;
  fs::remove_all(dir, ec);
}

TEST(ServerLifecycleTest, RefusesProductionWithoutTls) {
  const std::string dir = MakeTempDir();
  ServerProcess server;
  std::string yaml = ConfigYaml(300);
  yaml.replace(yaml.find("environment: development"), 24, "environment: production");
  yaml.replace(yaml.find("trust_simulation_root: true"), 27, "trust_simulation_root: false");
  EXPECT_FALSE(server.Start(dir, yaml));
  EXPECT_THAT(server.Log(), HasSubstr("requires TLS on gRPC"));
  std::error_code ec;
  fs::remove_all(dir, ec);
}

// Secret files readable by group/other are refused, in development too.
TEST(ServerLifecycleTest, RefusesAGroupReadableHmacKey) {
  const std::string dir = MakeTempDir();
  auto root = sim::LoadOrCreateSimulationRoot(dir + "/sim");
  ASSERT_TRUE(root.ok()) << root.status();
  const std::string key = dir + "/hmac.key";
  std::ofstream(key) << std::string(64, 'a') << "\n";
  fs::permissions(key, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  std::string yaml = ConfigYaml(300);
  yaml.replace(yaml.find("nonce:\n"), 7, "nonce:\n  hmac_key_file: hmac.key\n");
  ServerProcess server;
  EXPECT_FALSE(server.Start(dir, yaml));
  EXPECT_THAT(server.Log(), HasSubstr("nonce.hmac_key_file"));
  EXPECT_THAT(server.Log(), HasSubstr("chmod 600"));
  // 0600: starts.
  fs::permissions(key, fs::perms::owner_read | fs::perms::owner_write);
  ServerProcess ok;
  EXPECT_TRUE(ok.Start(dir, yaml));
  EXPECT_EQ(ok.StopWith(SIGTERM), 0) << ok.Log();
  std::error_code ec;
  fs::remove_all(dir, ec);
}

TEST(ServerLifecycleTest, RefusesProductionWithSimulationRoot) {
  const std::string dir = MakeTempDir();
  ServerProcess server;
  std::string yaml = ConfigYaml(300);
  yaml.replace(yaml.find("development"), 11, "production");
  EXPECT_FALSE(server.Start(dir, yaml));
  EXPECT_THAT(server.Log(), HasSubstr("trust_simulation_root"));
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace rp::testing
