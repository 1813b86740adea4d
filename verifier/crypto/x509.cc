#include "verifier/crypto/x509.h"

#include <algorithm>
#include <array>
#include <climits>
#include <limits>
#include <optional>
#include <vector>
#include <ctime>
#include <string>
#include <utility>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "verifier/crypto/digest.h"
#include "verifier/crypto/openssl_error.h"
#include "verifier/crypto/verified_memo_internal.h"

namespace rp::crypto {
namespace {

// OpenSSL's verification depth limit (number of certificates above the leaf
// it may add); also the largest path we accept.
constexpr int kMaxChainDepth = 10;
// The most intermediates we hand to the path builder (caps attacker work).
constexpr size_t kMaxIntermediates = 16;

// OpenSSL's store/stack APIs take non-const certificates although they only
// bump the reference count; the caller keeps ownership.
X509* Mutable(const X509* cert) { return const_cast<X509*>(cert); }  // NOLINT

std::string NameCommonName(const X509_NAME* name) {
  if (name == nullptr) {
    return "";
  }
  const int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (idx < 0) {
    return "";
  }
  const X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, idx);  // owned by name
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(entry);      // owned by entry
  if (data == nullptr) {
    return "";
  }
  unsigned char* utf8 = nullptr;
  const int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0 || utf8 == nullptr) {
    ERR_clear_error();
    return "";
  }
  // ASN1_STRING_to_UTF8 allocates with OPENSSL_malloc; hand it to an owner at
  // once so every path frees it.
  std::unique_ptr<unsigned char, decltype([](unsigned char* p) { OPENSSL_free(p); })> owned(utf8);
  return std::string(reinterpret_cast<const char*>(owned.get()),  // NOLINT: byte→char view
                     static_cast<size_t>(len));
}

size_t CountOccurrences(absl::string_view text, absl::string_view needle) {
  size_t n = 0;
  for (size_t pos = text.find(needle); pos != absl::string_view::npos;
       pos = text.find(needle, pos + needle.size())) {
    ++n;
  }
  return n;
}

ChainError MapVerifyError(int err) {
  switch (err) {
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
    case X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY:
      return ChainError::kBadSignature;
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return ChainError::kExpired;
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return ChainError::kNotYetValid;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_CERT_UNTRUSTED:
      return ChainError::kUntrustedRoot;
    default:
      return ChainError::kOther;
  }
}

}  // namespace

absl::StatusOr<absl::Time> Asn1TimeToTime(const ASN1_TIME* t) {
  if (t == nullptr) {
    return absl::InvalidArgumentError("asn1 time: missing");
  }
  struct tm tm = {};
  if (ASN1_TIME_to_tm(t, &tm) != 1) {
    return absl::InvalidArgumentError(WithOpensslErrors("asn1 time: malformed"));
  }
  const absl::CivilSecond civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                                tm.tm_min, tm.tm_sec);
  return absl::FromCivil(civil, absl::UTCTimeZone());
}

absl::StatusOr<OpensslPtr<X509>> ParseDerCertificate(std::span<const uint8_t> der) {
  ERR_clear_error();
  if (der.empty()) {
    return absl::InvalidArgumentError("certificate: empty DER");
  }
  if (der.size() > kMaxCertificateBytes) {
    return absl::InvalidArgumentError(absl::StrCat("certificate: DER is ", der.size(),
                                                   " bytes, max ", kMaxCertificateBytes));
  }
  std::string memo_key;
  if (memo_internal::Active()) {
    memo_key = memo_internal::KeyBuilder(MemoKind::kCertificate).Bytes(der).Finish();
    if (OpensslPtr<X509> hit = memo_internal::FindCertificate(memo_key)) {
      return hit;
    }
  }
  const unsigned char* p = der.data();
  OpensslPtr<X509> cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (cert == nullptr) {
    return absl::InvalidArgumentError(WithOpensslErrors("certificate: malformed DER"));
  }
  const auto consumed = static_cast<size_t>(p - der.data());
  if (consumed != der.size()) {
    return absl::InvalidArgumentError(absl::StrCat("certificate: ", der.size() - consumed,
                                                   " trailing bytes after DER"));
  }
  memo_internal::RememberCertificate(memo_key, cert.get(), der.size());
  return cert;
}

