// In-process tests of AttestationServiceImpl with a FakeClock, the real
// engine (SEV-SNP verifier trusting a per-test simulation root) and the real
// nonce and token services.
#include "server/service.h"
#include "server/policy_store.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "attestation/v1/config.pb.h"
#include "cli/simulate.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "appraisal/engine.h"
#include "appraisal/registry_factory.h"
#include "server/audit.h"
#include "server/grpc_server.h"
#include "server/metrics.h"
#include "server/nonce/nonce_service.h"
#include "server/nonce/replay_store.h"
#include "server/token/key_manager.h"
#include "server/token/token_issuer.h"
#include "server/token/token_verifier.h"
#include "tests/integration/grpc_health.h"
#include "tests/testing/cert_factory.h"
#include "verifier/collateral/source.h"
#include "verifier/common/clock.h"
#include "policy/canonical_json.h"
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
using ::testing::ElementsAre;
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

// A replay store whose backend is down.
class BrokenReplayStore final : public nonce::ReplayStore {
 public:
  absl::StatusOr<bool> MarkUsed(std::span<const uint8_t>, absl::Time) override {
    return absl::UnavailableError("redis: connection refused");
  }
};

// A collateral upstream that is down: every lookup fails.
class DownSource final : public collateral::CollateralSource {
 public:
  absl::StatusOr<std::optional<Bytes>> Get(std::string_view key) const override {
    return absl::UnavailableError(absl::StrCat("amd-kds: ", std::string(key), ": connection refused"));
  }
  std::string Describe() const override { return "down"; }
};

class ServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string tmpl =
        (fs::temp_directory_path() / "rp_service_test_XXXXXX").string();
    sim_dir_ = new std::string(::mkdtemp(tmpl.data()));
    auto root = sim::LoadOrCreateSimulationRoot(*sim_dir_);
    ASSERT_TRUE(root.ok()) << root.status();
    root_ = new sim::SimulationRoot(*std::move(root));
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(*sim_dir_, ec);
    delete root_;
    delete sim_dir_;
  }

  void SetUp() override { Build(store_); }

  void Build(nonce::ReplayStore& store,
             int64_t max_request_bytes = 4 * 1024 * 1024,
             bool empty_registry = false) {
    service_.reset();
    auto nonces = nonce::NonceService::Create(crypto::RandomBytes(32),
                                              absl::Seconds(60), clock_, store);
    ASSERT_TRUE(nonces.ok()) << nonces.status();
    nonces_ = *std::move(nonces);
    auto keys =
        token::KeyManager::CreateFromKeys(token::JwsAlgorithm::kEs256, {});
    ASSERT_TRUE(keys.ok()) << keys.status();
    keys_ = *std::move(keys);
    attestation::v1::TokenConfig tc;
    tc.set_issuer("service-test");
    tc.set_profile(server_token_profile_);
    auto tokens = token::TokenIssuer::Create(tc, clock_, *keys_);
    ASSERT_TRUE(tokens.ok()) << tokens.status();
    tokens_ = *std::move(tokens);
    std::unique_ptr<core::Registry> registry;
    if (empty_registry) {
      registry = std::make_unique<core::Registry>();
    } else {
      attestation::v1::SimulationConfig sim;
      sim.set_trust_simulation_root(true);
      sim.set_dir(*sim_dir_);
      auto r = appraisal::MakeDefaultRegistry(sim);
      ASSERT_TRUE(r.ok()) << r.status();
      registry = *std::move(r);
    }
    auto engine = appraisal::Engine::Create(
        std::move(registry), std::make_shared<collateral::EmptySource>());
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    auto dev = policy::ParsePolicy(policy_text_, "dev policy");
    ASSERT_TRUE(dev.ok()) << dev.status();
    policies_ = PolicyStore::Fixed(std::make_shared<PolicySet>(*dev));
    metrics_ = std::make_unique<Metrics>();
    audit_ = AuditLog::InMemoryForTest();
    ServiceDeps deps{clock_,   *nonces_,   *tokens_,       *keys_,
                     *engine_, *policies_, metrics_.get(), audit_.get()};
    service_ = std::make_unique<AttestationServiceImpl>(
        deps, ServiceOptions{max_request_bytes});
  }

  Challenge NewChallenge() {
    Challenge c;
    EXPECT_TRUE(service_->DoGetChallenge(&c).ok());
    return c;
  }

  AttestRequest Request(const Challenge& c) {
    auto ev = sim::SimulateSnpEvidence(*root_, c.nonce(), clock_.Now(), {});
    EXPECT_TRUE(ev.ok()) << ev.status();
    AttestRequest req;
    *req.mutable_challenge() = c;
    if (ev.ok()) {
      *req.mutable_evidence() = ev->bundle;
    }
    return req;
  }

  nlohmann::json JwksJson() { return nlohmann::json::parse(keys_->JwksJson()); }

  static std::string* sim_dir_;
  static sim::SimulationRoot* root_;
  std::string server_token_profile_;  // TokenConfig.profile for Build()
  std::string policy_text_ = kDevPolicy;
  FakeClock clock_{absl::Now()};
  nonce::InMemoryReplayStore store_{1000, clock_};
  std::unique_ptr<nonce::NonceService> nonces_;
  std::unique_ptr<token::KeyManager> keys_;
  std::unique_ptr<token::TokenIssuer> tokens_;
  std::unique_ptr<appraisal::Engine> engine_;
  std::unique_ptr<PolicyStore> policies_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<AttestationServiceImpl> service_;
};

