#include "verifier/crypto/crl.h"

#include <string>

#include <string>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "verifier/crypto/openssl_error.h"
#include "verifier/crypto/verified_memo_internal.h"
#include "verifier/crypto/x509.h"

namespace rp::crypto {
namespace {

CrlCheck Fail(CrlCheck check, CrlOutcome outcome, std::string detail) {
  check.outcome = outcome;
  check.detail = std::move(detail);
  return check;
}

// X509_CRL_verify, memoised (verified_memo.h): the same CRL bytes under the
// same key verify the same way at any time.
bool CrlSignatureVerifies(X509_CRL* crl, EVP_PKEY* issuer_key) {
  std::string memo_key;
  if (memo_internal::Active()) {
    memo_key = memo_internal::KeyBuilder(MemoKind::kCrlSignature).Crl(crl).Key(issuer_key).Finish();
    if (memo_internal::Found(MemoKind::kCrlSignature, memo_key)) {
      return true;
    }
  }
  if (X509_CRL_verify(crl, issuer_key) != 1) {
    return false;
  }
  memo_internal::Remember(MemoKind::kCrlSignature, memo_key);
  return true;
}

absl::StatusOr<OpensslPtr<X509_CRL>> ParseCrlFull(std::span<const uint8_t> data) {
  if (data.empty()) {
    return absl::InvalidArgumentError("crl: empty input");
  }
  if (data.size() > kMaxCrlBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("crl: ", data.size(), " bytes, max ", kMaxCrlBytes));
  }
  const absl::string_view text(reinterpret_cast<const char*>(data.data()),  // NOLINT: byte view
                              data.size());
  if (absl::StrContains(text, "-----BEGIN")) {
    OpensslPtr<BIO> bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
    if (bio == nullptr) {
      return absl::InternalError(WithOpensslErrors("crl: BIO_new_mem_buf"));
    }
    OpensslPtr<X509_CRL> crl(PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr));
    if (crl == nullptr) {
      return absl::InvalidArgumentError(WithOpensslErrors("crl: malformed PEM"));
    }
    return crl;
  }
  const unsigned char* p = data.data();
  OpensslPtr<X509_CRL> crl(d2i_X509_CRL(nullptr, &p, static_cast<long>(data.size())));
  if (crl == nullptr) {
    return absl::InvalidArgumentError(WithOpensslErrors("crl: malformed DER"));
  }
  const auto consumed = static_cast<size_t>(p - data.data());
  if (consumed != data.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("crl: ", data.size() - consumed, " trailing bytes after DER"));
  }
  return crl;
}

}  // namespace

absl::StatusOr<OpensslPtr<X509_CRL>> ParseCrl(std::span<const uint8_t> data) {
  ERR_clear_error();
  // Memo (verified_memo.h): the same bytes parse to the same list; the
  // size limits and every check on the list still run on the full path.
  std::string memo_key;
  if (!data.empty() && data.size() <= kMaxCrlBytes && memo_internal::Active()) {
    memo_key = memo_internal::KeyBuilder(MemoKind::kCrl).Bytes(data).Finish();
    if (OpensslPtr<X509_CRL> hit = memo_internal::FindCrl(memo_key)) {
      return hit;
    }
  }
  absl::StatusOr<OpensslPtr<X509_CRL>> crl = ParseCrlFull(data);
  if (crl.ok()) {
    memo_internal::RememberCrl(memo_key, crl->get(), data.size());
  }
  return crl;
}

