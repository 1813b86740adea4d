#include "server/http_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"
#include "server/config.h"
#include "verifier/common/status_macros.h"
#include "verifier/crypto/openssl_error.h"

namespace rp::server {
namespace {

using SteadyTime = std::chrono::steady_clock::time_point;
using std::chrono::milliseconds;

constexpr char kJwksPath[] = "/.well-known/jwks.json";
constexpr char kOpenIdPath[] = "/.well-known/openid-configuration";

constexpr int kListenBacklog = 512;
constexpr int kAcceptBatch = 64;        // accepts per loop turn (fairness)
constexpr int kMaxEvents = 128;
constexpr size_t kReadChunk = 4096;
// After the response: read and drop what the client still sends (so the
// close does not turn into a RST that eats the response), this long and
// this much at most.
constexpr milliseconds kLinger{1000};
constexpr size_t kMaxLingerBytes = 64 * 1024;
// accept() failing for lack of descriptors/memory: back off this long
// instead of spinning on a readable listen socket.
constexpr milliseconds kAcceptBackoff{100};
constexpr size_t kMaxMethodChars = 16;

// Sent (best effort, never blocking) to plain-HTTP connections refused at
// accept time.
constexpr std::string_view kBusyResponse =
    "HTTP/1.1 503 Service Unavailable\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Length: 5\r\n"
    "Retry-After: 1\r\n"
    "Connection: close\r\n\r\n"
    "busy\n";

// libssl objects. OpensslPtr (verifier/crypto/openssl_ptr.h) covers
// libcrypto types only; the server is the one libssl user.
struct SslCtxFree {
  void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
};
struct SslFree {
  void operator()(SSL* p) const { SSL_free(p); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;

// An owned file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { Reset(); }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// Debian's Abseil has its own string_view type.
absl::string_view A(std::string_view s) { return absl::string_view(s.data(), s.size()); }

const char* ReasonPhrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

std::string FormatResponse(const HttpReply& reply, std::string_view extra_headers) {
  return absl::StrCat("HTTP/1.1 ", reply.status, " ", ReasonPhrase(reply.status),
                      "\r\nContent-Type: ", reply.content_type,
                      "\r\nContent-Length: ", reply.body.size(),
                      "\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n",
                      A(extra_headers), "Connection: close\r\n\r\n", reply.body);
}

HttpReply Text(int status, std::string body) {
  return HttpReply{status, "text/plain; charset=utf-8", std::move(body)};
}

// The key connection caps are counted under: the IPv4 address, or the /64
// of an IPv6 address (one host usually owns a whole /64). IPv4-mapped IPv6
// addresses count as IPv4.
std::string PeerKey(const sockaddr_storage& addr) {
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);  // NOLINT: sockaddr API
    ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    return text;
  }
  if (addr.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);  // NOLINT: sockaddr API
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      in_addr v4;
      std::memcpy(&v4, &in6->sin6_addr.s6_addr[12], sizeof(v4));
      ::inet_ntop(AF_INET, &v4, text, sizeof(text));
      return text;
    }
    in6_addr prefix = in6->sin6_addr;
    std::memset(&prefix.s6_addr[8], 0, 8);
    ::inet_ntop(AF_INET6, &prefix, text, sizeof(text));
    return absl::StrCat(text, "/64");
  }
  return "unknown";
}

// Position just past the blank line ending the header block, or npos.
// Searching starts at `from` (callers pass where the previous search
// stopped, minus the terminator length).
size_t FindHeaderEnd(std::string_view in, size_t from) {
  for (size_t i = from; i < in.size(); ++i) {
    if (in[i] != '\n') continue;
    if (i >= 1 && in[i - 1] == '\n') return i + 1;
    if (i >= 3 && in[i - 1] == '\r' && in[i - 2] == '\n' && in[i - 3] == '\r') return i + 1;
  }
  return std::string_view::npos;
}

struct RequestLine {
  int error = 0;  // 0, or the status to answer with
  std::string_view method;
  std::string_view path;
};

