// Issue 10, resource limits and who chooses the policy, through the service
// and through a real in-process gRPC server:
//  - a flooding client is throttled (RESOURCE_EXHAUSTED + retry-after) while
//    a second client keeps getting challenges and attesting;
//  - the challenge budget and a full replay store answer RESOURCE_EXHAUSTED
//    with a retry hint, and a refused challenge is not consumed;
//  - a client may name a non-default policy only when policy_clients allows
//    it (PERMISSION_DENIED otherwise, never a silent fallback);
//  - reflection only when enabled; GRPC_ARG_MAX_CONCURRENT_STREAMS applies.
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "appraisal/engine.h"
#include "appraisal/registry_factory.h"
#include "attestation/v1/attestation.grpc.pb.h"
#include "cli/simulate.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/grpc_server.h"
#include "server/limits/challenge_budget.h"
#include "server/limits/inflight_limiter.h"
#include "server/limits/rate_limiter.h"
#include "server/metrics.h"
#include "server/nonce/nonce_service.h"
#include "server/nonce/replay_store.h"
#include "server/policy_access.h"
#include "server/policy_store.h"
#include "server/service.h"
#include "server/token/key_manager.h"
#include "server/token/token_issuer.h"
#include "tests/testing/cert_factory.h"
#include "verifier/collateral/source.h"
#include "verifier/common/clock.h"
#include "verifier/common/encoding.h"
#include "verifier/crypto/digest.h"
#include "verifier/crypto/keys.h"
#include "verifier/crypto/x509.h"

namespace rp::server {
namespace {

namespace fs = std::filesystem;
using attestation::v1::AttestRequest;
using attestation::v1::AttestResponse;
using attestation::v1::Challenge;
using ::testing::HasSubstr;

constexpr char kDevPolicy[] =
    "id: dev\n"
    "version: \"1\"\n"
    "allowed_bindings: [attest-v1, nonce]\n"
    "sev_snp:\n"
    "  allow_debug: false\n"
    "  max_vmpl: 0\n"
    // The engine here has no collateral: no CRL for the simulation ARK.
    "  require_revocation_check: false\n"
    "allow_simulated: true\n";
constexpr char kFleetPolicy[] =
    "id: fleet\n"
    "version: \"1\"\n"
    "allowed_bindings: [attest-v1, nonce]\n"
    "sev_snp: {require_revocation_check: false}\n"
    "allow_simulated: true\n";

std::string RetryAfter(const grpc::ClientContext& ctx) {
  const auto& md = ctx.GetServerTrailingMetadata();
  auto it = md.find(kRetryAfterMetadata);
  return it == md.end() ? "" : std::string(it->second.data(), it->second.size());
}

// A certificate and key for one mTLS client.
struct ClientCert {
  std::string cert_pem, key_pem, sha256_hex;
};

class LimitsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string tmpl = (fs::temp_directory_path() / "rp_limits_test_XXXXXX").string();
    dir_ = new std::string(::mkdtemp(tmpl.data()));
    auto root = sim::LoadOrCreateSimulationRoot(*dir_ + "/sim");
    ASSERT_TRUE(root.ok()) << root.status();
    root_ = new sim::SimulationRoot(*std::move(root));
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(*dir_, ec);
    delete root_;
    delete dir_;
  }

