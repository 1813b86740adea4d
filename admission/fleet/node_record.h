// One node's latest attestation outcome in the fleet node registry
// (docs/admission.md "Fleet node registry"). A record is made from the
// claims of a token this server has just signed, for an appraisal whose
// attest-v2 runtime claims name the node (`runtime_claims.node`), and is
// serialisable to JSON so that a shared store (Redis) can hold it.
#ifndef RP_ADMISSION_FLEET_NODE_RECORD_H_
#define RP_ADMISSION_FLEET_NODE_RECORD_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace rp::admission::fleet {

// Version of the JSON form below; FromJson refuses other versions.
inline constexpr int kNodeRecordVersion = 1;

struct NodeRecord {
  std::string node;                 // runtime_claims.node (RFC 1123 subdomain)
  std::string verdict;              // affirming | warning | contraindicated (token ear.status)
  absl::Time attested_at = absl::InfinitePast();  // the token's iat (verification time)
  std::string tee;                  // tdx | sev-snp | "" (no CPU evidence)
  // TDX: tcb_status (UpToDate, SWHardeningNeeded, ...). SEV-SNP: the
  // reported TCB as "bl=N tee=N snp=N ucode=N[ fmc=N]". "" when unknown.
  std::string tcb_status;
  int gpu_count = 0;
  int switch_count = 0;
  std::vector<std::string> driver_versions;  // distinct, sorted (one per GPU model mix)
  std::vector<std::string> vbios_versions;
  std::string policy_id, policy_version, policy_sha256;
  std::string token_jti;
  absl::Time token_expires_at = absl::InfinitePast();
  std::string binding;              // the token's binding claim (attest-v2)
  // The token's claims as signed (EAR payload): release rules (k8s/admission)
  // are evaluated on them later, from memory.
  nlohmann::json claims = nlohmann::json::object();

  // {"version":1,"node","verdict","attested_at" (RFC 3339),"tee","tcb_status","gpus",
  //  "switches","driver_versions","vbios_versions","policy":{id,version,sha256},
  //  "token":{"jti","exp" (RFC 3339)},"binding","runtime_claims",["claims"]}.
  // `runtime_claims` is a copy of claims.runtime_claims for readers.
  nlohmann::json ToJson(bool with_claims = true) const;
  // The inverse of ToJson(true). INVALID_ARGUMENT names the member.
  static absl::StatusOr<NodeRecord> FromJson(const nlohmann::json& j);

  // Newer-than order for merging copies of one node's record: attested_at,
  // then token_jti (a total order, so replicas converge).
  bool NewerThan(const NodeRecord& other) const;
};

// The record for the token claims `claims` (an EAR payload this server
// signed). nullopt when the claims name no node (no bound runtime claim
// `node`); INVALID_ARGUMENT when they are not shaped as our tokens are.
absl::StatusOr<std::optional<NodeRecord>> RecordFromTokenClaims(const nlohmann::json& claims);

}  // namespace rp::admission::fleet

#endif  // RP_ADMISSION_FLEET_NODE_RECORD_H_
