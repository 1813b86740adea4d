#include "server/token/key_manager.h"

#include <fstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"
#include "verifier/common/encoding.h"
#include "verifier/common/status_macros.h"
#include "verifier/crypto/signature.h"

namespace rp::token {
namespace {

// Debian's Abseil has its own string_view; bridge std::string_view into
// absl::StrCat.
absl::string_view Av(std::string_view s) { return {s.data(), s.size()}; }

// A PEM private key is a few hundred bytes.
constexpr size_t kMaxPemBytes = size_t{64} * 1024;

absl::StatusOr<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot open ", path));
  }
  std::string content(kMaxPemBytes + 1, '\0');
  in.read(content.data(), static_cast<std::streamsize>(content.size()));
  if (in.bad()) {
    return absl::DataLossError(absl::StrCat("read error on ", path));
  }
  content.resize(static_cast<size_t>(in.gcount()));
  if (content.size() > kMaxPemBytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s is larger than %d bytes", path, kMaxPemBytes));
  }
  return content;
}

absl::StatusOr<KeyStatus> ParseKeyStatus(std::string_view s) {
  if (s == "current") {
    return KeyStatus::kCurrent;
  }
  if (s == "next") {
    return KeyStatus::kNext;
  }
  if (s == "previous") {
    return KeyStatus::kPrevious;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "status \"", Av(s), "\" is not one of current | next | previous"));
}

// Validates a key pair and derives its JWK and kid. `required` (if set) is
// the algorithm the key must serve; otherwise the curve picks it.
absl::StatusOr<std::shared_ptr<const SigningKey>> MakeSigningKey(
    crypto::OpensslPtr<EVP_PKEY> key, const JwsAlgorithm* required) {
  if (key == nullptr) {
    return absl::InvalidArgumentError("no key");
  }
  const std::string_view curve = crypto::EcCurveName(key.get());
  JwsAlgorithm alg;
  if (curve == "P-256") {
    alg = JwsAlgorithm::kEs256;
  } else if (curve == "P-384") {
    alg = JwsAlgorithm::kEs384;
  } else if (curve.empty()) {
    return absl::InvalidArgumentError("not an EC key (need P-256 or P-384)");
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "curve ", Av(curve), " is not supported (need P-256 or P-384)"));
  }
  if (required != nullptr && alg != *required) {
    return absl::InvalidArgumentError(absl::StrCat(
        "key is on ", Av(curve), " but ", Av(JwsAlgorithmName(*required)),
        " needs ", Av(JwsAlgorithmCurve(*required))));
  }
  // Sign and verify a probe: proves the private key is present and matches
  // the public key we are about to publish.
  constexpr std::string_view kProbe = "rp-token-key-probe";
  const bool sha384 = alg == JwsAlgorithm::kEs384;
  absl::StatusOr<Bytes> sig =
      crypto::SignEcdsaP1363(key.get(), AsBytes(kProbe), sha384);
  if (!sig.ok()) {
    return Annotate(sig.status(), "cannot sign (is it a private key?)");
  }
  RETURN_IF_ERROR(
      Annotate(crypto::VerifyEcdsaP1363(key.get(), AsBytes(kProbe), *sig,
                                        sha384 ? crypto::HashAlg::kSha384
                                               : crypto::HashAlg::kSha256),
               "probe signature does not verify"));

  auto out = std::make_shared<SigningKey>();
  ASSIGN_OR_RETURN(out->jwk, crypto::EcPublicJwk(key.get()));
  ASSIGN_OR_RETURN(const Bytes thumbprint,
                   crypto::JwkThumbprintSha256(out->jwk));
  out->kid = Base64UrlEncode(thumbprint);
  out->alg = alg;
  out->key = std::move(key);
  return std::shared_ptr<const SigningKey>(std::move(out));
}

absl::StatusOr<std::shared_ptr<const SigningKey>> GenerateSigningKey(
    JwsAlgorithm alg) {
  ASSIGN_OR_RETURN(crypto::OpensslPtr<EVP_PKEY> key,
                   crypto::GenerateEcKey(JwsAlgorithmCurve(alg)));
  return MakeSigningKey(std::move(key), &alg);
}