std::string* ServiceTest::sim_dir_ = nullptr;
sim::SimulationRoot* ServiceTest::root_ = nullptr;

void ExpectNonceRejection(const AttestResponse& resp,
                          const std::string& reason) {
  EXPECT_EQ(resp.verdict(), attestation::v1::CONTRAINDICATED);
  ASSERT_EQ(resp.checks_size(), 1);
  EXPECT_EQ(resp.checks(0).name(), "nonce");
  EXPECT_EQ(resp.checks(0).status(), attestation::v1::FAIL);
  EXPECT_EQ(resp.checks(0).reason(), reason);
  EXPECT_THAT(resp.reasons(), ElementsAre(reason));
  EXPECT_TRUE(resp.token().empty());
  EXPECT_EQ(resp.submods_size(), 0);
  EXPECT_EQ(resp.policy_id(), "dev@1");
}

TEST_F(ServiceTest, AttestsSimulatedEvidenceAndIssuesAVerifiableToken) {
  const Challenge c = NewChallenge();
  const AttestRequest req = Request(c);
  AttestResponse resp;
  grpc::Status st = service_->DoAttest(req, "ipv4:127.0.0.1:1", &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_NE(resp.verdict(), attestation::v1::CONTRAINDICATED)
      << "reasons: " << absl::StrJoin(resp.reasons(), ",");
  EXPECT_EQ(resp.policy_id(), "dev@1");
  ASSERT_GE(resp.submods_size(), 1);
  EXPECT_EQ(resp.submods(0).tee(), "sev-snp");
  ASSERT_FALSE(resp.token().empty());

  auto claims = token::VerifyToken(resp.token(), JwksJson(), clock_.Now(),
                                   absl::ZeroDuration());
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ((*claims)["iss"], "service-test");
  EXPECT_TRUE(claims->contains("submods"));
  EXPECT_TRUE(claims->contains("eat_nonce"));

  // One audit line: the token's jti, a nonce hash prefix, never the token
  // or the nonce.
  auto lines = audit_->LinesForTest();
  ASSERT_EQ(lines.size(), 1u);
  auto line = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(line["request_id"], (*claims)["jti"]);
  EXPECT_EQ(line["peer"], "ipv4:127.0.0.1:1");
  EXPECT_EQ(line["code"], "OK");
  EXPECT_EQ(line["policy_id"], "dev@1");
  EXPECT_EQ(line["nonce_sha256_prefix"], NonceHashPrefix(AsBytes(c.nonce())));
  EXPECT_EQ(line["devices"][0]["tee"], "sev-snp");
  EXPECT_THAT(lines[0], ::testing::Not(HasSubstr(resp.token())));
  EXPECT_THAT(lines[0],
              ::testing::Not(HasSubstr(HexEncode(AsBytes(c.nonce())))));

  const std::string m = metrics_->Serialize();
  EXPECT_THAT(m, HasSubstr("rp_requests_total{code=\"OK\",rpc=\"Attest\"} 1"));
  EXPECT_THAT(m, HasSubstr("rp_nonces_issued_total 1"));
  EXPECT_THAT(m, HasSubstr("rp_stage_seconds_count{stage=\"verify\"} 1"));
  EXPECT_THAT(m, HasSubstr("rp_stage_seconds_count{stage=\"token\"} 1"));
}

// Issue 10, through the service: a token is signed for every verdict, but
// what it vouches for follows the checks. The intact simulated node's token
// carries cnf and the device claims; a forged MEASUREMENT (signature fails)
// is contraindicated and its token carries neither the forged claims nor
// cnf; a swapped TEE key breaks the binding and loses cnf.
TEST_F(ServiceTest, TokensCarryOnlyWhatWasVerified) {
  auto token_claims = [&](const AttestResponse& r) {
    auto claims = token::VerifyToken(r.token(), JwksJson(), clock_.Now(), absl::ZeroDuration());
    EXPECT_TRUE(claims.ok()) << claims.status();
    return claims.ok() ? *claims : nlohmann::json();
  };
  {
    AttestResponse resp;
    ASSERT_TRUE(service_->DoAttest(Request(NewChallenge()), "p", &resp).ok());
    nlohmann::json t = token_claims(resp);
    EXPECT_TRUE(t.contains("cnf"));
    EXPECT_EQ(t["binding"], "attest-v1");
    EXPECT_FALSE(t["submods"]["cpu0"]["claims"].empty());
  }
  {
    AttestRequest req = Request(NewChallenge());
    std::string report = req.evidence().sev_snp().report();
    report[0x90] = static_cast<char>(report[0x90] ^ 0xff);  // MEASUREMENT
    req.mutable_evidence()->mutable_sev_snp()->set_report(report);
    AttestResponse resp;
    ASSERT_TRUE(service_->DoAttest(req, "p", &resp).ok());
    EXPECT_EQ(resp.verdict(), attestation::v1::CONTRAINDICATED);
    nlohmann::json t = token_claims(resp);
    EXPECT_EQ(t["ear.status"], "contraindicated");
    EXPECT_FALSE(t.contains("cnf"));
    EXPECT_FALSE(t.contains("binding"));
    EXPECT_TRUE(t["submods"]["cpu0"]["claims"].empty()) << t["submods"]["cpu0"]["claims"];
    EXPECT_EQ(t["submods"]["cpu0"]["claims-omitted"], "evidence-not-authentic");
    // The response still shows them, labelled, for diagnosis.
    EXPECT_GT(resp.submods(0).unverified_claims().fields_size(), 0);
    EXPECT_EQ(resp.submods(0).claims().fields_size(), 0);
  }
  {
    AttestRequest req = Request(NewChallenge());
    AttestRequest other = Request(NewChallenge());
    *req.mutable_evidence()->mutable_tee_public_key() = other.evidence().tee_public_key();
    AttestResponse resp;
    ASSERT_TRUE(service_->DoAttest(req, "p", &resp).ok());
    EXPECT_EQ(resp.verdict(), attestation::v1::CONTRAINDICATED);
    nlohmann::json t = token_claims(resp);
    EXPECT_FALSE(t.contains("cnf"));
    EXPECT_FALSE(t.contains("binding"));
  }
}

// Compact tokens (docs/token.md#profiles): the default token carries the
// SHA-256 of the canonical full result, which the response carries as
// result_json; a relying party recomputes it from the response alone.
TEST_F(ServiceTest, RelyingPartyRecomputesTheAppraisalHashFromTheResponse) {
  AttestResponse resp;
  ASSERT_TRUE(service_->DoAttest(Request(NewChallenge()), "p", &resp).ok());
  auto claims = token::VerifyToken(resp.token(), JwksJson(), clock_.Now(), absl::ZeroDuration());
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ((*claims)["token_profile"], "compact");
  ASSERT_FALSE(resp.result_json().empty());
  // What a relying party does: SHA-256 over the exact bytes of result_json.
  const std::string recomputed = HexEncode(crypto::Sha256(AsBytes(resp.result_json())));
  EXPECT_EQ((*claims)["appraisal_sha256"], recomputed);
  // The bytes are canonical (re-canonicalising the parsed JSON gives them
  // back), and they are the full result the response's fields show.
  const nlohmann::json result = nlohmann::json::parse(resp.result_json());
  EXPECT_EQ(policy::CanonicalJson(result).value(), resp.result_json());
  EXPECT_EQ(result["verdict"], (*claims)["ear.status"]);
  EXPECT_EQ(result["policy"]["sha256"], resp.policy_sha256());
  ASSERT_EQ(resp.submods_size(), 1);
  EXPECT_EQ(result["submods"]["cpu0"]["checks"].size(),
            static_cast<size_t>(resp.submods(0).checks_size()));
  // The full result has what the compact token left out.
  EXPECT_TRUE(result["submods"]["cpu0"]["claims"].contains("report_data"));
  EXPECT_FALSE((*claims)["submods"]["cpu0"]["claims"].contains("report_data"));
  EXPECT_EQ((*claims)["submods"]["cpu0"]["claims"]["measurement"],
            result["submods"]["cpu0"]["claims"]["measurement"]);
  // A result changed in one character no longer matches.
  std::string changed = resp.result_json();
  const size_t at = changed.find("\"verdict\":\"");
  ASSERT_NE(at, std::string::npos);
  changed[at + 11] = changed[at + 11] == 'w' ? 'a' : 'w';
  EXPECT_NE(HexEncode(crypto::Sha256(AsBytes(changed))), recomputed);
}

// The full profile stays selectable: server token.profile, overridden by a
// policy's token_profile; an unknown value is an error at start.
TEST_F(ServiceTest, TokenProfileFromServerConfigAndPolicy) {
  const auto profile_of = [&](AttestResponse* resp) {
    EXPECT_TRUE(service_->DoAttest(Request(NewChallenge()), "p", resp).ok());
    auto claims =
        token::VerifyToken(resp->token(), JwksJson(), clock_.Now(), absl::ZeroDuration());
    EXPECT_TRUE(claims.ok()) << claims.status();
    EXPECT_EQ((*claims)["appraisal_sha256"],
              HexEncode(crypto::Sha256(AsBytes(resp->result_json()))));
    return claims.ok() ? *claims : nlohmann::json();
  };
  AttestResponse compact_resp, full_resp;
  const nlohmann::json compact = profile_of(&compact_resp);
  EXPECT_EQ(compact["token_profile"], "compact");

  server_token_profile_ = "full";
  Build(store_);
  nlohmann::json full = profile_of(&full_resp);
  EXPECT_EQ(full["token_profile"], "full");
  EXPECT_TRUE(full["submods"]["cpu0"]["claims"].contains("report_data"));
  EXPECT_TRUE(full["submods"]["cpu0"].contains("collateral"));
  EXPECT_LT(compact_resp.token().size(), full_resp.token().size());

  // The policy's setting wins over the server's, both ways.
  policy_text_ = std::string(kDevPolicy) + "token_profile: compact\n";
  Build(store_);
  AttestResponse r1;
  EXPECT_EQ(profile_of(&r1)["token_profile"], "compact");
  server_token_profile_ = "";
  policy_text_ = std::string(kDevPolicy) + "token_profile: full\n";
  Build(store_);
  AttestResponse r2;
  EXPECT_EQ(profile_of(&r2)["token_profile"], "full");

  // A compact token keeps what the policy's release rules name.
  policy_text_ = std::string(kDevPolicy) +
                 "release_rules:\n"
                 "  - name: r\n"
                 "    all_of:\n"
                 "      - {claim: /submods/cpu0/claims/chip_id, op: exists, value: \"true\"}\n";
  Build(store_);
  AttestResponse r3;
  const nlohmann::json kept = profile_of(&r3);
  EXPECT_EQ(kept["token_profile"], "compact");
  EXPECT_TRUE(kept["submods"]["cpu0"]["claims"].contains("chip_id"));
  EXPECT_FALSE(kept["submods"]["cpu0"]["claims"].contains("report_data"));

  attestation::v1::TokenConfig tc;
  tc.set_profile("medium");
  auto bad = token::TokenIssuer::Create(tc, clock_, *keys_);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("profile"));
}