absl::StatusOr<std::vector<OpensslPtr<X509>>> ParsePemCertificates(std::string_view pem_in,
                                                                   size_t max_certs) {
  const absl::string_view pem(pem_in.data(), pem_in.size());
  ERR_clear_error();
  if (pem.size() > kMaxPemBundleBytes) {
    return absl::InvalidArgumentError(absl::StrCat("pem: ", pem.size(), " bytes, max ",
                                                   kMaxPemBundleBytes));
  }
  std::string memo_key;
  if (memo_internal::Active()) {
    memo_key = memo_internal::KeyBuilder(MemoKind::kPemCertificates)
                   .Text(std::string_view(pem.data(), pem.size()))
                   .Finish();
    if (std::optional<std::vector<OpensslPtr<X509>>> hit = memo_internal::FindPem(memo_key)) {
      // Every block of this text parsed before; only the count limit differs.
      if (hit->size() > max_certs) {
        return absl::InvalidArgumentError(
            absl::StrCat("pem: more than ", max_certs, " certificates"));
      }
      return *std::move(hit);
    }
  }
  OpensslPtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) {
    return absl::InternalError(WithOpensslErrors("pem: BIO_new_mem_buf"));
  }
  std::vector<OpensslPtr<X509>> certs;
  while (true) {
    OpensslPtr<X509> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (cert == nullptr) {
      const unsigned long err = ERR_peek_last_error();
      if (ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE) {
        // End of the text: no further block.
        ERR_clear_error();
        break;
      }
      return absl::InvalidArgumentError(WithOpensslErrors(
          absl::StrCat("pem: malformed certificate block #", certs.size() + 1)));
    }
    if (certs.size() >= max_certs) {
      return absl::InvalidArgumentError(
          absl::StrCat("pem: more than ", max_certs, " certificates"));
    }
    certs.push_back(std::move(cert));
  }
  if (certs.empty()) {
    return absl::InvalidArgumentError("pem: no certificates");
  }
  // PEM_read_bio skips blocks it cannot frame; insist that every BEGIN line
  // we can see became a certificate.
  const size_t begins = CountOccurrences(pem, "-----BEGIN CERTIFICATE-----") +
                        CountOccurrences(pem, "-----BEGIN X509 CERTIFICATE-----") +
                        CountOccurrences(pem, "-----BEGIN TRUSTED CERTIFICATE-----");
  if (begins != certs.size()) {
    return absl::InvalidArgumentError(absl::StrCat("pem: ", begins, " certificate blocks but ",
                                                   certs.size(), " parsed"));
  }
  memo_internal::RememberPem(memo_key, certs, pem.size());
  return certs;
}

absl::StatusOr<OpensslPtr<X509>> ParseCertificateAnyEncoding(std::span<const uint8_t> data) {
  ERR_clear_error();
  if (data.empty()) {
    return absl::InvalidArgumentError("certificate: empty input");
  }
  // PEM and base64 add at most 4/3 plus line breaks; twice the DER cap is a
  // generous bound on the text form. The DER itself is capped again below.
  if (data.size() > 2 * kMaxCertificateBytes) {
    return absl::InvalidArgumentError(absl::StrCat("certificate: input is ", data.size(),
                                                   " bytes, max ", 2 * kMaxCertificateBytes));
  }
  const absl::string_view text(reinterpret_cast<const char*>(data.data()),  // NOLINT: byte view
                              data.size());
  if (absl::StrContains(text, "-----BEGIN")) {
    absl::StatusOr<std::vector<OpensslPtr<X509>>> certs = ParsePemCertificates(std::string_view(text.data(), text.size()), 1);
    if (!certs.ok()) {
      return certs.status();
    }
    return std::move(certs->front());
  }
  // DER starts with a SEQUENCE tag; base64 text never contains 0x30 as its
  // first character in a way that parses as a certificate, so try DER first.
  if (data[0] == 0x30) {
    absl::StatusOr<OpensslPtr<X509>> der = ParseDerCertificate(data);
    if (der.ok()) {
      return der;
    }
  }
  absl::StatusOr<Bytes> decoded = Base64Decode(std::string_view(text.data(), text.size()));
  if (!decoded.ok()) {
    return absl::InvalidArgumentError(
        "certificate: neither PEM, DER nor base64 of DER");
  }
  absl::StatusOr<OpensslPtr<X509>> cert = ParseDerCertificate(*decoded);
  if (!cert.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate: base64 input: ", cert.status().message()));
  }
  return cert;
}

