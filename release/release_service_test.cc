// The release checks, one denial per row, with a fake token authority (the
// real JWT path is tested through the server: server/key_release_test.cc).
#include "release/release_service.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "policy/appraisal.h"
#include "release/directory_store.h"
#include "release/jwe.h"
#include "verifier/common/clock.h"
#include "verifier/crypto/openssl_ptr.h"

namespace rp::release {
namespace {

namespace fs = std::filesystem;

constexpr char kIssuer[] = "rp-test";
constexpr char kResource[] = "kms/model/key1";
constexpr char kSecretText[] = "the model decryption key";

// Tokens are the JSON text of their claims; "bad-signature" fails.
class FakeAuthority : public TokenAuthority {
 public:
  absl::StatusOr<nlohmann::json> Verify(std::string_view jwt, absl::Time now,
                                        absl::Duration leeway) const override {
    if (jwt == "bad-signature") return absl::UnauthenticatedError("jwt: signature invalid");
    nlohmann::json c = nlohmann::json::parse(jwt, nullptr, false);
    if (!c.is_object()) return absl::InvalidArgumentError("jwt: malformed");
    if (c.contains("exp") && absl::FromUnixSeconds(c["exp"].get<int64_t>()) + leeway <= now) {
      return absl::UnauthenticatedError("jwt: token expired");
    }
    return c;
  }
  std::string Issuer() const override { return kIssuer; }
};

class MemoryJtis : public JtiStore {
 public:
  absl::StatusOr<bool> MarkUsed(std::string_view jti, absl::Time) override {
    if (down) return absl::UnavailableError("jti store down");
    return used_.insert(std::string(jti)).second;
  }
  bool down = false;

 private:
  std::set<std::string> used_;
};

class DownStore : public SecretStore {
 public:
  absl::StatusOr<SecretBytes> Get(std::string_view) const override {
    return absl::UnavailableError("pkcs11: C_Login: CKR_DEVICE_REMOVED");
  }
  absl::Status Put(std::string_view, std::span<const uint8_t>) override {
    return absl::UnavailableError("down");
  }
  absl::StatusOr<std::vector<std::string>> List() const override {
    return absl::UnavailableError("down");
  }
  absl::Status Remove(std::string_view) override { return absl::UnavailableError("down"); }
  std::string Describe() const override { return "down"; }
};

std::string KeyPem(const char* curve_or_rsa) {
  crypto::OpensslPtr<EVP_PKEY> k(std::string(curve_or_rsa) == "RSA"
                                     ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{3072})
                                     : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve_or_rsa));
  crypto::OpensslPtr<BIO> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), k.get(), nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

nlohmann::json JwkJson(const attestation::v1::Jwk& j) {
  nlohmann::json o = {{"kty", j.kty()}};
  for (const auto& [k, v] : std::map<std::string, std::string>{
           {"crv", j.crv()}, {"x", j.x()}, {"y", j.y()}, {"n", j.n()}, {"e", j.e()}, {"alg", j.alg()}}) {
    if (!v.empty()) o[k] = v;
  }
  return o;
}

class ReleaseServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           absl::StrCat("release_test_", ::getpid(), "_",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    auto store = DirectoryStore::Create(dir_.string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    const std::string secret = kSecretText;
    ASSERT_TRUE(store_->Put(kResource, AsBytes(secret)).ok());

    auto p = policy::ParsePolicy(R"yaml(
id: strict
release_rules:
  - name: kms/model/key1
    all_of:
      - {claim: /ear.status, op: eq, value: affirming}
)yaml",
                                 "strict.yaml");
    ASSERT_TRUE(p.ok()) << p.status();
    policy_ = std::make_shared<attestation::v1::Policy>(p->policy);

    attestation::v1::KeyReleaseConfig kc;
    auto* r = kc.add_resources();
    r->set_name(kResource);
    r->set_policy("strict");
    r->add_audiences("kms");
    auto resources = LoadResources(kc, "strict");
    ASSERT_TRUE(resources.ok()) << resources.status();
    Make(*store_, *resources);

    tee_pem_ = KeyPem("P-256");
    auto jwk = PublicJwkOfKeyPem(tee_pem_);
    ASSERT_TRUE(jwk.ok());
    tee_jwk_ = *jwk;
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Make(const SecretStore& store, std::map<std::string, ResourceEntry> resources) {
    auto policy = policy_;
    auto s = ReleaseService::Create(
        ReleaseService::Deps{clock_, authority_, jtis_, store,
                             [policy](std::string_view id) {
                               return id == "strict" ? policy : nullptr;
                             }},
        std::move(resources));
    ASSERT_TRUE(s.ok()) << s.status();
    service_ = *std::move(s);
  }

  // An affirming token of ours for `kms`, bound to the TEE key.
  nlohmann::json Claims() {
    return {{"iss", kIssuer},
            {"aud", "kms"},
            {"jti", absl::StrCat("jti-", ++jti_)},
            {"exp", absl::ToUnixSeconds(clock_.Now()) + 300},
            {"ear.status", "affirming"},
            {"policy", {{"id", "strict"}, {"version", "1"}, {"sha256", "ab"}}},
            {"cnf", {{"jwk", JwkJson(tee_jwk_)}}}};
  }
  ReleaseResult Release(const nlohmann::json& claims) {
    return service_->Release(ReleaseRequest{claims.dump(), kResource, false});
  }

  FakeClock clock_{absl::FromUnixSeconds(1800000000)};
  FakeAuthority authority_;
  MemoryJtis jtis_;
  fs::path dir_;
  std::unique_ptr<DirectoryStore> store_;
  std::shared_ptr<attestation::v1::Policy> policy_;
  std::unique_ptr<ReleaseService> service_;
  std::string tee_pem_;
  attestation::v1::Jwk tee_jwk_;
  int jti_ = 0;
};

TEST_F(ReleaseServiceTest, ReleasesOnlyToTheBoundKeyAndBindsTheHeader) {
  nlohmann::json c = Claims();
  ReleaseResult r = Release(c);
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(r.reason, "OK");
  auto plain = Decrypt(r.jwe, tee_pem_,
                       DecryptOptions{true, "", {{"ear_jti", c["jti"]}, {"resource", kResource}}});
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(std::string(plain->plaintext.AsStringView()), kSecretText);
  // Another key cannot open it.
  EXPECT_FALSE(Decrypt(r.jwe, KeyPem("P-256")).ok());
  // Flattened (the KBS shape) on request.
  c["jti"] = "jti-flat";
  ReleaseResult f = service_->Release(ReleaseRequest{c.dump(), kResource, true});
  ASSERT_TRUE(f.status.ok()) << f.status;
  EXPECT_EQ(f.jwe.front(), '{');
}

TEST_F(ReleaseServiceTest, P384AndRsa3072TeeKeys) {
  for (const char* kind : {"P-384", "RSA"}) {
    SCOPED_TRACE(kind);
    const std::string pem = KeyPem(kind);
    auto jwk = PublicJwkOfKeyPem(pem);
    ASSERT_TRUE(jwk.ok());
    nlohmann::json c = Claims();
    c["cnf"]["jwk"] = JwkJson(*jwk);
    ReleaseResult r = Release(c);
    ASSERT_TRUE(r.status.ok()) << r.status;
    auto plain = Decrypt(r.jwe, pem);
    ASSERT_TRUE(plain.ok()) << plain.status();
    EXPECT_EQ(std::string(plain->plaintext.AsStringView()), kSecretText);
  }
}

struct Denial {
  const char* name;
  std::function<void(nlohmann::json&)> edit;
  absl::StatusCode code;
  const char* reason;
};

