#include "release/jwe.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <array>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"
#include "verifier/common/status_macros.h"
#include "verifier/common/strict_json.h"
#include "verifier/crypto/keys.h"
#include "verifier/crypto/openssl_error.h"
#include "verifier/crypto/openssl_ptr.h"

namespace rp::release {
namespace {

using crypto::OpensslPtr;
using crypto::WithOpensslErrors;
using nlohmann::json;

// Owners for the OpenSSL types that crypto/openssl_ptr.h does not cover (kept
// local: only this file uses them).
struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); }
};
struct CipherFree {
  void operator()(EVP_CIPHER* p) const { EVP_CIPHER_free(p); }
};
struct KdfFree {
  void operator()(EVP_KDF* p) const { EVP_KDF_free(p); }
};
struct KdfCtxFree {
  void operator()(EVP_KDF_CTX* p) const { EVP_KDF_CTX_free(p); }
};
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;
using CipherPtr = std::unique_ptr<EVP_CIPHER, CipherFree>;
using KdfPtr = std::unique_ptr<EVP_KDF, KdfFree>;
using KdfCtxPtr = std::unique_ptr<EVP_KDF_CTX, KdfCtxFree>;

constexpr size_t kCekBytes = 32;         // A256GCM
constexpr size_t kIvBytes = 12;          // RFC 7518 §5.3: 96-bit IV
constexpr size_t kTagBytes = 16;         // 128-bit tag
constexpr size_t kKekBytes = 32;         // A256KW
constexpr size_t kWrappedCekBytes = 40;  // RFC 3394: n+1 64-bit blocks
constexpr size_t kMaxRsaExponentBytes = 8;
constexpr int kMaxJsonDepth =
    4;  // flattened JWE: 1; protected header with epk: 2

struct Curve {
  const char* jwk_name;      // "P-256"
  const char* openssl_name;  // "prime256v1"
  int nid;
  size_t field_bytes;
};

constexpr std::array<Curve, 3> kCurves = {{
    {"P-256", "prime256v1", NID_X9_62_prime256v1, 32},
    {"P-384", "secp384r1", NID_secp384r1, 48},
    {"P-521", "secp521r1", NID_secp521r1, 66},
}};

const Curve* CurveByJwkName(std::string_view name) {
  for (const Curve& c : kCurves) {
    if (name == c.jwk_name) {
      return &c;
    }
  }
  return nullptr;
}

const Curve* CurveOfKey(const EVP_PKEY* key) {
  char name[64] = {0};
  size_t len = 0;
  if (EVP_PKEY_get_group_name(key, name, sizeof(name), &len) != 1) {
    return nullptr;
  }
  int nid = OBJ_txt2nid(name);
  if (nid == NID_undef) {
    nid = EC_curve_nist2nid(name);
  }
  for (const Curve& c : kCurves) {
    if (nid == c.nid) {
      return &c;
    }
  }
  return nullptr;
}

absl::Status Invalid(absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("jwe: ", message));
}
absl::Status Refused(absl::string_view message) {
  return absl::FailedPreconditionError(absl::StrCat("jwe: ", message));
}
absl::Status Internal(absl::string_view message) {
  return absl::InternalError(WithOpensslErrors(absl::StrCat("jwe: ", message)));
}

absl::string_view Av(std::string_view s) { return {s.data(), s.size()}; }

bool IsBase64UrlChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '_';
}

// RFC 7515 §2 base64url: URL alphabet only, no padding, no whitespace,
// canonical trailing bits.
absl::StatusOr<Bytes> DecodeB64u(std::string_view text,
                                 absl::string_view name) {
  for (size_t i = 0; i < text.size(); ++i) {
    if (!IsBase64UrlChar(text[i])) {
      return Invalid(
          absl::StrCat(name, ": character ", i, " is not unpadded base64url"));
    }
  }
  absl::StatusOr<Bytes> bytes = Base64Decode(text);
  if (!bytes.ok()) {
    return Invalid(absl::StrCat(name, ": ", bytes.status().message()));
  }
  return bytes;
}

// A JSON object with no duplicate member names at any level (RFC 7516 §4:
// the header must not have them; "last wins" would let two parsers read one
// JWE differently) and bounded nesting.
absl::StatusOr<json> ParseObject(std::span<const uint8_t> bytes,
                                 absl::string_view name) {
  absl::StatusOr<json> parsed = ParseStrictJsonObject(bytes, name, kMaxJsonDepth);
  if (!parsed.ok()) return Invalid(parsed.status().message());
  return parsed;
}

absl::StatusOr<std::string> DumpJson(const json& value) {
  try {
    return value.dump(-1, ' ', /*ensure_ascii=*/false,
                      json::error_handler_t::strict);
  } catch (const json::exception& e) {
    return Invalid(absl::StrCat("header is not valid UTF-8: ", e.what()));
  }
}

// ---------------------------------------------------------------------------
// Keys

absl::StatusOr<Bytes> DecodeJwkMember(absl::string_view name,
                                      std::string_view value) {
  if (value.empty()) {
    return Invalid(absl::StrCat("jwk: missing \"", name, "\""));
  }
  absl::StatusOr<Bytes> bytes =
      DecodeB64u(value, absl::StrCat("jwk \"", name, "\""));
  if (!bytes.ok()) {
    return bytes.status();
  }
  return bytes;
}

absl::StatusOr<Bytes> BnParam(const EVP_PKEY* key, const char* param,
                              size_t pad_to) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, param, &raw) != 1) {
    return Internal(absl::StrCat("key: get ", param));
  }
  OpensslPtr<BIGNUM> bn(raw);
  if (pad_to == 0) {
    Bytes out(static_cast<size_t>(BN_num_bytes(bn.get())));
    BN_bn2bin(bn.get(), out.data());
    return out;
  }
  Bytes out(pad_to);
  if (BN_bn2binpad(bn.get(), out.data(), static_cast<int>(pad_to)) !=
      static_cast<int>(pad_to)) {
    return Internal(absl::StrCat("key: ", param, " wider than the field"));
  }
  return out;
}

