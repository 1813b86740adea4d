#ifndef RP_CLI_HTTP_GET_H_
#define RP_CLI_HTTP_GET_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace rp::cli {

// GET with libcurl: http/https only, no redirects, TLS verification on,
// response capped at max_bytes, overall timeout.
absl::StatusOr<std::string> HttpGet(const std::string& url, size_t max_bytes,
                                    absl::Duration timeout);

// The same, with any HTTP status returned (not only 200) and, for https,
// `ca_file` as the only trust anchors when set (else the system store).
struct HttpResponse {
  long status = 0;
  std::string body;
};
absl::StatusOr<HttpResponse> HttpGetResponse(const std::string& url, size_t max_bytes,
                                             absl::Duration timeout,
                                             const std::string& ca_file = "");

}  // namespace rp::cli

#endif  // RP_CLI_HTTP_GET_H_
