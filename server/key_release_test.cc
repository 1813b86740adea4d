// Key release with real tokens (ES256 JWTs from the server's own issuer):
// the denials that need a real signature and clock, and the issue's
// "one of 8 GPUs failing while gpu0 passes" through the shipped rule shape.
#include "server/key_release.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "appraisal/engine.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "policy/appraisal.h"
#include "release/directory_store.h"
#include "release/jwe.h"
#include "server/limits/inflight_limiter.h"
#include "server/metrics.h"
#include "server/nonce/nonce_service.h"
#include "server/nonce/replay_store.h"
#include "server/policy_store.h"
#include "server/redis/local_redis.h"
#include "server/redis/redis_client.h"
#include "server/redis/redis_stores.h"
#include "server/token/key_manager.h"
#include "server/token/token_issuer.h"
#include "verifier/collateral/source.h"
#include "verifier/common/clock.h"
#include "verifier/crypto/digest.h"
#include "verifier/crypto/openssl_ptr.h"

namespace rp::server {
namespace {

namespace fs = std::filesystem;

constexpr char kResource[] = "kms/model/key";

std::string P256Pem() {
  crypto::OpensslPtr<EVP_PKEY> k(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  crypto::OpensslPtr<BIO> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), k.get(), nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

class KeyReleaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           absl::StrCat("key_release_test_", ::getpid(), "_",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    auto store = release::DirectoryStore::Create(dir_.string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    ASSERT_TRUE(store_->Put(kResource, AsBytes(std::string("s3cret"))).ok());

    for (auto* km : {&keys_, &other_keys_}) {
      auto k = token::KeyManager::CreateFromKeys(token::JwsAlgorithm::kEs256, {});
      ASSERT_TRUE(k.ok()) << k.status();
      *km = *std::move(k);
    }
    attestation::v1::TokenConfig tc;
    tc.set_issuer("rp-test");
    tc.add_audiences("kms");
    auto issuer = token::TokenIssuer::Create(tc, clock_, *keys_);
    ASSERT_TRUE(issuer.ok()) << issuer.status();
    issuer_ = *std::move(issuer);
    auto other = token::TokenIssuer::Create(tc, clock_, *other_keys_);
    ASSERT_TRUE(other.ok());
    other_issuer_ = *std::move(other);

    // The strict-production kms/model-key shape: every device affirming,
    // every GPU's measurements matching, at least one GPU.
    auto p = policy::ParsePolicy(R"yaml(
id: strict
release_rules:
  - name: kms/model/key
    all_of:
      - {claim: /ear.status, op: eq, value: affirming}
      - {claim: /policy/id, op: eq, value: strict}
      - {every: "*", claim: /ear.status, op: eq, value: affirming}
      - {every: "gpu*", claim: /claims/measurements_match, op: eq, value: "true"}
      - {count: "gpu*", op: ge, value: "1"}
)yaml",
                                 "strict.yaml");
    ASSERT_TRUE(p.ok()) << p.status();
    policy_ = std::make_shared<attestation::v1::Policy>(p->policy);
    attestation::v1::KeyReleaseConfig kc;
    auto* r = kc.add_resources();
    r->set_name(kResource);
    r->set_policy("strict");
    r->add_audiences("kms");
    auto resources = release::LoadResources(kc, "strict");
    ASSERT_TRUE(resources.ok());
    authority_ = std::make_unique<ServerTokenAuthority>(*keys_, "rp-test");
    jtis_ = std::make_unique<ReplayJtiStore>(replay_);
    auto policy = policy_;
    auto svc = release::ReleaseService::Create(
        release::ReleaseService::Deps{clock_, *authority_, *jtis_, *store_,
                                      [policy](std::string_view id) {
                                        return id == "strict" ? policy : nullptr;
                                      }},
        *std::move(resources));
    ASSERT_TRUE(svc.ok()) << svc.status();
    service_ = *std::move(svc);
    tee_pem_ = P256Pem();
    auto jwk = release::PublicJwkOfKeyPem(tee_pem_);
    ASSERT_TRUE(jwk.ok());
    tee_jwk_ = *jwk;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // EAR claims of an affirming node with `gpus` GPUs, bound to the TEE key.
  nlohmann::json Claims(int gpus) const {
    nlohmann::json c;
    c["ear.status"] = "affirming";
    c["policy"] = {{"id", "strict"}, {"version", "1"}, {"sha256", "ab"}};
    c["binding"] = "attest-v1";
    c["cnf"] = {{"jwk",
                 {{"kty", "EC"}, {"crv", tee_jwk_.crv()}, {"x", tee_jwk_.x()}, {"y", tee_jwk_.y()},
                  {"alg", "ECDH-ES+A256KW"}}}};
    c["submods"]["cpu0"] = {{"ear.status", "affirming"}, {"claims", {{"tcb_status", "UpToDate"}}}};
    for (int i = 0; i < gpus; ++i) {
      c["submods"][absl::StrCat("gpu", i)] = {
          {"ear.status", "affirming"}, {"claims", {{"measurements_match", true}}}};
    }
    return c;
  }
  std::string Token(const nlohmann::json& claims, const token::TokenIssuer& issuer) const {
    auto t = issuer.Issue(claims, "kms");
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? *t : "";
  }
  release::ReleaseResult Release(const std::string& token) const {
    return service_->Release(release::ReleaseRequest{token, kResource, false});
  }

  FakeClock clock_{absl::FromUnixSeconds(1800000000)};
  nonce::InMemoryReplayStore replay_{1000, clock_};
  fs::path dir_;
  std::unique_ptr<release::DirectoryStore> store_;
  std::unique_ptr<token::KeyManager> keys_, other_keys_;
  std::unique_ptr<token::TokenIssuer> issuer_, other_issuer_;
  std::shared_ptr<attestation::v1::Policy> policy_;
  std::unique_ptr<ServerTokenAuthority> authority_;
  std::unique_ptr<ReplayJtiStore> jtis_;
  std::unique_ptr<release::ReleaseService> service_;
  std::string tee_pem_;
  attestation::v1::Jwk tee_jwk_;
};

TEST_F(KeyReleaseTest, ARealTokenReleasesOnceToItsKey) {
  const std::string token = Token(Claims(8), *issuer_);
  release::ReleaseResult r = Release(token);
  ASSERT_TRUE(r.status.ok()) << r.status;
  auto plain = release::Decrypt(r.jwe, tee_pem_);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(std::string(plain->plaintext.AsStringView()), "s3cret");
  EXPECT_EQ(plain->protected_strings["ear_jti"], r.jti);
  release::ReleaseResult again = Release(token);
  EXPECT_EQ(again.reason, "TOKEN_REPLAYED");
}

// Issue 16: Release takes a slot of the same admission control as Attest
// (KeyReleaseFace, the gRPC and REST entry). With every slot taken it fails
// fast with SERVER_BUSY and a retry hint before the token is looked at, so
// the token is not spent: it releases once a slot is free (and only once).
TEST_F(KeyReleaseTest, BusyServerRefusesReleaseAndTheTokenStaysUnspent) {
  auto nonces = nonce::NonceService::Create(crypto::RandomBytes(32), absl::Seconds(60), clock_,
                                            replay_);
  ASSERT_TRUE(nonces.ok()) << nonces.status();
  auto engine = appraisal::Engine::Create(std::make_unique<core::Registry>(),
                                          std::make_shared<collateral::EmptySource>());
  ASSERT_TRUE(engine.ok()) << engine.status();
  auto pol = policy::ParsePolicy("id: strict\n", "strict.yaml");
  ASSERT_TRUE(pol.ok()) << pol.status();
  std::unique_ptr<PolicyStore> policies = PolicyStore::Fixed(std::make_shared<PolicySet>(*pol));
  Metrics metrics;
  limits::InflightLimiter inflight({.max_in_flight = 1, .max_queued = 0});
  ServiceDeps deps{clock_, **nonces, *issuer_, *keys_, **engine, *policies, &metrics};
  deps.inflight = &inflight;
  AttestationServiceImpl attestation(deps, ServiceOptions{});
  KeyReleaseFace face(KeyReleaseFace::Deps{*service_, attestation, &metrics, nullptr, clock_});

  attestation::v1::ReleaseRequest req;
  req.set_token(Token(Claims(8), *issuer_));
  req.set_resource(kResource);
  limits::InflightLimiter::Outcome busy = inflight.Acquire();
  ASSERT_TRUE(busy.admitted());
  attestation::v1::ReleaseResponse resp;
  int64_t retry = 0;
  grpc::Status st = face.Release(req, PeerInfo{}, &resp, &retry);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
  EXPECT_THAT(st.error_message(), ::testing::StartsWith("SERVER_BUSY: release: "));
  EXPECT_EQ(retry, 1);
  EXPECT_TRUE(resp.jwe().empty());
  EXPECT_NE(metrics.Serialize().find(
                "rp_admission_rejected_total{reason=\"queue_full\",rpc=\"Release\"} 1"),
            std::string::npos);

  busy.permit.Release();
  st = face.Release(req, PeerInfo{}, &resp, &retry);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_FALSE(resp.jwe().empty());
  EXPECT_EQ(inflight.in_flight(), 0);
  st = face.Release(req, PeerInfo{}, &resp, &retry);
  EXPECT_FALSE(st.ok());
  EXPECT_THAT(st.error_message(), ::testing::HasSubstr("TOKEN_REPLAYED"));
}

TEST_F(KeyReleaseTest, OneOfEightGpusFailingWhileGpu0PassesIsDenied) {
  nlohmann::json c = Claims(8);
  c["submods"]["gpu5"]["claims"]["measurements_match"] = false;
  release::ReleaseResult r = Release(Token(c, *issuer_));
  EXPECT_EQ(r.status.code(), absl::StatusCode::kPermissionDenied) << r.status;
  EXPECT_EQ(r.reason, "RULE_DENIED");
  ASSERT_FALSE(r.rule_failures.empty());
  EXPECT_NE(absl::StrJoin(r.rule_failures, "\n").find("gpu5"), std::string::npos)
      << absl::StrJoin(r.rule_failures, "\n");
  EXPECT_TRUE(r.jwe.empty());
  // A contraindicated GPU the same.
  nlohmann::json d = Claims(8);
  d["submods"]["gpu7"]["ear.status"] = "contraindicated";
  EXPECT_EQ(Release(Token(d, *issuer_)).reason, "RULE_DENIED");
  // No GPU at all: the count denies.
  EXPECT_EQ(Release(Token(Claims(0), *issuer_)).reason, "RULE_DENIED");
}

TEST_F(KeyReleaseTest, TokenSignedByAnotherKeyIsUnauthenticated) {
  release::ReleaseResult r = Release(Token(Claims(8), *other_issuer_));
  EXPECT_EQ(r.status.code(), absl::StatusCode::kUnauthenticated) << r.status;
  EXPECT_EQ(r.reason, "TOKEN_INVALID");
  EXPECT_TRUE(r.jwe.empty());
}

TEST_F(KeyReleaseTest, ExpiredTokenIsUnauthenticatedBeyondTheLeeway) {
  const std::string token = Token(Claims(8), *issuer_);  // 300 s lifetime
  clock_.Advance(absl::Seconds(300 + 31));
  release::ReleaseResult r = Release(token);
  EXPECT_EQ(r.status.code(), absl::StatusCode::kUnauthenticated) << r.status;
  EXPECT_EQ(r.reason, "TOKEN_EXPIRED");
  // Within the 30 s leeway it is still good.
  const std::string fresh = Token(Claims(8), *issuer_);
  clock_.Advance(absl::Seconds(300 + 20));
  EXPECT_TRUE(Release(fresh).status.ok());
}

TEST_F(KeyReleaseTest, JtisAreKeptApartFromNonces) {
  // A jti and a nonce with the same bytes do not collide (prefix + hash).
  ASSERT_TRUE(jtis_->MarkUsed("abc", clock_.Now() + absl::Minutes(5)).value());
  EXPECT_TRUE(replay_.MarkUsed(AsBytes(std::string("abc")), clock_.Now() + absl::Minutes(5)).value());
  EXPECT_FALSE(jtis_->MarkUsed("abc", clock_.Now() + absl::Minutes(5)).value());
  EXPECT_FALSE(jtis_->MarkUsed(std::string(65, 'a'), clock_.Now()).ok());
}

// Issue 12: two replicas sharing Redis release a token once between them;
// with Redis down the release is refused (503), never granted unrecorded.
TEST_F(KeyReleaseTest, ATokenReleasesOnceAcrossReplicasSharingRedis) {
  auto redis = redis::LocalRedis::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  clock_.Set(absl::Now());  // Redis expires keys on its own clock
  auto replica = [&](std::unique_ptr<redis::RedisClient>& client,
                     std::unique_ptr<redis::RedisReplayStore>& store,
                     std::unique_ptr<ReplayJtiStore>& jtis) {
    redis::RedisOptions o;
    o.address = (*redis)->address();
    client = *redis::RedisClient::Create(o, clock_);
    redis::ReplayOptions ro;
    ro.lifetime = absl::Seconds(1);  // tokens issued "now"
    store = std::make_unique<redis::RedisReplayStore>(*client, "rp:t:", "jti", ro, clock_);
    jtis = std::make_unique<ReplayJtiStore>(*store);
    attestation::v1::KeyReleaseConfig kc;
    auto* r = kc.add_resources();
    r->set_name(kResource);
    r->set_policy("strict");
    r->add_audiences("kms");
    auto policy = policy_;
    return *release::ReleaseService::Create(
        release::ReleaseService::Deps{clock_, *authority_, *jtis, *store_,
                                      [policy](std::string_view id) {
                                        return id == "strict" ? policy : nullptr;
                                      }},
        *release::LoadResources(kc, "strict"));
  };
  std::unique_ptr<redis::RedisClient> ca, cb;
  std::unique_ptr<redis::RedisReplayStore> sa, sb;
  std::unique_ptr<ReplayJtiStore> ja, jb;
  auto a = replica(ca, sa, ja);
  auto b = replica(cb, sb, jb);
  const std::string token = Token(Claims(8), *issuer_);
  release::ReleaseResult first = a->Release(release::ReleaseRequest{token, kResource, false});
  ASSERT_TRUE(first.status.ok()) << first.status;
  release::ReleaseResult again = b->Release(release::ReleaseRequest{token, kResource, false});
  EXPECT_EQ(again.reason, "TOKEN_REPLAYED");
  EXPECT_TRUE(again.jwe.empty());

  (*redis)->Kill();
  const std::string other = Token(Claims(8), *issuer_);
  release::ReleaseResult down = b->Release(release::ReleaseRequest{other, kResource, false});
  EXPECT_FALSE(down.status.ok());
  EXPECT_EQ(down.status.code(), absl::StatusCode::kUnavailable) << down.status;
  EXPECT_TRUE(down.jwe.empty());
}

}  // namespace
}  // namespace rp::server
