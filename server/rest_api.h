// The REST face of the AttestationService (docs/rest.md), served on the
// HTTP side port (BoundedHttpServer, server/http_server.h) next to /healthz
// and the JWKS:
//
//   POST /v1/challenge      {} or empty        -> Challenge
//   POST /v1/attest         AttestRequest      -> AttestResponse
//   POST /v1/tokens:verify  {token, issuer?, audience?} -> {"claims": {...}}
//   GET  /v1/nodes          the fleet node registry (docs/admission.md), when
//   GET  /v1/nodes/{name}   RestApiOptions.fleet is set
//
// Bodies are the gRPC messages in the protobuf JSON mapping (parsed with
// unknown fields refused, printed with the proto field names), and the
// handlers call the same AttestationServiceImpl methods as gRPC (DoGetChallenge,
// DoAttest): one code path, the same size checks, rate limits (the same
// buckets: a client's key is its certificate with mTLS, else its address)
// and policy_clients. Errors are RFC 7807 application/problem+json with a
// stable `reason`; the HTTP status follows the gRPC code (HttpStatusFor).
//
// The building blocks (Problem*, JsonReply, ParseJsonBody, BearerToken) are
// public so that further routes (key release) answer the same way.
#ifndef RP_SERVER_REST_API_H_
#define RP_SERVER_REST_API_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "grpcpp/grpcpp.h"
#include "admission/fleet/registry.h"
#include "server/http_server.h"
#include "server/service.h"
#include "server/token/key_manager.h"
#include "verifier/common/clock.h"

