// The verified-object memo's interface for the crypto primitives that use it
// (x509.cc, signature.cc, crl.cc, ocsp.cc). Not for other layers: they see
// only verified_memo.h (options, stats, bypass).
#ifndef RP_VERIFIER_CRYPTO_VERIFIED_MEMO_INTERNAL_H_
#define RP_VERIFIER_CRYPTO_VERIFIED_MEMO_INTERNAL_H_

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <array>
#include <cstdint>
#include <ctime>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "verifier/crypto/openssl_ptr.h"
#include "verifier/crypto/verified_memo.h"

namespace rp::crypto::memo_internal {

// False when the memo is disabled or bypassed on this thread.
bool Active();

// SHA-256 over a kind tag and length-prefixed parts. ok() is false when a
// part could not be encoded (then the caller skips the memo).
class KeyBuilder {
 public:
  explicit KeyBuilder(MemoKind kind);
  ~KeyBuilder();
  KeyBuilder(const KeyBuilder&) = delete;
  KeyBuilder& operator=(const KeyBuilder&) = delete;

  KeyBuilder& Bytes(std::span<const uint8_t> part);
  KeyBuilder& Text(std::string_view part);
  KeyBuilder& Int(int64_t value);
  // The public key's identity: type, curve and encoded point (EC) or n and e
  // (RSA). Other key types make the key unusable (ok() false).
  KeyBuilder& Key(const EVP_PKEY* key);
  KeyBuilder& Certificate(const X509* cert);  // SHA-256 of its DER (CertificateDigest)
  KeyBuilder& Crl(const X509_CRL* crl);       // its DER
  bool ok() const { return ok_; }
  std::string Finish();  // 32 bytes; "" when !ok()

 private:
  EVP_MD_CTX* ctx_;
  bool ok_;
};

// Successes of pure verifications (signature kinds). Found() counts a hit or
// a miss; Remember() is called after a full run succeeded.
bool Found(MemoKind kind, const std::string& key);
void Remember(MemoKind kind, const std::string& key);
// Both outcomes of a pure verification under one key (a refusal is as
// deterministic as a success): the remembered outcome, or nullopt (a miss).
// Keys used here must never be used with Found/Remember.
std::optional<bool> FindOutcome(MemoKind kind, const std::string& key);
void RememberOutcome(MemoKind kind, const std::string& key, bool verified);

// Parsed certificates: a new reference to the shared object, or null.
// SHA-256 of the certificate's DER encoding (i2d_X509). A certificate that
// entered the memo (RememberCertificate / RememberPem) carries it from then
// on (X509 ex_data, freed with the object): such objects are shared between
// requests and never modified, so the digest stays that of their DER. Other
// certificates are encoded and hashed on every call. False if the
// certificate cannot be encoded (or is null).
bool CertificateDigest(const X509* cert, std::array<uint8_t, 32>& out);

// Records the window of an OCSP answer just remembered (VerifiedMemoOcspWindows).
void NoteOcspWindow(int64_t from, int64_t until);

OpensslPtr<X509> FindCertificate(const std::string& key);
void RememberCertificate(const std::string& key, const X509* cert, size_t der_size);
std::optional<std::vector<OpensslPtr<X509>>> FindPem(const std::string& key);
void RememberPem(const std::string& key, const std::vector<OpensslPtr<X509>>& certs,
                 size_t pem_size);

// Parsed CRLs: a new reference to the shared object, or null.
OpensslPtr<X509_CRL> FindCrl(const std::string& key);
void RememberCrl(const std::string& key, const X509_CRL* crl, size_t size);

// Verified chains: the path as indices into leaf(0), intermediates(1..),
// roots(after them), and the window [not_before, not_after) in time_t.
struct ChainEntry {
  std::vector<uint16_t> path;
  int64_t not_before = 0;
  int64_t not_after = 0;
};
std::optional<ChainEntry> FindChain(const std::string& key, int64_t at);
void RememberChain(const std::string& key, ChainEntry entry);

}  // namespace rp::crypto::memo_internal

#endif  // RP_VERIFIER_CRYPTO_VERIFIED_MEMO_INTERNAL_H_
