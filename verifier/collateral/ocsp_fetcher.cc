#include "verifier/collateral/ocsp_fetcher.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "verifier/collateral/chained_source.h"
#include "verifier/common/status_macros.h"
#include "verifier/crypto/ocsp.h"

namespace rp::collateral {
namespace {

// The request of the Fetch running on this thread. CachingSource calls its
// upstream on the caller's thread (the leader of a coalesced flight), so
// the POST source can read the request the key alone cannot carry.
struct PendingRequest {
  const OcspQuery* query = nullptr;
  bool posted = false;  // set when this thread's request was answered upstream
};
thread_local PendingRequest* t_pending = nullptr;

class PendingScope {
 public:
  explicit PendingScope(PendingRequest* p) : saved_(t_pending) { t_pending = p; }
  ~PendingScope() { t_pending = saved_; }
  PendingScope(const PendingScope&) = delete;
  PendingScope& operator=(const PendingScope&) = delete;

 private:
  PendingRequest* saved_;
};

}  // namespace

absl::StatusOr<Bytes> OcspQuery::RequestDer() const {
  if (!request_der.empty()) return request_der;
  if (!make_request) {
    return absl::InvalidArgumentError(
        absl::StrCat("ocsp: no request for ", key, " (neither DER nor builder)"));
  }
  return make_request();
}

// POSTs the pending request of the calling thread. Keys without a pending
// request (or with an empty URL) are "not found".
class OcspPostSource : public CollateralSource {
 public:
  OcspPostSource(std::string name, const HttpFetcher* fetcher, const Clock& clock,
                 CollateralObserver& observer, std::unique_ptr<UpstreamLimiter> limiter,
                 UpstreamLimitsOptions limits)
      : name_(std::move(name)),
        fetcher_(fetcher),
        clock_(clock),
        observer_(observer),
        limiter_(std::move(limiter)),
        limits_(limits) {}

  absl::StatusOr<std::optional<Bytes>> Get(std::string_view key) const override {
    ASSIGN_OR_RETURN(std::optional<CollateralItem> item, GetItem(key, GetOptions{}));
    if (!item.has_value()) return std::optional<Bytes>();
    return std::optional<Bytes>(std::move(item->data));
  }
  std::string Describe() const override { return name_; }

  absl::StatusOr<std::optional<CollateralItem>> GetItem(std::string_view key,
                                                        const GetOptions&) const override {
    PendingRequest* pending = t_pending;
    if (fetcher_ == nullptr || pending == nullptr || pending->query == nullptr ||
        pending->query->key != key || pending->query->url.empty()) {
      return std::optional<CollateralItem>();
    }
    const OcspQuery& q = *pending->query;
    ASSIGN_OR_RETURN(const Bytes request_der, q.RequestDer());
    ASSIGN_OR_RETURN(UpstreamPermit permit, limiter_->Acquire());
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<HttpResponse> response =
        fetcher_->Post(q.url, "application/ocsp-request", request_der);
    observer_.OnUpstreamLatency(name_, absl::FromChrono(std::chrono::steady_clock::now() - start));
    const absl::Time now = clock_.Now();
    if (!response.ok()) {
      permit.Report(UpstreamPermit::Outcome::kFailure);
      observer_.OnFetch(name_, FetchResult::kError);
      return absl::UnavailableError(absl::StrCat(name_, ": ", response.status().message()));
    }
    const long status = response->status;  // NOLINT(google-runtime-int)
    if (status == 200) {
      // Only a parseable, successful OCSPResponse is cached; its trust is
      // decided by the verifier (crypto::VerifyOcspResponse).
      absl::StatusOr<std::optional<absl::Time>> next =
          crypto::OcspResponseNextUpdateUnverified(response->body);
      if (!next.ok()) {
        permit.Report(UpstreamPermit::Outcome::kFailure);
        observer_.OnFetch(name_, FetchResult::kError);
        return absl::UnavailableError(absl::StrCat(name_, ": POST ", q.url,
                                                   ": body is not an OCSP response: ",
                                                   next.status().message()));
      }
      permit.Report(UpstreamPermit::Outcome::kSuccess);
      observer_.OnFetch(name_, FetchResult::kOk);
      pending->posted = true;
      CollateralItem item;
      item.data = std::move(response->body);
      item.source = name_;
      item.fetched_at = now;
      return std::optional<CollateralItem>(std::move(item));
    }
    if (status == 429 || (status == 503 && !response->retry_after.empty())) {
      std::optional<absl::Time> until = ParseRetryAfter(response->retry_after, now);
      if (!until.has_value()) until = now + limits_.default_retry_after;
      until = std::min(*until, now + limits_.max_retry_after);
      limiter_->RecordRetryAfter(*until);
      permit.Report(status == 429 ? UpstreamPermit::Outcome::kNeutral
                                  : UpstreamPermit::Outcome::kFailure);
      observer_.OnFetch(name_, FetchResult::kRateLimited);
      return absl::UnavailableError(absl::StrCat(name_, ": HTTP ", status,
                                                 ": rate limited by responder until ",
                                                 FormatRfc3339(*until)));
    }
    permit.Report(status >= 500 ? UpstreamPermit::Outcome::kFailure
                                : UpstreamPermit::Outcome::kNeutral);
    observer_.OnFetch(name_, FetchResult::kError);
    return absl::UnavailableError(absl::StrCat(name_, ": POST ", q.url, ": HTTP ", status));
  }

