// A collateral source backed by one HTTP upstream (a vendor service), with
// the upstream's admission control (upstream_limits.h) applied to every
// request. What is vendor specific — key → URL and a sanity check of the
// body — is passed in (see amd_kds_source.h).
#ifndef RP_VERIFIER_COLLATERAL_HTTP_SOURCE_H_
#define RP_VERIFIER_COLLATERAL_HTTP_SOURCE_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "verifier/collateral/http_fetcher.h"
#include "verifier/collateral/observer.h"
#include "verifier/collateral/source.h"
#include "verifier/collateral/upstream_limits.h"
#include "verifier/common/clock.h"

namespace rp::collateral {

// nullopt: the upstream does not serve this key (Get returns nullopt with
// no request). Error: the key is malformed (INVALID_ARGUMENT).
using KeyToUrl = std::function<absl::StatusOr<std::optional<std::string>>(std::string_view key)>;
// OK when a 200 body is plausible for the key (parses as what it should be).
using BodyCheck = std::function<absl::Status(std::string_view key, std::span<const uint8_t> body)>;

// Turns a 200 response into the item's bytes (e.g. a header value); the
// default is the body. Errors count as a bad body.
using ExtractItem =
    std::function<absl::StatusOr<Bytes>(std::string_view key, const HttpResponse& response)>;

struct HttpSourceConfig {
  std::string name;  // upstream name for errors and metrics, e.g. "amd-kds"
  KeyToUrl key_to_url;
  BodyCheck body_check;  // optional; applied to the extracted item
  ExtractItem extract;   // optional
  UpstreamLimitsOptions limits;
};

// Thread-safe. Result mapping:
//   200 + body passes the check → the item (with the HTTP freshness hint);
//   404 → nullopt (the upstream is healthy: not a breaker failure);
//   429 → UNAVAILABLE "rate limited by upstream until T"; Retry-After
//         (seconds or HTTP-date, default window if absent) is honoured;
//   503 with Retry-After → the same, and a breaker failure;
//   5xx, transport errors, timeouts, bad bodies → UNAVAILABLE, breaker failure;
//   other statuses (3xx — redirects are not followed —, 4xx) → FAILED_PRECONDITION.
class HttpCollateralSource : public CollateralSource {
 public:
  // `fetcher`, `clock` and `observer` must outlive the source.
  static absl::StatusOr<std::unique_ptr<HttpCollateralSource>> Create(
      HttpSourceConfig config, const HttpFetcher& fetcher, const Clock& clock,
      CollateralObserver& observer = CollateralObserver::Noop());

  absl::StatusOr<std::optional<Bytes>> Get(std::string_view key) const override;
  absl::StatusOr<std::optional<CollateralItem>> GetItem(std::string_view key,
                                                        const GetOptions& options) const override;
  std::string Describe() const override { return config_.name; }

  UpstreamLimiter& limiter() const { return *limiter_; }

 private:
  HttpCollateralSource(HttpSourceConfig config, const HttpFetcher& fetcher, const Clock& clock,
                       CollateralObserver& observer, std::unique_ptr<UpstreamLimiter> limiter)
      : config_(std::move(config)),
        fetcher_(fetcher),
        clock_(clock),
        observer_(observer),
        limiter_(std::move(limiter)) {}

  const HttpSourceConfig config_;
  const HttpFetcher& fetcher_;
  const Clock& clock_;
  CollateralObserver& observer_;
  const std::unique_ptr<UpstreamLimiter> limiter_;
};

}  // namespace rp::collateral

#endif  // RP_VERIFIER_COLLATERAL_HTTP_SOURCE_H_
