// Runs the real `attestctl verify --json` over every real SEV-SNP vector
// bundle and checks verdict, exit code, reasons and claims against the
// sample's expected.json (generated independently of this code).
#include <sys/stat.h>
#include <unistd.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "cli/attestctl_test_runner.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "verifier/common/encoding.h"
#include "verifier/crypto/digest.h"
#include "verifier/crypto/keys.h"

namespace {

const std::string kRoot = RP_SOURCE_DIR;

using rp::cli::testing::Attestctl;
using rp::cli::testing::CmdResult;

nlohmann::json ReadJson(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return nlohmann::json::parse(ss.str());
}

void ExpectTcb(const nlohmann::json& exp, const nlohmann::json& got, const std::string& what) {
  ASSERT_TRUE(got.is_object()) << what;
  EXPECT_EQ(got.value("bootloader", -1), exp["bl"].get<int>()) << what;
  EXPECT_EQ(got.value("tee", -1), exp["tee"].get<int>()) << what;
  EXPECT_EQ(got.value("snp", -1), exp["snp"].get<int>()) << what;
  EXPECT_EQ(got.value("microcode", -1), exp["ucode"].get<int>()) << what;
  EXPECT_EQ(got.value("raw", ""), exp["raw"].get<std::string>()) << what;
  if (exp.contains("fmc")) {
    EXPECT_EQ(got.value("fmc", -1), exp["fmc"].get<int>()) << what;
  }
}

// Every field of expected.json that has a claim of the same meaning.
void ExpectClaims(const nlohmann::json& exp, const nlohmann::json& claims, const std::string& name) {
  SCOPED_TRACE(name);
  EXPECT_EQ(claims.value("product", ""), exp["product_line"].get<std::string>());
  EXPECT_EQ(claims.value("version", -1), exp["version"].get<int>());
  EXPECT_EQ(claims.value("vmpl", -1), exp["vmpl"].get<int>());
  EXPECT_EQ(claims.value("guest_svn", -1), exp["guest_svn"].get<int>());
  for (const char* k : {"report_data", "measurement", "host_data", "id_key_digest",
                        "author_key_digest", "report_id", "report_id_ma", "chip_id",
                        "current_version", "committed_version"}) {
    EXPECT_EQ(claims.value(k, std::string("<missing>")), exp[k].get<std::string>()) << k;
  }
  std::string sk = exp["signer_info"]["signing_key"].get<std::string>();
  EXPECT_EQ(claims.value("signing_key", ""), sk == "VCEK" ? "vcek" : "vlek");
  ExpectTcb(exp["reported_tcb"], claims["reported_tcb"], "reported_tcb");
  ExpectTcb(exp["current_tcb"], claims["current_tcb"], "current_tcb");
  ExpectTcb(exp["committed_tcb"], claims["committed_tcb"], "committed_tcb");
  ExpectTcb(exp["launch_tcb"], claims["launch_tcb"], "launch_tcb");
  for (const auto& [k, v] : exp["policy_decoded"].items()) {
    ASSERT_TRUE(claims["policy"].contains(k)) << "policy." << k;
    EXPECT_EQ(claims["policy"][k], v) << "policy." << k;
  }
  if (exp["cpuid_fam_mod_step"].is_array()) {
    EXPECT_EQ(claims["cpuid"].value("family", -1), exp["cpuid_fam_mod_step"][0].get<int>());
    EXPECT_EQ(claims["cpuid"].value("model", -1), exp["cpuid_fam_mod_step"][1].get<int>());
    EXPECT_EQ(claims["cpuid"].value("stepping", -1), exp["cpuid_fam_mod_step"][2].get<int>());
  }
}

TEST(AttestctlVerify, RealSnpVectorsGetTheirVerdictAndClaims) {
  nlohmann::json table = ReadJson(kRoot + "/tests/data/snp/bundles/expected_verdicts.json");
  int checked = 0;
  for (const auto& [name, want] : table.items()) {
    if (name[0] == '_') continue;
    SCOPED_TRACE(name);
    // Third-party reports without a nonce of ours: --no-freshness (at best
    // a warning), accepted as such with --accept warning.
    CmdResult r = Attestctl("verify --json --no-freshness --accept warning --evidence " + kRoot +
                            "/tests/data/snp/bundles/" + name + ".json --collateral " + kRoot +
                            "/tests/data/snp/offline --at " + want["at"].get<std::string>());
    nlohmann::json got = nlohmann::json::parse(r.out, nullptr, false);
    ASSERT_FALSE(got.is_discarded()) << r.out;
    const std::string verdict = want["verdict"];
    EXPECT_EQ(got["verdict"], verdict) << got["reasons"].dump();
    EXPECT_NE(got["verdict"], "affirming") << "no freshness, yet affirming";
    EXPECT_EQ(r.exit_code, verdict == "contraindicated" ? 1 : 0);
    for (const auto& reason : want["reasons"]) {
      bool found = false;
      for (const auto& g : got["reasons"]) found = found || g == reason;
      EXPECT_TRUE(found) << "missing reason " << reason << " in " << got["reasons"].dump();
    }
    ASSERT_TRUE(got["submods"].contains("cpu0"));
    EXPECT_EQ(got["submods"]["cpu0"]["tee"], "sev-snp");
    if (want.contains("expected")) {
      // Positive samples: every verification check passed except the
      // not-checked ones named in `reasons`; claims equal expected.json.
      for (const auto& c : got["submods"]["cpu0"]["checks"]) {
        if (c["status"] == "fail") {
          bool policy_rule = c["name"].get<std::string>().rfind("policy.", 0) == 0;
          EXPECT_TRUE(policy_rule && verdict == "contraindicated") << c.dump();
        }
      }
      const std::string folder = want["expected"][0], report = want["expected"][1];
      nlohmann::json exps = ReadJson(kRoot + "/tests/data/snp/" + folder + "/expected.json");
      bool matched = false;
      for (const auto& e : exps) {
        if (e["report"] != report) continue;
        matched = true;
        ExpectClaims(e, got["submods"]["cpu0"]["claims"], name);
      }
      EXPECT_TRUE(matched) << "no expected.json entry for " << report;
    }
    ++checked;
  }
  EXPECT_GE(checked, 19);
}

TEST(AttestctlVerify, BadInputIsExitCode2) {
  std::string dir = ::testing::TempDir();
  struct Case {
    const char* name;
    const char* json;
  } cases[] = {
      {"not_json", "{"},
      {"unknown_field", R"({"sev_snp": {"report": "AAAA"}, "surprise": 1})"},
      {"bad_base64", R"({"sev_snp": {"report": "***"}})"},
      {"empty", R"({})"},
      {"bad_nonce", R"({"nonce": "abcd", "sev_snp": {"report": "AAAA"}})"},
      {"bad_binding", R"({"binding": "md5", "sev_snp": {"report": "AAAA"}})"},
  };
  for (const auto& c : cases) {
    std::string path = dir + "/bad_" + c.name + ".json";
    std::ofstream(path) << c.json;
    CmdResult r = Attestctl("verify --evidence " + path + " --at 2025-09-01T00:00:00Z");
    EXPECT_EQ(r.exit_code, 2) << c.name;
  }
  EXPECT_EQ(Attestctl("verify").exit_code, 2);
  EXPECT_EQ(Attestctl("frobnicate").exit_code, 2);
  EXPECT_EQ(Attestctl("verify --evidence /nonexistent.json").exit_code, 2);
  // Flags: the nonce sources are exclusive, the nonce is 32 bytes of hex,
  // --accept names a verdict that may be accepted.
  const std::string real = " --evidence " + kRoot + "/tests/data/snp/bundles/milan_v3_oak_cb.json"
                           " --collateral " + kRoot + "/tests/data/snp/offline"
                           " --at 2025-09-01T00:00:00Z";
  const std::string n32(64, 'a');
  for (const std::string& flags : std::vector<std::string>{
           "--nonce " + n32 + " --no-freshness", "--challenge /nonexistent.json --no-freshness",
        "--nonce " + n32 + " --challenge /nonexistent.json", "--nonce abcd", "--nonce " +
        std::string(64, 'x'), "--nonce " + std::string(66, 'a'),
        std::string("--challenge /nonexistent.json"),
        std::string("--no-freshness --accept contraindicated"),
        std::string("--no-freshness --accept")}) {
    EXPECT_EQ(Attestctl("verify" + real + " " + flags).exit_code, 2) << flags;
  }
  EXPECT_EQ(Attestctl("attest --evidence x --challenge y --accept maybe").exit_code, 2);
}

TEST(AttestctlVerify, GarbageTdxAndGpuEvidenceIsRejectedNotPassed) {
  struct Case {
    const char* name;
    const char* bundle;
    const char* reason;
  };
  const Case cases[] = {
      {"tdx", R"({"tdx": {"quote": "AAAA"}})", "QUOTE_"},
      {"gpu", R"({"nvidia": {"arch": "HOPPER", "evidence_list": [{"evidence": "AAAA"}]}})",
       "SPDM_VERSION_UNSUPPORTED"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::string path = ::testing::TempDir() + "/" + c.name + ".json";
    std::ofstream(path) << c.bundle;
    CmdResult r = Attestctl("verify --json --evidence " + path);
    EXPECT_EQ(r.exit_code, 1) << r.out;
    nlohmann::json got = nlohmann::json::parse(r.out, nullptr, false);
    ASSERT_FALSE(got.is_discarded()) << r.out;
    EXPECT_EQ(got["verdict"], "contraindicated");
    EXPECT_NE(got["reasons"].dump().find(c.reason), std::string::npos) << got["reasons"];
  }
}

TEST(AttestctlVerify, TruncatedReportIsRejectedWithReason) {
  std::string path = ::testing::TempDir() + "/trunc.json";
  std::ofstream(path) << R"({"sev_snp": {"report": "AAAAAAAA"}})";
  CmdResult r = Attestctl("verify --json --evidence " + path + " --at 2025-09-01T00:00:00Z");
  EXPECT_EQ(r.exit_code, 1);
  nlohmann::json got = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(got.is_discarded()) << r.out;
  EXPECT_EQ(got["verdict"], "contraindicated");
  EXPECT_NE(got["reasons"].dump().find("REPORT_TRUNCATED"), std::string::npos);
}

// A simulated SEV-SNP node (always available: no test builders needed)
// bound with attest-v1 to a nonce of ours, verified offline with the demo
// policy (which trusts the simulation root; simulated evidence is at best a
// warning there).
class VerifyFreshness : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Per process: ctest runs each test of the suite in its own process, in
    // parallel.
    dir_ = new std::string(::testing::TempDir() + "/cli_freshness_" + std::to_string(::getpid()));
    std::filesystem::remove_all(*dir_);
    std::filesystem::create_directories(*dir_);
    ASSERT_EQ(Attestctl("simulate init --sim-dir " + Sim()).exit_code, 0);
    rp::Bytes nonce(32), other(32);
    for (size_t i = 0; i < 32; ++i) {
      nonce[i] = static_cast<uint8_t>(7 * i + 3);
      other[i] = static_cast<uint8_t>(7 * i + 4);
    }
    nonce_hex_ = new std::string(rp::HexEncode(nonce));
    other_hex_ = new std::string(rp::HexEncode(other));
    WriteChallenge(Challenge(), nonce);
    WriteChallenge(OtherChallenge(), other);
    ASSERT_EQ(Attestctl("simulate --challenge " + Challenge() + " --sim-dir " + Sim() +
                        " --out " + Bundle())
                  .exit_code,
              0);
    // The same evidence naming its nonce, as offline bundles may.
    std::ifstream in(Bundle());
    nlohmann::json b = nlohmann::json::parse(in);
    b["nonce"] = *nonce_hex_;
    std::ofstream(BundleWithNonce()) << b.dump();
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    std::filesystem::remove_all(*dir_, ec);
    delete dir_;
    delete nonce_hex_;
    delete other_hex_;
  }
  static void WriteChallenge(const std::string& path, const rp::Bytes& nonce) {
    // As `attestctl challenge` writes it (bytes in base64); no MAC needed.
    std::ofstream(path) << nlohmann::json{{"nonce", rp::Base64Encode(nonce)},
                                          {"issued_at", "1750000000"},
                                          {"expires_at", "1750000300"}}
                               .dump();
  }
  static std::string Sim() { return *dir_ + "/sim"; }
  static std::string Challenge() { return *dir_ + "/challenge.json"; }
  static std::string OtherChallenge() { return *dir_ + "/other_challenge.json"; }
  static std::string Bundle() { return *dir_ + "/bundle.json"; }
  static std::string BundleWithNonce() { return *dir_ + "/bundle_with_nonce.json"; }

