// Issue -> verify round trips and the negative cases of VerifyToken, each
// starting from a valid token and changing one thing.
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/token/key_manager.h"
#include "server/token/token_issuer.h"
#include "server/token/token_verifier.h"
#include "verifier/common/clock.h"
#include "verifier/common/encoding.h"
#include "verifier/crypto/digest.h"
#include "verifier/crypto/keys.h"

namespace rp::token {
namespace {

using attestation::v1::TokenConfig;
using nlohmann::json;

const absl::Time kT0 = absl::FromUnixSeconds(1'750'000'000);

struct Env {
  explicit Env(const std::string& alg = "ES256", int64_t lifetime = 0) {
    config.set_algorithm(alg);
    config.set_lifetime_seconds(lifetime);
    keys = KeyManager::Create(config).value();
    issuer = TokenIssuer::Create(config, clock, *keys).value();
  }
  json Jwks() const { return json::parse(keys->JwksJson()); }

  TokenConfig config;
  FakeClock clock{kT0};
  std::unique_ptr<KeyManager> keys;
  std::unique_ptr<TokenIssuer> issuer;
};

std::vector<std::string> Split(const std::string& jwt) {
  return absl::StrSplit(jwt, '.');
}

json DecodeJson(const std::string& part) {
  const Bytes bytes = Base64Decode(part).value();
  return json::parse(bytes.begin(), bytes.end());
}

std::string EncodeJson(const json& value) {
  return Base64UrlEncode(AsBytes(value.dump()));
}

// A token with any header and payload, ECDSA-signed by `key`.
std::string SignRaw(const EVP_PKEY* key, const json& header,
                    const json& payload, bool sha384) {
  const std::string input = EncodeJson(header) + "." + EncodeJson(payload);
  const Bytes sig = crypto::SignEcdsaP1363(key, AsBytes(input), sha384).value();
  return input + "." + Base64UrlEncode(sig);
}

void ExpectRejected(const absl::StatusOr<json>& result, absl::StatusCode code,
                    std::string_view message_part, std::string_view row = "") {
  ASSERT_FALSE(result.ok()) << row << ": accepted";
  EXPECT_EQ(result.status().code(), code) << row << ": " << result.status();
  EXPECT_TRUE(absl::StrContains(
      result.status().message(),
      absl::string_view(message_part.data(), message_part.size())))
      << row << ": " << result.status();
}

void ExpectRejected(const absl::Status& status, absl::StatusCode code,
                    std::string_view message_part, std::string_view row = "") {
  ASSERT_FALSE(status.ok()) << row << ": accepted";
  ExpectRejected(absl::StatusOr<json>(status), code, message_part, row);
}

TEST(TokenTest, RoundTripEs256AndEs384) {
  for (const char* alg : {"ES256", "ES384"}) {
    Env s(alg);
    const std::string jwt =
        s.issuer->Issue({{"eat_nonce", "abc"}, {"n", 7}}).value();
    const std::vector<std::string> parts = Split(jwt);
    ASSERT_EQ(parts.size(), 3u);
    for (const std::string& p : parts) {
      EXPECT_EQ(p.find_first_of("+/="), std::string::npos)
          << "not unpadded base64url: " << p;
    }
    const json header = DecodeJson(parts[0]);
    const json expected_header = {{"alg", std::string(alg)},
                                  {"typ", "JWT"},
                                  {"kid", s.keys->Current()->kid}};
    EXPECT_EQ(header, expected_header);
    EXPECT_EQ(Base64Decode(parts[2]).value().size(),
              std::string(alg) == "ES256" ? 64u : 96u);

    absl::StatusOr<json> claims = VerifyToken(
        jwt, s.Jwks(), kT0 + absl::Seconds(10), absl::ZeroDuration());
    ASSERT_TRUE(claims.ok()) << alg << ": " << claims.status();
    EXPECT_EQ((*claims)["eat_nonce"], "abc");
    EXPECT_EQ((*claims)["n"], 7);
    EXPECT_EQ((*claims)["iss"], "attestation-rp");
    EXPECT_EQ((*claims)["iat"], absl::ToUnixSeconds(kT0));
    EXPECT_EQ((*claims)["nbf"], absl::ToUnixSeconds(kT0));
    EXPECT_EQ((*claims)["exp"], absl::ToUnixSeconds(kT0) + 300);
    EXPECT_EQ(Base64Decode((*claims)["jti"].get<std::string>()).value().size(),
              16u);
  }
}

TEST(TokenTest, DefaultAlgorithmIsEs256) {
  TokenConfig config;
  FakeClock clock(kT0);
  auto keys = KeyManager::Create(config).value();
  auto issuer = TokenIssuer::Create(config, clock, *keys).value();
  EXPECT_EQ(DecodeJson(Split(issuer->Issue(json::object()).value())[0])["alg"],
            "ES256");
}

TEST(TokenTest, IssuerOwnsRegisteredClaimsAndConfig) {
  Env s("ES256", 60);
  s.config.set_issuer("https://rp.example");
  auto issuer = TokenIssuer::Create(s.config, s.clock, *s.keys).value();
  const std::string jwt =
      issuer->Issue({{"iss", "evil"}, {"exp", 9'999'999'999LL}, {"jti", "x"}})
          .value();
  const json claims =
      VerifyToken(jwt, s.Jwks(), kT0, absl::ZeroDuration()).value();
  EXPECT_EQ(claims["iss"], "https://rp.example");
  EXPECT_EQ(claims["exp"], absl::ToUnixSeconds(kT0) + 60);
  EXPECT_NE(claims["jti"], "x");
  // Two tokens never share a jti.
  EXPECT_NE(DecodeJson(Split(issuer->Issue(nullptr).value())[1])["jti"],
            DecodeJson(Split(issuer->Issue(nullptr).value())[1])["jti"]);
  // The jti handed back is the token's own.
  std::string jti;
  const std::string with_id = issuer->Issue(json::object(), {}, &jti).value();
  EXPECT_FALSE(jti.empty());
  EXPECT_EQ(DecodeJson(Split(with_id)[1])["jti"], jti);
}

TEST(TokenTest, IssueRejectsBadClaimsAndConfig) {
  Env s;
  EXPECT_EQ(s.issuer->Issue(json::array({1, 2})).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.issuer->Issue({{"bad", std::string("\xff\xfe")}}).status().code(),
            absl::StatusCode::kInvalidArgument);

  TokenConfig es384;
  es384.set_algorithm("ES384");
  EXPECT_EQ(TokenIssuer::Create(es384, s.clock, *s.keys).status().code(),
            absl::StatusCode::kInvalidArgument);
  TokenConfig negative;
  negative.set_lifetime_seconds(-1);
  EXPECT_EQ(TokenIssuer::Create(negative, s.clock, *s.keys).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// token.audiences -> AttestRequest.audience -> `aud` (docs/key-release.md).
TEST(TokenTest, AudienceComesOnlyFromTheConfiguredList) {
  Env s;
  // No audiences configured: no aud, whatever the claims say, and a
  // requested audience is refused (a client cannot invent one).
  EXPECT_TRUE(s.issuer->CheckAudience("").ok());
  const json plain =
      DecodeJson(Split(s.issuer->Issue({{"aud", "smuggled"}}).value())[1]);
  EXPECT_FALSE(plain.contains("aud"));
  ExpectRejected(s.issuer->CheckAudience("vault"), absl::StatusCode::kInvalidArgument,
                 "issues tokens without `aud`");
  ExpectRejected(s.issuer->Issue(json::object(), "vault").status(),
                 absl::StatusCode::kInvalidArgument, "send no audience");

  // Audiences configured: one of them is required; it becomes a single
  // string `aud` and replaces any in the claims.
  s.config.add_audiences("vault");
  s.config.add_audiences("https://kms.example.com");
  auto issuer = TokenIssuer::Create(s.config, s.clock, *s.keys).value();
  EXPECT_EQ(issuer->audiences(), (std::vector<std::string>{"vault", "https://kms.example.com"}));
  const std::string jwt = issuer->Issue({{"aud", "smuggled"}}, "https://kms.example.com").value();
  const json claims = DecodeJson(Split(jwt)[1]);
  EXPECT_EQ(claims["aud"], "https://kms.example.com");
  ExpectRejected(issuer->CheckAudience(""), absl::StatusCode::kInvalidArgument,
                 "audience is required");
  ExpectRejected(issuer->Issue(json::object()).status(), absl::StatusCode::kInvalidArgument,
                 "audience is required");
  ExpectRejected(issuer->CheckAudience("Vault"), absl::StatusCode::kInvalidArgument,
                 "unknown audience 'Vault'");
  // A hostile value is escaped and cut in the message.
  const std::string hostile = std::string("\x01\n") + std::string(200, 'z');
  const absl::Status st = issuer->CheckAudience(hostile);
  ExpectRejected(st, absl::StatusCode::kInvalidArgument, "unknown audience '\\x01\\n");
  EXPECT_LT(st.message().size(), 200u) << st.message();
}

TEST(TokenTest, AudienceListIsValidated) {
  EXPECT_TRUE(ValidateAudiences({}).ok());
  EXPECT_TRUE(ValidateAudiences({"vault", "https://kms.example.com/x?y=1"}).ok());
  ExpectRejected(ValidateAudiences({""}), absl::StatusCode::kInvalidArgument,
                 "token.audiences[0] is 0 characters");
  ExpectRejected(ValidateAudiences({"a", "b", "a"}), absl::StatusCode::kInvalidArgument,
                 "token.audiences[2] 'a' is listed twice");
  ExpectRejected(ValidateAudiences({"has space"}), absl::StatusCode::kInvalidArgument,
                 "printable ASCII");
  ExpectRejected(ValidateAudiences({"caf\xc3\xa9"}), absl::StatusCode::kInvalidArgument,
                 "printable ASCII");
  ExpectRejected(ValidateAudiences({std::string(kMaxAudienceLength + 1, 'a')}),
                 absl::StatusCode::kInvalidArgument, "must be 1..256");
  std::vector<std::string> many;
  for (size_t i = 0; i <= kMaxAudiences; ++i) many.push_back(absl::StrCat("a", i));
  ExpectRejected(ValidateAudiences(many), absl::StatusCode::kInvalidArgument, "at most 64");
  // The issuer refuses a bad list too (tests and tools build TokenConfig
  // without the config loader).
  Env s;
  s.config.add_audiences("dup");
  s.config.add_audiences("dup");
  ExpectRejected(TokenIssuer::Create(s.config, s.clock, *s.keys).status(),
                 absl::StatusCode::kInvalidArgument, "listed twice");
}

TEST(TokenTest, HeaderKidIsRfc7638Thumbprint) {
  Env s("ES384");
  const std::string jwt = s.issuer->Issue(json::object()).value();
  const crypto::JwkPublic jwk =
      crypto::EcPublicJwk(s.keys->Current()->key.get()).value();
  EXPECT_EQ(DecodeJson(Split(jwt)[0])["kid"],
            Base64UrlEncode(crypto::JwkThumbprintSha256(jwk).value()));
}

TEST(TokenTest, TamperedPayloadIsRejected) {
  Env s;
  const std::string jwt =
      s.issuer->Issue({{"verdict", "contraindicated"}}).value();
  std::vector<std::string> parts = Split(jwt);
  json payload = DecodeJson(parts[1]);
  payload["verdict"] = "affirming";
  const std::string forged =
      parts[0] + "." + EncodeJson(payload) + "." + parts[2];
  ExpectRejected(VerifyToken(forged, s.Jwks(), kT0, absl::ZeroDuration()),
                 absl::StatusCode::kUnauthenticated, "does not verify");

  // One character of the encoded payload changed.
  std::string flipped = jwt;
  const size_t pos = parts[0].size() + 5;
  flipped[pos] = flipped[pos] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(VerifyToken(flipped, s.Jwks(), kT0, absl::ZeroDuration()).ok());
}

TEST(TokenTest, TamperedSignatureIsRejected) {
  Env s("ES384");
  const std::string jwt = s.issuer->Issue(json::object()).value();
  std::vector<std::string> parts = Split(jwt);
  Bytes sig = Base64Decode(parts[2]).value();
  sig[10] ^= 0x01;
  ExpectRejected(
      VerifyToken(parts[0] + "." + parts[1] + "." + Base64UrlEncode(sig),
                  s.Jwks(), kT0, absl::ZeroDuration()),
      absl::StatusCode::kUnauthenticated, "does not verify");
  // Truncated signature.
  sig.pop_back();
  EXPECT_FALSE(
      VerifyToken(parts[0] + "." + parts[1] + "." + Base64UrlEncode(sig),
                  s.Jwks(), kT0, absl::ZeroDuration())
          .ok());
  // A signature from a different key with the same kid.
  Env other("ES384");
  const json header = DecodeJson(parts[0]);
  const std::string reforged = SignRaw(other.keys->Current()->key.get(), header,
                                       DecodeJson(parts[1]), true);
  ExpectRejected(VerifyToken(reforged, s.Jwks(), kT0, absl::ZeroDuration()),
                 absl::StatusCode::kUnauthenticated, "does not verify");
}

TEST(TokenTest, AlgNoneIsRejected) {
  Env s;
  const std::string jwt = s.issuer->Issue(json::object()).value();
  std::vector<std::string> parts = Split(jwt);
  json header = DecodeJson(parts[0]);
  header["alg"] = "none";
  // Unsecured JWS: empty signature (RFC 7515 Appendix A.5), and with the
  // original signature left in place.
  ExpectRejected(VerifyToken(EncodeJson(header) + "." + parts[1] + ".",
                             s.Jwks(), kT0, absl::ZeroDuration()),
                 absl::StatusCode::kInvalidArgument,
                 "alg \"none\" is not accepted");
  ExpectRejected(
      VerifyToken(EncodeJson(header) + "." + parts[1] + "." + parts[2],
                  s.Jwks(), kT0, absl::ZeroDuration()),
      absl::StatusCode::kInvalidArgument, "alg \"none\" is not accepted");
}

TEST(TokenTest, AlgHs256IsRejectedEvenWithPublicKeyAsSecret) {
  Env s;
  const std::string jwt = s.issuer->Issue(json::object()).value();
  std::vector<std::string> parts = Split(jwt);
  json header = DecodeJson(parts[0]);
  header["alg"] = "HS256";
  // The classic key-confusion forgery: HMAC keyed with the public JWK text.
  const std::string input = EncodeJson(header) + "." + parts[1];
  const Bytes mac =
      crypto::HmacSha256(AsBytes(s.keys->JwksJson()), AsBytes(input));
  ExpectRejected(VerifyToken(input + "." + Base64UrlEncode(mac), s.Jwks(), kT0,
                             absl::ZeroDuration()),
                 absl::StatusCode::kInvalidArgument,
                 "alg \"HS256\" is not accepted");
  for (const char* alg : {"RS256", "PS256", "ES512", "EdDSA", "es256", ""}) {
    header["alg"] = alg;
    EXPECT_EQ(VerifyToken(EncodeJson(header) + "." + parts[1] + "." + parts[2],
                          s.Jwks(), kT0, absl::ZeroDuration())
                  .status()
                  .code(),
              absl::StatusCode::kInvalidArgument)
        << alg;
  }
  header["alg"] = 256;
  ExpectRejected(
      VerifyToken(EncodeJson(header) + "." + parts[1] + "." + parts[2],
                  s.Jwks(), kT0, absl::ZeroDuration()),
      absl::StatusCode::kInvalidArgument, "not a string");
}

TEST(TokenTest, UnknownKidIsRejected) {
  Env s;
  Env other;
  const std::string jwt = other.issuer->Issue(json::object()).value();
  ExpectRejected(VerifyToken(jwt, s.Jwks(), kT0, absl::ZeroDuration()),
                 absl::StatusCode::kNotFound, "is not in the JWKS");
  // Missing kid.
  std::vector<std::string> parts = Split(jwt);
  json header = DecodeJson(parts[0]);
  header.erase("kid");
  ExpectRejected(
      VerifyToken(EncodeJson(header) + "." + parts[1] + "." + parts[2],
                  other.Jwks(), kT0, absl::ZeroDuration()),
      absl::StatusCode::kInvalidArgument, "no \"kid\"");
}

TEST(TokenTest, ExpiredAndNotYetValid) {
  Env s("ES256", 300);
  const std::string jwt = s.issuer->Issue(json::object()).value();
  const json jwks = s.Jwks();
  EXPECT_TRUE(
      VerifyToken(jwt, jwks, kT0 + absl::Seconds(299), absl::ZeroDuration())
          .ok());
  ExpectRejected(
      VerifyToken(jwt, jwks, kT0 + absl::Seconds(300), absl::ZeroDuration()),
      absl::StatusCode::kUnauthenticated, "expired at");
  EXPECT_TRUE(
      VerifyToken(jwt, jwks, kT0 + absl::Seconds(330), absl::Seconds(31)).ok());
  ExpectRejected(
      VerifyToken(jwt, jwks, kT0 + absl::Seconds(331), absl::Seconds(31)),
      absl::StatusCode::kUnauthenticated, "expired at");

  ExpectRejected(
      VerifyToken(jwt, jwks, kT0 - absl::Seconds(1), absl::ZeroDuration()),
      absl::StatusCode::kUnauthenticated, "not valid before");
  EXPECT_TRUE(
      VerifyToken(jwt, jwks, kT0 - absl::Seconds(30), absl::Seconds(30)).ok());
  ExpectRejected(
      VerifyToken(jwt, jwks, kT0 - absl::Seconds(31), absl::Seconds(30)),
      absl::StatusCode::kUnauthenticated, "not valid before");

  EXPECT_EQ(VerifyToken(jwt, jwks, kT0, absl::Seconds(-1)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TokenTest, TimeClaimsMustBeWellFormed) {
  Env s;
  const SigningKey& key = *s.keys->Current();
  const json header = {{"alg", "ES256"}, {"typ", "JWT"}, {"kid", key.kid}};
  const int64_t t0 = absl::ToUnixSeconds(kT0);
  const std::vector<std::pair<json, std::string>> rows = {
      {{{"iat", t0}}, "no \"exp\""},
      {{{"exp", std::to_string(t0 + 60)}}, "not a NumericDate"},
      {{{"exp", t0 + 60}, {"nbf", true}}, "not a NumericDate"},
      {{{"exp", t0 + 60}, {"iat", nullptr}}, "not a NumericDate"},
  };
  for (const auto& [payload, message] : rows) {
    ExpectRejected(VerifyToken(SignRaw(key.key.get(), header, payload, false),
                               s.Jwks(), kT0, absl::ZeroDuration()),
                   absl::StatusCode::kInvalidArgument, message, payload.dump());
  }
  // Fractional NumericDates are allowed (RFC 7519 §2).
  const json fractional = {{"exp", static_cast<double>(t0) + 0.5}};
  EXPECT_TRUE(VerifyToken(SignRaw(key.key.get(), header, fractional, false),
                          s.Jwks(), kT0, absl::ZeroDuration())
                  .ok());
  EXPECT_FALSE(VerifyToken(SignRaw(key.key.get(), header, fractional, false),
                           s.Jwks(), kT0 + absl::Seconds(1),
                           absl::ZeroDuration())
                   .ok());
}

TEST(TokenTest, WrongCurveKeyIsRejected) {
  // The JWKS entry the kid names is on the other curve than the alg needs.
  Env p256("ES256");
  Env p384("ES384");
  const std::string es256 = p256.issuer->Issue(json::object()).value();
  json jwks = p384.Jwks();
  jwks["keys"][0]["kid"] = p256.keys->Current()->kid;
  jwks["keys"][0].erase("alg");
  ExpectRejected(VerifyToken(es256, jwks, kT0, absl::ZeroDuration()),
                 absl::StatusCode::kInvalidArgument, "ES256 needs P-256");

  // An "ES384" header over a P-256 key, signed with SHA-384.
  const SigningKey& key = *p256.keys->Current();
  const std::string es384_on_p256 = SignRaw(
      key.key.get(), {{"alg", "ES384"}, {"typ", "JWT"}, {"kid", key.kid}},
      {{"exp", absl::ToUnixSeconds(kT0) + 60}}, true);
  ExpectRejected(
      VerifyToken(es384_on_p256, p256.Jwks(), kT0, absl::ZeroDuration()),
      absl::StatusCode::kInvalidArgument, "ES384 needs P-384");

  // JWKS key alg disagreeing with the header.
  json mislabeled = p256.Jwks();
  mislabeled["keys"][0]["alg"] = "ES384";
  ExpectRejected(VerifyToken(es256, mislabeled, kT0, absl::ZeroDuration()),
                 absl::StatusCode::kInvalidArgument, "has alg");
}

TEST(TokenTest, JwksKeyMembersAreChecked) {
  Env s;
  const std::string jwt = s.issuer->Issue(json::object()).value();
  const std::vector<std::pair<std::string, std::function<void(json&)>>> rows = {
      {"use enc", [](json& k) { k["use"] = "enc"; }},
      {"key_ops", [](json& k) { k["key_ops"] = json::array({"sign"}); }},
      {"kty RSA", [](json& k) { k["kty"] = "RSA"; }},
      {"x off curve", [](json& k) { k["x"] = k["y"]; }},
      {"no y", [](json& k) { k.erase("y"); }},
  };
  for (const auto& [name, mutate] : rows) {
    json jwks = s.Jwks();
    mutate(jwks["keys"][0]);
    ExpectRejected(VerifyToken(jwt, jwks, kT0, absl::ZeroDuration()),
                   absl::StatusCode::kInvalidArgument, "JWKS key", name);
  }
  json twice = s.Jwks();
  twice["keys"].push_back(twice["keys"][0]);
  ExpectRejected(VerifyToken(jwt, twice, kT0, absl::ZeroDuration()),
                 absl::StatusCode::kInvalidArgument, "more than one key");
  ExpectRejected(VerifyToken(jwt, json::array(), kT0, absl::ZeroDuration()),
                 absl::StatusCode::kInvalidArgument, "\"keys\" array");
}

TEST(TokenTest, MalformedCompactSerialization) {
  Env s;
  const std::string jwt = s.issuer->Issue(json::object()).value();
  const std::vector<std::string> parts = Split(jwt);
  const json jwks = s.Jwks();
  const std::vector<std::pair<std::string, std::string>> rows = {
      {"empty", ""},
      {"two parts", parts[0] + "." + parts[1]},
      {"four parts", jwt + "." + parts[2]},
      {"empty signature", parts[0] + "." + parts[1] + "."},
      {"empty payload", parts[0] + ".." + parts[2]},
      {"padding", parts[0] + "=." + parts[1] + "." + parts[2]},
      {"standard alphabet", parts[0] + "." + parts[1] + "." + parts[2] + "+"},
      {"whitespace", parts[0] + " ." + parts[1] + "." + parts[2]},
      {"JWE-like", parts[0] + "." + parts[1] + "." + parts[2] + ".a.b"},
      {"header not json",
       Base64UrlEncode(AsBytes("{not json")) + "." + parts[1] + "." + parts[2]},
      {"header array",
       EncodeJson(json::array({1})) + "." + parts[1] + "." + parts[2]},
  };
  for (const auto& [name, token] : rows) {
    EXPECT_EQ(
        VerifyToken(token, jwks, kT0, absl::ZeroDuration()).status().code(),
        absl::StatusCode::kInvalidArgument)
        << name;
  }
  EXPECT_EQ(VerifyToken(std::string(kMaxTokenBytes + 1, 'a'), jwks, kT0,
                        absl::ZeroDuration())
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TokenTest, HeaderRulesAndDuplicateMembers) {
  Env s;
  const SigningKey& key = *s.keys->Current();
  const json payload = {{"exp", absl::ToUnixSeconds(kT0) + 60}};
  const json good = {{"alg", "ES256"}, {"typ", "JWT"}, {"kid", key.kid}};
  ASSERT_TRUE(VerifyToken(SignRaw(key.key.get(), good, payload, false),
                          s.Jwks(), kT0, absl::ZeroDuration())
                  .ok());
  json crit = good;
  crit["crit"] = json::array({"exp"});
  ExpectRejected(VerifyToken(SignRaw(key.key.get(), crit, payload, false),
                             s.Jwks(), kT0, absl::ZeroDuration()),
                 absl::StatusCode::kInvalidArgument, "crit");
  json typ = good;
  typ["typ"] = "at+jwt";
  ExpectRejected(VerifyToken(SignRaw(key.key.get(), typ, payload, false),
                             s.Jwks(), kT0, absl::ZeroDuration()),
                 absl::StatusCode::kInvalidArgument, "typ");

  // Duplicate member names, signed correctly: refused rather than "last wins".
  auto sign_text = [&](const std::string& header_text,
                       const std::string& payload_text) {
    const std::string input = Base64UrlEncode(AsBytes(header_text)) + "." +
                              Base64UrlEncode(AsBytes(payload_text));
    return input + "." +
           Base64UrlEncode(
               crypto::SignEcdsaP1363(key.key.get(), AsBytes(input), false)
                   .value());
  };
  const std::string header_text = good.dump();
  const std::string dup_header =
      R"({"alg":"none","alg":"ES256","typ":"JWT","kid":")" + key.kid + R"("})";
  ExpectRejected(VerifyToken(sign_text(dup_header, payload.dump()), s.Jwks(),
                             kT0, absl::ZeroDuration()),
                 absl::StatusCode::kInvalidArgument,
                 "duplicate member \"alg\"");
  const std::string dup_payload = absl::StrCat(
      R"({"exp":)", absl::ToUnixSeconds(kT0) + 60, R"(,"sub":{"a":1,"a":2}})");
  ExpectRejected(VerifyToken(sign_text(header_text, dup_payload), s.Jwks(), kT0,
                             absl::ZeroDuration()),
                 absl::StatusCode::kInvalidArgument, "duplicate member \"a\"");
  // Same names in sibling objects are fine.
  const std::string siblings =
      absl::StrCat(R"({"exp":)", absl::ToUnixSeconds(kT0) + 60,
                   R"(,"p":{"a":1},"q":{"a":2}})");
  EXPECT_TRUE(VerifyToken(sign_text(header_text, siblings), s.Jwks(), kT0,
                          absl::ZeroDuration())
                  .ok());
  // Deep nesting is bounded.
  const std::string deep =
      absl::StrCat(R"({"exp":)", absl::ToUnixSeconds(kT0) + 60, R"(,"d":)",
                   std::string(100, '['), std::string(100, ']'), "}");
  ExpectRejected(VerifyToken(sign_text(header_text, deep), s.Jwks(), kT0,
                             absl::ZeroDuration()),
                 absl::StatusCode::kInvalidArgument, "nested deeper");
}

TEST(TokenTest, RotationKeepsPreviousTokensVerifiable) {
  Env s("ES384");
  const std::string before = s.issuer->Issue({{"n", 1}}).value();
  const std::string old_kid = s.keys->Current()->kid;
  ASSERT_TRUE(s.keys->Rotate().ok());
  const std::string after = s.issuer->Issue({{"n", 2}}).value();
  EXPECT_NE(DecodeJson(Split(after)[0])["kid"], old_kid);
  EXPECT_EQ(DecodeJson(Split(before)[0])["kid"], old_kid);

  const json jwks = s.Jwks();  // current, next and previous
  EXPECT_EQ(VerifyToken(before, jwks, kT0, absl::ZeroDuration()).value()["n"],
            1);
  EXPECT_EQ(VerifyToken(after, jwks, kT0, absl::ZeroDuration()).value()["n"],
            2);

  // The next key is published before it signs: after another rotation the
  // token it signs verifies against the JWKS fetched before that rotation.
  ASSERT_TRUE(s.keys->Rotate().ok());
  const std::string third = s.issuer->Issue({{"n", 3}}).value();
  EXPECT_TRUE(VerifyToken(third, jwks, kT0, absl::ZeroDuration()).ok());
  EXPECT_TRUE(VerifyToken(before, s.Jwks(), kT0, absl::ZeroDuration()).ok());
}

// Claims as the server issues them (policy/appraisal.cc EarClaims, shortened).
json EarClaims(const std::string& status) {
  return {{"ear.status", status},
          {"submods", {{"cpu0", {{"ear.status", status}, {"tee", "sev-snp"}}}}},
          {"reasons", json::array()}};
}

TokenClaimChecks Checks(const std::string& issuer = kDefaultIssuer) {
  TokenClaimChecks c;
  c.issuer = issuer;
  return c;
}

TEST(TokenClaimChecksTest, AffirmingTokenFromTheNamedIssuerIsAccepted) {
  Env s;
  const std::string jwt = s.issuer->Issue(EarClaims("affirming")).value();
  const absl::StatusOr<json> claims =
      VerifyToken(jwt, s.Jwks(), kT0, absl::ZeroDuration(), Checks());
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ((*claims)["iss"], "attestation-rp");
  EXPECT_EQ((*claims)["ear.status"], "affirming");
}

TEST(TokenClaimChecksTest, StatusMustBeAccepted) {
  Env s;
  const json jwks = s.Jwks();
  const std::string contra =
      s.issuer->Issue(EarClaims("contraindicated")).value();
  const std::string warning = s.issuer->Issue(EarClaims("warning")).value();
  // Still a genuine token: only the claim checks refuse it.
  ASSERT_TRUE(VerifyToken(contra, jwks, kT0, absl::ZeroDuration()).ok());
  ExpectRejected(VerifyToken(contra, jwks, kT0, absl::ZeroDuration(), Checks()),
                 absl::StatusCode::kPermissionDenied,
                 "ear.status is \"contraindicated\"");
  ExpectRejected(
      VerifyToken(warning, jwks, kT0, absl::ZeroDuration(), Checks()),
      absl::StatusCode::kPermissionDenied, "ear.status is \"warning\"");

  TokenClaimChecks accept_warning = Checks();
  accept_warning.accept_statuses = {"affirming", "warning"};
  EXPECT_TRUE(
      VerifyToken(warning, jwks, kT0, absl::ZeroDuration(), accept_warning)
          .ok());
  ExpectRejected(
      VerifyToken(contra, jwks, kT0, absl::ZeroDuration(), accept_warning),
      absl::StatusCode::kPermissionDenied, "contraindicated");

  // A device worse than the top level is not accepted either.
  json mixed = EarClaims("affirming");
  mixed["submods"]["gpu0"] = {{"ear.status", "contraindicated"}};
  ExpectRejected(CheckClaims(mixed, Checks()),
                 absl::StatusCode::kInvalidArgument, "no \"iss\"");
  mixed["iss"] = "attestation-rp";
  ExpectRejected(CheckClaims(mixed, Checks()),
                 absl::StatusCode::kPermissionDenied,
                 "submods.gpu0 ear.status is \"contraindicated\"");

  // Missing or malformed status: never accepted.
  ExpectRejected(
      VerifyToken(s.issuer->Issue(json::object()).value(), jwks, kT0,
                  absl::ZeroDuration(), Checks()),
      absl::StatusCode::kInvalidArgument, "no \"ear.status\"");
  ExpectRejected(
      VerifyToken(s.issuer->Issue({{"ear.status", 1}}).value(), jwks, kT0,
                  absl::ZeroDuration(), Checks()),
      absl::StatusCode::kInvalidArgument, "not a string");
}

TEST(TokenClaimChecksTest, IssuerMustMatchExactly) {
  Env s;
  s.config.set_issuer("https://attest.example.com");
  const auto issuer = TokenIssuer::Create(s.config, s.clock, *s.keys).value();
  const std::string jwt = issuer->Issue(EarClaims("affirming")).value();
  const json jwks = s.Jwks();
  EXPECT_TRUE(VerifyToken(jwt, jwks, kT0, absl::ZeroDuration(),
                          Checks("https://attest.example.com"))
                  .ok());
  for (const char* wrong : {"attestation-rp", "https://attest.example.com/",
                            "HTTPS://attest.example.com", "https://attest"}) {
    ExpectRejected(
        VerifyToken(jwt, jwks, kT0, absl::ZeroDuration(), Checks(wrong)),
        absl::StatusCode::kPermissionDenied, "iss is", wrong);
  }
  TokenClaimChecks any;
  any.any_issuer = true;
  EXPECT_TRUE(VerifyToken(jwt, jwks, kT0, absl::ZeroDuration(), any).ok());
}

TEST(TokenClaimChecksTest, AudienceRules) {
  Env s;
  const json jwks = s.Jwks();
  json claims = EarClaims("affirming");
  const std::string no_aud = s.issuer->Issue(claims).value();
  // The issuer owns `aud` (only from its configured list), so tokens with
  // an audience list or a malformed aud are signed by hand.
  s.config.add_audiences("kms-a");
  const std::string aud_a =
      TokenIssuer::Create(s.config, s.clock, *s.keys).value()->Issue(claims, "kms-a").value();
  const SigningKey& key = *s.keys->Current();
  const json header = {{"alg", "ES256"}, {"typ", "JWT"}, {"kid", key.kid}};
  claims["iss"] = kDefaultIssuer;
  claims["exp"] = absl::ToUnixSeconds(kT0) + 60;
  claims["aud"] = json::array({"kms-b", "kms-a"});
  const std::string aud_list = SignRaw(key.key.get(), header, claims, false);
  claims["aud"] = 7;
  const std::string aud_bad = SignRaw(key.key.get(), header, claims, false);

  TokenClaimChecks want_a = Checks();
  want_a.audience = "kms-a";
  TokenClaimChecks want_c = Checks();
  want_c.audience = "kms-c";
  EXPECT_TRUE(VerifyToken(aud_a, jwks, kT0, absl::ZeroDuration(), want_a).ok());
  EXPECT_TRUE(
      VerifyToken(aud_list, jwks, kT0, absl::ZeroDuration(), want_a).ok());
  ExpectRejected(VerifyToken(aud_a, jwks, kT0, absl::ZeroDuration(), want_c),
                 absl::StatusCode::kPermissionDenied, "does not contain");
  ExpectRejected(
      VerifyToken(aud_list, jwks, kT0, absl::ZeroDuration(), want_c),
      absl::StatusCode::kPermissionDenied, "does not contain");
  // An audience is expected but the token names none.
  ExpectRejected(VerifyToken(no_aud, jwks, kT0, absl::ZeroDuration(), want_a),
                 absl::StatusCode::kPermissionDenied, "has no \"aud\"");
  // The token is for someone, but we did not say who we are (RFC 7519
  // §4.1.3).
  ExpectRejected(VerifyToken(aud_a, jwks, kT0, absl::ZeroDuration(), Checks()),
                 absl::StatusCode::kPermissionDenied,
                 "no audience is expected");
  ExpectRejected(VerifyToken(aud_bad, jwks, kT0, absl::ZeroDuration(), want_a),
                 absl::StatusCode::kInvalidArgument, "not a string or array");
  EXPECT_TRUE(
      VerifyToken(no_aud, jwks, kT0, absl::ZeroDuration(), Checks()).ok());
}

TEST(TokenClaimChecksTest, UnusableChecksAreRefusedBeforeTheToken) {
  Env s;
  const std::string jwt = s.issuer->Issue(EarClaims("affirming")).value();
  const json jwks = s.Jwks();
  struct Row {
    const char* name;
    std::function<void(TokenClaimChecks&)> change;
    const char* message;
  };
  const Row rows[] = {
      {"default (no issuer)", [](TokenClaimChecks& c) { c.issuer.clear(); },
       "no expected issuer"},
      {"issuer and any_issuer", [](TokenClaimChecks& c) { c.any_issuer = true; },
       "exclusive"},
      {"no accepted status",
       [](TokenClaimChecks& c) { c.accept_statuses.clear(); },
       "no accepted"},
      {"contraindicated accepted",
       [](TokenClaimChecks& c) {
         c.accept_statuses = {"affirming", "contraindicated"};
       },
       "cannot be accepted"},
      {"empty audience", [](TokenClaimChecks& c) { c.audience = ""; },
       "empty audience"},
  };
  for (const Row& row : rows) {
    TokenClaimChecks c = Checks();
    row.change(c);
    ExpectRejected(VerifyToken(jwt, jwks, kT0, absl::ZeroDuration(), c),
                   absl::StatusCode::kInvalidArgument, row.message, row.name);
    ExpectRejected(ValidateClaimChecks(c), absl::StatusCode::kInvalidArgument,
                   row.message, row.name);
  }
  // A default-constructed struct accepts nothing.
  EXPECT_FALSE(ValidateClaimChecks(TokenClaimChecks{}).ok());
}

}  // namespace
}  // namespace rp::token
