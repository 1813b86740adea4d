// token_tool: issues a sample attestation token with a freshly generated key
// (for cross-checking our JWS output with independent JOSE libraries, see
// tests/integration/jose/) and verifies tokens with our own verifier.
//
//   token_tool issue --out-token F --out-jwks F [--alg ES256|ES384]
//                    [--lifetime-seconds N] [--issuer S]
//   token_tool verify --token F --jwks F [--at RFC3339] [--leeway-seconds N]
//
// Exit status 0 on success, 1 on a verification or I/O failure, 2 on usage.
#include <exception>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "attestation/v1/config.pb.h"
#include "nlohmann/json.hpp"
#include "server/token/key_manager.h"
#include "server/token/token_issuer.h"
#include "server/token/token_verifier.h"
#include "verifier/common/clock.h"
#include "verifier/common/encoding.h"
#include "verifier/crypto/digest.h"

namespace rp::token {
namespace {

constexpr char kUsage[] =
    "usage:\n"
    "  token_tool issue --out-token F --out-jwks F [--alg ES256|ES384]\n"
    "                   [--lifetime-seconds N] [--issuer S]\n"
    "  token_tool verify --token F --jwks F [--at RFC3339] [--leeway-seconds "
    "N]\n";

int Usage(std::string_view problem) {
  std::cerr << "token_tool: " << problem << "\n" << kUsage;
  return 2;
}

int Fail(std::string_view problem) {
  std::cerr << "token_tool: " << problem << "\n";
  return 1;
}

// --name value pairs; false on a stray argument or a flag without value.
bool ParseFlags(const std::vector<std::string>& args,
                std::map<std::string, std::string>* flags) {
  for (size_t i = 2; i < args.size(); i += 2) {
    const std::string& arg = args[i];
    if (arg.substr(0, 2) != "--" || i + 1 >= args.size()) {
      return false;
    }
    (*flags)[arg.substr(2)] = args[i + 1];
  }
  return true;
}

bool WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  return static_cast<bool>(out);
}

bool ReadFile(const std::string& path, std::string* content) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return false;
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  *content = buf.str();
  return true;
}

// EAR-shaped claims (draft-ietf-rats-ear) of a passing CPU + GPU appraisal.
nlohmann::json SampleClaims() {
  const nlohmann::json vector = {
      {"instance-identity", 2}, {"configuration", 2}, {"executables", 2},
      {"file-system", 0},       {"hardware", 2},      {"runtime-opaque", 2},
      {"storage-opaque", 0},    {"sourced-data", 0}};
  return {
      {"eat_profile", "tag:github.com,2023:veraison/ear"},
      {"eat_nonce", Base64UrlEncode(crypto::RandomBytes(32))},
      {"ear.verifier-id",
       {{"developer", "attestation-rp"}, {"build", "token_tool"}}},
      {"submods",
       {{"cpu0",
         {{"ear.status", "affirming"},
          {"ear.trustworthiness-vector", vector},
          {"ear.appraisal-policy-id", "policy:default/1"},
          {"tee", "sev-snp"}}},
        {"gpu0",
         {{"ear.status", "affirming"},
          {"ear.trustworthiness-vector", vector},
          {"ear.appraisal-policy-id", "policy:default/1"},
          {"class", "nvidia-gpu"}}}}},
      // Non-ASCII text checks that both sides agree on UTF-8.
      {"x-test-note", "Gr\u00fc\u00dfe \u2713"},
  };
}