 private:
  const std::string name_;
  const HttpFetcher* fetcher_;
  const Clock& clock_;
  CollateralObserver& observer_;
  const std::unique_ptr<UpstreamLimiter> limiter_;
  const UpstreamLimitsOptions limits_;
};

absl::StatusOr<std::unique_ptr<HttpOcspFetcher>> HttpOcspFetcher::Create(
    const OcspFetcherOptions& options, std::shared_ptr<const CollateralSource> offline,
    const HttpFetcher* fetcher, const Clock& clock, CollateralObserver& observer) {
  if (options.name.empty()) return absl::InvalidArgumentError("ocsp fetcher: name is empty");
  ASSIGN_OR_RETURN(std::unique_ptr<UpstreamLimiter> limiter,
                   UpstreamLimiter::Create(options.name, options.limits, clock, observer));
  auto post = std::make_shared<OcspPostSource>(options.name, fetcher, clock, observer,
                                               std::move(limiter), options.limits);
  std::vector<std::shared_ptr<const CollateralSource>> chain;
  if (offline != nullptr) chain.push_back(std::move(offline));
  chain.push_back(post);
  ASSIGN_OR_RETURN(std::unique_ptr<ChainedSource> chained, ChainedSource::Create(std::move(chain)));
  CacheOptions cache_options = options.cache;
  // A responder that has no answer now may have one soon.
  cache_options.not_found_ttl = std::min(cache_options.not_found_ttl, absl::Seconds(30));
  ASSIGN_OR_RETURN(std::unique_ptr<CachingSource> cache,
                   CachingSource::Create(cache_options, std::move(chained), clock, observer));
  return std::unique_ptr<HttpOcspFetcher>(new HttpOcspFetcher(std::move(post), std::move(cache)));
}

HttpOcspFetcher::HttpOcspFetcher(std::shared_ptr<OcspPostSource> post,
                                 std::unique_ptr<CachingSource> cache)
    : post_(std::move(post)), cache_(std::move(cache)) {}

HttpOcspFetcher::~HttpOcspFetcher() = default;

absl::StatusOr<std::optional<OcspFetchResult>> HttpOcspFetcher::Fetch(
    const OcspQuery& query, const GetOptions& options) const {
  if (!absl::StrContains(query.key, "/ocsp/") || !absl::EndsWith(query.key, ".der")) {
    return absl::InvalidArgumentError(
        absl::StrCat("ocsp fetcher: key '", query.key, "' is not an .../ocsp/*.der key"));
  }
  if (!query.url.empty() && !absl::StartsWith(query.url, "http://") &&
      !absl::StartsWith(query.url, "https://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("ocsp fetcher: responder URL '", query.url, "' is not http(s)"));
  }
  PendingRequest pending{&query, false};
  PendingScope scope(&pending);
  ASSIGN_OR_RETURN(std::optional<CollateralItem> item, cache_->GetItem(query.key, options));
  if (!item.has_value()) return std::optional<OcspFetchResult>();
  OcspFetchResult result;
  result.item = std::move(*item);
  result.answers_this_request = pending.posted;
  return std::optional<OcspFetchResult>(std::move(result));
}

}  // namespace rp::collateral