// Hot reload under load: 1,000 attestations from 50 threads while the
// policy file is replaced (and once broken). Every request succeeds and its
// token carries exactly the old or the new policy hash, the same one as the
// response; the broken file changes nothing.
TEST_F(ServiceTest, PolicyHotReloadUnderLoad) {
  const std::string dir = *sim_dir_ + "/reload";
  fs::create_directories(dir);
  const std::string file = dir + "/policy.yaml";
  const std::string v1 = std::string(kDevPolicy);
  std::string v2 = v1;
  const std::string from = "version: \"1\"";
  v2.replace(v2.find(from), from.size(), "version: \"2\"");
  auto write = [&file](const std::string& text) {
    std::ofstream(file + ".tmp", std::ios::trunc) << text;
    fs::rename(file + ".tmp", file);
  };
  write(v1);
  auto store = PolicyStore::Create({file, {}, nullptr});
  ASSERT_TRUE(store.ok()) << store.status();
  const std::string sha1 = (*store)->Current()->default_policy().sha256_hex;
  ServiceDeps deps{clock_, *nonces_, *tokens_, *keys_, *engine_, **store, nullptr, nullptr};
  AttestationServiceImpl service(deps, ServiceOptions{});

  constexpr int kRequests = 1000;
  constexpr int kThreads = 50;
  std::vector<AttestRequest> requests;
  requests.reserve(kRequests);
  for (int i = 0; i < kRequests; ++i) requests.push_back(Request(NewChallenge()));

  std::vector<AttestResponse> responses(kRequests);
  std::vector<grpc::Status> statuses(kRequests);
  std::atomic<int> next{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      while (!go.load()) std::this_thread::yield();
      for (int i = next.fetch_add(1); i < kRequests; i = next.fetch_add(1)) {
        statuses[i] = service.DoAttest(requests[i], "test", &responses[i]);
      }
    });
  }
  go.store(true);
  // Replace the file back and forth, with one broken version in between.
  std::string sha2;
  for (int round = 0; next.load() < kRequests && round < 200; ++round) {
    write(round % 2 == 0 ? v2 : v1);
    const absl::Status reloaded = (*store)->Reload();
    EXPECT_TRUE(reloaded.ok()) << reloaded;  // no ASSERT: the workers must be joined
    if (sha2.empty()) sha2 = (*store)->Current()->default_policy().sha256_hex;
    if (round == 3) {
      write("id: dev\nsev_snp: {max_vmpl: 9}\n");
      const std::string before = (*store)->Current()->default_policy().sha256_hex;
      EXPECT_FALSE((*store)->Reload().ok());
      EXPECT_EQ((*store)->Current()->default_policy().sha256_hex, before);
    }
    absl::SleepFor(absl::Milliseconds(2));
  }
  for (auto& t : threads) t.join();
  ASSERT_NE(sha1, sha2);

  std::set<std::string> seen;
  for (int i = 0; i < kRequests; ++i) {
    ASSERT_TRUE(statuses[i].ok()) << i << ": " << statuses[i].error_message();
    const AttestResponse& r = responses[i];
    ASSERT_NE(r.verdict(), attestation::v1::CONTRAINDICATED)
        << i << ": " << absl::StrJoin(r.reasons(), ",");
    const std::string& sha = r.policy_sha256();
    EXPECT_TRUE(sha == sha1 || sha == sha2) << i << ": " << sha;
    auto claims = token::VerifyToken(r.token(), JwksJson(), clock_.Now(), absl::ZeroDuration());
    ASSERT_TRUE(claims.ok()) << claims.status();
    EXPECT_EQ((*claims)["policy"]["sha256"], sha) << i;
    seen.insert(sha);
  }
  // Reloads ran throughout the 1,000 requests (several seconds): both
  // policies were in use.
  EXPECT_EQ(seen.size(), 2u);
}

