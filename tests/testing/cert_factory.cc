#include "tests/testing/cert_factory.h"

#include <string>
#include <utility>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/str_join.h"
#include "verifier/crypto/openssl_error.h"

namespace rp::testing {
namespace {

using crypto::OpensslPtr;

absl::Status OpensslFailure(absl::string_view what) {
  return absl::InternalError(
      absl::StrCat("cert_factory: ", what, ": ", crypto::OpensslErrorString()));
}

// OpenSSL setters take non-const objects but copy or up-ref what they are
// given; the caller keeps ownership.
EVP_PKEY* MutableKey(const EVP_PKEY* key) { return const_cast<EVP_PKEY*>(key); }  // NOLINT
X509* MutableCert(const X509* cert) { return const_cast<X509*>(cert); }       // NOLINT

absl::StatusOr<OpensslPtr<ASN1_INTEGER>> SerialInteger(const Bytes& serial) {
  OpensslPtr<BIGNUM> bn(BN_bin2bn(serial.data(), static_cast<int>(serial.size()), nullptr));
  if (bn == nullptr) {
    return OpensslFailure("BN_bin2bn");
  }
  OpensslPtr<ASN1_INTEGER> ai(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (ai == nullptr) {
    return OpensslFailure("BN_to_ASN1_INTEGER");
  }
  return ai;
}

absl::StatusOr<OpensslPtr<ASN1_TIME>> Time(absl::Time t) {
  OpensslPtr<ASN1_TIME> out(ASN1_TIME_set(nullptr, absl::ToTimeT(t)));
  if (out == nullptr) {
    return OpensslFailure("ASN1_TIME_set");
  }
  return out;
}

absl::StatusOr<OpensslPtr<X509_NAME>> SubjectName(const CertSpec& spec) {
  OpensslPtr<X509_NAME> name(X509_NAME_new());
  if (name == nullptr) {
    return OpensslFailure("X509_NAME_new");
  }
  auto add = [&](const std::string& field, const std::string& value) {
    // NOLINTNEXTLINE: OpenSSL wants unsigned char* for the value bytes.
    const auto* bytes = reinterpret_cast<const unsigned char*>(value.c_str());
    return X509_NAME_add_entry_by_txt(name.get(), field.c_str(), MBSTRING_UTF8, bytes, -1, -1,
                                      0) == 1;
  };
  for (const auto& [field, value] : spec.subject_extra) {
    if (!add(field, value)) {
      return OpensslFailure(absl::StrCat("subject attribute ", field));
    }
  }
  if (!add("CN", spec.common_name)) {
    return OpensslFailure("subject CN");
  }
  return name;
}

absl::Status AddConfExtension(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  OpensslPtr<X509_EXTENSION> ext(X509V3_EXT_nconf_nid(nullptr, ctx, nid, value.c_str()));
  if (ext == nullptr) {
    return OpensslFailure(absl::StrCat("extension ", OBJ_nid2sn(nid), "=", value));
  }
  if (X509_add_ext(cert, ext.get(), -1) != 1) {  // copies
    return OpensslFailure("X509_add_ext");
  }
  return absl::OkStatus();
}

absl::Status AddCustomExtension(X509* cert, const CustomExtension& custom) {
  OpensslPtr<ASN1_OBJECT> obj(OBJ_txt2obj(custom.oid.c_str(), 1));
  if (obj == nullptr) {
    return OpensslFailure(absl::StrCat("OID ", custom.oid));
  }
  OpensslPtr<ASN1_OCTET_STRING> value(ASN1_OCTET_STRING_new());
  if (value == nullptr ||
      ASN1_OCTET_STRING_set(value.get(), custom.value.data(),
                            static_cast<int>(custom.value.size())) != 1) {
    return OpensslFailure("ASN1_OCTET_STRING_set");
  }
  OpensslPtr<X509_EXTENSION> ext(
      X509_EXTENSION_create_by_OBJ(nullptr, obj.get(), custom.critical ? 1 : 0, value.get()));
  if (ext == nullptr) {
    return OpensslFailure("X509_EXTENSION_create_by_OBJ");
  }
  if (X509_add_ext(cert, ext.get(), -1) != 1) {
    return OpensslFailure("X509_add_ext");
  }
  return absl::OkStatus();
}

// A digest context set up for the scheme; X509_sign_ctx / X509_CRL_sign_ctx
// take the algorithm identifier (incl. PSS parameters) from it.
absl::StatusOr<OpensslPtr<EVP_MD_CTX>> SigningContext(const EVP_PKEY* key, SigScheme scheme) {
  OpensslPtr<EVP_MD_CTX> mctx(EVP_MD_CTX_new());
  if (mctx == nullptr) {
    return OpensslFailure("EVP_MD_CTX_new");
  }
  EVP_PKEY_CTX* pctx = nullptr;  // owned by mctx
  if (EVP_DigestSignInit(mctx.get(), &pctx, EVP_sha384(), nullptr, MutableKey(key)) != 1) {
    return OpensslFailure("EVP_DigestSignInit");
  }
  if (scheme == SigScheme::kRsaPssSha384) {
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
      return absl::InvalidArgumentError("cert_factory: RSA-PSS needs an RSA issuer key");
    }
    // AMD's ARK/ASK/VCEK profile: SHA-384, MGF1-SHA-384, 48-byte salt.
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha384()) != 1 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 48) != 1) {
      return OpensslFailure("PSS parameters");
    }
  }
  return mctx;
}