namespace rp::server {

// Reason codes of the problems the REST layer itself reports (the service's
// errors carry the gRPC code name, e.g. RESOURCE_EXHAUSTED; the server's own
// ones are in http_server.h: BODY_TOO_LARGE, METHOD_NOT_ALLOWED, ...).
inline constexpr char kReasonMalformedJson[] = "MALFORMED_JSON";      // syntax, not an object, depth, duplicate key
inline constexpr char kReasonUnknownField[] = "UNKNOWN_FIELD";        // a member the message does not have
inline constexpr char kReasonInvalidField[] = "INVALID_FIELD";        // a member of the wrong type / encoding
inline constexpr char kReasonUnsupportedMediaType[] = "UNSUPPORTED_MEDIA_TYPE";
inline constexpr char kReasonTokenMalformed[] = "TOKEN_MALFORMED";
inline constexpr char kReasonTokenUnknownKey[] = "TOKEN_UNKNOWN_KEY";
inline constexpr char kReasonTokenBadSignature[] = "TOKEN_BAD_SIGNATURE";
inline constexpr char kReasonTokenExpired[] = "TOKEN_EXPIRED";
inline constexpr char kReasonTokenNotYetValid[] = "TOKEN_NOT_YET_VALID";
inline constexpr char kReasonTokenWrongIssuer[] = "TOKEN_WRONG_ISSUER";
inline constexpr char kReasonTokenWrongAudience[] = "TOKEN_WRONG_AUDIENCE";

// JSON bodies nested deeper than this are MALFORMED_JSON (checked before
// any parser builds anything).
inline constexpr int kMaxJsonDepth = 32;

// gRPC code -> HTTP status (research next.md §5.2, as grpc-gateway):
// INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE 400; UNAUTHENTICATED
// 401; PERMISSION_DENIED 403; NOT_FOUND 404; ALREADY_EXISTS, ABORTED 409;
// RESOURCE_EXHAUSTED 429; CANCELLED 499; UNIMPLEMENTED 501; UNAVAILABLE 503;
// DEADLINE_EXCEEDED 504; UNKNOWN, INTERNAL, DATA_LOSS 500; OK 200.
int HttpStatusFor(grpc::StatusCode code);

// An RFC 7807 body: {"type", "title", "status", "detail", "reason"} plus
// "grpc_code" when `grpc_code` is set. application/problem+json. 429 and
// 503 get Retry-After (retry_after_seconds, at least 1); 401 gets
// WWW-Authenticate: Bearer error="invalid_token".
HttpReply Problem(int status, std::string_view reason, std::string_view detail,
                  int64_t retry_after_seconds = 0,
                  std::optional<grpc::StatusCode> grpc_code = std::nullopt);


// A non-OK service status as a problem: the status from HttpStatusFor, the
// message as detail, `reason` (default: the gRPC code name).
HttpReply ProblemFromStatus(const grpc::Status& status, std::string_view reason = "",
                            int64_t retry_after_seconds = 0);
HttpReply ProblemFromStatus(const absl::Status& status, std::string_view reason = "",
                            int64_t retry_after_seconds = 0);

// For BoundedHttpOptions / HttpServerOptions.error_reply: the server's own
// errors (404, 405, 413, ...) as problems with its code as reason.
HttpReply ServerErrorProblem(int status, std::string_view code, std::string_view detail);

// `message` in the protobuf JSON mapping with proto field names
// (snake_case), application/json.
HttpReply JsonReply(const google::protobuf::Message& message, int status = 200);

// Parses the request body into `message` (protobuf JSON mapping, unknown
// fields refused). A non-empty body must be Content-Type application/json
// (or a +json type): 415 otherwise. The JSON is first checked without
// building anything: well-formed, an object, depth <= kMaxJsonDepth, no
// duplicate member names (MALFORMED_JSON). Then UNKNOWN_FIELD /
// INVALID_FIELD from the mapping. An empty body is `{}` when allow_empty,
// else MALFORMED_JSON. Returns the problem to answer, or nullopt.
std::optional<HttpReply> ParseJsonBody(const HttpRequest& request,
                                       google::protobuf::Message* message,
                                       bool allow_empty = false);

// Checks a body as ParseJsonBody does before mapping (media type, syntax,
// depth, duplicates) and returns the problem, or nullopt.
std::optional<HttpReply> CheckJsonBody(const HttpRequest& request, bool allow_empty);

// The token of "Authorization: Bearer <token>" (scheme case-insensitive),
// or nullopt when the header is absent, another scheme or empty.
std::optional<std::string> BearerToken(const HttpRequest& request);

struct RestApiOptions {
  // Cap on a JSON body, checked before it is read (413). The service checks
  // the parsed message against its own max_request_bytes as for gRPC; the
  // JSON form is larger (base64, names), so main sets 2x that, like gRPC's
  // transport limit.
  size_t max_body_bytes = 8 * 1024 * 1024;
  // tokens:verify: the issuer a token must name when the request names none
  // (our TokenIssuer::issuer()), and the clock leeway on exp / nbf.
  std::string issuer;
  absl::Duration token_leeway = absl::Seconds(30);
  // The fleet node registry behind GET /v1/nodes[/{name}] (read from its
  // in-memory view); nullptr = those routes are not served.
  const admission::fleet::FleetRegistry* fleet = nullptr;
};

// Reason codes of the fleet routes.
inline constexpr char kReasonFleetUnavailable[] = "FLEET_STATE_UNAVAILABLE";  // 503
inline constexpr char kReasonNodeNotFound[] = "NODE_NOT_FOUND";                // 404
inline constexpr char kReasonInvalidNodeName[] = "INVALID_NODE_NAME";          // 400

// Thread-safe; `service`, `keys` and `clock` must outlive it, and it must
// outlive the server its endpoints are registered with.
class RestApi {
 public:
  RestApi(const AttestationServiceImpl& service, const token::KeyManager& keys, Clock& clock,
          RestApiOptions options);

  // The three routes, run on the worker pool.
  std::vector<HttpEndpoint> Endpoints() const;

  HttpReply Challenge(const HttpRequest& request) const;
  HttpReply Attest(const HttpRequest& request) const;
  HttpReply VerifyToken(const HttpRequest& request) const;
  // {"freshness_seconds", "now", "nodes": [record without claims + state,
  // age_seconds]} / one record with its token claims + state, age_seconds.
  HttpReply ListNodes(const HttpRequest& request) const;
  HttpReply GetNode(const HttpRequest& request) const;

 private:
  const AttestationServiceImpl& service_;
  const token::KeyManager& keys_;
  Clock& clock_;
  const RestApiOptions options_;
};

}  // namespace rp::server

#endif  // RP_SERVER_REST_API_H_