  struct Verified {
    int exit_code = -1;
    nlohmann::json result;
  };
  static Verified Verify(const std::string& bundle, const std::string& flags) {
    CmdResult r = Attestctl("verify --json --evidence " + bundle + " --trust-simulation " + Sim() +
                            " --collateral " + Sim() + "/collateral --policy " + kRoot +
                            "/deploy/policies/demo.yaml " + flags);
    Verified v;
    v.exit_code = r.exit_code;
    v.result = nlohmann::json::parse(r.out, nullptr, false);
    return v;
  }
  static bool HasReason(const nlohmann::json& result, const std::string& reason) {
    for (const auto& r : result["reasons"]) {
      if (r == reason) return true;
    }
    return false;
  }

  static std::string* dir_;
  static std::string* nonce_hex_;
  static std::string* other_hex_;
};
std::string* VerifyFreshness::dir_ = nullptr;
std::string* VerifyFreshness::nonce_hex_ = nullptr;
std::string* VerifyFreshness::other_hex_ = nullptr;

// (c) The nonce we issued, from the challenge file or --nonce: freshness and
// binding are checked, and only the simulation notice keeps it from
// affirming.
TEST_F(VerifyFreshness, MatchingNonceIsChecked) {
  for (const auto& [bundle, flags] :
       std::vector<std::pair<std::string, std::string>>{
           {Bundle(), "--challenge " + Challenge()},
           {Bundle(), "--nonce " + *nonce_hex_},
           {BundleWithNonce(), "--nonce " + *nonce_hex_},
           {BundleWithNonce(), "--challenge " + Challenge()}}) {
    SCOPED_TRACE(bundle + " " + flags);
    Verified v = Verify(bundle, flags + " --accept warning");
    ASSERT_FALSE(v.result.is_discarded());
    EXPECT_EQ(v.result["verdict"], "warning") << v.result["reasons"];
    EXPECT_EQ(v.result["reasons"], nlohmann::json::array({"SIMULATED_EVIDENCE"}));
    EXPECT_EQ(v.exit_code, 0);
    // A warning is a rejection unless accepted.
    EXPECT_EQ(Verify(bundle, flags).exit_code, 1);
  }
  // The nonce is really compared: evidence bound to another nonce fails.
  Verified wrong = Verify(Bundle(), "--nonce " + *other_hex_ + " --accept warning");
  ASSERT_FALSE(wrong.result.is_discarded());
  EXPECT_EQ(wrong.result["verdict"], "contraindicated");
  EXPECT_TRUE(HasReason(wrong.result, "BINDING_MISMATCH")) << wrong.result["reasons"];
  EXPECT_EQ(wrong.exit_code, 1);
}

