// The admission webhook over HTTPS, with a client that behaves as the
// Kubernetes API server does: POST /k8s/validate?timeout=5s with an
// AdmissionReview, the serving certificate verified against the CA that
// goes into the webhook configuration's caBundle, for the name
// <svc>.<ns>.svc (SNI and SAN check), one request per connection. Also
// measures the latency of the whole exchange (TLS handshake included) and
// prints p50 / p99 / max.
#include "server/admission_http.h"

#include <arpa/inet.h>
#include <csignal>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "admission/fleet/node_store.h"
#include "admission/fleet/registry.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/cert_factory.h"
#include "verifier/crypto/keys.h"
#include "verifier/crypto/x509.h"

namespace rp::server {
namespace {

constexpr char kServiceName[] = "attestation-rp-webhook.attestation-rp.svc";
constexpr char kPolicy[] =
    "id: k8s-test\n"
    "version: \"3\"\n"
    "tdx:\n"
    "  mrconfigid: [056ac2feddb7929e0b806e5555851868f701e37efb6e8f41b0603b16511638979fe7236cc2648"
    "cc745f2dfb5ab221e80]\n"
    "release_rules:\n"
    "  - name: k8s/admission\n"
    "    all_of:\n"
    "      - {claim: /ear.status, op: in, values: [affirming, warning]}\n";

std::string ReadFixture(const std::string& name) {
  std::ifstream in(std::string(RP_SOURCE_DIR) + "/admission/testdata/" + name);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// DER subjectAltName with one dNSName.
Bytes SanDns(const std::string& name) {
  Bytes out = {0x30, static_cast<uint8_t>(name.size() + 2), 0x82,
               static_cast<uint8_t>(name.size())};
  out.insert(out.end(), name.begin(), name.end());
  return out;
}

struct SslCtxDeleter {
  void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
};
struct SslDeleter {
  void operator()(SSL* p) const { SSL_free(p); }
};

struct Exchange {
  bool handshake_ok = false;
  int status = 0;
  std::string body;
  double ms = 0;  // connect to last byte
};

// One API-server-like call: TCP connect to 127.0.0.1:port, TLS verifying
// `host` (SNI + hostname check) against ca_file, POST `path` with `body`.
Exchange Post(int port, const std::string& ca_file, const std::string& host,
              const std::string& path, const std::string& body) {
  Exchange ex;
  const auto start = std::chrono::steady_clock::now();
  std::unique_ptr<SSL_CTX, SslCtxDeleter> ctx(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  if (SSL_CTX_load_verify_locations(ctx.get(), ca_file.c_str(), nullptr) != 1) return ex;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(static_cast<uint16_t>(port));
  dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): sockets API
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&dst), sizeof(dst)) != 0) {
    ::close(fd);
    return ex;
  }
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  std::unique_ptr<SSL, SslDeleter> ssl(SSL_new(ctx.get()));
  SSL_set_fd(ssl.get(), fd);
  SSL_set_tlsext_host_name(ssl.get(), host.c_str());
  SSL_set1_host(ssl.get(), host.c_str());
  if (SSL_connect(ssl.get()) == 1 && SSL_get_verify_result(ssl.get()) == X509_V_OK) {
    ex.handshake_ok = true;
    const std::string request = absl::StrCat(
        "POST ", path, " HTTP/1.1\r\nHost: ", host, "\r\nContent-Type: application/json\r\n",
        "Accept: application/json, */*\r\nContent-Length: ", body.size(), "\r\n\r\n", body);
    size_t sent = 0;
    while (sent < request.size()) {
      const int n = SSL_write(ssl.get(), request.data() + sent,
                              static_cast<int>(std::min<size_t>(request.size() - sent, 1 << 20)));
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    std::string raw;
    char buf[16384];
    for (int n; (n = SSL_read(ssl.get(), buf, sizeof(buf))) > 0;) raw.append(buf, static_cast<size_t>(n));
    const size_t end = raw.find("\r\n\r\n");
    if (absl::StartsWith(raw, "HTTP/1.1 ") && raw.size() >= 12 && end != std::string::npos) {
      (void)absl::SimpleAtoi(raw.substr(9, 3), &ex.status);
      ex.body = raw.substr(end + 4);
    }
  }
  ERR_clear_error();
  ssl.reset();
  ::close(fd);
  ex.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
  return ex;
}

class AdmissionHttpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The server may close a connection whose body it refuses while the
    // client is still writing it: EPIPE, not a signal.
    ::signal(SIGPIPE, SIG_IGN);
    std::string tmpl = (std::filesystem::temp_directory_path() / "rp_admission_XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    // The CA whose certificate goes into the webhook configuration's caBundle.
    ::rp::testing::CertSpec ca_spec;
    ca_spec.common_name = "attestation-rp webhook CA";
    ca_spec.is_ca = true;
    auto ca = ::rp::testing::MakeRoot(ca_spec, ::rp::testing::KeyType::kEcP256);
    ASSERT_TRUE(ca.ok()) << ca.status();
    Write("ca.pem", crypto::CertificatePem(ca->cert.get()));
    ::rp::testing::CertSpec leaf;
    leaf.common_name = kServiceName;
    leaf.serial = {0x02};
    leaf.extended_key_usage_oids = {"1.3.6.1.5.5.7.3.1"};
    leaf.extensions = {{"2.5.29.17", SanDns(kServiceName), false}};
    auto server = ::rp::testing::MakeCert(leaf, ::rp::testing::KeyType::kEcP256, ca->cert.get(),
                                          ca->key.get());
    ASSERT_TRUE(server.ok()) << server.status();
    Write("tls.crt", crypto::CertificatePem(server->cert.get()));
    Write("tls.key", crypto::PrivateKeyPem(server->key.get()));
    // Another CA (not in the caBundle).
    ca_spec.common_name = "someone else";
    auto other = ::rp::testing::MakeRoot(ca_spec, ::rp::testing::KeyType::kEcP256);
    ASSERT_TRUE(other.ok());
    Write("other-ca.pem", crypto::CertificatePem(other->cert.get()));

    auto p = policy::ParsePolicy(kPolicy, "k8s-test");
    ASSERT_TRUE(p.ok()) << p.status();
    policy_ = std::make_shared<const policy::LoadedPolicy>(*std::move(p));
    auto reg = admission::fleet::FleetRegistry::Create({}, store_, clock_);
    ASSERT_TRUE(reg.ok());
    fleet_ = *std::move(reg);
    admission::fleet::NodeRecord r;
    r.node = "gpu-node-1";
    r.verdict = "affirming";
    r.attested_at = clock_.Now();
    r.token_jti = "j";
    r.policy_id = "k8s-test";
    r.policy_sha256 = policy_->sha256_hex;
    r.claims = {{"ear.status", "affirming"}, {"policy", {{"id", "k8s-test"}}}};
    ASSERT_TRUE(fleet_->Record(std::move(r)).ok());
    admission::WebhookOptions wo;
    wo.runtime_classes = {"kata-qemu-nvidia-gpu-tdx"};
    webhook_ = std::make_unique<admission::AdmissionWebhook>(
        wo, admission::WebhookDeps{*fleet_, [this] { return policy_; }});
    AdmissionServerOptions ao;
    ao.listen = "127.0.0.1:0";
    ao.tls.set_cert_file(Path("tls.crt"));
    ao.tls.set_key_file(Path("tls.key"));
    ao.max_body_bytes = 256 * 1024;
    auto started = StartAdmissionServer(ao, *webhook_);
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = *std::move(started);
  }
  void TearDown() override {
    server_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(Path(name)) << text;
  }
  Exchange Call(const std::string& fixture, const std::string& host = kServiceName,
                const std::string& ca = "ca.pem") {
    return Post(server_->port(), Path(ca), host, "/k8s/validate?timeout=5s", ReadFixture(fixture));
  }

