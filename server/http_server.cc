#include "server/http_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
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
#include <deque>
#include <optional>
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
#include "verifier/common/encoding.h"
#include "verifier/common/status_macros.h"
#include "verifier/crypto/digest.h"
#include "verifier/crypto/openssl_error.h"
#include "verifier/crypto/x509.h"
#include "verifier/common/absl_view.h"

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

const char* ReasonPhrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 499: return "Client Closed Request";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

bool IsTchar(char c);
std::string Lower(std::string_view s);

// A header the handler may set: a token name that is not one the server
// writes itself, and a value without CR, LF or NUL.
bool UsableHeader(const std::string& name, const std::string& value) {
  if (name.empty() || !std::all_of(name.begin(), name.end(), IsTchar)) return false;
  const std::string lower = Lower(name);
  if (lower == "content-type" || lower == "content-length" || lower == "connection" ||
      lower == "transfer-encoding" || lower == "cache-control" ||
      lower == "x-content-type-options") {
    return false;
  }
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos;
}

std::string FormatResponse(const HttpReply& reply) {
  std::string extra;
  for (const auto& [name, value] : reply.headers) {
    if (UsableHeader(name, value)) absl::StrAppend(&extra, name, ": ", value, "\r\n");
  }
  const std::string content_type =
      reply.content_type.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos
          ? reply.content_type
          : "application/octet-stream";
  return absl::StrCat("HTTP/1.1 ", reply.status, " ", ReasonPhrase(reply.status),
                      "\r\nContent-Type: ", content_type,
                      "\r\nContent-Length: ", reply.body.size(),
                      "\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n",
                      extra, "Connection: close\r\n\r\n", reply.body);
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
  std::string_view query;
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
    out.error = absl::StartsWith(AbslView(version), "HTTP/") ? 505 : 400;
    return out;
  }
  const size_t path_end = target.find_first_of("?#");
  out.path = target.substr(0, path_end);
  if (path_end != std::string_view::npos && target[path_end] == '?') {
    const std::string_view rest = target.substr(path_end + 1);
    out.query = rest.substr(0, rest.find('#'));
  }
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

bool IsTchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// The header lines after the request line (the head ends with an empty
// line). Strict: "name: value" with a token name and no blank before the
// colon; obsolete line folding, control characters in values (other than
// HT) and lines without a colon are errors (false).
bool ParseHeaderLines(std::string_view head,
                      std::vector<std::pair<std::string, std::string>>* out) {
  size_t pos = head.find('\n');
  if (pos == std::string_view::npos) return false;
  ++pos;
  while (pos < head.size()) {
    size_t eol = head.find('\n', pos);
    if (eol == std::string_view::npos) eol = head.size();
    std::string_view line = head.substr(pos, eol - pos);
    pos = eol + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;  // the blank line ending the head
    if (line.front() == ' ' || line.front() == '\t') return false;  // obs-fold
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    const std::string_view name = line.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), IsTchar)) return false;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (!std::all_of(value.begin(), value.end(), [](char c) {
          const auto u = static_cast<unsigned char>(c);
          return u == '\t' || (u >= 0x20 && u != 0x7f);
        })) {
      return false;
    }
    out->emplace_back(Lower(name), std::string(value));
  }
  return true;
}

// A decimal Content-Length (at most 18 digits, so it fits any size_t here).
std::optional<size_t> ParseContentLength(std::string_view v) {
  if (v.empty() || v.size() > 18 ||
      !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  size_t n = 0;
  for (char c : v) n = n * 10 + static_cast<size_t>(c - '0');
  return n;
}

// gRPC's peer-string form ("ipv4:1.2.3.4:5", "ipv6:[::1]:5"), so that the
// audit lines of both ports read alike.
PeerInfo PeerFromSockaddr(const sockaddr_storage& addr) {
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);  // NOLINT: sockaddr API
    ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    return PeerFromString(absl::StrCat("ipv4:", text, ":", ntohs(in->sin_port)));
  }
  if (addr.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);  // NOLINT: sockaddr API
    ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
    return PeerFromString(absl::StrCat("ipv6:[", text, "]:", ntohs(in6->sin6_port)));
  }
  return PeerInfo{};
}

