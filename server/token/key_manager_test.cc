#include "server/token/key_manager.h"

#include <fstream>
#include <set>
#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "verifier/common/encoding.h"
#include "verifier/crypto/digest.h"
#include "verifier/crypto/keys.h"

namespace rp::token {
namespace {

using attestation::v1::TokenConfig;

crypto::OpensslPtr<EVP_PKEY> NewKey(std::string_view curve) {
  return crypto::GenerateEcKey(curve).value();
}

std::string WritePem(const std::string& name, std::string_view curve) {
  std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << crypto::PrivateKeyPem(NewKey(curve).get());
  return path;
}

TEST(KeyManagerTest, GeneratesOneKeyWhenNoneConfigured) {
  for (const char* alg : {"", "ES256", "ES384"}) {
    TokenConfig config;
    config.set_algorithm(alg);
    auto km = KeyManager::Create(config);
    ASSERT_TRUE(km.ok()) << km.status();
    const attestation::v1::Jwks jwks = (*km)->Jwks();
    ASSERT_EQ(jwks.keys_size(), 1);
    const std::string expected_alg = std::string(alg).empty() ? "ES256" : alg;
    EXPECT_EQ(jwks.keys(0).alg(), expected_alg);
    EXPECT_EQ(jwks.keys(0).crv(), expected_alg == "ES256" ? "P-256" : "P-384");
    EXPECT_EQ(jwks.keys(0).use(), "sig");
    EXPECT_EQ(jwks.keys(0).kty(), "EC");
    EXPECT_EQ((*km)->Current()->kid, jwks.keys(0).kid());
  }
}

TEST(KeyManagerTest, KidIsRfc7638Thumbprint) {
  // RFC 7638 §3: SHA-256 over {"crv":..,"kty":"EC","x":..,"y":..} with the
  // required members in lexicographic order and no whitespace.
  auto km = KeyManager::CreateFromKeys(JwsAlgorithm::kEs256, {}).value();
  const attestation::v1::Jwk jwk = km->Jwks().keys(0);
  const std::string canonical = R"({"crv":")" + jwk.crv() +
                                R"(","kty":"EC","x":")" + jwk.x() +
                                R"(","y":")" + jwk.y() + R"("})";
  EXPECT_EQ(jwk.kid(), Base64UrlEncode(crypto::Sha256(AsBytes(canonical))));
  EXPECT_EQ(jwk.kid().size(), 43u);
}

TEST(KeyManagerTest, RejectsUnsupportedAlgorithm) {
  for (const char* alg : {"none", "HS256", "RS256", "ES512", "es256"}) {
    TokenConfig config;
    config.set_algorithm(alg);
    EXPECT_EQ(KeyManager::Create(config).status().code(),
              absl::StatusCode::kInvalidArgument)
        << alg;
  }
}

TEST(KeyManagerTest, LoadsPemFilesWithStatuses) {
  TokenConfig config;
  config.set_algorithm("ES384");
  auto* k1 = config.add_keys();
  k1->set_pem_file(WritePem("cur.pem", "P-384"));
  k1->set_status("current");
  auto* k2 = config.add_keys();
  k2->set_pem_file(WritePem("next.pem", "P-384"));
  k2->set_status("next");
  auto* k3 = config.add_keys();
  k3->set_pem_file(
      WritePem("prev256.pem", "P-256"));  // from before an alg change
  k3->set_status("previous");
  auto km = KeyManager::Create(config);
  ASSERT_TRUE(km.ok()) << km.status();
  const attestation::v1::Jwks jwks = (*km)->Jwks();
  ASSERT_EQ(jwks.keys_size(), 3);
  EXPECT_EQ((*km)->StatusOf(jwks.keys(0).kid()).value(), KeyStatus::kCurrent);
  EXPECT_EQ((*km)->StatusOf(jwks.keys(1).kid()).value(), KeyStatus::kNext);
  EXPECT_EQ((*km)->StatusOf(jwks.keys(2).kid()).value(), KeyStatus::kPrevious);
  EXPECT_EQ(jwks.keys(2).alg(), "ES256");
  EXPECT_EQ(jwks.keys(2).crv(), "P-256");
}

