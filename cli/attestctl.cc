// attestctl: challenge, attest (online), verify (offline, same pipeline),
// token verify, jwks, simulate, collateral fetch|warm|export|ls,
// resource put|ls|rm|init-key.
//
// Exit codes: 0 accepted (verdict affirming; warning too with --accept
// warning), 1 rejected (contraindicated, or warning without --accept
// warning; reasons printed), 2 bad input, usage or transport error.
#include <grpcpp/grpcpp.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "attestation/v1/attestation.grpc.pb.h"
#include "cli/bundle_io.h"
#include "appraisal/collateral_stack.h"
#include "cli/http_get.h"
#include "cli/policy_cmd.h"
#include "cli/render.h"
#include "cli/simulate.h"
#include "google/protobuf/util/json_util.h"
#include "appraisal/engine.h"
#include "appraisal/registry_factory.h"
#include "policy/yaml_json.h"
#include "verifier/core/runtime_claims.h"
#include "attestation/v1/key_release.grpc.pb.h"
#include "release/jwe.h"
#include "release/pkcs11_store.h"
#include "release/secret_store.h"
#include "server/token/token_verifier.h"
#include "verifier/collateral/source.h"
#include "verifier/common/clock.h"
#include "verifier/common/encoding.h"
#include "verifier/crypto/digest.h"

namespace {

constexpr int kAccepted = 0;
constexpr int kRejected = 1;
constexpr int kBadInput = 2;

const char kUsage[] =
    "usage: attestctl <command> [options]\n"
    "  challenge [--server ADDR] [--out FILE]\n"
    "  attest --evidence BUNDLE.json --challenge CHALLENGE.json [--server ADDR] [--policy NAME]\n"
    "         [--audience AUD] [--json] [--token-out FILE] [--result-out FILE]\n"
    "         [--accept affirming|warning]\n"
    "         (--result-out: the full result exactly as the response carries it, canonical\n"
    "          JSON whose SHA-256 is the token's appraisal_sha256)\n"
    "         (--audience: the token's aud, one of the server's token.audiences; required\n"
    "          when the server lists any, refused when it lists none)\n"
    "  release --resource REPO/TYPE/TAG --tee-key TEE_KEY.pem --out SECRET_FILE [--server ADDR]\n"
    "          (--token TOKEN|@FILE | --evidence BUNDLE.json --challenge CHALLENGE.json\n"
    "           [--policy NAME] [--audience AUD]) [--jwe-out FILE]\n"
    "          # key release: the JWE is decrypted with the TEE key; exit 1 when denied\n"
    "  verify --evidence BUNDLE.json [--nonce HEX | --challenge CHALLENGE.json | --no-freshness]\n"
    "         [--collateral DIR] [--policy FILE] [--at RFC3339] [--accept affirming|warning]\n"
    "         [--trust-simulation DIR] [--kds-url URL] [--pcs-url URL] [--ocsp-url URL]\n"
    "         [--cache-dir DIR] [--offline] [--json]\n"
    "         (the expected nonce is --nonce (32 bytes hex) or the challenge's; a nonce only\n"
    "          the bundle names is never trusted: without either the evidence is rejected.\n"
    "          --no-freshness checks third-party evidence without a nonce of ours: freshness\n"
    "          not-checked, the verdict at best warning)\n"
    "  collateral fetch --evidence BUNDLE --cache-dir DIR [--kds-url URL] [--collateral DIR]\n"
    "                   [--at RFC3339] [--kds-rate PER_S] [--kds-burst N] [--max-wait S]\n"
    "  collateral warm BUNDLE... --cache-dir DIR [same options as fetch]\n"
    "                   (waits up to --max-wait seconds, default 30, for the upstream's rate limit)\n"
    "  collateral export OUT_DIR --cache-dir DIR   (offline bundle: the cache without sidecars)\n"
    "  collateral ls --cache-dir DIR\n"
    "  token verify TOKEN|@FILE --jwks FILE|URL (--issuer ISS | --any-issuer) [--audience AUD]\n"
    "               [--accept affirming|warning] [--at RFC3339] [--result RESULT_FILE]\n"
    "              (iss must equal --issuer, the server's token.issuer; a token with aud needs\n"
    "               a matching --audience; ear.status must be accepted; with --result, the\n"
    "               file's SHA-256 must be the token's appraisal_sha256)\n"
    "  policy check FILE   (validate; prints OK <id> <version> sha256=<hex>; exit 0 / 2)\n"
    "  policy eval --policy FILE --result RESULT.json|CLAIMS.json|TOKEN.jwt\n"
    "              (dry-run release rules; exit 0 all allowed, 1 any denied, 2 error)\n"
    "  jwks [--server ADDR]\n"
    "  fleet ls [--http URL] [--json]         (the fleet node registry: GET URL/v1/nodes)\n"
    "  fleet show NODE [--http URL]          (one node's record with its token claims;\n"
    "            exit 1 when the registry has no record for NODE)\n"
    "            URL is the server's HTTP port, default http://127.0.0.1:8080; https:// with\n"
    "            --tls-ca FILE\n"
    "  simulate init --sim-dir DIR   (all simulation roots; collateral in DIR/collateral)\n"
    "  simulate --challenge CHALLENGE.json --sim-dir DIR --out BUNDLE.json [--tee-key-out FILE]\n"
    "           [--tee-key-type P-256|P-384|P-521|RSA-3072]\n"
    "           [--tee snp|tdx] [--gpus 0..8] [--gpu-mode cc|ppcie|off] [--debug] [--vmpl N]\n"
    "           [--runtime-claims FILE|JSON]   (binding attest-v2 over a flat object of strings,\n"
    "            e.g. '{\"node\":\"gpu-node-1\"}'; docs/binding.md)\n"
    "           (SNP: Milan; GPUs: H100; verify with --trust-simulation DIR\n"
    "            --collateral DIR/collateral)\n"
    "  resource put RESOURCE --in FILE|- STORE     (admin: store a secret; never printed)\n"
    "  resource ls STORE | resource rm RESOURCE STORE\n"
    "  resource init-key --pkcs11-config FILE      (create the non-extractable wrapping key)\n"
    "           STORE is --store-dir DIR (plaintext files, development) or --pkcs11-config FILE,\n"
    "           a YAML/JSON file (the server's key_release.store block; relative paths are\n"
    "           relative to the file):\n"
    "             type: pkcs11          # optional here\n"
    "             dir: records          # envelope files (AES-256-GCM, HSM-wrapped data keys)\n"
    "             pkcs11: {module: /usr/lib/softhsm/libsofthsm2.so, token_label: rp-release,\n"
    "                      pin_file: hsm.pin (mode 0600), key_label: rp-release-wrap}\n"
    "           RESOURCE is <repository>/<type>/<tag>, e.g. kms/model-key/v1\n"
    "common: --tls-ca FILE [--tls-cert FILE --tls-key FILE] for a TLS server\n"
    "exit codes: 0 accepted (affirming; also warning with --accept warning), 1 rejected\n"
    "            (contraindicated, or warning without --accept warning), 2 bad input / usage /\n"
    "            transport error\n";

// --name value pairs and positional arguments; flags without a value are
// the ones listed in `bool_flags`.
struct Args {
  std::map<std::string, std::string> flags;
  std::vector<std::string> positional;
  std::string error;

