#ifndef RP_VERIFIER_CRYPTO_OPENSSL_ERROR_H_
#define RP_VERIFIER_CRYPTO_OPENSSL_ERROR_H_

#include <string>

namespace rp::crypto {

// Drains OpenSSL's thread-local error queue into one line ("" if empty).
std::string OpensslErrorString();

}  // namespace rp::crypto

#endif  // RP_VERIFIER_CRYPTO_OPENSSL_ERROR_H_