struct BadConfigRow {
  std::string name;
  std::string algorithm;
  std::vector<std::pair<std::string, std::string>>
      keys;  // (curve or "missing"/"junk", status)
  std::string expected_message;
};

TEST(KeyManagerTest, RejectsBadKeyConfigurations) {
  const std::vector<BadConfigRow> rows = {
      {"es256 with p384 current",
       "ES256",
       {{"P-384", "current"}},
       "ES256 needs P-256"},
      {"es384 with p256 current",
       "ES384",
       {{"P-256", "current"}},
       "ES384 needs P-384"},
      {"es256 with p384 next",
       "ES256",
       {{"P-256", "current"}, {"P-384", "next"}},
       "ES256 needs P-256"},
      {"no current", "ES256", {{"P-256", "next"}}, "no key has status current"},
      {"two current",
       "ES256",
       {{"P-256", "current"}, {"P-256", "current"}},
       "more than one key has status current"},
      {"two next",
       "ES256",
       {{"P-256", "current"}, {"P-256", "next"}, {"P-256", "next"}},
       "more than one key has status next"},
      {"bad status",
       "ES256",
       {{"P-256", "active"}},
       "not one of current | next | previous"},
      {"missing file", "ES256", {{"missing", "current"}}, "cannot open"},
      {"not a key", "ES256", {{"junk", "current"}}, "keys[0]"},
  };
  int n = 0;
  for (const BadConfigRow& row : rows) {
    TokenConfig config;
    config.set_algorithm(row.algorithm);
    for (const auto& [curve, status] : row.keys) {
      auto* k = config.add_keys();
      const std::string name = "bad" + std::to_string(n++) + ".pem";
      if (curve == "missing") {
        k->set_pem_file(::testing::TempDir() + "/does-not-exist.pem");
      } else if (curve == "junk") {
        const std::string path = ::testing::TempDir() + "/" + name;
        std::ofstream(path)
            << "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        k->set_pem_file(path);
      } else {
        k->set_pem_file(WritePem(name, curve));
      }
      k->set_status(status);
    }
    auto km = KeyManager::Create(config);
    ASSERT_FALSE(km.ok()) << row.name;
    EXPECT_TRUE(absl::StrContains(km.status().message(), row.expected_message))
        << row.name << ": " << km.status();
  }
}

TEST(KeyManagerTest, RejectsSameKeyTwiceAndPublicOnlyKeys) {
  crypto::OpensslPtr<EVP_PKEY> key = NewKey("P-256");
  const std::string pem = crypto::PrivateKeyPem(key.get());
  std::vector<KeyManager::KeySpec> twice;
  twice.push_back(
      {crypto::ParsePrivateKeyPem(pem).value(), KeyStatus::kCurrent, "a"});
  twice.push_back(
      {crypto::ParsePrivateKeyPem(pem).value(), KeyStatus::kPrevious, "b"});
  auto km = KeyManager::CreateFromKeys(JwsAlgorithm::kEs256, std::move(twice));
  ASSERT_FALSE(km.ok());
  EXPECT_TRUE(absl::StrContains(km.status().message(), "configured twice"))
      << km.status();

  std::vector<KeyManager::KeySpec> public_only;
  public_only.push_back(
      {crypto::ParsePublicKeyPem(crypto::PublicKeyPem(key.get())).value(),
       KeyStatus::kCurrent, "pub"});
  EXPECT_FALSE(
      KeyManager::CreateFromKeys(JwsAlgorithm::kEs256, std::move(public_only))
          .ok());
}