// Builds and signs a certificate. `issuer` null means self-signed.
absl::StatusOr<OpensslPtr<X509>> BuildCert(const CertSpec& spec, const EVP_PKEY* subject_key,
                                           const X509* issuer, const EVP_PKEY* signing_key) {
  ERR_clear_error();
  if (subject_key == nullptr || signing_key == nullptr) {
    return absl::InvalidArgumentError("cert_factory: null key");
  }
  OpensslPtr<X509> cert(X509_new());
  if (cert == nullptr || X509_set_version(cert.get(), X509_VERSION_3) != 1) {
    return OpensslFailure("X509_new");
  }
  absl::StatusOr<OpensslPtr<ASN1_INTEGER>> serial = SerialInteger(spec.serial);
  if (!serial.ok()) {
    return serial.status();
  }
  if (X509_set_serialNumber(cert.get(), serial->get()) != 1) {
    return OpensslFailure("X509_set_serialNumber");
  }
  absl::StatusOr<OpensslPtr<X509_NAME>> subject = SubjectName(spec);
  if (!subject.ok()) {
    return subject.status();
  }
  if (X509_set_subject_name(cert.get(), subject->get()) != 1) {
    return OpensslFailure("X509_set_subject_name");
  }
  const X509_NAME* issuer_name =
      issuer == nullptr ? subject->get() : X509_get_subject_name(issuer);
  if (X509_set_issuer_name(cert.get(), issuer_name) != 1) {
    return OpensslFailure("X509_set_issuer_name");
  }
  absl::StatusOr<OpensslPtr<ASN1_TIME>> not_before = Time(spec.not_before);
  absl::StatusOr<OpensslPtr<ASN1_TIME>> not_after = Time(spec.not_after);
  if (!not_before.ok()) {
    return not_before.status();
  }
  if (!not_after.ok()) {
    return not_after.status();
  }
  if (X509_set1_notBefore(cert.get(), not_before->get()) != 1 ||
      X509_set1_notAfter(cert.get(), not_after->get()) != 1) {
    return OpensslFailure("validity");
  }
  if (X509_set_pubkey(cert.get(), MutableKey(subject_key)) != 1) {
    return OpensslFailure("X509_set_pubkey");
  }

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer == nullptr ? cert.get() : MutableCert(issuer), cert.get(), nullptr,
                 nullptr, 0);
  std::string bc = spec.is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE";
  if (spec.is_ca && spec.path_len.has_value()) {
    absl::StrAppend(&bc, ",pathlen:", *spec.path_len);
  }
  if (absl::Status st = AddConfExtension(cert.get(), &ctx, NID_basic_constraints, bc); !st.ok()) {
    return st;
  }
  if (spec.key_usage) {
    const std::string ku =
        spec.is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature";
    if (absl::Status st = AddConfExtension(cert.get(), &ctx, NID_key_usage, ku); !st.ok()) {
      return st;
    }
  }
  if (spec.subject_key_id) {
    if (absl::Status st = AddConfExtension(cert.get(), &ctx, NID_subject_key_identifier, "hash");
        !st.ok()) {
      return st;
    }
  }
  if (spec.authority_key_id) {
    // "keyid" takes the issuer's SKI (or, for a root, the one just added).
    if (absl::Status st =
            AddConfExtension(cert.get(), &ctx, NID_authority_key_identifier, "keyid");
        !st.ok()) {
      return st;
    }
  }
  if (!spec.extended_key_usage_oids.empty()) {
    if (absl::Status st = AddConfExtension(cert.get(), &ctx, NID_ext_key_usage,
                                           absl::StrJoin(spec.extended_key_usage_oids, ","));
        !st.ok()) {
      return st;
    }
  }
  for (const CustomExtension& custom : spec.extensions) {
    if (absl::Status st = AddCustomExtension(cert.get(), custom); !st.ok()) {
      return st;
    }
  }

  absl::StatusOr<OpensslPtr<EVP_MD_CTX>> mctx = SigningContext(signing_key, spec.scheme);
  if (!mctx.ok()) {
    return mctx.status();
  }
  if (X509_sign_ctx(cert.get(), mctx->get()) <= 0) {
    return OpensslFailure("X509_sign_ctx");
  }
  return cert;
}

}  // namespace

