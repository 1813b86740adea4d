#include "verifier/crypto/keys.h"

#include <memory>
#include <string>
#include <utility>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "verifier/crypto/digest.h"
#include "verifier/crypto/openssl_error.h"
#include "verifier/crypto/signature.h"
#include "verifier/crypto/verified_memo.h"

namespace rp::crypto {
namespace {

// Keys are small; anything larger than this is not a key we want to parse.
constexpr size_t kMaxKeyPemBytes = 64 * 1024;

struct CurveInfo {
  const char* jwk_name;      // "P-256"
  const char* openssl_name;  // "prime256v1"
  size_t field_bytes;
};

constexpr CurveInfo kCurves[] = {
    {"P-256", "prime256v1", 32},
    {"P-384", "secp384r1", 48},
};

const CurveInfo* CurveByJwkName(absl::string_view name) {
  for (const CurveInfo& c : kCurves) {
    if (name == c.jwk_name) {
      return &c;
    }
  }
  return nullptr;
}

// RFC 7638 §3.3: the required members are emitted without escaping; we
// refuse values that would need it rather than guess an escaping.
absl::Status CheckPlainJsonString(absl::string_view name, absl::string_view value) {
  if (value.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("jwk: missing \"", name, "\""));
  }
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\' || u < 0x20 || u >= 0x7f) {
      return absl::InvalidArgumentError(
          absl::StrCat("jwk: \"", name, "\" has a character that needs escaping"));
    }
  }
  return absl::OkStatus();
}

// Base64url without padding (RFC 7515 §2), decoded to exactly `size` bytes.
absl::StatusOr<Bytes> DecodeCoordinate(absl::string_view name, absl::string_view value,
                                       size_t size) {
  for (char c : value) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("jwk: \"", name, "\" is not unpadded base64url"));
    }
  }
  absl::StatusOr<Bytes> bytes = Base64Decode(std::string_view(value.data(), value.size()));
  if (!bytes.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("jwk: \"", name, "\": ", bytes.status().message()));
  }
  // RFC 7518 §6.2.1.2: the coordinate is the full field size, not minimal.
  if (bytes->size() != size) {
    return absl::InvalidArgumentError(absl::StrCat("jwk: \"", name, "\" is ", bytes->size(),
                                                   " bytes, expected ", size));
  }
  return bytes;
}

absl::StatusOr<Bytes> BnParamPadded(const EVP_PKEY* key, const char* param, size_t size) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, param, &raw) != 1) {
    return absl::InternalError(WithOpensslErrors(absl::StrCat("ec key: get ", param)));
  }
  OpensslPtr<BIGNUM> bn(raw);
  Bytes out(size);
  if (BN_bn2binpad(bn.get(), out.data(), static_cast<int>(size)) != static_cast<int>(size)) {
    return absl::InternalError(WithOpensslErrors(absl::StrCat("ec key: ", param, " too large")));
  }
  return out;
}

std::string BioContents(BIO* bio) {
  const char* data = nullptr;  // owned by bio
  const long len = BIO_get_mem_data(bio, &data);
  if (len <= 0 || data == nullptr) {
    return "";
  }
  return std::string(data, static_cast<size_t>(len));
}

int NoPassword(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*u*/) { return 0; }

}  // namespace

absl::StatusOr<Bytes> JwkThumbprintSha256(const JwkPublic& jwk) {
  std::string json;
  if (jwk.kty == "EC") {
    for (const auto& [name, value] :
         {std::pair<const char*, const std::string*>{"crv", &jwk.crv}, {"x", &jwk.x},
          {"y", &jwk.y}}) {
      if (absl::Status st = CheckPlainJsonString(name, *value); !st.ok()) {
        return st;
      }
    }
    json = absl::StrCat(R"({"crv":")", jwk.crv, R"(","kty":"EC","x":")", jwk.x, R"(","y":")",
                        jwk.y, R"("})");
  } else if (jwk.kty == "RSA") {
    for (const auto& [name, value] :
         {std::pair<const char*, const std::string*>{"e", &jwk.e}, {"n", &jwk.n}}) {
      if (absl::Status st = CheckPlainJsonString(name, *value); !st.ok()) {
        return st;
      }
    }
    json = absl::StrCat(R"({"e":")", jwk.e, R"(","kty":"RSA","n":")", jwk.n, R"("})");
  } else if (jwk.kty == "OKP") {
    for (const auto& [name, value] :
         {std::pair<const char*, const std::string*>{"crv", &jwk.crv}, {"x", &jwk.x}}) {
      if (absl::Status st = CheckPlainJsonString(name, *value); !st.ok()) {
        return st;
      }
    }
    json = absl::StrCat(R"({"crv":")", jwk.crv, R"(","kty":"OKP","x":")", jwk.x, R"("})");
  } else {
    return absl::InvalidArgumentError(absl::StrCat("jwk: unsupported kty \"", jwk.kty, "\""));
  }
  return Sha256(AsBytes(json));
}