  // The service with the given clock, replay capacity and limits.
  void Build(Clock& clock, size_t replay_capacity, limits::RequestLimits request_limits,
             int64_t max_outstanding = 0, PolicyAccess access = PolicyAccess()) {
    service_.reset();
    store_ = std::make_unique<nonce::InMemoryReplayStore>(replay_capacity, clock);
    auto nonces =
        nonce::NonceService::Create(crypto::RandomBytes(32), absl::Seconds(60), clock, *store_);
    ASSERT_TRUE(nonces.ok()) << nonces.status();
    nonces_ = *std::move(nonces);
    auto keys = token::KeyManager::CreateFromKeys(token::JwsAlgorithm::kEs256, {});
    ASSERT_TRUE(keys.ok());
    keys_ = *std::move(keys);
    attestation::v1::TokenConfig tc;
    tc.set_issuer("limits-test");
    auto tokens = token::TokenIssuer::Create(tc, clock, *keys_);
    ASSERT_TRUE(tokens.ok());
    tokens_ = *std::move(tokens);
    attestation::v1::SimulationConfig sim;
    sim.set_trust_simulation_root(true);
    sim.set_dir(*dir_ + "/sim");
    auto registry = appraisal::MakeDefaultRegistry(sim);
    ASSERT_TRUE(registry.ok()) << registry.status();
    auto engine = appraisal::Engine::Create(*std::move(registry),
                                            std::make_shared<collateral::EmptySource>());
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    auto dev = policy::ParsePolicy(kDevPolicy, "dev");
    auto fleet = policy::ParsePolicy(kFleetPolicy, "fleet");
    ASSERT_TRUE(dev.ok() && fleet.ok());
    auto set = std::make_shared<PolicySet>(*dev);
    ASSERT_TRUE(set->Add(*fleet).ok());
    policies_ = PolicyStore::Fixed(set);
    metrics_ = std::make_unique<Metrics>();
    rate_store_ = std::make_unique<limits::InMemoryRateLimitStore>(1000, clock);
    limiter_ = std::make_unique<limits::RequestLimiter>(*rate_store_, request_limits);
    budget_.reset();
    if (max_outstanding > 0) {
      budget_ = std::make_unique<limits::ChallengeBudget>(max_outstanding, absl::Seconds(60),
                                                          clock);
    }
    access_ = std::move(access);
    ServiceDeps deps{clock,          *nonces_,       *tokens_,      *keys_,
                     *engine_,       *policies_,     metrics_.get(), nullptr,
                     limiter_.get(), budget_.get(),  &access_};
    deps.inflight = inflight_.get();
    service_ = std::make_unique<AttestationServiceImpl>(deps, ServiceOptions{});
  }
  // Admission control for the next Build (its gauges go to metrics_).
  void UseInflight(limits::InflightLimits l) {
    inflight_ = std::make_unique<limits::InflightLimiter>(l, [this](int in_flight, int queued) {
      if (metrics_ != nullptr) metrics_->SetAdmission(in_flight, queued);
    });
  }

  static AttestRequest Request(const Challenge& c, absl::Time at, const std::string& policy = "") {
    auto ev = sim::SimulateSnpEvidence(*root_, c.nonce(), at, {});
    EXPECT_TRUE(ev.ok()) << ev.status();
    AttestRequest req;
    *req.mutable_challenge() = c;
    if (ev.ok()) *req.mutable_evidence() = ev->bundle;
    req.set_policy(policy);
    return req;
  }