// The verified client certificate (mTLS) as PeerFromContext reports it for
// gRPC: SHA-256 of the leaf DER, CN, RFC 2253 subject and the DNS, URI,
// email and IP SANs.
void AddClientCertificate(SSL* ssl, PeerInfo* peer) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return;
  peer->cert_sha256 = HexEncode(crypto::Sha256(crypto::CertificateDer(cert)));
  peer->common_name = crypto::SubjectCommonName(cert);
  if (BIO* bio = BIO_new(BIO_s_mem()); bio != nullptr) {
    if (X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) >= 0) {
      char* data = nullptr;
      const long n = BIO_get_mem_data(bio, &data);  // NOLINT(google-runtime-int): OpenSSL API
      if (n > 0 && data != nullptr) peer->subject.assign(data, static_cast<size_t>(n));
    }
    BIO_free(bio);
  }
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
      const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
      const ASN1_STRING* s = nullptr;
      switch (g->type) {
        case GEN_DNS: s = g->d.dNSName; break;
        case GEN_URI: s = g->d.uniformResourceIdentifier; break;
        case GEN_EMAIL: s = g->d.rfc822Name; break;
        case GEN_IPADD: {
          char ip[INET6_ADDRSTRLEN] = {};
          const int len = ASN1_STRING_length(g->d.iPAddress);
          const unsigned char* p = ASN1_STRING_get0_data(g->d.iPAddress);
          if ((len == 4 && ::inet_ntop(AF_INET, p, ip, sizeof(ip)) != nullptr) ||
              (len == 16 && ::inet_ntop(AF_INET6, p, ip, sizeof(ip)) != nullptr)) {
            peer->sans.emplace_back(ip);
          }
          continue;
        }
        default: continue;
      }
      if (s != nullptr) {
        peer->sans.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),  // NOLINT
                                static_cast<size_t>(ASN1_STRING_length(s)));
      }
    }
    GENERAL_NAMES_free(names);
  }
  ERR_clear_error();
}

// The pool that runs kWorker handlers. Jobs wait in a bounded queue; a
// finished job's reply is queued for the loop, which `notify` wakes.
class WorkerPool {
 public:
  struct Job {
    uint64_t conn_id = 0;
    const HttpHandler* handler = nullptr;
    HttpRequest request;
    size_t reserved = 0;  // body bytes the loop accounted for this job
    std::string peer;     // ... under this peer key
  };
  struct Done {
    uint64_t conn_id = 0;
    HttpReply reply;
    bool threw = false;
    size_t reserved = 0;
    std::string peer;
  };

  WorkerPool(size_t threads, size_t queue_cap, std::function<void()> notify)
      : threads_(threads), queue_cap_(queue_cap), notify_(std::move(notify)) {}
  ~WorkerPool() { Stop(); }

  void Start() {
    absl::MutexLock l(&mu_);
    for (size_t i = 0; i < threads_; ++i) workers_.emplace_back([this] { Work(); });
  }

  // False (and `job` untouched) when the queue is full or the pool stops.
  bool TrySubmit(Job& job) {
    absl::MutexLock l(&mu_);
    if (stopping_ || queue_.size() >= queue_cap_) return false;
    queue_.push_back(std::move(job));
    return true;
  }

  std::vector<Done> TakeDone() {
    absl::MutexLock l(&mu_);
    return std::exchange(done_, {});
  }

  // Drops queued jobs and waits for the running ones. Idempotent.
  void Stop() {
    std::vector<std::thread> workers;
    {
      absl::MutexLock l(&mu_);
      stopping_ = true;
      queue_.clear();
      workers.swap(workers_);
    }
    for (std::thread& t : workers) t.join();
  }