namespace {
absl::StatusOr<OpensslPtr<EVP_PKEY>> EcPublicKeyFromJwkFull(const JwkPublic& jwk);
}  // namespace

absl::StatusOr<OpensslPtr<EVP_PKEY>> EcPublicKeyFromJwk(const JwkPublic& jwk) {
  ERR_clear_error();
  // Memo (verified_memo.h): the same coordinates build the same checked key
  // (a TDX quote's attestation key is the same for every quote of a QE).
  const std::string text = absl::StrCat(jwk.kty, "|", jwk.crv, "|", jwk.x, "|", jwk.y);
  const std::string memo_key = DocumentMemoKey("ec-public-key-v1", AsBytes(text));
  if (std::shared_ptr<const void> hit = FindVerifiedDocument(memo_key)) {
    EVP_PKEY* shared = const_cast<EVP_PKEY*>(static_cast<const EVP_PKEY*>(hit.get()));  // NOLINT
    if (EVP_PKEY_up_ref(shared) == 1) return OpensslPtr<EVP_PKEY>(shared);
  }
  absl::StatusOr<OpensslPtr<EVP_PKEY>> key = EcPublicKeyFromJwkFull(jwk);
  if (key.ok() && !memo_key.empty() && EVP_PKEY_up_ref(key->get()) == 1) {
    RememberVerifiedDocument(memo_key, std::shared_ptr<const void>(key->get(), [](const void* k) {
                               EVP_PKEY_free(const_cast<EVP_PKEY*>(static_cast<const EVP_PKEY*>(k)));  // NOLINT
                             }),
                             2048);
  }
  return key;
}

namespace {
absl::StatusOr<OpensslPtr<EVP_PKEY>> EcPublicKeyFromJwkFull(const JwkPublic& jwk) {
  if (jwk.kty != "EC") {
    return absl::InvalidArgumentError(absl::StrCat("jwk: kty \"", jwk.kty, "\" is not EC"));
  }
  const CurveInfo* curve = CurveByJwkName(jwk.crv);
  if (curve == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("jwk: unsupported crv \"", jwk.crv, "\""));
  }
  absl::StatusOr<Bytes> x = DecodeCoordinate("x", jwk.x, curve->field_bytes);
  if (!x.ok()) {
    return x.status();
  }
  absl::StatusOr<Bytes> y = DecodeCoordinate("y", jwk.y, curve->field_bytes);
  if (!y.ok()) {
    return y.status();
  }
  Bytes point;
  point.reserve(1 + 2 * curve->field_bytes);
  point.push_back(0x04);  // SEC 1 uncompressed
  point.insert(point.end(), x->begin(), x->end());
  point.insert(point.end(), y->begin(), y->end());

  OpensslPtr<OSSL_PARAM_BLD> bld(OSSL_PARAM_BLD_new());
  if (bld == nullptr ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME,
                                      curve->openssl_name, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    return absl::InternalError(WithOpensslErrors("jwk: OSSL_PARAM_BLD"));
  }
  OpensslPtr<OSSL_PARAM> params(OSSL_PARAM_BLD_to_param(bld.get()));
  if (params == nullptr) {
    return absl::InternalError(WithOpensslErrors("jwk: OSSL_PARAM_BLD_to_param"));
  }
  OpensslPtr<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  if (ctx == nullptr || EVP_PKEY_fromdata_init(ctx.get()) != 1) {
    return absl::InternalError(WithOpensslErrors("jwk: EVP_PKEY_fromdata_init"));
  }
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return absl::InvalidArgumentError(WithOpensslErrors("jwk: not a valid EC public key"));
  }
  OpensslPtr<EVP_PKEY> key(raw);
  // An off-curve point enables invalid-curve attacks on ECDH and makes
  // signature checks meaningless; check it explicitly.
  OpensslPtr<EVP_PKEY_CTX> check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (check == nullptr || EVP_PKEY_public_check(check.get()) != 1) {
    return absl::InvalidArgumentError(WithOpensslErrors("jwk: point is not on the curve"));
  }
  return key;
}
}  // namespace

absl::StatusOr<JwkPublic> EcPublicJwk(const EVP_PKEY* key) {
  ERR_clear_error();
  if (key == nullptr) {
    return absl::InvalidArgumentError("ec key: null");
  }
  const CurveInfo* curve = CurveByJwkName(EcCurveName(key));
  if (curve == nullptr) {
    return absl::InvalidArgumentError("ec key: not a P-256 or P-384 key");
  }
  absl::StatusOr<Bytes> x = BnParamPadded(key, OSSL_PKEY_PARAM_EC_PUB_X, curve->field_bytes);
  if (!x.ok()) {
    return x.status();
  }
  absl::StatusOr<Bytes> y = BnParamPadded(key, OSSL_PKEY_PARAM_EC_PUB_Y, curve->field_bytes);
  if (!y.ok()) {
    return y.status();
  }
  JwkPublic jwk;
  jwk.kty = "EC";
  jwk.crv = curve->jwk_name;
  jwk.x = Base64UrlEncode(*x);
  jwk.y = Base64UrlEncode(*y);
  return jwk;
}