TEST(KeyManagerTest, RotatePromotesNextAndKeepsPrevious) {
  std::vector<KeyManager::KeySpec> keys;
  keys.push_back({NewKey("P-256"), KeyStatus::kCurrent, "cur"});
  keys.push_back({NewKey("P-256"), KeyStatus::kNext, "next"});
  auto km =
      KeyManager::CreateFromKeys(JwsAlgorithm::kEs256, std::move(keys)).value();
  const std::string kid_a = km->Jwks().keys(0).kid();
  const std::string kid_b = km->Jwks().keys(1).kid();

  ASSERT_TRUE(km->Rotate().ok());
  EXPECT_EQ(km->Current()->kid, kid_b);
  EXPECT_EQ(km->StatusOf(kid_a).value(), KeyStatus::kPrevious);
  const attestation::v1::Jwks jwks = km->Jwks();
  ASSERT_EQ(jwks.keys_size(), 3);  // current (b), new next, previous (a)
  EXPECT_EQ(jwks.keys(0).kid(), kid_b);
  EXPECT_EQ(km->StatusOf(jwks.keys(1).kid()).value(), KeyStatus::kNext);
  EXPECT_EQ(jwks.keys(2).kid(), kid_a);
}

TEST(KeyManagerTest, RotateWithoutNextGeneratesBoth) {
  auto km = KeyManager::CreateFromKeys(JwsAlgorithm::kEs384, {}).value();
  const std::string kid_a = km->Current()->kid;
  ASSERT_TRUE(km->Rotate().ok());
  EXPECT_NE(km->Current()->kid, kid_a);
  EXPECT_EQ(km->Current()->alg, JwsAlgorithm::kEs384);
  EXPECT_EQ(km->StatusOf(kid_a).value(), KeyStatus::kPrevious);
  EXPECT_EQ(km->Jwks().keys_size(), 3);
}

TEST(KeyManagerTest, RotateRetiresOldestPreviousBeyondLimit) {
  auto km = KeyManager::CreateFromKeys(JwsAlgorithm::kEs256, {}).value();
  std::vector<std::string> kids = {km->Current()->kid};
  for (size_t i = 0; i < KeyManager::kMaxPreviousKeys + 1; ++i) {
    ASSERT_TRUE(km->Rotate().ok());
    kids.push_back(km->Current()->kid);
  }
  EXPECT_EQ(km->StatusOf(kids[0]).status().code(), absl::StatusCode::kNotFound);
  for (size_t i = 1; i + 1 < kids.size(); ++i) {
    EXPECT_EQ(km->StatusOf(kids[i]).value(), KeyStatus::kPrevious) << i;
  }
  EXPECT_EQ(km->Jwks().keys_size(),
            static_cast<int>(2 + KeyManager::kMaxPreviousKeys));
}

TEST(KeyManagerTest, JwksJsonMatchesProto) {
  auto km = KeyManager::CreateFromKeys(JwsAlgorithm::kEs256, {}).value();
  ASSERT_TRUE(km->Rotate().ok());
  const nlohmann::json doc = nlohmann::json::parse(km->JwksJson());
  const attestation::v1::Jwks jwks = km->Jwks();
  ASSERT_EQ(doc["keys"].size(), static_cast<size_t>(jwks.keys_size()));
  std::set<std::string> kids;
  for (int i = 0; i < jwks.keys_size(); ++i) {
    const nlohmann::json& k = doc["keys"][static_cast<size_t>(i)];
    EXPECT_EQ(k["kid"], jwks.keys(i).kid());
    EXPECT_EQ(k["kty"], "EC");
    EXPECT_EQ(k["crv"], "P-256");
    EXPECT_EQ(k["alg"], "ES256");
    EXPECT_EQ(k["use"], "sig");
    EXPECT_EQ(k["x"], jwks.keys(i).x());
    EXPECT_EQ(k["y"], jwks.keys(i).y());
    EXPECT_FALSE(k.contains("d")) << "private member leaked";
    kids.insert(jwks.keys(i).kid());
  }
  EXPECT_EQ(kids.size(), static_cast<size_t>(jwks.keys_size()));
}

}  // namespace
}  // namespace rp::token