  bool Has(const std::string& k) const { return flags.count(k) > 0; }
  std::string Get(const std::string& k, const std::string& def = "") const {
    auto it = flags.find(k);
    return it == flags.end() ? def : it->second;
  }
};

Args Parse(int argc, char** argv, int start, const std::vector<std::string>& bool_flags) {
  Args a;
  for (int i = start; i < argc; ++i) {
    std::string s = argv[i];
    if (absl::StartsWith(s, "--")) {
      std::string name = s.substr(2);
      if (std::find(bool_flags.begin(), bool_flags.end(), name) != bool_flags.end()) {
        a.flags[name] = "true";
      } else if (i + 1 < argc) {
        a.flags[name] = argv[++i];
      } else {
        a.error = absl::StrCat("flag --", name, " needs a value");
      }
    } else {
      a.positional.push_back(s);
    }
  }
  return a;
}

int Fail(const std::string& msg, int code = kBadInput) {
  std::cerr << "attestctl: " << msg << "\n";
  return code;
}

int Fail(const absl::Status& st, int code = kBadInput) {
  return Fail(absl::StrCat(absl::StatusCodeToString(st.code()), ": ", st.message()), code);
}

std::string ReadAll(const std::string& path) {
  auto t = rp::ReadSmallFile(path, 1024 * 1024);
  return t.ok() ? *t : "";
}

std::shared_ptr<grpc::Channel> MakeChannel(const Args& a) {
  std::string server = a.Get("server", "127.0.0.1:50051");
  if (!a.Has("tls-ca")) return grpc::CreateChannel(server, grpc::InsecureChannelCredentials());
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = ReadAll(a.Get("tls-ca"));
  if (a.Has("tls-cert")) {
    o.pem_cert_chain = ReadAll(a.Get("tls-cert"));
    o.pem_private_key = ReadAll(a.Get("tls-key"));
  }
  return grpc::CreateChannel(server, grpc::SslCredentials(o));
}

int GrpcFail(const grpc::Status& st) {
  return Fail(absl::StrCat("rpc failed: ", st.error_code(), " ", st.error_message()));
}

int CmdChallenge(const Args& a) {
  auto stub = attestation::v1::AttestationService::NewStub(MakeChannel(a));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  attestation::v1::Challenge ch;
  grpc::Status st = stub->GetChallenge(&ctx, attestation::v1::GetChallengeRequest(), &ch);
  if (!st.ok()) return GrpcFail(st);
  std::string json = rp::cli::ChallengeToJson(ch);
  if (a.Has("out")) {
    if (auto w = rp::cli::WriteFile(a.Get("out"), json); !w.ok()) return Fail(w);
  } else {
    std::cout << json;
  }
  return kAccepted;
}

// --accept affirming (default) | warning: the worst verdict that exits 0.
absl::StatusOr<bool> AcceptWarning(const Args& a) {
  const std::string accept = a.Get("accept", "affirming");
  if (accept == "affirming") return false;
  if (accept == "warning") return true;
  return absl::InvalidArgumentError(
      absl::StrCat("--accept must be affirming or warning, not '", accept, "'"));
}

int VerdictExit(const std::string& verdict, bool accept_warning) {
  if (verdict == "affirming") return kAccepted;
  if (verdict == "warning") {
    if (accept_warning) return kAccepted;
    std::cerr << "attestctl: verdict warning is not accepted (pass --accept warning to accept "
                 "it)\n";
    return kRejected;
  }
  return kRejected;
}

int CmdAttest(const Args& a) {
  if (!a.Has("evidence") || !a.Has("challenge")) return Fail(kUsage);
  auto accept_warning = AcceptWarning(a);
  if (!accept_warning.ok()) return Fail(accept_warning.status());
  auto bundle = rp::cli::ReadBundleFile(a.Get("evidence"));
  if (!bundle.ok()) return Fail(bundle.status());
  auto challenge = rp::cli::ReadChallengeFile(a.Get("challenge"));
  if (!challenge.ok()) return Fail(challenge.status());
  attestation::v1::AttestRequest req;
  *req.mutable_challenge() = *challenge;
  *req.mutable_evidence() = *bundle;
  req.mutable_evidence()->clear_nonce();  // online the nonce comes from the challenge
  req.set_policy(a.Get("policy"));
  req.set_audience(a.Get("audience"));
  auto stub = attestation::v1::AttestationService::NewStub(MakeChannel(a));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  attestation::v1::AttestResponse resp;
  grpc::Status st = stub->Attest(&ctx, req, &resp);
  if (!st.ok()) return GrpcFail(st);
  nlohmann::json result = rp::cli::ResponseToResultJson(resp);
  if (a.Has("token-out") && !resp.token().empty()) {
    if (auto w = rp::cli::WriteFile(a.Get("token-out"), resp.token()); !w.ok()) return Fail(w);
  }
  if (a.Has("result-out") && !resp.result_json().empty()) {
    if (auto w = rp::cli::WriteFile(a.Get("result-out"), resp.result_json()); !w.ok()) {
      return Fail(w);
    }
  }
  if (a.Has("json")) {
    std::cout << result.dump(2) << "\n";
  } else {
    rp::cli::PrintHuman(result, std::cout);
    if (!resp.token().empty()) std::cout << "token: " << resp.token() << "\n";
  }
  return VerdictExit(result.value("verdict", ""), *accept_warning);
}

// The workload side of key release: get the JWE (with a token we hold, or
// attesting in the same call) and decrypt it with the TEE private key. The
// secret is written 0600 and never printed.
int CmdRelease(const Args& a) {
  if (!a.Has("resource") || !a.Has("tee-key") || !a.Has("out")) return Fail(kUsage);
  const bool with_token = a.Has("token");
  const bool with_evidence = a.Has("evidence") || a.Has("challenge");
  if (with_token == with_evidence || (with_evidence && !(a.Has("evidence") && a.Has("challenge")))) {
    return Fail("release: give --token TOKEN|@FILE, or --evidence BUNDLE.json --challenge C.json");
  }
  auto key_pem = rp::ReadSmallFile(a.Get("tee-key"), 64 * 1024);
  if (!key_pem.ok()) return Fail(key_pem.status());
  auto stub = attestation::v1::KeyReleaseService::NewStub(MakeChannel(a));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  attestation::v1::ReleaseResponse resp;
  grpc::Status st;
  if (with_token) {
    std::string token = a.Get("token");
    if (absl::StartsWith(token, "@")) {
      auto t = rp::ReadSmallFile(token.substr(1), 256 * 1024);
      if (!t.ok()) return Fail(t.status());
      token = std::string(absl::StripAsciiWhitespace(*t));
    }
    attestation::v1::ReleaseRequest req;
    req.set_token(token);
    req.set_resource(a.Get("resource"));
    st = stub->Release(&ctx, req, &resp);
  } else {
    auto bundle = rp::cli::ReadBundleFile(a.Get("evidence"));
    if (!bundle.ok()) return Fail(bundle.status());
    auto challenge = rp::cli::ReadChallengeFile(a.Get("challenge"));
    if (!challenge.ok()) return Fail(challenge.status());
    attestation::v1::AttestAndReleaseRequest req;
    *req.mutable_challenge() = *challenge;
    *req.mutable_evidence() = *bundle;
    req.mutable_evidence()->clear_nonce();
    req.set_resource(a.Get("resource"));
    req.set_policy(a.Get("policy"));
    req.set_audience(a.Get("audience"));
    st = stub->AttestAndRelease(&ctx, req, &resp);
  }
  if (!st.ok()) {
    // A denial is a verdict on the request (exit 1); transport trouble is 2.
    const auto c = st.error_code();
    if (c == grpc::StatusCode::PERMISSION_DENIED || c == grpc::StatusCode::UNAUTHENTICATED ||
        c == grpc::StatusCode::NOT_FOUND) {
      std::cerr << "attestctl: release denied: " << st.error_message() << "\n";
      return kRejected;
    }
    return GrpcFail(st);
  }
  if (a.Has("jwe-out")) {
    // The JWE as received (for an independent decryption check).
    if (auto w = rp::cli::WriteFile(a.Get("jwe-out"), resp.jwe()); !w.ok()) return Fail(w);
  }
  rp::release::DecryptOptions opts;
  opts.expected_members = {{"resource", a.Get("resource")}};
  auto plain = rp::release::Decrypt(resp.jwe(), *key_pem, opts);
  if (!plain.ok()) return Fail(plain.status());
  const std::string secret(plain->plaintext.AsStringView());
  if (auto w = rp::cli::WritePrivateFile(a.Get("out"), secret); !w.ok()) return Fail(w);
  std::cerr << "released " << a.Get("resource") << ": " << plain->plaintext.size()
            << " bytes written to " << a.Get("out") << " (0600); jwe " << plain->alg
            << ", kid " << plain->kid << ", ear_jti " << plain->protected_strings["ear_jti"]
            << "\n";
  return kAccepted;
}

attestation::v1::CollateralConfig CollateralConfigFromFlags(const Args& a) {
  attestation::v1::CollateralConfig c;
  c.set_kds_base_url(a.Get("kds-url"));  // "" = the AMD default
  c.set_cache_dir(a.Get("cache-dir"));
  c.set_intel_pcs_base_url(a.Get("pcs-url"));  // "" = Intel's PCS
  c.set_nvidia_ocsp_url(a.Get("ocsp-url"));    // "" = NVIDIA's responder
  if (a.Has("offline")) c.set_offline(true);
  double v = 0;
  if (a.Has("kds-rate") && absl::SimpleAtod(a.Get("kds-rate"), &v) && v > 0) {
    c.mutable_kds()->set_rate_per_second(v);
  }
  if (a.Has("kds-burst") && absl::SimpleAtod(a.Get("kds-burst"), &v) && v >= 1) {
    c.mutable_kds()->set_burst(v);
  }
  return c;
}

// Batch prefetch waits for the upstream's rate limit instead of failing
// (--max-wait SECONDS, default 30 per request).
attestation::v1::CollateralConfig PrefetchConfigFromFlags(const Args& a) {
  attestation::v1::CollateralConfig c = CollateralConfigFromFlags(a);
  int64_t wait_s = 30;
  if (a.Has("max-wait") && (!absl::SimpleAtoi(a.Get("max-wait"), &wait_s) || wait_s < 0)) {
    wait_s = 30;
  }
  c.mutable_kds()->set_max_token_wait_ms(wait_s * 1000);
  return c;
}

// The nonce this caller issued: --nonce HEX (32 bytes) or the nonce of
// --challenge FILE (as `attestctl challenge` writes it; its MAC is the
// server's business and not checked here). At most one of them or
// --no-freshness. Without any, there is no expected nonce and the engine
// reports freshness as not performed (a rejection); a nonce only the bundle
// names is never trusted. A nonce the bundle names must equal the expected
// one: evidence for another challenge is bad input, not a verdict.
absl::StatusOr<std::optional<rp::Bytes>> ExpectedNonce(
    const Args& a, const attestation::v1::EvidenceBundle& bundle) {
  const int sources = int{a.Has("nonce")} + int{a.Has("challenge")} + int{a.Has("no-freshness")};
  if (sources > 1) {
    return absl::InvalidArgumentError(
        "--nonce, --challenge and --no-freshness are mutually exclusive");
  }
  if (sources == 0) {
    std::cerr << "attestctl: no --nonce or --challenge: freshness cannot be checked and the "
                 "evidence is rejected (--no-freshness checks third-party evidence without "
                 "it, at best a warning)\n";
  }
  if (!a.Has("nonce") && !a.Has("challenge")) return std::optional<rp::Bytes>();
  rp::Bytes nonce;
  if (a.Has("nonce")) {
    auto decoded = rp::HexDecode(a.Get("nonce"));
    if (!decoded.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--nonce: ", decoded.status().message()));
    }
    nonce = *decoded;
  } else {
    auto challenge = rp::cli::ReadChallengeFile(a.Get("challenge"));
    if (!challenge.ok()) return challenge.status();
    nonce = rp::Bytes(challenge->nonce().begin(), challenge->nonce().end());
  }
  if (nonce.size() != 32) {
    return absl::InvalidArgumentError(absl::StrCat(
        a.Has("nonce") ? "--nonce" : "challenge nonce", " is ", nonce.size(),
        " bytes, expected 32"));
  }
  if (!bundle.nonce().empty()) {
    auto named = rp::HexDecode(bundle.nonce());
    if (!named.ok() || *named != nonce) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the bundle names nonce ", bundle.nonce(), ", not the expected ",
          rp::HexEncode(nonce)));
    }
  }
  return std::optional<rp::Bytes>(std::move(nonce));
}

