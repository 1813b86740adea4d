// Who is calling: the client's address (without the port) and, with mTLS,
// its certificate identity. Used as the rate-limit key (server/limits/) and
// to decide which policies a client may name (server/policy_access.h).
#ifndef RP_SERVER_PEER_H_
#define RP_SERVER_PEER_H_

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace grpc {
class ServerContext;
}

namespace rp::server {

// An IPv4 or IPv6 address; IPv4-mapped IPv6 addresses are folded to IPv4.
struct IpAddress {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};  // v4 uses the first 4

  // "192.0.2.1", "2001:db8::1" (inet_pton forms, no brackets or zone).
  static std::optional<IpAddress> Parse(std::string_view text);
  std::string ToString() const;
  size_t size() const { return v6 ? 16 : 4; }
  bool operator==(const IpAddress&) const = default;
};

// An address block: "192.0.2.0/24", "2001:db8::/32", or one address (a
// host prefix). Host bits below the prefix must be zero.
struct IpNetwork {
  IpAddress base;
  int prefix_bits = 0;
  static absl::StatusOr<IpNetwork> Parse(std::string_view text);
  bool Contains(const IpAddress& address) const;
};

struct PeerInfo {
  std::optional<IpAddress> address;  // none for unix sockets / unknown
  // Client certificate (mTLS), empty without one.
  std::string cert_sha256;           // lowercase hex of the leaf certificate DER
  std::string common_name;
  std::string subject;               // RFC 2253, as gRPC reports it
  std::vector<std::string> sans;     // DNS, URI, email and IP SANs, as gRPC reports them
  std::string transport;             // gRPC's peer string ("ipv4:127.0.0.1:5000"), for audit
  // Set when `address` came from X-Forwarded-For through a trusted proxy:
  // the proxy's own address ("192.0.2.10").
  std::string forwarded_by;

  bool has_certificate() const { return !cert_sha256.empty(); }
  // Rate-limit key: "cert:<sha256>" with a client certificate, else
  // "ip:<v4>" or "ip6:<first 64 bits>::/64" (one host usually holds a whole
  // /64, so per-address keys would let it multiply its budget), else
  // "peer:<transport>".
  std::string RateKey() const;
};

// From gRPC's peer string: "ipv4:1.2.3.4:5", "ipv6:[::1]:5" (also
// percent-encoded brackets). nullopt for anything else.
std::optional<IpAddress> AddressFromGrpcPeer(std::string_view peer);

// Address and (when the connection is authenticated with a client
// certificate) its identity.
PeerInfo PeerFromContext(const grpc::ServerContext& context);

// A PeerInfo from a gRPC peer string only (no certificate).
PeerInfo PeerFromString(std::string_view grpc_peer);

// Behind a load balancer (docs/scale-out.md): when the connection comes
// from one of the `trusted` proxies (top-level trusted_proxies), the client
// is the rightmost X-Forwarded-For address that is not itself a trusted
// proxy — the address the outermost trusted proxy saw, which a client
// cannot forge (it can only prepend entries). The proxy's certificate
// identity is dropped (it names the proxy, not the client), so a client
// behind a proxy never inherits the proxy's policy_clients grants.
// Unchanged when the connection is not from a trusted proxy, the header is
// absent, or it is malformed / over 1 KiB / over 16 entries (then the
// proxy's own address stays the key: a shared budget, never a spoofed one).
PeerInfo ApplyForwardedFor(PeerInfo direct, std::string_view x_forwarded_for,
                           std::span<const IpNetwork> trusted);

// PeerFromContext, then ApplyForwardedFor with the request's
// x-forwarded-for metadata (entries joined by ",").
PeerInfo PeerFromContext(const grpc::ServerContext& context, std::span<const IpNetwork> trusted);

}  // namespace rp::server

#endif  // RP_SERVER_PEER_H_