 private:
  void Work() {
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);
    for (;;) {
      Job job;
      {
        absl::MutexLock l(&mu_);
        mu_.Await(absl::Condition(
            +[](WorkerPool* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) {
              return p->stopping_ || !p->queue_.empty();
            },
            this));
        if (stopping_) return;
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      Done done;
      done.conn_id = job.conn_id;
      done.reserved = job.reserved;
      done.peer = std::move(job.peer);
      try {
        done.reply = (*job.handler)(job.request);
      } catch (...) {
        done.threw = true;
      }
      job.request = HttpRequest{};  // free the body before the loop is told
      {
        absl::MutexLock l(&mu_);
        done_.push_back(std::move(done));
      }
      notify_();
    }
  }

  const size_t threads_;
  const size_t queue_cap_;
  const std::function<void()> notify_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<Job> queue_ ABSL_GUARDED_BY(mu_);
  std::vector<Done> done_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> workers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

// ---------------------------------------------------------------------------
// The event loop. Every connection is a small state machine driven by epoll
// readiness (level-triggered):
//   kHandshake (TLS only) -> kRead -> [kContinue] -> [kBody] -> [kWork]
//     -> kWrite -> kLinger -> closed
// Deadlines: request_timeout from accept for the handshake and the header;
// body_timeout from accept for a request body; handler_timeout from the
// hand-over to the worker pool (kWork); request_timeout again for writing
// a reply produced by a worker; kLinger for the last state.

class BoundedHttpServer::Loop {
 public:
  // An endpoint as the loop matches it (the GET routes map included).
  struct Route {
    std::string method;
    HttpPath path;
    HttpRunOn run_on = HttpRunOn::kLoop;
    size_t max_body_bytes = 0;  // resolved (never 0)
    HttpHandler handler;
  };

  Loop(BoundedHttpOptions options, Fd listen, Fd epoll, Fd wake, SslCtxPtr ssl, int port)
      : options_(std::move(options)),
        listen_(std::move(listen)),
        epoll_(std::move(epoll)),
        wake_(std::move(wake)),
        ssl_(std::move(ssl)),
        port_(port) {
    const size_t default_body = options_.limits.max_body_bytes != 0
                                    ? options_.limits.max_body_bytes
                                    : options_.limits.max_request_bytes;
    for (const auto& [path, route] : options_.routes) {
      routes_.push_back(Route{"GET", HttpPath::Exact(path), HttpRunOn::kLoop, default_body,
                              [route = route](const HttpRequest&) { return route(); }});
    }
    bool workers = false;
    size_t largest_body = default_body;
    for (const HttpEndpoint& e : options_.endpoints) {
      routes_.push_back(Route{e.method, e.path, e.run_on,
                              e.max_body_bytes != 0 ? e.max_body_bytes : default_body,
                              e.handler});
      workers = workers || e.run_on == HttpRunOn::kWorker;
      largest_body = std::max(largest_body, routes_.back().max_body_bytes);
    }
    peer_body_budget_ = options_.limits.max_inflight_body_bytes_per_peer != 0
                            ? options_.limits.max_inflight_body_bytes_per_peer
                            : std::max(options_.limits.max_inflight_body_bytes / 4, largest_body);
    if (workers) {
      pool_ = std::make_unique<WorkerPool>(options_.limits.worker_threads,
                                           options_.limits.worker_queue, [this] { Wake(); });
    }
  }

  ~Loop() { Stop(); }

  absl::Status Begin() {
    if (!Ctl(EPOLL_CTL_ADD, listen_.get(), EPOLLIN, kListenId) ||
        !Ctl(EPOLL_CTL_ADD, wake_.get(), EPOLLIN, kWakeId)) {
      return absl::InternalError(
          absl::StrCat(options_.name, ": epoll_ctl: ", std::strerror(errno)));
    }
    if (pool_ != nullptr) pool_->Start();
    absl::MutexLock l(&stop_mu_);
    thread_ = std::thread([this] { Run(); });
    return absl::OkStatus();
  }

