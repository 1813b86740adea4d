// Owned OpenSSL objects: one deleter specialization per type, here only.
#ifndef RP_VERIFIER_CRYPTO_OPENSSL_PTR_H_
#define RP_VERIFIER_CRYPTO_OPENSSL_PTR_H_

#include <memory>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <openssl/param_build.h>
#include <openssl/core.h>

namespace rp::crypto {

template <typename T>
struct OpensslDeleter;

#define RP_OPENSSL_DELETER(T, fn) \
  template <>                     \
  struct OpensslDeleter<T> {      \
    void operator()(T* p) const { fn(p); } \
  }

RP_OPENSSL_DELETER(X509, X509_free);
RP_OPENSSL_DELETER(X509_STORE, X509_STORE_free);
RP_OPENSSL_DELETER(X509_STORE_CTX, X509_STORE_CTX_free);
RP_OPENSSL_DELETER(X509_CRL, X509_CRL_free);
RP_OPENSSL_DELETER(X509_NAME, X509_NAME_free);
RP_OPENSSL_DELETER(X509_EXTENSION, X509_EXTENSION_free);
RP_OPENSSL_DELETER(X509_REVOKED, X509_REVOKED_free);
RP_OPENSSL_DELETER(EVP_PKEY, EVP_PKEY_free);
RP_OPENSSL_DELETER(EVP_PKEY_CTX, EVP_PKEY_CTX_free);
RP_OPENSSL_DELETER(EVP_MD_CTX, EVP_MD_CTX_free);
RP_OPENSSL_DELETER(EVP_MAC, EVP_MAC_free);
RP_OPENSSL_DELETER(EVP_MAC_CTX, EVP_MAC_CTX_free);
RP_OPENSSL_DELETER(ECDSA_SIG, ECDSA_SIG_free);
RP_OPENSSL_DELETER(BIGNUM, BN_free);
RP_OPENSSL_DELETER(BIO, BIO_free_all);
// ASN1_INTEGER, ASN1_ENUMERATED, ASN1_TIME, ASN1_OCTET_STRING, ... are all
// typedefs of one struct (asn1_string_st), so one specialization covers them
// all: OpensslPtr<ASN1_INTEGER>, OpensslPtr<ASN1_TIME> etc. remain valid.
RP_OPENSSL_DELETER(ASN1_STRING, ASN1_STRING_free);
RP_OPENSSL_DELETER(ASN1_OBJECT, ASN1_OBJECT_free);
RP_OPENSSL_DELETER(EC_GROUP, EC_GROUP_free);
RP_OPENSSL_DELETER(BN_CTX, BN_CTX_free);
RP_OPENSSL_DELETER(OSSL_PARAM_BLD, OSSL_PARAM_BLD_free);
RP_OPENSSL_DELETER(OSSL_PARAM, OSSL_PARAM_free);
RP_OPENSSL_DELETER(OCSP_REQUEST, OCSP_REQUEST_free);
RP_OPENSSL_DELETER(OCSP_RESPONSE, OCSP_RESPONSE_free);
RP_OPENSSL_DELETER(OCSP_BASICRESP, OCSP_BASICRESP_free);
RP_OPENSSL_DELETER(OCSP_CERTID, OCSP_CERTID_free);

#undef RP_OPENSSL_DELETER

template <>
struct OpensslDeleter<STACK_OF(X509)> {
  void operator()(STACK_OF(X509)* p) const { sk_X509_pop_free(p, X509_free); }
};

template <typename T>
using OpensslPtr = std::unique_ptr<T, OpensslDeleter<T>>;

}  // namespace rp::crypto

#endif  // RP_VERIFIER_CRYPTO_OPENSSL_PTR_H_