Bytes CertificateDerSha256(const X509* cert) {
  std::array<uint8_t, 32> digest{};
  if (!memo_internal::CertificateDigest(cert, digest)) return {};
  return Bytes(digest.begin(), digest.end());
}

Bytes CertificateDer(const X509* cert) {
  if (cert == nullptr) {
    return {};
  }
  const int len = i2d_X509(cert, nullptr);
  if (len <= 0) {
    ERR_clear_error();
    return {};
  }
  Bytes out(static_cast<size_t>(len));
  unsigned char* p = out.data();
  if (i2d_X509(cert, &p) != len) {
    ERR_clear_error();
    return {};
  }
  return out;
}

std::string CertificatePem(const X509* cert) {
  if (cert == nullptr) {
    return "";
  }
  OpensslPtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509(bio.get(), cert) != 1) {
    ERR_clear_error();
    return "";
  }
  const char* data = nullptr;  // owned by bio
  const long len = BIO_get_mem_data(bio.get(), &data);
  if (len <= 0 || data == nullptr) {
    return "";
  }
  return std::string(data, static_cast<size_t>(len));
}

Bytes SpkiSha256(const X509* cert) {
  if (cert == nullptr) {
    return {};
  }
  const X509_PUBKEY* spki = X509_get_X509_PUBKEY(cert);  // owned by cert
  const int len = i2d_X509_PUBKEY(spki, nullptr);
  if (len <= 0) {
    ERR_clear_error();
    return {};
  }
  Bytes der(static_cast<size_t>(len));
  unsigned char* p = der.data();
  if (i2d_X509_PUBKEY(spki, &p) != len) {
    ERR_clear_error();
    return {};
  }
  return Sha256(der);
}

std::string SubjectCommonName(const X509* cert) {
  return cert == nullptr ? "" : NameCommonName(X509_get_subject_name(cert));
}

std::string IssuerCommonName(const X509* cert) {
  return cert == nullptr ? "" : NameCommonName(X509_get_issuer_name(cert));
}

std::string SerialHex(const X509* cert) {
  if (cert == nullptr) {
    return "";
  }
  const ASN1_INTEGER* serial = X509_get0_serialNumber(cert);  // owned by cert
  OpensslPtr<BIGNUM> bn(ASN1_INTEGER_to_BN(serial, nullptr));
  if (bn == nullptr) {
    ERR_clear_error();
    return "";
  }
  Bytes bytes(static_cast<size_t>(BN_num_bytes(bn.get())));
  BN_bn2bin(bn.get(), bytes.data());
  std::string hex = HexEncode(bytes);
  const size_t first = hex.find_first_not_of('0');
  hex = first == std::string::npos ? "0" : hex.substr(first);
  if (BN_is_negative(bn.get())) {
    hex.insert(0, "-");
  }
  return hex;
}

absl::Time NotBefore(const X509* cert) {
  if (cert == nullptr) {
    return absl::InfiniteFuture();
  }
  // A certificate whose time cannot be read is never valid yet.
  return Asn1TimeToTime(X509_get0_notBefore(cert)).value_or(absl::InfiniteFuture());
}

absl::Time NotAfter(const X509* cert) {
  if (cert == nullptr) {
    return absl::InfinitePast();
  }
  // A certificate whose time cannot be read is already expired.
  return Asn1TimeToTime(X509_get0_notAfter(cert)).value_or(absl::InfinitePast());
}