// (a) A nonce that only the bundle names is not trusted: nothing we issued,
// so freshness is not performed and the evidence is rejected.
TEST_F(VerifyFreshness, BundleNonceAloneIsRejected) {
  for (const std::string& accept : {"", " --accept warning"}) {
    Verified v = Verify(BundleWithNonce(), accept);
    ASSERT_FALSE(v.result.is_discarded());
    EXPECT_EQ(v.result["verdict"], "contraindicated") << v.result["reasons"];
    EXPECT_TRUE(HasReason(v.result, "NONCE_NOT_PROVIDED")) << v.result["reasons"];
    EXPECT_EQ(v.exit_code, 1);
  }
}

// (b) --no-freshness: third-party evidence checked without a nonce of ours
// is at best a warning; accepted only with --accept warning.
TEST_F(VerifyFreshness, NoFreshnessIsAtBestWarning) {
  for (const std::string& bundle : {Bundle(), BundleWithNonce()}) {
    SCOPED_TRACE(bundle);
    Verified v = Verify(bundle, "--no-freshness");
    ASSERT_FALSE(v.result.is_discarded());
    EXPECT_EQ(v.result["verdict"], "warning") << v.result["reasons"];
    EXPECT_EQ(v.exit_code, 1);
    EXPECT_EQ(Verify(bundle, "--no-freshness --accept warning").exit_code, 0);
  }
  // A real report that would otherwise affirm: still only a warning.
  const std::string real = "verify --json --no-freshness --evidence " + kRoot +
                           "/tests/data/snp/bundles/milan_v3_oak_cb.json --collateral " + kRoot +
                           "/tests/data/snp/offline --at 2025-09-01T00:00:00Z";
  CmdResult r = Attestctl(real);
  nlohmann::json got = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(got.is_discarded()) << r.out;
  EXPECT_EQ(got["verdict"], "warning") << got["reasons"];
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(Attestctl(real + " --accept warning").exit_code, 0);
  EXPECT_EQ(Attestctl(real + " --accept affirming").exit_code, 1);
}