absl::StatusOr<OpensslPtr<EVP_PKEY>> MakeKey(KeyType type) {
  ERR_clear_error();
  EVP_PKEY* key = nullptr;
  switch (type) {
    case KeyType::kEcP256:
      key = EVP_EC_gen("prime256v1");
      break;
    case KeyType::kEcP384:
      key = EVP_EC_gen("secp384r1");
      break;
    case KeyType::kRsa2048:
      key = EVP_RSA_gen(2048);
      break;
    case KeyType::kRsa3072:
      key = EVP_RSA_gen(3072);
      break;
    case KeyType::kRsa4096:
      key = EVP_RSA_gen(4096);
      break;
  }
  if (key == nullptr) {
    return OpensslFailure("key generation");
  }
  return OpensslPtr<EVP_PKEY>(key);
}

absl::StatusOr<Issued> MakeRoot(const CertSpec& spec, KeyType type) {
  absl::StatusOr<OpensslPtr<EVP_PKEY>> key = MakeKey(type);
  if (!key.ok()) {
    return key.status();
  }
  absl::StatusOr<OpensslPtr<X509>> cert = BuildCert(spec, key->get(), nullptr, key->get());
  if (!cert.ok()) {
    return cert.status();
  }
  return Issued{std::move(*cert), std::move(*key)};
}

absl::StatusOr<Issued> MakeCert(const CertSpec& spec, KeyType type, const X509* issuer,
                                const EVP_PKEY* issuer_key) {
  absl::StatusOr<OpensslPtr<EVP_PKEY>> key = MakeKey(type);
  if (!key.ok()) {
    return key.status();
  }
  absl::StatusOr<OpensslPtr<X509>> cert = MakeCertForKey(spec, key->get(), issuer, issuer_key);
  if (!cert.ok()) {
    return cert.status();
  }
  return Issued{std::move(*cert), std::move(*key)};
}

absl::StatusOr<OpensslPtr<X509>> MakeCertForKey(const CertSpec& spec,
                                                const EVP_PKEY* subject_key,
                                                const X509* issuer,
                                                const EVP_PKEY* issuer_key) {
  if (issuer == nullptr) {
    return absl::InvalidArgumentError("cert_factory: null issuer (use MakeRoot)");
  }
  return BuildCert(spec, subject_key, issuer, issuer_key);
}

