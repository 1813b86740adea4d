// Which clients may name which policy (policy_clients).
#include "server/policy_access.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rp::server {
namespace {

const std::string kSha(64, 'a');

PolicyAccess Make() {
  google::protobuf::Map<std::string, attestation::v1::PolicyClients> m;
  auto& fleet = m["fleet"];
  fleet.add_identities("sha256:" + std::string(64, 'A'));  // any case
  fleet.add_identities("san:spiffe://example.org/ns/prod/sa/attester");
  fleet.add_peers("10.0.0.0/8");
  auto& lab = m["lab"];
  lab.add_identities("cn:lab-node");
  lab.add_identities("subject:CN=lab-2,O=Example");
  auto a = PolicyAccess::Create(m);
  EXPECT_TRUE(a.ok()) << a.status();
  return a.ok() ? *std::move(a) : PolicyAccess();
}

PeerInfo WithCert(std::string addr, std::string sha, std::string cn = "",
                  std::vector<std::string> sans = {}, std::string subject = "") {
  PeerInfo p = PeerFromString(addr);
  p.cert_sha256 = std::move(sha);
  p.common_name = std::move(cn);
  p.sans = std::move(sans);
  p.subject = std::move(subject);
  return p;
}

TEST(PolicyAccessTest, NobodyByDefault) {
  PolicyAccess none;
  EXPECT_FALSE(none.Allows("fleet", PeerFromString("ipv4:10.0.0.1:1")));
}

TEST(PolicyAccessTest, MatchesByCertificateOrAddress) {
  const PolicyAccess a = Make();
  EXPECT_TRUE(a.Allows("fleet", WithCert("ipv4:203.0.113.1:1", kSha)));
  EXPECT_TRUE(a.Allows("fleet", WithCert("ipv4:203.0.113.1:1", std::string(64, 'b'), "",
                                         {"spiffe://example.org/ns/prod/sa/attester"})));
  EXPECT_TRUE(a.Allows("fleet", PeerFromString("ipv4:10.9.8.7:1")));
  EXPECT_FALSE(a.Allows("fleet", PeerFromString("ipv4:11.0.0.1:1")));
  EXPECT_FALSE(a.Allows("fleet", WithCert("ipv4:203.0.113.1:1", std::string(64, 'b'))));
  EXPECT_TRUE(a.Allows("lab", WithCert("ipv4:203.0.113.1:1", std::string(64, 'b'), "lab-node")));
  EXPECT_TRUE(a.Allows("lab", WithCert("ipv4:203.0.113.1:1", std::string(64, 'b'), "x", {},
                                       "CN=lab-2,O=Example")));
  // An entry for one policy says nothing about another.
  EXPECT_FALSE(a.Allows("lab", WithCert("ipv4:10.0.0.1:1", kSha)));
  EXPECT_FALSE(a.Allows("other", WithCert("ipv4:10.0.0.1:1", kSha)));
}

// Identity entries need a verified client certificate: names alone (which
// PeerFromString never fills) do not match.
TEST(PolicyAccessTest, IdentitiesNeedACertificate) {
  const PolicyAccess a = Make();
  PeerInfo p = PeerFromString("ipv4:203.0.113.1:1");
  p.common_name = "lab-node";
  p.sans = {"spiffe://example.org/ns/prod/sa/attester"};
  EXPECT_FALSE(a.Allows("lab", p));
  EXPECT_FALSE(a.Allows("fleet", p));
}

}  // namespace
}  // namespace rp::server