TEST_F(ReleaseServiceTest, EachDenialHasItsCodeAndLeaksNothing) {
  const Denial rows[] = {
      {"warning under an affirming-only rule", [](auto& c) { c["ear.status"] = "warning"; },
       absl::StatusCode::kPermissionDenied, "RULE_DENIED"},
      {"another policy's result", [](auto& c) { c["policy"]["id"] = "demo"; },
       absl::StatusCode::kPermissionDenied, "RULE_DENIED"},
      {"expired", [this](auto& c) { c["exp"] = absl::ToUnixSeconds(clock_.Now()) - 60; },
       absl::StatusCode::kUnauthenticated, "TOKEN_EXPIRED"},
      {"another issuer", [](auto& c) { c["iss"] = "someone-else"; },
       absl::StatusCode::kUnauthenticated, "TOKEN_ISSUER_MISMATCH"},
      {"aud of another resource", [](auto& c) { c["aud"] = "other-kms"; },
       absl::StatusCode::kUnauthenticated, "TOKEN_AUDIENCE_MISMATCH"},
      {"no aud", [](auto& c) { c.erase("aud"); }, absl::StatusCode::kUnauthenticated,
       "TOKEN_AUDIENCE_MISMATCH"},
      {"no jti", [](auto& c) { c.erase("jti"); }, absl::StatusCode::kUnauthenticated,
       "TOKEN_INVALID"},
      {"no cnf (GPU-only evidence, unbound key)", [](auto& c) { c.erase("cnf"); },
       absl::StatusCode::kPermissionDenied, "TEE_KEY_UNUSABLE"},
      {"RSA1_5 TEE key", [](auto& c) { c["cnf"]["jwk"]["alg"] = "RSA1_5"; },
       absl::StatusCode::kPermissionDenied, "TEE_KEY_UNUSABLE"},
      {"cnf with an extra member", [](auto& c) { c["cnf"]["jwk"]["x5u"] = "https://evil"; },
       absl::StatusCode::kPermissionDenied, "TEE_KEY_UNUSABLE"},
  };
  for (const Denial& d : rows) {
    SCOPED_TRACE(d.name);
    nlohmann::json c = Claims();
    d.edit(c);
    ReleaseResult r = Release(c);
    EXPECT_EQ(r.status.code(), d.code) << r.status;
    EXPECT_EQ(r.reason, d.reason) << r.status;
    EXPECT_TRUE(r.jwe.empty());
    EXPECT_EQ(std::string(r.status.message()).find(kSecretText), std::string::npos);
  }
  ReleaseResult sig =
      service_->Release(ReleaseRequest{"bad-signature", kResource, false});
  EXPECT_EQ(sig.status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(sig.reason, "TOKEN_INVALID");
  ReleaseResult unknown =
      service_->Release(ReleaseRequest{Claims().dump(), "kms/model/nope", false});
  EXPECT_EQ(unknown.status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(unknown.reason, "RESOURCE_UNKNOWN");
}

TEST_F(ReleaseServiceTest, JtiIsSingleUseAndAStoreOutageFailsClosed) {
  const nlohmann::json c = Claims();
  EXPECT_TRUE(Release(c).status.ok());
  ReleaseResult again = Release(c);
  EXPECT_EQ(again.status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(again.reason, "TOKEN_REPLAYED");
  jtis_.down = true;
  ReleaseResult down = Release(Claims());
  EXPECT_EQ(down.status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(down.reason, "JTI_STORE_UNAVAILABLE");
  EXPECT_TRUE(down.jwe.empty());
}

TEST_F(ReleaseServiceTest, HsmUnavailableIs503AndLeaksNothing) {
  DownStore down;
  Make(down, service_->resources());
  ReleaseResult r = Release(Claims());
  EXPECT_EQ(r.status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(r.reason, "STORE_UNAVAILABLE");
  EXPECT_TRUE(r.jwe.empty());
}

TEST(ReleaseResources, ConfigIsValidated) {
  attestation::v1::KeyReleaseConfig kc;
  auto* r = kc.add_resources();
  r->set_name("not-a-resource");
  r->add_audiences("kms");
  EXPECT_FALSE(LoadResources(kc, "p").ok());
  r->set_name("a/b/c");
  r->clear_audiences();
  EXPECT_FALSE(LoadResources(kc, "p").ok()) << "a resource without audiences opens to anyone";
  r->add_audiences("kms");
  auto ok = LoadResources(kc, "p");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->at("a/b/c").policy, "p");
  EXPECT_EQ(ok->at("a/b/c").rule, "a/b/c");
  *kc.add_resources() = *r;
  EXPECT_FALSE(LoadResources(kc, "p").ok()) << "duplicate";
}

}  // namespace
}  // namespace rp::release