  std::string dir_;
  FakeClock clock_{absl::Now()};
  admission::fleet::InMemoryNodeStore store_{100};
  std::unique_ptr<admission::fleet::FleetRegistry> fleet_;
  std::shared_ptr<const policy::LoadedPolicy> policy_;
  std::unique_ptr<admission::AdmissionWebhook> webhook_;
  std::unique_ptr<BoundedHttpServer> server_;
};

TEST_F(AdmissionHttpsTest, ApiServerLikeCallsAreAnswered) {
  for (const auto& [fixture, allowed] :
       std::vector<std::pair<std::string, bool>>{{"pod_create_allowed_tdx.json", true},
                                                 {"binding_attested.json", true},
                                                 {"binding_unknown.json", false},
                                                 {"pod_create_image_not_pinned.json", false}}) {
    const Exchange ex = Call(fixture);
    ASSERT_TRUE(ex.handshake_ok) << fixture;
    ASSERT_EQ(ex.status, 200) << fixture << " " << ex.body;
    const nlohmann::json r = nlohmann::json::parse(ex.body);
    const nlohmann::json req = nlohmann::json::parse(ReadFixture(fixture));
    EXPECT_EQ(r["response"]["uid"], req["request"]["uid"]) << fixture;
    EXPECT_EQ(r["response"]["allowed"], allowed) << fixture << " " << ex.body;
    if (!allowed) EXPECT_EQ(r["response"]["status"]["code"], 403);
  }
}

