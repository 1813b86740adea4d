#include "server/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/ascii.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "prometheus/counter.h"
#include "prometheus/registry.h"
#include "server/config.h"
#include "server/metrics.h"
#include "tests/integration/loopback_http.h"
#include "tests/testing/cert_factory.h"
#include "verifier/common/encoding.h"
#include "verifier/crypto/digest.h"
#include "verifier/crypto/keys.h"
#include "verifier/crypto/x509.h"

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
  // Exactly the algorithm the keys sign with.
  EXPECT_EQ(j["id_token_signing_alg_values_supported"], nlohmann::json::array({"ES256"}));
  // The members OpenID Connect Discovery 1.0 §3 requires of every issuer
  // (docs/key-release.md), and the claims key-release gates read.
  EXPECT_EQ(j["response_types_supported"], nlohmann::json::array({"id_token"}));
  EXPECT_EQ(j["subject_types_supported"], nlohmann::json::array({"public"}));
  for (const char* claim : {"iss", "sub", "aud", "exp", "nbf", "jti", "cnf", "ear.status"}) {
    EXPECT_NE(std::find(j["claims_supported"].begin(), j["claims_supported"].end(), claim),
              j["claims_supported"].end())
        << claim;
  }
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

// ---------------------------------------------------------------------------
// Limits: slow and half-open connections, caps, deadlines (issue 10).

// A TCP connection from `source_ip` (any 127/8 address works on Linux) to
// 127.0.0.1:port, or -1.
int ConnectFrom(const char* source_ip, int port) {
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
  return fd;
}

