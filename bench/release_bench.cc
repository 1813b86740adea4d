// Key release throughput on the token path (Release(token, resource)):
// ES256 token signature + claims, jti single use, the release rule, the
// directory store read, and the JWE to the TEE key (ECDH-ES+A256KW on
// P-256: one ephemeral key generation + one ECDH, then AES-KW + A256GCM).
// The unavoidable public-key work per release is 1 ECDSA P-256 verify and
// 1 ECDH P-256 (plus the ephemeral key generation); scripts/bench.sh prints
// `openssl speed ecdsap256 ecdhp256` next to it.
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "policy/appraisal.h"
#include "release/directory_store.h"
#include "release/jwe.h"
#include "server/key_release.h"
#include "server/nonce/replay_store.h"
#include "server/token/key_manager.h"
#include "server/token/token_issuer.h"
#include "verifier/common/clock.h"
#include "verifier/crypto/openssl_ptr.h"

namespace {

using namespace rp;  // NOLINT: benchmark file

constexpr char kResource[] = "kms/model/key";
constexpr int kTokens = 20000;

std::string P256Pem() {
  crypto::OpensslPtr<EVP_PKEY> k(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  crypto::OpensslPtr<BIO> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), k.get(), nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

void BM_ReleaseWithToken(benchmark::State& state) {
  const auto dir = std::filesystem::temp_directory_path() /
                   absl::StrCat("release_bench_", ::getpid());
  std::filesystem::remove_all(dir);
  auto store = release::DirectoryStore::Create(dir.string());
  if (!store.ok() || !(*store)->Put(kResource, AsBytes(std::string(32, 'k'))).ok()) {
    state.SkipWithError("store");
    return;
  }
  FakeClock clock(absl::FromUnixSeconds(1800000000));
  auto keys = rp::token::KeyManager::CreateFromKeys(rp::token::JwsAlgorithm::kEs256, {});
  attestation::v1::TokenConfig tc;
  tc.set_issuer("bench");
  tc.add_audiences("kms");
  auto issuer = rp::token::TokenIssuer::Create(tc, clock, **keys);
  auto p = policy::ParsePolicy(R"yaml(
id: strict
release_rules:
  - name: kms/model/key
    all_of:
      - {claim: /ear.status, op: eq, value: affirming}
      - {every: "*", claim: /ear.status, op: eq, value: affirming}
      - {every: "gpu*", claim: /claims/measurements_match, op: eq, value: "true"}
      - {count: "gpu*", op: ge, value: "8"}
)yaml",
                               "bench.yaml");
  if (!keys.ok() || !issuer.ok() || !p.ok()) {
    state.SkipWithError("setup");
    return;
  }
  auto policy = std::make_shared<attestation::v1::Policy>(p->policy);
  attestation::v1::KeyReleaseConfig kc;
  auto* r = kc.add_resources();
  r->set_name(kResource);
  r->set_policy("strict");
  r->add_audiences("kms");
  auto resources = release::LoadResources(kc, "strict");
  nonce::InMemoryReplayStore replay(2 * kTokens, clock);
  server::ReplayJtiStore jtis(replay);
  server::ServerTokenAuthority authority(**keys, "bench");
  auto svc = release::ReleaseService::Create(
      release::ReleaseService::Deps{clock, authority, jtis, **store,
                                    [policy](std::string_view) { return policy; }},
      *std::move(resources));
  // Tokens of an affirming TDX + 8 GPU node (claims shape only), made
  // before timing: single use, so one per release.
  auto jwk = release::PublicJwkOfKeyPem(P256Pem());
  nlohmann::json claims;
  claims["ear.status"] = "affirming";
  claims["policy"] = {{"id", "strict"}, {"version", "1"}, {"sha256", "ab"}};
  claims["cnf"] = {{"jwk", {{"kty", "EC"}, {"crv", jwk->crv()}, {"x", jwk->x()}, {"y", jwk->y()}}}};
  claims["submods"]["cpu0"] = {{"ear.status", "affirming"}, {"claims", {{"tcb_status", "UpToDate"}}}};
  for (int i = 0; i < 8; ++i) {
    claims["submods"][absl::StrCat("gpu", i)] = {{"ear.status", "affirming"},
                                                {"claims", {{"measurements_match", true}}}};
  }
  std::vector<std::string> tokens;
  tokens.reserve(kTokens);
  for (int i = 0; i < kTokens; ++i) tokens.push_back(*(*issuer)->Issue(claims, "kms"));
  size_t next = 0;
  for (auto _ : state) {
    if (next == tokens.size()) {
      state.SkipWithError("out of pre-made tokens");
      break;
    }
    release::ReleaseResult res =
        (*svc)->Release(release::ReleaseRequest{tokens[next++], kResource, false});
    if (!res.status.ok()) {
      state.SkipWithError(std::string(res.status.message()).c_str());
      break;
    }
    benchmark::DoNotOptimize(res.jwe);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_ReleaseWithToken)->Unit(benchmark::kMicrosecond)->Iterations(5000);

}  // namespace

BENCHMARK_MAIN();
