// The REST face end to end: a real HttpServer (BoundedHttpServer) on
// loopback with the REST endpoints, in front of a real AttestationServiceImpl
// (SEV-SNP verifier trusting a per-suite simulation root, real nonce and
// token services, real rate limiter), driven by raw HTTP/1.1 requests.
#include "server/rest_api.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "appraisal/engine.h"
#include "appraisal/registry_factory.h"
#include "attestation/v1/attestation.pb.h"
#include "cli/simulate.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/audit.h"
#include "server/http_server.h"
#include "server/limits/rate_limiter.h"
#include "server/metrics.h"
#include "server/nonce/nonce_service.h"
#include "server/nonce/replay_store.h"
#include "server/policy_access.h"
#include "server/policy_store.h"
#include "server/service.h"
#include "server/token/key_manager.h"
#include "server/token/token_issuer.h"
#include "server/token/token_verifier.h"
#include "verifier/collateral/source.h"
#include "verifier/common/clock.h"
#include "verifier/crypto/digest.h"

namespace rp::server {
namespace {

namespace fs = std::filesystem;
using attestation::v1::AttestRequest;
using attestation::v1::AttestResponse;
using attestation::v1::Challenge;
using nlohmann::json;
using ::testing::HasSubstr;

constexpr char kDevPolicy[] =
    "id: dev\n"
    "version: \"1\"\n"
    "allowed_bindings: [attest-v1, attest-v2, nonce]\n"
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
constexpr char kIssuer[] = "rest-test";

// ---- A raw HTTP/1.1 client (loopback, Connection: close) -------------------

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;
  json problem() const { return json::parse(body, nullptr, false); }
};

int Connect(const char* source_ip, int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in src{};
  src.sin_family = AF_INET;
  ::inet_pton(AF_INET, source_ip, &src.sin_addr);
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(static_cast<uint16_t>(port));
  dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): sockets API
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&src), sizeof(src)) != 0 ||
      // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): sockets API
      ::connect(fd, reinterpret_cast<const sockaddr*>(&dst), sizeof(dst)) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  return fd;
}

Reply Parse(const std::string& raw) {
  Reply r;
  const size_t end = raw.find("\r\n\r\n");
  if (!absl::StartsWith(raw, "HTTP/1.1 ") || raw.size() < 12 || end == std::string::npos ||
      !absl::SimpleAtoi(raw.substr(9, 3), &r.status)) {
    return r;
  }
  size_t pos = raw.find("\r\n");
  while (pos < end) {
    const size_t next = raw.find("\r\n", pos + 2);
    const std::string line = raw.substr(pos + 2, next - pos - 2);
    const size_t colon = line.find(':');
    if (colon != std::string::npos) {
      r.headers[absl::AsciiStrToLower(line.substr(0, colon))] =
          std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    }
    pos = next;
  }
  r.body = raw.substr(end + 4);
  return r;
}

// Sends `raw` and reads the reply until the server closes.
Reply Exchange(int port, const std::string& raw, const char* source_ip = "127.0.0.1") {
  const int fd = Connect(source_ip, port);
  if (fd < 0) return Reply{};
  size_t sent = 0;
  while (sent < raw.size()) {
    const ssize_t n = ::send(fd, raw.data() + sent, raw.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  std::string out;
  char buf[16384];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof(buf), 0)) > 0;) {
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return Parse(out);
}

Reply Post(int port, const std::string& path, const std::string& body,
           const char* source_ip = "127.0.0.1",
           const std::string& content_type = "application/json") {
  std::string head = absl::StrCat("POST ", path, " HTTP/1.1\r\nHost: rp\r\nContent-Length: ",
                                  body.size(), "\r\n");
  if (!content_type.empty()) absl::StrAppend(&head, "Content-Type: ", content_type, "\r\n");
  return Exchange(port, absl::StrCat(head, "\r\n", body), source_ip);
}

std::string ToJson(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  std::string out;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(m, &out, o).ok());
  return out;
}

// An RFC 7807 body with our reason.
void ExpectProblem(const Reply& r, int status, const std::string& reason) {
  EXPECT_EQ(r.status, status) << r.body;
  EXPECT_EQ(r.headers.count("content-type") ? r.headers.at("content-type") : "",
            "application/problem+json");
  const json p = r.problem();
  ASSERT_TRUE(p.is_object()) << r.body;
  EXPECT_EQ(p.value("status", 0), status);
  EXPECT_EQ(p.value("reason", ""), reason) << r.body;
  EXPECT_EQ(p.value("type", ""), "urn:attestation-rp:problem:" + reason);
  EXPECT_FALSE(p.value("title", "").empty());
  EXPECT_TRUE(p.contains("detail"));
}