// Sends `request` (may be empty) and reads until the peer closes or
// `timeout` passes. Returns what arrived.
std::string RawExchange(const char* source_ip, int port, const std::string& request,
                        absl::Duration timeout = absl::Seconds(5)) {
  const int fd = ConnectFrom(source_ip, port);
  if (fd < 0) return "<connect failed>";
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(absl::ToInt64Seconds(timeout));
  tv.tv_usec = static_cast<suseconds_t>(absl::ToInt64Microseconds(timeout) % 1000000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (!request.empty()) {
    (void)::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  }
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

// The attacker: keeps `n` connections open from `source_ip`. Even-numbered
// ones trickle a request header that never ends (one byte per tick), odd
// ones connect and send nothing. A connection the server ends (EOF, reset
// or any response) is counted and replaced on the next tick, so the
// pressure lasts as long as the attack.
class Slowloris {
 public:
  struct Counts {
    int connects = 0;
    int connect_failures = 0;
    int ended_by_server = 0;
    int busy_503 = 0;
  };

  Slowloris(int port, std::string source_ip, int n, absl::Duration tick)
      : port_(port), source_ip_(std::move(source_ip)), n_(n), tick_(tick) {}
  ~Slowloris() { Stop(); }

  void Start() {
    thread_ = std::thread([this] { Run(); });
  }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  Counts counts() const {
    absl::MutexLock l(&mu_);
    return counts_;
  }
  // Waits until every connection has been opened once (the attack is on).
  void WaitUntilOpened() {
    absl::MutexLock l(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(
                             +[](Slowloris* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) {
                               return s->counts_.connects + s->counts_.connect_failures >= s->n_;
                             },
                             this),
                         absl::Seconds(10));
  }

 private:
  struct Sock {
    int fd = -1;
    size_t sent = 0;
  };

  static char ByteAt(size_t i) {
    static constexpr std::string_view kPrefix = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    return i < kPrefix.size() ? kPrefix[i] : 'a';
  }

  void Run() {
    std::vector<Sock> socks(static_cast<size_t>(n_));
    while (!stop_) {
      for (size_t i = 0; i < socks.size(); ++i) {
        Sock& s = socks[i];
        if (s.fd < 0) {
          s.fd = ConnectFrom(source_ip_.c_str(), port_);
          s.sent = 0;
          absl::MutexLock l(&mu_);
          ++(s.fd < 0 ? counts_.connect_failures : counts_.connects);
          continue;
        }
        char buf[64];
        const ssize_t r = ::recv(s.fd, buf, sizeof(buf), MSG_DONTWAIT);
        bool ended = r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
        if (!ended && i % 2 == 0) {
          const char b = ByteAt(s.sent);
          if (::send(s.fd, &b, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1) {
            ++s.sent;
          } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
            ended = true;
          }
        }
        if (ended) {
          absl::MutexLock l(&mu_);
          ++counts_.ended_by_server;
          if (r > 0 && absl::StartsWith(absl::string_view(buf, static_cast<size_t>(r)),
                                        "HTTP/1.1 503")) {
            ++counts_.busy_503;
          }
          ::close(s.fd);
          s.fd = -1;
        }
      }
      absl::SleepFor(tick_);
    }
    for (Sock& s : socks) {
      if (s.fd >= 0) ::close(s.fd);
    }
  }

  const int port_;
  const std::string source_ip_;
  const int n_;
  const absl::Duration tick_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable absl::Mutex mu_;
  Counts counts_ ABSL_GUARDED_BY(mu_);
};

struct LatencySummary {
  int ok = 0;
  int failed = 0;
  absl::Duration p50, p90, p99, max;
};

LatencySummary Summarize(std::vector<absl::Duration> samples, int ok, int failed) {
  LatencySummary s;
  s.ok = ok;
  s.failed = failed;
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  auto at = [&](double q) {
    const size_t i = static_cast<size_t>(q * static_cast<double>(samples.size()) + 0.999999);
    return samples[std::min(samples.size(), std::max<size_t>(i, 1)) - 1];
  };
  s.p50 = at(0.50);
  s.p90 = at(0.90);
  s.p99 = at(0.99);
  s.max = samples.back();
  return s;
}

std::string Describe(const LatencySummary& l) {
  return absl::StrFormat("ok=%d failed=%d p50=%.2fms p90=%.2fms p99=%.2fms max=%.2fms", l.ok,
                         l.failed, absl::ToDoubleMilliseconds(l.p50),
                         absl::ToDoubleMilliseconds(l.p90), absl::ToDoubleMilliseconds(l.p99),
                         absl::ToDoubleMilliseconds(l.max));
}

std::string Describe(const HttpServerStats& s) {
  return absl::StrCat("accepted=", s.accepted, " refused_per_peer=", s.refused_per_peer,
                      " refused_global=", s.refused_global, " timed_out=", s.timed_out,
                      " responses=", s.responses, " tls_handshake_failures=",
                      s.tls_handshake_failures, " open=", s.open_connections);
}

std::string Describe(const Slowloris::Counts& c) {
  return absl::StrCat("connects=", c.connects, " connect_failures=", c.connect_failures,
                      " ended_by_server=", c.ended_by_server, " busy_503=", c.busy_503);
}

// `probe` returns true for a 200.
LatencySummary Probe(int count, absl::Duration spacing, const std::function<bool()>& probe) {
  std::vector<absl::Duration> samples;
  int ok = 0;
  int failed = 0;
  for (int i = 0; i < count; ++i) {
    const absl::Time start = absl::Now();
    const bool good = probe();
    samples.push_back(absl::Now() - start);
    ++(good ? ok : failed);
    absl::SleepFor(spacing);
  }
  return Summarize(std::move(samples), ok, failed);
}

bool HealthzOk(int port) {
  auto r = testing::HttpGet(port, "/healthz");
  return r.ok() && r->status == 200 && r->body == "ok\n";
}

// Starts the side port with `limits` and a ready/JWKS that always answer.
std::unique_ptr<HttpServer> StartLimited(const HttpLimits& limits,
                                         attestation::v1::TlsConfig tls = {}) {
  HttpServerOptions o;
  o.listen = "127.0.0.1:0";
  o.ready = [] { return true; };
  o.jwks_json = [] { return std::string(kJwks); };
  o.signing_algorithm = "ES256";
  o.limits = limits;
  o.tls = std::move(tls);
  auto s = HttpServer::Start(std::move(o));
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : nullptr;
}

// Deadline of the slowloris tests: short enough that attack connections are
// cut (and replaced) while the probes run.
constexpr absl::Duration kTestRequestTimeout = absl::Seconds(2);
// A probe that waited for an attacker's slot would take about
// kTestRequestTimeout; an answer within this bound did not.
constexpr absl::Duration kMaxProbeLatency = absl::Milliseconds(1000);

// The issue-10 scenario: 100 slow connections from one peer (127.0.0.2),
// half trickling a header that never ends, half silent, replaced as soon as
// the server ends them; meanwhile 50 /healthz probes from another peer.
TEST(HttpSlowlorisTest, HealthzStaysAnswerableUnder100SlowConnections) {
  HttpLimits limits;  // defaults: 512 total, 16 per peer
  limits.request_timeout = kTestRequestTimeout;
  auto server = StartLimited(limits);
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  Slowloris attack(port, "127.0.0.2", 100, absl::Milliseconds(100));
  attack.Start();
  attack.WaitUntilOpened();
  const LatencySummary l =
      Probe(50, absl::Milliseconds(50), [port] { return HealthzOk(port); });
  const HttpServerStats during = server->Stats();
  attack.Stop();
  const Slowloris::Counts counts = attack.counts();
  std::cout << "[slowloris 100 conns from 127.0.0.2, per-peer cap 16] /healthz: " << Describe(l)
            << "\n  server: " << Describe(during) << "\n  attacker: " << Describe(counts)
            << std::endl;
  EXPECT_EQ(l.ok, 50);
  EXPECT_LT(l.max, kMaxProbeLatency);
  // 84 of the first 100 are over the per-peer cap; the 16 admitted ones are
  // cut at the deadline (the probes run past it).
  EXPECT_GE(during.refused_per_peer, 84u);
  EXPECT_GE(during.timed_out, 16u);
  EXPECT_LE(during.open_connections, limits.max_connections_per_peer + 1);
  EXPECT_GE(counts.busy_503, 1);
}

// Without the per-peer cap mattering (100 slow connections under a cap of
// 256, from the probes' own address) the loop still answers: a slow
// connection costs an fd, not a worker.
TEST(HttpSlowlorisTest, HealthzStaysAnswerableWhenSlowConnectionsAreUnderTheCaps) {
  HttpLimits limits;
  limits.request_timeout = kTestRequestTimeout;
  limits.max_connections_per_peer = 256;
  auto server = StartLimited(limits);
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  Slowloris attack(port, "127.0.0.1", 100, absl::Milliseconds(100));
  attack.Start();
  attack.WaitUntilOpened();
  const LatencySummary l =
      Probe(50, absl::Milliseconds(50), [port] { return HealthzOk(port); });
  const HttpServerStats during = server->Stats();
  attack.Stop();
  std::cout << "[slowloris 100 conns from 127.0.0.1, caps not reached] /healthz: "
            << Describe(l) << "\n  server: " << Describe(during)
            << "\n  attacker: " << Describe(attack.counts()) << std::endl;
  EXPECT_EQ(l.ok, 50);
  EXPECT_LT(l.max, kMaxProbeLatency);
  EXPECT_EQ(during.refused_per_peer, 0u);
  EXPECT_GE(during.timed_out, 100u);
}

TEST(HttpLimitsTest, PerPeerCapRefusesOnlyThatPeer) {
  HttpLimits limits;
  limits.max_connections_per_peer = 4;
  auto server = StartLimited(limits);
  ASSERT_NE(server, nullptr);
  std::vector<int> idle;
  for (int i = 0; i < 4; ++i) idle.push_back(ConnectFrom("127.0.0.2", server->port()));
  const std::string fifth = RawExchange("127.0.0.2", server->port(), "");
  EXPECT_THAT(fifth, ::testing::StartsWith("HTTP/1.1 503 Service Unavailable\r\n"));
  EXPECT_THAT(fifth, HasSubstr("Retry-After: 1\r\n"));
  // Also when the refused peer already sent its request.
  EXPECT_THAT(RawExchange("127.0.0.2", server->port(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"),
              ::testing::StartsWith("HTTP/1.1 503 Service Unavailable\r\n"));
  EXPECT_TRUE(HealthzOk(server->port()));  // another peer
  for (int fd : idle) ::close(fd);
  // Once the server has seen the closes, the peer is admitted again.
  bool again = false;
  for (int i = 0; i < 50 && !again; ++i) {
    again = absl::StartsWith(RawExchange("127.0.0.2", server->port(),
                                         "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"),
                             "HTTP/1.1 200 OK");
    if (!again) absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_TRUE(again);
  EXPECT_EQ(server->Stats().refused_per_peer, 2u);
}

TEST(HttpLimitsTest, GlobalCapRefusesEveryone) {
  HttpLimits limits;
  limits.max_connections = 8;
  limits.max_connections_per_peer = 100;
  auto server = StartLimited(limits);
  ASSERT_NE(server, nullptr);
  std::vector<int> idle;
  for (int i = 0; i < 8; ++i) idle.push_back(ConnectFrom("127.0.0.2", server->port()));
  EXPECT_THAT(RawExchange("127.0.0.3", server->port(), ""),
              ::testing::StartsWith("HTTP/1.1 503"));
  for (int fd : idle) ::close(fd);
  bool again = false;
  for (int i = 0; i < 50 && !again; ++i) {
    again = HealthzOk(server->port());
    if (!again) absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_TRUE(again);
  EXPECT_GE(server->Stats().refused_global, 1u);
}

TEST(HttpLimitsTest, SilentConnectionIsCutAtTheDeadline) {
  HttpLimits limits;
  limits.request_timeout = absl::Milliseconds(300);
  auto server = StartLimited(limits);
  ASSERT_NE(server, nullptr);
  const absl::Time start = absl::Now();
  EXPECT_EQ(RawExchange("127.0.0.2", server->port(), "GET /healthz HTTP/1.1\r\n"), "");
  const absl::Duration took = absl::Now() - start;
  EXPECT_GE(took, absl::Milliseconds(250));
  EXPECT_LT(took, absl::Seconds(3));
  EXPECT_EQ(server->Stats().timed_out, 1u);
}

TEST(HttpLimitsTest, OversizedHeaderGets431AndBadRequestLines400) {
  HttpLimits limits;
  limits.max_request_bytes = 1024;
  auto server = StartLimited(limits);
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  EXPECT_THAT(RawExchange("127.0.0.1", port,
                          "GET /healthz HTTP/1.1\r\nX: " + std::string(2000, 'a') + "\r\n\r\n"),
              ::testing::StartsWith("HTTP/1.1 431 "));
  EXPECT_THAT(RawExchange("127.0.0.1", port, "GET /healthz\r\n\r\n"),
              ::testing::StartsWith("HTTP/1.1 400 "));
  EXPECT_THAT(RawExchange("127.0.0.1", port, "GET healthz HTTP/1.1\r\n\r\n"),
              ::testing::StartsWith("HTTP/1.1 400 "));
  EXPECT_THAT(RawExchange("127.0.0.1", port, "GET /healthz HTTP/2.0\r\n\r\n"),
              ::testing::StartsWith("HTTP/1.1 505 "));
  // A body sent with a refused method does not turn the answer into a reset.
  EXPECT_THAT(RawExchange("127.0.0.1", port,
                          "POST /healthz HTTP/1.1\r\nContent-Length: 5000\r\n\r\n" +
                              std::string(5000, 'b')),
              ::testing::StartsWith("HTTP/1.1 405 "));
  // The query string is ignored for routing.
  EXPECT_THAT(RawExchange("127.0.0.1", port, "GET /healthz?x=1 HTTP/1.0\r\n\r\n"),
              ::testing::StartsWith("HTTP/1.1 200 OK"));
  EXPECT_EQ(server->Stats().bad_requests, 4u);
}

TEST(HttpLimitsTest, InvalidLimitsAreRejected) {
  HttpServerOptions o;
  o.listen = "127.0.0.1:0";
  o.jwks_json = [] { return std::string("{}"); };
  o.limits.max_connections_per_peer = 0;
  EXPECT_FALSE(HttpServer::Start(std::move(o)).ok());
}

// The metrics port runs on the same server and gets the same protection.
TEST(HttpSlowlorisTest, MetricsStayScrapableUnder100SlowConnections) {
  auto registry = std::make_shared<prometheus::Registry>();
  prometheus::BuildCounter().Name("rp_test_total").Help("t").Register(*registry).Add({}).Increment();
  HttpLimits limits;
  limits.request_timeout = kTestRequestTimeout;
  auto exposer = MetricsExposer::Start("127.0.0.1:0", registry, limits);
  ASSERT_TRUE(exposer.ok()) << exposer.status();
  const int port = (*exposer)->port();
  Slowloris attack(port, "127.0.0.2", 100, absl::Milliseconds(100));
  attack.Start();
  attack.WaitUntilOpened();
  const LatencySummary l = Probe(20, absl::Milliseconds(20), [port] {
    auto r = testing::HttpGet(port, "/metrics");
    return r.ok() && r->status == 200 && absl::StrContains(r->body, "rp_test_total 1");
  });
  attack.Stop();
  std::cout << "[slowloris 100 conns on the metrics port] /metrics: " << Describe(l)
            << "\n  attacker: " << Describe(attack.counts()) << std::endl;
  EXPECT_EQ(l.ok, 20);
  EXPECT_LT(l.max, kMaxProbeLatency);
}

// ---------------------------------------------------------------------------
// Endpoints with request bodies and the worker pool (issue 11, REST face).

struct RawReply {
  int status = 0;
  bool got_continue = false;  // an interim "100 Continue" came first
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;
};

RawReply ParseRaw(std::string raw) {
  RawReply r;
  if (absl::StartsWith(raw, "HTTP/1.1 100 ")) {
    r.got_continue = true;
    const size_t end = raw.find("\r\n\r\n");
    raw = end == std::string::npos ? "" : raw.substr(end + 4);
  }
  const size_t end = raw.find("\r\n\r\n");
  if (!absl::StartsWith(raw, "HTTP/1.1 ") || raw.size() < 12 || end == std::string::npos ||
      !absl::SimpleAtoi(raw.substr(9, 3), &r.status)) {
    return r;
  }
  const std::string head = raw.substr(0, end);
  size_t pos = head.find("\r\n");
  while (pos != std::string::npos) {
    const size_t next = head.find("\r\n", pos + 2);
    const std::string line = head.substr(pos + 2, next == std::string::npos ? std::string::npos
                                                                           : next - pos - 2);
    const size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      r.headers[name] = std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    }
    pos = next;
  }
  r.body = raw.substr(end + 4);
  return r;
}

std::string PostRequest(const std::string& path, const std::string& body,
                        const std::string& extra_headers = "") {
  return absl::StrCat("POST ", path, " HTTP/1.1\r\nHost: x\r\nContent-Length: ", body.size(),
                      "\r\n", extra_headers, "\r\n", body);
}

RawReply Post(int port, const std::string& path, const std::string& body,
              const std::string& extra_headers = "", const char* source_ip = "127.0.0.1") {
  return ParseRaw(RawExchange(source_ip, port, PostRequest(path, body, extra_headers)));
}

// A handler that blocks until released (or 10 s), counting who entered.
class Gate {
 public:
  void Wait() {
    absl::MutexLock l(&mu_);
    ++entered_;
    mu_.AwaitWithTimeout(absl::Condition(&open_), absl::Seconds(10));
  }
  void Open() {
    absl::MutexLock l(&mu_);
    open_ = true;
  }
  bool WaitEntered(int n) {
    absl::MutexLock l(&mu_);
    auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return entered_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), absl::Seconds(10));
  }

 private:
  absl::Mutex mu_;
  bool open_ ABSL_GUARDED_BY(mu_) = false;
  int entered_ ABSL_GUARDED_BY(mu_) = 0;
};

// Echoes what the handler saw: "<param>|<authorization>|<body>".
HttpEndpoint EchoEndpoint(HttpPath path, HttpRunOn run_on = HttpRunOn::kWorker) {
  HttpEndpoint e;
  e.method = "POST";
  e.path = std::move(path);
  e.run_on = run_on;
  e.handler = [](const HttpRequest& r) {
    const std::string* auth = r.Header("authorization");
    return HttpReply{200, "text/plain",
                     absl::StrCat(r.path_param, "|", auth == nullptr ? "" : *auth, "|", r.body)};
  };
  return e;
}

// Server errors as "<status> <code>" (checks that error_reply is used).
HttpErrorReply ServerErrorText() {
  return [](int status, std::string_view code, std::string_view) {
    return HttpReply{status, "text/plain", absl::StrCat(status, " ", std::string(code))};
  };
}

std::unique_ptr<BoundedHttpServer> StartBounded(const HttpLimits& limits,
                                                std::vector<HttpEndpoint> endpoints,
                                                HttpErrorReply error_reply = nullptr,
                                                attestation::v1::TlsConfig tls = {}) {
  BoundedHttpOptions o;
  o.name = "test";
  o.listen = "127.0.0.1:0";
  o.limits = limits;
  o.tls = std::move(tls);
  o.routes["/healthz"] = [] { return HttpReply{200, "text/plain; charset=utf-8", "ok\n"}; };
  o.endpoints = std::move(endpoints);
  o.error_reply = std::move(error_reply);
  auto s = BoundedHttpServer::Start(std::move(o));
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : nullptr;
}

TEST(HttpEndpointTest, PostBodyRunsOnAWorkerThreadNotTheLoop) {
  std::atomic<std::thread::id> loop_thread{};
  std::atomic<std::thread::id> worker_thread{};
  HttpEndpoint probe;
  probe.method = "GET";
  probe.path = HttpPath::Exact("/loop");
  probe.run_on = HttpRunOn::kLoop;
  probe.handler = [&](const HttpRequest&) {
    loop_thread = std::this_thread::get_id();
    return HttpReply{200, "text/plain", "loop"};
  };
  HttpEndpoint work = EchoEndpoint(HttpPath::Exact("/echo"));
  HttpHandler echo = work.handler;
  work.handler = [&, echo](const HttpRequest& r) {
    worker_thread = std::this_thread::get_id();
    return echo(r);
  };
  auto server = StartBounded(HttpLimits{}, {probe, work});
  ASSERT_NE(server, nullptr);
  const std::string body(10000, 'b');  // more than one read chunk
  RawReply r = Post(server->port(), "/echo", body, "Content-Type: text/plain\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "||" + body);
  auto g = testing::HttpGet(server->port(), "/loop");
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->status, 200);
  EXPECT_NE(loop_thread.load(), std::thread::id{});
  EXPECT_NE(worker_thread.load(), std::thread::id{});
  EXPECT_NE(loop_thread.load(), worker_thread.load());
  EXPECT_EQ(server->Stats().worker_requests, 1u);
}

TEST(HttpEndpointTest, PatternRoutesPassTheMiddleAndTheHeaders) {
  auto server = StartBounded(
      HttpLimits{}, {EchoEndpoint(HttpPath::Pattern("/v1/resources/", ":release")),
                     EchoEndpoint(HttpPath::Pattern("/v1/resources/", ":attestRelease"),
                                  HttpRunOn::kLoop)});
  ASSERT_NE(server, nullptr);
  RawReply r = Post(server->port(), "/v1/resources/kbs/key/1:release?x=1", "",
                    "Authorization: Bearer abc.def.ghi\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "kbs/key/1|Bearer abc.def.ghi|");
  r = Post(server->port(), "/v1/resources/kbs/key/2:attestRelease", "{}");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "kbs/key/2||{}");
  // The middle is never empty; other suffixes and prefixes do not match.
  EXPECT_EQ(Post(server->port(), "/v1/resources/:release", "").status, 404);
  EXPECT_EQ(Post(server->port(), "/v1/resources/a:delete", "").status, 404);
  EXPECT_EQ(Post(server->port(), "/v2/resources/a:release", "").status, 404);
}

TEST(HttpEndpointTest, WrongMethodIs405WithAllow) {
  auto server = StartBounded(HttpLimits{}, {EchoEndpoint(HttpPath::Exact("/echo"))});
  ASSERT_NE(server, nullptr);
  auto r = testing::HttpGet(server->port(), "/echo");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->headers["allow"], "POST");
  RawReply p = Post(server->port(), "/healthz", "");
  EXPECT_EQ(p.status, 405);
  EXPECT_EQ(p.headers["allow"], "GET");
  auto put = testing::HttpRequest(server->port(), "PUT", "/echo");
  ASSERT_TRUE(put.ok());
  EXPECT_EQ(put->status, 405);
}

TEST(HttpEndpointTest, BodyFramingIsContentLengthOnly) {
  HttpLimits limits;
  limits.max_body_bytes = 1000;
  auto server = StartBounded(limits, {EchoEndpoint(HttpPath::Exact("/echo"))});
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  auto exchange = [port](const std::string& raw) {
    return ParseRaw(RawExchange("127.0.0.1", port, raw));
  };
  // Chunked: refused (411), and with a Content-Length too: smuggling (400).
  EXPECT_EQ(exchange("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "2\r\nab\r\n0\r\n\r\n")
                .status,
            411);
  EXPECT_EQ(exchange("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                     "Content-Length: 2\r\n\r\nab")
                .status,
            400);
  EXPECT_EQ(exchange("POST /echo HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab")
                .status,
            400);
  EXPECT_EQ(exchange("POST /echo HTTP/1.1\r\nContent-Length: +2\r\n\r\nab").status, 400);
  EXPECT_EQ(exchange("POST /echo HTTP/1.1\r\nContent-Length: 2\r\n folded\r\n\r\nab").status, 400);
  // No Content-Length: no body.
  RawReply none = exchange("POST /echo HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(none.status, 200);
  EXPECT_EQ(none.body, "||");
  // Exactly Content-Length bytes are the body; what follows is not.
  RawReply exact = exchange("POST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1");
  EXPECT_EQ(exact.body, "||abc");
  // Expect: 100-continue gets the interim response, then the reply.
  const int fd = ConnectFrom("127.0.0.1", port);
  ASSERT_GE(fd, 0);
  const std::string head = "POST /echo HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n";
  ASSERT_EQ(::send(fd, head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
  char interim[64] = {};
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  const ssize_t n = ::recv(fd, interim, sizeof(interim), 0);
  ASSERT_GT(n, 0);
  EXPECT_TRUE(absl::StartsWith(absl::string_view(interim, static_cast<size_t>(n)),
                               "HTTP/1.1 100 Continue\r\n\r\n"));
  ASSERT_EQ(::send(fd, "xyz", 3, MSG_NOSIGNAL), 3);
  std::string rest;
  char buf[1024];
  for (ssize_t m; (m = ::recv(fd, buf, sizeof(buf), 0)) > 0;) rest.append(buf, static_cast<size_t>(m));
  ::close(fd);
  RawReply after = ParseRaw(rest);
  EXPECT_EQ(after.status, 200);
  EXPECT_EQ(after.body, "||xyz");
  EXPECT_EQ(exchange("POST /echo HTTP/1.1\r\nContent-Length: 1\r\nExpect: teapot\r\n\r\nx").status,
            417);
}

// 413 comes back on the head alone: the body is never waited for or read.
TEST(HttpEndpointTest, OversizedBodyIs413BeforeAnyOfItIsRead) {
  HttpLimits limits;
  limits.max_body_bytes = 1024;
  auto server = StartBounded(limits, {EchoEndpoint(HttpPath::Exact("/echo"))});
  ASSERT_NE(server, nullptr);
  const absl::Time start = absl::Now();
  // Announces 100 MB and sends none of it.
  const RawReply r = ParseRaw(RawExchange(
      "127.0.0.1", server->port(), "POST /echo HTTP/1.1\r\nContent-Length: 100000000\r\n\r\n"));
  EXPECT_EQ(r.status, 413);
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_EQ(server->Stats().bodies_too_large, 1u);
  // An endpoint's own cap applies over the server's.
  HttpEndpoint big = EchoEndpoint(HttpPath::Exact("/big"));
  big.max_body_bytes = 4096;
  auto server2 = StartBounded(limits, {big});
  ASSERT_NE(server2, nullptr);
  EXPECT_EQ(Post(server2->port(), "/big", std::string(3000, 'x')).status, 200);
  EXPECT_EQ(Post(server2->port(), "/big", std::string(5000, 'x')).status, 413);
}

// The issue-11 requirement: a handler that takes its time (attestation)
// never delays the loop: /healthz answers while every worker is busy.
TEST(HttpEndpointTest, SlowPostHandlerDoesNotDelayHealthz) {
  Gate gate;
  HttpEndpoint slow = EchoEndpoint(HttpPath::Exact("/slow"));
  slow.handler = [&gate](const HttpRequest&) {
    gate.Wait();
    return HttpReply{200, "text/plain", "done"};
  };
  HttpLimits limits;
  limits.worker_threads = 2;
  auto server = StartBounded(limits, {slow});
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  std::vector<std::thread> clients;
  std::atomic<int> done_ok{0};
  for (int i = 0; i < 3; ++i) {  // two running, one queued
    clients.emplace_back([port, &done_ok] {
      if (Post(port, "/slow", "{}").status == 200) ++done_ok;
    });
  }
  ASSERT_TRUE(gate.WaitEntered(2));
  const LatencySummary l = Probe(20, absl::Milliseconds(20), [port] { return HealthzOk(port); });
  std::cout << "[2 workers blocked, 1 queued] /healthz: " << Describe(l) << std::endl;
  EXPECT_EQ(l.ok, 20);
  EXPECT_LT(l.max, absl::Milliseconds(500));
  gate.Open();
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(done_ok.load(), 3);
}

TEST(HttpEndpointTest, FullWorkerQueueIs503WithRetryAfter) {
  Gate gate;
  HttpEndpoint slow = EchoEndpoint(HttpPath::Exact("/slow"));
  slow.handler = [&gate](const HttpRequest&) {
    gate.Wait();
    return HttpReply{200, "text/plain", "done"};
  };
  HttpLimits limits;
  limits.worker_threads = 1;
  limits.worker_queue = 1;
  auto server = StartBounded(limits, {slow});
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  std::vector<int> statuses(2);
  std::thread first([&] { statuses[0] = Post(port, "/slow", "").status; });
  ASSERT_TRUE(gate.WaitEntered(1));  // running
  std::thread second([&] { statuses[1] = Post(port, "/slow", "").status; });
  for (int i = 0; i < 500 && server->Stats().worker_requests < 2; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_EQ(server->Stats().worker_requests, 2u);  // queued
  const absl::Time start = absl::Now();
  RawReply third = Post(port, "/slow", "");
  EXPECT_EQ(third.status, 503);
  EXPECT_EQ(third.headers["retry-after"], "1");
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_EQ(server->Stats().busy, 1u);
  gate.Open();
  first.join();
  second.join();
  EXPECT_EQ(statuses[0], 200);
  EXPECT_EQ(statuses[1], 200);
}

TEST(HttpEndpointTest, HandlerPastItsDeadlineIs503AndItsLateReplyIsDropped) {
  Gate gate;
  HttpEndpoint slow = EchoEndpoint(HttpPath::Exact("/slow"));
  slow.handler = [&gate](const HttpRequest&) {
    gate.Wait();
    return HttpReply{200, "text/plain", "late"};
  };
  HttpLimits limits;
  limits.handler_timeout = absl::Milliseconds(300);
  auto server = StartBounded(limits, {slow}, ServerErrorText());
  ASSERT_NE(server, nullptr);
  RawReply r = Post(server->port(), "/slow", "");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.headers["retry-after"], "1");
  EXPECT_EQ(r.body, "503 HANDLER_TIMEOUT");
  EXPECT_EQ(server->Stats().handler_timeouts, 1u);
  gate.Open();
  EXPECT_TRUE(HealthzOk(server->port()));
}

TEST(HttpEndpointTest, SlowBodyIsCutAtTheBodyDeadline) {
  HttpLimits limits;
  limits.request_timeout = absl::Milliseconds(500);
  limits.body_timeout = absl::Seconds(1);
  auto server = StartBounded(limits, {EchoEndpoint(HttpPath::Exact("/echo"))});
  ASSERT_NE(server, nullptr);
  const absl::Time start = absl::Now();
  // 10 of the 100 announced bytes, then silence.
  const std::string out = RawExchange("127.0.0.1", server->port(),
                                      "POST /echo HTTP/1.1\r\nContent-Length: 100\r\n\r\n0123456789");
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(out, "");
  EXPECT_GE(took, absl::Milliseconds(900));
  EXPECT_LT(took, absl::Seconds(3));
  EXPECT_EQ(server->Stats().timed_out, 1u);
}

// Bodies announced by connections still sending them count against one
// budget, and per peer against a share of it: a request that would exceed
// either is 503 before its body is read.
TEST(HttpEndpointTest, BodyBudgetBoundsMemoryAcrossConnectionsAndPerPeer) {
  HttpLimits limits;
  limits.max_body_bytes = 800;
  limits.max_inflight_body_bytes = 1000;
  limits.max_inflight_body_bytes_per_peer = 900;
  auto server = StartBounded(limits, {EchoEndpoint(HttpPath::Exact("/echo"))});
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  // 127.0.0.1 announces 800 bytes and sends none.
  const int holder = ConnectFrom("127.0.0.1", port);
  ASSERT_GE(holder, 0);
  const std::string head = "POST /echo HTTP/1.1\r\nContent-Length: 800\r\n\r\n";
  ASSERT_GT(::send(holder, head.data(), head.size(), MSG_NOSIGNAL), 0);
  RawReply busy;
  for (int i = 0; i < 50; ++i) {  // until the holder's head has been read
    busy = Post(port, "/echo", std::string(300, 'x'), "", "127.0.0.2");
    if (busy.status == 503) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(busy.status, 503);  // 800 + 300 > 1000 overall
  EXPECT_EQ(busy.headers["retry-after"], "1");
  EXPECT_EQ(Post(port, "/echo", std::string(150, 'x'), "", "127.0.0.2").status, 200);  // fits
  // The holder's own address: 800 + 150 > 900 for that peer.
  EXPECT_EQ(Post(port, "/echo", std::string(150, 'x'), "", "127.0.0.1").status, 503);
  EXPECT_GE(server->Stats().busy, 2u);
  ::close(holder);
  RawReply after;
  for (int i = 0; i < 50; ++i) {  // the close gives the budget back
    after = Post(port, "/echo", std::string(300, 'x'));
    if (after.status == 200) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(after.status, 200);
}

TEST(HttpEndpointTest, InvalidEndpointsAreStartErrors) {
  auto start = [](HttpEndpoint e, HttpLimits limits = {}) {
    BoundedHttpOptions o;
    o.listen = "127.0.0.1:0";
    o.limits = limits;
    o.routes["/healthz"] = [] { return HttpReply{}; };
    o.endpoints = {std::move(e)};
    return BoundedHttpServer::Start(std::move(o)).status();
  };
  HttpEndpoint put = EchoEndpoint(HttpPath::Exact("/x"));
  put.method = "PUT";
  EXPECT_FALSE(start(put).ok());
  HttpEndpoint no_handler = EchoEndpoint(HttpPath::Exact("/x"));
  no_handler.handler = nullptr;
  EXPECT_FALSE(start(no_handler).ok());
  EXPECT_FALSE(start(EchoEndpoint(HttpPath::Exact("x"))).ok());
  HttpEndpoint dup = EchoEndpoint(HttpPath::Exact("/healthz"));
  dup.method = "GET";
  EXPECT_FALSE(start(dup).ok());
  HttpEndpoint huge = EchoEndpoint(HttpPath::Exact("/x"));
  huge.max_body_bytes = 1 << 30;
  EXPECT_FALSE(start(huge).ok());
  HttpLimits no_workers;
  no_workers.worker_threads = 0;
  EXPECT_FALSE(start(EchoEndpoint(HttpPath::Exact("/x")), no_workers).ok());
  HttpLimits short_body;
  short_body.body_timeout = absl::Seconds(1);  // below request_timeout (5 s)
  EXPECT_FALSE(start(EchoEndpoint(HttpPath::Exact("/x")), short_body).ok());
}

// ---------------------------------------------------------------------------
// TLS on the side port (ServerConfig.http_tls).

struct SslCtxDeleter {
  void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
};
struct SslDeleter {
  void operator()(SSL* p) const { SSL_free(p); }
};

// GET over TLS to 127.0.0.1:port, verifying the server as "localhost"
// against `ca_file`; optional client certificate.
absl::StatusOr<testing::HttpResponse> HttpsGet(int port, const std::string& path,
                                               const std::string& ca_file,
                                               const std::string& client_cert = "",
                                               const std::string& client_key = "",
                                               const char* source_ip = "127.0.0.1") {
  std::unique_ptr<SSL_CTX, SslCtxDeleter> ctx(SSL_CTX_new(TLS_client_method()));
  if (ctx == nullptr) return absl::InternalError("SSL_CTX_new");
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (SSL_CTX_load_verify_locations(ctx.get(), ca_file.c_str(), nullptr) != 1) {
    return absl::InternalError("load CA");
  }
  if (!client_cert.empty() &&
      (SSL_CTX_use_certificate_file(ctx.get(), client_cert.c_str(), SSL_FILETYPE_PEM) != 1 ||
       SSL_CTX_use_PrivateKey_file(ctx.get(), client_key.c_str(), SSL_FILETYPE_PEM) != 1)) {
    return absl::InternalError("client certificate");
  }
  const int fd = ConnectFrom(source_ip, port);
  if (fd < 0) return absl::UnavailableError("connect");
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  std::unique_ptr<SSL, SslDeleter> ssl(SSL_new(ctx.get()));
  SSL_set_fd(ssl.get(), fd);
  SSL_set_tlsext_host_name(ssl.get(), "localhost");
  SSL_set1_host(ssl.get(), "localhost");
  absl::StatusOr<testing::HttpResponse> result = absl::UnavailableError("no response");
  std::string raw;
  if (SSL_connect(ssl.get()) != 1) {
    result = absl::UnavailableError("TLS handshake failed");
  } else {
    const std::string request =
        absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    if (SSL_write(ssl.get(), request.data(), static_cast<int>(request.size())) > 0) {
      char buf[4096];
      for (;;) {
        const int n = SSL_read(ssl.get(), buf, sizeof(buf));
        if (n <= 0) break;
        raw.append(buf, static_cast<size_t>(n));
      }
    }
    int status = 0;
    const size_t end = raw.find("\r\n\r\n");
    if (absl::StartsWith(raw, "HTTP/1.1 ") && raw.size() >= 12 && end != std::string::npos &&
        absl::SimpleAtoi(raw.substr(9, 3), &status)) {
      testing::HttpResponse r;
      r.status = status;
      r.body = raw.substr(end + 4);
      result = r;
    }
  }
  ERR_clear_error();
  ssl.reset();
  ::close(fd);
  return result;
}

class HttpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "rp_http_tls_test_XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    ::rp::testing::CertSpec ca_spec;
    ca_spec.common_name = "test CA";
    ca_spec.is_ca = true;
    auto ca = ::rp::testing::MakeRoot(ca_spec, ::rp::testing::KeyType::kEcP256);
    ASSERT_TRUE(ca.ok()) << ca.status();
    Write("ca.pem", crypto::CertificatePem(ca->cert.get()));
    // subjectAltName = DNS:localhost.
    const Bytes san = {0x30, 0x0b, 0x82, 0x09, 'l', 'o', 'c', 'a', 'l', 'h', 'o', 's', 't'};
    ::rp::testing::CertSpec server_spec;
    server_spec.common_name = "localhost";
    server_spec.serial = {0x02};
    server_spec.extended_key_usage_oids = {"1.3.6.1.5.5.7.3.1"};
    server_spec.extensions = {{"2.5.29.17", san, false}};
    auto server = ::rp::testing::MakeCert(server_spec, ::rp::testing::KeyType::kEcP256,
                                          ca->cert.get(), ca->key.get());
    ASSERT_TRUE(server.ok()) << server.status();
    Write("server.pem", crypto::CertificatePem(server->cert.get()));
    Write("server.key", crypto::PrivateKeyPem(server->key.get()));
    ::rp::testing::CertSpec client_spec;
    client_spec.common_name = "scraper";
    client_spec.serial = {0x03};
    client_spec.extended_key_usage_oids = {"1.3.6.1.5.5.7.3.2"};
    auto client = ::rp::testing::MakeCert(client_spec, ::rp::testing::KeyType::kEcP256,
                                          ca->cert.get(), ca->key.get());
    ASSERT_TRUE(client.ok()) << client.status();
    Write("client.pem", crypto::CertificatePem(client->cert.get()));
    Write("client.key", crypto::PrivateKeyPem(client->key.get()));
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(Path(name)) << text;
  }
  attestation::v1::TlsConfig Tls(bool mtls = false) const {
    attestation::v1::TlsConfig tls;
    tls.set_cert_file(Path("server.pem"));
    tls.set_key_file(Path("server.key"));
    if (mtls) tls.set_client_ca_file(Path("ca.pem"));
    return tls;
  }

  std::string dir_;
};

TEST_F(HttpsTest, HttpsAnswersAndPlainHttpIsRefused) {
  auto server = StartLimited(HttpLimits{}, Tls());
  ASSERT_NE(server, nullptr);
  auto r = HttpsGet(server->port(), "/healthz", Path("ca.pem"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "ok\n");
  r = HttpsGet(server->port(), "/.well-known/jwks.json", Path("ca.pem"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, kJwks);
  // Plain HTTP on the TLS port: no HTTP answer, only a failed handshake.
  auto plain = testing::HttpGet(server->port(), "/healthz");
  EXPECT_FALSE(plain.ok() && plain->status == 200);
  EXPECT_FALSE(plain.ok()) << "plain HTTP got status " << plain->status;
  EXPECT_GE(server->Stats().tls_handshake_failures, 1u);
}

TEST_F(HttpsTest, OpenIdConfigurationPointsAtHttps) {
  HttpServerOptions o;
  o.listen = "127.0.0.1:0";
  o.jwks_json = [] { return std::string(kJwks); };
  o.issuer = "attestation-rp";
  o.signing_algorithm = "ES256";
  o.tls = Tls();
  auto server = HttpServer::Start(std::move(o));
  ASSERT_TRUE(server.ok()) << server.status();
  auto r = HttpsGet((*server)->port(), "/.well-known/openid-configuration", Path("ca.pem"));
  ASSERT_TRUE(r.ok()) << r.status();
  auto j = nlohmann::json::parse(r->body);
  EXPECT_EQ(j["jwks_uri"], absl::StrCat("https://127.0.0.1:", (*server)->port(),
                                        "/.well-known/jwks.json"));
}

TEST_F(HttpsTest, ClientCaRequiresAClientCertificate) {
  auto server = StartLimited(HttpLimits{}, Tls(/*mtls=*/true));
  ASSERT_NE(server, nullptr);
  auto without = HttpsGet(server->port(), "/healthz", Path("ca.pem"));
  EXPECT_FALSE(without.ok() && without->status == 200);
  auto with = HttpsGet(server->port(), "/healthz", Path("ca.pem"), Path("client.pem"),
                       Path("client.key"));
  ASSERT_TRUE(with.ok()) << with.status();
  EXPECT_EQ(with->status, 200);
}

TEST_F(HttpsTest, UnusableTlsFilesAreStartErrors) {
  attestation::v1::TlsConfig only_cert;
  only_cert.set_cert_file(Path("server.pem"));
  HttpServerOptions o;
  o.listen = "127.0.0.1:0";
  o.jwks_json = [] { return std::string("{}"); };
  o.tls = only_cert;
  EXPECT_FALSE(HttpServer::Start(o).ok());
  o.tls = Tls();
  o.tls.set_key_file(Path("client.key"));  // does not match the certificate
  auto mismatch = HttpServer::Start(o);
  ASSERT_FALSE(mismatch.ok());
  // OpenSSL 3 already refuses the pair when the key is loaded.
  EXPECT_THAT(std::string(mismatch.status().message()), HasSubstr("tls.key_file"));
}

// `request` over TLS to 127.0.0.1:port (server verified as "localhost");
// returns what came back.
std::string HttpsRaw(int port, const std::string& request, const std::string& ca_file,
                     const std::string& client_cert = "", const std::string& client_key = "") {
  std::unique_ptr<SSL_CTX, SslCtxDeleter> ctx(SSL_CTX_new(TLS_client_method()));
  if (ctx == nullptr) return "";
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (SSL_CTX_load_verify_locations(ctx.get(), ca_file.c_str(), nullptr) != 1) return "";
  if (!client_cert.empty() &&
      (SSL_CTX_use_certificate_file(ctx.get(), client_cert.c_str(), SSL_FILETYPE_PEM) != 1 ||
       SSL_CTX_use_PrivateKey_file(ctx.get(), client_key.c_str(), SSL_FILETYPE_PEM) != 1)) {
    return "";
  }
  const int fd = ConnectFrom("127.0.0.1", port);
  if (fd < 0) return "";
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::unique_ptr<SSL, SslDeleter> ssl(SSL_new(ctx.get()));
  SSL_set_fd(ssl.get(), fd);
  SSL_set_tlsext_host_name(ssl.get(), "localhost");
  SSL_set1_host(ssl.get(), "localhost");
  std::string raw;
  if (SSL_connect(ssl.get()) == 1 &&
      SSL_write(ssl.get(), request.data(), static_cast<int>(request.size())) > 0) {
    char buf[4096];
    for (int n; (n = SSL_read(ssl.get(), buf, sizeof(buf))) > 0;) {
      raw.append(buf, static_cast<size_t>(n));
    }
  }
  ERR_clear_error();
  ssl.reset();
  ::close(fd);
  return raw;
}

// With mTLS on the port, handlers see the verified client certificate (the
// rate-limit key and policy_clients identity); without, the address.
TEST_F(HttpsTest, HandlersSeeTheClientCertificateWithMtls) {
  HttpEndpoint who;
  who.method = "POST";
  who.path = HttpPath::Exact("/who");
  who.handler = [](const HttpRequest& r) {
    return HttpReply{200, "text/plain",
                     absl::StrCat(r.peer.RateKey(), "|", r.peer.common_name, "|", r.body)};
  };
  auto mtls = StartBounded(HttpLimits{}, {who}, nullptr, Tls(/*mtls=*/true));
  ASSERT_NE(mtls, nullptr);
  std::ifstream in(Path("client.pem"));
  const std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto certs = crypto::ParsePemCertificates(pem, 1);
  ASSERT_TRUE(certs.ok() && !certs->empty());
  const std::string sha = HexEncode(crypto::Sha256(crypto::CertificateDer(certs->front().get())));
  RawReply r = ParseRaw(HttpsRaw(mtls->port(), PostRequest("/who", "hi"), Path("ca.pem"),
                                 Path("client.pem"), Path("client.key")));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, absl::StrCat("cert:", sha, "|scraper|hi"));

  auto tls_only = StartBounded(HttpLimits{}, {who}, nullptr, Tls());
  ASSERT_NE(tls_only, nullptr);
  r = ParseRaw(HttpsRaw(tls_only->port(), PostRequest("/who", "hi"), Path("ca.pem")));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ip:127.0.0.1||hi");
}

// Slowloris against the TLS port: silent connections stall before the
// handshake, trickling ones send bytes that are no ClientHello.
TEST_F(HttpsTest, HealthzOverTlsStaysAnswerableUnder100SlowConnections) {
  HttpLimits limits;
  limits.request_timeout = kTestRequestTimeout;
  auto server = StartLimited(limits, Tls());
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  Slowloris attack(port, "127.0.0.2", 100, absl::Milliseconds(100));
  attack.Start();
  attack.WaitUntilOpened();
  const std::string ca = Path("ca.pem");
  const LatencySummary l = Probe(50, absl::Milliseconds(50), [port, &ca] {
    auto r = HttpsGet(port, "/healthz", ca);
    return r.ok() && r->status == 200;
  });
  const HttpServerStats during = server->Stats();
  attack.Stop();
  std::cout << "[TLS slowloris 100 conns from 127.0.0.2] /healthz over TLS: " << Describe(l)
            << "\n  server: " << Describe(during) << "\n  attacker: " << Describe(attack.counts())
            << std::endl;
  EXPECT_EQ(l.ok, 50);
  EXPECT_LT(l.max, kMaxProbeLatency);
  EXPECT_GE(during.refused_per_peer, 84u);
}

// http_tls in the config file: paths resolve against the file's directory.
TEST(HttpTlsConfigTest, PathsResolveAgainstTheConfigDirectory) {
  auto c = ParseServerConfig(
      "environment: development\n"
      "http_tls:\n"
      "  cert_file: tls/http.crt\n"
      "  key_file: /abs/http.key\n"
      "collateral:\n"
      "  cache_max_negative_entries: 500\n"
      "  cache_max_disk_bytes: 1048576\n",
      "t.yaml", "/etc/rp");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->http_tls().cert_file(), "/etc/rp/tls/http.crt");
  EXPECT_EQ(c->http_tls().key_file(), "/abs/http.key");
  EXPECT_EQ(c->collateral().cache_max_negative_entries(), 500);
  auto bad = ParseServerConfig(
      "environment: development\ncollateral:\n  cache_max_disk_files: -1\n", "t.yaml", "");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("collateral.cache_max_disk_files"));
}

}  // namespace
}  // namespace rp::server