absl::StatusOr<std::optional<Bytes>> ExtensionValue(const X509* cert, std::string_view oid_in) {
  const absl::string_view oid(oid_in.data(), oid_in.size());
  ERR_clear_error();
  if (cert == nullptr) {
    return absl::InvalidArgumentError("extension: null certificate");
  }
  const std::string oid_str(oid);
  OpensslPtr<ASN1_OBJECT> obj(OBJ_txt2obj(oid_str.c_str(), /*no_name=*/1));
  if (obj == nullptr) {
    return absl::InvalidArgumentError(
        WithOpensslErrors(absl::StrCat("extension: bad OID \"", oid, "\"")));
  }
  const int idx = X509_get_ext_by_OBJ(cert, obj.get(), -1);
  if (idx < 0) {
    return std::optional<Bytes>();
  }
  // RFC 5280 §4.2: a certificate must not include more than one instance of
  // an extension; a duplicate could hide a second, different value.
  if (X509_get_ext_by_OBJ(cert, obj.get(), idx) >= 0) {
    return absl::InvalidArgumentError(absl::StrCat("extension ", oid, " occurs more than once"));
  }
  const X509_EXTENSION* ext = X509_get_ext(cert, idx);                // owned by cert
  const ASN1_OCTET_STRING* value = X509_EXTENSION_get_data(const_cast<X509_EXTENSION*>(ext));  // NOLINT: read-only accessor
  if (value == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("extension ", oid, ": no value"));
  }
  const unsigned char* data = ASN1_STRING_get0_data(value);
  const int len = ASN1_STRING_length(value);
  return std::optional<Bytes>(Bytes(data, data + len));
}

const EVP_PKEY* PublicKey(const X509* cert) {
  return cert == nullptr ? nullptr : X509_get0_pubkey(cert);
}

namespace {

// The chain memo's key, or "" when the path would not be forced (two
// different input certificates with the same subject name: OpenSSL could
// pick another path at another time) or an input cannot be encoded. The
// same certificate given twice (a presented chain that ends with the
// trusted root) is one candidate: it verifies the same way from either
// list and has one validity window.
std::string ChainMemoKey(const std::vector<const X509*>& inputs, size_t intermediates,
                         const ChainOptions& options) {
  // Each input by the SHA-256 of its DER (memo_internal::CertificateDigest:
  // carried by certificates the parse memo shares, else computed).
  std::vector<std::array<uint8_t, 32>> digests(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!memo_internal::CertificateDigest(inputs[i], digests[i])) return "";
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    for (size_t j = i + 1; j < inputs.size(); ++j) {
      if (X509_NAME_cmp(X509_get_subject_name(inputs[i]), X509_get_subject_name(inputs[j])) ==
              0 &&
          digests[i] != digests[j]) {
        return "";
      }
    }
  }
  memo_internal::KeyBuilder key(MemoKind::kChain);
  key.Int(static_cast<int64_t>(inputs.size()))
      .Int(static_cast<int64_t>(intermediates))
      .Int(static_cast<int64_t>(options.expected_length))
      .Int(options.partial_chain ? 1 : 0);
  for (const auto& digest : digests) key.Bytes(digest);
  return key.Finish();
}