  // mTLS material: a CA, a server certificate for "localhost" and clients.
  void MakeTls(int clients) {
    testing::CertSpec ca_spec;
    ca_spec.common_name = "limits test CA";
    ca_spec.is_ca = true;
    auto ca = testing::MakeRoot(ca_spec, testing::KeyType::kEcP256);
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_pem_ = crypto::CertificatePem(ca->cert.get());
    const Bytes san = {0x30, 0x0b, 0x82, 0x09, 'l', 'o', 'c', 'a', 'l', 'h', 'o', 's', 't'};
    testing::CertSpec server_spec;
    server_spec.common_name = "localhost";
    server_spec.serial = {0x02};
    server_spec.extended_key_usage_oids = {"1.3.6.1.5.5.7.3.1"};
    server_spec.extensions = {{"2.5.29.17", san, false}};
    auto server = testing::MakeCert(server_spec, testing::KeyType::kEcP256, ca->cert.get(),
                                    ca->key.get());
    ASSERT_TRUE(server.ok()) << server.status();
    Write("ca.pem", ca_pem_);
    Write("server.pem", crypto::CertificatePem(server->cert.get()));
    Write("server.key", crypto::PrivateKeyPem(server->key.get()));
    clients_.clear();
    for (int i = 0; i < clients; ++i) {
      testing::CertSpec spec;
      spec.common_name = absl::StrCat("attester-", i);
      spec.serial = {static_cast<uint8_t>(0x10 + i)};
      spec.extended_key_usage_oids = {"1.3.6.1.5.5.7.3.2"};
      auto c = testing::MakeCert(spec, testing::KeyType::kEcP256, ca->cert.get(), ca->key.get());
      ASSERT_TRUE(c.ok()) << c.status();
      clients_.push_back({crypto::CertificatePem(c->cert.get()),
                          crypto::PrivateKeyPem(c->key.get()),
                          HexEncode(crypto::Sha256(crypto::CertificateDer(c->cert.get())))});
    }
  }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(*dir_ + "/" + name) << text;
  }
  RunningGrpcServer Start(bool mtls, GrpcServerOptions opts = {}) {
    opts.listen = "127.0.0.1:0";
    if (mtls) {
      opts.tls.set_cert_file(*dir_ + "/server.pem");
      opts.tls.set_key_file(*dir_ + "/server.key");
      opts.tls.set_client_ca_file(*dir_ + "/ca.pem");
    }
    auto running = StartGrpcServer(opts, service_.get());
    EXPECT_TRUE(running.ok()) << running.status();
    return running.ok() ? *std::move(running) : RunningGrpcServer{};
  }
  std::unique_ptr<attestation::v1::AttestationService::Stub> Stub(int port, int client) {
    std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
    if (client >= 0) {
      grpc::SslCredentialsOptions o;
      o.pem_root_certs = ca_pem_;
      o.pem_cert_chain = clients_[static_cast<size_t>(client)].cert_pem;
      o.pem_private_key = clients_[static_cast<size_t>(client)].key_pem;
      creds = grpc::SslCredentials(o);
    }
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    return attestation::v1::AttestationService::NewStub(
        grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port), creds, args));
  }

  static std::string* dir_;
  static sim::SimulationRoot* root_;
  std::string ca_pem_;
  std::vector<ClientCert> clients_;
  std::unique_ptr<nonce::InMemoryReplayStore> store_;
  std::unique_ptr<nonce::NonceService> nonces_;
  std::unique_ptr<token::KeyManager> keys_;
  std::unique_ptr<token::TokenIssuer> tokens_;
  std::unique_ptr<appraisal::Engine> engine_;
  std::unique_ptr<PolicyStore> policies_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<limits::InMemoryRateLimitStore> rate_store_;
  std::unique_ptr<limits::RequestLimiter> limiter_;
  std::unique_ptr<limits::ChallengeBudget> budget_;
  std::unique_ptr<limits::InflightLimiter> inflight_;  // before service_: outlives it
  PolicyAccess access_;
  std::unique_ptr<AttestationServiceImpl> service_;
};

std::string* LimitsTest::dir_ = nullptr;
sim::SimulationRoot* LimitsTest::root_ = nullptr;

