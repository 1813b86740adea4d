#include "verifier/crypto/signature.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/rsa.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "verifier/common/encoding.h"
#include "verifier/crypto/digest.h"
#include "verifier/crypto/openssl_error.h"
#include "verifier/crypto/openssl_ptr.h"
#include "verifier/crypto/verified_memo_internal.h"

namespace rp::crypto {
namespace {

// No curve we accept has an order wider than 66 bytes (P-521); SEV-SNP pads
// r and s to 72 bytes. Anything longer is rejected before it reaches a BIGNUM.
constexpr size_t kMaxRawScalarBytes = 128;

const EVP_MD* HashMd(HashAlg hash) {
  switch (hash) {
    case HashAlg::kSha256:
      return Sha256Md();
    case HashAlg::kSha384:
      return Sha384Md();
    case HashAlg::kSha512:
      return Sha512Md();
  }
  return nullptr;
}

bool IsEcKey(const EVP_PKEY* key) { return EVP_PKEY_get_base_id(key) == EVP_PKEY_EC; }

// The key's curve (P-256, P-384, P-521 or any other named curve), or null.
// Groups are built once per curve and shared read-only for the process.
const EC_GROUP* KeyGroup(const EVP_PKEY* key) {
  char name[64] = {};
  size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof(name),
                                     &len) != 1) {
    return nullptr;
  }
  int nid = OBJ_sn2nid(name);
  if (nid == NID_undef) {
    nid = EC_curve_nist2nid(name);
  }
  if (nid == NID_undef) {
    return nullptr;
  }
  static std::mutex mu;
  static auto* groups = new std::map<int, OpensslPtr<EC_GROUP>>();  // never destroyed
  std::lock_guard<std::mutex> lock(mu);
  OpensslPtr<EC_GROUP>& group = (*groups)[nid];
  if (group == nullptr) group.reset(EC_GROUP_new_by_curve_name(nid));
  return group.get();
}

OpensslPtr<BIGNUM> ToBn(std::span<const uint8_t> bytes, Endian endian) {
  const int len = static_cast<int>(bytes.size());
  BIGNUM* bn = endian == Endian::kLittle ? BN_lebin2bn(bytes.data(), len, nullptr)
                                         : BN_bin2bn(bytes.data(), len, nullptr);
  return OpensslPtr<BIGNUM>(bn);
}

absl::Status CheckScalar(const BIGNUM* v, const BIGNUM* order, absl::string_view name) {
  // r and s must be in [1, n-1] (SEC 1 §4.1.4 step 1).
  if (BN_is_zero(v)) {
    return absl::InvalidArgumentError(absl::StrCat("ecdsa: ", name, " is zero"));
  }
  if (BN_is_negative(v) || BN_cmp(v, order) >= 0) {
    return absl::InvalidArgumentError(absl::StrCat("ecdsa: ", name, " >= curve order"));
  }
  return absl::OkStatus();
}

// Verifies a DER signature with the key; `pss_salt_len` set means RSA-PSS.
absl::Status DigestVerify(const EVP_PKEY* key, std::span<const uint8_t> message,
                          std::span<const uint8_t> der_signature, HashAlg hash,
                          const int* pss_salt_len, absl::string_view what) {
  const EVP_MD* md = HashMd(hash);
  if (md == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": unknown hash"));
  }
  OpensslPtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  if (ctx == nullptr) {
    return absl::InternalError(WithOpensslErrors(absl::StrCat(what, ": EVP_MD_CTX_new")));
  }
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  if (EVP_DigestVerifyInit(ctx.get(), &pctx, md, nullptr, MutableKey(key)) != 1) {
    return absl::InternalError(WithOpensslErrors(absl::StrCat(what, ": EVP_DigestVerifyInit")));
  }
  if (pss_salt_len != nullptr) {
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) != 1 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, *pss_salt_len) != 1) {
      return absl::InternalError(WithOpensslErrors(absl::StrCat(what, ": set PSS parameters")));
    }
  }
  const int rc = EVP_DigestVerify(ctx.get(), der_signature.data(), der_signature.size(),
                                  message.data(), message.size());
  if (rc != 1) {
    return absl::UnauthenticatedError(
        WithOpensslErrors(absl::StrCat(what, ": signature does not verify")));
  }
  return absl::OkStatus();
}

absl::Status VerifyEcdsaRawFull(const EVP_PKEY* key, std::span<const uint8_t> message,
                                std::span<const uint8_t> r, std::span<const uint8_t> s,
                                Endian endian, HashAlg hash);

}  // namespace

const char* EcCurveName(const EVP_PKEY* key) {
  if (key == nullptr || !IsEcKey(key)) {
    return "";
  }
  char name[64] = {};
  size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof(name),
                                     &len) != 1) {
    ERR_clear_error();
    return "";
  }
  const absl::string_view n(name, len);
  if (n == SN_X9_62_prime256v1 || n == "P-256") {
    return "P-256";
  }
  if (n == SN_secp384r1 || n == "P-384") {
    return "P-384";
  }
  if (n == SN_secp521r1 || n == "P-521") {
    return "P-521";
  }
  return "";
}

