#include "server/audit.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "verifier/common/clock.h"
#include "verifier/common/encoding.h"
#include "verifier/crypto/digest.h"

namespace rp::server {

std::string NonceHashPrefix(std::span<const uint8_t> nonce) {
  if (nonce.empty()) {
    return "";
  }
  const Bytes digest = crypto::Sha256(nonce);
  return HexEncode(std::span<const uint8_t>(digest).first(8));
}

nlohmann::json AuditRecordToJson(const AuditRecord& r) {
  nlohmann::json j;
  j["time"] = FormatTime(r.time);
  j["event"] = "attest";
  j["request_id"] = r.request_id;
  j["peer"] = r.peer;
  j["code"] = r.code;
  if (!r.policy_id.empty()) {
    j["policy_id"] = r.policy_id;
  }
  if (!r.policy_sha256.empty()) {
    j["policy_sha256"] = r.policy_sha256;
  }
  if (!r.verdict.empty()) {
    j["verdict"] = r.verdict;
  }
  j["reasons"] = r.reasons;
  nlohmann::json devices = nlohmann::json::array();
  for (const auto& d : r.devices) {
    devices.push_back({{"name", d.name}, {"tee", d.tee}, {"status", d.status}});
  }
  j["devices"] = std::move(devices);
  if (!r.nonce_sha256_prefix.empty()) {
    j["nonce_sha256_prefix"] = r.nonce_sha256_prefix;
  }
  j["latency_ms"] = r.latency_ms;
  if (!r.error.empty()) {
    j["error"] = r.error;
  }
  return j;
}

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(
    const std::string& path) {
  if (path == "-") {
    return std::unique_ptr<AuditLog>(new AuditLog(stdout, false));
  }
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("audit log: cannot open ", path,
                                               ": ", std::strerror(errno)));
  }
  std::FILE* f = ::fdopen(fd, "a");
  if (f == nullptr) {
    const int err = errno;
    ::close(fd);
    return absl::UnavailableError(absl::StrCat("audit log: cannot open ", path,
                                               ": ", std::strerror(err)));
  }
  return std::unique_ptr<AuditLog>(new AuditLog(f, true));
}

std::unique_ptr<AuditLog> AuditLog::InMemoryForTest() {
  return std::unique_ptr<AuditLog>(new AuditLog(nullptr, false));
}

AuditLog::~AuditLog() {
  if (file_ != nullptr) {
    if (owned_) {
      std::fclose(file_);
    } else {
      std::fflush(file_);
    }
  }
}

nlohmann::json ReleaseAuditRecordToJson(const ReleaseAuditRecord& r) {
  nlohmann::json j;
  j["event"] = "key_release";
  j["time"] = FormatTime(r.time);
  j["peer"] = r.peer;
  j["resource"] = r.resource;
  j["jti"] = r.jti;
  j["policy_id"] = r.policy_id;
  j["policy_sha256"] = r.policy_sha256;
  j["rule"] = r.rule;
  j["result"] = r.result;
  if (!r.rule_failures.empty()) j["rule_failures"] = r.rule_failures;
  j["code"] = r.code;
  if (!r.detail.empty()) j["detail"] = r.detail;
  j["latency_ms"] = r.latency_ms;
  return j;
}

void AuditLog::WriteRelease(const ReleaseAuditRecord& record) {
  WriteJson(ReleaseAuditRecordToJson(record));
}

void AuditLog::Write(const AuditRecord& record) { WriteJson(AuditRecordToJson(record)); }

void AuditLog::WriteJson(const nlohmann::json& j) {
  // dump() with "replace" never throws on invalid UTF-8 in peer/error text.
  std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  absl::MutexLock l(&mu_);
  if (file_ == nullptr) {
    lines_.push_back(std::move(line));
    return;
  }
  line.push_back('\n');
  std::fwrite(line.data(), 1, line.size(), file_);
  std::fflush(file_);
}

void AuditLog::Flush() {
  absl::MutexLock l(&mu_);
  if (file_ != nullptr) {
    std::fflush(file_);
  }
}

std::vector<std::string> AuditLog::LinesForTest() const {
  absl::MutexLock l(&mu_);
  return lines_;
}

}  // namespace rp::server