// The flood test (issue 10): over mTLS, client 0 floods GetChallenge and
// Attest from 4 threads for 2 s while client 1 (another certificate, the
// same IP) attests 8 times. Real clock, real gRPC, real engine.
TEST_F(LimitsTest, FloodingClientIsThrottledWhileAnotherKeepsAttesting) {
  MakeTls(2);
  const limits::RateLimit per_peer{5, 10};  // 5/s, burst 10, for each RPC
  Build(Clock::Real(), 100000, {per_peer, per_peer}, /*max_outstanding=*/100000);
  RunningGrpcServer s = Start(/*mtls=*/true);
  ASSERT_NE(s.server, nullptr);

  std::atomic<int> sent{0}, ok{0}, throttled{0}, other{0}, missing_hint{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> flooders;
  const absl::Time flood_start = absl::Now();
  for (int t = 0; t < 4; ++t) {
    flooders.emplace_back([&, t] {
      auto stub = Stub(s.port, 0);
      AttestRequest junk;  // admitted ones fail INVALID_ARGUMENT (no challenge)
      for (int i = 0; !stop.load(); ++i) {
        grpc::ClientContext ctx;
        ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
        grpc::Status st;
        if ((i + t) % 2 == 0) {
          Challenge c;
          st = stub->GetChallenge(&ctx, attestation::v1::GetChallengeRequest(), &c);
        } else {
          AttestResponse r;
          st = stub->Attest(&ctx, junk, &r);
        }
        ++sent;
        if (st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
          ++throttled;
          const std::string hint = RetryAfter(ctx);
          int64_t seconds = 0;
          if (!absl::SimpleAtoi(hint, &seconds) || seconds < 1) ++missing_hint;
        } else if (st.ok() || st.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
          ++ok;  // admitted
        } else {
          ++other;
        }
      }
    });
  }

  // The second client, meanwhile: challenge, evidence, attest, 8 times.
  auto honest = Stub(s.port, 1);
  int honest_ok = 0;
  std::vector<std::string> failures;
  absl::SleepFor(absl::Milliseconds(200));  // the flood is under way
  for (int i = 0; i < 8; ++i) {
    Challenge c;
    grpc::ClientContext cctx;
    grpc::Status st = honest->GetChallenge(&cctx, attestation::v1::GetChallengeRequest(), &c);
    if (!st.ok()) {
      failures.push_back(absl::StrCat("GetChallenge: ", st.error_message()));
      continue;
    }
    AttestResponse resp;
    grpc::ClientContext actx;
    st = honest->Attest(&actx, Request(c, absl::Now()), &resp);
    if (!st.ok()) {
      failures.push_back(absl::StrCat("Attest: ", st.error_message()));
    } else if (resp.verdict() == attestation::v1::CONTRAINDICATED || resp.token().empty()) {
      failures.push_back(absl::StrCat("verdict: ", absl::StrJoin(resp.reasons(), ",")));
    } else {
      ++honest_ok;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  while (absl::Now() - flood_start < absl::Seconds(2)) absl::SleepFor(absl::Milliseconds(20));
  stop.store(true);
  for (auto& t : flooders) t.join();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - flood_start);
  s.server->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(2)));

  std::cout << "flood: " << sent << " requests in " << seconds << " s from one client: " << ok
            << " admitted, " << throttled << " RESOURCE_EXHAUSTED (retry-after on all: "
            << (missing_hint == 0 ? "yes" : "no") << "), " << other << " other; second client: "
            << honest_ok << "/8 challenge+attest with a token" << std::endl;
  RecordProperty("flood_sent", sent.load());
  RecordProperty("flood_throttled", throttled.load());
  RecordProperty("second_client_successes", honest_ok);
  EXPECT_EQ(honest_ok, 8) << absl::StrJoin(failures, "\n");
  EXPECT_EQ(other, 0);
  EXPECT_EQ(missing_hint, 0);
  EXPECT_GT(throttled, 0);
  // Per RPC at most burst + rate x duration (+1 for rounding).
  EXPECT_LE(ok, static_cast<int>(2 * (10 + 5 * seconds + 1)));
  EXPECT_THAT(metrics_->Serialize(),
              HasSubstr("rp_requests_throttled_total{reason=\"peer_rate\",rpc=\"GetChallenge\"}"));
}

// Without a client certificate the key is the IP address (no port): new
// connections do not get new budgets. The hint is exact with a fake clock.
TEST_F(LimitsTest, ThrottledCallsCarryRetryAfterTrailer) {
  FakeClock clock(absl::Now());
  Build(clock, 1000, {limits::RateLimit{0.25, 2}, limits::RateLimit{0.5, 1}});
  RunningGrpcServer s = Start(/*mtls=*/false);
  ASSERT_NE(s.server, nullptr);
  for (int i = 0; i < 3; ++i) {
    auto stub = Stub(s.port, -1);  // a new channel (connection) each time
    grpc::ClientContext ctx;
    Challenge c;
    grpc::Status st = stub->GetChallenge(&ctx, attestation::v1::GetChallengeRequest(), &c);
    if (i < 2) {
      EXPECT_TRUE(st.ok()) << st.error_message();
      EXPECT_EQ(RetryAfter(ctx), "");
    } else {
      EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
      EXPECT_EQ(RetryAfter(ctx), "4");  // 1 token at 0.25/s
      EXPECT_THAT(st.error_message(), HasSubstr("retry after 4 s"));
    }
  }
  auto stub = Stub(s.port, -1);
  for (int i = 0; i < 2; ++i) {
    grpc::ClientContext ctx;
    AttestResponse r;
    grpc::Status st = stub->Attest(&ctx, AttestRequest(), &r);
    if (i == 0) {
      EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);  // admitted
    } else {
      EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
      EXPECT_EQ(RetryAfter(ctx), "2");
    }
  }
  clock.Advance(absl::Seconds(4));
  grpc::ClientContext ctx;
  Challenge c;
  EXPECT_TRUE(stub->GetChallenge(&ctx, attestation::v1::GetChallengeRequest(), &c).ok());
  s.server->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
}