TEST_F(ServiceTest, ReplayedChallengeIsAVerdictWithoutToken) {
  const AttestRequest req = Request(NewChallenge());
  AttestResponse first, second;
  ASSERT_TRUE(service_->DoAttest(req, "", &first).ok());
  ASSERT_FALSE(first.token().empty());
  grpc::Status st = service_->DoAttest(req, "", &second);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ExpectNonceRejection(second, "NONCE_REPLAYED");
  EXPECT_THAT(metrics_->Serialize(),
              HasSubstr("rp_nonces_rejected_total{reason=\"replayed\"} 1"));
  auto lines = audit_->LinesForTest();
  ASSERT_EQ(lines.size(), 2u);
  auto line = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(line["verdict"], "contraindicated");
  EXPECT_EQ(line["reasons"][0], "NONCE_REPLAYED");
  EXPECT_THAT(line["request_id"].get<std::string>(),
              ::testing::StartsWith("req-"));
}

// Issue 6: a composite simulated node (TDX + 8 GPUs, RIMs and OCSP answers
// from the simulator's collateral dir) gets a token once; the same challenge
// again is refused before any evidence is looked at.
TEST_F(ServiceTest, CompositeTdxGpuNodeIsAttestedOnceThenReplayRefused) {
  if (!sim::CompositeSimulationAvailable()) GTEST_SKIP() << "built without the builders";
  auto roots = sim::LoadOrCreateSimulationRoots(*sim_dir_);
  ASSERT_TRUE(roots.ok()) << roots.status();
  attestation::v1::SimulationConfig sc;
  sc.set_trust_simulation_root(true);
  sc.set_dir(*sim_dir_);
  auto registry = appraisal::MakeDefaultRegistry(sc);
  ASSERT_TRUE(registry.ok()) << registry.status();
  auto engine = appraisal::Engine::Create(
      *std::move(registry),
      std::make_shared<collateral::OfflineDirectorySource>(roots->CollateralDir()));
  ASSERT_TRUE(engine.ok()) << engine.status();
  ServiceDeps deps{clock_,    *nonces_,   *tokens_,       *keys_,
                   **engine, *policies_, metrics_.get(), audit_.get()};
  AttestationServiceImpl service(deps, ServiceOptions{4 * 1024 * 1024});
  Challenge c;
  ASSERT_TRUE(service.DoGetChallenge(&c).ok());
  sim::NodeSimulationOptions o;
  o.tee = sim::SimulatedTee::kTdx;
  o.gpus = 8;
  auto ev = sim::SimulateNode(*roots, c.nonce(), clock_.Now(), o);
  ASSERT_TRUE(ev.ok()) << ev.status();
  AttestRequest req;
  *req.mutable_challenge() = c;
  *req.mutable_evidence() = ev->bundle;
  AttestResponse first, second;
  ASSERT_TRUE(service.DoAttest(req, "", &first).ok());
  EXPECT_EQ(first.verdict(), attestation::v1::WARNING);  // SIMULATED_EVIDENCE only
  ASSERT_FALSE(first.token().empty());
  grpc::Status st = service.DoAttest(req, "", &second);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ExpectNonceRejection(second, "NONCE_REPLAYED");
  EXPECT_TRUE(second.token().empty());
}

