#include "server/http_server.h"

#include <CivetServer.h>
#include <civetweb.h>

#include <cstring>
#include <exception>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"
#include "server/config.h"
#include "verifier/common/status_macros.h"

namespace rp::server {
namespace {

constexpr char kJwksPath[] = "/.well-known/jwks.json";
constexpr char kOpenIdPath[] = "/.well-known/openid-configuration";

void Respond(mg_connection* conn, int code, std::string_view reason,
             std::string_view type, std::string_view body) {
  mg_printf(conn,
            "HTTP/1.1 %d %.*s\r\n"
            "Content-Type: %.*s\r\n"
            "Content-Length: %zu\r\n"
            "Cache-Control: no-store\r\n"
            "X-Content-Type-Options: nosniff\r\n"
            "Connection: close\r\n\r\n",
            code, static_cast<int>(reason.size()), reason.data(),
            static_cast<int>(type.size()), type.data(), body.size());
  if (!body.empty()) {
    mg_write(conn, body.data(), body.size());
  }
}

void RespondText(mg_connection* conn, int code, std::string_view reason,
                 std::string_view body) {
  Respond(conn, code, reason, "text/plain; charset=utf-8", body);
}

}  // namespace

std::string OpenIdConfigurationJson(const std::string& issuer,
                                    const std::string& jwks_uri,
                                    const std::string& signing_algorithm) {
  nlohmann::json j;
  j["issuer"] = issuer;
  j["jwks_uri"] = jwks_uri;
  j["id_token_signing_alg_values_supported"] = {signing_algorithm};
  j["token_endpoint_auth_methods_supported"] = nlohmann::json::array();
  return j.dump();
}

class HttpServer::Handler : public CivetHandler {
 public:
  explicit Handler(HttpServerOptions options) : options_(std::move(options)) {}

  void SetOpenIdDocument(std::string doc) {
    absl::MutexLock l(&mu_);
    openid_ = std::move(doc);
  }

  bool handleGet(CivetServer* /*server*/, mg_connection* conn) override {
    const mg_request_info* info = mg_get_request_info(conn);
    const std::string_view path =
        (info != nullptr && info->local_uri != nullptr) ? info->local_uri : "";
    if (path == "/healthz") {
      RespondText(conn, 200, "OK", "ok\n");
    } else if (path == "/readyz") {
      if (options_.ready && options_.ready()) {
        RespondText(conn, 200, "OK", "ready\n");
      } else {
        RespondText(conn, 503, "Service Unavailable", "not ready\n");
      }
    } else if (path == kJwksPath) {
      Respond(conn, 200, "OK", "application/json", options_.jwks_json());
    } else if (path == kOpenIdPath) {
      std::string doc;
      {
        absl::MutexLock l(&mu_);
        doc = openid_;
      }
      if (doc.empty()) {
        RespondText(conn, 503, "Service Unavailable", "starting\n");
      } else {
        Respond(conn, 200, "OK", "application/json", doc);
      }
    } else {
      RespondText(conn, 404, "Not Found", "not found\n");
    }
    return true;
  }

  bool handlePost(CivetServer*, mg_connection* conn) override {
    return NotAllowed(conn);
  }
  bool handleHead(CivetServer*, mg_connection* conn) override {
    return NotAllowed(conn);
  }
  bool handlePut(CivetServer*, mg_connection* conn) override {
    return NotAllowed(conn);
  }
  bool handleDelete(CivetServer*, mg_connection* conn) override {
    return NotAllowed(conn);
  }
  bool handleOptions(CivetServer*, mg_connection* conn) override {
    return NotAllowed(conn);
  }
  bool handlePatch(CivetServer*, mg_connection* conn) override {
    return NotAllowed(conn);
  }

  const HttpServerOptions& options() const { return options_; }

 private:
  static bool NotAllowed(mg_connection* conn) {
    mg_printf(
        conn,
        "HTTP/1.1 405 Method Not Allowed\r\nAllow: GET\r\nContent-Length: 0\r\n"
        "Connection: close\r\n\r\n");
    return true;
  }

  const HttpServerOptions options_;
  absl::Mutex mu_;
  std::string openid_ ABSL_GUARDED_BY(mu_);
};

HttpServer::HttpServer(std::unique_ptr<Handler> handler, int port)
    : handler_(std::move(handler)), port_(port) {}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    HttpServerOptions options) {
  auto hp = ParseHostPort(options.listen);
  if (!hp.ok()) {
    return Annotate(hp.status(), "http_listen");
  }
  if (!options.jwks_json) {
    return absl::InvalidArgumentError("http: jwks_json callback missing");
  }
  const std::string listen = options.listen;
  auto handler = std::make_unique<Handler>(std::move(options));
  std::unique_ptr<CivetServer> civet;
  try {
    const std::vector<std::string> civet_options = {
        "listening_ports",    listen,  "num_threads",       "4",
        "request_timeout_ms", "5000",  "enable_keep_alive", "no",
        "max_request_size",   "16384",
    };
    civet = std::make_unique<CivetServer>(civet_options);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("http: cannot listen on ", listen, ": ", e.what()));
  }
  // Register on "/" so every path reaches our handler (and its 404/405),
  // never civetweb's defaults.
  civet->addHandler("/", handler.get());
  const std::vector<int> ports = civet->getListeningPorts();
  if (ports.empty() || ports.front() <= 0) {
    civet->close();
    return absl::InternalError(
        absl::StrCat("http: no listening port for ", listen));
  }
  const int port = ports.front();

  const std::string& issuer = handler->options().issuer;
  std::string base;
  if (absl::StartsWith(issuer, "https://") ||
      absl::StartsWith(issuer, "http://")) {
    base = issuer;
    while (!base.empty() && base.back() == '/') {
      base.pop_back();
    }
  } else {
    base = absl::StrCat("http://", hp->host, ":", port);
  }
  handler->SetOpenIdDocument(
      OpenIdConfigurationJson(issuer.empty() ? base : issuer, base + kJwksPath,
                              handler->options().signing_algorithm));

  auto server =
      std::unique_ptr<HttpServer>(new HttpServer(std::move(handler), port));
  server->civet_ = std::move(civet);
  return server;
}

void HttpServer::Stop() {
  if (civet_ != nullptr) {
    civet_->close();
  }
}

HttpServer::~HttpServer() { Stop(); }

}  // namespace rp::server
