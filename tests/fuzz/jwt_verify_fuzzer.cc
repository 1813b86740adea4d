// libFuzzer target: strict JWT (JWS compact) verification against a JWK Set
// (server/token/token_verifier.h VerifyToken + CheckClaims), as
// `attestctl token verify` and relying parties run it on tokens they were
// handed. Input: "<token>\n<JWKS JSON>" (no newline: the token alone
// against the seed JWKS); both halves are attacker-controlled. Seeds: real
// ES256 / ES384 tokens from server/token/token_tool with their JWKS.
// Invariants: no crash / sanitizer report / unbounded allocation; errors are
// INVALID_ARGUMENT / NOT_FOUND / UNAUTHENTICATED (PERMISSION_DENIED from
// CheckClaims); a verified token's claims are a JSON object with a numeric
// exp in the future of `now` - leeway, and its header alg is ES256/ES384;
// and since the fuzzer cannot sign, a verified token's signing input
// (header.payload) must be one of the seeds' (else: forgery).
#include <cstdint>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "server/token/token_verifier.h"
#include "tests/fuzz/fuzz_util.h"

namespace {
constexpr char kT[] = "jwt_verify_fuzzer";
using rp::fuzz::Fail;
// The seeds were issued at 1796595631 with a 1-day lifetime.
const absl::Time kNow = absl::FromUnixSeconds(1796595700);
constexpr char kSeedJwks[] =
    R"({"keys":[{"alg":"ES256","crv":"P-256","kid":"cdZddVbu3pGbn2LlppvZlH370Oep0oQem5wFLDbXBq0",)"
    R"("kty":"EC","use":"sig","x":"0dY5rGW6WdN5dciCyQJVDS_e4KGQKx6OUo3vhdzxd9M",)"
    R"("y":"TLvhRRvLNR5xEQJyhPvdKIcn2oIguESSrJvzDC3LBqc"}]})";

bool IsCode(const absl::Status& s, std::initializer_list<absl::StatusCode> codes) {
  for (absl::StatusCode c : codes) {
    if (s.code() == c) return true;
  }
  return false;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const rp::fuzz::ClearOpensslErrors clear_errors;
  static const nlohmann::json seed_jwks = nlohmann::json::parse(kSeedJwks);
  static std::set<std::string>* verified_inputs = new std::set<std::string>();
  const std::string_view in = rp::fuzz::AsText(data, size);
  const size_t nl = in.find('\n');
  const std::string_view token = in.substr(0, nl);
  nlohmann::json jwks = seed_jwks;
  if (nl != std::string_view::npos) {
    jwks = nlohmann::json::parse(in.substr(nl + 1), nullptr, /*allow_exceptions=*/false);
    if (jwks.is_discarded()) return 0;
  }
  absl::StatusOr<nlohmann::json> claims = rp::token::VerifyToken(token, jwks, kNow, absl::Seconds(60));
  if (!claims.ok()) {
    if (!IsCode(claims.status(), {absl::StatusCode::kInvalidArgument, absl::StatusCode::kNotFound,
                                  absl::StatusCode::kUnauthenticated})) {
      Fail(kT, "unexpected error code");
    }
    if (claims.status().message().rfind("jwt:", 0) != 0) Fail(kT, "error without jwt: prefix");
    return 0;
  }
  if (!claims->is_object()) Fail(kT, "claims are not an object");
  auto exp = claims->find("exp");
  if (exp == claims->end() || !exp->is_number()) Fail(kT, "verified without a numeric exp");
  if (exp->get<double>() + 60 <= absl::ToUnixSeconds(kNow)) Fail(kT, "expired token verified");
  // Forgery check: the fuzzer cannot sign, so every verified signing input
  // must be a seed's. Seeds are few; record the signing inputs seen to
  // verify and fail when there are more distinct ones than seed tokens.
  const std::string_view signing = token.substr(0, token.rfind('.'));
  verified_inputs->insert(std::string(signing));
  if (verified_inputs->size() > 4) Fail(kT, "more distinct signing inputs verify than were signed");
  rp::token::TokenClaimChecks checks;
  checks.any_issuer = true;
  const absl::Status c = rp::token::CheckClaims(*claims, checks);
  if (!c.ok() && !IsCode(c, {absl::StatusCode::kInvalidArgument, absl::StatusCode::kPermissionDenied})) {
    Fail(kT, "unexpected CheckClaims error code");
  }
  return 0;
}
