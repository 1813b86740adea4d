#include "server/peer.h"

#include <arpa/inet.h>

#include <cstring>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "grpc/grpc_security_constants.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/security/auth_context.h"
#include "verifier/common/encoding.h"
#include "verifier/crypto/digest.h"
#include "verifier/crypto/x509.h"

namespace rp::server {
namespace {

std::string Str(const grpc::string_ref& r) { return std::string(r.data(), r.size()); }

// IPv4-mapped IPv6 (::ffff:a.b.c.d) is the same host as a.b.c.d.
IpAddress FoldMapped(IpAddress a) {
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (a.v6 && std::memcmp(a.bytes.data(), kMapped, sizeof(kMapped)) == 0) {
    IpAddress v4;
    std::memcpy(v4.bytes.data(), a.bytes.data() + 12, 4);
    return v4;
  }
  return a;
}

}  // namespace

std::optional<IpAddress> IpAddress::Parse(std::string_view text) {
  if (text.empty() || text.size() > INET6_ADDRSTRLEN) return std::nullopt;
  const std::string s(text);
  IpAddress a;
  if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) return a;
  a.v6 = true;
  if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1) return FoldMapped(a);
  return std::nullopt;
}

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof(buf)) == nullptr) return "";
  return buf;
}

absl::StatusOr<IpNetwork> IpNetwork::Parse(std::string_view text_view) {
  // Debian's Abseil has its own string_view: work on a std::string.
  const std::string text(text_view);
  IpNetwork n;
  std::string_view addr = text;
  int prefix = -1;
  if (const size_t slash = text.find('/'); slash != std::string_view::npos) {
    addr = std::string_view(text).substr(0, slash);
    const std::string bits = text.substr(slash + 1);
    if (bits.empty() || bits.size() > 3 || !absl::SimpleAtoi(bits, &prefix) || prefix < 0) {
      return absl::InvalidArgumentError(absl::StrCat("'", text, "': bad prefix length"));
    }
  }
  std::optional<IpAddress> base = IpAddress::Parse(addr);
  if (!base.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' is not an IP address or CIDR"));
  }
  const int max_bits = static_cast<int>(base->size()) * 8;
  if (prefix < 0) prefix = max_bits;
  if (prefix > max_bits) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "': prefix length above ", max_bits));
  }
  // Host bits must be zero: "10.0.0.1/8" is almost certainly a typo.
  for (int bit = prefix; bit < max_bits; ++bit) {
    if ((base->bytes[bit / 8] >> (7 - bit % 8)) & 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", text, "': address has bits set below the /", prefix));
    }
  }
  n.base = *base;
  n.prefix_bits = prefix;
  return n;
}

bool IpNetwork::Contains(const IpAddress& a) const {
  if (a.v6 != base.v6) return false;
  const int full = prefix_bits / 8;
  if (std::memcmp(a.bytes.data(), base.bytes.data(), static_cast<size_t>(full)) != 0) {
    return false;
  }
  const int rest = prefix_bits % 8;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a.bytes[full] & mask) == (base.bytes[full] & mask);
}

std::string PeerInfo::RateKey() const {
  if (has_certificate()) return absl::StrCat("cert:", cert_sha256);
  if (address.has_value()) {
    if (!address->v6) return absl::StrCat("ip:", address->ToString());
    IpAddress prefix = *address;
    std::fill(prefix.bytes.begin() + 8, prefix.bytes.end(), 0);
    return absl::StrCat("ip6:", prefix.ToString(), "/64");
  }
  return absl::StrCat("peer:", transport.substr(0, 128));
}