// The full verification (inputs already validated by VerifyChain).
absl::StatusOr<ChainResult> VerifyChainFull(const X509* leaf,
                                            std::span<const X509* const> intermediates,
                                            std::span<const X509* const> roots,
                                            const ChainOptions& options) {
  OpensslPtr<X509_STORE> store(X509_STORE_new());
  if (store == nullptr) {
    return absl::InternalError(WithOpensslErrors("chain: X509_STORE_new"));
  }
  // Only `roots` are trust anchors.
  for (const X509* root : roots) {
    if (X509_STORE_add_cert(store.get(), Mutable(root)) != 1) {
      // Adding the same root twice is harmless; OpenSSL 3 accepts it silently.
      return absl::InternalError(WithOpensslErrors("chain: X509_STORE_add_cert"));
    }
  }
  OpensslPtr<STACK_OF(X509)> untrusted(sk_X509_new_null());
  if (untrusted == nullptr) {
    return absl::InternalError(WithOpensslErrors("chain: sk_X509_new_null"));
  }
  for (const X509* c : intermediates) {
    // The stack frees its elements (sk_X509_pop_free), so it holds a reference.
    if (X509_up_ref(Mutable(c)) != 1) {
      return absl::InternalError(WithOpensslErrors("chain: X509_up_ref"));
    }
    OpensslPtr<X509> ref(Mutable(c));  // the new reference, until the stack takes it
    if (sk_X509_push(untrusted.get(), ref.get()) <= 0) {
      return absl::InternalError(WithOpensslErrors("chain: sk_X509_push"));
    }
    (void)ref.release();  // now owned by `untrusted`
  }

  OpensslPtr<X509_STORE_CTX> ctx(X509_STORE_CTX_new());
  if (ctx == nullptr ||
      X509_STORE_CTX_init(ctx.get(), store.get(), Mutable(leaf), untrusted.get()) != 1) {
    return absl::InternalError(WithOpensslErrors("chain: X509_STORE_CTX_init"));
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());  // owned by ctx
  X509_VERIFY_PARAM_set_time(param, absl::ToTimeT(options.at));
  X509_VERIFY_PARAM_set_depth(param, kMaxChainDepth);
  // Deliberately no X509_V_FLAG_X509_STRICT (AMD VCEKs lack an AKI) and no
  // CRL flags (CRLs are checked separately by CheckCrl).
  if (options.partial_chain) {
    X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN);
  }

  ChainResult result;
  const int rc = X509_verify_cert(ctx.get());
  if (rc != 1) {
    const int err = X509_STORE_CTX_get_error(ctx.get());
    const int depth = X509_STORE_CTX_get_error_depth(ctx.get());
    if (err == X509_V_OK) {
      result.error = ChainError::kOther;
      result.detail = WithOpensslErrors("chain: verification failed without an error code");
    } else {
      result.error = MapVerifyError(err);
      result.detail =
          absl::StrCat("depth ", depth, ": ", X509_verify_cert_error_string(err));
    }
    ERR_clear_error();
    return result;
  }

  // Map the built chain (owned by ctx) back onto the caller's certificates so
  // the returned pointers outlive this call.
  const STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(ctx.get());  // owned by ctx
  const int n = chain == nullptr ? 0 : sk_X509_num(chain);
  for (int i = 0; i < n; ++i) {
    const X509* built = sk_X509_value(chain, i);
    const X509* match = nullptr;
    auto consider = [&](const X509* c) {
      if (match == nullptr && (c == built || X509_cmp(c, built) == 0)) {
        match = c;
      }
    };
    consider(leaf);
    for (const X509* c : intermediates) {
      consider(c);
    }
    for (const X509* c : roots) {
      consider(c);
    }
    if (match == nullptr) {
      result.error = ChainError::kOther;
      result.detail = absl::StrCat("depth ", i, ": built chain element is not an input");
      result.path.clear();
      return result;
    }
    result.path.push_back(match);
  }
  if (result.path.empty()) {
    result.error = ChainError::kOther;
    result.detail = "chain: empty verified chain";
    return result;
  }
  if (options.expected_length != 0 && result.path.size() != options.expected_length) {
    result.error = ChainError::kWrongShape;
    result.detail = absl::StrCat("path length ", result.path.size(), ", expected ",
                                 options.expected_length);
    result.path.clear();
    return result;
  }
  return result;
}

}  // namespace