int Issue(const std::map<std::string, std::string>& flags) {
  const auto token_out = flags.find("out-token");
  const auto jwks_out = flags.find("out-jwks");
  if (token_out == flags.end() || jwks_out == flags.end()) {
    return Usage("issue needs --out-token and --out-jwks");
  }
  attestation::v1::TokenConfig config;
  for (const auto& [name, value] : flags) {
    if (name == "alg") {
      config.set_algorithm(value);
    } else if (name == "issuer") {
      config.set_issuer(value);
    } else if (name == "lifetime-seconds") {
      int64_t seconds = 0;
      if (!absl::SimpleAtoi(value, &seconds)) {
        return Usage("--lifetime-seconds is not an integer");
      }
      config.set_lifetime_seconds(seconds);
    } else if (name != "out-token" && name != "out-jwks") {
      return Usage(absl::StrCat("unknown flag --", name));
    }
  }
  absl::StatusOr<std::unique_ptr<KeyManager>> keys = KeyManager::Create(config);
  if (!keys.ok()) {
    return Fail(keys.status().ToString());
  }
  absl::StatusOr<std::unique_ptr<TokenIssuer>> issuer =
      TokenIssuer::Create(config, Clock::Real(), **keys);
  if (!issuer.ok()) {
    return Fail(issuer.status().ToString());
  }
  absl::StatusOr<std::string> token = (*issuer)->Issue(SampleClaims());
  if (!token.ok()) {
    return Fail(token.status().ToString());
  }
  if (!WriteFile(token_out->second, *token) ||
      !WriteFile(jwks_out->second, (*keys)->JwksJson())) {
    return Fail("cannot write output files");
  }
  return 0;
}

int Verify(const std::map<std::string, std::string>& flags) {
  const auto token_in = flags.find("token");
  const auto jwks_in = flags.find("jwks");
  if (token_in == flags.end() || jwks_in == flags.end()) {
    return Usage("verify needs --token and --jwks");
  }
  absl::Time now = Clock::Real().Now();
  absl::Duration leeway = absl::ZeroDuration();
  for (const auto& [name, value] : flags) {
    if (name == "at") {
      absl::StatusOr<absl::Time> t = ParseTime(value);
      if (!t.ok()) {
        return Usage(std::string(t.status().message()));
      }
      now = *t;
    } else if (name == "leeway-seconds") {
      int64_t seconds = 0;
      if (!absl::SimpleAtoi(value, &seconds) || seconds < 0) {
        return Usage("--leeway-seconds is not a non-negative integer");
      }
      leeway = absl::Seconds(seconds);
    } else if (name != "token" && name != "jwks") {
      return Usage(absl::StrCat("unknown flag --", name));
    }
  }
  std::string token;
  std::string jwks_text;
  if (!ReadFile(token_in->second, &token) ||
      !ReadFile(jwks_in->second, &jwks_text)) {
    return Fail("cannot read input files");
  }
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) {
    token.pop_back();
  }
  const nlohmann::json jwks = nlohmann::json::parse(jwks_text, nullptr, false);
  if (jwks.is_discarded()) {
    return Fail("JWKS file is not valid JSON");
  }
  absl::StatusOr<nlohmann::json> claims = VerifyToken(token, jwks, now, leeway);
  if (!claims.ok()) {
    return Fail(claims.status().ToString());
  }
  std::cout << claims->dump(2) << "\n";
  return 0;
}

int Main(const std::vector<std::string>& args) {
  if (args.size() < 2) {
    return Usage("missing command");
  }
  const std::string& command = args[1];
  std::map<std::string, std::string> flags;
  if (!ParseFlags(args, &flags)) {
    return Usage("flags are --name value pairs");
  }
  if (command == "issue") {
    return Issue(flags);
  }
  if (command == "verify") {
    return Verify(flags);
  }
  return Usage(absl::StrCat("unknown command ", command));
}

}  // namespace
}  // namespace rp::token

int main(int argc, char** argv) {
  try {
    // NOLINTNEXTLINE(cppcoreguidelines-pro-bounds-pointer-arithmetic): argv
    const std::vector<std::string> args(argv, argv + argc);
    return rp::token::Main(args);
  } catch (const std::exception& e) {
    std::cerr << "token_tool: " << e.what() << "\n";
    return 1;
  }
}
