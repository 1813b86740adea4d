#include "server/rest_api.h"

#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "attestation/v1/attestation.pb.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "server/token/token_verifier.h"
#include "verifier/core/runtime_claims.h"
#include "verifier/common/absl_view.h"

namespace rp::server {
namespace {

using nlohmann::json;

// Never throws on invalid UTF-8 (client-chosen text can reach a detail).
std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// At most `n` bytes of client-chosen text for a detail.
std::string Clip(std::string_view s, size_t n = 64) {
  if (s.size() <= n) return std::string(s);
  return absl::StrCat(AbslView(s.substr(0, n)), "...");
}

std::string CodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(static_cast<int>(code)));
}

// Checks JSON without building it: syntax (strict RFC 8259, UTF-8), an
// object at the top, depth, and no member name twice in one object
// (parsers disagree on which duplicate wins; the message mapping must not be
// the one to decide).
class JsonShapeCheck final : public json::json_sax_t {
 public:
  bool null() override { return Value(); }
  bool boolean(bool) override { return Value(); }
  bool number_integer(number_integer_t) override { return Value(); }
  bool number_unsigned(number_unsigned_t) override { return Value(); }
  bool number_float(number_float_t, const string_t&) override { return Value(); }
  bool string(string_t&) override { return Value(); }
  bool binary(binary_t&) override { return Value(); }
  bool start_object(std::size_t) override {
    if (!Open(/*object=*/true)) return false;
    keys_.emplace_back();
    return true;
  }
  bool key(string_t& name) override {
    if (!keys_.back().insert(name).second) {
      error_ = absl::StrCat("member ", Dump(json(Clip(name))), " appears twice");
      return false;
    }
    return true;
  }
  bool end_object() override {
    keys_.pop_back();
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override { return Open(/*object=*/false); }
  bool end_array() override {
    --depth_;
    return true;
  }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception&) override {
    if (error_.empty()) error_ = absl::StrCat("not valid JSON (at byte ", position, ")");
    return false;
  }

  const std::string& error() const { return error_; }

 private:
  bool Value() {
    if (depth_ == 0) {
      error_ = "the body must be a JSON object";
      return false;
    }
    return true;
  }
  bool Open(bool object) {
    if (depth_ == 0 && !object) {
      error_ = "the body must be a JSON object";
      return false;
    }
    if (++depth_ > kMaxJsonDepth) {
      error_ = absl::StrCat("nested deeper than ", kMaxJsonDepth);
      return false;
    }
    return true;
  }

  int depth_ = 0;
  std::vector<std::set<std::string>> keys_;
  std::string error_;
};

bool IsJsonMediaType(std::string_view content_type) {
  std::string type = absl::AsciiStrToLower(AbslView(content_type.substr(0, content_type.find(';'))));
  absl::StripAsciiWhitespace(&type);
  return type == "application/json" ||
         (absl::StartsWith(type, "application/") && absl::EndsWith(type, "+json"));
}

std::string ProblemType(std::string_view reason) {
  return absl::StrCat("urn:attestation-rp:problem:", AbslView(reason));
}

}  // namespace

int HttpStatusFor(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return 200;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::OUT_OF_RANGE: return 400;
    case grpc::StatusCode::UNAUTHENTICATED: return 401;
    case grpc::StatusCode::PERMISSION_DENIED: return 403;
    case grpc::StatusCode::NOT_FOUND: return 404;
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::ABORTED: return 409;
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return 429;
    case grpc::StatusCode::CANCELLED: return 499;
    case grpc::StatusCode::UNIMPLEMENTED: return 501;
    case grpc::StatusCode::UNAVAILABLE: return 503;
    case grpc::StatusCode::DEADLINE_EXCEEDED: return 504;
    default: return 500;  // UNKNOWN, INTERNAL, DATA_LOSS
  }
}

HttpReply Problem(int status, std::string_view reason, std::string_view detail,
                  int64_t retry_after_seconds, std::optional<grpc::StatusCode> grpc_code) {
  json j;
  j["type"] = ProblemType(reason);
  j["title"] = HttpReasonPhrase(status);
  j["status"] = status;
  j["detail"] = std::string(detail);
  j["reason"] = std::string(reason);
  if (grpc_code.has_value()) j["grpc_code"] = CodeName(*grpc_code);
  HttpReply reply{status, "application/problem+json", Dump(j)};
  if (status == 429 || status == 503) {
    reply.headers.emplace_back("Retry-After",
                               absl::StrCat(std::max<int64_t>(retry_after_seconds, 1)));
  }
  if (status == 401) {
    reply.headers.emplace_back("WWW-Authenticate", "Bearer error=\"invalid_token\"");
  }
  return reply;
}

