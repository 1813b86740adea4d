// jwe_tool: our JWE layer on files, for cross-checking it with independent
// JOSE implementations (tests/integration/jose/run_jwe_interop_test.sh).
//
//   jwe_tool encrypt --jwk F --in F --out F [--flattened] [--kid K]
//                    [--member name=value]...
//       F for --jwk is a JSON JWK; only its public members (kty, crv, x, y,
//       n, e, alg, use) are read.
//   jwe_tool decrypt --key PEM --in F --out F [--no-require-kid]
//                    [--expect-kid K] [--expect-member name=value]...
//       Writes the plaintext to --out and the protected string members as
//       JSON on stdout.
//
// Exit status 0 on success, 1 on a refusal or I/O failure, 2 on usage.
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "nlohmann/json.hpp"
#include "release/jwe.h"
#include "verifier/common/encoding.h"

namespace rp::release {
namespace {

constexpr char kUsage[] =
    "usage:\n"
    "  jwe_tool encrypt --jwk F --in F --out F [--flattened] [--kid K] "
    "[--member n=v]...\n"
    "  jwe_tool decrypt --key PEM --in F --out F [--no-require-kid] "
    "[--expect-kid K]\n"
    "                   [--expect-member n=v]...\n";

constexpr size_t kMaxFileBytes = 4 * kMaxJwePlaintextBytes;

int Usage(std::string_view problem) {
  std::cerr << "jwe_tool: " << problem << "\n" << kUsage;
  return 2;
}

int Fail(std::string_view problem) {
  std::cerr << "jwe_tool: " << problem << "\n";
  return 1;
}

bool ReadFile(const std::string& path, std::string* content) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return false;
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  *content = buf.str();
  return content->size() <= kMaxFileBytes;
}

bool WriteFile(const std::string& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  return static_cast<bool>(out);
}

struct Args {
  std::map<std::string, std::string> single;
  std::map<std::string, std::string> members;  // --member / --expect-member
  bool flattened = false;
  bool no_require_kid = false;
};

bool ParseArgs(int argc, char** argv, Args* args, std::string* problem) {
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--flattened") {
      args->flattened = true;
      continue;
    }
    if (arg == "--no-require-kid") {
      args->no_require_kid = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0 || i + 1 >= argc) {
      *problem = "unexpected argument " + arg;
      return false;
    }
    const std::string value = argv[++i];
    if (arg == "--member" || arg == "--expect-member") {
      const size_t eq = value.find('=');
      if (eq == std::string::npos || eq == 0) {
        *problem = arg + " wants name=value";
        return false;
      }
      args->members[value.substr(0, eq)] = value.substr(eq + 1);
      continue;
    }
    args->single[arg.substr(2)] = value;
  }
  return true;
}

int Encrypt(const Args& args) {
  for (const char* f : {"jwk", "in", "out"}) {
    if (args.single.count(f) == 0) {
      return Usage(std::string("encrypt needs --") + f);
    }
  }
  std::string jwk_text;
  std::string plaintext;
  if (!ReadFile(args.single.at("jwk"), &jwk_text)) {
    return Fail("cannot read --jwk");
  }
  if (!ReadFile(args.single.at("in"), &plaintext)) {
    return Fail("cannot read --in");
  }
  const nlohmann::json doc =
      nlohmann::json::parse(jwk_text, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) {
    return Fail("--jwk is not a JSON object");
  }
  attestation::v1::Jwk jwk;
  const auto str = [&](const char* name) {
    const auto it = doc.find(name);
    return it != doc.end() && it->is_string() ? it->get<std::string>()
                                              : std::string();
  };
  jwk.set_kty(str("kty"));
  jwk.set_crv(str("crv"));
  jwk.set_x(str("x"));
  jwk.set_y(str("y"));
  jwk.set_n(str("n"));
  jwk.set_e(str("e"));
  jwk.set_alg(str("alg"));
  jwk.set_use(str("use"));
  JweOptions options;
  options.flattened = args.flattened;
  options.extra_protected = args.members;
  if (args.single.count("kid") != 0) {
    options.kid = args.single.at("kid");
  }
  absl::StatusOr<std::string> jwe =
      EncryptToJwk(jwk, AsBytes(plaintext), options);
  if (!jwe.ok()) {
    return Fail(jwe.status().ToString());
  }
  if (!WriteFile(args.single.at("out"), *jwe)) {
    return Fail("cannot write --out");
  }
  return 0;
}

int DecryptCmd(const Args& args) {
  for (const char* f : {"key", "in", "out"}) {
    if (args.single.count(f) == 0) {
      return Usage(std::string("decrypt needs --") + f);
    }
  }
  std::string pem;
  std::string jwe;
  if (!ReadFile(args.single.at("key"), &pem)) {
    return Fail("cannot read --key");
  }
  if (!ReadFile(args.single.at("in"), &jwe)) {
    return Fail("cannot read --in");
  }
  DecryptOptions options;
  options.require_kid = !args.no_require_kid;
  options.expected_members = args.members;
  if (args.single.count("expect-kid") != 0) {
    options.expected_kid = args.single.at("expect-kid");
  }
  absl::StatusOr<DecryptedJwe> out = Decrypt(jwe, pem, options);
  if (!out.ok()) {
    return Fail(out.status().ToString());
  }
  if (!WriteFile(args.single.at("out"),
                 std::string_view(reinterpret_cast<const char*>(
                                      out->plaintext.data()),  // NOLINT
                                  out->plaintext.size()))) {
    return Fail("cannot write --out");
  }
  std::cout << nlohmann::json(out->protected_strings).dump() << "\n";
  return 0;
}

int Main(int argc, char** argv) {
  if (argc < 2) {
    return Usage("missing command");
  }
  Args args;
  std::string problem;
  if (!ParseArgs(argc, argv, &args, &problem)) {
    return Usage(problem);
  }
  const std::string_view command = argv[1];
  if (command == "encrypt") {
    return Encrypt(args);
  }
  if (command == "decrypt") {
    return DecryptCmd(args);
  }
  return Usage("unknown command");
}

}  // namespace
}  // namespace rp::release

int main(int argc, char** argv) { return rp::release::Main(argc, argv); }