absl::StatusOr<OpensslPtr<EVP_PKEY>> KeyFromParams(const char* type,
                                                   OSSL_PARAM_BLD* bld,
                                                   absl::string_view what) {
  OpensslPtr<OSSL_PARAM> params(OSSL_PARAM_BLD_to_param(bld));
  if (params == nullptr) {
    return Internal("OSSL_PARAM_BLD_to_param");
  }
  OpensslPtr<EVP_PKEY_CTX> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  if (ctx == nullptr || EVP_PKEY_fromdata_init(ctx.get()) != 1) {
    return Internal("EVP_PKEY_fromdata_init");
  }
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) !=
      1) {
    return Invalid(
        WithOpensslErrors(absl::StrCat(what, ": not a valid public key")));
  }
  OpensslPtr<EVP_PKEY> key(raw);
  // EC: the point is on the curve and not the identity (an off-curve epk or
  // recipient key enables invalid-curve attacks on ECDH). RSA: SP 800-56B
  // public checks (odd modulus, odd exponent in range, composite).
  OpensslPtr<EVP_PKEY_CTX> check(
      EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (check == nullptr || EVP_PKEY_public_check(check.get()) != 1) {
    return Invalid(
        WithOpensslErrors(absl::StrCat(what, ": public key check failed")));
  }
  return key;
}

absl::StatusOr<OpensslPtr<EVP_PKEY>> EcKeyFromCoordinates(
    const Curve& curve, std::string_view x_b64, std::string_view y_b64,
    absl::string_view what) {
  ASSIGN_OR_RETURN(const Bytes x, DecodeJwkMember("x", x_b64));
  ASSIGN_OR_RETURN(const Bytes y, DecodeJwkMember("y", y_b64));
  // RFC 7518 §6.2.1.2: each coordinate is the full field size.
  if (x.size() != curve.field_bytes || y.size() != curve.field_bytes) {
    return Invalid(absl::StrCat(what, ": coordinates are ", x.size(), " and ",
                                y.size(), " bytes, expected ",
                                curve.field_bytes, " for ", curve.jwk_name));
  }
  Bytes point;
  point.reserve(1 + 2 * curve.field_bytes);
  point.push_back(0x04);  // SEC 1 uncompressed
  point.insert(point.end(), x.begin(), x.end());
  point.insert(point.end(), y.begin(), y.end());
  OpensslPtr<OSSL_PARAM_BLD> bld(OSSL_PARAM_BLD_new());
  if (bld == nullptr ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME,
                                      curve.openssl_name, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY,
                                       point.data(), point.size()) != 1) {
    return Internal("OSSL_PARAM_BLD (EC)");
  }
  return KeyFromParams("EC", bld.get(), what);
}

// Decoded RSA modulus (minimal big-endian, RFC 7518 §6.3.1.1) and its size.
absl::StatusOr<Bytes> RsaModulus(std::string_view n_b64) {
  ASSIGN_OR_RETURN(Bytes n, DecodeJwkMember("n", n_b64));
  if (n.empty() || n[0] == 0) {
    return Invalid("jwk: \"n\" has a leading zero octet (RFC 7518 §6.3.1.1)");
  }
  return n;
}

int BitLength(const Bytes& minimal_be) {
  if (minimal_be.empty()) {
    return 0;
  }
  int bits = static_cast<int>(minimal_be.size() - 1) * 8;
  for (uint8_t top = minimal_be[0]; top != 0; top >>= 1) {
    ++bits;
  }
  return bits;
}

// Primes below 2^16, for RsaModulusHasNoSmallFactor.
const std::vector<uint32_t>& SmallPrimes() {
  static const std::vector<uint32_t>* const primes = [] {
    constexpr uint32_t kBound = 1u << 16;
    std::vector<bool> composite(kBound, false);
    auto* out = new std::vector<uint32_t>();
    for (uint32_t i = 2; i < kBound; ++i) {
      if (composite[i]) continue;
      out->push_back(i);
      for (uint32_t j = i * i; j < kBound; j += i) composite[j] = true;
    }
    return out;
  }();
  return *primes;
}

// A deterministic screen before OpenSSL's SP 800-56B public check. That
// check's Miller-Rabin rounds use random bases and refuse a modulus whose
// factor a base happens to expose, so a modulus with a small factor was
// accepted on one call and refused on the next (jwk_fuzzer found one with the
// factor 937, accepted by KeyManagementFor and refused by EncryptToJwk). A
// genuine RSA modulus has no prime factor below 2^16: refuse any that has,
// every time.
absl::Status RsaModulusHasNoSmallFactor(const BIGNUM* n) {
  for (const uint32_t p : SmallPrimes()) {
    const BN_ULONG r = BN_mod_word(n, p);
    if (r == static_cast<BN_ULONG>(-1)) return Internal("BN_mod_word");
    if (r == 0) {
      return Invalid(absl::StrCat("jwk: public key check failed: the RSA modulus has the small "
                                  "prime factor ", p));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<OpensslPtr<EVP_PKEY>> RsaKeyFromJwk(const Bytes& n,
                                                   std::string_view e_b64) {
  ASSIGN_OR_RETURN(const Bytes e, DecodeJwkMember("e", e_b64));
  if (e.empty() || e[0] == 0 || e.size() > kMaxRsaExponentBytes) {
    return Invalid("jwk: \"e\" is not a minimal exponent of at most 64 bits");
  }
  OpensslPtr<BIGNUM> bn_n(
      BN_bin2bn(n.data(), static_cast<int>(n.size()), nullptr));
  OpensslPtr<BIGNUM> bn_e(
      BN_bin2bn(e.data(), static_cast<int>(e.size()), nullptr));
  OpensslPtr<OSSL_PARAM_BLD> bld(OSSL_PARAM_BLD_new());
  if (bn_n != nullptr) RETURN_IF_ERROR(RsaModulusHasNoSmallFactor(bn_n.get()));
  if (bn_n == nullptr || bn_e == nullptr || bld == nullptr ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) !=
          1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) !=
          1) {
    return Internal("OSSL_PARAM_BLD (RSA)");
  }
  return KeyFromParams("RSA", bld.get(), "jwk");
}

crypto::JwkPublic ToJwkPublic(const attestation::v1::Jwk& jwk) {
  crypto::JwkPublic out;
  out.kty = jwk.kty();
  out.crv = jwk.crv();
  out.x = jwk.x();
  out.y = jwk.y();
  out.n = jwk.n();
  out.e = jwk.e();
  return out;
}

absl::StatusOr<std::string> Thumbprint(const crypto::JwkPublic& jwk) {
  absl::StatusOr<Bytes> digest = crypto::JwkThumbprintSha256(jwk);
  if (!digest.ok()) {
    return Invalid(digest.status().message());
  }
  return Base64UrlEncode(*digest);
}

// Public JWK members of an EC (P-256/384/521) or RSA key, private or public.
absl::StatusOr<crypto::JwkPublic> PublicJwkOfKey(const EVP_PKEY* key) {
  crypto::JwkPublic jwk;
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_EC: {
      const Curve* curve = CurveOfKey(key);
      if (curve == nullptr) {
        return Refused("key: EC curve is not P-256, P-384 or P-521");
      }
      ASSIGN_OR_RETURN(const Bytes x, BnParam(key, OSSL_PKEY_PARAM_EC_PUB_X,
                                              curve->field_bytes));
      ASSIGN_OR_RETURN(const Bytes y, BnParam(key, OSSL_PKEY_PARAM_EC_PUB_Y,
                                              curve->field_bytes));
      jwk.kty = "EC";
      jwk.crv = curve->jwk_name;
      jwk.x = Base64UrlEncode(x);
      jwk.y = Base64UrlEncode(y);
      return jwk;
    }
    case EVP_PKEY_RSA: {
      ASSIGN_OR_RETURN(const Bytes n, BnParam(key, OSSL_PKEY_PARAM_RSA_N, 0));
      ASSIGN_OR_RETURN(const Bytes e, BnParam(key, OSSL_PKEY_PARAM_RSA_E, 0));
      jwk.kty = "RSA";
      jwk.n = Base64UrlEncode(n);
      jwk.e = Base64UrlEncode(e);
      return jwk;
    }
    default:
      return Refused("key: not an EC or RSA key");
  }
}

