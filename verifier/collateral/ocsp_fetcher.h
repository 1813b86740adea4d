// OCSP responses as collateral: looked up by their cache key in the offline
// directory / cache first, then (when a responder URL is configured) POSTed
// upstream through the same limits, breaker and cache as other collateral.
//
// The fetcher only moves bytes; the caller verifies every response with
// crypto::VerifyOcspResponse (signature, certID, nonce, times).
#ifndef RP_VERIFIER_COLLATERAL_OCSP_FETCHER_H_
#define RP_VERIFIER_COLLATERAL_OCSP_FETCHER_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "verifier/collateral/cache.h"
#include "verifier/collateral/http_fetcher.h"
#include "verifier/collateral/observer.h"
#include "verifier/collateral/source.h"
#include "verifier/collateral/upstream_limits.h"
#include "verifier/common/clock.h"
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
  // When request_der is empty: builds it, called only if the responder is
  // actually asked (on the calling thread, at most once per Fetch). A
  // request with a fresh nonce is then only made for answers that must echo
  // it, not for every lookup the cache or offline directory answers. An
  // error is returned as the Fetch's error; callers that must not let a
  // build failure pass for an unreachable responder record it themselves.
  std::function<absl::StatusOr<Bytes>()> make_request;

  // request_der, or what make_request builds; what every OcspFetcher POSTs.
  absl::StatusOr<Bytes> RequestDer() const;
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

struct OcspFetcherOptions {
  // Upstream name for errors and metrics.
  std::string name = "ocsp";
  // OCSP responders are built for volume: a generous bucket by default.
  UpstreamLimitsOptions limits = {.max_concurrency = 8,
                                  .concurrency_wait = absl::Seconds(10),
                                  .rate_per_second = 20,
                                  .burst = 40};
  // Cache (memory + disk in the offline layout). Freshness comes from the
  // response's nextUpdate (freshness.h), capped by cache.max_ttl.
  CacheOptions cache;
};

class OcspPostSource;

// The real fetcher: CachingSource(ChainedSource(offline, POST upstream)).
// Lookups hit memory / disk / the offline source first; on a miss the
// leader of a coalesced flight POSTs its own request (Content-Type
// application/ocsp-request) under the upstream's limits (concurrency cap,
// token bucket, circuit breaker, Retry-After). Callers that waited on
// another caller's flight get that answer with answers_this_request=false.
// The body of a 200 must parse as a successful OCSPResponse before it is
// cached (a captive portal is not an answer).
//
// Thread-safe. `fetcher` may be null (offline only: queries with a URL are
// answered from the offline source / cache or not at all); `offline` may be
// null. `fetcher`, `clock` and `observer` must outlive the object.
class HttpOcspFetcher : public OcspFetcher {
 public:
  static absl::StatusOr<std::unique_ptr<HttpOcspFetcher>> Create(
      const OcspFetcherOptions& options, std::shared_ptr<const CollateralSource> offline,
      const HttpFetcher* fetcher, const Clock& clock,
      CollateralObserver& observer = CollateralObserver::Noop());
  ~HttpOcspFetcher() override;

  absl::StatusOr<std::optional<OcspFetchResult>> Fetch(const OcspQuery& query,
                                                       const GetOptions& options) const override;

 private:
  HttpOcspFetcher(std::shared_ptr<OcspPostSource> post, std::unique_ptr<CachingSource> cache);
  std::shared_ptr<OcspPostSource> post_;
  std::unique_ptr<CachingSource> cache_;
};

}  // namespace rp::collateral

#endif  // RP_VERIFIER_COLLATERAL_OCSP_FETCHER_H_
