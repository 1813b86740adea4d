// HTTP GET for collateral (vendor services). The interface lets tests and
// other transports replace libcurl; CurlHttpFetcher is the real one.
#ifndef RP_VERIFIER_COLLATERAL_HTTP_FETCHER_H_
#define RP_VERIFIER_COLLATERAL_HTTP_FETCHER_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "verifier/collateral/source.h"
#include "verifier/common/encoding.h"

namespace rp::collateral {

struct HttpResponse {
  long status = 0;  // NOLINT(google-runtime-int): libcurl's type
  Bytes body;
  // The few headers the collateral layer uses (last value wins; "" = absent).
  std::string cache_control;
  std::string expires;
  std::string retry_after;
  std::string date;
  // Every header (name lower-cased, value trimmed) in arrival order, at most
  // kMaxHttpHeaders of at most kMaxHttpHeaderBytes in all; more is dropped.
  std::vector<std::pair<std::string, std::string>> headers;
  // The value of the first header named `lower_name`, "" if absent.
  std::string Header(std::string_view lower_name) const;
};

inline constexpr size_t kMaxHttpHeaders = 64;
inline constexpr size_t kMaxHttpHeaderBytes = 64 * 1024;

// Thread-safe. Get returns any HTTP status as a response; an error only for
// transport failures (connect, TLS, timeout, body over the limit), as
// UNAVAILABLE or DEADLINE_EXCEEDED (timeouts).
class HttpFetcher {
 public:
  virtual ~HttpFetcher() = default;
  virtual absl::StatusOr<HttpResponse> Get(const std::string& url) const = 0;
  // POST `body` with the given Content-Type (OCSP requests). Same error
  // contract as Get. The default refuses (fetchers that only GET).
  virtual absl::StatusOr<HttpResponse> Post(const std::string& url, const std::string& content_type,
                                            const Bytes& body) const;
};

struct HttpFetcherOptions {
  absl::Duration connect_timeout = absl::Seconds(5);
  absl::Duration total_timeout = absl::Seconds(20);  // whole request incl. body
  size_t max_response_bytes = kMaxCollateralItemBytes;
  // "" = no proxy at all (environment variables are ignored on purpose so the
  // config is the only way to route traffic). Example "http://proxy:3128".
  std::string proxy;
  // CA bundle file; "" = the system default. TLS peer and host verification
  // are always on; there is no switch to turn them off.
  std::string ca_file;
  std::string user_agent = "attestation-rp-collateral/1";
};

// libcurl easy handle per request (no shared state, so no locks). Redirects
// are not followed (a 3xx is returned as a response), only http and https
// are allowed, and signals are not used (safe in threaded servers).
class CurlHttpFetcher : public HttpFetcher {
 public:
  static absl::StatusOr<std::unique_ptr<CurlHttpFetcher>> Create(const HttpFetcherOptions& options);
  absl::StatusOr<HttpResponse> Get(const std::string& url) const override;
  absl::StatusOr<HttpResponse> Post(const std::string& url, const std::string& content_type,
                                    const Bytes& body) const override;

 private:
  absl::StatusOr<HttpResponse> Perform(const std::string& url, const std::string* content_type,
                                       const Bytes* body) const;
  explicit CurlHttpFetcher(HttpFetcherOptions options) : options_(std::move(options)) {}
  const HttpFetcherOptions options_;
};

}  // namespace rp::collateral

#endif  // RP_VERIFIER_COLLATERAL_HTTP_FETCHER_H_