// The API server checks the serving certificate against caBundle for the
// service's DNS name: another name or another CA fails the handshake, and
// plain HTTP gets no answer at all.
TEST_F(AdmissionHttpsTest, ServingCertificateIsForTheServiceName) {
  EXPECT_TRUE(Call("binding_attested.json").handshake_ok);
  EXPECT_FALSE(Call("binding_attested.json", "other.attestation-rp.svc").handshake_ok);
  EXPECT_FALSE(Call("binding_attested.json", "attestation-rp-webhook").handshake_ok);
  EXPECT_FALSE(Call("binding_attested.json", kServiceName, "other-ca.pem").handshake_ok);

  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(static_cast<uint16_t>(server_->port()));
  dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): sockets API
  ASSERT_EQ(::connect(fd, reinterpret_cast<const sockaddr*>(&dst), sizeof(dst)), 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  const std::string plain = "POST /k8s/validate HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
  (void)::send(fd, plain.data(), plain.size(), MSG_NOSIGNAL);
  char buf[64];
  const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
  ::close(fd);
  EXPECT_TRUE(n <= 0 || !absl::StartsWith(std::string(buf, static_cast<size_t>(n)), "HTTP/1.1 2"));
}

TEST_F(AdmissionHttpsTest, OversizeBodyIs413) {
  std::string big = ReadFixture("binding_attested.json");
  big.insert(big.size() - 2, std::string(300 * 1024, ' '));
  const Exchange ex = Post(server_->port(), Path("ca.pem"), kServiceName,
                           "/k8s/validate?timeout=5s", big);
  EXPECT_TRUE(ex.handshake_ok);
  EXPECT_EQ(ex.status, 413);
}

// Latency as the API server sees it (new connection + TLS handshake +
// request + answer, sequential), over a mix of allowed and denied pods and
// bindings. The target is p99 < 50 ms.
TEST_F(AdmissionHttpsTest, LatencyP99) {
  const std::vector<std::string> mix = {"pod_create_allowed_tdx.json", "binding_attested.json",
                                        "binding_unknown.json", "pod_create_node_name_attested.json"};
  std::vector<double> ms;
  constexpr int kRequests = 400;
  for (int i = 0; i < kRequests; ++i) {
    const Exchange ex = Call(mix[static_cast<size_t>(i) % mix.size()]);
    ASSERT_EQ(ex.status, 200);
    ms.push_back(ex.ms);
  }
  std::sort(ms.begin(), ms.end());
  const auto pct = [&](double q) { return ms[static_cast<size_t>(q * (ms.size() - 1))]; };
  std::printf("admission webhook over HTTPS, %d sequential API-server-like calls "
              "(connect + TLS 1.3 handshake + POST /k8s/validate): p50 %.2f ms, p99 %.2f ms, "
              "max %.2f ms\n",
              kRequests, pct(0.5), pct(0.99), ms.back());
  EXPECT_LT(pct(0.99), 50.0);
}

}  // namespace
}  // namespace rp::server
