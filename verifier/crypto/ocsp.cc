#include "verifier/crypto/ocsp.h"

#include <algorithm>
#include <array>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "verifier/common/status_macros.h"
#include "verifier/crypto/digest.h"
#include "verifier/crypto/openssl_error.h"
#include "verifier/crypto/verified_memo.h"
#include "verifier/crypto/verified_memo_internal.h"
#include "verifier/crypto/x509.h"

namespace rp::crypto {
namespace {

constexpr absl::string_view kOcspErrorPayloadUrl = "type.googleapis.com/rp.crypto.OcspError";

constexpr std::array<std::pair<OcspError, absl::string_view>, 9> kOcspErrorNames = {{
    {OcspError::kMalformed, "OCSP_MALFORMED"},
    {OcspError::kResponderError, "OCSP_RESPONDER_ERROR"},
    {OcspError::kSignatureInvalid, "OCSP_SIGNATURE_INVALID"},
    {OcspError::kSignerUnauthorized, "OCSP_SIGNER_UNAUTHORIZED"},
    {OcspError::kCertIdMismatch, "OCSP_CERTID_MISMATCH"},
    {OcspError::kNonceMismatch, "OCSP_NONCE_MISMATCH"},
    {OcspError::kNonceMissing, "OCSP_NONCE_MISSING"},
    {OcspError::kNotYetValid, "OCSP_NOT_YET_VALID"},
    {OcspError::kStale, "OCSP_STALE"},
}};

absl::string_view ErrorName(OcspError error) {
  for (const auto& [e, name] : kOcspErrorNames) {
    if (e == error) {
      return name;
    }
  }
  return "OCSP_MALFORMED";  // unreachable: every enumerator is listed
}

std::optional<OcspError> ErrorFromName(absl::string_view name) {
  for (const auto& [e, n] : kOcspErrorNames) {
    if (n == name) {
      return e;
    }
  }
  return std::nullopt;
}

absl::StatusCode AbslCodeFor(OcspError error) {
  switch (error) {
    case OcspError::kResponderError:
      return absl::StatusCode::kUnavailable;
    case OcspError::kNotYetValid:
    case OcspError::kStale:
      return absl::StatusCode::kFailedPrecondition;
    default:
      return absl::StatusCode::kInvalidArgument;
  }
}

// "<CODE>: <message>" with the code also attached as a payload.
absl::Status OcspFailure(OcspError error, absl::string_view message) {
  const absl::string_view name = ErrorName(error);
  absl::Status status(AbslCodeFor(error), absl::StrCat(name, ": ", message));
  status.SetPayload(kOcspErrorPayloadUrl, absl::Cord(name));
  return status;
}

std::string NameString(const X509_NAME* name) {
  if (name == nullptr) {
    return "";
  }
  OpensslPtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr ||
      X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0) {
    ERR_clear_error();
    return "";
  }
  const char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  if (len <= 0 || data == nullptr) {
    return "";
  }
  return std::string(data, static_cast<size_t>(len));
}

std::string TimeString(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

// Digest of the subjectPublicKey BIT STRING contents (RFC 6960 keyHash).
absl::StatusOr<Bytes> PublicKeyDigest(const X509* cert, const EVP_MD* md) {
  Bytes out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  if (X509_pubkey_digest(cert, md, out.data(), &len) != 1) {
    return absl::InternalError(WithOpensslErrors("ocsp: public key digest"));
  }
  out.resize(len);
  return out;
}

std::span<const uint8_t> OctetStringBytes(const ASN1_OCTET_STRING* s) {
  if (s == nullptr || ASN1_STRING_length(s) <= 0) {
    return {};
  }
  return {ASN1_STRING_get0_data(s), static_cast<size_t>(ASN1_STRING_length(s))};
}

bool ResponderIdMatches(const OCSP_BASICRESP* bs, const X509* candidate) {
  const ASN1_OCTET_STRING* key_hash = nullptr;  // owned by bs
  const X509_NAME* name = nullptr;              // owned by bs
  if (OCSP_resp_get0_id(bs, &key_hash, &name) != 1) {
    return false;
  }
  if (name != nullptr) {
    return X509_NAME_cmp(name, X509_get_subject_name(candidate)) == 0;
  }
  // byKey is the SHA-1 of the responder's subjectPublicKey (RFC 6960 §4.2.1).
  absl::StatusOr<Bytes> digest = PublicKeyDigest(candidate, EVP_sha1());
  if (!digest.ok()) {
    return false;
  }
  return ConstantTimeEquals(*digest, OctetStringBytes(key_hash));
}

// X509_verify of a delegated responder certificate, memoised
// (verified_memo.h): the same certificate under the same key verifies the
// same way at any time.
bool CertSignatureVerifies(X509* cert, EVP_PKEY* issuer_key) {
  std::string memo_key;
  if (memo_internal::Active()) {
    memo_key =
        memo_internal::KeyBuilder(MemoKind::kCertSignature).Certificate(cert).Key(issuer_key).Finish();
    if (memo_internal::Found(MemoKind::kCertSignature, memo_key)) {
      return true;
    }
  }
  if (X509_verify(cert, issuer_key) != 1) {
    return false;
  }
  memo_internal::Remember(MemoKind::kCertSignature, memo_key);
  return true;
}

// RFC 6960 §4.2.2.2: a delegated responder certificate must be issued
// directly by the CA that issued the certificate in question and carry
// id-kp-OCSPSigning; otherwise any certificate from anywhere could vouch for
// the status. Returns "" when authorized, the reason otherwise.
std::string DelegationProblem(const X509* signer, const X509* issuer, absl::Time at) {
  // X509_check_issued / X509_verify / extension flags take non-const objects
  // but only read them (the flags are cached under OpenSSL's lock); the
  // caller keeps ownership.
  X509* msigner = const_cast<X509*>(signer);  // NOLINT
  X509* missuer = const_cast<X509*>(issuer);  // NOLINT
  if (X509_check_issued(missuer, msigner) != X509_V_OK) {
    ERR_clear_error();
    return "not issued by the issuer (names/key identifiers differ)";
  }
  EVP_PKEY* issuer_key = X509_get0_pubkey(issuer);  // owned by issuer
  if (issuer_key == nullptr || !CertSignatureVerifies(msigner, issuer_key)) {
    return WithOpensslErrors("its signature does not verify with the issuer's key");
  }
  const uint32_t flags = X509_get_extension_flags(msigner);
  if ((flags & EXFLAG_INVALID) != 0) {
    return "has invalid extensions";
  }
  // Without an EKU extension X509_get_extended_key_usage reports "all";
  // RFC 6960 requires the explicit OCSPSigning purpose.
  if ((flags & EXFLAG_XKUSAGE) == 0 ||
      (X509_get_extended_key_usage(msigner) & XKU_OCSP_SIGN) == 0) {
    return "lacks the id-kp-OCSPSigning extended key usage";
  }
  if ((flags & EXFLAG_KUSAGE) != 0 &&
      (X509_get_key_usage(msigner) & KU_DIGITAL_SIGNATURE) == 0) {
    return "key usage lacks digitalSignature";
  }
  const absl::Time not_before = NotBefore(signer);
  const absl::Time not_after = NotAfter(signer);
  if (at < not_before || at > not_after) {
    return absl::StrCat("not valid at ", TimeString(at), " (", TimeString(not_before), " .. ",
                        TimeString(not_after), ")");
  }
  return "";
}

bool SignatureVerifies(const OCSP_BASICRESP* bs, const X509* signer) {
  EVP_PKEY* key = X509_get0_pubkey(signer);  // owned by signer
  if (key == nullptr) {
    return false;
  }
  // The signature covers the DER of tbsResponseData (RFC 6960 §4.2.1).
  // Memoised (verified_memo.h) over the whole BasicOCSPResponse DER.
  std::string memo_key;
  if (memo_internal::Active()) {
    unsigned char* der = nullptr;
    const int len = i2d_OCSP_BASICRESP(bs, &der);
    if (len > 0) {
      memo_key = memo_internal::KeyBuilder(MemoKind::kOcspSignature)
                     .Bytes(std::span<const uint8_t>(der, static_cast<size_t>(len)))
                     .Key(key)
                     .Finish();
    }
    OPENSSL_free(der);
    if (memo_internal::Found(MemoKind::kOcspSignature, memo_key)) {
      return true;
    }
  }
  const bool ok = ASN1_item_verify(ASN1_ITEM_rptr(OCSP_RESPDATA), OCSP_resp_get0_tbs_sigalg(bs),
                          OCSP_resp_get0_signature(bs), OCSP_resp_get0_respdata(bs),
                          key) == 1;
  if (ok) memo_internal::Remember(MemoKind::kOcspSignature, memo_key);
  return ok;
}

// The times at which a successful verification stays what it was (the
// cross-request memo in VerifyOcspResponse): every time-dependent check it
// made passes for exactly the `at` in [from, until], both inclusive.
struct OcspTimeWindow {
  absl::Time from = absl::InfinitePast();
  absl::Time until = absl::InfiniteFuture();
  bool memoizable = true;
  void Narrow(absl::Time lo, absl::Time hi) {
    from = std::max(from, lo);
    until = std::min(until, hi);
  }
};

// Finds the certificate that signed `bs` and checks it may speak for
// `issuer`. The responder ID may match the issuer itself or certificates
// carried in the response; every matching candidate is tried. `window` is
// narrowed to the times at which the same candidate would be chosen.
absl::StatusOr<std::string> AuthorizeAndVerifySigner(const OCSP_BASICRESP* bs, const X509* issuer,
                                                     absl::Time at, OcspTimeWindow& window) {
  bool authorized_but_bad_signature = false;
  std::vector<std::string> problems;
  if (ResponderIdMatches(bs, issuer)) {
    if (SignatureVerifies(bs, issuer)) {
      return absl::StrCat("issuer: ", NameString(X509_get_subject_name(issuer)));
    }
    authorized_but_bad_signature = true;
    problems.push_back(WithOpensslErrors("signature does not verify with the issuer's key"));
  }
  const STACK_OF(X509)* certs = OCSP_resp_get0_certs(bs);  // owned by bs
  const int count = certs == nullptr ? 0 : sk_X509_num(certs);
  for (int i = 0; i < count; ++i) {
    const X509* candidate = sk_X509_value(certs, i);  // owned by bs
    if (candidate == nullptr || X509_cmp(candidate, issuer) == 0 ||
        !ResponderIdMatches(bs, candidate)) {
      continue;
    }
    const std::string subject = NameString(X509_get_subject_name(candidate));
    const std::string problem = DelegationProblem(candidate, issuer, at);
    if (!problem.empty()) {
      problems.push_back(absl::StrCat("responder certificate '", subject, "' ", problem));
      continue;
    }
    if (SignatureVerifies(bs, candidate)) {
      // Which candidate signs depends on `at` only through the validity of
      // candidates that were tried: only a first, unproblematic one is
      // remembered, for the time its certificate is valid.
      if (problems.empty()) {
        window.Narrow(NotBefore(candidate), NotAfter(candidate));
      } else {
        window.memoizable = false;
      }
      return absl::StrCat("delegated: ", subject);
    }
    authorized_but_bad_signature = true;
    problems.push_back(WithOpensslErrors(
        absl::StrCat("signature does not verify with delegated responder '", subject, "'")));
  }
  if (problems.empty()) {
    problems.push_back("responder ID matches neither the issuer nor a certificate in the response");
  }
  return OcspFailure(authorized_but_bad_signature ? OcspError::kSignatureInvalid
                                                  : OcspError::kSignerUnauthorized,
                     absl::StrJoin(problems, "; "));
}

// The response nonce, unwrapped from the OCTET STRING that RFC 8954 puts in
// extnValue; a responder that put the raw octets there is tolerated.
absl::StatusOr<std::optional<Bytes>> ResponseNonce(OCSP_BASICRESP* bs) {
  const int idx = OCSP_BASICRESP_get_ext_by_NID(bs, NID_id_pkix_OCSP_Nonce, -1);
  if (idx < 0) {
    return std::optional<Bytes>();
  }
  if (OCSP_BASICRESP_get_ext_by_NID(bs, NID_id_pkix_OCSP_Nonce, idx) >= 0) {
    return OcspFailure(OcspError::kMalformed, "two nonce extensions");
  }
  const X509_EXTENSION* ext = OCSP_BASICRESP_get_ext(bs, idx);  // owned by bs
  const std::span<const uint8_t> raw =
      OctetStringBytes(X509_EXTENSION_get_data(const_cast<X509_EXTENSION*>(ext)));  // NOLINT
  const unsigned char* p = raw.data();
  OpensslPtr<ASN1_OCTET_STRING> inner(
      raw.empty() ? nullptr : d2i_ASN1_OCTET_STRING(nullptr, &p, static_cast<long>(raw.size())));
  if (inner != nullptr && p == raw.data() + raw.size()) {
    const std::span<const uint8_t> value = OctetStringBytes(inner.get());
    return std::optional<Bytes>(Bytes(value.begin(), value.end()));
  }
  ERR_clear_error();
  return std::optional<Bytes>(Bytes(raw.begin(), raw.end()));
}

// Index of the single response for `cert`, trying the SHA-1 certID first
// (what we send) and SHA-256 (responders configured with -rcid sha256).
absl::StatusOr<int> FindSingleResponse(OCSP_BASICRESP* bs, const X509* cert, const X509* issuer) {
  for (const EVP_MD* md : {EVP_sha1(), EVP_sha256()}) {
    OpensslPtr<OCSP_CERTID> id(OCSP_cert_to_id(md, cert, issuer));
    if (id == nullptr) {
      return absl::InternalError(WithOpensslErrors("ocsp: OCSP_cert_to_id"));
    }
    const int idx = OCSP_resp_find(bs, id.get(), -1);
    if (idx < 0) {
      continue;
    }
    // Two answers for one certificate could disagree; refuse to pick one.
    if (OCSP_resp_find(bs, id.get(), idx) >= 0) {
      return OcspFailure(OcspError::kMalformed, absl::StrCat("two single responses for serial ",
                                                             SerialHex(cert)));
    }
    return idx;
  }
  return OcspFailure(OcspError::kCertIdMismatch,
                     absl::StrCat("no single response for serial ", SerialHex(cert), " of '",
                                  NameString(X509_get_issuer_name(cert)), "' among ",
                                  OCSP_resp_count(bs), " response(s)"));
}

absl::StatusOr<absl::Time> GeneralizedTime(const ASN1_GENERALIZEDTIME* t, absl::string_view what) {
  absl::StatusOr<absl::Time> time = Asn1TimeToTime(t);
  if (!time.ok()) {
    return OcspFailure(OcspError::kMalformed, absl::StrCat(what, ": ", time.status().message()));
  }
  return *time;
}

std::string_view CrlReasonName(int reason) {
  static constexpr std::array<std::string_view, 11> kNames = {
      "unspecified",          "keyCompromise",  "cACompromise",  "affiliationChanged",
      "superseded",           "cessationOfOperation", "certificateHold", "(7)",
      "removeFromCRL",        "privilegeWithdrawn",   "aACompromise"};
  if (reason < 0 || reason >= static_cast<int>(kNames.size())) {
    return "none";
  }
  return kNames[static_cast<size_t>(reason)];
}

}  // namespace

std::string_view OcspErrorName(OcspError error) {
  const absl::string_view name = ErrorName(error);
  return {name.data(), name.size()};
}

std::optional<OcspError> GetOcspError(const absl::Status& status) {
  if (status.ok()) {
    return std::nullopt;
  }
  if (auto payload = status.GetPayload(kOcspErrorPayloadUrl); payload.has_value()) {
    return ErrorFromName(std::string(*payload));
  }
  // Fallback: "<context>: OCSP_XXX: ..." after Annotate dropped payloads.
  // Only a whole token followed by ':' counts.
  const absl::string_view message = status.message();
  for (size_t pos = message.find("OCSP_"); pos != absl::string_view::npos;
       pos = message.find("OCSP_", pos + 1)) {
    if (pos > 0 && message[pos - 1] != ' ') {
      continue;
    }
    const size_t colon = message.find(':', pos);
    if (colon == absl::string_view::npos) {
      break;
    }
    if (std::optional<OcspError> e = ErrorFromName(message.substr(pos, colon - pos))) {
      return e;
    }
  }
  return std::nullopt;
}

namespace {
absl::StatusOr<OcspRequest> BuildOcspRequestFull(const X509* cert, const X509* issuer,
                                                 const OcspRequestSpec& spec);
}  // namespace

absl::StatusOr<OcspRequest> BuildOcspRequest(const X509* cert, const X509* issuer,
                                             const OcspRequestSpec& spec) {
  ERR_clear_error();
  if (cert == nullptr || issuer == nullptr) {
    return absl::InvalidArgumentError("ocsp request: null certificate or issuer");
  }
  if (spec.with_nonce) {
    return BuildOcspRequestFull(cert, issuer, spec);  // fresh random nonce each time
  }
  // Without a nonce the request is a pure function of the two certificates:
  // built once per pair (verified_memo.h).
  return MemoizedParse<OcspRequest>(
      "ocsp-request-no-nonce-v1",
      absl::StrCat(ToString(CertificateDer(cert)), ToString(CertificateDer(issuer))),
      [&](std::string_view) { return BuildOcspRequestFull(cert, issuer, spec); });
}

absl::StatusOr<Bytes> OcspRequestOnDemand::Build() {
  absl::StatusOr<OcspRequest> r = BuildOcspRequest(cert_, issuer_, spec_);
  if (!r.ok()) {
    error_ = r.status();
    return r.status();
  }
  sent_ = *std::move(r);
  return sent_->der;
}

namespace {
absl::StatusOr<OcspRequest> BuildOcspRequestFull(const X509* cert, const X509* issuer,
                                                 const OcspRequestSpec& spec) {
  OcspRequest out;
  // SHA-1 certID: see the header.
  OpensslPtr<OCSP_CERTID> id(OCSP_cert_to_id(EVP_sha1(), cert, issuer));
  if (id == nullptr) {
    return absl::InternalError(WithOpensslErrors("ocsp request: OCSP_cert_to_id"));
  }
  OpensslPtr<OCSP_REQUEST> req(OCSP_REQUEST_new());
  if (req == nullptr) {
    return absl::InternalError(WithOpensslErrors("ocsp request: OCSP_REQUEST_new"));
  }
  if (OCSP_request_add0_id(req.get(), id.get()) == nullptr) {
    return absl::InternalError(WithOpensslErrors("ocsp request: OCSP_request_add0_id"));
  }
  (void)id.release();  // now owned by req
  if (spec.with_nonce) {
    out.nonce = RandomBytes(kOcspNonceBytes);
    // Wrapped in an OCTET STRING inside extnValue (RFC 8954 §2.1).
    if (OCSP_request_add1_nonce(req.get(), out.nonce.data(), static_cast<int>(out.nonce.size())) !=
        1) {
      return absl::InternalError(WithOpensslErrors("ocsp request: OCSP_request_add1_nonce"));
    }
  }
  unsigned char* der = nullptr;
  const int len = i2d_OCSP_REQUEST(req.get(), &der);
  if (len <= 0 || der == nullptr) {
    return absl::InternalError(WithOpensslErrors("ocsp request: i2d_OCSP_REQUEST"));
  }
  out.der.assign(der, der + len);
  OPENSSL_free(der);
  ASSIGN_OR_RETURN(out.issuer_key_hash, PublicKeyDigest(issuer, EVP_sha256()));
  out.serial_hex = SerialHex(cert);
  return out;
}
}  // namespace

std::string OcspCacheKey(std::span<const uint8_t> issuer_key_hash, std::string_view serial_hex) {
  return absl::StrCat(HexEncode(issuer_key_hash), "-", std::string(serial_hex));
}

absl::StatusOr<std::string> NvidiaOcspCollateralKey(const X509* cert, const X509* issuer) {
  ERR_clear_error();
  if (cert == nullptr || issuer == nullptr) {
    return absl::InvalidArgumentError("ocsp key: null certificate or issuer");
  }
  // As BuildOcspRequestFull fills OcspRequest::issuer_key_hash / serial_hex.
  ASSIGN_OR_RETURN(Bytes issuer_key_hash, PublicKeyDigest(issuer, EVP_sha256()));
  return absl::StrCat("nvidia/ocsp/", OcspCacheKey(issuer_key_hash, SerialHex(cert)), ".der");
}

absl::StatusOr<std::optional<absl::Time>> OcspResponseNextUpdateUnverified(
    std::span<const uint8_t> response_der) {
  ERR_clear_error();
  if (response_der.empty() || response_der.size() > kMaxOcspResponseBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("ocsp: response is ", response_der.size(), " bytes (1..",
                     kMaxOcspResponseBytes, ")"));
  }
  const unsigned char* p = response_der.data();
  OpensslPtr<OCSP_RESPONSE> response(
      d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(response_der.size())));  // NOLINT
  if (response == nullptr || static_cast<size_t>(p - response_der.data()) != response_der.size()) {
    return absl::InvalidArgumentError(WithOpensslErrors("ocsp: not a DER OCSPResponse"));
  }
  if (OCSP_response_status(response.get()) != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
    return absl::InvalidArgumentError("ocsp: responseStatus is not successful");
  }
  OpensslPtr<OCSP_BASICRESP> basic(OCSP_response_get1_basic(response.get()));
  if (basic == nullptr) return absl::InvalidArgumentError("ocsp: no BasicOCSPResponse");
  const int n = OCSP_resp_count(basic.get());
  if (n <= 0) return absl::InvalidArgumentError("ocsp: no SingleResponse");
  absl::Time earliest = absl::InfiniteFuture();
  for (int i = 0; i < n; ++i) {
    OCSP_SINGLERESP* single = OCSP_resp_get0(basic.get(), i);  // owned by basic
    ASN1_GENERALIZEDTIME* this_update = nullptr;
    ASN1_GENERALIZEDTIME* next_update = nullptr;
    if (OCSP_single_get0_status(single, nullptr, nullptr, &this_update, &next_update) < 0) {
      return absl::InvalidArgumentError("ocsp: unreadable SingleResponse");
    }
    if (next_update == nullptr) return std::optional<absl::Time>();
    ASSIGN_OR_RETURN(absl::Time t, Asn1TimeToTime(next_update));
    earliest = std::min(earliest, t);
  }
  return std::optional<absl::Time>(earliest);
}

