// Test-only loopback HTTP server (CivetServer on 127.0.0.1, ephemeral port)
// with programmable responses: status, body, Retry-After and other headers,
// an artificial delay, or a hang that lasts until released (bounded). It
// counts requests per path and remembers the last request URI. POST is
// answered like GET (the body is read and ignored).
#ifndef RP_VERIFIER_COLLATERAL_TESTING_HTTP_SERVER_H_
#define RP_VERIFIER_COLLATERAL_TESTING_HTTP_SERVER_H_

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

class CivetServer;

namespace rp::collateral::testing {

struct TestResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/octet-stream";
  std::vector<std::pair<std::string, std::string>> headers;  // e.g. {"Retry-After", "30"}
  absl::Duration delay = absl::ZeroDuration();  // sleep before answering
  // Block until ReleaseHangs() / Stop(), at most kMaxHang, then answer.
  bool hang = false;
};

// Thread-safe. Responses are matched on the exact path (query ignored);
// unmatched paths get the default response (404 unless set).
class TestingHttpServer {
 public:
  static constexpr absl::Duration kMaxHang = absl::Seconds(10);

  static absl::StatusOr<std::unique_ptr<TestingHttpServer>> Start(int num_threads = 16);
  ~TestingHttpServer();

  // "http://127.0.0.1:<port>" (no trailing slash).
  std::string base_url() const;
  int port() const { return port_; }

  void SetResponse(const std::string& path, TestResponse response);
  void SetDefaultResponse(TestResponse response);
  // Wakes every hanging handler (they then answer normally).
  void ReleaseHangs();
  // Stops listening and joins the workers (releases hangs first). Idempotent.
  void Stop();

  int RequestCount() const;                         // all paths
  int RequestCount(const std::string& path) const;  // one path
  // Path and query of the most recent request ("/a/b?x=1"), "" if none.
  std::string LastRequestUri() const;

 private:
  class Handler;
  TestingHttpServer() = default;
  TestResponse Record(const std::string& path, const std::string& query);
  void WaitForRelease();

  std::unique_ptr<Handler> handler_;
  std::unique_ptr<CivetServer> server_;
  int port_ = 0;

  mutable absl::Mutex mu_;
  std::map<std::string, TestResponse> responses_ ABSL_GUARDED_BY(mu_);
  TestResponse default_response_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> counts_ ABSL_GUARDED_BY(mu_);
  int total_ ABSL_GUARDED_BY(mu_) = 0;
  std::string last_uri_ ABSL_GUARDED_BY(mu_);
  uint64_t release_generation_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace rp::collateral::testing

#endif  // RP_VERIFIER_COLLATERAL_TESTING_HTTP_SERVER_H_