// ---- Fixture ----------------------------------------------------------------

struct BuildOptions {
  limits::RequestLimits limits;  // default: unlimited
  PolicyAccess access;
  size_t max_body_bytes = 1 << 20;
  int64_t service_max_request_bytes = 4 * 1024 * 1024;
  bool shared_node_store = false;  // fleet registry over a store replicas share
};

// A node store the replicas share (as a Redis store would be), in memory.
class SharedNodeStore : public admission::fleet::NodeStore {
 public:
  absl::Status Put(const admission::fleet::NodeRecord& r) override { return inner_.Put(r); }
  absl::StatusOr<std::optional<admission::fleet::NodeRecord>> Get(
      std::string_view n) const override {
    return inner_.Get(n);
  }
  absl::StatusOr<std::vector<admission::fleet::NodeRecord>> List() const override {
    return inner_.List();
  }
  bool shared() const override { return true; }
  std::string Describe() const override { return "shared (test)"; }

 private:
  admission::fleet::InMemoryNodeStore inner_{100};
};

class RestApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string tmpl = (fs::temp_directory_path() / "rp_rest_test_XXXXXX").string();
    dir_ = new std::string(::mkdtemp(tmpl.data()));
    auto root = sim::LoadOrCreateSimulationRoot(*dir_);
    ASSERT_TRUE(root.ok()) << root.status();
    root_ = new sim::SimulationRoot(*std::move(root));
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(*dir_, ec);
    delete root_;
    delete dir_;
  }

  void SetUp() override { Build(BuildOptions{}); }

  void Build(BuildOptions o) {
    server_.reset();
    rest_.reset();
    service_.reset();
    store_ = std::make_unique<nonce::InMemoryReplayStore>(1000, clock_);
    auto nonces =
        nonce::NonceService::Create(crypto::RandomBytes(32), absl::Seconds(60), clock_, *store_);
    ASSERT_TRUE(nonces.ok()) << nonces.status();
    nonces_ = *std::move(nonces);
    auto keys = token::KeyManager::CreateFromKeys(token::JwsAlgorithm::kEs256, {});
    ASSERT_TRUE(keys.ok()) << keys.status();
    keys_ = *std::move(keys);
    attestation::v1::TokenConfig tc;
    tc.set_issuer(kIssuer);
    auto tokens = token::TokenIssuer::Create(tc, clock_, *keys_);
    ASSERT_TRUE(tokens.ok()) << tokens.status();
    tokens_ = *std::move(tokens);
    attestation::v1::SimulationConfig sim;
    sim.set_trust_simulation_root(true);
    sim.set_dir(*dir_);
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
    audit_ = AuditLog::InMemoryForTest();
    rate_store_ = std::make_unique<limits::InMemoryRateLimitStore>(1000, clock_);
    limiter_ = std::make_unique<limits::RequestLimiter>(*rate_store_, o.limits);
    access_ = std::move(o.access);
    if (o.shared_node_store) {
      node_store_ = std::make_unique<SharedNodeStore>();
    } else {
      node_store_ = std::make_unique<admission::fleet::InMemoryNodeStore>(100);
    }
    admission::fleet::FleetOptions fo;
    fo.freshness = absl::Minutes(10);
    auto registry_or = admission::fleet::FleetRegistry::Create(fo, *node_store_, clock_);
    ASSERT_TRUE(registry_or.ok()) << registry_or.status();
    fleet_ = *std::move(registry_or);
    ServiceDeps deps{clock_,   *nonces_,   *tokens_,       *keys_,      *engine_,
                     *policies_, metrics_.get(), audit_.get(), limiter_.get(), nullptr,
                     &access_};
    deps.fleet = fleet_.get();
    service_ = std::make_unique<AttestationServiceImpl>(
        deps, ServiceOptions{o.service_max_request_bytes});
    RestApiOptions ro;
    ro.max_body_bytes = o.max_body_bytes;
    ro.issuer = kIssuer;
    ro.fleet = fleet_.get();
    rest_ = std::make_unique<RestApi>(*service_, *keys_, clock_, ro);
    HttpServerOptions ho;
    ho.listen = "127.0.0.1:0";
    ho.ready = [] { return true; };
    ho.jwks_json = [this] { return keys_->JwksJson(); };
    ho.issuer = kIssuer;
    ho.signing_algorithm = "ES256";
    ho.endpoints = rest_->Endpoints();
    ho.error_reply = ServerErrorProblem;
    auto server = HttpServer::Start(std::move(ho));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  int port() const { return server_->port(); }

  // A challenge over REST.
  Challenge GetChallenge(const char* source_ip = "127.0.0.1") {
    const Reply r = Post(port(), "/v1/challenge", "", source_ip, "");
    EXPECT_EQ(r.status, 200) << r.body;
    Challenge c;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(r.body, &c).ok()) << r.body;
    return c;
  }

  // An attest body (protobuf JSON mapping) with simulated SNP evidence.
  std::string AttestBody(const Challenge& c, const std::string& policy = "",
                         const sim::OptionalRuntimeClaims& runtime_claims = std::nullopt) {
    sim::SnpSimulationOptions so;
    so.runtime_claims = runtime_claims;
    auto ev = sim::SimulateSnpEvidence(*root_, c.nonce(), clock_.Now(), so);
    EXPECT_TRUE(ev.ok()) << ev.status();
    AttestRequest req;
    *req.mutable_challenge() = c;
    if (ev.ok()) *req.mutable_evidence() = ev->bundle;
    req.set_policy(policy);
    return ToJson(req);
  }

  static std::string* dir_;
  static sim::SimulationRoot* root_;
  FakeClock clock_{absl::Now()};
  std::unique_ptr<nonce::InMemoryReplayStore> store_;
  std::unique_ptr<nonce::NonceService> nonces_;
  std::unique_ptr<token::KeyManager> keys_;
  std::unique_ptr<token::TokenIssuer> tokens_;
  std::unique_ptr<appraisal::Engine> engine_;
  std::unique_ptr<PolicyStore> policies_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<limits::InMemoryRateLimitStore> rate_store_;
  std::unique_ptr<limits::RequestLimiter> limiter_;
  PolicyAccess access_;
  std::unique_ptr<admission::fleet::NodeStore> node_store_;
  std::unique_ptr<admission::fleet::FleetRegistry> fleet_;
  std::unique_ptr<AttestationServiceImpl> service_;
  std::unique_ptr<RestApi> rest_;
  std::unique_ptr<HttpServer> server_;
};