HttpReply ProblemFromStatus(const grpc::Status& status, std::string_view reason,
                            int64_t retry_after_seconds) {
  const grpc::StatusCode code = status.error_code();
  const std::string name = CodeName(code);
  return Problem(HttpStatusFor(code), reason.empty() ? std::string_view(name) : reason,
                 status.error_message(), retry_after_seconds, code);
}

HttpReply ProblemFromStatus(const absl::Status& status, std::string_view reason,
                            int64_t retry_after_seconds) {
  return ProblemFromStatus(ToGrpcStatus(status), reason, retry_after_seconds);
}

HttpReply ServerErrorProblem(int status, std::string_view code, std::string_view detail) {
  return Problem(status, code, detail);
}

HttpReply JsonReply(const google::protobuf::Message& message, int status) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string out;
  const auto st = google::protobuf::util::MessageToJsonString(message, &out, options);
  if (!st.ok()) {
    return Problem(500, "INTERNAL", "the reply could not be printed as JSON");
  }
  return HttpReply{status, "application/json", std::move(out)};
}

std::optional<HttpReply> CheckJsonBody(const HttpRequest& request, bool allow_empty) {
  if (request.body.empty()) {
    if (allow_empty) return std::nullopt;
    return Problem(400, kReasonMalformedJson, "the request needs a JSON object body");
  }
  const std::string* type = request.Header("content-type");
  if (type == nullptr || !IsJsonMediaType(*type)) {
    return Problem(415, kReasonUnsupportedMediaType,
                   "the body must be Content-Type: application/json");
  }
  JsonShapeCheck check;
  const bool ok = json::sax_parse(request.body, &check, json::input_format_t::json,
                                  /*strict=*/true);
  if (!ok) {
    return Problem(400, kReasonMalformedJson,
                   check.error().empty() ? "the body must be one JSON object" : check.error());
  }
  return std::nullopt;
}

std::optional<HttpReply> ParseJsonBody(const HttpRequest& request,
                                       google::protobuf::Message* message, bool allow_empty) {
  if (std::optional<HttpReply> problem = CheckJsonBody(request, allow_empty)) return problem;
  message->Clear();
  if (request.body.empty()) return std::nullopt;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto st = google::protobuf::util::JsonStringToMessage(request.body, message, options);
  if (st.ok()) return std::nullopt;
  const std::string text(st.message().data(), st.message().size());
  // protobuf 3.21: "<field path>: Cannot find field."; unknown members are
  // refused so that nothing a caller adds (a key of its own, a policy
  // hint) is silently dropped.
  const bool unknown = absl::StrContains(text, "Cannot find field");
  return Problem(400, unknown ? kReasonUnknownField : kReasonInvalidField,
                 absl::StrCat(message->GetDescriptor()->name(), ": ", Clip(text, 200)));
}

std::optional<std::string> BearerToken(const HttpRequest& request) {
  const std::string* h = request.Header("authorization");
  if (h == nullptr) return std::nullopt;
  std::string_view v = *h;
  const size_t sp = v.find(' ');
  if (sp == std::string_view::npos || !absl::EqualsIgnoreCase(AbslView(v.substr(0, sp)), "bearer")) {
    return std::nullopt;
  }
  v.remove_prefix(sp + 1);
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  if (v.empty() || v.find(' ') != std::string_view::npos) return std::nullopt;
  return std::string(v);
}

// ---------------------------------------------------------------------------

RestApi::RestApi(const AttestationServiceImpl& service, const token::KeyManager& keys,
                 Clock& clock, RestApiOptions options)
    : service_(service), keys_(keys), clock_(clock), options_(std::move(options)) {}