// "METHOD SP origin-form-target SP HTTP/1.x". Header lines are not used.
RequestLine ParseRequestLine(std::string_view head) {
  RequestLine out;
  size_t eol = head.find('\n');
  std::string_view line = head.substr(0, eol);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    out.error = 400;
    return out;
  }
  out.method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (out.method.empty() || out.method.size() > kMaxMethodChars ||
      !std::all_of(out.method.begin(), out.method.end(),
                   [](char c) { return c >= 'A' && c <= 'Z'; })) {
    out.error = 400;
    return out;
  }
  if (target.empty() || target.front() != '/' ||
      !std::all_of(target.begin(), target.end(), [](char c) { return c > 0x20 && c < 0x7f; })) {
    out.error = 400;
    return out;
  }
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    out.error = absl::StartsWith(A(version), "HTTP/") ? 505 : 400;
    return out;
  }
  out.path = target.substr(0, target.find_first_of("?#"));
  return out;
}

absl::StatusOr<SslCtxPtr> MakeSslContext(const attestation::v1::TlsConfig& tls,
                                         const std::string& name) {
  if (tls.cert_file().empty() || tls.key_file().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": tls needs both cert_file and key_file"));
  }
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (ctx == nullptr) {
    return absl::InternalError(crypto::WithOpensslErrors(absl::StrCat(name, ": SSL_CTX_new")));
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                     SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE |
                                  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                  SSL_MODE_RELEASE_BUFFERS);
  // No server-side session cache (its size would be the client's choice);
  // TLS 1.3 tickets are stateless and still work.
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), tls.cert_file().c_str()) != 1) {
    return absl::InvalidArgumentError(crypto::WithOpensslErrors(
        absl::StrCat(name, ": tls.cert_file ", tls.cert_file(), " is not usable")));
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), tls.key_file().c_str(), SSL_FILETYPE_PEM) != 1) {
    return absl::InvalidArgumentError(crypto::WithOpensslErrors(
        absl::StrCat(name, ": tls.key_file ", tls.key_file(), " is not usable")));
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1) {
    return absl::InvalidArgumentError(crypto::WithOpensslErrors(
        absl::StrCat(name, ": tls.key_file does not match tls.cert_file")));
  }
  if (!tls.client_ca_file().empty()) {
    if (SSL_CTX_load_verify_locations(ctx.get(), tls.client_ca_file().c_str(), nullptr) != 1) {
      return absl::InvalidArgumentError(crypto::WithOpensslErrors(
          absl::StrCat(name, ": tls.client_ca_file ", tls.client_ca_file(), " is not usable")));
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(tls.client_ca_file().c_str());
    if (names != nullptr) SSL_CTX_set_client_CA_list(ctx.get(), names);  // takes ownership
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  ERR_clear_error();
  return ctx;
}

// A non-blocking listening socket. Hosts are numeric (IPv4, or IPv6 in
// brackets) so that no listen address ever waits on DNS.
absl::StatusOr<Fd> Listen(const std::string& listen, const std::string& name) {
  auto hp = ParseHostPort(listen);
  if (!hp.ok()) return Annotate(hp.status(), absl::StrCat(name, " listen"));
  std::string host = hp->host;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* result = nullptr;
  const std::string port = std::to_string(hp->port);
  if (const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &result); rc != 0) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": cannot listen on ", listen, ": ",
                                                   ::gai_strerror(rc),
                                                   " (the host must be a numeric address)"));
  }
  std::string last_error = "no address";
  Fd out;
  for (addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
    Fd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                   ai->ai_protocol));
    if (fd.get() < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    const int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0 ||
        ::listen(fd.get(), kListenBacklog) != 0) {
      last_error = std::strerror(errno);
      continue;
    }
    out = std::move(fd);
    break;
  }
  ::freeaddrinfo(result);
  if (out.get() < 0) {
    return absl::UnavailableError(
        absl::StrCat(name, ": cannot listen on ", listen, ": ", last_error));
  }
  return out;
}

int BoundPort(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return -1;  // NOLINT
  if (addr.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);  // NOLINT
  }
  if (addr.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port);  // NOLINT
  }
  return -1;
}

}  // namespace

// ---------------------------------------------------------------------------
// The event loop. Every connection is a small state machine driven by epoll
// readiness (level-triggered):
//   kHandshake (TLS only) -> kRead -> kWrite -> kLinger -> closed
// with one deadline from accept (request_timeout) for the first three
// states and kLinger for the last.

class BoundedHttpServer::Loop {
 public:
  Loop(BoundedHttpOptions options, Fd listen, Fd epoll, Fd wake, SslCtxPtr ssl, int port)
      : options_(std::move(options)),
        listen_(std::move(listen)),
        epoll_(std::move(epoll)),
        wake_(std::move(wake)),
        ssl_(std::move(ssl)),
        port_(port) {}