// (d) Evidence naming another nonce than ours is bad input (exit 2), not a
// verdict.
TEST_F(VerifyFreshness, DifferingBundleNonceIsBadInput) {
  Verified v = Verify(BundleWithNonce(), "--nonce " + *other_hex_ + " --accept warning");
  EXPECT_EQ(v.exit_code, 2);
  EXPECT_TRUE(v.result.is_discarded()) << "no result for bad input";
  EXPECT_EQ(Verify(BundleWithNonce(), "--challenge " + OtherChallenge()).exit_code, 2);
  // Upper-case hex is the same nonce.
  std::string upper = *nonce_hex_;
  for (char& c : upper) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(Verify(BundleWithNonce(), "--nonce " + upper + " --accept warning").exit_code, 0);
}

// Item 5: the simulated TEE private key is written 0600 from the start,
// whatever the umask, also over an existing world-readable file.
TEST_F(VerifyFreshness, TeeKeyOutIsOwnerOnly) {
  const std::string key = *dir_ + "/tee_key.pem";
  std::ofstream(key) << "old";
  ::chmod(key.c_str(), 0644);
  const mode_t old_umask = ::umask(0);
  CmdResult r = Attestctl("simulate --challenge " + Challenge() + " --sim-dir " + Sim() +
                          " --out " + *dir_ + "/bundle2.json --tee-key-out " + key);
  const std::string fresh = *dir_ + "/tee_key_fresh.pem";
  CmdResult r2 = Attestctl("simulate --challenge " + Challenge() + " --sim-dir " + Sim() +
                           " --out " + *dir_ + "/bundle3.json --tee-key-out " + fresh);
  ::umask(old_umask);
  ASSERT_EQ(r.exit_code, 0);
  ASSERT_EQ(r2.exit_code, 0);
  for (const std::string& path : {key, fresh}) {
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0) << path;
    EXPECT_EQ(st.st_mode & 07777, 0600u) << path;
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_NE(text.find("PRIVATE KEY"), std::string::npos) << path;
  }
  // No temporary file is left behind.
  for (const auto& e : std::filesystem::directory_iterator(*dir_)) {
    EXPECT_EQ(e.path().filename().string().rfind(".tee_key", 0), std::string::npos) << e.path();
  }
}

