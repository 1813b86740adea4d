#include "verifier/nvidia/rim/rim_ocsp.h"

#include <optional>
#include <span>
#include <string>
#include <utility>

#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "verifier/crypto/digest.h"
#include "verifier/crypto/ocsp.h"
#include "verifier/crypto/x509.h"
#include "verifier/nvidia/rim/reasons.h"

namespace rp::nvidia::rim {
namespace {

using core::CheckStatus;

int Severity(CheckStatus s) {
  switch (s) {
    case CheckStatus::kPass:
      return 0;
    case CheckStatus::kNotChecked:
      return 1;
    case CheckStatus::kFail:
      return 2;
  }
  return 2;
}

// First http(s) OCSP URL of the AIA extension, "" if none.
std::string AiaOcspUrl(const X509* cert) {
  STACK_OF(OPENSSL_STRING)* urls = X509_get1_ocsp(const_cast<X509*>(cert));  // NOLINT: read only
  std::string out;
  for (int i = 0; urls != nullptr && i < sk_OPENSSL_STRING_num(urls); ++i) {
    const std::string u = sk_OPENSSL_STRING_value(urls, i);
    if (absl::StartsWith(u, "http://") || absl::StartsWith(u, "https://")) {
      out = u;
      break;
    }
  }
  X509_email_free(urls);  // frees an OPENSSL_STRING stack (X509_get1_ocsp's contract)
  return out;
}

void Unavailable(CertOcspResult& r, const RimTrustConfig& trust, std::string detail) {
  r.ocsp_status = "unavailable";
  r.reason = reason::kOcspUnavailable;
  r.status = trust.soft_fail_unreachable ? CheckStatus::kNotChecked : CheckStatus::kFail;
  r.detail = trust.soft_fail_unreachable ? absl::StrCat(detail, " (soft-fail allowed)") : detail;
}

CertOcspResult CheckOne(const X509* subject, const X509* issuer, const RimTrustConfig& trust,
                        const RimOcspContext& ctx) {
  CertOcspResult r;
  r.subject = crypto::SubjectCommonName(subject);
  r.serial_hex = crypto::SerialHex(subject);
  auto request_failed = [&](const absl::Status& s) {
    r.status = CheckStatus::kFail;
    r.reason = "OCSP_REQUEST_FAILED";
    r.ocsp_status = "invalid";
    r.detail = std::string(s.message());
    return r;
  };
  // The cache key: a function of the two certificates (no request built).
  absl::StatusOr<std::string> key = crypto::NvidiaOcspCollateralKey(subject, issuer);
  if (!key.ok()) return request_failed(key.status());
  r.key = *std::move(key);
  collateral::GetOptions get;
  get.stale_grace = ctx.grace;
  std::optional<collateral::CollateralItem> item;
  bool fresh_answer = false;
  // The request actually sent (with a fresh nonce when configured), built
  // only if the responder is asked.
  crypto::OcspRequestOnDemand request(subject, issuer,
                                      crypto::OcspRequestSpec{.with_nonce = trust.ocsp_nonce});
  if (ctx.fetcher != nullptr) {
    collateral::OcspQuery query;
    query.key = r.key;
    query.url = trust.ocsp_url_override.empty() ? AiaOcspUrl(subject) : trust.ocsp_url_override;
    query.make_request = [&request] { return request.Build(); };
    absl::StatusOr<std::optional<collateral::OcspFetchResult>> fetched =
        ctx.fetcher->Fetch(query, get);
    if (!request.error().ok()) return request_failed(request.error());
    if (!fetched.ok()) {
      Unavailable(r, trust, absl::StrCat("OCSP for '", r.subject, "': ", fetched.status().message()));
      return r;
    }
    if (!fetched->has_value()) {
      if (query.url.empty()) {
        // No responder to ask (no AIA, no override) and nothing stored: as
        // without a fetcher, revocation was not checked; never a pass.
        r.status = CheckStatus::kNotChecked;
        r.reason = reason::kOcspNotConfigured;
        r.ocsp_status = "not-checked";
        r.detail = absl::StrCat("no OCSP responder URL for '", r.subject,
                                "' (no AIA, no override) and no ", r.key, " in the collateral");
        return r;
      }
      Unavailable(r, trust,
                  absl::StrCat("no OCSP response for '", r.subject, "' from ", query.url,
                               " (not in collateral)"));
      return r;
    }
    item = std::move((*fetched)->item);
    fresh_answer = (*fetched)->answers_this_request;
  } else {
    if (ctx.offline != nullptr) {
      absl::StatusOr<std::optional<collateral::CollateralItem>> got =
          ctx.offline->GetItem(r.key, get);
      if (!got.ok()) {
        Unavailable(r, trust, absl::StrCat("collateral ", r.key, ": ", got.status().message()));
        return r;
      }
      item = *std::move(got);
    }
    if (!item.has_value()) {
      r.status = CheckStatus::kNotChecked;
      r.reason = reason::kOcspNotConfigured;
      r.ocsp_status = "not-checked";
      r.detail = absl::StrCat("no OCSP fetcher configured and no ", r.key, " in the collateral");
      return r;
    }
  }
  r.stale = item->stale;
  r.response_sha256 = HexEncode(crypto::Sha256(item->data));
  r.source = item->source;
  std::optional<std::span<const uint8_t>> nonce;
  crypto::OcspVerifyOptions options;
  if (fresh_answer && !request.sent().has_value()) {
    return request_failed(absl::InternalError("a fresh OCSP answer without a request sent"));
  }
  if (fresh_answer && !request.sent()->nonce.empty()) {
    nonce = request.sent()->nonce;  // a fresh answer must echo our nonce (anti-replay)
  } else {
    options.allow_missing_nonce = true;  // stored answer to an earlier request
  }
  absl::StatusOr<crypto::OcspResult> res =
      crypto::VerifyOcspResponse(item->data, subject, issuer, nonce, ctx.at, options);
  if (!res.ok()) {
    const std::optional<crypto::OcspError> e = crypto::GetOcspError(res.status());
    if (e == crypto::OcspError::kResponderError) {
      Unavailable(r, trust, absl::StrCat("OCSP for '", r.subject, "': ", res.status().message()));
      return r;
    }
    r.status = CheckStatus::kFail;
    // Every rejection of a response carries its OcspError; one without
    // (an OpenSSL failure while reading it) is named like the GPU path's.
    r.reason = e.has_value() ? std::string(crypto::OcspErrorName(*e)) : "OCSP_MALFORMED";
    r.ocsp_status = "invalid";
    r.detail = absl::StrCat("OCSP for '", r.subject, "': ", res.status().message());
    return r;
  }
  r.revocation_reason = res->revocation_reason;
  r.next_update = res->next_update;
  r.detail = absl::StrCat("'", r.subject, "': ", res->reason_code, " (", res->responder, ")");
  switch (res->status) {
    case crypto::OcspStatus::kGood:
      r.status = CheckStatus::kPass;
      r.reason = reason::kOk;
      r.ocsp_status = "good";
      break;
    case crypto::OcspStatus::kRevoked:
      r.ocsp_status = "revoked";
      if (res->revocation_reason == crypto::kCrlReasonCertificateHold) {
        r.reason = reason::kCertOnHold;
        r.status = trust.allow_hold ? CheckStatus::kNotChecked : CheckStatus::kFail;
      } else {
        r.reason = reason::kCertRevoked;
        r.status = CheckStatus::kFail;
      }
      break;
    case crypto::OcspStatus::kUnknown:
      r.ocsp_status = "unknown";
      r.reason = reason::kOcspUnknown;
      r.status = trust.allow_unknown ? CheckStatus::kNotChecked : CheckStatus::kFail;
      break;
  }
  return r;
}

}  // namespace

ChainOcspResult CheckRimChainOcsp(const std::vector<crypto::OpensslPtr<X509>>& path,
                                  const RimTrustConfig& trust, const RimOcspContext& ctx) {
  ChainOcspResult out;
  if (path.size() < 2) {
    out.status = CheckStatus::kNotChecked;
    out.reason = reason::kPrerequisiteFailed;
    out.detail = "no validated chain";
    return out;
  }
  // Top down: the certificate under the root first, the signer last.
  for (size_t i = path.size() - 1; i-- > 0;) {
    out.certs.push_back(CheckOne(path[i].get(), path[i + 1].get(), trust, ctx));
  }
  out.status = CheckStatus::kPass;
  out.reason = reason::kOk;
  std::string detail;
  for (const CertOcspResult& c : out.certs) {
    if (Severity(c.status) > Severity(out.status)) {
      out.status = c.status;
      out.reason = c.reason;
    }
    absl::StrAppend(&detail, detail.empty() ? "" : "; ", c.detail);
  }
  out.detail = detail;
  return out;
}

}  // namespace rp::nvidia::rim
