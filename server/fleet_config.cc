#include "server/fleet_config.h"

#include <algorithm>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "verifier/core/runtime_claims.h"

namespace rp::server {
namespace {

absl::Status Range(const std::string& field, int64_t v, int64_t lo, int64_t hi) {
  if (v < lo || v > hi) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is ", v, ", must be in [", lo, ", ", hi, "]"));
  }
  return absl::OkStatus();
}

}  // namespace

void ApplyFleetAdmissionDefaults(attestation::v1::ServerConfig* config) {
  auto* f = config->mutable_fleet();
  if (f->freshness_seconds() == 0) f->set_freshness_seconds(kDefaultFleetFreshnessSeconds);
  if (f->max_nodes() == 0) f->set_max_nodes(kDefaultFleetMaxNodes);
  if (f->retention_seconds() == 0) {
    f->set_retention_seconds(std::max(kDefaultFleetRetentionSeconds, f->freshness_seconds()));
  }
  if (f->sync_interval_ms() == 0) f->set_sync_interval_ms(kDefaultFleetSyncIntervalMs);
  if (f->max_sync_age_seconds() == 0) f->set_max_sync_age_seconds(kDefaultFleetMaxSyncAgeSeconds);
  if (f->max_claims_bytes() == 0) f->set_max_claims_bytes(kDefaultFleetMaxClaimsBytes);
  if (config->admission().listen().empty()) return;
  auto* a = config->mutable_admission();
  if (a->rule().empty()) a->set_rule(kDefaultAdmissionRule);
  if (a->max_body_bytes() == 0) a->set_max_body_bytes(kDefaultAdmissionMaxBodyBytes);
  if (a->max_initdata_bytes() == 0) a->set_max_initdata_bytes(kDefaultAdmissionMaxInitdataBytes);
}

absl::Status ValidateFleetAdmissionConfig(const attestation::v1::ServerConfig& config) {
  const auto& f = config.fleet();
  if (absl::Status st = Range("fleet.freshness_seconds", f.freshness_seconds(), 1, 7 * 86400);
      !st.ok()) {
    return st;
  }
  if (absl::Status st = Range("fleet.max_nodes", f.max_nodes(), 1, 1000000); !st.ok()) return st;
  if (absl::Status st = Range("fleet.retention_seconds", f.retention_seconds(),
                              f.freshness_seconds(), 90 * 86400);
      !st.ok()) {
    return st;
  }
  if (absl::Status st = Range("fleet.sync_interval_ms", f.sync_interval_ms(), 100, 600000);
      !st.ok()) {
    return st;
  }
  if (absl::Status st = Range("fleet.max_sync_age_seconds", f.max_sync_age_seconds(),
                              (f.sync_interval_ms() + 999) / 1000, 86400);
      !st.ok()) {
    return st;
  }
  if (absl::Status st =
          Range("fleet.max_claims_bytes", f.max_claims_bytes(), 1024, int64_t{16} << 20);
      !st.ok()) {
    return st;
  }
  const auto& a = config.admission();
  if (a.listen().empty()) {
    if (a.ByteSizeLong() != 0) {
      return absl::InvalidArgumentError(
          "admission: settings without admission.listen (the webhook is off)");
    }
    return absl::OkStatus();
  }
  // The API server calls webhooks over HTTPS only and verifies the serving
  // certificate against the caBundle: no plaintext mode exists.
  if (a.tls().cert_file().empty() || a.tls().key_file().empty()) {
    return absl::InvalidArgumentError(
        "admission.tls.cert_file and admission.tls.key_file are required (the API server "
        "calls webhooks over HTTPS only)");
  }
  if (a.runtime_classes().empty()) {
    return absl::InvalidArgumentError(
        "admission.runtime_classes is empty: list the allowed runtimeClassName values "
        "(e.g. kata-qemu-tdx, kata-qemu-snp, kata-qemu-nvidia-gpu-tdx)");
  }
  std::set<std::string> seen;
  for (int i = 0; i < a.runtime_classes_size(); ++i) {
    const std::string& rc = a.runtime_classes(i);
    if (!core::IsDnsSubdomain(rc) || !seen.insert(rc).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("admission.runtime_classes[", i,
                       "] must be a RuntimeClass name (RFC 1123 subdomain), listed once"));
    }
  }
  if (a.rule().size() > 128) {
    return absl::InvalidArgumentError("admission.rule is longer than 128 characters");
  }
  if (absl::Status st =
          Range("admission.max_body_bytes", a.max_body_bytes(), 64 * 1024, int64_t{16} << 20);
      !st.ok()) {
    return st;
  }
  return Range("admission.max_initdata_bytes", a.max_initdata_bytes(), 1024, 1024 * 1024);
}

admission::fleet::FleetOptions FleetOptionsFromConfig(const attestation::v1::FleetConfig& c) {
  admission::fleet::FleetOptions o;
  o.freshness = absl::Seconds(c.freshness_seconds());
  o.max_nodes = static_cast<size_t>(c.max_nodes());
  o.retention = absl::Seconds(c.retention_seconds());
  o.policies.insert(c.policies().begin(), c.policies().end());
  o.max_sync_age = absl::Seconds(c.max_sync_age_seconds());
  o.max_claims_bytes = static_cast<size_t>(c.max_claims_bytes());
  return o;
}

}  // namespace rp::server