std::vector<HttpEndpoint> RestApi::Endpoints() const {
  auto endpoint = [this](std::string path, HttpReply (RestApi::*handler)(const HttpRequest&)
                                               const) {
    HttpEndpoint e;
    e.method = "POST";
    e.path = HttpPath::Exact(std::move(path));
    e.run_on = HttpRunOn::kWorker;
    e.max_body_bytes = options_.max_body_bytes;
    e.handler = [this, handler](const HttpRequest& r) { return (this->*handler)(r); };
    return e;
  };
  std::vector<HttpEndpoint> out;
  out.push_back(endpoint("/v1/challenge", &RestApi::Challenge));
  out.push_back(endpoint("/v1/attest", &RestApi::Attest));
  out.push_back(endpoint("/v1/tokens:verify", &RestApi::VerifyToken));
  if (options_.fleet != nullptr) {
    for (HttpPath path : {HttpPath::Exact("/v1/nodes"), HttpPath::Pattern("/v1/nodes/", "")}) {
      HttpEndpoint e;
      e.method = "GET";
      const bool list = path.exact;
      e.path = std::move(path);
      e.run_on = HttpRunOn::kWorker;  // a list of 10,000 records is not loop-thread work
      e.handler = [this, list](const HttpRequest& r) {
        return list ? ListNodes(r) : GetNode(r);
      };
      out.push_back(std::move(e));
    }
  }
  return out;
}

namespace {

HttpReply JsonDocument(const nlohmann::json& j, int status = 200) {
  return HttpReply{status, "application/json", j.dump() + "\n"};
}

nlohmann::json NodeJson(const admission::fleet::NodeRecord& r, absl::Time now,
                        absl::Duration freshness, bool with_claims) {
  nlohmann::json j = r.ToJson(with_claims);
  absl::Duration age = now - r.attested_at;
  if (age < absl::ZeroDuration()) age = absl::ZeroDuration();
  j["state"] = age <= freshness ? "fresh" : "stale";
  j["age_seconds"] = absl::ToInt64Seconds(age);
  return j;
}

}  // namespace

HttpReply RestApi::ListNodes(const HttpRequest& /*request*/) const {
  const admission::fleet::FleetRegistry& fleet = *options_.fleet;
  if (!fleet.Available()) {
    return Problem(503, kReasonFleetUnavailable,
                   "the fleet registry view is not current (shared store not synced)", 5);
  }
  const absl::Time now = clock_.Now();
  const absl::Duration freshness = fleet.options().freshness;
  nlohmann::json nodes = nlohmann::json::array();
  for (const auto& r : fleet.Snapshot()) nodes.push_back(NodeJson(*r, now, freshness, false));
  return JsonDocument({{"freshness_seconds", absl::ToInt64Seconds(freshness)},
                       {"now", FormatRfc3339(now)},
                       {"store", fleet.store().Describe()},
                       {"nodes", std::move(nodes)}});
}

HttpReply RestApi::GetNode(const HttpRequest& request) const {
  const admission::fleet::FleetRegistry& fleet = *options_.fleet;
  const std::string& name = request.path_param;
  if (!core::IsDnsSubdomain(name)) {
    return Problem(400, kReasonInvalidNodeName,
                   "a node name is an RFC 1123 subdomain (lower-case alphanumerics, '-', '.')");
  }
  const admission::fleet::NodeLookup l = fleet.Find(name);
  switch (l.state) {
    case admission::fleet::NodeState::kUnavailable:
      return Problem(503, kReasonFleetUnavailable,
                     "the fleet registry view is not current (shared store not synced)", 5);
    case admission::fleet::NodeState::kMissing:
      return Problem(404, kReasonNodeNotFound, absl::StrCat("no attestation record for node ", name));
    case admission::fleet::NodeState::kFresh:
    case admission::fleet::NodeState::kStale:
      break;
  }
  return JsonDocument(NodeJson(*l.record, clock_.Now(), fleet.options().freshness, true));
}

HttpReply RestApi::Challenge(const HttpRequest& request) const {
  attestation::v1::GetChallengeRequest body;
  if (auto problem = ParseJsonBody(request, &body, /*allow_empty=*/true)) return *problem;
  attestation::v1::Challenge challenge;
  int64_t retry_after = 0;
  const grpc::Status st = service_.DoGetChallenge(request.peer, &challenge, &retry_after);
  if (!st.ok()) return ProblemFromStatus(st, "", retry_after);
  return JsonReply(challenge);
}