  ~Loop() { Stop(); }

  absl::Status Begin() {
    if (!Ctl(EPOLL_CTL_ADD, listen_.get(), EPOLLIN, kListenId) ||
        !Ctl(EPOLL_CTL_ADD, wake_.get(), EPOLLIN, kWakeId)) {
      return absl::InternalError(
          absl::StrCat(options_.name, ": epoll_ctl: ", std::strerror(errno)));
    }
    absl::MutexLock l(&stop_mu_);
    thread_ = std::thread([this] { Run(); });
    return absl::OkStatus();
  }

  void Stop() {
    absl::MutexLock l(&stop_mu_);
    if (!thread_.joinable()) return;
    stopping_.store(true);
    const uint64_t one = 1;
    while (::write(wake_.get(), &one, sizeof(one)) < 0 && errno == EINTR) {
    }
    thread_.join();
  }

  int port() const { return port_; }
  bool tls() const { return ssl_ != nullptr; }

  HttpServerStats Stats() const {
    HttpServerStats s;
    s.accepted = accepted_.load(std::memory_order_relaxed);
    s.refused_per_peer = refused_per_peer_.load(std::memory_order_relaxed);
    s.refused_global = refused_global_.load(std::memory_order_relaxed);
    s.timed_out = timed_out_.load(std::memory_order_relaxed);
    s.responses = responses_.load(std::memory_order_relaxed);
    s.bad_requests = bad_requests_.load(std::memory_order_relaxed);
    s.tls_handshake_failures = tls_failures_.load(std::memory_order_relaxed);
    s.open_connections = open_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  static constexpr uint64_t kListenId = 0;
  static constexpr uint64_t kWakeId = 1;

  enum class State { kHandshake, kRead, kWrite, kLinger };
  enum class Io { kOk, kWantRead, kWantWrite, kClosed };
  enum class Next { kKeep, kClose };

  // Members in this order so that the SSL object is freed before its socket
  // is closed.
  struct Conn {
    Fd fd;
    SslPtr ssl;
    uint64_t id = 0;
    std::string peer;
    State state = State::kRead;
    SteadyTime deadline;
    uint32_t events = 0;
    std::string in;
    std::string out;
    size_t out_off = 0;
    size_t lingered = 0;
  };

  bool Ctl(int op, int fd, uint32_t events, uint64_t id) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = id;
    return ::epoll_ctl(epoll_.get(), op, fd, &ev) == 0;
  }

  void Run() {
    // SSL_write on a socket the peer has closed raises SIGPIPE (OpenSSL's
    // socket BIO does not pass MSG_NOSIGNAL); keep it away from the process.
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);

