// The HTTP side ports (ARCHITECTURE §2 server/): liveness, readiness, JWKS
// and OpenID-style metadata for relying parties that fetch keys over HTTP
// (HttpServer), and the Prometheus scrape endpoint (server/metrics.h). Both
// run on BoundedHttpServer.
//
// Why not civetweb: civetweb ties a worker thread to every connection from
// accept until the request header is complete, and 1.15 offers no hook that
// knows the peer before the header has been read (mg_get_request_info is
// NULL inside init_connection), so it cannot cap connections per peer and a
// slowloris of N connections parks N workers. BoundedHttpServer is one epoll
// loop: an idle or slow connection costs an fd and a small buffer, never a
// thread, and every limit is enforced at accept time or by a deadline.
//
// Bounded on purpose: GET only (other methods get 405), fixed paths (others
// 404), small responses built by the route callbacks, one request per
// connection (Connection: close), a cap on request-header bytes, one
// deadline per connection covering TLS handshake + request + response, caps
// on open connections overall and per peer, and no document root.
#ifndef RP_SERVER_HTTP_SERVER_H_
#define RP_SERVER_HTTP_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "attestation/v1/config.pb.h"

namespace rp::server {

struct HttpLimits {
  // Open connections at once, all peers together. Connections over the cap
  // are accepted and closed at once (plain HTTP gets a 503 first), so the
  // listen backlog never fills with them.
  size_t max_connections = 512;
  // Open connections per peer: one IPv4 address, or one IPv6 /64.
  size_t max_connections_per_peer = 16;
  // From accept to the last response byte handed to the kernel, TLS
  // handshake included. A connection still reading its request header at
  // the deadline is closed (counted as timed_out).
  absl::Duration request_timeout = absl::Seconds(5);
  // Request line + headers; more gets 431 and the connection is closed.
  size_t max_request_bytes = 16 * 1024;
};

struct HttpReply {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// Called on the server's loop thread: must be quick, must not block and
// must not throw.
using HttpRoute = std::function<HttpReply()>;

// Cumulative counters since Start (open_connections: right now).
struct HttpServerStats {
  uint64_t accepted = 0;            // connections admitted under the caps
  uint64_t refused_per_peer = 0;    // closed at accept: the peer was at its cap
  uint64_t refused_global = 0;      // closed at accept: the server was at its cap
  uint64_t timed_out = 0;           // closed at the deadline before a response
  uint64_t responses = 0;           // responses queued (any status)
  uint64_t bad_requests = 0;        // 400 / 431 / 505
  uint64_t tls_handshake_failures = 0;
  uint64_t open_connections = 0;
};

struct BoundedHttpOptions {
  std::string name = "http";  // prefix of error messages
  std::string listen;         // host:port; port 0 binds an ephemeral port
  // cert_file + key_file set => HTTPS only (plain HTTP on the port fails the
  // handshake). client_ca_file set => client certificates are required.
  attestation::v1::TlsConfig tls;
  HttpLimits limits;
  // Exact path (the query string is ignored) -> handler. GET only.
  std::map<std::string, HttpRoute> routes;
};

// Thread-safe. One loop thread owns every connection; Stop() or the
// destructor stops it and closes every socket.
class BoundedHttpServer {
 public:
  static absl::StatusOr<std::unique_ptr<BoundedHttpServer>> Start(
      BoundedHttpOptions options);
  ~BoundedHttpServer();
  BoundedHttpServer(const BoundedHttpServer&) = delete;
  BoundedHttpServer& operator=(const BoundedHttpServer&) = delete;

  int port() const;
  bool tls() const;
  HttpServerStats Stats() const;
  // Idempotent; returns once the loop thread has exited and every socket is
  // closed.
  void Stop();

  class Loop;  // implementation detail (http_server.cc)

 private:
  explicit BoundedHttpServer(std::unique_ptr<Loop> loop);
  std::unique_ptr<Loop> loop_;
};

struct HttpServerOptions {
  std::string listen;  // host:port; port 0 binds an ephemeral port
  // Called per request on the server's loop thread; must be thread-safe,
  // quick and non-blocking.
  std::function<bool()> ready;             // /readyz: true => 200, false => 503
  std::function<std::string()> jwks_json;  // /.well-known/jwks.json body
  // /.well-known/openid-configuration. When `issuer` is an http(s) URL the
  // jwks_uri is issuer + "/.well-known/jwks.json"; otherwise it points at
  // this server's bound address (https:// when `tls` is set).
  std::string issuer;
  std::string signing_algorithm;  // ES256 | ES384
  attestation::v1::TlsConfig tls;  // ServerConfig.http_tls
  HttpLimits limits;
};

// /healthz, /readyz, /.well-known/jwks.json, /.well-known/openid-configuration.
class HttpServer {
 public:
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      HttpServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return server_->port(); }
  HttpServerStats Stats() const { return server_->Stats(); }
  // Idempotent; returns once every connection is closed.
  void Stop();

 private:
  struct Shared;
  HttpServer(std::shared_ptr<Shared> shared,
             std::unique_ptr<BoundedHttpServer> server);
  std::shared_ptr<Shared> shared_;
  std::unique_ptr<BoundedHttpServer> server_;
};

// Exposed for tests: the metadata document served on
// /.well-known/openid-configuration.
std::string OpenIdConfigurationJson(const std::string& issuer,
                                    const std::string& jwks_uri,
                                    const std::string& signing_algorithm);

}  // namespace rp::server

#endif  // RP_SERVER_HTTP_SERVER_H_
