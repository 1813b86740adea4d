// A tiny blocking HTTP/1.1 GET client for tests against servers on the
// loopback interface (no TLS, no redirects, bounded response size).
#ifndef RP_TESTS_INTEGRATION_LOOPBACK_HTTP_H_
#define RP_TESTS_INTEGRATION_LOOPBACK_HTTP_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace rp::testing {

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

// Sends `method` `path` to 127.0.0.1:`port` with "Connection: close" and
// reads until the peer closes (at most 1 MiB, within `timeout`).
absl::StatusOr<HttpResponse> HttpRequest(
    int port, const std::string& method, const std::string& path,
    absl::Duration timeout = absl::Seconds(5));
inline absl::StatusOr<HttpResponse> HttpGet(int port, const std::string& path) {
  return HttpRequest(port, "GET", path);
}

}  // namespace rp::testing

#endif  // RP_TESTS_INTEGRATION_LOOPBACK_HTTP_H_