int CmdVerify(const Args& a) {
  if (!a.Has("evidence")) return Fail(kUsage);
  auto accept_warning = AcceptWarning(a);
  if (!accept_warning.ok()) return Fail(accept_warning.status());
  auto bundle = rp::cli::ReadBundleFile(a.Get("evidence"));
  if (!bundle.ok()) return Fail(bundle.status());
  auto expected_nonce = ExpectedNonce(a, *bundle);
  if (!expected_nonce.ok()) return Fail(expected_nonce.status());
  absl::Time at = absl::Now();
  if (a.Has("at")) {
    auto t = rp::ParseTime(a.Get("at"));
    if (!t.ok()) return Fail(t.status());
    at = *t;
  }
  rp::policy::LoadedPolicy policy = rp::policy::DefaultPolicy();
  if (a.Has("policy")) {
    auto p = rp::policy::LoadPolicyFile(a.Get("policy"));
    if (!p.ok()) return Fail(p.status());
    policy = *p;
  }
  attestation::v1::SimulationConfig sim;
  if (a.Has("trust-simulation")) {
    sim.set_trust_simulation_root(true);
    sim.set_dir(a.Get("trust-simulation"));
  }
  // Without online flags the stack is offline: --collateral only (and the
  // OCSP responses under its nvidia/ocsp/), never the network.
  attestation::v1::CollateralConfig cc = CollateralConfigFromFlags(a);
  if (!(a.Has("kds-url") || a.Has("cache-dir") || a.Has("pcs-url") || a.Has("ocsp-url"))) {
    cc.set_offline(true);
  }
  auto stack = rp::appraisal::BuildCollateralStack(cc, a.Get("collateral"), at);
  if (!stack.ok()) return Fail(stack.status());
  std::shared_ptr<const rp::collateral::CollateralSource> source = stack->source;
  std::shared_ptr<const rp::collateral::OcspFetcher> ocsp = stack->ocsp;
  rp::appraisal::RegistryOptions registry_options;
  registry_options.offline = cc.offline();
  registry_options.nvidia_ocsp_url = stack->nvidia_ocsp_url;
  auto registry = rp::appraisal::MakeDefaultRegistry(sim, registry_options);
  if (!registry.ok()) return Fail(registry.status());
  auto engine = rp::appraisal::Engine::Create(std::move(*registry), source, ocsp);
  if (!engine.ok()) return Fail(engine.status());
  rp::appraisal::RunOptions run_options;
  run_options.at = at;
  run_options.expected_nonce = *expected_nonce;
  run_options.allow_no_freshness = a.Has("no-freshness");
  auto appraisal = (*engine)->Run(*bundle, policy, run_options);
  if (!appraisal.ok()) return Fail(appraisal.status());
  nlohmann::json result = appraisal->ToJson();
  result["verification_time"] = rp::FormatRfc3339(at);
  if (a.Has("json")) {
    std::cout << result.dump(2) << "\n";
  } else {
    std::cout << "verification time: " << rp::FormatRfc3339(at) << "\n";
    rp::cli::PrintHuman(result, std::cout);
  }
  return VerdictExit(result.value("verdict", ""), *accept_warning);
}