namespace {

// Steps 1-2 of VerifyOcspResponse: the bounded parse of an OCSPResponse
// with a successful status down to its BasicOCSPResponse. The object is
// shared by the memo and never mutated afterwards.
absl::StatusOr<std::shared_ptr<OCSP_BASICRESP>> ParseBasicResponseFull(
    std::span<const uint8_t> response_der) {
  // 1. Parse, bounded.
  if (response_der.empty()) {
    return OcspFailure(OcspError::kMalformed, "empty response");
  }
  if (response_der.size() > kMaxOcspResponseBytes) {
    return OcspFailure(OcspError::kMalformed, absl::StrCat("response is ", response_der.size(),
                                                           " bytes, max ", kMaxOcspResponseBytes));
  }
  const unsigned char* p = response_der.data();
  OpensslPtr<OCSP_RESPONSE> response(
      d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(response_der.size())));
  if (response == nullptr) {
    return OcspFailure(OcspError::kMalformed, WithOpensslErrors("not a DER OCSPResponse"));
  }
  const auto consumed = static_cast<size_t>(p - response_der.data());
  if (consumed != response_der.size()) {
    return OcspFailure(OcspError::kMalformed,
                       absl::StrCat(response_der.size() - consumed, " trailing bytes after DER"));
  }
  // 2. The responder may answer tryLater, unauthorized, ... without a body.
  const int response_status = OCSP_response_status(response.get());
  if (response_status != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
    return OcspFailure(OcspError::kResponderError,
                       absl::StrCat("responseStatus ", OCSP_response_status_str(response_status),
                                    " (", response_status, ")"));
  }
  std::shared_ptr<OCSP_BASICRESP> basic(OCSP_response_get1_basic(response.get()),
                                        OCSP_BASICRESP_free);
  if (basic == nullptr) {
    return OcspFailure(OcspError::kMalformed,
                       WithOpensslErrors("successful response without a BasicOCSPResponse"));
  }
  return basic;
}