// A recipient we are willing to wrap to, fully validated.
struct Recipient {
  std::string alg;
  const Curve* curve = nullptr;  // EC only
  OpensslPtr<EVP_PKEY> key;
};

std::string AlgRefusalHint(std::string_view alg) {
  if (alg == "RSA1_5") {
    return " (RSAES-PKCS1-v1_5 is being deprecated and is open to padding "
           "oracles)";
  }
  if (alg == "RSA-OAEP") {
    return " (OAEP with SHA-1)";
  }
  if (alg == "dir") {
    return " (direct use of a shared key)";
  }
  if (alg == "ECDH-ES") {
    return " (direct key agreement; we always wrap the CEK)";
  }
  return "";
}

absl::StatusOr<Recipient> ResolveRecipient(const attestation::v1::Jwk& jwk) {
  Recipient r;
  if (jwk.kty().empty()) {
    return Invalid("jwk: missing \"kty\"");
  }
  Bytes modulus;
  if (jwk.kty() == "EC") {
    r.curve = CurveByJwkName(jwk.crv());
    if (r.curve == nullptr) {
      return Refused(absl::StrCat("jwk: EC curve \"", jwk.crv(),
                                  "\" is not allowed (P-256, P-384 or P-521)"));
    }
    r.alg = std::string(kAlgEcdhEsA256kw);
  } else if (jwk.kty() == "RSA") {
    ASSIGN_OR_RETURN(modulus, RsaModulus(jwk.n()));
    const int bits = BitLength(modulus);
    if (bits < kMinRsaModulusBits) {
      return Refused(absl::StrCat("jwk: RSA modulus is ", bits,
                                  " bits; at least ", kMinRsaModulusBits,
                                  " required"));
    }
    if (bits > kMaxRsaModulusBits) {
      return Refused(absl::StrCat("jwk: RSA modulus is ", bits,
                                  " bits; at most ", kMaxRsaModulusBits,
                                  " accepted"));
    }
    r.alg = std::string(kAlgRsaOaep256);
  } else {
    return Refused(
        absl::StrCat("jwk: kty \"", jwk.kty(),
                     "\" is not allowed for key release (EC or RSA)"));
  }
  if (!jwk.alg().empty() && jwk.alg() != r.alg) {
    return Refused(absl::StrCat("jwk: alg \"", jwk.alg(), "\" is refused",
                                AlgRefusalHint(jwk.alg()), "; a ", jwk.kty(),
                                " key must say \"", r.alg, "\" or nothing"));
  }
  if (!jwk.use().empty() && jwk.use() != "enc") {
    return Refused(absl::StrCat("jwk: use \"", jwk.use(), "\" is not \"enc\""));
  }
  if (r.curve != nullptr) {
    ASSIGN_OR_RETURN(r.key,
                     EcKeyFromCoordinates(*r.curve, jwk.x(), jwk.y(), "jwk"));
  } else {
    ASSIGN_OR_RETURN(r.key, RsaKeyFromJwk(modulus, jwk.e()));
  }
  return r;
}

absl::StatusOr<OpensslPtr<EVP_PKEY>> ParseAnyKeyPem(std::string_view pem) {
  if (pem.find("PRIVATE KEY-----") != std::string_view::npos) {
    return crypto::ParsePrivateKeyPem(pem);
  }
  return crypto::ParsePublicKeyPem(pem);
}

// ---------------------------------------------------------------------------
// Primitives

absl::StatusOr<SecretBytes> RandomSecret(size_t n) {
  SecretBytes out(n);
  if (RAND_priv_bytes(out.data(), static_cast<int>(n)) != 1) {
    return Internal("RAND_priv_bytes");
  }
  return out;
}

