#include "server/admission_http.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace rp::server {

HttpEndpoint AdmissionEndpoint(const admission::AdmissionWebhook& webhook,
                               size_t max_body_bytes) {
  HttpEndpoint e;
  e.method = "POST";
  e.path = HttpPath::Exact(kAdmissionPath);
  // Memory-only work, but a 3 MiB pod JSON is still not loop-thread work.
  e.run_on = HttpRunOn::kWorker;
  e.max_body_bytes = max_body_bytes;
  e.handler = [&webhook](const HttpRequest& request) {
    const admission::WebhookReply r = webhook.Review(request.body);
    return HttpReply{r.http_status, "application/json", r.body};
  };
  return e;
}

absl::StatusOr<std::unique_ptr<BoundedHttpServer>> StartAdmissionServer(
    const AdmissionServerOptions& options, const admission::AdmissionWebhook& webhook) {
  if (options.tls.cert_file().empty() || options.tls.key_file().empty()) {
    return absl::InvalidArgumentError(
        "admission: a serving certificate is required (the API server calls webhooks over "
        "HTTPS only)");
  }
  BoundedHttpOptions o;
  o.name = "admission";
  o.listen = options.listen;
  o.tls = options.tls;
  o.limits = options.limits;
  o.limits.max_body_bytes = options.max_body_bytes;
  o.limits.max_inflight_body_bytes =
      std::max(o.limits.max_inflight_body_bytes, 4 * options.max_body_bytes);
  // One caller (the API server, or a few of them); keep the request and
  // handler deadlines well inside the webhook's timeoutSeconds.
  o.limits.handler_timeout = std::min(o.limits.handler_timeout, absl::Seconds(4));
  o.endpoints.push_back(AdmissionEndpoint(webhook, options.max_body_bytes));
  return BoundedHttpServer::Start(std::move(o));
}

}  // namespace rp::server
