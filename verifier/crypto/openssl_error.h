#ifndef RP_VERIFIER_CRYPTO_OPENSSL_ERROR_H_
#define RP_VERIFIER_CRYPTO_OPENSSL_ERROR_H_

#include <string>

#include <openssl/evp.h>

#include "absl/strings/string_view.h"

namespace rp::crypto {

// Drains OpenSSL's thread-local error queue into one line ("" if empty).
std::string OpensslErrorString();

// `message`, followed by the drained OpenSSL errors in parentheses if any.
std::string WithOpensslErrors(absl::string_view message);

// OpenSSL's sign/verify APIs take a non-const EVP_PKEY but only read it (and
// bump its reference count); the caller keeps ownership.
inline EVP_PKEY* MutableKey(const EVP_PKEY* key) {
  return const_cast<EVP_PKEY*>(key);  // NOLINT(cppcoreguidelines-pro-type-const-cast)
}

}  // namespace rp::crypto

#endif  // RP_VERIFIER_CRYPTO_OPENSSL_ERROR_H_
