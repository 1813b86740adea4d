// OCSP responses as collateral: looked up by their cache key in the offline
// directory / cache first, then (when a responder URL is configured) POSTed
// upstream through the same limits, breaker and cache as other collateral.
//
// The fetcher only moves bytes; the caller verifies every response with
// crypto::VerifyOcspResponse (signature, certID, nonce, times).
#ifndef RP_VERIFIER_COLLATERAL_OCSP_FETCHER_H_
#define RP_VERIFIER_COLLATERAL_OCSP_FETCHER_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "verifier/collateral/source.h"
#include "verifier/common/encoding.h"

namespace rp::collateral {

struct OcspQuery {
  // Offline-layout key, e.g. "nvidia/ocsp/<crypto::OcspCacheKey(...)>.der".
  std::string key;
  // Responder URL (configured or from the certificate's AIA); "" means
  // offline only: the response must already be in the directory / cache.
  std::string url;
  // DER OCSPRequest as built by crypto::BuildOcspRequest.
  Bytes request_der;
};

struct OcspFetchResult {
  CollateralItem item;  // DER OCSPResponse, with freshness (nextUpdate)
  // True when `item` is the answer to this very request (so a nonce sent in
  // request_der must be echoed); false when it was served from the offline
  // directory or the cache (answer to an earlier request, nonce not
  // applicable, verified for signature, certID and times only).
  bool answers_this_request = false;
};

// Thread-safe.
class OcspFetcher {
 public:
  virtual ~OcspFetcher() = default;
  // nullopt: no response is available (not in the directory / cache and no
  // URL). Errors: upstream failure (UNAVAILABLE, DEADLINE_EXCEEDED), or a
  // cached response past its grace (FAILED_PRECONDITION).
  virtual absl::StatusOr<std::optional<OcspFetchResult>> Fetch(const OcspQuery& query,
                                                               const GetOptions& options) const = 0;
};

}  // namespace rp::collateral

#endif  // RP_VERIFIER_COLLATERAL_OCSP_FETCHER_H_