int CmdTokenVerify(const Args& a) {
  if (a.positional.size() != 1 || !a.Has("jwks")) return Fail(kUsage);
  // What the token must say; checked before anything is read or fetched.
  rp::token::TokenClaimChecks checks;
  checks.issuer = a.Get("issuer");
  checks.any_issuer = a.Has("any-issuer");
  if (a.Has("audience")) checks.audience = a.Get("audience");
  auto accept_warning = AcceptWarning(a);
  if (!accept_warning.ok()) return Fail(accept_warning.status());
  if (*accept_warning) checks.accept_statuses.push_back("warning");
  if (a.Has("issuer") && checks.issuer.empty()) return Fail("--issuer must not be empty");
  if (auto st = rp::token::ValidateClaimChecks(checks); !st.ok()) {
    return Fail(absl::StrCat(st.message(), " (--issuer ISS or --any-issuer)\n", kUsage));
  }
  std::string token = a.positional[0];
  if (absl::StartsWith(token, "@")) {
    auto t = rp::ReadSmallFile(token.substr(1), 256 * 1024);
    if (!t.ok()) return Fail(t.status());
    token = std::string(absl::StripAsciiWhitespace(*t));
  }
  std::string jwks_src = a.Get("jwks");
  absl::StatusOr<std::string> jwks_text =
      absl::StartsWith(jwks_src, "http://") || absl::StartsWith(jwks_src, "https://")
          ? rp::cli::HttpGet(jwks_src, 1024 * 1024, absl::Seconds(10))
          : rp::ReadSmallFile(jwks_src, 1024 * 1024);
  if (!jwks_text.ok()) return Fail(jwks_text.status());
  nlohmann::json jwks = nlohmann::json::parse(*jwks_text, nullptr, false);
  if (jwks.is_discarded()) return Fail("JWKS is not valid JSON");
  absl::Time at = absl::Now();
  if (a.Has("at")) {
    auto t = rp::ParseTime(a.Get("at"));
    if (!t.ok()) return Fail(t.status());
    at = *t;
  }
  // Signature, kid and validity first, then what the claims say. Claims
  // reach stdout only for an accepted token.
  auto claims = rp::token::VerifyToken(token, jwks, at, absl::Seconds(60));
  if (!claims.ok()) return Fail(claims.status(), kRejected);
  if (auto st = rp::token::CheckClaims(*claims, checks); !st.ok()) {
    const auto reasons = claims->find("reasons");
    std::cerr << "attestctl: token signature, kid and validity OK, but not accepted: "
              << st.message() << " (ear.status "
              << (claims->contains("ear.status") ? (*claims)["ear.status"].dump() : "missing")
              << (reasons != claims->end() ? ", reasons " + reasons->dump() : "") << ")\n";
    return kRejected;
  }
  // --result: the full result (attest --result-out, the response's
  // result_json) must be the one the token vouches for, byte for byte.
  if (a.Has("result")) {
    auto result = rp::ReadSmallFile(a.Get("result"), 64 * 1024 * 1024);
    if (!result.ok()) return Fail(result.status());
    const std::string got = rp::HexEncode(rp::crypto::Sha256(rp::AsBytes(*result)));
    const auto want = claims->find("appraisal_sha256");
    if (want == claims->end() || !want->is_string() || want->get<std::string>() != got) {
      std::cerr << "attestctl: the result file's SHA-256 " << got << " is not the token's "
                << "appraisal_sha256 "
                << (want == claims->end() ? std::string("(missing)") : want->dump()) << "\n";
      return kRejected;
    }
  }
  std::cout << claims->dump(2) << "\n";
  std::cerr << "token signature, kid, validity, iss"
            << (checks.audience.has_value() ? ", aud" : "")
            << (a.Has("result") ? ", appraisal_sha256 of the result" : "")
            << " OK; ear.status = " << claims->value("ear.status", "?") << "; token_profile = "
            << claims->value("token_profile", "(none)") << "\n";
  return kAccepted;
}

