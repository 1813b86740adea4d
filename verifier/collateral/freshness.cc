#include "verifier/collateral/freshness.h"

#include <openssl/x509.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "verifier/common/clock.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "verifier/collateral/upstream_limits.h"
#include "verifier/common/status_macros.h"
#include "verifier/crypto/crl.h"
#include "verifier/crypto/ocsp.h"
#include "verifier/crypto/verified_memo.h"
#include "verifier/crypto/x509.h"

namespace rp::collateral {
namespace {
constexpr size_t kMaxCertsInBundle = 8;
}  // namespace

CollateralKind KindOfKey(std::string_view key_view) {
  const std::string key(key_view);
  const size_t slash = key.rfind('/');
  const std::string base = slash == std::string::npos ? key : key.substr(slash + 1);
  const bool der = absl::EndsWith(base, ".der");
  const bool pem = absl::EndsWith(base, ".pem");
  if (der && absl::StrContains(key, "/ocsp/")) return CollateralKind::kOcspResponse;
  if (absl::StartsWith(key, "intel/") && absl::EndsWith(base, ".json")) {
    return CollateralKind::kIntelSignedJson;
  }
  // Issuer chains of CRLs are certificates, whatever their name says.
  if (absl::EndsWith(base, ".issuer_chain.pem")) return CollateralKind::kPemCertificates;
  if (absl::StrContains(base, "crl") && (der || pem || absl::EndsWith(base, ".crl"))) {
    return CollateralKind::kCrl;
  }
  if (der) return CollateralKind::kDerCertificate;
  if (pem) return CollateralKind::kPemCertificates;
  return CollateralKind::kOther;
}

namespace {
absl::StatusOr<std::optional<absl::Time>> ContentExpiryFull(std::string_view key,
                                                            std::span<const uint8_t> data);
}  // namespace

absl::StatusOr<std::optional<absl::Time>> ContentExpiry(std::string_view key,
                                                        std::span<const uint8_t> data) {
  // A pure function of the key's kind and the bytes: read once per distinct
  // document (verifier/crypto/verified_memo.h).
  return crypto::MemoizedParse<std::optional<absl::Time>>(
      absl::StrCat("collateral-expiry-v1|", static_cast<int>(KindOfKey(key))),
      std::string_view(reinterpret_cast<const char*>(data.data()), data.size()),
      [key](std::string_view text) {
        return ContentExpiryFull(
            key, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
      });
}

namespace {
absl::StatusOr<std::optional<absl::Time>> ContentExpiryFull(std::string_view key,
                                                            std::span<const uint8_t> data) {
  switch (KindOfKey(key)) {
    case CollateralKind::kCrl: {
      ASSIGN_OR_RETURN(crypto::OpensslPtr<X509_CRL> crl, crypto::ParseCrl(data));
      const ASN1_TIME* next = X509_CRL_get0_nextUpdate(crl.get());  // owned by crl
      if (next == nullptr) return absl::InvalidArgumentError("CRL has no nextUpdate");
      ASSIGN_OR_RETURN(absl::Time t, crypto::Asn1TimeToTime(next));
      return std::optional<absl::Time>(t);
    }
    case CollateralKind::kDerCertificate: {
      ASSIGN_OR_RETURN(crypto::OpensslPtr<X509> cert, crypto::ParseDerCertificate(data));
      return std::optional<absl::Time>(crypto::NotAfter(cert.get()));
    }
    case CollateralKind::kPemCertificates: {
      ASSIGN_OR_RETURN(std::vector<crypto::OpensslPtr<X509>> certs,
                       crypto::ParsePemCertificates(ToString(data), kMaxCertsInBundle));
      absl::Time earliest = absl::InfiniteFuture();
      for (const auto& c : certs) earliest = std::min(earliest, crypto::NotAfter(c.get()));
      return std::optional<absl::Time>(earliest);
    }
    case CollateralKind::kOcspResponse:
      return crypto::OcspResponseNextUpdateUnverified(data);
    case CollateralKind::kIntelSignedJson: {
      // PCS bodies {"tcbInfo":{…,"nextUpdate":…}} / {"enclaveIdentity":…},
      // or a QVL collateral bundle (the earliest of its two).
      nlohmann::json j = nlohmann::json::parse(ToString(data), nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        return absl::InvalidArgumentError("not a JSON object");
      }
      absl::Time earliest = absl::InfiniteFuture();
      bool found = false;
      auto consider = [&](const nlohmann::json& body) -> absl::Status {
        if (!body.is_object() || !body.contains("nextUpdate") || !body["nextUpdate"].is_string()) {
          return absl::OkStatus();
        }
        ASSIGN_OR_RETURN(absl::Time t, ParseTime(body["nextUpdate"].get<std::string>()));
        earliest = std::min(earliest, t);
        found = true;
        return absl::OkStatus();
      };
      for (const char* field : {"tcbInfo", "enclaveIdentity"}) {
        if (j.contains(field)) RETURN_IF_ERROR(consider(j[field]));
      }
      RETURN_IF_ERROR(consider(j));  // the signed text itself (QVL fields)
      for (const char* field : {"tcb_info", "qe_identity"}) {
        if (j.contains(field) && j[field].is_string()) {
          nlohmann::json inner = nlohmann::json::parse(j[field].get<std::string>(), nullptr, false);
          if (!inner.is_discarded()) RETURN_IF_ERROR(consider(inner));
        }
      }
      if (!found) return std::optional<absl::Time>();
      return std::optional<absl::Time>(earliest);
    }
    case CollateralKind::kOther:
      break;
  }
  return std::optional<absl::Time>();
}
}  // namespace

absl::Time ComputeFreshUntil(std::string_view key, std::span<const uint8_t> data,
                             std::optional<absl::Time> http_expires, absl::Time fetched_at,
                             absl::Duration ceiling) {
  const absl::Time cap = fetched_at + ceiling;
  absl::StatusOr<std::optional<absl::Time>> content = ContentExpiry(key, data);
  if (content.ok() && content->has_value()) return std::min(**content, cap);
  if (http_expires.has_value()) return std::min(*http_expires, cap);
  return cap;
}

std::optional<absl::Time> HttpFreshUntil(std::string_view cache_control, std::string_view expires,
                                         absl::Time now) {
  bool have_max_age = false;
  int64_t max_age = 0;
  for (absl::string_view raw : absl::StrSplit(std::string(cache_control), ',')) {
    const std::string d = absl::AsciiStrToLower(std::string(absl::StripAsciiWhitespace(raw)));
    if (d == "no-store" || d == "no-cache") return now;
    if (absl::StartsWith(d, "max-age=")) {
      int64_t v = 0;
      if (absl::SimpleAtoi(d.substr(8), &v) && v >= 0) {
        have_max_age = true;
        max_age = v;
      }
    }
  }
  if (have_max_age) return now + absl::Seconds(max_age);
  if (!expires.empty()) {
    std::optional<absl::Time> t = ParseHttpDate(expires);
    // An invalid Expires means "already expired" (RFC 9111 §5.3).
    return t.has_value() ? *t : now;
  }
  return std::nullopt;
}

}  // namespace rp::collateral
