// The HTTP side port (ARCHITECTURE §2 server/): liveness, readiness, JWKS
// and OpenID-style metadata for relying parties that fetch keys over HTTP.
//
// Bounded on purpose: GET only (other methods get 405), fixed paths (others
// 404), small responses built from fixed templates, request headers capped
// by civetweb's max_request_size, and no document root (nothing on disk is
// ever served).
#ifndef RP_SERVER_HTTP_SERVER_H_
#define RP_SERVER_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

class CivetServer;

namespace rp::server {

struct HttpServerOptions {
  std::string listen;  // host:port; port 0 binds an ephemeral port
  // Called per request from civetweb's threads; must be thread-safe.
  std::function<bool()> ready;             // /readyz: true => 200, false => 503
  std::function<std::string()> jwks_json;  // /.well-known/jwks.json body
  // /.well-known/openid-configuration. When `issuer` is an http(s) URL the
  // jwks_uri is issuer + "/.well-known/jwks.json"; otherwise it points at
  // this server's bound address.
  std::string issuer;
  std::string signing_algorithm;  // ES256 | ES384
};

// Owns the civetweb server; serving stops in Stop() or the destructor.
// Thread-safe: handlers only read immutable state and call the thread-safe
// callbacks above.
class HttpServer {
 public:
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      HttpServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }
  // Idempotent; blocks until civetweb's worker threads have finished.
  void Stop();

  class Handler;  // implementation detail (http_server.cc)

 private:
  HttpServer(std::unique_ptr<Handler> handler, int port);

  std::unique_ptr<Handler> handler_;
  std::unique_ptr<CivetServer>
      civet_;  // declared after handler_: destroyed first
  int port_;
};

// Exposed for tests: the metadata document served on
// /.well-known/openid-configuration.
std::string OpenIdConfigurationJson(const std::string& issuer,
                                    const std::string& jwks_uri,
                                    const std::string& signing_algorithm);

}  // namespace rp::server

#endif  // RP_SERVER_HTTP_SERVER_H_