absl::StatusOr<OpensslPtr<X509_CRL>> MakeCrl(const CrlSpec& spec, const X509* issuer,
                                             const EVP_PKEY* issuer_key) {
  ERR_clear_error();
  if (issuer == nullptr || issuer_key == nullptr) {
    return absl::InvalidArgumentError("cert_factory: null CRL issuer");
  }
  OpensslPtr<X509_CRL> crl(X509_CRL_new());
  if (crl == nullptr || X509_CRL_set_version(crl.get(), 1) != 1) {  // 1 = v2
    return OpensslFailure("X509_CRL_new");
  }
  if (X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(issuer)) != 1) {
    return OpensslFailure("X509_CRL_set_issuer_name");
  }
  absl::StatusOr<OpensslPtr<ASN1_TIME>> this_update = Time(spec.this_update);
  if (!this_update.ok()) {
    return this_update.status();
  }
  if (X509_CRL_set1_lastUpdate(crl.get(), this_update->get()) != 1) {
    return OpensslFailure("X509_CRL_set1_lastUpdate");
  }
  if (spec.next_update.has_value()) {
    absl::StatusOr<OpensslPtr<ASN1_TIME>> next_update = Time(*spec.next_update);
    if (!next_update.ok()) {
      return next_update.status();
    }
    if (X509_CRL_set1_nextUpdate(crl.get(), next_update->get()) != 1) {
      return OpensslFailure("X509_CRL_set1_nextUpdate");
    }
  }
  for (const RevokedEntry& entry : spec.revoked) {
    OpensslPtr<X509_REVOKED> rev(X509_REVOKED_new());
    if (rev == nullptr) {
      return OpensslFailure("X509_REVOKED_new");
    }
    absl::StatusOr<OpensslPtr<ASN1_INTEGER>> serial = SerialInteger(entry.serial);
    if (!serial.ok()) {
      return serial.status();
    }
    absl::StatusOr<OpensslPtr<ASN1_TIME>> when = Time(entry.when);
    if (!when.ok()) {
      return when.status();
    }
    if (X509_REVOKED_set_serialNumber(rev.get(), serial->get()) != 1 ||
        X509_REVOKED_set_revocationDate(rev.get(), when->get()) != 1) {
      return OpensslFailure("revoked entry");
    }
    if (entry.reason >= 0) {
      OpensslPtr<ASN1_ENUMERATED> reason(ASN1_ENUMERATED_new());
      if (reason == nullptr || ASN1_ENUMERATED_set(reason.get(), entry.reason) != 1 ||
          X509_REVOKED_add1_ext_i2d(rev.get(), NID_crl_reason, reason.get(), 0, 0) != 1) {
        return OpensslFailure("CRL reason");
      }
    }
    if (X509_CRL_add0_revoked(crl.get(), rev.get()) != 1) {
      return OpensslFailure("X509_CRL_add0_revoked");
    }
    (void)rev.release();  // owned by crl now
  }
  if (X509_CRL_sort(crl.get()) != 1) {
    return OpensslFailure("X509_CRL_sort");
  }
  absl::StatusOr<OpensslPtr<EVP_MD_CTX>> mctx = SigningContext(issuer_key, spec.scheme);
  if (!mctx.ok()) {
    return mctx.status();
  }
  if (X509_CRL_sign_ctx(crl.get(), mctx->get()) <= 0) {
    return OpensslFailure("X509_CRL_sign_ctx");
  }
  return crl;
}

Bytes CrlDer(const X509_CRL* crl) {
  if (crl == nullptr) {
    return {};
  }
  const int len = i2d_X509_CRL(crl, nullptr);
  if (len <= 0) {
    ERR_clear_error();
    return {};
  }
  Bytes out(static_cast<size_t>(len));
  unsigned char* p = out.data();
  if (i2d_X509_CRL(crl, &p) != len) {
    ERR_clear_error();
    return {};
  }
  return out;
}

}  // namespace rp::testing
