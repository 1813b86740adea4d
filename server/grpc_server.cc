#include "server/grpc_server.h"

#include <algorithm>
#include <climits>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/impl/server_builder_option.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/server_credentials.h"
#include "policy/yaml_json.h"
#include "server/config.h"
#include "verifier/common/status_macros.h"

namespace rp::server {
namespace {

constexpr size_t kMaxPemBytes = 1024 * 1024;

absl::StatusOr<std::string> ReadPem(const std::string& field,
                                    const std::string& path) {
  auto text = ReadSmallFile(path, kMaxPemBytes);
  if (!text.ok()) {
    return Annotate(text.status(), absl::StrCat("tls.", field));
  }
  return text;
}

// Reflection per server, not process-wide: adds the plugin when enabled and
// removes one that something else registered globally when not.
class ReflectionOption final : public grpc::ServerBuilderOption {
 public:
  explicit ReflectionOption(bool enable) : enable_(enable) {}
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    auto is_reflection = [](const std::unique_ptr<grpc::ServerBuilderPlugin>& p) {
      return p != nullptr && p->name() == "proto_server_reflection";
    };
    plugins->erase(std::remove_if(plugins->begin(), plugins->end(), is_reflection),
                   plugins->end());
    if (enable_) {
      plugins->push_back(std::make_unique<grpc::reflection::ProtoServerReflectionPlugin>());
    }
  }

 private:
  const bool enable_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const attestation::v1::TlsConfig& tls) {
  if (tls.cert_file().empty() && tls.key_file().empty()) {
    if (!tls.client_ca_file().empty()) {
      return absl::InvalidArgumentError(
          "tls.client_ca_file requires cert_file and key_file");
    }
    return grpc::InsecureServerCredentials();
  }
  ASSIGN_OR_RETURN(std::string cert, ReadPem("cert_file", tls.cert_file()));
  ASSIGN_OR_RETURN(std::string key, ReadPem("key_file", tls.key_file()));
  grpc::SslServerCredentialsOptions opts(
      GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  if (!tls.client_ca_file().empty()) {
    ASSIGN_OR_RETURN(std::string ca,
                     ReadPem("client_ca_file", tls.client_ca_file()));
    opts = grpc::SslServerCredentialsOptions(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    opts.pem_root_certs = std::move(ca);
  }
  opts.pem_key_cert_pairs.push_back({std::move(key), std::move(cert)});
  return grpc::SslServerCredentials(opts);
}

absl::StatusOr<RunningGrpcServer> StartGrpcServer(
    const GrpcServerOptions& options, grpc::Service* service) {
  RETURN_IF_ERROR(Annotate(ParseHostPort(options.listen).status(), "listen"));
  if (options.max_request_bytes <= 0 ||
      options.max_request_bytes > INT_MAX / 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_request_bytes ", options.max_request_bytes, " out of range"));
  }
  if (options.max_threads < 0 || options.memory_bytes < 0 || options.max_concurrent_streams < 1 ||
      options.max_pollers < 0) {
    return absl::InvalidArgumentError(
        "grpc: negative quota or max_pollers, or max_concurrent_streams < 1");
  }
  ASSIGN_OR_RETURN(auto creds, MakeServerCredentials(options.tls));

  // A process-wide switch that must precede the builder.
  grpc::EnableDefaultHealthCheckService(true);

  grpc::ServerBuilder builder;
  builder.SetOption(std::make_unique<ReflectionOption>(options.enable_reflection));
  if (options.memory_bytes > 0 || options.max_threads > 0) {
    grpc::ResourceQuota quota("attestation-server");
    if (options.memory_bytes > 0) quota.Resize(static_cast<size_t>(options.memory_bytes));
    if (options.max_threads > 0) quota.SetMaxThreads(options.max_threads);
    builder.SetResourceQuota(quota);
  }
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, options.max_concurrent_streams);
  constexpr int kMaxPollersWithoutQuota = 64;
  const int max_pollers = options.max_pollers > 0   ? options.max_pollers
                          : options.max_threads > 0 ? options.max_threads
                                                    : kMaxPollersWithoutQuota;
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, max_pollers);
  int port = 0;
  builder.AddListeningPort(options.listen, creds, &port);
  // Twice the application limit: larger messages are cut off by gRPC
  // (RESOURCE_EXHAUSTED), smaller-but-too-large ones reach Attest, which
  // answers INVALID_ARGUMENT with the sizes.
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(options.max_request_bytes * 2));
  builder.RegisterService(service);
  for (grpc::Service* extra : options.extra_services) builder.RegisterService(extra);
  RunningGrpcServer out;
  out.server = builder.BuildAndStart();
  if (out.server == nullptr || port == 0) {
    if (out.server != nullptr) {
      out.server->Shutdown();
    }
    return absl::UnavailableError(
        absl::StrCat("grpc: cannot listen on ", options.listen));
  }
  out.port = port;
  SetServing(out.server.get(), true);
  return out;
}

void SetServing(grpc::Server* server, bool serving) {
  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
  if (health == nullptr) {
    return;
  }
  health->SetServingStatus(serving);
  health->SetServingStatus(kServiceName, serving);
}

}  // namespace rp::server