absl::StatusOr<SecretBytes> EcdhSharedSecret(const EVP_PKEY* priv,
                                             const EVP_PKEY* peer) {
  OpensslPtr<EVP_PKEY_CTX> ctx(
      EVP_PKEY_CTX_new_from_pkey(nullptr, crypto::MutableKey(priv), nullptr));
  if (ctx == nullptr || EVP_PKEY_derive_init(ctx.get()) != 1 ||
      EVP_PKEY_derive_set_peer(ctx.get(), crypto::MutableKey(peer)) != 1) {
    return Invalid(
        WithOpensslErrors("jwe: ECDH: keys do not agree (curve mismatch?)"));
  }
  size_t len = 0;
  if (EVP_PKEY_derive(ctx.get(), nullptr, &len) != 1 || len == 0) {
    return Internal("ECDH: size");
  }
  SecretBytes z(len);
  if (EVP_PKEY_derive(ctx.get(), z.data(), &len) != 1) {
    return Internal("ECDH: derive");
  }
  z.resize(len);
  return z;
}

void AppendLengthPrefixed(Bytes& out, std::span<const uint8_t> data) {
  const auto n = static_cast<uint32_t>(data.size());
  out.push_back(static_cast<uint8_t>(n >> 24));
  out.push_back(static_cast<uint8_t>(n >> 16));
  out.push_back(static_cast<uint8_t>(n >> 8));
  out.push_back(static_cast<uint8_t>(n));
  out.insert(out.end(), data.begin(), data.end());
}

absl::StatusOr<std::string> RsaOaepEncrypt(const EVP_PKEY* key,
                                           std::span<const uint8_t> cek) {
  OpensslPtr<EVP_PKEY_CTX> ctx(
      EVP_PKEY_CTX_new_from_pkey(nullptr, crypto::MutableKey(key), nullptr));
  if (ctx == nullptr || EVP_PKEY_encrypt_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) != 1 ||
      EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), EVP_sha256()) != 1 ||
      EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), EVP_sha256()) != 1) {
    return Internal("RSA-OAEP-256: init");
  }
  size_t len = 0;
  if (EVP_PKEY_encrypt(ctx.get(), nullptr, &len, cek.data(), cek.size()) != 1) {
    return Internal("RSA-OAEP-256: size");
  }
  Bytes out(len);
  if (EVP_PKEY_encrypt(ctx.get(), out.data(), &len, cek.data(), cek.size()) !=
      1) {
    return Internal("RSA-OAEP-256: encrypt");
  }
  out.resize(len);
  return Base64UrlEncode(out);
}

// RFC 7516 §11.5: on a failed key decryption, continue with a random CEK so
// that the only observable failure is the tag check, whatever went wrong.
absl::StatusOr<SecretBytes> RsaOaepDecryptOrRandom(
    const EVP_PKEY* key, std::span<const uint8_t> wrapped) {
  ASSIGN_OR_RETURN(SecretBytes random_cek, RandomSecret(kCekBytes));
  OpensslPtr<EVP_PKEY_CTX> ctx(
      EVP_PKEY_CTX_new_from_pkey(nullptr, crypto::MutableKey(key), nullptr));
  if (ctx == nullptr || EVP_PKEY_decrypt_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) != 1 ||
      EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), EVP_sha256()) != 1 ||
      EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), EVP_sha256()) != 1) {
    return Internal("RSA-OAEP-256: init");
  }
  size_t len = 0;
  if (EVP_PKEY_decrypt(ctx.get(), nullptr, &len, wrapped.data(),
                       wrapped.size()) != 1) {
    return Internal("RSA-OAEP-256: size");
  }
  SecretBytes cek(len);
  if (EVP_PKEY_decrypt(ctx.get(), cek.data(), &len, wrapped.data(),
                       wrapped.size()) != 1 ||
      len != kCekBytes) {
    ERR_clear_error();
    return random_cek;
  }
  cek.resize(len);
  return cek;
}

struct GcmOutput {
  Bytes ciphertext;
  Bytes tag;
};

absl::StatusOr<GcmOutput> GcmEncrypt(std::span<const uint8_t> cek,
                                     std::span<const uint8_t> iv,
                                     std::string_view aad,
                                     std::span<const uint8_t> plaintext) {
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (ctx == nullptr ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr,
                         nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN,
                          static_cast<int>(iv.size()), nullptr) != 1 ||
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, cek.data(), iv.data()) !=
          1) {
    return Internal("A256GCM: init");
  }
  int len = 0;
  if (EVP_EncryptUpdate(ctx.get(), nullptr, &len,
                        reinterpret_cast<const uint8_t*>(aad.data()),
                        static_cast<int>(aad.size())) != 1) {
    return Internal("A256GCM: aad");
  }
  GcmOutput out;
  out.ciphertext.resize(plaintext.size());
  int written = 0;
  if (!plaintext.empty() &&
      EVP_EncryptUpdate(ctx.get(), out.ciphertext.data(), &written,
                        plaintext.data(),
                        static_cast<int>(plaintext.size())) != 1) {
    return Internal("A256GCM: encrypt");
  }
  int final_len = 0;
  if (EVP_EncryptFinal_ex(ctx.get(), out.ciphertext.data() + written,
                          &final_len) != 1) {
    return Internal("A256GCM: final");
  }
  out.ciphertext.resize(static_cast<size_t>(written + final_len));
  out.tag.resize(kTagBytes);
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG,
                          static_cast<int>(kTagBytes), out.tag.data()) != 1) {
    return Internal("A256GCM: get tag");
  }
  return out;
}

absl::StatusOr<SecretBytes> GcmDecrypt(std::span<const uint8_t> cek,
                                       std::span<const uint8_t> iv,
                                       std::string_view aad,
                                       std::span<const uint8_t> ciphertext,
                                       std::span<const uint8_t> tag) {
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (ctx == nullptr ||
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr,
                         nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN,
                          static_cast<int>(iv.size()), nullptr) != 1 ||
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, cek.data(), iv.data()) !=
          1) {
    return Internal("A256GCM: init");
  }
  int len = 0;
  if (EVP_DecryptUpdate(ctx.get(), nullptr, &len,
                        reinterpret_cast<const uint8_t*>(aad.data()),
                        static_cast<int>(aad.size())) != 1) {
    return Internal("A256GCM: aad");
  }
  SecretBytes plaintext(ciphertext.size());
  int written = 0;
  if (!ciphertext.empty() &&
      EVP_DecryptUpdate(ctx.get(), plaintext.data(), &written,
                        ciphertext.data(),
                        static_cast<int>(ciphertext.size())) != 1) {
    return Internal("A256GCM: decrypt");
  }
  // The tag ctrl takes a non-const pointer but only reads it.
  std::array<uint8_t, kTagBytes> tag_copy{};
  std::copy(tag.begin(), tag.end(), tag_copy.begin());
  int final_len = 0;
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG,
                          static_cast<int>(kTagBytes), tag_copy.data()) != 1) {
    return Internal("A256GCM: set tag");
  }
  if (EVP_DecryptFinal_ex(ctx.get(), plaintext.data() + written, &final_len) !=
      1) {
    ERR_clear_error();
    // `plaintext` (unauthenticated output) is wiped when it goes out of scope.
    return Invalid(
        "decryption failed (authentication tag mismatch: tampered, or not for "
        "this key)");
  }
  plaintext.resize(static_cast<size_t>(written + final_len));
  return plaintext;
}

