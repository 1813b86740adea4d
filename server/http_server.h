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
// Bounded on purpose: GET and POST only (other methods get 405), fixed paths
// or prefix+suffix patterns (others 404), one request per connection
// (Connection: close), a cap on request-header bytes, request bodies only
// with a Content-Length (chunked is refused) under a cap checked before any
// body byte is read and a global budget of buffered body bytes, a deadline
// per phase (TLS handshake + header; body; handler; response), caps on open
// connections overall and per peer, and no document root.
//
// Two kinds of handler: kLoop handlers run on the loop thread and must be
// quick (health, JWKS, metadata); kWorker handlers (attestation: ms to
// 100+ ms) run on a bounded worker pool (N threads, bounded queue; a full
// queue is 503 + Retry-After) and post their reply back to the loop through
// an eventfd, so a slow handler never delays another connection.
#ifndef RP_SERVER_HTTP_SERVER_H_
#define RP_SERVER_HTTP_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "attestation/v1/config.pb.h"
#include "server/peer.h"

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

  // Request bodies (endpoints that take one). 0 => max_request_bytes. An
  // endpoint may set its own cap (HttpEndpoint.max_body_bytes). A larger
  // Content-Length gets 413 before any body byte is read.
  size_t max_body_bytes = 0;
  // Body bytes announced (Content-Length) by requests being received or
  // handled right now, all connections together. A request that would go
  // over it gets 503 + Retry-After before its body is read, so memory for
  // bodies is bounded whatever the number of connections.
  size_t max_inflight_body_bytes = 64 * 1024 * 1024;
  // The same, per peer (the connection-cap key: IPv4 address or IPv6 /64),
  // so that one host trickling bodies cannot take the whole budget. 0 =>
  // max(max_inflight_body_bytes / 4, the largest endpoint body cap).
  size_t max_inflight_body_bytes_per_peer = 0;
  // For a request with a body: from accept to its last body byte (instead
  // of request_timeout, which still bounds the header). At least
  // request_timeout.
  absl::Duration body_timeout = absl::Seconds(30);
  // kWorker endpoints: threads (started only when such an endpoint exists)
  // and requests waiting for one. A request that finds the queue full gets
  // 503 + Retry-After at once.
  size_t worker_threads = 4;
  size_t worker_queue = 64;
  // From handing a request to the pool to its reply. Past it the client
  // gets 503 + Retry-After and the late reply is dropped (the handler is not
  // interrupted).
  absl::Duration handler_timeout = absl::Seconds(60);
};

struct HttpReply {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  // Extra response headers (e.g. Retry-After, WWW-Authenticate). Names must
  // be tokens and values must not contain CR, LF or NUL; others are dropped.
  // Content-Type, Content-Length and Connection are the server's.
  std::vector<std::pair<std::string, std::string>> headers = {};
};

// Called on the server's loop thread: must be quick, must not block and
// must not throw.
using HttpRoute = std::function<HttpReply()>;

// A request as handed to an endpoint handler.
struct HttpRequest {
  std::string method;      // GET | POST
  std::string path;        // request target without the query string
  std::string query;       // after '?', raw ("" if none)
  // Pattern endpoints: the part of `path` between prefix and suffix, raw
  // (percent-encoding untouched, may contain '/'); never empty. "" for
  // exact paths. Handlers validate it.
  std::string path_param;
  // In order; names lower-cased, values with surrounding blanks removed.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;        // exactly Content-Length bytes ("" without)
  // The client: its address, and with mTLS (tls.client_ca_file) its
  // verified certificate. PeerInfo::RateKey() is "cert:<sha256>" then, else
  // "ip:<addr>" — the same keys gRPC requests get, so one client has one
  // budget whichever port it uses.
  PeerInfo peer;

  // The first value of header `name` (lower-case), or nullptr.
  const std::string* Header(std::string_view name) const;
};

using HttpHandler = std::function<HttpReply(const HttpRequest&)>;

// Where a path matches: exactly, or prefix + <non-empty middle> + suffix
// (e.g. Pattern("/v1/resources/", ":release") matches
// "/v1/resources/kbs/key/1:release" with path_param "kbs/key/1").
struct HttpPath {
  std::string prefix;
  std::string suffix;
  bool exact = true;