int CmdJwks(const Args& a) {
  auto stub = attestation::v1::AttestationService::NewStub(MakeChannel(a));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  attestation::v1::Jwks jwks;
  grpc::Status st = stub->GetJwks(&ctx, attestation::v1::GetJwksRequest(), &jwks);
  if (!st.ok()) return GrpcFail(st);
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.add_whitespace = true;
  o.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(jwks, &out, o);
  std::cout << out;
  return kAccepted;
}

int CmdSimulate(const Args& a) {
  if (!a.Has("sim-dir")) return Fail(kUsage);
  auto roots = rp::sim::LoadOrCreateSimulationRoots(a.Get("sim-dir"));
  if (!roots.ok()) return Fail(roots.status());
  if (!a.positional.empty() && a.positional[0] == "init") {
    std::cout << "simulation roots ready in " << a.Get("sim-dir")
              << (rp::sim::CompositeSimulationAvailable()
                      ? " (SEV-SNP, TDX, GPU, RIM; collateral in " + roots->CollateralDir() + ")"
                      : " (SEV-SNP only: this build has no TDX / GPU simulation)")
              << "\n";
    return kAccepted;
  }
  if (!a.Has("challenge") || !a.Has("out")) return Fail(kUsage);
  auto challenge = rp::cli::ReadChallengeFile(a.Get("challenge"));
  if (!challenge.ok()) return Fail(challenge.status());
  rp::sim::NodeSimulationOptions opts;
  const std::string tee = a.Get("tee", "snp");
  if (tee == "snp") {
    opts.tee = rp::sim::SimulatedTee::kSnp;
  } else if (tee == "tdx") {
    opts.tee = rp::sim::SimulatedTee::kTdx;
  } else {
    return Fail(absl::StrCat("--tee must be snp or tdx, not '", tee, "'"));
  }
  if (!absl::SimpleAtoi(a.Get("gpus", "0"), &opts.gpus) || opts.gpus < 0 ||
      opts.gpus > rp::sim::kMaxSimulatedGpus) {
    return Fail(absl::StrCat("--gpus must be 0..", rp::sim::kMaxSimulatedGpus));
  }
  auto mode = rp::sim::ParseGpuMode(a.Get("gpu-mode", "cc"));
  if (!mode.ok()) return Fail(mode.status());
  opts.gpu_mode = *mode;
  opts.snp.debug = opts.tdx.debug = a.Has("debug");
  opts.snp.tee_key = opts.tdx.tee_key = a.Get("tee-key-type", rp::sim::kDefaultTeeKeyType);
  if (!absl::SimpleAtoi(a.Get("vmpl", "0"), &opts.snp.vmpl)) return Fail("--vmpl must be 0..3");
  if (a.Has("runtime-claims")) {
    // Inline JSON when it looks like an object, else a file of JSON.
    std::string text = a.Get("runtime-claims");
    if (text.empty() || text.front() != '{') {
      auto file = rp::ReadSmallFile(text, 2 * rp::core::kMaxRuntimeClaimsBytes);
      if (!file.ok()) return Fail(file.status());
      text = *std::move(file);
    }
    auto claims = rp::core::ParseRuntimeClaimsJson(text);
    if (!claims.ok()) return Fail(absl::StrCat("--runtime-claims: ", claims.status().message()));
    opts.snp.runtime_claims = opts.tdx.runtime_claims = *claims;
  }
  if ((opts.tee == rp::sim::SimulatedTee::kTdx || opts.gpus > 0) &&
      !rp::sim::CompositeSimulationAvailable()) {
    return Fail("this attestctl was built without TDX / GPU simulation (configure with "
                "BUILD_TESTING=ON); only --tee snp --gpus 0 is available");
  }
  auto ev = rp::sim::SimulateNode(*roots, challenge->nonce(), absl::Now(), opts);
  if (!ev.ok()) return Fail(ev.status());
  if (auto w = rp::cli::WriteFile(a.Get("out"), rp::cli::BundleToJson(ev->bundle)); !w.ok()) {
    return Fail(w);
  }
  if (a.Has("tee-key-out")) {
    // A private key: mode 0600 from creation on, never world-readable.
    if (auto w = rp::cli::WritePrivateFile(a.Get("tee-key-out"), ev->tee_private_key_pem);
        !w.ok()) {
      return Fail(w);
    }
  }
  std::cout << "simulated "
            << (opts.tee == rp::sim::SimulatedTee::kTdx ? "TDX" : "SEV-SNP (Milan)")
            << " evidence";
  if (opts.gpus > 0) {
    std::cout << " + " << opts.gpus << " H100 GPU(s) (mode " << a.Get("gpu-mode", "cc") << ")";
  }
  std::cout << ", bound with " << ev->bundle.binding() << " to nonce "
            << rp::HexEncode(rp::AsBytes(challenge->nonce())) << ", written to " << a.Get("out")
            << "\n";
  return kAccepted;
}