absl::StatusOr<OcspResult> VerifyOcspResponseFull(
    std::span<const uint8_t> response_der, const X509* cert, const X509* issuer,
    std::optional<std::span<const uint8_t>> expected_nonce, absl::Time at,
    const OcspVerifyOptions& options, OcspTimeWindow& window);

// A success remembered across requests with its time window.
struct VerifiedOcspAnswer {
  OcspResult result;
  OcspTimeWindow window;
};

absl::StatusOr<std::shared_ptr<OCSP_BASICRESP>> ParseBasicResponse(
    std::span<const uint8_t> response_der) {
  const std::string key = DocumentMemoKey("ocsp-basic-response-v1", response_der);
  if (std::shared_ptr<const void> hit = FindVerifiedDocument(key)) {
    return std::const_pointer_cast<OCSP_BASICRESP>(
        std::static_pointer_cast<const OCSP_BASICRESP>(hit));
  }
  ASSIGN_OR_RETURN(std::shared_ptr<OCSP_BASICRESP> basic, ParseBasicResponseFull(response_der));
  RememberVerifiedDocument(key, basic, 4 * response_der.size());
  return basic;
}

}  // namespace

absl::StatusOr<OcspResult> VerifyOcspResponse(
    std::span<const uint8_t> response_der, const X509* cert, const X509* issuer,
    std::optional<std::span<const uint8_t>> expected_nonce, absl::Time at,
    const OcspVerifyOptions& options) {
  ERR_clear_error();
  // Every input but the time, hashed once (verified_memo.h): the key of the
  // cross-request memo, and with the time the key of the request memo.
  std::string base_key;
  if (cert != nullptr && issuer != nullptr && memo_internal::Active()) {
    const int64_t scalars[] = {absl::ToInt64Nanoseconds(options.skew),
                               options.allow_missing_nonce ? 1 : 0,
                               options.allow_missing_next_update ? 1 : 0,
                               expected_nonce.has_value() ? 1 : 0};
    base_key = memo_internal::KeyBuilder(MemoKind::kDocument)
                   .Text("ocsp-verified-v2")
                   .Bytes(response_der)
                   .Certificate(cert)
                   .Certificate(issuer)
                   .Bytes(expected_nonce.value_or(std::span<const uint8_t>()))
                   .Bytes(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(scalars),
                                                   sizeof(scalars)))
                   .Finish();
  }
  // Within one request (ScopedRequestMemo) the same response for the same
  // certificate at the same time is verified once: this function is pure in
  // all of its inputs, the time included (failures are remembered too).
  std::string request_key;
  if (!base_key.empty() && InRequestScope()) {
    const int64_t at_ns = absl::ToUnixNanos(at);
    const std::span<const uint8_t> parts[] = {
        AsBytes(base_key),
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&at_ns), sizeof(at_ns))};
    request_key = RequestMemoKey("ocsp-verify-v2", parts);
  }
  if (std::shared_ptr<const void> hit = FindInRequest(request_key)) {
    return *static_cast<const absl::StatusOr<OcspResult>*>(hit.get());
  }
  // Across requests: a success is the same success at every time inside the
  // window of its time-dependent checks (thisUpdate - skew .. nextUpdate +
  // skew, a delegated responder's validity); elsewhere it runs in full.
  if (std::shared_ptr<const void> hit = FindVerifiedDocument(base_key)) {
    const auto* v = static_cast<const VerifiedOcspAnswer*>(hit.get());
    if (at >= v->window.from && at <= v->window.until) {
      auto result = std::make_shared<const absl::StatusOr<OcspResult>>(v->result);
      RememberInRequest(request_key, result);
      return *result;
    }
  }
  OcspTimeWindow window;
  auto result = std::make_shared<const absl::StatusOr<OcspResult>>(VerifyOcspResponseFull(
      response_der, cert, issuer, expected_nonce, at, options, window));
  if (result->ok() && window.memoizable && !base_key.empty()) {
    RememberVerifiedDocument(base_key,
                             std::make_shared<const VerifiedOcspAnswer>(
                                 VerifiedOcspAnswer{**result, window}),
                             response_der.size() + 512);
    memo_internal::NoteOcspWindow(absl::ToUnixSeconds(window.from),
                                  absl::ToUnixSeconds(window.until));
  }
  RememberInRequest(request_key, result);
  return *result;
}

