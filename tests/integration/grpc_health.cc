#include "tests/integration/grpc_health.h"

#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/protobuf/unknown_field_set.h"
#include "grpcpp/impl/client_unary_call.h"
#include "grpcpp/impl/rpc_method.h"

namespace rp::testing {

absl::StatusOr<HealthStatus> CheckHealth(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& service,
    absl::Duration timeout) {
  // HealthCheckRequest { string service = 1; }
  std::string request;
  if (!service.empty()) {
    if (service.size() > 127) {
      return absl::InvalidArgumentError("service name too long");
    }
    request.push_back(0x0a);
    request.push_back(static_cast<char>(service.size()));
    request += service;
  }
  grpc::Slice slice(request);
  grpc::ByteBuffer req_buf(&slice, 1);
  grpc::ByteBuffer resp_buf;
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  const grpc::internal::RpcMethod method("/grpc.health.v1.Health/Check",
                                         grpc::internal::RpcMethod::NORMAL_RPC);
  grpc::Status st =
      grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
          channel.get(), method, &ctx, req_buf, &resp_buf);
  if (!st.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(st.error_code()),
                        absl::StrCat("health: ", st.error_message()));
  }
  std::vector<grpc::Slice> slices;
  if (!resp_buf.Dump(&slices).ok()) {
    return absl::DataLossError("health: bad response buffer");
  }
  std::string response;
  for (const auto& s : slices) {
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): byte view of
    // a slice
    response.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  // HealthCheckResponse { ServingStatus status = 1; } (absent => UNKNOWN)
  google::protobuf::UnknownFieldSet fields;
  if (!fields.ParseFromString(response)) {
    return absl::DataLossError("health: bad response");
  }
  for (int i = 0; i < fields.field_count(); ++i) {
    const auto& f = fields.field(i);
    if (f.number() == 1 &&
        f.type() == google::protobuf::UnknownField::TYPE_VARINT) {
      return static_cast<HealthStatus>(f.varint());
    }
  }
  return HealthStatus::kUnknown;
}

}  // namespace rp::testing