std::string* RestApiTest::dir_ = nullptr;
sim::SimulationRoot* RestApiTest::root_ = nullptr;

// ---- The happy path -----------------------------------------------------------

TEST_F(RestApiTest, ChallengeSimulateAttestReturnsATokenThatVerifies) {
  // Challenge: empty body or {}; snake_case fields, int64 as strings.
  const Reply cr = Post(port(), "/v1/challenge", "{}");
  ASSERT_EQ(cr.status, 200) << cr.body;
  EXPECT_EQ(cr.headers.at("content-type"), "application/json");
  const json cj = json::parse(cr.body);
  EXPECT_TRUE(cj.contains("issued_at") && cj.contains("expires_at")) << cr.body;
  EXPECT_TRUE(cj["issued_at"].is_string());
  const Challenge c = GetChallenge();
  ASSERT_EQ(c.nonce().size(), 32u);

  const std::string body = AttestBody(c);
  const Reply ar = Post(port(), "/v1/attest", body);
  ASSERT_EQ(ar.status, 200) << ar.body;
  const json aj = json::parse(ar.body);
  EXPECT_EQ(aj.value("policy_id", ""), "dev@1") << "proto field names (snake_case)";
  AttestResponse resp;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(ar.body, &resp).ok());
  EXPECT_NE(resp.verdict(), attestation::v1::CONTRAINDICATED)
      << absl::StrJoin(resp.reasons(), ",");
  ASSERT_FALSE(resp.token().empty());
  ASSERT_GE(resp.submods_size(), 1);
  EXPECT_EQ(resp.submods(0).tee(), "sev-snp");

  token::TokenClaimChecks checks;
  checks.issuer = kIssuer;
  checks.accept_statuses = {"affirming", "warning"};
  auto claims = token::VerifyToken(resp.token(), json::parse(keys_->JwksJson()), clock_.Now(),
                                   absl::ZeroDuration(), checks);
  ASSERT_TRUE(claims.ok()) << claims.status();

  // The same token through /v1/tokens:verify.
  const Reply vr = Post(port(), "/v1/tokens:verify", json{{"token", resp.token()}}.dump());
  ASSERT_EQ(vr.status, 200) << vr.body;
  const json vj = json::parse(vr.body);
  EXPECT_EQ(vj["claims"]["iss"], kIssuer);
  EXPECT_EQ(vj["claims"]["jti"], (*claims)["jti"]);

  // Same service code path: the challenge is now used, so a replay is a
  // contraindicated verdict (OK response, no token), as over gRPC.
  const Reply replay = Post(port(), "/v1/attest", body);
  ASSERT_EQ(replay.status, 200) << replay.body;
  AttestResponse again;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(replay.body, &again).ok());
  EXPECT_EQ(again.verdict(), attestation::v1::CONTRAINDICATED);
  EXPECT_TRUE(again.token().empty());

  // The audit line names the HTTP peer as gRPC would ("ipv4:addr:port").
  const std::vector<std::string> lines = audit_->LinesForTest();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0], HasSubstr("ipv4:127.0.0.1:"));
}