absl::Status VerifyEcdsaRaw(const EVP_PKEY* key, std::span<const uint8_t> message,
                            std::span<const uint8_t> r, std::span<const uint8_t> s,
                            Endian endian, HashAlg hash) {
  ERR_clear_error();
  // Memo (verified_memo.h): a verification that succeeded once for exactly
  // this key, message, hash and signature succeeds again.
  std::string memo_key;
  if (key != nullptr && memo_internal::Active()) {
    memo_key = memo_internal::KeyBuilder(MemoKind::kSignature)
                   .Text("ecdsa-raw")
                   .Key(key)
                   .Int(static_cast<int>(hash))
                   .Int(static_cast<int>(endian))
                   .Bytes(r)
                   .Bytes(s)
                   .Bytes(Sha256(message))
                   .Finish();
    if (memo_internal::Found(MemoKind::kSignature, memo_key)) {
      return absl::OkStatus();
    }
  }
  absl::Status status = VerifyEcdsaRawFull(key, message, r, s, endian, hash);
  if (status.ok()) {
    memo_internal::Remember(MemoKind::kSignature, memo_key);
  }
  return status;
}

namespace {
absl::Status VerifyEcdsaRawFull(const EVP_PKEY* key, std::span<const uint8_t> message,
                                std::span<const uint8_t> r, std::span<const uint8_t> s,
                                Endian endian, HashAlg hash) {
  if (key == nullptr) {
    return absl::InvalidArgumentError("ecdsa: null key");
  }
  if (!IsEcKey(key)) {
    return absl::FailedPreconditionError("ecdsa: key is not an EC key");
  }
  if (r.size() > kMaxRawScalarBytes || s.size() > kMaxRawScalarBytes) {
    return absl::InvalidArgumentError(absl::StrCat("ecdsa: r/s too long (", r.size(), ", ",
                                                   s.size(), " bytes, max ",
                                                   kMaxRawScalarBytes, ")"));
  }
  const EC_GROUP* group = KeyGroup(key);
  if (group == nullptr) {
    return absl::FailedPreconditionError(WithOpensslErrors("ecdsa: unsupported curve"));
  }
  const BIGNUM* order = EC_GROUP_get0_order(group);  // owned by group
  OpensslPtr<BIGNUM> r_bn = ToBn(r, endian);
  OpensslPtr<BIGNUM> s_bn = ToBn(s, endian);
  if (r_bn == nullptr || s_bn == nullptr || order == nullptr) {
    return absl::InternalError(WithOpensslErrors("ecdsa: BIGNUM conversion"));
  }
  if (absl::Status st = CheckScalar(r_bn.get(), order, "r"); !st.ok()) {
    return st;
  }
  if (absl::Status st = CheckScalar(s_bn.get(), order, "s"); !st.ok()) {
    return st;
  }
  OpensslPtr<ECDSA_SIG> sig(ECDSA_SIG_new());
  if (sig == nullptr) {
    return absl::InternalError(WithOpensslErrors("ecdsa: ECDSA_SIG_new"));
  }
  if (ECDSA_SIG_set0(sig.get(), r_bn.get(), s_bn.get()) != 1) {
    return absl::InternalError(WithOpensslErrors("ecdsa: ECDSA_SIG_set0"));
  }
  // sig owns r and s now.
  (void)r_bn.release();
  (void)s_bn.release();
  const int der_len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (der_len <= 0) {
    return absl::InternalError(WithOpensslErrors("ecdsa: i2d_ECDSA_SIG"));
  }
  Bytes der(static_cast<size_t>(der_len));
  uint8_t* p = der.data();
  if (i2d_ECDSA_SIG(sig.get(), &p) != der_len) {
    return absl::InternalError(WithOpensslErrors("ecdsa: i2d_ECDSA_SIG"));
  }
  return DigestVerify(key, message, der, hash, nullptr, "ecdsa");
}
}  // namespace

absl::Status VerifyEcdsaP1363(const EVP_PKEY* key, std::span<const uint8_t> message,
                              std::span<const uint8_t> signature, HashAlg hash) {
  ERR_clear_error();
  if (key == nullptr) {
    return absl::InvalidArgumentError("ecdsa: null key");
  }
  if (!IsEcKey(key)) {
    return absl::FailedPreconditionError("ecdsa: key is not an EC key");
  }
  const int bits = EVP_PKEY_get_bits(key);
  if (bits <= 0) {
    return absl::FailedPreconditionError(WithOpensslErrors("ecdsa: unknown key size"));
  }
  const size_t field = (static_cast<size_t>(bits) + 7) / 8;
  if (signature.size() != 2 * field) {
    return absl::InvalidArgumentError(absl::StrCat("ecdsa: P1363 signature is ",
                                                   signature.size(), " bytes, expected ",
                                                   2 * field));
  }
  return VerifyEcdsaRaw(key, message, signature.first(field), signature.subspan(field),
                        Endian::kBig, hash);
}

absl::Status VerifyRsaPss(const EVP_PKEY* key, std::span<const uint8_t> message,
                          std::span<const uint8_t> signature, HashAlg hash, int salt_len) {
  ERR_clear_error();
  if (key == nullptr) {
    return absl::InvalidArgumentError("rsa-pss: null key");
  }
  const int id = EVP_PKEY_get_base_id(key);
  if (id != EVP_PKEY_RSA && id != EVP_PKEY_RSA_PSS) {
    return absl::FailedPreconditionError("rsa-pss: key is not an RSA key");
  }
  std::string memo_key;
  if (memo_internal::Active()) {
    memo_key = memo_internal::KeyBuilder(MemoKind::kSignature)
                   .Text("rsa-pss")
                   .Key(key)
                   .Int(static_cast<int>(hash))
                   .Int(salt_len)
                   .Bytes(signature)
                   .Bytes(Sha256(message))
                   .Finish();
    if (memo_internal::Found(MemoKind::kSignature, memo_key)) {
      return absl::OkStatus();
    }
  }
  absl::Status status = DigestVerify(key, message, signature, hash, &salt_len, "rsa-pss");
  if (status.ok()) {
    memo_internal::Remember(MemoKind::kSignature, memo_key);
  }
  return status;
}

}  // namespace rp::crypto