TEST_F(ServiceTest, ExpiredChallengeIsAVerdict) {
  const AttestRequest req = Request(NewChallenge());
  clock_.Advance(absl::Seconds(61));
  AttestResponse resp;
  ASSERT_TRUE(service_->DoAttest(req, "", &resp).ok());
  ExpectNonceRejection(resp, "NONCE_EXPIRED");
}

TEST_F(ServiceTest, ForgedChallengeIsAVerdict) {
  AttestRequest req = Request(NewChallenge());
  std::string mac = req.challenge().mac();
  mac[0] = static_cast<char>(mac[0] ^ 1);
  req.mutable_challenge()->set_mac(mac);
  AttestResponse resp;
  ASSERT_TRUE(service_->DoAttest(req, "", &resp).ok());
  ExpectNonceRejection(resp, "NONCE_INVALID");
}

TEST_F(ServiceTest, ReplayStoreFailureIsUnavailable) {
  BrokenReplayStore broken;
  Build(broken);
  const AttestRequest req = Request(NewChallenge());
  AttestResponse resp;
  grpc::Status st = service_->DoAttest(req, "", &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE);
  // Issue 12: the reason code leads the message (REST: the problem's reason).
  EXPECT_THAT(st.error_message(), ::testing::StartsWith("NONCE_STORE_UNAVAILABLE: "));
  EXPECT_THAT(st.error_message(), HasSubstr("no token was issued"));
  EXPECT_TRUE(resp.token().empty());
  EXPECT_THAT(
      metrics_->Serialize(),
      HasSubstr("rp_requests_total{code=\"UNAVAILABLE\",rpc=\"Attest\"} 1"));
}