// Fetches every collateral item the bundles' reports need into the cache.
// One progress line per key; exit 2 when an item failed (not found is only
// reported: e.g. AMD publishes no Turin CRL).
int CmdCollateralFetch(const Args& a, const std::vector<std::string>& bundles) {
  if (bundles.empty() || !a.Has("cache-dir")) return Fail(kUsage);
  std::optional<absl::Time> at;
  if (a.Has("at")) {
    auto t = rp::ParseTime(a.Get("at"));
    if (!t.ok()) return Fail(t.status());
    at = *t;
  }
  auto stack = rp::appraisal::BuildCollateralStack(PrefetchConfigFromFlags(a), a.Get("collateral"), at);
  if (!stack.ok()) return Fail(stack.status());
  int failures = 0;
  for (const std::string& path : bundles) {
    auto bundle = rp::cli::ReadBundleFile(path);
    if (!bundle.ok()) return Fail(bundle.status());
    auto keys = rp::appraisal::SnpCollateralKeys(*bundle);
    if (!keys.ok()) return Fail(absl::StrCat(path, ": ", keys.status().message()));
    std::cout << path << ": " << keys->size() << " collateral items\n";
    for (const std::string& key : *keys) {
      auto item = stack->source->GetItem(key, rp::collateral::GetOptions{});
      if (!item.ok()) {
        ++failures;
        std::cout << "  error     " << key << ": " << item.status().message() << "\n";
      } else if (!item->has_value()) {
        std::cout << "  not found " << key << "\n";
      } else {
        std::cout << "  ok        " << key << " (" << (*item)->data.size() << " bytes, from "
                  << (*item)->source << ", fresh until " << rp::FormatRfc3339((*item)->fresh_until)
                  << ")\n";
      }
      std::cout.flush();
    }
  }
  return failures == 0 ? kAccepted : Fail(absl::StrCat(failures, " collateral item(s) failed"));
}

constexpr char kMetaSuffix[] = ".meta.json";

bool IsSidecarOrTemp(const std::filesystem::path& p) {
  const std::string name = p.filename().string();
  return absl::EndsWith(name, kMetaSuffix) || absl::StartsWith(name, ".");
}