// No more challenges out than the replay store can record.
TEST_F(LimitsTest, ChallengeBudgetIsResourceExhaustedWithRetryAfter) {
  FakeClock clock(absl::FromUnixSeconds(1750000000));
  const limits::RateLimit none{-1, 1};
  Build(clock, 3, {none, none}, /*max_outstanding=*/3);
  RunningGrpcServer s = Start(/*mtls=*/false);
  ASSERT_NE(s.server, nullptr);
  auto stub = Stub(s.port, -1);
  for (int i = 0; i < 4; ++i) {
    grpc::ClientContext ctx;
    Challenge c;
    grpc::Status st = stub->GetChallenge(&ctx, attestation::v1::GetChallengeRequest(), &c);
    if (i < 3) {
      EXPECT_TRUE(st.ok()) << st.error_message();
    } else {
      EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
      EXPECT_EQ(RetryAfter(ctx), "61");  // lifetime 60 s + 1 s margin
      EXPECT_THAT(st.error_message(), HasSubstr("max_outstanding_challenges"));
    }
  }
  EXPECT_THAT(metrics_->Serialize(),
              HasSubstr("rp_requests_throttled_total{reason=\"challenge_budget\","
                        "rpc=\"GetChallenge\"} 1"));
  clock.Advance(absl::Seconds(61));
  grpc::ClientContext ctx;
  Challenge c;
  EXPECT_TRUE(stub->GetChallenge(&ctx, attestation::v1::GetChallengeRequest(), &c).ok());
  s.server->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
}

// Without the budget (e.g. a store shared with other replicas), a full
// replay store fails closed with RESOURCE_EXHAUSTED, and the refused
// challenge is not consumed: it attests once the store has room.
TEST_F(LimitsTest, FullReplayStoreIsResourceExhaustedAndKeepsTheChallenge) {
  FakeClock clock(absl::FromUnixSeconds(1750000000));
  const limits::RateLimit none{-1, 1};
  Build(clock, 1, {none, none});
  Challenge c1, c2;
  ASSERT_TRUE(service_->DoGetChallenge(&c1).ok());
  clock.Advance(absl::Seconds(30));
  ASSERT_TRUE(service_->DoGetChallenge(&c2).ok());
  AttestResponse r;
  ASSERT_TRUE(service_->DoAttest(Request(c1, clock.Now()), "", &r).ok());
  ASSERT_FALSE(r.token().empty());
  const AttestRequest req2 = Request(c2, clock.Now());
  int64_t retry = 0;
  grpc::Status st = service_->DoAttest(req2, PeerInfo{}, &r, &retry);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
  EXPECT_THAT(st.error_message(), HasSubstr("replay store full"));
  EXPECT_EQ(retry, 5);
  clock.Advance(absl::Seconds(31));  // c1 expired and purged; c2 has 29 s left
  ASSERT_TRUE(service_->DoAttest(req2, PeerInfo{}, &r).ok());
  EXPECT_NE(r.verdict(), attestation::v1::CONTRAINDICATED) << absl::StrJoin(r.reasons(), ",");
  EXPECT_FALSE(r.token().empty());
}

// ---- Admission control (issue 16) -------------------------------------

std::string Trailer(const grpc::ClientContext& ctx, const char* key) {
  const auto& md = ctx.GetServerTrailingMetadata();
  auto it = md.find(key);
  return it == md.end() ? "" : std::string(it->second.data(), it->second.size());
}