    std::array<epoll_event, kMaxEvents> events{};
    while (!stopping_.load()) {
      const SteadyTime now = std::chrono::steady_clock::now();
      const int timeout_ms = ExpireAndNextTimeout(now);
      const int n = ::epoll_wait(epoll_.get(), events.data(), kMaxEvents, timeout_ms);
      if (n < 0 && errno != EINTR) break;
      const SteadyTime after = std::chrono::steady_clock::now();
      bool accept_ready = false;
      for (int i = 0; i < n; ++i) {
        const uint64_t id = events[static_cast<size_t>(i)].data.u64;
        if (id == kWakeId) {
          continue;  // stopping_ is checked by the loop condition
        }
        if (id == kListenId) {
          accept_ready = true;
          continue;
        }
        auto it = conns_.find(id);
        if (it == conns_.end()) continue;
        Conn& c = *it->second;
        const uint32_t ev = events[static_cast<size_t>(i)].events;
        if ((ev & EPOLLERR) != 0 || Advance(c, after) == Next::kClose) Close(it);
      }
      // Accept after the connection events: ids are never reused, but this
      // keeps established connections ahead of new ones within a turn.
      if (accept_ready) AcceptSome(after);
    }
    conns_.clear();
    per_peer_.clear();
    open_.store(0);
    listen_.Reset();
  }

  // Closes connections past their deadline; returns the epoll timeout up
  // to the next deadline (at most 1 s) and resumes a paused accept.
  int ExpireAndNextTimeout(SteadyTime now) {
    if (accept_paused_ && now >= accept_resume_) {
      accept_paused_ = !Ctl(EPOLL_CTL_MOD, listen_.get(), EPOLLIN, kListenId);
    }
    SteadyTime next = now + milliseconds(1000);
    if (accept_paused_) next = std::min(next, accept_resume_);
    for (auto it = conns_.begin(); it != conns_.end();) {
      Conn& c = *it->second;
      if (now >= c.deadline) {
        if (c.state != State::kLinger) timed_out_.fetch_add(1, std::memory_order_relaxed);
        it = Close(it);
        continue;
      }
      next = std::min(next, c.deadline);
      ++it;
    }
    const auto ms = std::chrono::duration_cast<milliseconds>(next - now).count();
    return static_cast<int>(std::clamp<int64_t>(ms + 1, 0, 1000));
  }

  void AcceptSome(SteadyTime now) {
    for (int i = 0; i < kAcceptBatch; ++i) {
      sockaddr_storage addr{};
      socklen_t len = sizeof(addr);
      const int raw = ::accept4(listen_.get(), reinterpret_cast<sockaddr*>(&addr),  // NOLINT
                                &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (raw < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          // Out of descriptors: stop watching the listen socket for a while
          // instead of spinning on it.
          accept_paused_ = Ctl(EPOLL_CTL_MOD, listen_.get(), 0, kListenId);
          accept_resume_ = now + kAcceptBackoff;
        }
        return;  // EAGAIN and anything else: wait for the next readiness
      }
      Fd fd(raw);
      std::string peer = PeerKey(addr);
      if (conns_.size() >= options_.limits.max_connections) {
        refused_global_.fetch_add(1, std::memory_order_relaxed);
        Refuse(fd);
        continue;
      }
      auto count = per_peer_.find(peer);
      if (count != per_peer_.end() && count->second >= options_.limits.max_connections_per_peer) {
        refused_per_peer_.fetch_add(1, std::memory_order_relaxed);
        Refuse(fd);
        continue;
      }
      const int one = 1;
      ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      auto conn = std::make_unique<Conn>();
      if (ssl_ != nullptr) {
        conn->ssl.reset(SSL_new(ssl_.get()));
        if (conn->ssl == nullptr || SSL_set_fd(conn->ssl.get(), fd.get()) != 1) {
          ERR_clear_error();
          continue;  // out of memory: drop this one
        }
        SSL_set_accept_state(conn->ssl.get());
        conn->state = State::kHandshake;
      }
      const uint64_t id = next_id_++;
      if (!Ctl(EPOLL_CTL_ADD, fd.get(), EPOLLIN, id)) continue;
      conn->fd = std::move(fd);
      conn->id = id;
      conn->peer = std::move(peer);
      conn->events = EPOLLIN;
      conn->deadline = now + absl::ToChronoNanoseconds(options_.limits.request_timeout);
      ++per_peer_[conn->peer];
      accepted_.fetch_add(1, std::memory_order_relaxed);
      conns_.emplace(id, std::move(conn));
      open_.store(conns_.size(), std::memory_order_relaxed);
      // Nothing is read yet: the first readiness event drives the machine.
    }
  }

  // A connection over a cap: best-effort 503 on plain HTTP (never waits),
  // then closed. TLS connections are just closed (no handshake is spent).
  void Refuse(Fd& fd) {
    if (ssl_ == nullptr) {
      // Take what already arrived (usually the whole request), so that the
      // close is a FIN after the 503 rather than a reset that drops it.
      std::array<char, kReadChunk> sink{};
      (void)::recv(fd.get(), sink.data(), sink.size(), MSG_DONTWAIT);
      (void)::send(fd.get(), kBusyResponse.data(), kBusyResponse.size(),
                   MSG_DONTWAIT | MSG_NOSIGNAL);
      ::shutdown(fd.get(), SHUT_WR);
    }
    fd.Reset();
  }

  using ConnMap = std::unordered_map<uint64_t, std::unique_ptr<Conn>>;

  ConnMap::iterator Close(ConnMap::iterator it) {
    Conn& c = *it->second;
    auto peer = per_peer_.find(c.peer);
    if (peer != per_peer_.end() && --peer->second == 0) per_peer_.erase(peer);
    // Closing the socket (in ~Conn) removes it from the epoll set.
    auto next = conns_.erase(it);
    open_.store(conns_.size(), std::memory_order_relaxed);
    return next;
  }

  Io ReadSome(Conn& c, char* buf, size_t cap, size_t* n) {
    if (c.ssl != nullptr) {
      ERR_clear_error();
      const int r = SSL_read(c.ssl.get(), buf, static_cast<int>(cap));
      if (r > 0) {
        *n = static_cast<size_t>(r);
        return Io::kOk;
      }
      return SslIo(c, r);
    }
    for (;;) {
      const ssize_t r = ::recv(c.fd.get(), buf, cap, 0);
      if (r > 0) {
        *n = static_cast<size_t>(r);
        return Io::kOk;
      }
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Io::kWantRead;
      return Io::kClosed;
    }
  }

  Io WriteSome(Conn& c, const char* data, size_t size, size_t* n) {
    if (c.ssl != nullptr) {
      ERR_clear_error();
      const int r = SSL_write(c.ssl.get(), data, static_cast<int>(std::min<size_t>(size, 1 << 20)));
      if (r > 0) {
        *n = static_cast<size_t>(r);
        return Io::kOk;
      }
      return SslIo(c, r);
    }
    for (;;) {
      const ssize_t r = ::send(c.fd.get(), data, size, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (r >= 0) {
        *n = static_cast<size_t>(r);
        return Io::kOk;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return Io::kWantWrite;
      return Io::kClosed;
    }
  }

  static Io SslIo(Conn& c, int r) {
    const int err = SSL_get_error(c.ssl.get(), r);
    ERR_clear_error();
    if (err == SSL_ERROR_WANT_READ) return Io::kWantRead;
    if (err == SSL_ERROR_WANT_WRITE) return Io::kWantWrite;
    return Io::kClosed;
  }

  // Runs the state machine as far as the socket allows.
  Next Advance(Conn& c, SteadyTime now) {
    for (;;) {
      switch (c.state) {
        case State::kHandshake: {
          ERR_clear_error();
          const int r = SSL_do_handshake(c.ssl.get());
          if (r == 1) {
            c.state = State::kRead;
            continue;
          }
          const Io io = SslIo(c, r);
          if (io == Io::kWantRead) return SetInterest(c, EPOLLIN);
          if (io == Io::kWantWrite) return SetInterest(c, EPOLLOUT);
          tls_failures_.fetch_add(1, std::memory_order_relaxed);
          return Next::kClose;
        }
        case State::kRead: {
          std::array<char, kReadChunk> buf{};
          // At most one byte beyond the cap, enough to know it was exceeded.
          const size_t room = options_.limits.max_request_bytes + 1 - c.in.size();
          size_t n = 0;
          const Io io = ReadSome(c, buf.data(), std::min(buf.size(), room), &n);
          if (io == Io::kWantRead) return SetInterest(c, EPOLLIN);
          if (io == Io::kWantWrite) return SetInterest(c, EPOLLOUT);
          if (io == Io::kClosed) return Next::kClose;  // gave up before a full request
          const size_t from = c.in.size() >= 3 ? c.in.size() - 3 : 0;
          c.in.append(buf.data(), n);
          const size_t end = FindHeaderEnd(c.in, from);
          if (end != std::string::npos) {
            Respond(c, std::string_view(c.in).substr(0, end));
          } else if (c.in.size() > options_.limits.max_request_bytes) {
            bad_requests_.fetch_add(1, std::memory_order_relaxed);
            Queue(c, Text(431, "request header too large\n"), "");
          }
          continue;
        }
        case State::kWrite: {
          while (c.out_off < c.out.size()) {
            size_t n = 0;
            const Io io = WriteSome(c, c.out.data() + c.out_off, c.out.size() - c.out_off, &n);
            if (io == Io::kWantWrite) return SetInterest(c, EPOLLOUT);
            if (io == Io::kWantRead) return SetInterest(c, EPOLLIN);
            if (io == Io::kClosed) return Next::kClose;
            c.out_off += n;
          }
          if (c.ssl != nullptr) {
            ERR_clear_error();
            (void)SSL_shutdown(c.ssl.get());  // close_notify, best effort
            ERR_clear_error();
          }
          ::shutdown(c.fd.get(), SHUT_WR);
          c.state = State::kLinger;
          c.deadline = now + kLinger;
          c.in.clear();
          c.in.shrink_to_fit();
          c.out.clear();
          c.out.shrink_to_fit();
          continue;
        }
        case State::kLinger: {
          std::array<char, kReadChunk> buf{};
          for (;;) {
            const ssize_t r = ::recv(c.fd.get(), buf.data(), buf.size(), 0);
            if (r > 0) {
              c.lingered += static_cast<size_t>(r);
              if (c.lingered > kMaxLingerBytes) return Next::kClose;
              continue;
            }
            if (r < 0 && errno == EINTR) continue;
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
              return SetInterest(c, EPOLLIN);
            }
            return Next::kClose;  // EOF or error: done
          }
        }
      }
    }
  }

  Next SetInterest(Conn& c, uint32_t events) {
    if (c.events != events) {
      epoll_event ev{};
      ev.events = events;
      ev.data.u64 = c.id;
      if (::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.fd.get(), &ev) != 0) return Next::kClose;
      c.events = events;
    }
    return Next::kKeep;
  }

  void Respond(Conn& c, std::string_view head) {
    const RequestLine line = ParseRequestLine(head);
    if (line.error != 0) {
      bad_requests_.fetch_add(1, std::memory_order_relaxed);
      Queue(c, Text(line.error, absl::StrCat(ReasonPhrase(line.error), "\n")), "");
      return;
    }
    if (line.method != "GET") {
      Queue(c, HttpReply{405, "text/plain; charset=utf-8", ""}, "Allow: GET\r\n");
      return;
    }
    auto route = options_.routes.find(std::string(line.path));
    if (route == options_.routes.end()) {
      Queue(c, Text(404, "not found\n"), "");
      return;
    }
    Queue(c, route->second(), "");
  }

  void Queue(Conn& c, const HttpReply& reply, std::string_view extra_headers) {
    c.out = FormatResponse(reply, extra_headers);
    c.out_off = 0;
    c.state = State::kWrite;
    responses_.fetch_add(1, std::memory_order_relaxed);
  }

  const BoundedHttpOptions options_;
  Fd listen_;
  Fd epoll_;
  Fd wake_;
  const SslCtxPtr ssl_;
  const int port_;

  // Loop thread only.
  ConnMap conns_;
  std::unordered_map<std::string, size_t> per_peer_;
  uint64_t next_id_ = 2;
  bool accept_paused_ = false;
  SteadyTime accept_resume_;

  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> refused_per_peer_{0};
  std::atomic<uint64_t> refused_global_{0};
  std::atomic<uint64_t> timed_out_{0};
  std::atomic<uint64_t> responses_{0};
  std::atomic<uint64_t> bad_requests_{0};
  std::atomic<uint64_t> tls_failures_{0};
  std::atomic<uint64_t> open_{0};

  absl::Mutex stop_mu_;
  std::thread thread_ ABSL_GUARDED_BY(stop_mu_);
};