CrlCheck CheckCrl(const X509_CRL* crl, const X509* issuer, const X509* subject, absl::Time at) {
  ERR_clear_error();
  CrlCheck check;
  if (crl == nullptr || issuer == nullptr || subject == nullptr) {
    return Fail(std::move(check), CrlOutcome::kBadSignature, "crl: missing input");
  }
  // OpenSSL's CRL APIs take non-const objects but only read them (lookup may
  // sort the entry list under OpenSSL's own lock); the caller keeps ownership.
  X509_CRL* mcrl = const_cast<X509_CRL*>(crl);  // NOLINT
  EVP_PKEY* issuer_key = X509_get0_pubkey(issuer);  // owned by issuer
  if (issuer_key == nullptr) {
    return Fail(std::move(check), CrlOutcome::kBadSignature,
                WithOpensslErrors("crl: issuer has no usable public key"));
  }
  // 1. Signature: only the issuer's key may vouch for the list.
  if (!CrlSignatureVerifies(mcrl, issuer_key)) {
    return Fail(std::move(check), CrlOutcome::kBadSignature,
                WithOpensslErrors("crl: signature does not verify with the issuer's key"));
  }
  // 2. Issuer name: the list must be about certificates of this issuer.
  if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(issuer)) != 0) {
    return Fail(std::move(check), CrlOutcome::kWrongIssuer,
                "crl: issuer name differs from the issuer certificate's subject");
  }
  // 3. Validity window: a stale list could omit recent revocations.
  absl::StatusOr<absl::Time> this_update = Asn1TimeToTime(X509_CRL_get0_lastUpdate(crl));
  if (!this_update.ok()) {
    return Fail(std::move(check), CrlOutcome::kNotYetValid,
                absl::StrCat("crl: thisUpdate: ", this_update.status().message()));
  }
  check.this_update = *this_update;
  const ASN1_TIME* next = X509_CRL_get0_nextUpdate(crl);  // owned by crl
  absl::StatusOr<absl::Time> next_update =
      next == nullptr ? absl::StatusOr<absl::Time>(absl::InfinitePast()) : Asn1TimeToTime(next);
  if (next_update.ok()) {
    check.next_update = *next_update;
  }
  if (check.this_update > at) {
    return Fail(std::move(check), CrlOutcome::kNotYetValid,
                absl::StrCat("crl: thisUpdate ", absl::FormatTime(check.this_update),
                             " is after ", absl::FormatTime(at)));
  }
  if (next == nullptr) {
    return Fail(std::move(check), CrlOutcome::kExpired, "crl: no nextUpdate");
  }
  if (!next_update.ok()) {
    return Fail(std::move(check), CrlOutcome::kExpired,
                absl::StrCat("crl: nextUpdate: ", next_update.status().message()));
  }
  if (check.next_update <= at) {
    return Fail(std::move(check), CrlOutcome::kExpired,
                absl::StrCat("crl: nextUpdate ", absl::FormatTime(check.next_update),
                             " is not after ", absl::FormatTime(at)));
  }
  // 4. Lookup.
  X509_REVOKED* revoked = nullptr;  // owned by crl
  const int found =
      X509_CRL_get0_by_serial(mcrl, &revoked, X509_get0_serialNumber(subject));
  if (found == 0 || revoked == nullptr) {
    ERR_clear_error();
    check.outcome = CrlOutcome::kNotRevoked;
    check.detail = "";
    return check;
  }
  check.outcome = CrlOutcome::kRevoked;
  check.detail = absl::StrCat("crl: serial ", SerialHex(subject), " is revoked");
  absl::StatusOr<absl::Time> when = Asn1TimeToTime(X509_REVOKED_get0_revocationDate(revoked));
  if (when.ok()) {
    check.revocation_time = *when;
  }
  int critical = 0;
  OpensslPtr<ASN1_ENUMERATED> reason(static_cast<ASN1_ENUMERATED*>(
      X509_REVOKED_get_ext_d2i(revoked, NID_crl_reason, &critical, nullptr)));
  if (reason != nullptr) {
    const long r = ASN1_ENUMERATED_get(reason.get());
    if (r >= 0 && r <= 10) {
      check.revocation_reason = static_cast<int>(r);
    }
  }
  ERR_clear_error();
  return check;
}

}  // namespace rp::crypto