// With every slot taken (held here, as a running Attest would) and no queue,
// Attest fails fast with RESOURCE_EXHAUSTED, reason SERVER_BUSY in the
// trailers and a retry hint, through real gRPC. The refused request changes
// nothing: its challenge is not consumed (the same request attests once a
// slot is free, and only then is it a replay), nothing is audited, and the
// refusal is counted.
TEST_F(LimitsTest, FullServerIsResourceExhaustedAndConsumesNothing) {
  const limits::RateLimit none{-1, 1};
  UseInflight({.max_in_flight = 1, .max_queued = 0, .max_queue_wait = absl::Seconds(60)});
  Build(Clock::Real(), 1000, {none, none});
  RunningGrpcServer s = Start(/*mtls=*/false);
  ASSERT_NE(s.server, nullptr);
  auto stub = Stub(s.port, -1);

  Challenge c;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->GetChallenge(&ctx, attestation::v1::GetChallengeRequest(), &c).ok());
  }
  const AttestRequest req = Request(c, absl::Now());

  limits::InflightLimiter::Outcome busy = inflight_->Acquire();
  ASSERT_TRUE(busy.admitted());
  EXPECT_THAT(metrics_->Serialize(), HasSubstr("rp_inflight_requests 1"));
  for (int i = 0; i < 2; ++i) {
    grpc::ClientContext ctx;
    AttestResponse resp;
    grpc::Status st = stub->Attest(&ctx, req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
    EXPECT_THAT(st.error_message(), HasSubstr("SERVER_BUSY: attest: the server is at capacity"));
    EXPECT_THAT(st.error_message(), HasSubstr("the challenge is not consumed"));
    EXPECT_EQ(Trailer(ctx, kReasonMetadata), "SERVER_BUSY");
    EXPECT_EQ(Trailer(ctx, kRetryAfterMetadata), "1");
    EXPECT_TRUE(resp.token().empty());
  }
  const std::string m = metrics_->Serialize();
  EXPECT_THAT(m, HasSubstr("rp_admission_rejected_total{reason=\"queue_full\",rpc=\"Attest\"} 2"));
  EXPECT_THAT(m, HasSubstr("rp_requests_throttled_total{reason=\"server_busy\",rpc=\"Attest\"} 2"));
  EXPECT_THAT(m, HasSubstr("rp_requests_total{code=\"RESOURCE_EXHAUSTED\",rpc=\"Attest\"} 2"));
  // Nothing reached the nonce check or the verifier.
  EXPECT_THAT(m, HasSubstr("rp_stage_seconds_count{stage=\"nonce\"} 0"));

  busy.permit.Release();
  EXPECT_THAT(metrics_->Serialize(), HasSubstr("rp_inflight_requests 0"));
  {
    grpc::ClientContext ctx;
    AttestResponse resp;
    grpc::Status st = stub->Attest(&ctx, req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_NE(resp.verdict(), attestation::v1::CONTRAINDICATED) << absl::StrJoin(resp.reasons(), ",");
    EXPECT_FALSE(resp.token().empty());
  }
  {
    // Now, and only now, the challenge is spent.
    grpc::ClientContext ctx;
    AttestResponse resp;
    ASSERT_TRUE(stub->Attest(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.verdict(), attestation::v1::CONTRAINDICATED);
    EXPECT_THAT(resp.reasons(), ::testing::Contains("NONCE_REPLAYED"));
  }
  s.server->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(2)));
}