std::optional<IpAddress> AddressFromGrpcPeer(std::string_view peer) {
  std::string p = absl::StrReplaceAll(std::string(peer), {{"%5B", "["}, {"%5D", "]"}, {"%5b", "["}, {"%5d", "]"},
                                             {"%25", "%"}});
  std::string_view v = p;
  std::string_view host;
  if (v.rfind("ipv4:", 0) == 0) {
    v.remove_prefix(5);
    const size_t colon = v.rfind(':');
    host = colon == std::string_view::npos ? v : v.substr(0, colon);
  } else if (v.rfind("ipv6:", 0) == 0) {
    v.remove_prefix(5);
    if (v.empty() || v.front() != '[') return std::nullopt;
    const size_t close = v.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = v.substr(1, close - 1);
    // Drop a zone ("fe80::1%eth0"): the zone is not part of the identity.
    if (const size_t pct = host.find('%'); pct != std::string_view::npos) {
      host = host.substr(0, pct);
    }
  } else {
    return std::nullopt;
  }
  return IpAddress::Parse(host);
}

PeerInfo PeerFromString(std::string_view grpc_peer) {
  PeerInfo p;
  p.transport = std::string(grpc_peer);
  p.address = AddressFromGrpcPeer(grpc_peer);
  return p;
}

PeerInfo PeerFromContext(const grpc::ServerContext& context) {
  PeerInfo p = PeerFromString(context.peer());
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr || !auth->IsPeerAuthenticated()) return p;
  // gRPC marks the connection authenticated only when the client
  // certificate verified against tls.client_ca_file (mTLS).
  const std::vector<grpc::string_ref> pem = auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  if (pem.empty()) return p;
  absl::StatusOr<std::vector<crypto::OpensslPtr<X509>>> certs =
      crypto::ParsePemCertificates(Str(pem.front()), 1);
  if (!certs.ok() || certs->empty()) return p;  // no identity rather than a wrong one
  p.cert_sha256 = HexEncode(crypto::Sha256(crypto::CertificateDer(certs->front().get())));
  for (const auto& v : auth->FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME)) {
    p.common_name = Str(v);
    break;
  }
  for (const auto& v : auth->FindPropertyValues(GRPC_X509_SUBJECT_PROPERTY_NAME)) {
    p.subject = Str(v);
    break;
  }
  for (const auto& v : auth->FindPropertyValues(GRPC_X509_SAN_PROPERTY_NAME)) {
    p.sans.push_back(Str(v));
  }
  return p;
}

namespace {
constexpr size_t kMaxForwardedForBytes = 1024;
constexpr size_t kMaxForwardedForEntries = 16;

bool Trusted(const IpAddress& a, std::span<const IpNetwork> trusted) {
  for (const IpNetwork& n : trusted) {
    if (n.Contains(a)) return true;
  }
  return false;
}
}  // namespace

PeerInfo ApplyForwardedFor(PeerInfo direct, std::string_view xff,
                           std::span<const IpNetwork> trusted) {
  if (trusted.empty() || !direct.address.has_value() || !Trusted(*direct.address, trusted) ||
      xff.empty() || xff.size() > kMaxForwardedForBytes) {
    return direct;
  }
  std::vector<absl::string_view> entries =
      absl::StrSplit(absl::string_view(xff.data(), xff.size()), ',');
  if (entries.size() > kMaxForwardedForEntries) return direct;
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    const absl::string_view e = absl::StripAsciiWhitespace(*it);
    std::optional<IpAddress> a = IpAddress::Parse(std::string_view(e.data(), e.size()));
    if (!a.has_value()) return direct;  // malformed: keep the proxy as the key
    if (Trusted(*a, trusted)) continue;  // another proxy of ours in the chain
    PeerInfo p;
    p.address = *a;
    p.transport = direct.transport;
    p.forwarded_by = direct.address->ToString();
    return p;
  }
  return direct;  // only proxies in the chain
}

PeerInfo PeerFromContext(const grpc::ServerContext& context,
                         std::span<const IpNetwork> trusted) {
  PeerInfo p = PeerFromContext(context);
  if (trusted.empty()) return p;
  std::string xff;
  const auto range = context.client_metadata().equal_range("x-forwarded-for");
  for (auto it = range.first; it != range.second; ++it) {
    if (xff.size() + it->second.size() > kMaxForwardedForBytes) return p;
    if (!xff.empty()) xff += ",";
    xff.append(it->second.data(), it->second.size());
  }
  return ApplyForwardedFor(std::move(p), xff, trusted);
}

}  // namespace rp::server
