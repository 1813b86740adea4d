// Makes certificates and CRLs at test (or simulation) time, signed by
// OpenSSL. Used by negative tests (flip one thing) and by `attestctl
// simulate`. Not used by any verifier.
#ifndef RP_TESTS_TESTING_CERT_FACTORY_H_
#define RP_TESTS_TESTING_CERT_FACTORY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "verifier/common/encoding.h"
#include "verifier/crypto/openssl_ptr.h"

namespace rp::testing {

enum class KeyType { kEcP256, kEcP384, kRsa2048, kRsa3072, kRsa4096 };
enum class SigScheme { kDefault, kRsaPssSha384 };  // default: ECDSA/RSA PKCS#1 with SHA-384

struct CustomExtension {
  std::string oid;      // dotted
  Bytes value;          // raw extnValue contents (already DER if it should be)
  bool critical = false;
};

struct CertSpec {
  std::string common_name = "test";
  // Extra subject attributes (e.g. {"O","Advanced Micro Devices"}), before CN.
  std::vector<std::pair<std::string, std::string>> subject_extra;
  Bytes serial = {0x01};              // big-endian; {} or {0} gives serial 0
  absl::Time not_before = absl::FromUnixSeconds(1600000000);
  absl::Time not_after = absl::FromUnixSeconds(2500000000);
  bool is_ca = false;
  std::optional<int> path_len;
  bool key_usage = true;              // keyCertSign|cRLSign for CA, digitalSignature otherwise
  bool subject_key_id = true;
  bool authority_key_id = true;
  std::vector<std::string> extended_key_usage_oids;
  std::vector<CustomExtension> extensions;
  SigScheme scheme = SigScheme::kDefault;
};

struct Issued {
  crypto::OpensslPtr<X509> cert;
  crypto::OpensslPtr<EVP_PKEY> key;   // private key of the subject
};

absl::StatusOr<crypto::OpensslPtr<EVP_PKEY>> MakeKey(KeyType type);
// Self-signed root.
absl::StatusOr<Issued> MakeRoot(const CertSpec& spec, KeyType type);
// Certificate for a fresh key of `type`, signed by issuer/issuer_key.
absl::StatusOr<Issued> MakeCert(const CertSpec& spec, KeyType type, const X509* issuer,
                                const EVP_PKEY* issuer_key);
// Certificate for a given subject public key.
absl::StatusOr<crypto::OpensslPtr<X509>> MakeCertForKey(const CertSpec& spec,
                                                        const EVP_PKEY* subject_key,
                                                        const X509* issuer,
                                                        const EVP_PKEY* issuer_key);

struct RevokedEntry {
  Bytes serial;
  absl::Time when = absl::FromUnixSeconds(1650000000);
  int reason = -1;  // CRLReason, -1 = none
};

struct CrlSpec {
  absl::Time this_update = absl::FromUnixSeconds(1700000000);
  std::optional<absl::Time> next_update = absl::FromUnixSeconds(2400000000);
  std::vector<RevokedEntry> revoked;
  SigScheme scheme = SigScheme::kDefault;
};

absl::StatusOr<crypto::OpensslPtr<X509_CRL>> MakeCrl(const CrlSpec& spec, const X509* issuer,
                                                     const EVP_PKEY* issuer_key);
Bytes CrlDer(const X509_CRL* crl);

}  // namespace rp::testing

#endif  // RP_TESTS_TESTING_CERT_FACTORY_H_