int CmdCollateralExport(const Args& a) {
  if (a.positional.size() != 1 || !a.Has("cache-dir")) return Fail(kUsage);
  namespace fs = std::filesystem;
  const fs::path from(a.Get("cache-dir"));
  const fs::path to(a.positional[0]);
  std::error_code ec;
  if (!fs::is_directory(from, ec)) return Fail(absl::StrCat(from.string(), " is not a directory"));
  int copied = 0;
  for (auto it = fs::recursive_directory_iterator(from, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (!it->is_regular_file() || IsSidecarOrTemp(it->path())) continue;
    const fs::path rel = fs::relative(it->path(), from);
    fs::create_directories((to / rel).parent_path(), ec);
    if (ec) break;
    fs::copy_file(it->path(), to / rel, fs::copy_options::overwrite_existing, ec);
    if (ec) break;
    std::cout << "exported " << rel.generic_string() << "\n";
    ++copied;
  }
  if (ec) return Fail(absl::StrCat("export: ", ec.message()));
  std::cout << copied << " items exported to " << to.string() << "\n";
  return kAccepted;
}

int CmdCollateralLs(const Args& a) {
  if (!a.Has("cache-dir")) return Fail(kUsage);
  namespace fs = std::filesystem;
  const fs::path root(a.Get("cache-dir"));
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return Fail(absl::StrCat(root.string(), " is not a directory"));
  std::vector<std::string> keys;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_regular_file() && !IsSidecarOrTemp(it->path())) {
      keys.push_back(fs::relative(it->path(), root).generic_string());
    }
  }
  if (ec) return Fail(absl::StrCat("ls: ", ec.message()));
  std::sort(keys.begin(), keys.end());
  for (const std::string& key : keys) {
    std::string fresh = "-";
    auto meta_text = rp::ReadSmallFile((root / (key + kMetaSuffix)).string(), 64 * 1024);
    if (meta_text.ok()) {
      nlohmann::json meta = nlohmann::json::parse(*meta_text, nullptr, false);
      if (meta.is_object() && meta.contains("fresh_until") && meta["fresh_until"].is_string()) {
        fresh = meta["fresh_until"].get<std::string>();
      }
    }
    std::cout << key << "\t" << fs::file_size(root / key, ec) << "\t" << fresh << "\n";
  }
  return kAccepted;
}

int CmdCollateral(const std::string& sub, const Args& a) {
  if (sub == "fetch") {
    if (!a.Has("evidence") || !a.positional.empty()) return Fail(kUsage);
    return CmdCollateralFetch(a, {a.Get("evidence")});
  }
  if (sub == "warm") return CmdCollateralFetch(a, a.positional);
  if (sub == "export") return CmdCollateralExport(a);
  if (sub == "ls") return CmdCollateralLs(a);
  return Fail(kUsage);
}

