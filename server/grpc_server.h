// Builds the gRPC server: credentials from TlsConfig (TLS, mTLS or
// insecure), the message size limit, a resource quota (memory, threads),
// the concurrent-stream cap, health checking and (when asked) reflection.
#ifndef RP_SERVER_GRPC_SERVER_H_
#define RP_SERVER_GRPC_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "attestation/v1/config.pb.h"
#include "grpcpp/grpcpp.h"

namespace rp::server {

struct GrpcServerOptions {
  std::string listen;  // host:port; port 0 binds an ephemeral port
  attestation::v1::TlsConfig tls;
  int64_t max_request_bytes = 4 * 1024 * 1024;
  // grpc::ResourceQuota: memory for the transport's buffers and at most this
  // many threads (beyond it new RPCs get RESOURCE_EXHAUSTED). 0 = no quota.
  int64_t memory_bytes = 512 * 1024 * 1024;
  int max_threads = 64;
  // Idle threads the sync server keeps polling for work (its MAX_POLLERS).
  // 0: as many as max_threads (64 without a quota). gRPC's own default is 2:
  // a thread that finishes a call while 2 others poll exits, and the next
  // call that finds no idle poller creates one, so under a steady load of
  // more calls in flight than that every call paid for a thread's creation
  // and exit (docs/performance.md, "Seventh session"). Threads beyond one
  // that stay idle for gRPC's poll timeout (10 s) still exit.
  int max_pollers = 0;
  // GRPC_ARG_MAX_CONCURRENT_STREAMS: RPCs at once per HTTP/2 connection.
  int max_concurrent_streams = 100;
  // gRPC server reflection (grpc.reflection.v1alpha.ServerReflection).
  bool enable_reflection = false;
  // More services on the same port (e.g. KeyReleaseService); not owned.
  std::vector<grpc::Service*> extra_services;
};

struct RunningGrpcServer {
  std::unique_ptr<grpc::Server> server;
  int port = 0;  // the bound port
};

// Name under which the health service reports the API.
inline constexpr char kServiceName[] = "attestation.v1.AttestationService";

// Server credentials for `tls`: insecure when no cert is configured; TLS
// with cert_file/key_file; mTLS (client certificate required and verified
// against client_ca_file) when client_ca_file is set.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const attestation::v1::TlsConfig& tls);

// Starts serving `service` (not owned; must outlive the server). Health
// status starts SERVING for "" and kServiceName; call SetServing(false)
// before Shutdown so that probes drain traffic first.
absl::StatusOr<RunningGrpcServer> StartGrpcServer(
    const GrpcServerOptions& options, grpc::Service* service);

void SetServing(grpc::Server* server, bool serving);

}  // namespace rp::server

#endif  // RP_SERVER_GRPC_SERVER_H_