HttpReply RestApi::Attest(const HttpRequest& request) const {
  attestation::v1::AttestRequest body;
  if (auto problem = ParseJsonBody(request, &body)) return *problem;
  attestation::v1::AttestResponse response;
  int64_t retry_after = 0;
  const grpc::Status st = service_.DoAttest(body, request.peer, &response, &retry_after);
  if (!st.ok()) {
    const std::string message = st.error_message();  // by value in gRPC 1.51
    return ProblemFromStatus(st, LeadingReason(message), retry_after);
  }
  return JsonReply(response);
}

HttpReply RestApi::VerifyToken(const HttpRequest& request) const {
  if (auto problem = CheckJsonBody(request, /*allow_empty=*/false)) return *problem;
  // Shape-checked above (an object, no duplicates, bounded depth).
  const json body = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object()) return Problem(400, kReasonMalformedJson, "the body must be an object");
  std::string jwt;
  std::string issuer = options_.issuer;
  std::optional<std::string> audience;
  for (const auto& [name, value] : body.items()) {
    if (name != "token" && name != "issuer" && name != "audience") {
      return Problem(400, kReasonUnknownField,
                     absl::StrCat("tokens:verify: unknown member ", Dump(json(Clip(name))),
                                  " (token, issuer, audience)"));
    }
    if (!value.is_string()) {
      return Problem(400, kReasonInvalidField,
                     absl::StrCat("tokens:verify: ", name, " must be a string"));
    }
    if (name == "token") jwt = value.get<std::string>();
    if (name == "issuer") issuer = value.get<std::string>();
    if (name == "audience") audience = value.get<std::string>();
  }
  if (jwt.empty()) {
    return Problem(400, kReasonInvalidField, "tokens:verify: token is missing");
  }
  if (jwt.size() > token::kMaxTokenBytes) {
    return Problem(400, kReasonInvalidField, "tokens:verify: token is too long");
  }
  if (issuer.empty() || (audience.has_value() && audience->empty())) {
    return Problem(400, kReasonInvalidField, "tokens:verify: issuer and audience must not be empty");
  }

  // Signature (our JWKS: current and previous keys), kid, exp / nbf.
  const json jwks = json::parse(keys_.JwksJson(), nullptr, /*allow_exceptions=*/false);
  absl::StatusOr<json> claims =
      token::VerifyToken(jwt, jwks, clock_.Now(), options_.token_leeway);
  if (!claims.ok()) {
    const absl::Status& s = claims.status();
    std::string_view reason = kReasonTokenMalformed;
    if (s.code() == absl::StatusCode::kNotFound) {
      reason = kReasonTokenUnknownKey;
    } else if (s.code() == absl::StatusCode::kUnauthenticated) {
      const std::string_view m(s.message().data(), s.message().size());
      reason = m.find("expired") != std::string_view::npos       ? kReasonTokenExpired
               : m.find("not valid before") != std::string_view::npos ? kReasonTokenNotYetValid
                                                                      : kReasonTokenBadSignature;
    }
    return Problem(401, reason, std::string(s.message()), 0, grpc::StatusCode::UNAUTHENTICATED);
  }
  // iss, then aud, with the library's rules (CheckClaims): an exact iss;
  // aud must contain `audience`, and a token that has an aud is refused when
  // no audience is named. ear.status is not judged here: the claims are
  // returned for the caller to judge (a contraindicated token verifies).
  json projection = json::object();
  projection["ear.status"] = "affirming";
  if (claims->contains("iss")) projection["iss"] = (*claims)["iss"];
  token::TokenClaimChecks checks;
  checks.issuer = issuer;
  if (absl::Status s = token::CheckClaims(projection, checks); !s.ok()) {
    return Problem(401, kReasonTokenWrongIssuer, std::string(s.message()), 0,
                   grpc::StatusCode::UNAUTHENTICATED);
  }
  if (claims->contains("aud")) projection["aud"] = (*claims)["aud"];
  checks.audience = audience;
  if (absl::Status s = token::CheckClaims(projection, checks); !s.ok()) {
    return Problem(401, kReasonTokenWrongAudience, std::string(s.message()), 0,
                   grpc::StatusCode::UNAUTHENTICATED);
  }
  json out;
  out["claims"] = *std::move(claims);
  return HttpReply{200, "application/json", Dump(out)};
}

}  // namespace rp::server