// (e) attestctl token verify: signature and validity are not enough; the
// issuer, the audience and ear.status must be acceptable.
class TokenVerifyCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/cli_token_" + std::to_string(::getpid());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    key_ = std::move(rp::crypto::GenerateEcKey("P-256").value());
    const rp::crypto::JwkPublic jwk = rp::crypto::EcPublicJwk(key_.get()).value();
    jwks_ = dir_ + "/jwks.json";
    std::ofstream(jwks_) << nlohmann::json{
        {"keys",
         {{{"kty", "EC"}, {"crv", "P-256"}, {"x", jwk.x}, {"y", jwk.y}, {"kid", "k1"},
           {"use", "sig"}, {"alg", "ES256"}}}}}
                                .dump();
  }
  // A token file signed with the JWKS key; `change` edits the claims.
  std::string Token(const std::string& name, const std::string& status,
                    const std::function<void(nlohmann::json&)>& change = {}) {
    nlohmann::json claims = {
        {"iss", "rp-test"},
        {"iat", absl::ToUnixSeconds(kAt)},
        {"nbf", absl::ToUnixSeconds(kAt)},
        {"exp", absl::ToUnixSeconds(kAt) + 300},
        {"ear.status", status},
        {"submods", {{"cpu0", {{"ear.status", status}}}}},
        {"reasons", status == "affirming" ? nlohmann::json::array()
                                          : nlohmann::json::array({"SOME_REASON"})}};
    if (change) change(claims);
    const nlohmann::json header = {{"alg", "ES256"}, {"typ", "JWT"}, {"kid", "k1"}};
    const std::string h = header.dump(), p = claims.dump();
    const std::string input =
        rp::Base64UrlEncode(rp::AsBytes(h)) + "." + rp::Base64UrlEncode(rp::AsBytes(p));
    const rp::Bytes sig = rp::crypto::SignEcdsaP1363(key_.get(), rp::AsBytes(input), false).value();
    const std::string path = dir_ + "/" + name + ".jwt";
    std::ofstream(path) << input << "." << rp::Base64UrlEncode(sig) << "\n";
    return path;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  CmdResult Verify(const std::string& token, const std::string& flags) {
    return Attestctl("token verify @" + token + " --jwks " + jwks_ + " --at " +
                     absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", kAt + absl::Seconds(10),
                                      absl::UTCTimeZone()) +
                     " " + flags);
  }

  const absl::Time kAt = absl::FromUnixSeconds(1'750'000'000);
  std::string dir_, jwks_;
  rp::crypto::OpensslPtr<EVP_PKEY> key_;
};