  void Stop() {
    absl::MutexLock l(&stop_mu_);
    if (thread_.joinable()) {
      stopping_.store(true);
      Wake();
      thread_.join();
    }
    // After the loop: running handlers finish, their replies are dropped.
    if (pool_ != nullptr) pool_->Stop();
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
    s.bodies_too_large = too_large_.load(std::memory_order_relaxed);
    s.busy = busy_.load(std::memory_order_relaxed);
    s.handler_timeouts = handler_timeouts_.load(std::memory_order_relaxed);
    s.worker_requests = worker_requests_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  static constexpr uint64_t kListenId = 0;
  static constexpr uint64_t kWakeId = 1;

  enum class State { kHandshake, kRead, kContinue, kBody, kWork, kWrite, kLinger };
  enum class Io { kOk, kWantRead, kWantWrite, kClosed };
  enum class Next { kKeep, kClose };

  // Members in this order so that the SSL object is freed before its socket
  // is closed.
  struct Conn {
    Fd fd;
    SslPtr ssl;
    uint64_t id = 0;
    std::string peer;   // connection-cap key (PeerKey)
    PeerInfo peer_info;  // what handlers see (the certificate is added later)
    State state = State::kRead;
    SteadyTime accepted;
    SteadyTime deadline;
    uint32_t events = 0;
    std::string in;
    std::string out;
    size_t out_off = 0;
    size_t lingered = 0;
    // The request being received (set once its head is complete).
    const Route* route = nullptr;
    HttpRequest request;
    size_t head_len = 0;
    size_t body_len = 0;
    size_t reserved = 0;  // body bytes counted in inflight_body_ for this connection
  };

  void Wake() {
    const uint64_t one = 1;
    while (::write(wake_.get(), &one, sizeof(one)) < 0 && errno == EINTR) {
    }
  }

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
      bool woken = false;
      for (int i = 0; i < n; ++i) {
        const uint64_t id = events[static_cast<size_t>(i)].data.u64;
        if (id == kWakeId) {
          woken = true;  // stop (checked by the loop condition) or replies
          continue;
        }
        if (id == kListenId) {
          accept_ready = true;
          continue;
        }
        auto it = conns_.find(id);
        if (it == conns_.end()) continue;
        Conn& c = *it->second;
        const uint32_t ev = events[static_cast<size_t>(i)].events;
        // Waiting for a worker, nothing is read; a connection the client
        // dropped is closed (level-triggered HUP would otherwise repeat).
        if ((ev & EPOLLERR) != 0 || (c.state == State::kWork && (ev & EPOLLHUP) != 0) ||
            Advance(c, after) == Next::kClose) {
          Close(it);
        }
      }
      if (woken) {
        uint64_t count = 0;
        while (::read(wake_.get(), &count, sizeof(count)) < 0 && errno == EINTR) {
        }
        TakeReplies(after);
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

  // Replies from the worker pool: queued on their connection if it is
  // still waiting (one that timed out or closed meanwhile drops it).
  void TakeReplies(SteadyTime now) {
    if (pool_ == nullptr) return;
    for (WorkerPool::Done& done : pool_->TakeDone()) {
      Unreserve(done.peer, done.reserved);
      auto it = conns_.find(done.conn_id);
      if (it == conns_.end() || it->second->state != State::kWork) continue;
      Conn& c = *it->second;
      c.deadline = now + absl::ToChronoNanoseconds(options_.limits.request_timeout);
      if (done.threw) {
        QueueError(c, 500, kHttpInternal, "the handler failed");
      } else {
        Queue(c, done.reply);
      }
      if (Advance(c, now) == Next::kClose) Close(it);
    }
  }

  // Closes connections past their deadline (a request waiting for a worker
  // gets a 503 instead); returns the epoll timeout up to the next deadline
  // (at most 1 s) and resumes a paused accept.
  int ExpireAndNextTimeout(SteadyTime now) {
    if (accept_paused_ && now >= accept_resume_) {
      accept_paused_ = !Ctl(EPOLL_CTL_MOD, listen_.get(), EPOLLIN, kListenId);
    }
    SteadyTime next = now + milliseconds(1000);
    if (accept_paused_) next = std::min(next, accept_resume_);
    for (auto it = conns_.begin(); it != conns_.end();) {
      Conn& c = *it->second;
      if (now >= c.deadline && c.state == State::kWork) {
        handler_timeouts_.fetch_add(1, std::memory_order_relaxed);
        c.deadline = now + absl::ToChronoNanoseconds(options_.limits.request_timeout);
        QueueError(c, 503, kHttpHandlerTimeout,
                   "the request was not handled in time; retry later", {{"Retry-After", "1"}});
        if (Advance(c, now) == Next::kClose) {
          it = Close(it);
          continue;
        }
      }
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
      conn->peer_info = PeerFromSockaddr(addr);
      conn->events = EPOLLIN;
      conn->accepted = now;
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
    Release(c);
    auto peer = per_peer_.find(c.peer);
    if (peer != per_peer_.end() && --peer->second == 0) per_peer_.erase(peer);
    // Closing the socket (in ~Conn) removes it from the epoll set.
    auto next = conns_.erase(it);
    open_.store(conns_.size(), std::memory_order_relaxed);
    return next;
  }

  // Gives back the connection's share of the body budget.
  void Release(Conn& c) {
    Unreserve(c.peer, c.reserved);
    c.reserved = 0;
  }

  void Unreserve(const std::string& peer, size_t bytes) {
    if (bytes == 0) return;
    inflight_body_ -= std::min(inflight_body_, bytes);
    auto it = peer_body_.find(peer);
    if (it == peer_body_.end()) return;
    it->second -= std::min(it->second, bytes);
    if (it->second == 0) peer_body_.erase(it);
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

  // Writes c.out from c.out_off: kOk once all of it is out.
  Io Flush(Conn& c) {
    while (c.out_off < c.out.size()) {
      size_t n = 0;
      const Io io = WriteSome(c, c.out.data() + c.out_off, c.out.size() - c.out_off, &n);
      if (io != Io::kOk) return io;
      c.out_off += n;
    }
    return Io::kOk;
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
            OnHead(c, end, now);
          } else if (c.in.size() > options_.limits.max_request_bytes) {
            bad_requests_.fetch_add(1, std::memory_order_relaxed);
            Queue(c, Text(431, "request header too large\n"));
          }
          continue;
        }
        case State::kContinue: {  // "100 Continue", then the body
          const Io io = Flush(c);
          if (io == Io::kWantWrite) return SetInterest(c, EPOLLOUT);
          if (io == Io::kWantRead) return SetInterest(c, EPOLLIN);
          if (io == Io::kClosed) return Next::kClose;
          c.out.clear();
          c.out_off = 0;
          c.state = State::kBody;
          continue;
        }
        case State::kBody: {
          const size_t want = c.head_len + c.body_len;
          if (c.in.size() >= want) {
            Dispatch(c, now);
            continue;
          }
          std::array<char, kReadChunk> buf{};
          size_t n = 0;
          const Io io = ReadSome(c, buf.data(), std::min(buf.size(), want - c.in.size()), &n);
          if (io == Io::kWantRead) return SetInterest(c, EPOLLIN);
          if (io == Io::kWantWrite) return SetInterest(c, EPOLLOUT);
          if (io == Io::kClosed) return Next::kClose;  // gave up before the whole body
          c.in.append(buf.data(), n);
          continue;
        }
        case State::kWork:
          // A worker has the request; its reply (TakeReplies) or the
          // handler deadline moves on. Nothing is read meanwhile.
          return SetInterest(c, 0);
        case State::kWrite: {
          const Io io = Flush(c);
          if (io == Io::kWantWrite) return SetInterest(c, EPOLLOUT);
          if (io == Io::kWantRead) return SetInterest(c, EPOLLIN);
          if (io == Io::kClosed) return Next::kClose;
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

  // The endpoint for (method, path): an exact path first, then patterns in
  // order. nullptr with *allow listing the methods the path has (405), or
  // empty (404).
  const Route* FindRoute(std::string_view method, std::string_view path, std::string* param,
                         std::string* allow) const {
    for (const bool exact : {true, false}) {
      for (const Route& r : routes_) {
        if (r.path.exact != exact) continue;
        const std::optional<std::string_view> m = r.path.Match(path);
        if (!m.has_value()) continue;
        if (r.method == method) {
          *param = std::string(*m);
          return &r;
        }
        if (!absl::StrContains(AbslView(*allow), AbslView(r.method))) {
          absl::StrAppend(allow, allow->empty() ? "" : ", ", AbslView(r.method));
        }
      }
    }
    return nullptr;
  }

  // The head (request line + headers) is complete: route, check the body
  // framing, and either answer, dispatch or go on to read the body.
  void OnHead(Conn& c, size_t head_end, SteadyTime now) {
    const std::string_view head = std::string_view(c.in).substr(0, head_end);
    const RequestLine line = ParseRequestLine(head);
    if (line.error != 0) {
      bad_requests_.fetch_add(1, std::memory_order_relaxed);
      Queue(c, Text(line.error, absl::StrCat(ReasonPhrase(line.error), "\n")));
      return;
    }
    HttpRequest& req = c.request;
    if (!ParseHeaderLines(head, &req.headers)) {
      bad_requests_.fetch_add(1, std::memory_order_relaxed);
      QueueError(c, 400, kHttpBadRequest, "malformed header line");
      return;
    }
    std::string allow;
    const Route* route = FindRoute(line.method, line.path, &req.path_param, &allow);
    if (route == nullptr) {
      if (allow.empty()) {
        QueueError(c, 404, kHttpNotFound, "not found");
      } else {
        QueueError(c, 405, kHttpMethodNotAllowed,
                   absl::StrCat(AbslView(line.method), " is not allowed here; allowed: ", allow),
                   {{"Allow", allow}});
      }
      return;
    }
    req.method = std::string(line.method);
    req.path = std::string(line.path);
    req.query = std::string(line.query);
    req.peer = c.peer_info;
    if (c.ssl != nullptr) AddClientCertificate(c.ssl.get(), &req.peer);
    if (!options_.trusted_proxies.empty()) {
      // Behind our load balancer: the client it saw (server/peer.h).
      std::string xff;
      for (const auto& [name, value] : req.headers) {
        if (name != "x-forwarded-for") continue;
        if (!xff.empty()) xff += ",";
        xff += value;
      }
      req.peer = ApplyForwardedFor(std::move(req.peer), xff, options_.trusted_proxies);
    }
    c.route = route;
    c.head_len = head_end;
    c.body_len = 0;
    if (route->method != "POST") {  // GET: no body is read
      Dispatch(c, now);
      return;
    }
    // Content-Length only: a Transfer-Encoding (chunked) body has no size
    // known in advance, and both together are a smuggling attempt.
    const std::string* te = req.Header("transfer-encoding");
    size_t lengths = 0;
    std::optional<size_t> length = 0;
    for (const auto& [name, value] : req.headers) {
      if (name == "content-length") {
        ++lengths;
        length = ParseContentLength(value);
      }
    }
    if (te != nullptr && lengths > 0) {
      bad_requests_.fetch_add(1, std::memory_order_relaxed);
      QueueError(c, 400, kHttpBadRequest, "both Transfer-Encoding and Content-Length");
      return;
    }
    if (te != nullptr) {
      bad_requests_.fetch_add(1, std::memory_order_relaxed);
      QueueError(c, 411, kHttpLengthRequired,
                 "Transfer-Encoding is not accepted; send the body with a Content-Length");
      return;
    }
    if (lengths > 1 || !length.has_value()) {
      bad_requests_.fetch_add(1, std::memory_order_relaxed);
      QueueError(c, 400, kHttpBadRequest, "Content-Length must be one decimal number");
      return;
    }
    if (*length > route->max_body_bytes) {
      too_large_.fetch_add(1, std::memory_order_relaxed);
      QueueError(c, 413, kHttpBodyTooLarge,
                 absl::StrCat("the body is ", *length, " bytes, limit ", route->max_body_bytes));
      return;
    }
    const auto peer_used = peer_body_.find(c.peer);
    const size_t peer_bytes = peer_used == peer_body_.end() ? 0 : peer_used->second;
    if (*length > options_.limits.max_inflight_body_bytes - inflight_body_ ||
        peer_bytes > peer_body_budget_ || *length > peer_body_budget_ - peer_bytes) {
      busy_.fetch_add(1, std::memory_order_relaxed);
      QueueError(c, 503, kHttpServerBusy, "too many request bodies in flight; retry later",
                 {{"Retry-After", "1"}});
      return;
    }
    bool send_continue = false;
    if (const std::string* expect = req.Header("expect"); expect != nullptr) {
      if (Lower(*expect) != "100-continue") {
        QueueError(c, 417, kHttpExpectationFailed, "only Expect: 100-continue is understood");
        return;
      }
      send_continue = c.in.size() - head_end < *length;
    }
    c.body_len = *length;
    c.reserved = *length;
    inflight_body_ += *length;
    if (*length > 0) peer_body_[c.peer] += *length;
    if (*length > 0) {
      c.deadline = c.accepted + absl::ToChronoNanoseconds(options_.limits.body_timeout);
    }
    if (send_continue) {
      c.out = "HTTP/1.1 100 Continue\r\n\r\n";
      c.out_off = 0;
      c.state = State::kContinue;
      return;
    }
    c.state = State::kBody;  // kBody dispatches as soon as the body is all in
  }

  // The request (head and body) is complete: run its handler here or hand
  // it to the pool.
  void Dispatch(Conn& c, SteadyTime now) {
    HttpRequest& req = c.request;
    if (c.body_len > 0) req.body = c.in.substr(c.head_len, c.body_len);
    c.in.clear();
    c.in.shrink_to_fit();
    const Route& route = *c.route;
    if (route.run_on == HttpRunOn::kLoop) {
      HttpReply reply;
      bool threw = false;
      try {
        reply = route.handler(req);
      } catch (...) {
        threw = true;
      }
      Release(c);
      req = HttpRequest{};
      if (threw) {
        QueueError(c, 500, kHttpInternal, "the handler failed");
      } else {
        Queue(c, reply);
      }
      return;
    }
    WorkerPool::Job job;
    job.conn_id = c.id;
    job.handler = &route.handler;
    job.request = std::move(req);
    job.reserved = c.reserved;
    job.peer = c.peer;
    req = HttpRequest{};
    if (!pool_->TrySubmit(job)) {
      Release(c);
      busy_.fetch_add(1, std::memory_order_relaxed);
      QueueError(c, 503, kHttpServerBusy, "all workers are busy; retry later",
                 {{"Retry-After", "1"}});
      return;
    }
    c.reserved = 0;  // the job's now; given back when its reply arrives
    worker_requests_.fetch_add(1, std::memory_order_relaxed);
    c.state = State::kWork;
    c.deadline = now + absl::ToChronoNanoseconds(options_.limits.handler_timeout);
  }

  // An error the server answers itself, in the configured format.
  void QueueError(Conn& c, int status, std::string_view code, std::string_view detail,
                  std::vector<std::pair<std::string, std::string>> headers = {}) {
    HttpReply reply = options_.error_reply ? options_.error_reply(status, code, detail)
                                           : Text(status, absl::StrCat(AbslView(detail), "\n"));
    reply.status = status;
    for (auto& h : headers) reply.headers.push_back(std::move(h));
    Queue(c, reply);
  }

  void Queue(Conn& c, const HttpReply& reply) {
    c.out = FormatResponse(reply);
    c.out_off = 0;
    c.state = State::kWrite;
    responses_.fetch_add(1, std::memory_order_relaxed);
  }

  const BoundedHttpOptions options_;
  std::vector<Route> routes_;  // fixed after construction
  Fd listen_;
  Fd epoll_;
  Fd wake_;
  const SslCtxPtr ssl_;
  const int port_;
  std::unique_ptr<WorkerPool> pool_;  // only with kWorker endpoints

  // Loop thread only.
  ConnMap conns_;
  std::unordered_map<std::string, size_t> per_peer_;
  uint64_t next_id_ = 2;
  bool accept_paused_ = false;
  SteadyTime accept_resume_;
  size_t inflight_body_ = 0;
  std::unordered_map<std::string, size_t> peer_body_;  // inflight_body_ per peer key
  size_t peer_body_budget_ = 0;                         // fixed after construction

  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> refused_per_peer_{0};
  std::atomic<uint64_t> refused_global_{0};
  std::atomic<uint64_t> timed_out_{0};
  std::atomic<uint64_t> responses_{0};
  std::atomic<uint64_t> bad_requests_{0};
  std::atomic<uint64_t> tls_failures_{0};
  std::atomic<uint64_t> open_{0};
  std::atomic<uint64_t> too_large_{0};
  std::atomic<uint64_t> busy_{0};
  std::atomic<uint64_t> handler_timeouts_{0};
  std::atomic<uint64_t> worker_requests_{0};

  absl::Mutex stop_mu_;
  std::thread thread_ ABSL_GUARDED_BY(stop_mu_);
};

// ---------------------------------------------------------------------------

const char* HttpReasonPhrase(int status) { return ReasonPhrase(status); }

const std::string* HttpRequest::Header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (n == name) return &v;
  }
  return nullptr;
}

std::optional<std::string_view> HttpPath::Match(std::string_view path) const {
  if (exact) {
    if (path == prefix) return std::string_view();
    return std::nullopt;
  }
  if (path.size() <= prefix.size() + suffix.size()) return std::nullopt;  // middle non-empty
  if (path.substr(0, prefix.size()) != prefix ||
      path.substr(path.size() - suffix.size()) != suffix) {
    return std::nullopt;
  }
  return path.substr(prefix.size(), path.size() - prefix.size() - suffix.size());
}

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
  if (limits.body_timeout < limits.request_timeout || limits.handler_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        options.name, ": body_timeout must be at least request_timeout, handler_timeout positive"));
  }
  const size_t default_body =
      limits.max_body_bytes != 0 ? limits.max_body_bytes : limits.max_request_bytes;
  for (const HttpEndpoint& e : options.endpoints) {
    const std::string where = absl::StrCat(options.name, ": endpoint ", e.method, " ",
                                           e.path.prefix, e.path.exact ? "" : "{...}",
                                           e.path.suffix);
    if (e.method != "GET" && e.method != "POST") {
      return absl::InvalidArgumentError(absl::StrCat(where, ": method must be GET or POST"));
    }
    if (!e.handler) return absl::InvalidArgumentError(absl::StrCat(where, ": no handler"));
    if (e.path.prefix.empty() || e.path.prefix.front() != '/' ||
        (e.path.exact && !e.path.suffix.empty())) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": path must start with '/'"));
    }
    if ((e.max_body_bytes != 0 ? e.max_body_bytes : default_body) >
        limits.max_inflight_body_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": body cap above max_inflight_body_bytes"));
    }
    if (e.run_on == HttpRunOn::kWorker &&
        (limits.worker_threads == 0 || limits.worker_queue == 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": worker endpoints need worker_threads and worker_queue"));
    }
    for (const HttpEndpoint& other : options.endpoints) {
      if (&other == &e) break;
      if (other.method == e.method && other.path.exact && e.path.exact &&
          other.path.prefix == e.path.prefix) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": registered twice"));
      }
    }
    if (e.method == "GET" && e.path.exact && options.routes.contains(e.path.prefix)) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": also in routes"));
    }
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
                           "submods",    "policy",      "binding",     "reasons",
                           "token_profile", "appraisal_sha256"};
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
  bounded.trusted_proxies = options.trusted_proxies;
  bounded.name = "http";
  bounded.listen = options.listen;
  bounded.tls = options.tls;
  bounded.limits = options.limits;
  bounded.endpoints = std::move(options.endpoints);
  bounded.error_reply = std::move(options.error_reply);
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