// ---- Request errors -----------------------------------------------------------

TEST_F(RestApiTest, MalformedJsonIs400ProblemJson) {
  ExpectProblem(Post(port(), "/v1/attest", "{not json"), 400, kReasonMalformedJson);
  ExpectProblem(Post(port(), "/v1/attest", "[]"), 400, kReasonMalformedJson);
  ExpectProblem(Post(port(), "/v1/attest", "\"x\""), 400, kReasonMalformedJson);
  ExpectProblem(Post(port(), "/v1/attest", "{} {}"), 400, kReasonMalformedJson);
  ExpectProblem(Post(port(), "/v1/attest", ""), 400, kReasonMalformedJson);
  // The same member twice: refused before any mapping picks one.
  ExpectProblem(Post(port(), "/v1/attest", R"({"policy":"","policy":"fleet"})"), 400,
                kReasonMalformedJson);
  // Deep nesting is refused without building anything.
  std::string deep;
  for (int i = 0; i < 1000; ++i) deep += "{\"a\":";
  deep += "1";
  for (int i = 0; i < 1000; ++i) deep += "}";
  const Reply r = Post(port(), "/v1/attest", deep);
  ExpectProblem(r, 400, kReasonMalformedJson);
  EXPECT_THAT(r.problem().value("detail", ""), HasSubstr("deeper"));
  // Invalid UTF-8 in a string.
  ExpectProblem(Post(port(), "/v1/attest", "{\"policy\":\"\xff\"}"), 400, kReasonMalformedJson);
}

TEST_F(RestApiTest, UnknownFieldIs400AndTheChallengeIsNotConsumed) {
  const Challenge c = GetChallenge();
  const std::string good = AttestBody(c);
  // A caller-supplied key at the top level (the key to wrap secrets to comes
  // only from the attested evidence).
  json with_key = json::parse(good);
  with_key["tee_private_key"] = {{"kty", "EC"}};
  Reply r = Post(port(), "/v1/attest", with_key.dump());
  ExpectProblem(r, 400, kReasonUnknownField);
  EXPECT_THAT(r.problem().value("detail", ""), HasSubstr("tee_private_key"));
  // Nested.
  json nested = json::parse(good);
  nested["evidence"]["sev_snp"]["wrapping_key"] = "x";
  ExpectProblem(Post(port(), "/v1/attest", nested.dump()), 400, kReasonUnknownField);
  // Wrong type.
  json typed = json::parse(good);
  typed["challenge"] = "x";
  ExpectProblem(Post(port(), "/v1/attest", typed.dump()), 400, kReasonInvalidField);
  // None of that reached the service: the challenge still works.
  const Reply ok = Post(port(), "/v1/attest", good);
  ASSERT_EQ(ok.status, 200) << ok.body;
  AttestResponse resp;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(ok.body, &resp).ok());
  EXPECT_NE(resp.verdict(), attestation::v1::CONTRAINDICATED);
  // camelCase input is accepted too (protobuf JSON mapping).
  const Challenge c2 = GetChallenge();
  json camel = json::parse(AttestBody(c2));
  camel["challenge"]["issuedAt"] = camel["challenge"]["issued_at"];
  camel["challenge"].erase("issued_at");
  EXPECT_EQ(Post(port(), "/v1/attest", camel.dump()).status, 200);
}

TEST_F(RestApiTest, NonJsonMediaTypeIs415) {
  const Challenge c = GetChallenge();
  ExpectProblem(Post(port(), "/v1/attest", AttestBody(c), "127.0.0.1", "text/plain"), 415,
                kReasonUnsupportedMediaType);
  ExpectProblem(Post(port(), "/v1/attest", AttestBody(c), "127.0.0.1", ""), 415,
                kReasonUnsupportedMediaType);
  EXPECT_EQ(Post(port(), "/v1/attest", AttestBody(c), "127.0.0.1",
                 "application/json; charset=utf-8")
                .status,
            200);
}