// Issue 15: collateral that cannot be fetched fails the Attest closed after
// the challenge was spent; the reason leads the message (Attest() copies it
// into the rp-reason trailer, REST into the problem's reason) so a client
// knows to retry with a new challenge, not to replay this one.
TEST_F(ServiceTest, CollateralFailureIsUnavailableWithReason) {
  attestation::v1::SimulationConfig sc;
  sc.set_trust_simulation_root(true);
  sc.set_dir(*sim_dir_);
  auto registry = appraisal::MakeDefaultRegistry(sc);
  ASSERT_TRUE(registry.ok()) << registry.status();
  auto engine = appraisal::Engine::Create(*std::move(registry), std::make_shared<DownSource>());
  ASSERT_TRUE(engine.ok()) << engine.status();
  ServiceDeps deps{clock_,    *nonces_,   *tokens_,       *keys_,
                   **engine, *policies_, metrics_.get(), audit_.get()};
  AttestationServiceImpl service(deps, ServiceOptions{4 * 1024 * 1024});
  Challenge c;
  ASSERT_TRUE(service.DoGetChallenge(&c).ok());
  AttestRequest req = Request(c);
  // No VCEK in the bundle: it must come from the (dead) KDS.
  req.mutable_evidence()->mutable_sev_snp()->clear_vcek();
  AttestResponse resp;
  grpc::Status st = service.DoAttest(req, "", &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  EXPECT_THAT(st.error_message(), ::testing::StartsWith("COLLATERAL_UNAVAILABLE: "));
  EXPECT_THAT(st.error_message(), HasSubstr("connection refused"));
  EXPECT_EQ(LeadingReason(st.error_message()), "COLLATERAL_UNAVAILABLE");
  EXPECT_TRUE(resp.token().empty());
  // The challenge was spent: the same request again is a replay.
  AttestResponse again;
  st = service.DoAttest(req, "", &again);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ExpectNonceRejection(again, "NONCE_REPLAYED");
}

// Issue 10: a client may not choose a policy unless policy_clients allows it
// (server/limits_service_test.cc has the allowed cases). Was INVALID_ARGUMENT
// "unknown policy"; unknown and known names are now refused alike.
TEST_F(ServiceTest, NamedPolicyIsPermissionDeniedAndKeepsTheChallenge) {
  AttestRequest req = Request(NewChallenge());
  req.set_policy("no-such-policy");
  AttestResponse resp;
  grpc::Status st = service_->DoAttest(req, "", &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(st.error_message(), HasSubstr("no-such-policy"));
  // The malformed request did not consume the challenge.
  req.set_policy("dev");
  ASSERT_TRUE(service_->DoAttest(req, "", &resp).ok());
  EXPECT_FALSE(resp.token().empty());
}

// AttestRequest.audience -> `aud` (docs/key-release.md). Without
// token.audiences (this fixture) existing clients are unchanged: no audience,
// no `aud`; naming one is refused. `sub` and cnf.jwk.alg come with cnf.
TEST_F(ServiceTest, NoConfiguredAudiencesMeansNoAudAndNoneAccepted) {
  AttestRequest req = Request(NewChallenge());
  req.set_audience("vault");
  AttestResponse resp;
  grpc::Status st = service_->DoAttest(req, "", &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("audience 'vault' is not accepted"));
  // Refused before the challenge was consumed.
  req.clear_audience();
  ASSERT_TRUE(service_->DoAttest(req, "", &resp).ok());
  auto claims = token::VerifyToken(resp.token(), JwksJson(), clock_.Now(), absl::ZeroDuration());
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_FALSE(claims->contains("aud"));
  // sub = "tee:" + RFC 7638 thumbprint of the bound TEE key; cnf.jwk.alg.
  const auto& k = req.evidence().tee_public_key();
  const Bytes thumb =
      crypto::JwkThumbprintSha256({k.kty(), k.crv(), k.x(), k.y(), k.n(), k.e()}).value();
  EXPECT_EQ((*claims)["sub"], absl::StrCat("tee:", Base64UrlEncode(thumb)));
  EXPECT_EQ((*claims)["cnf"]["jwk"]["alg"], "ECDH-ES+A256KW");
  EXPECT_EQ((*claims)["cnf"]["jwk"]["x"], k.x());
}

TEST_F(ServiceTest, ConfiguredAudiencesAreRequiredAndChecked) {
  attestation::v1::TokenConfig tc;
  tc.set_issuer("service-test");
  tc.add_audiences("vault");
  tc.add_audiences("https://kms.example.com");
  auto tokens = token::TokenIssuer::Create(tc, clock_, *keys_);
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  ServiceDeps deps{clock_, *nonces_, **tokens, *keys_, *engine_, *policies_, nullptr, nullptr};
  AttestationServiceImpl service(deps, ServiceOptions{});

  AttestRequest req = Request(NewChallenge());
  AttestResponse resp;
  struct Row {
    const char* audience;
    const char* message;
  };
  for (const Row& r : {Row{"", "audience is required"},
                       Row{"Vault", "unknown audience 'Vault'"},
                       Row{"https://kms.example.com/", "unknown audience"}}) {
    req.set_audience(r.audience);
    grpc::Status st = service.DoAttest(req, "", &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << r.audience;
    EXPECT_THAT(st.error_message(), HasSubstr(r.message)) << r.audience;
  }
  // None of those consumed the challenge.
  req.set_audience("https://kms.example.com");
  ASSERT_TRUE(service.DoAttest(req, "", &resp).ok());
  token::TokenClaimChecks checks;
  checks.issuer = "service-test";
  checks.accept_statuses = {"affirming", "warning"};
  checks.audience = "https://kms.example.com";
  auto claims =
      token::VerifyToken(resp.token(), JwksJson(), clock_.Now(), absl::ZeroDuration(), checks);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ((*claims)["aud"], "https://kms.example.com");
  checks.audience = "vault";
  EXPECT_EQ(token::VerifyToken(resp.token(), JwksJson(), clock_.Now(), absl::ZeroDuration(),
                               checks)
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(ServiceTest, MissingPartsAreInvalidArgument) {
  AttestRequest req = Request(NewChallenge());
  AttestResponse resp;
  AttestRequest no_challenge = req;
  no_challenge.clear_challenge();
  EXPECT_EQ(service_->DoAttest(no_challenge, "", &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  AttestRequest no_evidence = req;
  no_evidence.clear_evidence();
  EXPECT_EQ(service_->DoAttest(no_evidence, "", &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // Present but empty evidence: the engine's INVALID_ARGUMENT passes through.
  AttestRequest empty_evidence = req;
  empty_evidence.mutable_evidence()->Clear();
  empty_evidence.mutable_evidence()->set_binding("attest-v1");
  EXPECT_EQ(service_->DoAttest(empty_evidence, "", &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ServiceTest, OversizeRequestIsInvalidArgument) {
  Build(store_, 64 * 1024);
  AttestRequest req = Request(NewChallenge());
  req.mutable_evidence()->mutable_sev_snp()->set_cert_chain(
      std::string(100 * 1024, 'A'));
  AttestResponse resp;
  grpc::Status st = service_->DoAttest(req, "", &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(),
              HasSubstr(absl::StrCat("request is ", req.ByteSizeLong(),
                                     " bytes, limit 65536")));
}

TEST_F(ServiceTest, EvidenceWithoutVerifierIsUnimplemented) {
  Build(store_, 4 * 1024 * 1024, /*empty_registry=*/true);
  const AttestRequest req = Request(NewChallenge());
  AttestResponse resp;
  EXPECT_EQ(service_->DoAttest(req, "", &resp).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
}

TEST_F(ServiceTest, GetJwksListsTheSigningKeys) {
  attestation::v1::Jwks jwks;
  ASSERT_TRUE(service_->DoGetJwks(&jwks).ok());
  ASSERT_EQ(jwks.keys_size(), 1);
  EXPECT_EQ(jwks.keys(0).kid(), keys_->Current()->kid);
  EXPECT_EQ(jwks.keys(0).kty(), "EC");
}

TEST(PolicySetTest, FindsByIdOrIdAtVersion) {
  auto dev = policy::ParsePolicy(kDevPolicy, "dev policy");
  ASSERT_TRUE(dev.ok()) << dev.status();
  PolicySet set(*dev);
  EXPECT_EQ(set.Find(""), &set.default_policy());
  EXPECT_EQ(set.Find("dev"), &set.default_policy());
  EXPECT_EQ(set.Find("dev@1"), &set.default_policy());
  EXPECT_EQ(set.Find("dev@2"), nullptr);
  EXPECT_EQ(set.Find("default"), nullptr);
  ASSERT_TRUE(set.Add(policy::DefaultPolicy()).ok());
  ASSERT_NE(set.Find("default"), nullptr);
  EXPECT_EQ(set.Find("default")->id, "default");
  EXPECT_EQ(set.Add(policy::DefaultPolicy()).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(PolicyRef(set.default_policy()), "dev@1");
}

TEST(ToGrpcStatusTest, MapsCodesOneToOne) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  const std::pair<absl::Status, grpc::StatusCode> cases[] = {
      {absl::InvalidArgumentError("a"), grpc::StatusCode::INVALID_ARGUMENT},
      {absl::UnimplementedError("b"), grpc::StatusCode::UNIMPLEMENTED},
      {absl::UnavailableError("c"), grpc::StatusCode::UNAVAILABLE},
      {absl::InternalError("d"), grpc::StatusCode::INTERNAL},
  };
  for (const auto& [in, code] : cases) {
    grpc::Status out = ToGrpcStatus(in);
    EXPECT_EQ(out.error_code(), code);
    EXPECT_EQ(out.error_message(), in.message());
  }
}

TEST(JtiOfTokenTest, ReadsThePayload) {
  // header {"alg":"none"} . payload {"jti":"abc"} . sig
  EXPECT_EQ(JtiOfToken("eyJhbGciOiJub25lIn0.eyJqdGkiOiJhYmMifQ.c2ln"), "abc");
  EXPECT_EQ(JtiOfToken("not-a-jwt"), "");
  EXPECT_EQ(JtiOfToken("a.!!!.c"), "");
}

// The same service on a real in-process gRPC server: health, reflection-free
// stub calls and the transport size limit.
TEST_F(ServiceTest, ServesOverGrpcWithHealthAndSizeLimits) {
  Build(store_, 64 * 1024);
  GrpcServerOptions opts;
  opts.listen = "127.0.0.1:0";
  opts.max_request_bytes = 64 * 1024;
  auto running = StartGrpcServer(opts, service_.get());
  ASSERT_TRUE(running.ok()) << running.status();
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", running->port),
                                     grpc::InsecureChannelCredentials());
  auto health = testing::CheckHealth(channel, "");
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, testing::HealthStatus::kServing);
  health = testing::CheckHealth(channel, kServiceName);
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, testing::HealthStatus::kServing);

  auto stub = attestation::v1::AttestationService::NewStub(channel);
  Challenge c;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(
        stub->GetChallenge(&ctx, attestation::v1::GetChallengeRequest(), &c)
            .ok());
  }
  AttestRequest req = Request(c);
  AttestResponse resp;
  {
    grpc::ClientContext ctx;
    grpc::Status st = stub->Attest(&ctx, req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_FALSE(resp.token().empty());
  }
  // Between the limit and twice the limit: the handler answers with sizes.
  req.mutable_evidence()->mutable_sev_snp()->set_cert_chain(
      std::string(100 * 1024, 'A'));
  {
    grpc::ClientContext ctx;
    grpc::Status st = stub->Attest(&ctx, req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(st.error_message(), HasSubstr("limit 65536"));
  }
  // Beyond twice the limit gRPC itself refuses the message.
  req.mutable_evidence()->mutable_sev_snp()->set_cert_chain(
      std::string(200 * 1024, 'A'));
  {
    grpc::ClientContext ctx;
    grpc::Status st = stub->Attest(&ctx, req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  }

  SetServing(running->server.get(), false);
  health = testing::CheckHealth(channel, "");
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, testing::HealthStatus::kNotServing);
  running->server->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(2)));
}

// TLS and mTLS from TlsConfig, with certificates made when the test runs.
class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl =
        (fs::temp_directory_path() / "rp_tls_test_XXXXXX").string();
    dir_ = ::mkdtemp(tmpl.data());
    testing::CertSpec ca_spec;
    ca_spec.common_name = "test CA";
    ca_spec.is_ca = true;
    auto ca = testing::MakeRoot(ca_spec, testing::KeyType::kEcP256);
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_pem_ = crypto::CertificatePem(ca->cert.get());
    Write("ca.pem", ca_pem_);
    // subjectAltName = DNS:localhost (SEQUENCE { [2] "localhost" }).
    const Bytes san = {0x30, 0x0b, 0x82, 0x09, 'l', 'o', 'c',
                       'a',  'l',  'h',  'o',  's', 't'};
    testing::CertSpec server_spec;
    server_spec.common_name = "localhost";
    server_spec.serial = {0x02};
    server_spec.extended_key_usage_oids = {"1.3.6.1.5.5.7.3.1"};
    server_spec.extensions = {{"2.5.29.17", san, false}};
    auto server = testing::MakeCert(server_spec, testing::KeyType::kEcP256,
                                    ca->cert.get(), ca->key.get());
    ASSERT_TRUE(server.ok()) << server.status();
    Write("server.pem", crypto::CertificatePem(server->cert.get()));
    Write("server.key", crypto::PrivateKeyPem(server->key.get()));
    testing::CertSpec client_spec;
    client_spec.common_name = "attester";
    client_spec.serial = {0x03};
    client_spec.extended_key_usage_oids = {"1.3.6.1.5.5.7.3.2"};
    auto client = testing::MakeCert(client_spec, testing::KeyType::kEcP256,
                                    ca->cert.get(), ca->key.get());
    ASSERT_TRUE(client.ok()) << client.status();
    client_cert_pem_ = crypto::CertificatePem(client->cert.get());
    client_key_pem_ = crypto::PrivateKeyPem(client->key.get());

    auto nonces = nonce::NonceService::Create(
        crypto::RandomBytes(32), absl::Seconds(60), clock_, store_);
    ASSERT_TRUE(nonces.ok()) << nonces.status();
    nonces_ = *std::move(nonces);
    auto keys =
        token::KeyManager::CreateFromKeys(token::JwsAlgorithm::kEs256, {});
    ASSERT_TRUE(keys.ok());
    keys_ = *std::move(keys);
    auto tokens = token::TokenIssuer::Create({}, clock_, *keys_);
    ASSERT_TRUE(tokens.ok());
    tokens_ = *std::move(tokens);
    auto engine =
        appraisal::Engine::Create(std::make_unique<core::Registry>(), nullptr);
    ASSERT_TRUE(engine.ok());
    engine_ = *std::move(engine);
    policies_ = PolicyStore::Fixed(std::make_shared<PolicySet>(policy::DefaultPolicy()));
    ServiceDeps deps{clock_,   *nonces_,   *tokens_, *keys_,
                     *engine_, *policies_, nullptr,  nullptr};
    service_ = std::make_unique<AttestationServiceImpl>(deps, ServiceOptions{});
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string Write(const std::string& name, const std::string& text) {
    const std::string p = dir_ + "/" + name;
    std::ofstream(p) << text;
    return p;
  }
  RunningGrpcServer Start(bool mtls) {
    GrpcServerOptions opts;
    opts.listen = "127.0.0.1:0";
    opts.tls.set_cert_file(dir_ + "/server.pem");
    opts.tls.set_key_file(dir_ + "/server.key");
    if (mtls) {
      opts.tls.set_client_ca_file(dir_ + "/ca.pem");
    }
    auto running = StartGrpcServer(opts, service_.get());
    EXPECT_TRUE(running.ok()) << running.status();
    return running.ok() ? *std::move(running) : RunningGrpcServer{};
  }
  // GetJwks over a channel with the given credentials.
  grpc::Status Call(int port, std::shared_ptr<grpc::ChannelCredentials> creds) {
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    auto channel = grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                             creds, args);
    auto stub = attestation::v1::AttestationService::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    attestation::v1::Jwks jwks;
    return stub->GetJwks(&ctx, attestation::v1::GetJwksRequest(), &jwks);
  }
  std::shared_ptr<grpc::ChannelCredentials> Ssl(bool with_client_cert) {
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = ca_pem_;
    if (with_client_cert) {
      o.pem_cert_chain = client_cert_pem_;
      o.pem_private_key = client_key_pem_;
    }
    return grpc::SslCredentials(o);
  }

  std::string dir_, ca_pem_, client_cert_pem_, client_key_pem_;
  FakeClock clock_{absl::Now()};
  nonce::InMemoryReplayStore store_{10, clock_};
  std::unique_ptr<nonce::NonceService> nonces_;
  std::unique_ptr<token::KeyManager> keys_;
  std::unique_ptr<token::TokenIssuer> tokens_;
  std::unique_ptr<appraisal::Engine> engine_;
  std::unique_ptr<PolicyStore> policies_;
  std::unique_ptr<AttestationServiceImpl> service_;
};

TEST_F(TlsTest, ServesTls) {
  RunningGrpcServer s = Start(/*mtls=*/false);
  ASSERT_NE(s.server, nullptr);
  grpc::Status st = Call(s.port, Ssl(false));
  EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_FALSE(Call(s.port, grpc::InsecureChannelCredentials()).ok());
  s.server->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
}

TEST_F(TlsTest, MutualTlsRequiresAClientCertificate) {
  RunningGrpcServer s = Start(/*mtls=*/true);
  ASSERT_NE(s.server, nullptr);
  grpc::Status st = Call(s.port, Ssl(true));
  EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_FALSE(Call(s.port, Ssl(false)).ok());
  s.server->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
}

TEST_F(TlsTest, MissingKeyFileIsAnError) {
  attestation::v1::TlsConfig tls;
  tls.set_cert_file(dir_ + "/server.pem");
  tls.set_key_file(dir_ + "/nope.key");
  auto creds = MakeServerCredentials(tls);
  ASSERT_FALSE(creds.ok());
  EXPECT_THAT(creds.status().message(), HasSubstr("tls.key_file"));
}

}  // namespace
}  // namespace rp::server