  static HttpPath Exact(std::string path) { return HttpPath{std::move(path), "", true}; }
  static HttpPath Pattern(std::string prefix, std::string suffix) {
    return HttpPath{std::move(prefix), std::move(suffix), false};
  }
  // The middle part when `path` matches ("" for an exact match), else
  // nullopt.
  std::optional<std::string_view> Match(std::string_view path) const;
};

enum class HttpRunOn {
  kLoop,    // on the loop thread: quick, non-blocking
  kWorker,  // on the worker pool (HttpLimits.worker_threads / worker_queue)
};

struct HttpEndpoint {
  std::string method = "POST";  // GET | POST
  HttpPath path;
  HttpRunOn run_on = HttpRunOn::kWorker;
  // POST: body cap; 0 => HttpLimits.max_body_bytes. Must not exceed
  // HttpLimits.max_inflight_body_bytes.
  size_t max_body_bytes = 0;
  // Must be thread-safe (kWorker handlers run concurrently) and must not
  // throw (an exception is answered with 500).
  HttpHandler handler;
};

// Stable codes for errors the server itself answers (not the handlers),
// passed to BoundedHttpOptions.error_reply.
inline constexpr char kHttpNotFound[] = "NOT_FOUND";
inline constexpr char kHttpMethodNotAllowed[] = "METHOD_NOT_ALLOWED";
inline constexpr char kHttpBadRequest[] = "BAD_REQUEST";            // framing (Content-Length, headers)
inline constexpr char kHttpLengthRequired[] = "LENGTH_REQUIRED";    // Transfer-Encoding (chunked)
inline constexpr char kHttpBodyTooLarge[] = "BODY_TOO_LARGE";       // Content-Length over the cap
inline constexpr char kHttpExpectationFailed[] = "EXPECTATION_FAILED";
inline constexpr char kHttpServerBusy[] = "SERVER_BUSY";            // queue full / body budget
inline constexpr char kHttpHandlerTimeout[] = "HANDLER_TIMEOUT";
inline constexpr char kHttpInternal[] = "INTERNAL";                 // a handler threw

// "Not Found" for 404 and so on ("Unknown" for codes the server never sends).
const char* HttpReasonPhrase(int status);

// Builds the body of an error the server answers itself. Called on the loop
// thread; must be quick and must not throw. The server adds Allow (405) and
// Retry-After (503) headers itself.
using HttpErrorReply =
    std::function<HttpReply(int status, std::string_view code, std::string_view detail)>;

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
  uint64_t bodies_too_large = 0;    // 413 before reading the body
  uint64_t busy = 0;                // 503: worker queue full or body budget spent
  uint64_t handler_timeouts = 0;    // 503: a worker did not answer in time
  uint64_t worker_requests = 0;     // requests handed to the worker pool
};

struct BoundedHttpOptions {
  std::string name = "http";  // prefix of error messages
  std::string listen;         // host:port; port 0 binds an ephemeral port
  // cert_file + key_file set => HTTPS only (plain HTTP on the port fails the
  // handshake). client_ca_file set => client certificates are required.
  attestation::v1::TlsConfig tls;
  HttpLimits limits;
  // Proxies whose X-Forwarded-For names the client (HttpRequest.peer).
  std::vector<IpNetwork> trusted_proxies;
  // Exact path (the query string is ignored) -> handler. GET only, on the
  // loop thread.
  std::map<std::string, HttpRoute> routes;
  // More endpoints, any method/path kind. An exact path is matched before
  // patterns; patterns in this order. A path that matches under another
  // method gets 405 with Allow.
  std::vector<HttpEndpoint> endpoints;
  // Error bodies for the errors the server answers once the request line
  // parsed (404, 405, 411, 413, 400 framing, 503 busy/timeout, 500). Unset:
  // text/plain.
  HttpErrorReply error_reply;
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
  // Load balancers whose X-Forwarded-For names the client (server/peer.h,
  // ServerConfig.trusted_proxies). Connection caps still count the proxy.
  std::vector<IpNetwork> trusted_proxies;
  // More endpoints on the same port (the REST API, server/rest_api.h) and
  // the error body format for them (see BoundedHttpOptions).
  std::vector<HttpEndpoint> endpoints;
  HttpErrorReply error_reply;
};

// /healthz, /readyz, /.well-known/jwks.json, /.well-known/openid-configuration,
// plus HttpServerOptions.endpoints.
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
