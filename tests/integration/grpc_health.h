// grpc.health.v1.Health/Check from tests, without generated health stubs:
// the request and response are two-field protos, so they are encoded by hand
// over a ByteBuffer call.
#ifndef RP_TESTS_INTEGRATION_GRPC_HEALTH_H_
#define RP_TESTS_INTEGRATION_GRPC_HEALTH_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"

namespace rp::testing {

// grpc.health.v1.HealthCheckResponse.ServingStatus
enum class HealthStatus {
  kUnknown = 0,
  kServing = 1,
  kNotServing = 2,
  kServiceUnknown = 3
};

// The gRPC status of the call becomes the error (e.g. NOT_FOUND for an
// unknown service name).
absl::StatusOr<HealthStatus> CheckHealth(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& service,
    absl::Duration timeout = absl::Seconds(5));

}  // namespace rp::testing

#endif  // RP_TESTS_INTEGRATION_GRPC_HEALTH_H_