// ---------------------------------------------------------------------------
// Header members

// RFC 7515 §4.1, RFC 7516 §4.1, RFC 7518 §4.6.1/§4.7.1/§4.8.1 registered
// names: never settable through JweOptions::extra_protected.
const std::set<std::string, std::less<>>& RegisteredHeaderNames() {
  static const auto* names = new std::set<std::string, std::less<>>{
      "alg", "enc", "zip",      "jku", "jwk", "kid",  "x5u",
      "x5c", "x5t", "x5t#S256", "typ", "cty", "crit", "epk",
      "apu", "apv", "iv",       "tag", "p2s", "p2c"};
  return *names;
}

// Members whose meaning we do not implement; a JWE carrying any is refused
// rather than decrypted with the member ignored.
constexpr std::array<std::string_view, 14> kRefusedHeaderMembers = {
    "zip", "crit", "apu",      "apv", "jku", "jwk", "x5u",
    "x5c", "x5t",  "x5t#S256", "iv",  "tag", "p2s", "p2c"};

absl::Status CheckExtraMembers(
    const std::map<std::string, std::string>& extra) {
  if (extra.size() > kMaxExtraHeaderMembers) {
    return Invalid(absl::StrCat("more than ", kMaxExtraHeaderMembers,
                                " extra header members"));
  }
  for (const auto& [name, value] : extra) {
    if (name.empty() || name.size() > 64) {
      return Invalid("extra header member name must be 1..64 bytes");
    }
    if (RegisteredHeaderNames().count(name) != 0) {
      return Invalid(absl::StrCat("extra header member \"", name,
                                  "\" is a registered JOSE header parameter"));
    }
    if (value.size() > kMaxExtraHeaderValueBytes) {
      return Invalid(absl::StrCat("extra header member \"", name,
                                  "\" is longer than ",
                                  kMaxExtraHeaderValueBytes, " bytes"));
    }
  }
  return absl::OkStatus();
}

struct JweParts {
  std::string protected_b64;
  std::string encrypted_key;
  std::string iv;
  std::string ciphertext;
  std::string tag;
};

absl::StatusOr<JweParts> SplitCompact(std::string_view jwe) {
  std::vector<std::string> parts = absl::StrSplit(Av(jwe), '.');
  if (parts.size() != 5) {
    return Invalid(absl::StrCat("compact serialization has ", parts.size(),
                                " parts, expected 5"));
  }
  return JweParts{std::move(parts[0]), std::move(parts[1]), std::move(parts[2]),
                  std::move(parts[3]), std::move(parts[4])};
}

absl::StatusOr<JweParts> SplitFlattened(std::string_view jwe) {
  ASSIGN_OR_RETURN(const json doc, ParseObject(AsBytes(jwe), "flattened JWE"));
  JweParts parts;
  const std::pair<const char*, std::string*> wanted[] = {
      {"protected", &parts.protected_b64},
      {"encrypted_key", &parts.encrypted_key},
      {"iv", &parts.iv},
      {"ciphertext", &parts.ciphertext},
      {"tag", &parts.tag}};
  for (const auto& [name, out] : wanted) {
    const auto it = doc.find(name);
    if (it == doc.end() || !it->is_string()) {
      return Invalid(absl::StrCat("flattened JWE: \"", name,
                                  "\" missing or not a string"));
    }
    *out = it->get<std::string>();
  }
  for (const auto& [name, value] : doc.items()) {
    const bool known =
        std::any_of(std::begin(wanted), std::end(wanted),
                    [&n = name](const auto& w) { return n == w.first; });  // clang 14: no capture of a structured binding
    if (!known) {
      // "header" (unprotected per-recipient), "unprotected", "aad",
      // "recipients" (general serialization) and anything else.
      return Invalid(
          absl::StrCat("flattened JWE: member \"", name,
                       "\" is refused (only protected, encrypted_key, iv, "
                       "ciphertext, tag)"));
    }
  }
  return parts;
}

