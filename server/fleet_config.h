// The fleet: and admission: blocks of the server config (docs/admission.md):
// defaults, validation and the conversion to the registry's options. Kept
// apart from config.cc, which calls these once each.
#ifndef RP_SERVER_FLEET_CONFIG_H_
#define RP_SERVER_FLEET_CONFIG_H_

#include <cstdint>

#include "absl/status/status.h"
#include "admission/fleet/registry.h"
#include "attestation/v1/config.pb.h"

namespace rp::server {

inline constexpr int64_t kDefaultFleetFreshnessSeconds = 600;
inline constexpr int64_t kDefaultFleetMaxNodes = 10000;
inline constexpr int64_t kDefaultFleetRetentionSeconds = 7 * 24 * 3600;
inline constexpr int64_t kDefaultFleetSyncIntervalMs = 5000;
inline constexpr int64_t kDefaultFleetMaxSyncAgeSeconds = 30;
inline constexpr int64_t kDefaultFleetMaxClaimsBytes = 256 * 1024;
inline constexpr char kDefaultAdmissionRule[] = "k8s/admission";
inline constexpr int64_t kDefaultAdmissionMaxBodyBytes = 3 * 1024 * 1024;
inline constexpr int64_t kDefaultAdmissionMaxInitdataBytes = 64 * 1024;

// Fills the empty fields of fleet: (always) and admission: (when listen is set).
void ApplyFleetAdmissionDefaults(attestation::v1::ServerConfig* config);
// After ApplyFleetAdmissionDefaults. INVALID_ARGUMENT names the field.
absl::Status ValidateFleetAdmissionConfig(const attestation::v1::ServerConfig& config);

admission::fleet::FleetOptions FleetOptionsFromConfig(const attestation::v1::FleetConfig& c);

}  // namespace rp::server

#endif  // RP_SERVER_FLEET_CONFIG_H_
