#include "verifier/crypto/digest.h"

#include <cstdlib>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "verifier/crypto/openssl_ptr.h"

namespace rp::crypto {
namespace {

// Hashing with a built-in digest cannot fail except on allocation failure,
// which we treat like any other unrecoverable condition.
Bytes DigestOrDie(const EVP_MD* md, std::span<const uint8_t> data) {
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr) != 1) {
    std::abort();
  }
  out.resize(len);
  return out;
}

}  // namespace

const EVP_MD* Sha256Md() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md != nullptr ? md : EVP_sha256();
}
const EVP_MD* Sha384Md() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA384", nullptr);
  return md != nullptr ? md : EVP_sha384();
}
const EVP_MD* Sha512Md() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA512", nullptr);
  return md != nullptr ? md : EVP_sha512();
}

Bytes Sha256(std::span<const uint8_t> data) { return DigestOrDie(Sha256Md(), data); }
Bytes Sha384(std::span<const uint8_t> data) { return DigestOrDie(Sha384Md(), data); }
Bytes Sha512(std::span<const uint8_t> data) { return DigestOrDie(Sha512Md(), data); }

Bytes HmacSha256(std::span<const uint8_t> key, std::span<const uint8_t> data) {
  ERR_clear_error();
  // Fetched once (see Sha256Md); an EVP_MAC may be shared between threads.
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (mac == nullptr) {
    std::abort();
  }
  OpensslPtr<EVP_MAC_CTX> ctx(EVP_MAC_CTX_new(mac));
  if (ctx == nullptr) {
    std::abort();
  }
  char digest_name[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
      OSSL_PARAM_construct_end(),
  };
  // An empty key is legal for HMAC; OpenSSL wants a non-null pointer.
  static const uint8_t kEmpty = 0;
  const uint8_t* key_ptr = key.empty() ? &kEmpty : key.data();
  if (EVP_MAC_init(ctx.get(), key_ptr, key.size(), params) != 1 ||
      EVP_MAC_update(ctx.get(), data.data(), data.size()) != 1) {
    std::abort();
  }
  Bytes out(EVP_MAX_MD_SIZE);
  size_t len = 0;
  if (EVP_MAC_final(ctx.get(), out.data(), &len, out.size()) != 1) {
    std::abort();
  }
  out.resize(len);
  return out;
}

bool ConstantTimeEquals(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  if (a.size() != b.size()) {
    return false;
  }
  if (a.empty()) {
    return true;
  }
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Bytes RandomBytes(size_t n) {
  Bytes out(n);
  if (n == 0) {
    return out;
  }
  if (n > static_cast<size_t>(INT32_MAX) || RAND_bytes(out.data(), static_cast<int>(n)) != 1) {
    // Continuing without randomness would silently weaken nonces and keys.
    std::abort();
  }
  return out;
}

}  // namespace rp::crypto