TEST_F(RestApiTest, OversizedBodyIs413BeforeItIsRead) {
  BuildOptions o;
  o.max_body_bytes = 64 * 1024;
  Build(std::move(o));
  const absl::Time start = absl::Now();
  // The head alone: 10 MB announced, nothing sent.
  const Reply r = Exchange(port(), "POST /v1/attest HTTP/1.1\r\nHost: rp\r\n"
                                   "Content-Type: application/json\r\n"
                                   "Content-Length: 10000000\r\n\r\n");
  ExpectProblem(r, 413, kHttpBodyTooLarge);
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_EQ(server_->Stats().bodies_too_large, 1u);
  // Chunked bodies have no size in advance: refused.
  ExpectProblem(Exchange(port(), "POST /v1/attest HTTP/1.1\r\nHost: rp\r\n"
                                 "Content-Type: application/json\r\n"
                                 "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"),
                411, kHttpLengthRequired);
}

// Under the HTTP cap but over the service's max_request_bytes: the same
// check as gRPC, from the same code.
TEST_F(RestApiTest, ServiceSizeLimitAppliesAsOnGrpc) {
  BuildOptions o;
  o.service_max_request_bytes = 1000;
  Build(std::move(o));
  const Challenge c = GetChallenge();
  const Reply r = Post(port(), "/v1/attest", AttestBody(c));
  ExpectProblem(r, 400, "INVALID_ARGUMENT");
  EXPECT_EQ(r.problem().value("grpc_code", ""), "INVALID_ARGUMENT");
  EXPECT_THAT(r.problem().value("detail", ""), HasSubstr("limit 1000"));
}

TEST_F(RestApiTest, GetOnAPostRouteIs405) {
  const Reply r = Exchange(port(), "GET /v1/attest HTTP/1.1\r\nHost: rp\r\n\r\n");
  ExpectProblem(r, 405, kHttpMethodNotAllowed);
  EXPECT_EQ(r.headers.at("allow"), "POST");
  ExpectProblem(Exchange(port(), "GET /v1/nothing HTTP/1.1\r\n\r\n"), 404, kHttpNotFound);
  // The side port's GET routes are unchanged.
  const Reply h = Exchange(port(), "GET /healthz HTTP/1.1\r\n\r\n");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.body, "ok\n");
}

// ---- Limits and who chooses the policy (the service's, shared with gRPC) -----

