// Who may choose the policy (issue 10: the relying party chooses, not the
// attester). AttestRequest.policy is client-chosen; the server config's
// policy_clients says, per policy id, which clients may name it. An empty
// name, or the default policy's own id, always means the server default.
#ifndef RP_SERVER_POLICY_ACCESS_H_
#define RP_SERVER_POLICY_ACCESS_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "attestation/v1/config.pb.h"
#include "google/protobuf/map.h"
#include "server/peer.h"

namespace rp::server {

class PolicyAccess {
 public:
  // No client may name a non-default policy.
  PolicyAccess() = default;

  // Validates every entry: identities "sha256:<64 hex>", "san:<v>", "cn:<v>",
  // "subject:<v>" (non-empty values); peers IP or CIDR. The message names the
  // policy and the entry.
  static absl::StatusOr<PolicyAccess> Create(
      const google::protobuf::Map<std::string, attestation::v1::PolicyClients>& clients);

  // Whether `peer` may name the policy with id `policy_id` (without
  // "@version"). Identities match only with a verified client certificate.
  bool Allows(std::string_view policy_id, const PeerInfo& peer) const;

 private:
  struct Rule {
    std::vector<std::string> cert_sha256;  // lowercase hex
    std::vector<std::string> sans;
    std::vector<std::string> common_names;
    std::vector<std::string> subjects;
    std::vector<IpNetwork> networks;
  };
  std::map<std::string, Rule, std::less<>> rules_;
};

}  // namespace rp::server

#endif  // RP_SERVER_POLICY_ACCESS_H_