absl::StatusOr<OpensslPtr<EVP_PKEY>> GenerateEcKey(std::string_view curve_in) {
  const absl::string_view curve_name(curve_in.data(), curve_in.size());
  ERR_clear_error();
  const CurveInfo* curve = CurveByJwkName(curve_name);
  if (curve == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("ec key: unsupported curve \"", curve_name,
                                                   "\" (want P-256 or P-384)"));
  }
  OpensslPtr<EVP_PKEY> key(EVP_EC_gen(curve->openssl_name));
  if (key == nullptr) {
    return absl::InternalError(WithOpensslErrors("ec key: EVP_EC_gen"));
  }
  return key;
}

absl::StatusOr<OpensslPtr<EVP_PKEY>> ParsePrivateKeyPem(std::string_view pem) {
  ERR_clear_error();
  if (pem.empty() || pem.size() > kMaxKeyPemBytes) {
    return absl::InvalidArgumentError(absl::StrCat("private key: PEM is ", pem.size(),
                                                   " bytes (1.." , kMaxKeyPemBytes, ")"));
  }
  OpensslPtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) {
    return absl::InternalError(WithOpensslErrors("private key: BIO_new_mem_buf"));
  }
  // NoPassword: never prompt on a terminal for an encrypted key.
  OpensslPtr<EVP_PKEY> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassword, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(WithOpensslErrors("private key: malformed PEM"));
  }
  return key;
}

absl::StatusOr<OpensslPtr<EVP_PKEY>> ParsePublicKeyPem(std::string_view pem) {
  ERR_clear_error();
  if (pem.empty() || pem.size() > kMaxKeyPemBytes) {
    return absl::InvalidArgumentError(absl::StrCat("public key: PEM is ", pem.size(),
                                                   " bytes (1..", kMaxKeyPemBytes, ")"));
  }
  OpensslPtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) {
    return absl::InternalError(WithOpensslErrors("public key: BIO_new_mem_buf"));
  }
  OpensslPtr<EVP_PKEY> key(PEM_read_bio_PUBKEY(bio.get(), nullptr, NoPassword, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(WithOpensslErrors("public key: malformed PEM"));
  }
  return key;
}

std::string PrivateKeyPem(const EVP_PKEY* key) {
  if (key == nullptr) {
    return "";
  }
  OpensslPtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    ERR_clear_error();
    return "";
  }
  return BioContents(bio.get());
}

std::string PublicKeyPem(const EVP_PKEY* key) {
  if (key == nullptr) {
    return "";
  }
  OpensslPtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_PUBKEY(bio.get(), key) != 1) {
    ERR_clear_error();
    return "";
  }
  return BioContents(bio.get());
}

absl::StatusOr<Bytes> SignEcdsaP1363(const EVP_PKEY* key, std::span<const uint8_t> message,
                                     bool sha384) {
  ERR_clear_error();
  if (key == nullptr || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) {
    return absl::FailedPreconditionError("ecdsa sign: key is not an EC key");
  }
  const int bits = EVP_PKEY_get_bits(key);
  if (bits <= 0) {
    return absl::FailedPreconditionError(WithOpensslErrors("ecdsa sign: unknown key size"));
  }
  const size_t field = (static_cast<size_t>(bits) + 7) / 8;
  OpensslPtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  if (ctx == nullptr || EVP_DigestSignInit(ctx.get(), nullptr,
                                           sha384 ? Sha384Md() : Sha256Md(), nullptr,
                                           MutableKey(key)) != 1) {
    return absl::InternalError(WithOpensslErrors("ecdsa sign: EVP_DigestSignInit"));
  }
  size_t der_len = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &der_len, message.data(), message.size()) != 1) {
    return absl::InternalError(WithOpensslErrors("ecdsa sign: size"));
  }
  Bytes der(der_len);
  if (EVP_DigestSign(ctx.get(), der.data(), &der_len, message.data(), message.size()) != 1) {
    return absl::InternalError(WithOpensslErrors("ecdsa sign: EVP_DigestSign"));
  }
  const unsigned char* p = der.data();
  OpensslPtr<ECDSA_SIG> sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len)));
  if (sig == nullptr) {
    return absl::InternalError(WithOpensslErrors("ecdsa sign: d2i_ECDSA_SIG"));
  }
  const BIGNUM* r = nullptr;  // owned by sig
  const BIGNUM* s = nullptr;  // owned by sig
  ECDSA_SIG_get0(sig.get(), &r, &s);
  Bytes out(2 * field);
  const int width = static_cast<int>(field);
  if (BN_bn2binpad(r, out.data(), width) != width ||
      BN_bn2binpad(s, out.data() + field, width) != width) {
    return absl::InternalError("ecdsa sign: r or s wider than the field");
  }
  return out;
}

}  // namespace rp::crypto