// A request that finds the slots taken waits in the queue and runs when one
// frees up (no timing: the test frees it once the request is queued); one
// whose wait runs out (the call's own short wait; nobody frees the slot) is
// refused as queue_timeout and keeps its challenge.
TEST_F(LimitsTest, QueuedRequestRunsWhenASlotFreesAndATimedOutOneKeepsItsChallenge) {
  const limits::RateLimit none{-1, 1};
  UseInflight({.max_in_flight = 1, .max_queued = 1, .max_queue_wait = absl::Seconds(60)});
  Build(Clock::Real(), 1000, {none, none});
  Challenge c1, c2;
  ASSERT_TRUE(service_->DoGetChallenge(&c1).ok());
  ASSERT_TRUE(service_->DoGetChallenge(&c2).ok());
  const AttestRequest req1 = Request(c1, absl::Now());
  const AttestRequest req2 = Request(c2, absl::Now());

  limits::InflightLimiter::Outcome busy = inflight_->Acquire();
  ASSERT_TRUE(busy.admitted());
  grpc::Status queued_status;
  AttestResponse queued_resp;
  std::thread queued([&] { queued_status = service_->DoAttest(req1, PeerInfo{}, &queued_resp); });
  while (inflight_->queued() != 1) std::this_thread::yield();
  EXPECT_THAT(metrics_->Serialize(), HasSubstr("rp_queued_requests 1"));

  // The queue (1) is full: refused at once.
  AttestResponse r;
  int64_t retry = 0;
  grpc::Status full = service_->DoAttest(req2, PeerInfo{}, &r, &retry);
  EXPECT_EQ(full.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(retry, 1);

  busy.permit.Release();  // the queued request gets the slot
  queued.join();
  ASSERT_TRUE(queued_status.ok()) << queued_status.error_message();
  EXPECT_FALSE(queued_resp.token().empty());
  EXPECT_EQ(inflight_->in_flight(), 0);

  // A wait that can only run out: the slot is held and never freed.
  busy = inflight_->Acquire();
  ASSERT_TRUE(busy.admitted());
  grpc::Status late =
      service_->DoAttest(req2, PeerInfo{}, &r, &retry, /*max_queue_wait=*/absl::Milliseconds(1));
  EXPECT_EQ(late.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(late.error_message(), HasSubstr("SERVER_BUSY: attest: no slot of 1"));
  EXPECT_THAT(metrics_->Serialize(),
              HasSubstr("rp_admission_rejected_total{reason=\"queue_timeout\",rpc=\"Attest\"} 1"));
  busy.permit.Release();
  ASSERT_TRUE(service_->DoAttest(req2, PeerInfo{}, &r).ok());
  EXPECT_FALSE(r.token().empty()) << absl::StrJoin(r.reasons(), ",");
}

// ---- Who chooses the policy --------------------------------------------

TEST_F(LimitsTest, NamingAPolicyWithoutPolicyClientsIsPermissionDenied) {
  FakeClock clock(absl::FromUnixSeconds(1750000000));
  const limits::RateLimit none{-1, 1};
  Build(clock, 100, {none, none});
  Challenge c;
  ASSERT_TRUE(service_->DoGetChallenge(&c).ok());
  AttestRequest req = Request(c, clock.Now(), "fleet");
  AttestResponse r;
  grpc::Status st = service_->DoAttest(req, "ipv4:10.1.2.3:4", &r);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(st.error_message(), HasSubstr("may not choose policy 'fleet'"));
  // Unknown names get the same answer (no probing for policy ids).
  req.set_policy("no-such");
  EXPECT_EQ(service_->DoAttest(req, "ipv4:10.1.2.3:4", &r).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // The refusals did not consume the challenge.
  req.set_policy("");
  AttestResponse def;
  ASSERT_TRUE(service_->DoAttest(req, "ipv4:10.1.2.3:4", &def).ok());
  EXPECT_EQ(def.policy_id(), "dev@1");
  EXPECT_FALSE(def.token().empty());
  // The default by name is always allowed.
  for (const char* name : {"dev", "dev@1"}) {
    Challenge fresh;
    ASSERT_TRUE(service_->DoGetChallenge(&fresh).ok());
    AttestResponse ok;
    grpc::Status named = service_->DoAttest(Request(fresh, clock.Now(), name), "ipv4:10.1.2.3:4", &ok);
    ASSERT_TRUE(named.ok()) << name << ": " << named.error_message();
    EXPECT_EQ(ok.policy_id(), "dev@1");
  }
}

TEST_F(LimitsTest, PolicyClientsByAddress) {
  FakeClock clock(absl::FromUnixSeconds(1750000000));
  google::protobuf::Map<std::string, attestation::v1::PolicyClients> m;
  m["fleet"].add_peers("10.0.0.0/8");
  m["ghost"].add_peers("10.0.0.0/8");  // allowed, but no such policy is loaded
  auto access = PolicyAccess::Create(m);
  ASSERT_TRUE(access.ok()) << access.status();
  const limits::RateLimit none{-1, 1};
  Build(clock, 100, {none, none}, 0, *access);
  Challenge c;
  ASSERT_TRUE(service_->DoGetChallenge(&c).ok());
  AttestRequest req = Request(c, clock.Now(), "fleet");
  AttestResponse r;
  EXPECT_EQ(service_->DoAttest(req, "ipv4:192.0.2.1:4", &r).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  req.set_policy("ghost");
  EXPECT_EQ(service_->DoAttest(req, "ipv4:10.1.2.3:4", &r).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  req.set_policy("fleet@1");
  ASSERT_TRUE(service_->DoAttest(req, "ipv4:10.1.2.3:4", &r).ok());
  EXPECT_EQ(r.policy_id(), "fleet@1");
}

// Over mTLS the client certificate decides: client 0 is listed (by the
// SHA-256 of its certificate), client 1 is not.
TEST_F(LimitsTest, PolicyClientsByCertificateOverMtls) {
  MakeTls(2);
  google::protobuf::Map<std::string, attestation::v1::PolicyClients> m;
  m["fleet"].add_identities("sha256:" + clients_[0].sha256_hex);
  auto access = PolicyAccess::Create(m);
  ASSERT_TRUE(access.ok()) << access.status();
  const limits::RateLimit none{-1, 1};
  Build(Clock::Real(), 100, {none, none}, 0, *access);
  RunningGrpcServer s = Start(/*mtls=*/true);
  ASSERT_NE(s.server, nullptr);
  for (int client : {0, 1}) {
    auto stub = Stub(s.port, client);
    Challenge c;
    grpc::ClientContext cctx;
    ASSERT_TRUE(stub->GetChallenge(&cctx, attestation::v1::GetChallengeRequest(), &c).ok());
    grpc::ClientContext actx;
    AttestResponse r;
    grpc::Status st = stub->Attest(&actx, Request(c, absl::Now(), "fleet"), &r);
    if (client == 0) {
      ASSERT_TRUE(st.ok()) << st.error_message();
      EXPECT_EQ(r.policy_id(), "fleet@1");
    } else {
      EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
    }
  }
  s.server->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
}

// ---- gRPC server options -------------------------------------------------

// One unary call to the reflection service (a bidi stream answering one
// request per message): OK with reflection, UNIMPLEMENTED without.
grpc::StatusCode CallReflection(int port) {
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                                     grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  const std::string list_services("\x3a\x00", 2);  // ServerReflectionRequest{list_services: ""}
  grpc::Slice slice(list_services);
  grpc::ByteBuffer request(&slice, 1);
  auto call = stub.PrepareUnaryCall(
      &ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", request, &cq);
  call->StartCall();
  grpc::ByteBuffer response;
  grpc::Status status;
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return status.error_code();
}

TEST_F(LimitsTest, ReflectionOnlyWhenEnabled) {
  FakeClock clock(absl::Now());
  const limits::RateLimit none{-1, 1};
  Build(clock, 10, {none, none});
  for (bool enable : {false, true, false}) {
    GrpcServerOptions o;
    o.enable_reflection = enable;
    RunningGrpcServer s = Start(false, o);
    ASSERT_NE(s.server, nullptr);
    EXPECT_EQ(CallReflection(s.port),
              enable ? grpc::StatusCode::OK : grpc::StatusCode::UNIMPLEMENTED)
        << enable;
    s.server->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
  }
}

// GetJwks that takes 300 ms and records how many run at once.
class SlowJwksService final : public attestation::v1::AttestationService::Service {
 public:
  grpc::Status GetJwks(grpc::ServerContext*, const attestation::v1::GetJwksRequest*,
                       attestation::v1::Jwks*) override {
    const int now = ++in_flight_;
    int seen = max_.load();
    while (now > seen && !max_.compare_exchange_weak(seen, now)) {
    }
    absl::SleepFor(absl::Milliseconds(300));
    --in_flight_;
    return grpc::Status::OK;
  }
  std::atomic<int> in_flight_{0}, max_{0};
};

int MaxConcurrentOnOneConnection(int max_streams) {
  SlowJwksService service;
  GrpcServerOptions o;
  o.listen = "127.0.0.1:0";
  o.max_concurrent_streams = max_streams;
  auto s = StartGrpcServer(o, &service);
  EXPECT_TRUE(s.ok()) << s.status();
  if (!s.ok()) return -1;
  auto stub = attestation::v1::AttestationService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", s->port), grpc::InsecureChannelCredentials()));
  std::vector<std::thread> calls;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i) {
    calls.emplace_back([&] {
      grpc::ClientContext ctx;
      ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
      attestation::v1::Jwks jwks;
      if (stub->GetJwks(&ctx, attestation::v1::GetJwksRequest(), &jwks).ok()) ++ok;
    });
  }
  for (auto& t : calls) t.join();
  EXPECT_EQ(ok, 4);  // queued by the transport, not refused
  s->server->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
  return service.max_.load();
}

TEST(GrpcServerOptionsTest, MaxConcurrentStreamsLimitsOneConnection) {
  EXPECT_EQ(MaxConcurrentOnOneConnection(1), 1);
  EXPECT_GE(MaxConcurrentOnOneConnection(4), 2);
}

TEST(GrpcServerOptionsTest, ResourceQuotaAndBadValues) {
  SlowJwksService service;
  GrpcServerOptions o;
  o.listen = "127.0.0.1:0";
  o.memory_bytes = 64 * 1024 * 1024;
  o.max_threads = 8;
  auto s = StartGrpcServer(o, &service);
  ASSERT_TRUE(s.ok()) << s.status();
  s->server->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
  o.max_concurrent_streams = 0;
  EXPECT_EQ(StartGrpcServer(o, &service).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace rp::server