attestation::v1::Jwk ToJwk(const SigningKey& key) {
  attestation::v1::Jwk jwk;
  jwk.set_kty(key.jwk.kty);
  jwk.set_crv(key.jwk.crv);
  jwk.set_x(key.jwk.x);
  jwk.set_y(key.jwk.y);
  jwk.set_kid(key.kid);
  jwk.set_alg(std::string(JwsAlgorithmName(key.alg)));
  jwk.set_use("sig");
  return jwk;
}

}  // namespace

std::string_view JwsAlgorithmName(JwsAlgorithm alg) {
  return alg == JwsAlgorithm::kEs384 ? "ES384" : "ES256";
}

std::string_view JwsAlgorithmCurve(JwsAlgorithm alg) {
  return alg == JwsAlgorithm::kEs384 ? "P-384" : "P-256";
}

absl::StatusOr<JwsAlgorithm> ParseJwsAlgorithm(std::string_view name) {
  if (name.empty() || name == "ES256") {
    return JwsAlgorithm::kEs256;
  }
  if (name == "ES384") {
    return JwsAlgorithm::kEs384;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "algorithm \"", Av(name), "\" is not supported (ES256 | ES384)"));
}

std::string_view KeyStatusName(KeyStatus status) {
  switch (status) {
    case KeyStatus::kCurrent:
      return "current";
    case KeyStatus::kNext:
      return "next";
    case KeyStatus::kPrevious:
      return "previous";
  }
  return "unknown";
}

absl::StatusOr<std::unique_ptr<KeyManager>> KeyManager::Create(
    const attestation::v1::TokenConfig& config) {
  absl::StatusOr<JwsAlgorithm> alg = ParseJwsAlgorithm(config.algorithm());
  if (!alg.ok()) {
    return Annotate(alg.status(), "token keys");
  }
  std::vector<KeySpec> specs;
  for (int i = 0; i < config.keys_size(); ++i) {
    const attestation::v1::SigningKeyConfig& kc = config.keys(i);
    const std::string where =
        absl::StrFormat("token keys[%d] (%s)", i, kc.pem_file());
    if (kc.pem_file().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": pem_file is empty"));
    }
    absl::StatusOr<KeyStatus> status = ParseKeyStatus(kc.status());
    if (!status.ok()) {
      return Annotate(status.status(), where);
    }
    absl::StatusOr<std::string> pem = ReadSmallFile(kc.pem_file());
    if (!pem.ok()) {
      return Annotate(pem.status(), where);
    }
    absl::StatusOr<crypto::OpensslPtr<EVP_PKEY>> key =
        crypto::ParsePrivateKeyPem(*pem);
    if (!key.ok()) {
      return Annotate(key.status(), where);
    }
    specs.push_back(KeySpec{*std::move(key), *status, where});
  }
  return CreateFromKeys(*alg, std::move(specs));
}

absl::StatusOr<std::unique_ptr<KeyManager>> KeyManager::CreateFromKeys(
    JwsAlgorithm alg, std::vector<KeySpec> keys) {
  std::unique_ptr<KeyManager> manager(new KeyManager(alg));
  if (keys.empty()) {
    absl::StatusOr<std::shared_ptr<const SigningKey>> generated =
        GenerateSigningKey(alg);
    if (!generated.ok()) {
      return Annotate(generated.status(), "token keys: generate");
    }
    absl::MutexLock lock(&manager->mu_);
    manager->current_ = *std::move(generated);
    return manager;
  }

  std::shared_ptr<const SigningKey> current;
  std::shared_ptr<const SigningKey> next;
  std::vector<std::shared_ptr<const SigningKey>> previous;
  std::vector<std::string> kids;
  for (size_t i = 0; i < keys.size(); ++i) {
    KeySpec& spec = keys[i];
    const std::string where = spec.source.empty()
                                  ? absl::StrFormat("token keys[%d]", i)
                                  : spec.source;
    // Only keys that sign (current) or will sign (next) must match the
    // configured algorithm.
    const bool signs = spec.status != KeyStatus::kPrevious;
    absl::StatusOr<std::shared_ptr<const SigningKey>> key =
        MakeSigningKey(std::move(spec.key), signs ? &alg : nullptr);
    if (!key.ok()) {
      return Annotate(
          key.status(),
          absl::StrCat(where, " (", Av(KeyStatusName(spec.status)), ")"));
    }
    for (const std::string& kid : kids) {
      if (kid == (*key)->kid) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": the same key is configured twice (kid ", kid, ")"));
      }
    }
    kids.push_back((*key)->kid);
    switch (spec.status) {
      case KeyStatus::kCurrent:
        if (current != nullptr) {
          return absl::InvalidArgumentError(absl::StrCat(
              where,
              ": more than one key has status current; exactly one must"));
        }
        current = *std::move(key);
        break;
      case KeyStatus::kNext:
        if (next != nullptr) {
          return absl::InvalidArgumentError(absl::StrCat(
              where, ": more than one key has status next; at most one may"));
        }
        next = *std::move(key);
        break;
      case KeyStatus::kPrevious:
        previous.push_back(*std::move(key));
        break;
    }
  }
  if (current == nullptr) {
    return absl::InvalidArgumentError(
        "token keys: no key has status current; exactly one must");
  }
  if (previous.size() > kMaxPreviousKeys) {
    return absl::InvalidArgumentError(
        absl::StrFormat("token keys: %d previous keys, at most %d",
                        previous.size(), kMaxPreviousKeys));
  }
  absl::MutexLock lock(&manager->mu_);
  manager->current_ = std::move(current);
  manager->next_ = std::move(next);
  manager->previous_ = std::move(previous);
  return manager;
}