// resource put|ls|rm|init-key: admin access to the key-release secret store.
// Never prints, logs or echoes a secret (only names and sizes).
int CmdResource(int argc, char** argv) {
  if (argc < 3) return Fail(kUsage);
  const std::string sub = argv[2];
  Args a = Parse(argc, argv, 3, {});
  if (!a.error.empty()) return Fail(a.error);
  if (a.Has("store-dir") == a.Has("pkcs11-config")) {
    return Fail(absl::StrCat("resource: give exactly one of --store-dir DIR, --pkcs11-config FILE\n",
                             kUsage));
  }
  rp::release::SecretStoreConfig config;
  if (a.Has("pkcs11-config")) {
    const std::string path = a.Get("pkcs11-config");
    auto text = rp::ReadSmallFile(path, 64 * 1024);
    if (!text.ok()) return Fail(text.status());
    auto parsed = rp::release::ParseSecretStoreConfig(
        *text, path, std::filesystem::absolute(path).parent_path().string(), "pkcs11");
    if (!parsed.ok()) return Fail(parsed.status());
    config = *parsed;
  } else {
    config.type = "directory";
    config.dir = a.Get("store-dir");
  }
  if (sub == "init-key") {
    if (config.type != "pkcs11" || !a.positional.empty()) return Fail(kUsage);
    if (absl::Status st = rp::release::Pkcs11Store::GenerateWrappingKey(config.pkcs11); !st.ok()) {
      return Fail(st);
    }
    std::cout << "created non-extractable AES-256 wrapping key '" << config.pkcs11.key_label
              << "' on token '" << config.pkcs11.token_label << "'\n";
    return kAccepted;
  }
  const bool wants_name = sub == "put" || sub == "rm";
  if ((sub != "ls" && !wants_name) || a.positional.size() != (wants_name ? 1u : 0u) ||
      (sub == "put") != a.Has("in")) {
    return Fail(kUsage);
  }
  const std::string resource = wants_name ? a.positional[0] : "";
  if (wants_name && !rp::release::IsValidResourceName(resource)) {
    return Fail(absl::StrCat("invalid resource name '", absl::CHexEscape(resource),
                             "' (want <repository>/<type>/<tag>, each of [A-Za-z0-9._-])"));
  }
  // Read the secret before touching the store, into a buffer that wipes itself.
  rp::release::SecretBytes secret;
  if (sub == "put") {
    const std::string in = a.Get("in");
    const int fd = in == "-" ? STDIN_FILENO : ::open(in.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Fail(absl::StrCat("cannot open --in ", in));
    secret = rp::release::SecretBytes::Zeroed(rp::release::kMaxSecretBytes + 1);
    size_t got = 0;
    while (got < secret.size()) {
      const ssize_t n = ::read(fd, secret.data() + got, secret.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    if (fd != STDIN_FILENO) ::close(fd);
    if (got > rp::release::kMaxSecretBytes) {
      return Fail(absl::StrCat("--in ", in, " is larger than ", rp::release::kMaxSecretBytes,
                               " bytes"));
    }
    if (got == 0) return Fail(absl::StrCat("--in ", in, " is empty (or unreadable)"));
    secret.Truncate(got);
  }
  auto store = rp::release::OpenSecretStore(config);
  if (!store.ok()) return Fail(store.status());
  if (sub == "put") {
    if (absl::Status st = (*store)->Put(resource, secret.span()); !st.ok()) return Fail(st);
    std::cout << "stored " << resource << " (" << secret.size() << " bytes) in "
              << (*store)->Describe() << "\n";
  } else if (sub == "rm") {
    if (absl::Status st = (*store)->Remove(resource); !st.ok()) return Fail(st);
    std::cout << "removed " << resource << "\n";
  } else {
    auto names = (*store)->List();
    if (!names.ok()) return Fail(names.status());
    for (const std::string& name : *names) std::cout << name << "\n";
  }
  return kAccepted;
}

// attestctl fleet ls|show: reads the server's REST face (GET /v1/nodes).
int CmdFleet(const std::string& sub, const Args& a) {
  std::string base = a.Get("http", "http://127.0.0.1:8080");
  while (!base.empty() && base.back() == '/') base.pop_back();
  std::string url;
  if (sub == "ls" && a.positional.empty()) {
    url = base + "/v1/nodes";
  } else if (sub == "show" && a.positional.size() == 1) {
    if (!rp::core::IsDnsSubdomain(a.positional[0])) {
      return Fail("fleet show: NODE must be a Kubernetes node name (RFC 1123 subdomain)");
    }
    url = base + "/v1/nodes/" + a.positional[0];
  } else {
    return Fail(kUsage);
  }
  auto r = rp::cli::HttpGetResponse(url, 64 * 1024 * 1024, absl::Seconds(30), a.Get("tls-ca"));
  if (!r.ok()) return Fail(r.status());
  nlohmann::json body = nlohmann::json::parse(r->body, nullptr, /*allow_exceptions=*/false);
  if (r->status != 200) {
    const std::string reason = body.is_object() ? body.value("reason", "") : "";
    const std::string detail = body.is_object() ? body.value("detail", "") : r->body.substr(0, 200);
    std::cerr << "attestctl: " << url << ": HTTP " << r->status << " " << reason << ": " << detail
              << "\n";
    return r->status == 404 && reason == "NODE_NOT_FOUND" ? kRejected : kBadInput;
  }
  if (!body.is_object()) return Fail(absl::StrCat(url, ": response is not a JSON object"));
  if (sub == "show" || a.Has("json")) {
    std::cout << body.dump(2) << "\n";
    return kAccepted;
  }
  const nlohmann::json nodes = body.value("nodes", nlohmann::json::array());
  std::printf("%-32s %-16s %-6s %8s %-8s %-20s %4s %-12s %s\n", "NODE", "VERDICT", "STATE",
              "AGE_S", "TEE", "TCB", "GPUS", "DRIVER", "POLICY");
  for (const nlohmann::json& n : nodes) {
    const auto str = [&](const char* k) {
      return n.contains(k) && n[k].is_string() ? n[k].get<std::string>() : std::string("-");
    };
    std::string drivers;
    for (const auto& d : n.value("driver_versions", nlohmann::json::array())) {
      if (!d.is_string()) continue;
      drivers += (drivers.empty() ? "" : ",") + d.get<std::string>();
    }
    const nlohmann::json policy = n.value("policy", nlohmann::json::object());
    std::printf("%-32s %-16s %-6s %8lld %-8s %-20s %4d %-12s %s@%s\n", str("node").c_str(),
                str("verdict").c_str(), str("state").c_str(),
                static_cast<long long>(n.value("age_seconds", int64_t{0})),
                str("tee").empty() ? "-" : str("tee").c_str(),
                str("tcb_status").empty() ? "-" : str("tcb_status").c_str(), n.value("gpus", 0),
                drivers.empty() ? "-" : drivers.c_str(),
                policy.value("id", std::string("-")).c_str(),
                policy.value("version", std::string("-")).c_str());
  }
  std::cout << nodes.size() << " node(s), freshness window " << body.value("freshness_seconds", 0)
            << " s\n";
  return kAccepted;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Fail(kUsage);
  std::string cmd = argv[1];
  if (cmd == "-h" || cmd == "--help" || cmd == "help") {
    std::cout << kUsage;
    return kAccepted;
  }
  try {
    if (cmd == "token") {
      if (argc < 3 || std::string(argv[2]) != "verify") return Fail(kUsage);
      Args a = Parse(argc, argv, 3, {"any-issuer"});
      if (!a.error.empty()) return Fail(a.error);
      return CmdTokenVerify(a);
    }
    if (cmd == "policy") {
      if (argc < 3) return Fail(kUsage);
      const std::string sub = argv[2];
      Args a = Parse(argc, argv, 3, {});
      if (!a.error.empty()) return Fail(a.error);
      if (sub == "check" && a.positional.size() == 1) {
        return rp::cli::RunPolicyCheck(a.positional[0], std::cout, std::cerr);
      }
      if (sub == "eval" && a.positional.empty() && a.Has("policy") && a.Has("result")) {
        return rp::cli::RunPolicyEval(a.Get("policy"), a.Get("result"), std::cout, std::cerr);
      }
      return Fail(kUsage);
    }
    if (cmd == "resource") return CmdResource(argc, argv);
    if (cmd == "fleet") {
      if (argc < 3) return Fail(kUsage);
      Args a = Parse(argc, argv, 3, {"json"});
      if (!a.error.empty()) return Fail(a.error);
      return CmdFleet(argv[2], a);
    }
    if (cmd == "collateral") {
      if (argc < 3) return Fail(kUsage);
      Args a = Parse(argc, argv, 3, {"offline"});
      if (!a.error.empty()) return Fail(a.error);
      return CmdCollateral(argv[2], a);
    }
    // --offline is a switch: "verify --offline --policy P" must not read
    // "--policy" as its value (and silently fall back to the default policy).
    Args a = Parse(argc, argv, 2, {"json", "debug", "no-freshness", "offline"});
    if (!a.error.empty()) return Fail(a.error);
    if (cmd == "challenge") return CmdChallenge(a);
    if (cmd == "attest") return CmdAttest(a);
    if (cmd == "release") return CmdRelease(a);
    if (cmd == "verify") return CmdVerify(a);
    if (cmd == "jwks") return CmdJwks(a);
    if (cmd == "simulate") return CmdSimulate(a);
  } catch (const std::exception& e) {
    return Fail(absl::StrCat("bad argument: ", e.what()));
  }
  return Fail(absl::StrCat("unknown command '", cmd, "'\n", kUsage));
}