namespace {

absl::StatusOr<OcspResult> VerifyOcspResponseFull(
    std::span<const uint8_t> response_der, const X509* cert, const X509* issuer,
    std::optional<std::span<const uint8_t>> expected_nonce, absl::Time at,
    const OcspVerifyOptions& options, OcspTimeWindow& window) {
  if (cert == nullptr || issuer == nullptr) {
    return absl::InvalidArgumentError("ocsp: null certificate or issuer");
  }
  // 1.-2. Parse (bounded) to the BasicOCSPResponse: a pure function of the
  // bytes, remembered by the verified-object memo (verified_memo.h) once it
  // succeeded; everything from step 3 on runs on every call.
  ASSIGN_OR_RETURN(const std::shared_ptr<OCSP_BASICRESP> basic, ParseBasicResponse(response_der));
  const STACK_OF(X509)* certs = OCSP_resp_get0_certs(basic.get());  // owned by basic
  if (certs != nullptr && static_cast<size_t>(sk_X509_num(certs)) > kMaxOcspResponseCerts) {
    return OcspFailure(OcspError::kMalformed,
                       absl::StrCat(sk_X509_num(certs), " certificates, max ",
                                    kMaxOcspResponseCerts));
  }
  OcspResult result;
  if (absl::StatusOr<absl::Time> produced =
          Asn1TimeToTime(OCSP_resp_get0_produced_at(basic.get()));
      produced.ok()) {
    result.produced_at = *produced;
  }
  // 3. Who signed it, and may they? Before reading any content.
  ASSIGN_OR_RETURN(result.responder, AuthorizeAndVerifySigner(basic.get(), issuer, at, window));
  // 4. The answer about this certificate.
  ASSIGN_OR_RETURN(const int idx, FindSingleResponse(basic.get(), cert, issuer));
  OCSP_SINGLERESP* single = OCSP_resp_get0(basic.get(), idx);  // owned by basic
  int reason = -1;
  ASN1_GENERALIZEDTIME* revtime = nullptr;      // owned by single
  ASN1_GENERALIZEDTIME* this_update = nullptr;  // owned by single
  ASN1_GENERALIZEDTIME* next_update = nullptr;  // owned by single
  const int cert_status =
      single == nullptr ? -1
                        : OCSP_single_get0_status(single, &reason, &revtime, &this_update,
                                                  &next_update);
  if (cert_status < 0) {
    return OcspFailure(OcspError::kMalformed, WithOpensslErrors("unreadable single response"));
  }
  // 5. Freshness against replay: the nonce binds the answer to our request.
  // An empty expected nonce (OcspRequest::nonce without with_nonce) means
  // none was sent.
  if (expected_nonce.has_value() && !expected_nonce->empty()) {
    ASSIGN_OR_RETURN(const std::optional<Bytes> nonce, ResponseNonce(basic.get()));
    if (!nonce.has_value()) {
      if (!options.allow_missing_nonce) {
        return OcspFailure(OcspError::kNonceMissing,
                           "a nonce was sent but the response carries none");
      }
    } else if (!ConstantTimeEquals(*nonce, *expected_nonce)) {
      return OcspFailure(OcspError::kNonceMismatch,
                         absl::StrCat("response nonce ", HexEncode(*nonce), " != expected ",
                                      HexEncode(*expected_nonce)));
    }
  }
  // 6. Validity window at `at` (RFC 6960 §4.2.2.1), with clock skew.
  ASSIGN_OR_RETURN(result.this_update, GeneralizedTime(this_update, "thisUpdate"));
  window.Narrow(result.this_update - options.skew, absl::InfiniteFuture());
  if (result.this_update > at + options.skew) {
    return OcspFailure(OcspError::kNotYetValid,
                       absl::StrCat("thisUpdate ", TimeString(result.this_update), " is after ",
                                    TimeString(at), " + skew ",
                                    absl::FormatDuration(options.skew)));
  }
  if (next_update == nullptr) {
    if (!options.allow_missing_next_update) {
      return OcspFailure(OcspError::kStale, "no nextUpdate (the answer would never expire)");
    }
  } else {
    ASSIGN_OR_RETURN(result.next_update, GeneralizedTime(next_update, "nextUpdate"));
    window.Narrow(absl::InfinitePast(), result.next_update + options.skew);
    if (at > result.next_update + options.skew) {
      return OcspFailure(OcspError::kStale,
                         absl::StrCat("nextUpdate ", TimeString(result.next_update), " + skew ",
                                      absl::FormatDuration(options.skew), " is before ",
                                      TimeString(at)));
    }
  }
  // 7. Map onto stable codes.
  switch (cert_status) {
    case V_OCSP_CERTSTATUS_GOOD:
      result.status = OcspStatus::kGood;
      result.reason_code = "OK";
      break;
    case V_OCSP_CERTSTATUS_REVOKED: {
      result.status = OcspStatus::kRevoked;
      result.revocation_reason = reason >= 0 ? reason : -1;
      ASSIGN_OR_RETURN(result.revocation_time, GeneralizedTime(revtime, "revocationTime"));
      result.reason_code =
          result.revocation_reason == kCrlReasonCertificateHold ? "CERT_ON_HOLD" : "CERT_REVOKED";
      result.detail = absl::StrCat("serial ", SerialHex(cert), " revoked at ",
                                   TimeString(result.revocation_time), ", reason ",
                                   std::string(CrlReasonName(result.revocation_reason)));
      break;
    }
    default:
      result.status = OcspStatus::kUnknown;
      result.reason_code = "OCSP_UNKNOWN";
      result.detail = absl::StrCat("responder does not know serial ", SerialHex(cert));
      break;
  }
  ERR_clear_error();
  return result;
}

}  // namespace

}  // namespace rp::crypto