TEST_F(TokenVerifyCli, AffirmingTokenFromOurIssuerIsAccepted) {
  const std::string t = Token("affirming", "affirming");
  CmdResult r = Verify(t, "--issuer rp-test");
  EXPECT_EQ(r.exit_code, 0);
  nlohmann::json claims = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(claims.is_discarded()) << r.out;
  EXPECT_EQ(claims["ear.status"], "affirming");
  // The test can fail: an expired token is rejected.
  EXPECT_EQ(Attestctl("token verify @" + t + " --jwks " + jwks_ +
                      " --issuer rp-test --at 2030-01-01T00:00:00Z")
                .exit_code,
            1);
}

// --result: the full result (attest --result-out) must be the one the
// token's appraisal_sha256 names, byte for byte; compact and full tokens
// verify alike.
TEST_F(TokenVerifyCli, ResultMustMatchAppraisalSha256) {
  const std::string result = dir_ + "/result.json";
  const std::string text = R"({"submods":{},"verdict":"affirming"})";
  std::ofstream(result) << text;
  const std::string digest = rp::HexEncode(rp::crypto::Sha256(rp::AsBytes(text)));
  for (const char* profile : {"compact", "full"}) {
    const std::string t = Token(std::string("p_") + profile, "affirming", [&](nlohmann::json& c) {
      c["token_profile"] = profile;
      c["appraisal_sha256"] = digest;
    });
    CmdResult r = Verify(t, "--issuer rp-test --result " + result);
    EXPECT_EQ(r.exit_code, 0) << profile;
    nlohmann::json claims = nlohmann::json::parse(r.out, nullptr, false);
    ASSERT_FALSE(claims.is_discarded()) << r.out;
    EXPECT_EQ(claims["token_profile"], profile);
  }
  // One byte changed, the hash missing, or a token naming another result:
  // refused, and no claims on stdout.
  const std::string changed = dir_ + "/changed.json";
  std::ofstream(changed) << R"({"submods":{},"verdict":"affirminG"})";
  const std::string good = Token("good", "affirming",
                                 [&](nlohmann::json& c) { c["appraisal_sha256"] = digest; });
  CmdResult bad = Verify(good, "--issuer rp-test --result " + changed);
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(bad.out, "");
  EXPECT_EQ(Verify(good, "--issuer rp-test --result " + result).exit_code, 0);
  EXPECT_EQ(Verify(Token("none", "affirming"), "--issuer rp-test --result " + result).exit_code,
            1);
  EXPECT_EQ(Verify(good, "--issuer rp-test --result " + dir_ + "/missing.json").exit_code, 2);
}