TEST_F(RestApiTest, RateLimitedIs429WithRetryAfterAndSharesTheGrpcBucket) {
  BuildOptions o;
  o.limits.get_challenge = {0.01, 2};  // 2 at once, then one per 100 s
  Build(std::move(o));
  EXPECT_EQ(Post(port(), "/v1/challenge", "").status, 200);
  EXPECT_EQ(Post(port(), "/v1/challenge", "").status, 200);
  Reply r = Post(port(), "/v1/challenge", "");
  ExpectProblem(r, 429, "RESOURCE_EXHAUSTED");
  int64_t retry = 0;
  ASSERT_TRUE(absl::SimpleAtoi(r.headers["retry-after"], &retry)) << r.headers["retry-after"];
  EXPECT_GE(retry, 1);
  EXPECT_THAT(r.problem().value("detail", ""), HasSubstr("retry after"));
  // One bucket per client whichever face it uses: a gRPC call from the same
  // address is throttled too; another address is not.
  Challenge c;
  EXPECT_EQ(service_->DoGetChallenge(PeerFromString("ipv4:127.0.0.1:40000"), &c).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(Post(port(), "/v1/challenge", "", "127.0.0.2", "").status, 200);
}

TEST_F(RestApiTest, PolicyClientsApplyToRestPeers) {
  google::protobuf::Map<std::string, attestation::v1::PolicyClients> m;
  m["fleet"].add_peers("127.0.0.2");
  auto access = PolicyAccess::Create(m);
  ASSERT_TRUE(access.ok()) << access.status();
  BuildOptions o;
  o.access = *std::move(access);
  Build(std::move(o));
  const Challenge c1 = GetChallenge();
  ExpectProblem(Post(port(), "/v1/attest", AttestBody(c1, "fleet")), 403, "PERMISSION_DENIED");
  const Challenge c2 = GetChallenge("127.0.0.2");
  const Reply ok = Post(port(), "/v1/attest", AttestBody(c2, "fleet"), "127.0.0.2");
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(json::parse(ok.body).value("policy_id", ""), "fleet@1");
}

// ---- tokens:verify -------------------------------------------------------------

TEST_F(RestApiTest, TokensVerifyReturnsTheClaimsOfOurTokens) {
  auto t = tokens_->Issue(json{{"ear.status", "contraindicated"}});
  ASSERT_TRUE(t.ok());
  Reply r = Post(port(), "/v1/tokens:verify", json{{"token", *t}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  // Not judged here: a contraindicated token verifies, its status is shown.
  EXPECT_EQ(json::parse(r.body)["claims"]["ear.status"], "contraindicated");
  r = Post(port(), "/v1/tokens:verify", json{{"token", *t}, {"issuer", kIssuer}}.dump());
  EXPECT_EQ(r.status, 200) << r.body;

  // Audience: must be named when the token has one, and must match. (The
  // issuer owns aud: a token with one comes from an issuer configured with
  // that audience, same keys.)
  attestation::v1::TokenConfig aud_config;
  aud_config.set_issuer(kIssuer);
  aud_config.add_audiences("kms");
  auto aud_issuer = token::TokenIssuer::Create(aud_config, clock_, *keys_);
  ASSERT_TRUE(aud_issuer.ok()) << aud_issuer.status();
  auto with_aud = (*aud_issuer)->Issue(json{{"ear.status", "affirming"}}, "kms");
  ASSERT_TRUE(with_aud.ok());
  ExpectProblem(Post(port(), "/v1/tokens:verify", json{{"token", *with_aud}}.dump()), 401,
                kReasonTokenWrongAudience);
  EXPECT_EQ(Post(port(), "/v1/tokens:verify",
                 json{{"token", *with_aud}, {"audience", "kms"}}.dump())
                .status,
            200);
  ExpectProblem(Post(port(), "/v1/tokens:verify",
                     json{{"token", *t}, {"audience", "kms"}}.dump()),
                401, kReasonTokenWrongAudience);
}

TEST_F(RestApiTest, TokensVerifyRefusesWrongIssuerForeignKeyTamperingAndExpiry) {
  auto t = tokens_->Issue(json{{"ear.status", "affirming"}});
  ASSERT_TRUE(t.ok());
  const Reply wrong = Post(port(), "/v1/tokens:verify",
                           json{{"token", *t}, {"issuer", "someone-else"}}.dump());
  ExpectProblem(wrong, 401, kReasonTokenWrongIssuer);
  EXPECT_EQ(wrong.headers.count("www-authenticate"), 1u);

  // Signed by a key that is not in our JWKS.
  auto other_keys = token::KeyManager::CreateFromKeys(token::JwsAlgorithm::kEs256, {});
  ASSERT_TRUE(other_keys.ok());
  attestation::v1::TokenConfig tc;
  tc.set_issuer(kIssuer);
  auto other = token::TokenIssuer::Create(tc, clock_, **other_keys);
  ASSERT_TRUE(other.ok());
  auto foreign = (*other)->Issue(json{{"ear.status", "affirming"}});
  ASSERT_TRUE(foreign.ok());
  ExpectProblem(Post(port(), "/v1/tokens:verify", json{{"token", *foreign}}.dump()), 401,
                kReasonTokenUnknownKey);

  // A changed signature byte.
  std::string tampered = *t;
  const size_t sig = tampered.rfind('.') + 10;
  tampered[sig] = tampered[sig] == 'A' ? 'B' : 'A';
  ExpectProblem(Post(port(), "/v1/tokens:verify", json{{"token", tampered}}.dump()), 401,
                kReasonTokenBadSignature);

  ExpectProblem(Post(port(), "/v1/tokens:verify", json{{"token", "a.b"}}.dump()), 401,
                kReasonTokenMalformed);

  clock_.Advance(tokens_->lifetime() + absl::Minutes(1));
  ExpectProblem(Post(port(), "/v1/tokens:verify", json{{"token", *t}}.dump()), 401,
                kReasonTokenExpired);
}

TEST_F(RestApiTest, TokensVerifyBodyIsStrict) {
  auto t = tokens_->Issue(json{{"ear.status", "affirming"}});
  ASSERT_TRUE(t.ok());
  ExpectProblem(Post(port(), "/v1/tokens:verify", json{{"token", *t}, {"key", "x"}}.dump()), 400,
                kReasonUnknownField);
  ExpectProblem(Post(port(), "/v1/tokens:verify", json{{"issuer", kIssuer}}.dump()), 400,
                kReasonInvalidField);
  ExpectProblem(Post(port(), "/v1/tokens:verify", json{{"token", 5}}.dump()), 400,
                kReasonInvalidField);
  ExpectProblem(Post(port(), "/v1/tokens:verify", "{"), 400, kReasonMalformedJson);
}

// ---- Building blocks --------------------------------------------------------------

// ---- Fleet node registry (issue 13) ---------------------------------------------

Reply Get(int port, const std::string& path) {
  return Exchange(port, absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: rp\r\n\r\n"));
}

// An attestation whose attest-v2 runtime claims name a node updates that
// node's record (whatever the verdict); GET /v1/nodes[/{name}] serve the
// registry's view; unbound claims never make a record.
TEST_F(RestApiTest, BoundNodeClaimUpdatesTheFleetRegistryServedOverRest) {
  const Reply empty = Get(port(), "/v1/nodes");
  ASSERT_EQ(empty.status, 200) << empty.body;
  EXPECT_TRUE(json::parse(empty.body)["nodes"].empty());
  ExpectProblem(Get(port(), "/v1/nodes/gpu-node-1"), 404, "NODE_NOT_FOUND");

  // Without runtime claims: no record.
  ASSERT_EQ(Post(port(), "/v1/attest", AttestBody(GetChallenge())).status, 200);
  EXPECT_TRUE(json::parse(Get(port(), "/v1/nodes").body)["nodes"].empty());

  const std::map<std::string, std::string> claims = {{"node", "gpu-node-1"},
                                                     {"workload", "llm"}};
  const Reply ar = Post(port(), "/v1/attest", AttestBody(GetChallenge(), "", claims));
  ASSERT_EQ(ar.status, 200) << ar.body;
  const json aj = json::parse(ar.body);
  EXPECT_EQ(aj["runtime_claims"]["node"], "gpu-node-1");
  const std::string jti = JtiOfToken(aj.value("token", ""));
  ASSERT_FALSE(jti.empty());

  const Reply list = Get(port(), "/v1/nodes");
  ASSERT_EQ(list.status, 200) << list.body;
  const json lj = json::parse(list.body);
  EXPECT_EQ(lj["freshness_seconds"], 600);
  ASSERT_EQ(lj["nodes"].size(), 1u) << list.body;
  const json& n = lj["nodes"][0];
  EXPECT_EQ(n["node"], "gpu-node-1");
  EXPECT_EQ(n["verdict"], "warning");  // simulated evidence
  EXPECT_EQ(n["state"], "fresh");
  EXPECT_EQ(n["tee"], "sev-snp");
  EXPECT_EQ(n["gpus"], 0);
  EXPECT_EQ(n["policy"]["id"], "dev");
  EXPECT_EQ(n["token"]["jti"], jti);
  EXPECT_EQ(n["runtime_claims"]["workload"], "llm");
  EXPECT_FALSE(n.contains("claims")) << "the list leaves the token claims out";

  const Reply one = Get(port(), "/v1/nodes/gpu-node-1");
  ASSERT_EQ(one.status, 200) << one.body;
  const json oj = json::parse(one.body);
  EXPECT_EQ(oj["claims"]["jti"], jti);
  EXPECT_EQ(oj["claims"]["runtime_claims"]["node"], "gpu-node-1");
  ExpectProblem(Get(port(), "/v1/nodes/gpu-node-2"), 404, "NODE_NOT_FOUND");
  ExpectProblem(Get(port(), "/v1/nodes/Not_A_Node"), 400, "INVALID_NODE_NAME");
  EXPECT_EQ(Post(port(), "/v1/nodes", "{}").status, 405);

  // Claims changed after the report was made: the binding fails, the
  // response carries no runtime claims, and no record names the new node.
  AttestRequest req;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  AttestBody(GetChallenge(), "", claims), &req)
                  .ok());
  (*req.mutable_evidence()->mutable_runtime_claims())["node"] = "gpu-node-9";
  const Reply tampered = Post(port(), "/v1/attest", ToJson(req));
  ASSERT_EQ(tampered.status, 200) << tampered.body;
  const json tj = json::parse(tampered.body);
  EXPECT_EQ(tj["verdict"], "CONTRAINDICATED");
  EXPECT_FALSE(tj.contains("runtime_claims")) << tampered.body;
  ExpectProblem(Get(port(), "/v1/nodes/gpu-node-9"), 404, "NODE_NOT_FOUND");

  // After the freshness window the record is stale.
  clock_.Advance(absl::Minutes(11));
  const json stale = json::parse(Get(port(), "/v1/nodes/gpu-node-1").body);
  EXPECT_EQ(stale["state"], "stale");
  EXPECT_GE(stale["age_seconds"].get<int64_t>(), 660);
}

// With a shared store, the view is not trusted before its first sync.
TEST_F(RestApiTest, FleetRoutesAnswer503UntilASharedStoreIsSynced) {
  BuildOptions o;
  o.shared_node_store = true;
  Build(std::move(o));
  ExpectProblem(Get(port(), "/v1/nodes"), 503, "FLEET_STATE_UNAVAILABLE");
  ExpectProblem(Get(port(), "/v1/nodes/gpu-node-1"), 503, "FLEET_STATE_UNAVAILABLE");
  ASSERT_TRUE(fleet_->Sync().ok());
  EXPECT_EQ(Get(port(), "/v1/nodes").status, 200);
  ExpectProblem(Get(port(), "/v1/nodes/gpu-node-1"), 404, "NODE_NOT_FOUND");
}

TEST(RestBuildingBlocksTest, StatusMappingFollowsTheResearchTable) {
  EXPECT_EQ(HttpStatusFor(grpc::StatusCode::INVALID_ARGUMENT), 400);
  EXPECT_EQ(HttpStatusFor(grpc::StatusCode::FAILED_PRECONDITION), 400);
  EXPECT_EQ(HttpStatusFor(grpc::StatusCode::UNAUTHENTICATED), 401);
  EXPECT_EQ(HttpStatusFor(grpc::StatusCode::PERMISSION_DENIED), 403);
  EXPECT_EQ(HttpStatusFor(grpc::StatusCode::NOT_FOUND), 404);
  EXPECT_EQ(HttpStatusFor(grpc::StatusCode::RESOURCE_EXHAUSTED), 429);
  EXPECT_EQ(HttpStatusFor(grpc::StatusCode::UNAVAILABLE), 503);
  EXPECT_EQ(HttpStatusFor(grpc::StatusCode::DEADLINE_EXCEEDED), 504);
  EXPECT_EQ(HttpStatusFor(grpc::StatusCode::INTERNAL), 500);
  const HttpReply unavailable =
      ProblemFromStatus(absl::UnavailableError("store down"), "STORE_UNAVAILABLE", 7);
  EXPECT_EQ(unavailable.status, 503);
  EXPECT_EQ(unavailable.content_type, "application/problem+json");
  ASSERT_EQ(unavailable.headers.size(), 1u);
  EXPECT_EQ(unavailable.headers[0].first, "Retry-After");
  EXPECT_EQ(unavailable.headers[0].second, "7");
  const json p = json::parse(unavailable.body);
  EXPECT_EQ(p["reason"], "STORE_UNAVAILABLE");
  EXPECT_EQ(p["grpc_code"], "UNAVAILABLE");
  // A reason code leading a service error message becomes the reason.
  EXPECT_EQ(LeadingReason("NONCE_STORE_UNAVAILABLE: attest: no answer"), "NONCE_STORE_UNAVAILABLE");
  EXPECT_EQ(LeadingReason("attest: no answer"), "");
  EXPECT_EQ(LeadingReason("Nonce: x"), "");
  EXPECT_EQ(LeadingReason(": x"), "");
  EXPECT_EQ(p["detail"], "store down");
  // Client-chosen invalid UTF-8 in a detail never throws.
  EXPECT_EQ(Problem(400, "X", "bad \xff byte").status, 400);
}

TEST(RestBuildingBlocksTest, BearerToken) {
  HttpRequest r;
  EXPECT_FALSE(BearerToken(r).has_value());
  r.headers = {{"authorization", "Bearer abc.def.ghi"}};
  EXPECT_EQ(BearerToken(r).value_or(""), "abc.def.ghi");
  r.headers = {{"authorization", "bearer  abc"}};
  EXPECT_EQ(BearerToken(r).value_or(""), "abc");
  r.headers = {{"authorization", "Basic abc"}};
  EXPECT_FALSE(BearerToken(r).has_value());
  r.headers = {{"authorization", "Bearer "}};
  EXPECT_FALSE(BearerToken(r).has_value());
  r.headers = {{"authorization", "Bearer a b"}};
  EXPECT_FALSE(BearerToken(r).has_value());
}

}  // namespace
}  // namespace rp::server
