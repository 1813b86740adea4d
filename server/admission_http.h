// The admission webhook's HTTPS port (docs/admission.md): POST /k8s/validate
// (the API server appends ?timeout=<N>s, which is accepted and ignored: the
// answer comes from memory well inside any timeout) on its own
// BoundedHttpServer, with its own serving certificate for <svc>.<ns>.svc.
// The handler is admission::AdmissionWebhook; this file only adapts it to
// the HTTP server (admission/ does not depend on server/).
#ifndef RP_SERVER_ADMISSION_HTTP_H_
#define RP_SERVER_ADMISSION_HTTP_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "admission/webhook.h"
#include "attestation/v1/config.pb.h"
#include "server/http_server.h"

namespace rp::server {

inline constexpr char kAdmissionPath[] = "/k8s/validate";

struct AdmissionServerOptions {
  std::string listen;                 // host:port
  attestation::v1::TlsConfig tls;     // cert_file + key_file (required)
  size_t max_body_bytes = 3 * 1024 * 1024;
  HttpLimits limits;                  // body caps are set from max_body_bytes
};

// The endpoint alone (tests mount it on their own server).
HttpEndpoint AdmissionEndpoint(const admission::AdmissionWebhook& webhook, size_t max_body_bytes);

// Starts the HTTPS server; `webhook` must outlive it. INVALID_ARGUMENT
// without a certificate (the API server speaks HTTPS only).
absl::StatusOr<std::unique_ptr<BoundedHttpServer>> StartAdmissionServer(
    const AdmissionServerOptions& options, const admission::AdmissionWebhook& webhook);

}  // namespace rp::server

#endif  // RP_SERVER_ADMISSION_HTTP_H_