// ---------------------------------------------------------------------------

BoundedHttpServer::BoundedHttpServer(std::unique_ptr<Loop> loop) : loop_(std::move(loop)) {}

BoundedHttpServer::~BoundedHttpServer() { Stop(); }

absl::StatusOr<std::unique_ptr<BoundedHttpServer>> BoundedHttpServer::Start(
    BoundedHttpOptions options) {
  const HttpLimits& limits = options.limits;
  if (limits.max_connections == 0 || limits.max_connections_per_peer == 0 ||
      limits.request_timeout <= absl::ZeroDuration() || limits.max_request_bytes < 64) {
    return absl::InvalidArgumentError(absl::StrCat(
        options.name, ": limits must be positive (max_request_bytes at least 64)"));
  }
  SslCtxPtr ssl;
  const attestation::v1::TlsConfig& tls = options.tls;
  if (!tls.cert_file().empty() || !tls.key_file().empty() || !tls.client_ca_file().empty()) {
    ASSIGN_OR_RETURN(ssl, MakeSslContext(tls, options.name));
  }
  ASSIGN_OR_RETURN(Fd listen, Listen(options.listen, options.name));
  const int port = BoundPort(listen.get());
  if (port <= 0) {
    return absl::InternalError(
        absl::StrCat(options.name, ": no listening port for ", options.listen));
  }
  Fd epoll(::epoll_create1(EPOLL_CLOEXEC));
  Fd wake(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (epoll.get() < 0 || wake.get() < 0) {
    return absl::InternalError(
        absl::StrCat(options.name, ": epoll/eventfd: ", std::strerror(errno)));
  }
  auto loop = std::make_unique<Loop>(std::move(options), std::move(listen), std::move(epoll),
                                     std::move(wake), std::move(ssl), port);
  RETURN_IF_ERROR(loop->Begin());
  return std::unique_ptr<BoundedHttpServer>(new BoundedHttpServer(std::move(loop)));
}

int BoundedHttpServer::port() const { return loop_->port(); }
bool BoundedHttpServer::tls() const { return loop_->tls(); }
HttpServerStats BoundedHttpServer::Stats() const { return loop_->Stats(); }
void BoundedHttpServer::Stop() { loop_->Stop(); }

// ---------------------------------------------------------------------------

// OpenID Connect Discovery 1.0 §3 metadata for a token issuer that is not
// an OpenID Provider (no authorization or token endpoint: tokens come from
// Attest), shaped like Kubernetes' service-account issuer discovery so that
// JWT/JWKS gates accept it: Vault JWT auth (oidc_discovery_url: `issuer`
// must equal that URL exactly), Trustee KBS trusted_jwk_sets (reads
// `jwks_uri`), GCP workload identity federation (docs/key-release.md).
// `id_token_signing_alg_values_supported` is exactly what the keys sign
// with (all keys share token.algorithm); `subject_types_supported` "public":
// `sub` is the same for every relying party ("tee:" + TEE key thumbprint).
std::string OpenIdConfigurationJson(const std::string& issuer, const std::string& jwks_uri,
                                    const std::string& signing_algorithm) {
  nlohmann::json j;
  j["issuer"] = issuer;
  j["jwks_uri"] = jwks_uri;
  j["response_types_supported"] = {"id_token"};
  j["subject_types_supported"] = {"public"};
  j["id_token_signing_alg_values_supported"] = {signing_algorithm};
  j["claims_supported"] = {"iss",        "sub",         "aud",         "iat",
                           "nbf",        "exp",         "jti",         "cnf",
                           "eat_profile", "eat_nonce",  "ear.status",  "ear.verifier-id",
                           "submods",    "policy",      "binding",     "reasons"};
  return j.dump();
}

// What the routes read: the callbacks, and the metadata document, which
// needs the bound port and so is set after the server started.
struct HttpServer::Shared {
  std::function<bool()> ready;
  std::function<std::string()> jwks_json;
  absl::Mutex mu;
  std::string openid ABSL_GUARDED_BY(mu);
};

HttpServer::HttpServer(std::shared_ptr<Shared> shared, std::unique_ptr<BoundedHttpServer> server)
    : shared_(std::move(shared)), server_(std::move(server)) {}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Stop() { server_->Stop(); }

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(HttpServerOptions options) {
  if (!options.jwks_json) {
    return absl::InvalidArgumentError("http: jwks_json callback missing");
  }
  auto hp = ParseHostPort(options.listen);
  if (!hp.ok()) return Annotate(hp.status(), "http_listen");

  auto shared = std::make_shared<Shared>();
  shared->ready = std::move(options.ready);
  shared->jwks_json = std::move(options.jwks_json);

  BoundedHttpOptions bounded;
  bounded.name = "http";
  bounded.listen = options.listen;
  bounded.tls = options.tls;
  bounded.limits = options.limits;
  // The routes hold the shared state, so it outlives the loop thread.
  bounded.routes["/healthz"] = [] { return Text(200, "ok\n"); };
  bounded.routes["/readyz"] = [shared] {
    if (shared->ready && shared->ready()) return Text(200, "ready\n");
    return Text(503, "not ready\n");
  };
  bounded.routes[kJwksPath] = [shared] {
    return HttpReply{200, "application/json", shared->jwks_json()};
  };
  bounded.routes[kOpenIdPath] = [shared] {
    absl::MutexLock l(&shared->mu);
    if (shared->openid.empty()) return Text(503, "starting\n");
    return HttpReply{200, "application/json", shared->openid};
  };
  ASSIGN_OR_RETURN(std::unique_ptr<BoundedHttpServer> server,
                   BoundedHttpServer::Start(std::move(bounded)));

  const std::string& issuer = options.issuer;
  std::string base;
  if (absl::StartsWith(issuer, "https://") || absl::StartsWith(issuer, "http://")) {
    base = issuer;
    while (!base.empty() && base.back() == '/') base.pop_back();
  } else {
    base = absl::StrCat(server->tls() ? "https://" : "http://", hp->host, ":", server->port());
  }
  {
    absl::MutexLock l(&shared->mu);
    shared->openid = OpenIdConfigurationJson(issuer.empty() ? base : issuer,
                                             base + kJwksPath, options.signing_algorithm);
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(shared), std::move(server)));
}

}  // namespace rp::server