absl::StatusOr<ChainResult> VerifyChain(const X509* leaf,
                                        std::span<const X509* const> intermediates,
                                        std::span<const X509* const> roots,
                                        const ChainOptions& options) {
  ERR_clear_error();
  if (leaf == nullptr) {
    return absl::InvalidArgumentError("chain: null leaf");
  }
  if (intermediates.size() > kMaxIntermediates) {
    return absl::InvalidArgumentError(absl::StrCat("chain: ", intermediates.size(),
                                                   " intermediates, max ", kMaxIntermediates));
  }
  if (options.expected_length > static_cast<size_t>(kMaxChainDepth)) {
    return absl::InvalidArgumentError(absl::StrCat("chain: expected_length ",
                                                   options.expected_length, " > ",
                                                   kMaxChainDepth));
  }
  for (const X509* c : intermediates) {
    if (c == nullptr) {
      return absl::InvalidArgumentError("chain: null intermediate");
    }
  }
  for (const X509* c : roots) {
    if (c == nullptr) {
      return absl::InvalidArgumentError("chain: null root");
    }
  }

  if (!memo_internal::Active()) {
    return VerifyChainFull(leaf, intermediates, roots, options);
  }
  // Memo (verified_memo.h): only a forced path (no two inputs share a subject
  // name) and only inside its certificates' common validity window.
  std::vector<const X509*> inputs;
  inputs.reserve(1 + intermediates.size() + roots.size());
  inputs.push_back(leaf);
  inputs.insert(inputs.end(), intermediates.begin(), intermediates.end());
  inputs.insert(inputs.end(), roots.begin(), roots.end());
  const std::string key = ChainMemoKey(inputs, intermediates.size(), options);
  const int64_t at = static_cast<int64_t>(absl::ToTimeT(options.at));
  if (!key.empty()) {
    if (std::optional<memo_internal::ChainEntry> hit = memo_internal::FindChain(key, at)) {
      ChainResult cached;
      for (const uint16_t i : hit->path) cached.path.push_back(inputs[i]);
      return cached;
    }
  }
  absl::StatusOr<ChainResult> result = VerifyChainFull(leaf, intermediates, roots, options);
  if (key.empty() || !result.ok() || !result->ok()) {
    return result;
  }
  memo_internal::ChainEntry entry;
  entry.not_before = std::numeric_limits<int64_t>::min();
  entry.not_after = std::numeric_limits<int64_t>::max();
  for (const X509* c : result->path) {
    size_t index = inputs.size();
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (inputs[i] == c) {
        index = i;
        break;
      }
    }
    if (index == inputs.size()) {
      return result;  // not one of the inputs by identity: do not remember
    }
    entry.path.push_back(static_cast<uint16_t>(index));
    entry.not_before = std::max<int64_t>(entry.not_before, absl::ToTimeT(NotBefore(c)));
    entry.not_after = std::min<int64_t>(entry.not_after, absl::ToTimeT(NotAfter(c)));
  }
  if (entry.not_before <= at && at < entry.not_after) {
    memo_internal::RememberChain(key, std::move(entry));
  }
  return result;
}

namespace {

// X509_verify(cert, issuer's key), memoised both ways (kCertSignature, one
// key for the pair of certificates, the outcome as its value).
bool IssuerKeyVerifies(const X509* cert, const X509* issuer) {
  EVP_PKEY* key = X509_get0_pubkey(issuer);
  if (key == nullptr) return false;
  std::string memo_key;
  if (memo_internal::Active()) {
    memo_key = memo_internal::KeyBuilder(MemoKind::kCertSignature)
                   .Text("issued-by, either outcome")
                   .Certificate(cert)
                   .Certificate(issuer)
                   .Finish();
    if (std::optional<bool> known = memo_internal::FindOutcome(MemoKind::kCertSignature, memo_key)) {
      return *known;
    }
  }
  const bool verified = X509_verify(Mutable(cert), key) == 1;
  ERR_clear_error();
  memo_internal::RememberOutcome(MemoKind::kCertSignature, memo_key, verified);
  return verified;
}

}  // namespace

std::vector<const X509*> AnchorsThatSigned(std::span<const X509* const> intermediates,
                                           std::span<const X509* const> anchors) {
  std::vector<const X509*> signers;
  for (const X509* anchor : anchors) {
    if (anchor == nullptr) continue;
    for (const X509* cert : intermediates) {
      if (cert == nullptr) continue;
      if (X509_NAME_cmp(X509_get_issuer_name(cert), X509_get_subject_name(anchor)) == 0 &&
          IssuerKeyVerifies(cert, anchor)) {
        signers.push_back(anchor);
        break;
      }
    }
  }
  if (signers.empty()) return std::vector<const X509*>(anchors.begin(), anchors.end());
  return signers;
}

}  // namespace rp::crypto
