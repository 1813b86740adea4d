// Peer identity: gRPC peer strings, address folding, CIDR matching and the
// rate-limit key.
#include "server/peer.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rp::server {
namespace {

TEST(PeerTest, AddressFromGrpcPeerStrings) {
  EXPECT_EQ(AddressFromGrpcPeer("ipv4:127.0.0.1:5000")->ToString(), "127.0.0.1");
  EXPECT_EQ(AddressFromGrpcPeer("ipv6:[::1]:5000")->ToString(), "::1");
  EXPECT_EQ(AddressFromGrpcPeer("ipv6:%5B2001:db8::7%5D:443")->ToString(), "2001:db8::7");
  EXPECT_EQ(AddressFromGrpcPeer("ipv6:[fe80::1%25eth0]:443")->ToString(), "fe80::1");
  // IPv4-mapped IPv6 is the IPv4 host.
  auto mapped = AddressFromGrpcPeer("ipv6:[::ffff:192.0.2.9]:1");
  ASSERT_TRUE(mapped.has_value());
  EXPECT_FALSE(mapped->v6);
  EXPECT_EQ(mapped->ToString(), "192.0.2.9");
  EXPECT_FALSE(AddressFromGrpcPeer("unix:/tmp/sock").has_value());
  EXPECT_FALSE(AddressFromGrpcPeer("ipv4:not-an-ip:1").has_value());
  EXPECT_FALSE(AddressFromGrpcPeer("").has_value());
}

TEST(PeerTest, RateKeyIsTheCertificateElseTheAddressWithoutPort) {
  PeerInfo a = PeerFromString("ipv4:192.0.2.1:1111");
  PeerInfo b = PeerFromString("ipv4:192.0.2.1:2222");
  EXPECT_EQ(a.RateKey(), "ip:192.0.2.1");
  EXPECT_EQ(a.RateKey(), b.RateKey());  // new connections do not reset the budget
  // IPv6: one key per /64.
  EXPECT_EQ(PeerFromString("ipv6:[2001:db8:1:2:aaaa::1]:1").RateKey(), "ip6:2001:db8:1:2::/64");
  EXPECT_EQ(PeerFromString("ipv6:[2001:db8:1:2:bbbb::9]:1").RateKey(), "ip6:2001:db8:1:2::/64");
  EXPECT_NE(PeerFromString("ipv6:[2001:db8:1:3::1]:1").RateKey(), "ip6:2001:db8:1:2::/64");
  a.cert_sha256 = "ab12";
  EXPECT_EQ(a.RateKey(), "cert:ab12");
  EXPECT_EQ(PeerFromString("unix:/s").RateKey(), "peer:unix:/s");
}

TEST(IpNetworkTest, ParsesAndContains) {
  auto net = IpNetwork::Parse("10.1.0.0/16");
  ASSERT_TRUE(net.ok()) << net.status();
  EXPECT_TRUE(net->Contains(*IpAddress::Parse("10.1.200.3")));
  EXPECT_FALSE(net->Contains(*IpAddress::Parse("10.2.0.1")));
  EXPECT_FALSE(net->Contains(*IpAddress::Parse("::ffff:10.2.0.1")));
  EXPECT_TRUE(net->Contains(*IpAddress::Parse("::ffff:10.1.0.1")));  // folded
  EXPECT_FALSE(net->Contains(*IpAddress::Parse("2001:db8::1")));
  auto odd = IpNetwork::Parse("192.0.2.128/25");
  ASSERT_TRUE(odd.ok());
  EXPECT_TRUE(odd->Contains(*IpAddress::Parse("192.0.2.200")));
  EXPECT_FALSE(odd->Contains(*IpAddress::Parse("192.0.2.100")));
  auto host = IpNetwork::Parse("192.0.2.7");
  ASSERT_TRUE(host.ok());
  EXPECT_TRUE(host->Contains(*IpAddress::Parse("192.0.2.7")));
  EXPECT_FALSE(host->Contains(*IpAddress::Parse("192.0.2.8")));
  auto v6 = IpNetwork::Parse("2001:db8::/32");
  ASSERT_TRUE(v6.ok());
  EXPECT_TRUE(v6->Contains(*IpAddress::Parse("2001:db8:ffff::1")));
  EXPECT_FALSE(v6->Contains(*IpAddress::Parse("2001:db9::1")));
  auto all = IpNetwork::Parse("0.0.0.0/0");
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->Contains(*IpAddress::Parse("203.0.113.1")));
  for (const char* bad : {"10.0.0.1/8", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x",
                          "example.com", "", "10.0.0.0/-1"}) {
    EXPECT_FALSE(IpNetwork::Parse(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace rp::server

// Issue 12: behind a load balancer the client comes from X-Forwarded-For,
// only through a trusted proxy, and never a client-chosen entry.
namespace rp::server {
namespace {

std::vector<IpNetwork> Nets(std::initializer_list<const char*> cidrs) {
  std::vector<IpNetwork> out;
  for (const char* c : cidrs) out.push_back(*IpNetwork::Parse(c));
  return out;
}

TEST(ForwardedFor, OnlyTrustedProxiesAreBelieved) {
  const auto trusted = Nets({"10.0.0.0/8"});
  PeerInfo lb = PeerFromString("ipv4:10.1.2.3:5555");
  PeerInfo client = ApplyForwardedFor(lb, "203.0.113.7", trusted);
  EXPECT_EQ(client.RateKey(), "ip:203.0.113.7");
  EXPECT_EQ(client.forwarded_by, "10.1.2.3");
  // Not from a trusted proxy: the header is ignored.
  PeerInfo direct = PeerFromString("ipv4:198.51.100.9:5555");
  EXPECT_EQ(ApplyForwardedFor(direct, "203.0.113.7", trusted).RateKey(), "ip:198.51.100.9");
  // No proxies configured: ignored.
  EXPECT_EQ(ApplyForwardedFor(lb, "203.0.113.7", {}).RateKey(), "ip:10.1.2.3");
}

TEST(ForwardedFor, RightmostUntrustedEntryWinsSoClientsCannotChooseTheirKey) {
  const auto trusted = Nets({"10.0.0.0/8", "192.168.0.0/16"});
  PeerInfo lb = PeerFromString("ipv4:10.1.2.3:5555");
  // The client sent "X-Forwarded-For: 1.1.1.1"; the balancer appended the
  // address it saw. Only the appended one counts.
  EXPECT_EQ(ApplyForwardedFor(lb, "1.1.1.1, 203.0.113.7", trusted).RateKey(),
            "ip:203.0.113.7");
  // Chains of our own proxies are skipped.
  EXPECT_EQ(ApplyForwardedFor(lb, "1.1.1.1, 203.0.113.7, 192.168.1.1", trusted).RateKey(),
            "ip:203.0.113.7");
  // IPv6 clients get their /64 as usual.
  EXPECT_EQ(ApplyForwardedFor(lb, "2001:db8:1:2:3:4:5:6", trusted).RateKey(),
            "ip6:2001:db8:1:2::/64");
}

TEST(ForwardedFor, MalformedOrOversizedHeadersKeepTheProxyAsTheKey) {
  const auto trusted = Nets({"10.0.0.0/8"});
  PeerInfo lb = PeerFromString("ipv4:10.1.2.3:5555");
  for (const std::string& bad :
       {std::string("not-an-ip"), std::string("203.0.113.7:80"), std::string(","),
        std::string("203.0.113.7, junk"), std::string(2000, '1'),
        std::string("1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1,"
                    "1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1,1.1.1.1")}) {
    EXPECT_EQ(ApplyForwardedFor(lb, bad, trusted).RateKey(), "ip:10.1.2.3") << bad;
  }
  // Only proxies in the chain: the proxy stays the key.
  EXPECT_EQ(ApplyForwardedFor(lb, "10.9.9.9", trusted).RateKey(), "ip:10.1.2.3");
}

TEST(ForwardedFor, TheProxysCertificateIsNotTheClients) {
  const auto trusted = Nets({"10.0.0.0/8"});
  PeerInfo lb = PeerFromString("ipv4:10.1.2.3:5555");
  lb.cert_sha256 = std::string(64, 'a');
  lb.common_name = "edge-proxy";
  PeerInfo client = ApplyForwardedFor(lb, "203.0.113.7", trusted);
  EXPECT_FALSE(client.has_certificate());
  EXPECT_TRUE(client.common_name.empty());
  EXPECT_EQ(client.RateKey(), "ip:203.0.113.7");
}

}  // namespace
}  // namespace rp::server
