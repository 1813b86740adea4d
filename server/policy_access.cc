#include "server/policy_access.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "verifier/common/encoding.h"

namespace rp::server {
namespace {

bool Contains(const std::vector<std::string>& list, std::string_view v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

}  // namespace

absl::StatusOr<PolicyAccess> PolicyAccess::Create(
    const google::protobuf::Map<std::string, attestation::v1::PolicyClients>& clients) {
  PolicyAccess access;
  for (const auto& [id, entry] : clients) {
    const std::string where = absl::StrCat("policy_clients['", id, "']");
    if (id.empty() || id.find('@') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": the key is a policy id (no @version)"));
    }
    if (entry.identities().empty() && entry.peers().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": lists no identities and no peers"));
    }
    Rule rule;
    for (const std::string& ident : entry.identities()) {
      const size_t colon = ident.find(':');
      const std::string_view kind =
          colon == std::string::npos ? std::string_view() : std::string_view(ident).substr(0, colon);
      const std::string value = colon == std::string::npos ? "" : ident.substr(colon + 1);
      if (value.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ".identities: '", ident, "' must be sha256:<hex>, san:<value>, cn:<value> or "
            "subject:<value>"));
      }
      if (kind == "sha256") {
        if (value.size() != 64 || !IsHexString(value)) {
          return absl::InvalidArgumentError(absl::StrCat(
              where, ".identities: '", ident, "' needs 64 hex digits (SHA-256 of the DER)"));
        }
        rule.cert_sha256.push_back(absl::AsciiStrToLower(value));
      } else if (kind == "san") {
        rule.sans.push_back(value);
      } else if (kind == "cn") {
        rule.common_names.push_back(value);
      } else if (kind == "subject") {
        rule.subjects.push_back(value);
      } else {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ".identities: '", ident, "' must be sha256:<hex>, san:<value>, cn:<value> or "
            "subject:<value>"));
      }
    }
    for (const std::string& p : entry.peers()) {
      absl::StatusOr<IpNetwork> n = IpNetwork::Parse(p);
      if (!n.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ".peers: ", n.status().message()));
      }
      rule.networks.push_back(*n);
    }
    access.rules_.emplace(id, std::move(rule));
  }
  return access;
}

bool PolicyAccess::Allows(std::string_view policy_id, const PeerInfo& peer) const {
  auto it = rules_.find(policy_id);
  if (it == rules_.end()) return false;
  const Rule& r = it->second;
  if (peer.has_certificate()) {
    if (Contains(r.cert_sha256, peer.cert_sha256)) return true;
    if (!peer.common_name.empty() && Contains(r.common_names, peer.common_name)) return true;
    if (!peer.subject.empty() && Contains(r.subjects, peer.subject)) return true;
    for (const std::string& san : peer.sans) {
      if (Contains(r.sans, san)) return true;
    }
  }
  if (peer.address.has_value()) {
    for (const IpNetwork& n : r.networks) {
      if (n.Contains(*peer.address)) return true;
    }
  }
  return false;
}

}  // namespace rp::server
