// One structured JSON line per Attest call (ARCHITECTURE §3 step 8) and per
// key release or denial.
//
// What an audit line may carry is fixed here, not by callers: identifiers,
// outcomes and timings. Never secrets, never raw evidence, never the token,
// never the nonce itself (only a short hash prefix, enough to correlate with
// the attester's logs without enabling a replay).
#ifndef RP_SERVER_AUDIT_H_
#define RP_SERVER_AUDIT_H_

#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace rp::server {

struct AuditDevice {
  std::string name;    // cpu0, gpu0, ...
  std::string tee;     // sev-snp | tdx | nvidia-gpu | nvidia-switch
  std::string status;  // affirming | warning | contraindicated
};

struct AuditRecord {
  absl::Time time;
  std::string request_id;  // the token's jti, or a random id when no token
  std::string peer;        // gRPC peer URI
  std::string code;  // gRPC status code name ("OK", "INVALID_ARGUMENT", ...)
  std::string policy_id;
  std::string policy_sha256;
  std::string verdict;  // empty when the call failed before appraisal
  std::vector<std::string> reasons;
  std::vector<AuditDevice> devices;
  std::string nonce_sha256_prefix;  // NonceHashPrefix(nonce)
  double latency_ms = 0;
  std::string error;  // status message for non-OK calls (no evidence bytes)
};

// One key release or denial (server/key_release.h). Never the secret, the
// token or the JWE.
struct ReleaseAuditRecord {
  absl::Time time;
  std::string peer;
  std::string resource;
  std::string jti;            // the authorising token's id ("" if none)
  std::string policy_id;      // the resource's policy
  std::string policy_sha256;  // from the token
  std::string rule;
  std::string result;         // OK or the denial reason (RULE_DENIED, TOKEN_REPLAYED, ...)
  std::vector<std::string> rule_failures;
  std::string code;           // status code name
  std::string detail;         // denial detail
  double latency_ms = 0;
};
nlohmann::json ReleaseAuditRecordToJson(const ReleaseAuditRecord& record);

// Hex of the first 8 bytes of SHA-256(nonce); empty for an empty nonce.
std::string NonceHashPrefix(std::span<const uint8_t> nonce);

nlohmann::json AuditRecordToJson(const AuditRecord& record);

// Appends JSON lines to a file or to stdout. Thread-safe: one line is
// written and flushed under a mutex, so lines never interleave.
class AuditLog {
 public:
  // `path` "-" writes to stdout; any other path is opened for append
  // (created with mode 0640 if missing).
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(
      const std::string& path);
  // Keeps lines in memory; for tests.
  static std::unique_ptr<AuditLog> InMemoryForTest();

  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  void Write(const AuditRecord& record);
  void WriteRelease(const ReleaseAuditRecord& record);
  void Flush();
  std::vector<std::string> LinesForTest() const;

 private:
  AuditLog(std::FILE* file, bool owned) : file_(file), owned_(owned) {}
  void WriteJson(const nlohmann::json& j);

  mutable absl::Mutex mu_;
  std::FILE* const file_;  // nullptr: in memory
  const bool owned_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rp::server

#endif  // RP_SERVER_AUDIT_H_