TEST_F(TokenVerifyCli, ContraindicatedTokenIsRejected) {
  const std::string t = Token("contra", "contraindicated");
  // The same token saying affirming is accepted: only the status differs.
  ASSERT_EQ(Verify(Token("affirming", "affirming"), "--issuer rp-test").exit_code, 0);
  CmdResult r = Verify(t, "--issuer rp-test");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "") << "claims of a rejected token reach stdout";
  EXPECT_EQ(Verify(t, "--issuer rp-test --accept warning").exit_code, 1);
  EXPECT_EQ(Verify(t, "--any-issuer --accept warning").exit_code, 1);
  // contraindicated can never be accepted.
  EXPECT_EQ(Verify(t, "--issuer rp-test --accept contraindicated").exit_code, 2);
}

TEST_F(TokenVerifyCli, WarningNeedsAcceptWarning) {
  const std::string t = Token("warning", "warning");
  EXPECT_EQ(Verify(t, "--issuer rp-test").exit_code, 1);
  EXPECT_EQ(Verify(t, "--issuer rp-test --accept affirming").exit_code, 1);
  EXPECT_EQ(Verify(t, "--issuer rp-test --accept warning").exit_code, 0);
}

TEST_F(TokenVerifyCli, IssuerMustBeNamedAndMatch) {
  const std::string t = Token("affirming", "affirming");
  EXPECT_EQ(Verify(t, "").exit_code, 2) << "no --issuer and no --any-issuer";
  EXPECT_EQ(Verify(t, "--issuer").exit_code, 2);
  EXPECT_EQ(Verify(t, "--issuer \"\"").exit_code, 2);
  EXPECT_EQ(Verify(t, "--issuer rp-test --any-issuer").exit_code, 2);
  EXPECT_EQ(Verify(t, "--issuer rp-other").exit_code, 1);
  EXPECT_EQ(Verify(t, "--issuer RP-TEST").exit_code, 1);
  EXPECT_EQ(Verify(t, "--any-issuer").exit_code, 0);
  const std::string no_iss = Token("no_iss", "affirming", [](nlohmann::json& c) { c.erase("iss"); });
  EXPECT_EQ(Verify(no_iss, "--issuer rp-test").exit_code, 1);
}

TEST_F(TokenVerifyCli, AudienceMustMatch) {
  const std::string for_kms = Token("aud", "affirming", [](nlohmann::json& c) { c["aud"] = "kms-a"; });
  const std::string no_aud = Token("no_aud", "affirming");
  EXPECT_EQ(Verify(for_kms, "--issuer rp-test --audience kms-a").exit_code, 0);
  EXPECT_EQ(Verify(for_kms, "--issuer rp-test --audience kms-b").exit_code, 1);
  EXPECT_EQ(Verify(for_kms, "--issuer rp-test").exit_code, 1) << "aud present, none expected";
  EXPECT_EQ(Verify(no_aud, "--issuer rp-test --audience kms-a").exit_code, 1);
  EXPECT_EQ(Verify(no_aud, "--issuer rp-test").exit_code, 0);
}

}  // namespace