std::string_view TrimAsciiWhitespace(std::string_view s) {
  const auto is_ws = [](char c) {
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
  };
  while (!s.empty() && is_ws(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && is_ws(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

// ---------------------------------------------------------------------------
// Internal building blocks

namespace jwe_internal {

absl::StatusOr<SecretBytes> ConcatKdfSha256(
    std::span<const uint8_t> shared_secret, std::string_view algorithm_id,
    std::span<const uint8_t> apu, std::span<const uint8_t> apv,
    size_t keydatalen_bits) {
  if (keydatalen_bits == 0 || keydatalen_bits % 8 != 0 ||
      keydatalen_bits > 1024) {
    return Invalid(absl::StrCat("concat kdf: keydatalen ", keydatalen_bits,
                                " is not a multiple of 8 in 8..1024"));
  }
  if (shared_secret.empty()) {
    return Invalid("concat kdf: empty shared secret");
  }
  // OtherInfo (RFC 7518 §4.6.2): AlgorithmID || PartyUInfo || PartyVInfo ||
  // SuppPubInfo (keydatalen, 32-bit BE) || SuppPrivInfo (empty). SSKDF
  // computes H(counter || Z || info) per block, counter from 1, 32-bit BE —
  // exactly the Concat KDF of SP 800-56A §5.8.1.
  Bytes info;
  AppendLengthPrefixed(info, AsBytes(algorithm_id));
  AppendLengthPrefixed(info, apu);
  AppendLengthPrefixed(info, apv);
  const auto bits = static_cast<uint32_t>(keydatalen_bits);
  info.push_back(static_cast<uint8_t>(bits >> 24));
  info.push_back(static_cast<uint8_t>(bits >> 16));
  info.push_back(static_cast<uint8_t>(bits >> 8));
  info.push_back(static_cast<uint8_t>(bits));

  KdfPtr kdf(EVP_KDF_fetch(nullptr, OSSL_KDF_NAME_SSKDF, nullptr));
  if (kdf == nullptr) {
    return Internal("concat kdf: EVP_KDF_fetch(SSKDF)");
  }
  KdfCtxPtr ctx(EVP_KDF_CTX_new(kdf.get()));
  if (ctx == nullptr) {
    return Internal("concat kdf: EVP_KDF_CTX_new");
  }
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      // OSSL_PARAM wants non-const pointers but only reads octet strings here.
      OSSL_PARAM_construct_octet_string(
          OSSL_KDF_PARAM_SECRET,
          const_cast<uint8_t*>(shared_secret.data()),  // NOLINT
          shared_secret.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info.data(),
                                        info.size()),
      OSSL_PARAM_construct_end()};
  SecretBytes out(keydatalen_bits / 8);
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) {
    return Internal("concat kdf: EVP_KDF_derive");
  }
  return out;
}

absl::StatusOr<Bytes> AesKeyWrap256(std::span<const uint8_t> kek,
                                    std::span<const uint8_t> key) {
  if (kek.size() != kKekBytes) {
    return Invalid(
        absl::StrCat("A256KW: KEK is ", kek.size(), " bytes, expected 32"));
  }
  if (key.size() < 16 || key.size() % 8 != 0 || key.size() > 1024) {
    return Invalid(absl::StrCat("A256KW: key to wrap is ", key.size(),
                                " bytes (a multiple of 8, at least 16)"));
  }
  CipherPtr cipher(EVP_CIPHER_fetch(nullptr, "AES-256-WRAP", nullptr));
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (cipher == nullptr || ctx == nullptr) {
    return Internal("A256KW: fetch");
  }
  EVP_CIPHER_CTX_set_flags(ctx.get(), EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
  // IV null: the RFC 3394 default initial value A6A6A6A6A6A6A6A6.
  if (EVP_EncryptInit_ex(ctx.get(), cipher.get(), nullptr, kek.data(),
                         nullptr) != 1) {
    return Internal("A256KW: init");
  }
  Bytes out(key.size() + 8);
  int len = 0;
  if (EVP_EncryptUpdate(ctx.get(), out.data(), &len, key.data(),
                        static_cast<int>(key.size())) != 1 ||
      static_cast<size_t>(len) != out.size()) {
    return Internal("A256KW: wrap");
  }
  int final_len = 0;
  if (EVP_EncryptFinal_ex(ctx.get(), out.data() + len, &final_len) != 1 ||
      final_len != 0) {
    return Internal("A256KW: final");
  }
  return out;
}

absl::StatusOr<SecretBytes> AesKeyUnwrap256(std::span<const uint8_t> kek,
                                            std::span<const uint8_t> wrapped) {
  if (kek.size() != kKekBytes) {
    return Invalid(
        absl::StrCat("A256KW: KEK is ", kek.size(), " bytes, expected 32"));
  }
  if (wrapped.size() < 24 || wrapped.size() % 8 != 0 || wrapped.size() > 1032) {
    return Invalid(absl::StrCat("A256KW: wrapped key is ", wrapped.size(),
                                " bytes (a multiple of 8, at least 24)"));
  }
  CipherPtr cipher(EVP_CIPHER_fetch(nullptr, "AES-256-WRAP", nullptr));
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (cipher == nullptr || ctx == nullptr) {
    return Internal("A256KW: fetch");
  }
  EVP_CIPHER_CTX_set_flags(ctx.get(), EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
  if (EVP_DecryptInit_ex(ctx.get(), cipher.get(), nullptr, kek.data(),
                         nullptr) != 1) {
    return Internal("A256KW: init");
  }
  SecretBytes out(wrapped.size());
  int len = 0;
  if (EVP_DecryptUpdate(ctx.get(), out.data(), &len, wrapped.data(),
                        static_cast<int>(wrapped.size())) != 1 ||
      len <= 0) {
    ERR_clear_error();
    return Invalid("A256KW: unwrap failed (integrity check)");
  }
  int final_len = 0;
  if (EVP_DecryptFinal_ex(ctx.get(), out.data() + len, &final_len) != 1) {
    ERR_clear_error();
    return Invalid("A256KW: unwrap failed (final)");
  }
  out.resize(static_cast<size_t>(len + final_len));
  return out;
}

}  // namespace jwe_internal

// ---------------------------------------------------------------------------
// Public API

absl::StatusOr<std::string> KeyManagementFor(
    const attestation::v1::Jwk& recipient) {
  ERR_clear_error();
  ASSIGN_OR_RETURN(Recipient r, ResolveRecipient(recipient));
  return r.alg;
}

absl::StatusOr<std::string> EncryptToJwk(const attestation::v1::Jwk& recipient,
                                         std::span<const uint8_t> plaintext,
                                         const JweOptions& options) {
  ERR_clear_error();
  if (plaintext.empty() || plaintext.size() > kMaxJwePlaintextBytes) {
    return Invalid(absl::StrCat("plaintext is ", plaintext.size(),
                                " bytes (1..", kMaxJwePlaintextBytes, ")"));
  }
  ASSIGN_OR_RETURN(const Recipient r, ResolveRecipient(recipient));
  ASSIGN_OR_RETURN(const std::string kid, Thumbprint(ToJwkPublic(recipient)));
  if (!options.kid.empty() && options.kid != kid) {
    return Invalid(absl::StrCat(
        "kid \"", options.kid,
        "\" is not the recipient key's RFC 7638 thumbprint \"", kid, "\""));
  }
  RETURN_IF_ERROR(CheckExtraMembers(options.extra_protected));

  json header = json::object();
  for (const auto& [name, value] : options.extra_protected) {
    header[name] = value;
  }
  header["alg"] = r.alg;
  header["enc"] = std::string(kEncA256gcm);
  header["kid"] = kid;

  ASSIGN_OR_RETURN(const SecretBytes cek, RandomSecret(kCekBytes));
  std::string encrypted_key;
  if (r.curve != nullptr) {
    OpensslPtr<EVP_PKEY> ephemeral(EVP_EC_gen(r.curve->openssl_name));
    if (ephemeral == nullptr) {
      return Internal("ECDH-ES: EVP_EC_gen");
    }
    ASSIGN_OR_RETURN(const crypto::JwkPublic epk,
                     PublicJwkOfKey(ephemeral.get()));
    ASSIGN_OR_RETURN(const SecretBytes z,
                     EcdhSharedSecret(ephemeral.get(), r.key.get()));
    ASSIGN_OR_RETURN(const SecretBytes kek,
                     jwe_internal::ConcatKdfSha256(z, kAlgEcdhEsA256kw, {}, {},
                                                   8 * kKekBytes));
    ASSIGN_OR_RETURN(const Bytes wrapped,
                     jwe_internal::AesKeyWrap256(kek, cek));
    encrypted_key = Base64UrlEncode(wrapped);
    header["epk"] = {
        {"kty", "EC"}, {"crv", epk.crv}, {"x", epk.x}, {"y", epk.y}};
  } else {
    ASSIGN_OR_RETURN(encrypted_key, RsaOaepEncrypt(r.key.get(), cek));
  }

  ASSIGN_OR_RETURN(const std::string header_json, DumpJson(header));
  const std::string protected_b64 = Base64UrlEncode(AsBytes(header_json));
  Bytes iv(kIvBytes);
  if (RAND_bytes(iv.data(), static_cast<int>(iv.size())) != 1) {
    return Internal("RAND_bytes (iv)");
  }
  ASSIGN_OR_RETURN(const GcmOutput sealed,
                   GcmEncrypt(cek, iv, protected_b64, plaintext));

  if (!options.flattened) {
    return absl::StrCat(
        protected_b64, ".", encrypted_key, ".", Base64UrlEncode(iv), ".",
        Base64UrlEncode(sealed.ciphertext), ".", Base64UrlEncode(sealed.tag));
  }
  const json flattened = {{"protected", protected_b64},
                          {"encrypted_key", encrypted_key},
                          {"iv", Base64UrlEncode(iv)},
                          {"ciphertext", Base64UrlEncode(sealed.ciphertext)},
                          {"tag", Base64UrlEncode(sealed.tag)}};
  return flattened.dump();
}

absl::StatusOr<DecryptedJwe> Decrypt(std::string_view jwe_in,
                                     std::string_view private_key_pem,
                                     const DecryptOptions& options) {
  ERR_clear_error();
  if (jwe_in.size() > kMaxJweBytes) {
    return Invalid(absl::StrCat("JWE is ", jwe_in.size(), " bytes (at most ",
                                kMaxJweBytes, ")"));
  }
  const std::string_view jwe = TrimAsciiWhitespace(jwe_in);
  if (jwe.empty()) {
    return Invalid("empty JWE");
  }
  ASSIGN_OR_RETURN(const JweParts parts, jwe.front() == '{'
                                             ? SplitFlattened(jwe)
                                             : SplitCompact(jwe));

  // Protected header: every member accounted for.
  if (parts.protected_b64.empty()) {
    return Invalid("protected header is empty");
  }
  ASSIGN_OR_RETURN(const Bytes header_bytes,
                   DecodeB64u(parts.protected_b64, "protected header"));
  ASSIGN_OR_RETURN(const json header,
                   ParseObject(header_bytes, "protected header"));
  DecryptedJwe result;
  const json* epk = nullptr;
  for (const auto& [name, value] : header.items()) {
    if (std::find(kRefusedHeaderMembers.begin(), kRefusedHeaderMembers.end(),
                  name) != kRefusedHeaderMembers.end()) {
      return Invalid(
          absl::StrCat("protected header member \"", name, "\" is refused"));
    }
    if (name == "epk") {
      epk = &value;
      continue;
    }
    if (!value.is_string()) {
      return Invalid(absl::StrCat("protected header member \"", name,
                                  "\" is not a string"));
    }
    result.protected_strings[name] = value.get<std::string>();
  }
  const auto member = [&](const char* name) -> std::string {
    const auto it = result.protected_strings.find(name);
    return it == result.protected_strings.end() ? std::string() : it->second;
  };
  result.alg = member("alg");
  result.kid = member("kid");
  if (result.alg != kAlgEcdhEsA256kw && result.alg != kAlgRsaOaep256) {
    return Invalid(absl::StrCat("alg \"", result.alg, "\" is refused",
                                AlgRefusalHint(result.alg), " (only ",
                                kAlgEcdhEsA256kw, ", ", kAlgRsaOaep256, ")"));
  }
  if (member("enc") != kEncA256gcm) {
    return Invalid(
        absl::StrCat("enc \"", member("enc"), "\" is refused (only A256GCM)"));
  }
  const bool ecdh = result.alg == kAlgEcdhEsA256kw;
  if (ecdh != (epk != nullptr)) {
    return Invalid(ecdh ? "ECDH-ES+A256KW without \"epk\""
                        : "\"epk\" with RSA-OAEP-256");
  }

  // The key, and that the JWE is for it.
  ASSIGN_OR_RETURN(const OpensslPtr<EVP_PKEY> key,
                   crypto::ParsePrivateKeyPem(private_key_pem));
  ASSIGN_OR_RETURN(const crypto::JwkPublic own_jwk, PublicJwkOfKey(key.get()));
  ASSIGN_OR_RETURN(const std::string own_kid, Thumbprint(own_jwk));
  if (result.kid.empty()) {
    if (options.require_kid || !options.expected_kid.empty()) {
      return Refused("protected header has no \"kid\"");
    }
  } else if (result.kid != own_kid) {
    return Refused(absl::StrCat("JWE is for kid \"", result.kid,
                                "\", this key is \"", own_kid, "\""));
  }
  if (!options.expected_kid.empty() && result.kid != options.expected_kid) {
    return Refused(absl::StrCat("kid \"", result.kid,
                                "\" is not the expected \"",
                                options.expected_kid, "\""));
  }
  for (const auto& [name, want] : options.expected_members) {
    const auto it = result.protected_strings.find(name);
    if (it == result.protected_strings.end()) {
      return Refused(absl::StrCat("protected header has no \"", name, "\""));
    }
    if (it->second != want) {
      return Refused(absl::StrCat("protected \"", name, "\" is \"", it->second,
                                  "\", expected \"", want, "\""));
    }
  }

  ASSIGN_OR_RETURN(const Bytes encrypted_key,
                   DecodeB64u(parts.encrypted_key, "encrypted_key"));
  ASSIGN_OR_RETURN(const Bytes iv, DecodeB64u(parts.iv, "iv"));
  ASSIGN_OR_RETURN(const Bytes ciphertext,
                   DecodeB64u(parts.ciphertext, "ciphertext"));
  ASSIGN_OR_RETURN(const Bytes tag, DecodeB64u(parts.tag, "tag"));
  if (iv.size() != kIvBytes) {
    return Invalid(
        absl::StrCat("iv is ", iv.size(), " bytes, expected ", kIvBytes));
  }
  if (tag.size() != kTagBytes) {
    return Invalid(
        absl::StrCat("tag is ", tag.size(), " bytes, expected ", kTagBytes));
  }

  SecretBytes cek;
  if (ecdh) {
    if (own_jwk.kty != "EC") {
      return Refused("ECDH-ES+A256KW JWE, but the key is not an EC key");
    }
    if (!epk->is_object()) {
      return Invalid("\"epk\" is not an object");
    }
    for (const auto& [name, value] : epk->items()) {
      if (name != "kty" && name != "crv" && name != "x" && name != "y") {
        return Invalid(absl::StrCat("\"epk\" member \"", name,
                                    "\" is refused (only kty, crv, x, y)"));
      }
      if (!value.is_string()) {
        return Invalid(
            absl::StrCat("\"epk\" member \"", name, "\" is not a string"));
      }
    }
    const auto epk_member = [&](const char* name) {
      const auto it = epk->find(name);
      return it == epk->end() ? std::string() : it->get<std::string>();
    };
    if (epk_member("kty") != "EC") {
      return Invalid("\"epk\" is not an EC key");
    }
    if (epk_member("crv") != own_jwk.crv) {
      return Refused(absl::StrCat("\"epk\" curve \"", epk_member("crv"),
                                  "\" is not the key's ", own_jwk.crv));
    }
    const Curve* curve = CurveByJwkName(own_jwk.crv);
    ASSIGN_OR_RETURN(
        const OpensslPtr<EVP_PKEY> peer,
        EcKeyFromCoordinates(*curve, epk_member("x"), epk_member("y"), "epk"));
    if (encrypted_key.size() != kWrappedCekBytes) {
      return Invalid(absl::StrCat("encrypted_key is ", encrypted_key.size(),
                                  " bytes, expected ", kWrappedCekBytes));
    }
    ASSIGN_OR_RETURN(const SecretBytes z,
                     EcdhSharedSecret(key.get(), peer.get()));
    ASSIGN_OR_RETURN(const SecretBytes kek,
                     jwe_internal::ConcatKdfSha256(z, kAlgEcdhEsA256kw, {}, {},
                                                   8 * kKekBytes));
    absl::StatusOr<SecretBytes> unwrapped =
        jwe_internal::AesKeyUnwrap256(kek, encrypted_key);
    if (!unwrapped.ok() || unwrapped->size() != kCekBytes) {
      return Invalid(
          "decryption failed (key unwrap: tampered, or not for this key)");
    }
    cek = std::move(*unwrapped);
  } else {
    if (own_jwk.kty != "RSA") {
      return Refused("RSA-OAEP-256 JWE, but the key is not an RSA key");
    }
    const int bits = EVP_PKEY_get_bits(key.get());
    if (bits < kMinRsaModulusBits || bits > kMaxRsaModulusBits) {
      return Refused(absl::StrCat("RSA key is ", bits, " bits (",
                                  kMinRsaModulusBits, "..", kMaxRsaModulusBits,
                                  ")"));
    }
    if (encrypted_key.size() !=
        static_cast<size_t>(EVP_PKEY_get_size(key.get()))) {
      return Invalid(absl::StrCat("encrypted_key is ", encrypted_key.size(),
                                  " bytes, expected the modulus size ",
                                  EVP_PKEY_get_size(key.get())));
    }
    ASSIGN_OR_RETURN(cek, RsaOaepDecryptOrRandom(key.get(), encrypted_key));
  }

  ASSIGN_OR_RETURN(result.plaintext,
                   GcmDecrypt(cek, iv, parts.protected_b64, ciphertext, tag));
  return result;
}

absl::StatusOr<std::string> ThumbprintOfKeyPem(std::string_view pem) {
  ERR_clear_error();
  ASSIGN_OR_RETURN(const OpensslPtr<EVP_PKEY> key, ParseAnyKeyPem(pem));
  ASSIGN_OR_RETURN(const crypto::JwkPublic jwk, PublicJwkOfKey(key.get()));
  return Thumbprint(jwk);
}

absl::StatusOr<attestation::v1::Jwk> PublicJwkOfKeyPem(std::string_view pem) {
  ERR_clear_error();
  ASSIGN_OR_RETURN(const OpensslPtr<EVP_PKEY> key, ParseAnyKeyPem(pem));
  ASSIGN_OR_RETURN(const crypto::JwkPublic jwk, PublicJwkOfKey(key.get()));
  attestation::v1::Jwk out;
  out.set_kty(jwk.kty);
  out.set_crv(jwk.crv);
  out.set_x(jwk.x);
  out.set_y(jwk.y);
  out.set_n(jwk.n);
  out.set_e(jwk.e);
  ASSIGN_OR_RETURN(const std::string kid, Thumbprint(jwk));
  out.set_kid(kid);
  ASSIGN_OR_RETURN(const std::string alg, KeyManagementFor(out));
  out.set_alg(alg);
  return out;
}

}  // namespace rp::release
