#include "server/http_server.h"

#include <atomic>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/loopback_http.h"

namespace rp::server {
namespace {

using ::testing::HasSubstr;

constexpr char kJwks[] =
    R"({"keys":[{"kty":"EC","crv":"P-256","x":"a","y":"b","kid":"k"}]})";

class HttpServerTest : public ::testing::Test {
 protected:
  void StartWith(const std::string& issuer) {
    HttpServerOptions o;
    o.listen = "127.0.0.1:0";
    o.ready = [this] { return ready_.load(); };
    o.jwks_json = [] { return std::string(kJwks); };
    o.issuer = issuer;
    o.signing_algorithm = "ES256";
    auto s = HttpServer::Start(std::move(o));
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
    ASSERT_GT(server_->port(), 0);
  }
  absl::StatusOr<testing::HttpResponse> Get(const std::string& path) {
    return testing::HttpGet(server_->port(), path);
  }

  std::atomic<bool> ready_{false};
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, HealthzIsAlwaysOk) {
  StartWith("");
  auto r = Get("/healthz");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "ok\n");
}

TEST_F(HttpServerTest, ReadyzFollowsReadiness) {
  StartWith("");
  auto r = Get("/readyz");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 503);
  ready_ = true;
  r = Get("/readyz");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  ready_ = false;
  r = Get("/readyz");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 503);
}

TEST_F(HttpServerTest, ServesJwks) {
  StartWith("");
  auto r = Get("/.well-known/jwks.json");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->headers["content-type"], "application/json");
  EXPECT_EQ(r->body, kJwks);
}

TEST_F(HttpServerTest, OpenIdConfigurationWithUrlIssuer) {
  StartWith("https://attest.example.com/");
  auto r = Get("/.well-known/openid-configuration");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  auto j = nlohmann::json::parse(r->body);
  EXPECT_EQ(j["issuer"], "https://attest.example.com/");
  EXPECT_EQ(j["jwks_uri"], "https://attest.example.com/.well-known/jwks.json");
  EXPECT_EQ(j["id_token_signing_alg_values_supported"][0], "ES256");
}

TEST_F(HttpServerTest, OpenIdConfigurationWithPlainIssuerPointsHere) {
  StartWith("attestation-rp");
  auto r = Get("/.well-known/openid-configuration");
  ASSERT_TRUE(r.ok()) << r.status();
  auto j = nlohmann::json::parse(r->body);
  EXPECT_EQ(j["issuer"], "attestation-rp");
  EXPECT_EQ(j["jwks_uri"],
            "http://127.0.0.1:" + std::to_string(server_->port()) +
                "/.well-known/jwks.json");
}

TEST_F(HttpServerTest, UnknownPathIs404AndOtherMethodsAre405) {
  StartWith("");
  auto r = Get("/etc/passwd");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 404);
  r = Get("/.well-known/jwks.json/x");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 404);
  for (const char* method :
       {"POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"}) {
    r = testing::HttpRequest(server_->port(), method, "/healthz");
    ASSERT_TRUE(r.ok()) << method << ": " << r.status();
    EXPECT_EQ(r->status, 405) << method;
  }
}

TEST_F(HttpServerTest, StopIsIdempotent) {
  StartWith("");
  const int port = server_->port();
  server_->Stop();
  server_->Stop();
  EXPECT_FALSE(testing::HttpGet(port, "/healthz").ok());
}

TEST(HttpServerStartTest, BadListenIsAnError) {
  HttpServerOptions o;
  o.listen = "nonsense";
  o.jwks_json = [] { return std::string("{}"); };
  EXPECT_FALSE(HttpServer::Start(std::move(o)).ok());
}

}  // namespace
}  // namespace rp::server