std::shared_ptr<const SigningKey> KeyManager::Current() const {
  absl::ReaderMutexLock lock(&mu_);
  return current_;
}

absl::Status KeyManager::Rotate() {
  // Key generation is the slow part: do it outside the lock. Two keys cover
  // the case without a published next key (one becomes current at once).
  std::shared_ptr<const SigningKey> spare[2];
  for (auto& key : spare) {
    absl::StatusOr<std::shared_ptr<const SigningKey>> generated =
        GenerateSigningKey(alg_);
    if (!generated.ok()) {
      return Annotate(generated.status(), "token keys: rotate: generate key");
    }
    key = *std::move(generated);
  }
  absl::MutexLock lock(&mu_);
  // The published next key (or, if none, a fresh one) signs from now on.
  std::shared_ptr<const SigningKey> new_current =
      next_ != nullptr ? std::move(next_) : std::move(spare[1]);
  previous_.insert(previous_.begin(), std::move(current_));
  if (previous_.size() > kMaxPreviousKeys) {
    previous_.resize(kMaxPreviousKeys);
  }
  current_ = std::move(new_current);
  next_ = std::move(spare[0]);
  return absl::OkStatus();
}

attestation::v1::Jwks KeyManager::Jwks() const {
  absl::ReaderMutexLock lock(&mu_);
  attestation::v1::Jwks jwks;
  *jwks.add_keys() = ToJwk(*current_);
  if (next_ != nullptr) {
    *jwks.add_keys() = ToJwk(*next_);
  }
  for (const auto& key : previous_) {
    *jwks.add_keys() = ToJwk(*key);
  }
  return jwks;
}

std::string KeyManager::JwksJson() const {
  const attestation::v1::Jwks jwks = Jwks();
  nlohmann::json keys = nlohmann::json::array();
  for (const attestation::v1::Jwk& k : jwks.keys()) {
    keys.push_back({{"kty", k.kty()},
                    {"crv", k.crv()},
                    {"x", k.x()},
                    {"y", k.y()},
                    {"kid", k.kid()},
                    {"alg", k.alg()},
                    {"use", k.use()}});
  }
  // All members are ASCII (base64url and fixed names), so dump cannot throw.
  return nlohmann::json{{"keys", std::move(keys)}}.dump();
}

absl::StatusOr<KeyStatus> KeyManager::StatusOf(std::string_view kid) const {
  absl::ReaderMutexLock lock(&mu_);
  if (current_->kid == kid) {
    return KeyStatus::kCurrent;
  }
  if (next_ != nullptr && next_->kid == kid) {
    return KeyStatus::kNext;
  }
  for (const auto& key : previous_) {
    if (key->kid == kid) {
      return KeyStatus::kPrevious;
    }
  }
  return absl::NotFoundError(
      absl::StrCat("no active signing key with kid ", Av(kid)));
}

}  // namespace rp::token
