#include "verifier/collateral/http_source.h"

#include <algorithm>
#include <chrono>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "verifier/collateral/freshness.h"
#include "verifier/common/status_macros.h"

namespace rp::collateral {

absl::StatusOr<std::unique_ptr<HttpCollateralSource>> HttpCollateralSource::Create(
    HttpSourceConfig config, const HttpFetcher& fetcher, const Clock& clock,
    CollateralObserver& observer) {
  if (config.name.empty()) return absl::InvalidArgumentError("http source: name is empty");
  if (!config.key_to_url) return absl::InvalidArgumentError("http source: key_to_url is not set");
  ASSIGN_OR_RETURN(std::unique_ptr<UpstreamLimiter> limiter,
                   UpstreamLimiter::Create(config.name, config.limits, clock, observer));
  return std::unique_ptr<HttpCollateralSource>(
      new HttpCollateralSource(std::move(config), fetcher, clock, observer, std::move(limiter)));
}

absl::StatusOr<std::optional<Bytes>> HttpCollateralSource::Get(std::string_view key) const {
  ASSIGN_OR_RETURN(std::optional<CollateralItem> item, GetItem(key, GetOptions{}));
  if (!item.has_value()) return std::optional<Bytes>();
  return std::optional<Bytes>(std::move(item->data));
}

absl::StatusOr<std::optional<CollateralItem>> HttpCollateralSource::GetItem(
    std::string_view key, const GetOptions& /*options*/) const {
  const std::string& name = config_.name;
  absl::StatusOr<std::optional<std::string>> url = config_.key_to_url(key);
  if (!url.ok()) {
    observer_.OnFetch(name, FetchResult::kInvalidKey);
    return Annotate(url.status(), name);
  }
  if (!url->has_value()) {
    observer_.OnFetch(name, FetchResult::kNotFound);
    return std::optional<CollateralItem>();
  }
  // Refusals are reported to the observer by the limiter.
  ASSIGN_OR_RETURN(UpstreamPermit permit, limiter_->Acquire());

  // Latency is real elapsed time, independent of the injected clock.
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<HttpResponse> response = fetcher_.Get(**url);
  observer_.OnUpstreamLatency(name, absl::FromChrono(std::chrono::steady_clock::now() - start));
  const absl::Time now = clock_.Now();

  if (!response.ok()) {
    permit.Report(UpstreamPermit::Outcome::kFailure);
    observer_.OnFetch(name, FetchResult::kError);
    // Timeouts too are "retry later" for our callers.
    return absl::UnavailableError(absl::StrCat(name, ": ", response.status().message()));
  }
  const long status = response->status;  // NOLINT(google-runtime-int)
  if (status == 200) {
    if (config_.extract) {
      absl::StatusOr<Bytes> extracted = config_.extract(key, *response);
      if (!extracted.ok()) {
        permit.Report(UpstreamPermit::Outcome::kFailure);
        observer_.OnFetch(name, FetchResult::kError);
        return absl::UnavailableError(absl::StrCat(name, ": GET ", **url, ": ",
                                                   extracted.status().message()));
      }
      response->body = std::move(*extracted);
    }
    if (config_.body_check) {
      absl::Status check = config_.body_check(key, response->body);
      if (!check.ok()) {
        // A captive portal or a broken mirror: do not cache it.
        permit.Report(UpstreamPermit::Outcome::kFailure);
        observer_.OnFetch(name, FetchResult::kError);
        return absl::UnavailableError(absl::StrCat(name, ": GET ", **url,
                                                   ": body is not valid for ", std::string(key),
                                                   ": ", check.message()));
      }
    }
    permit.Report(UpstreamPermit::Outcome::kSuccess);
    observer_.OnFetch(name, FetchResult::kOk);
    CollateralItem item;
    item.data = std::move(response->body);
    item.source = name;
    item.fetched_at = now;
    item.http_expires = HttpFreshUntil(response->cache_control, response->expires, now);
    return std::optional<CollateralItem>(std::move(item));
  }
  if (status == 404) {
    permit.Report(UpstreamPermit::Outcome::kSuccess);
    observer_.OnFetch(name, FetchResult::kNotFound);
    return std::optional<CollateralItem>();
  }
  if (status == 429 || (status == 503 && !response->retry_after.empty())) {
    std::optional<absl::Time> until = ParseRetryAfter(response->retry_after, now);
    if (!until.has_value()) until = now + config_.limits.default_retry_after;
    until = std::min(*until, now + config_.limits.max_retry_after);
    limiter_->RecordRetryAfter(*until);
    // 429 means the upstream is alive and we were too fast; 503 is an outage.
    permit.Report(status == 429 ? UpstreamPermit::Outcome::kNeutral
                                : UpstreamPermit::Outcome::kFailure);
    observer_.OnFetch(name, FetchResult::kRateLimited);
    return absl::UnavailableError(absl::StrCat(name, ": HTTP ", status,
                                               ": rate limited by upstream until ",
                                               FormatRfc3339(*until)));
  }
  if (status >= 500) {
    permit.Report(UpstreamPermit::Outcome::kFailure);
    observer_.OnFetch(name, FetchResult::kError);
    return absl::UnavailableError(absl::StrCat(name, ": GET ", **url, ": HTTP ", status));
  }
  permit.Report(UpstreamPermit::Outcome::kNeutral);
  observer_.OnFetch(name, FetchResult::kError);
  return absl::FailedPreconditionError(
      absl::StrCat(name, ": GET ", **url, ": unexpected HTTP ", status));
}

}  // namespace rp::collateral
