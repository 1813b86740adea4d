#include "verifier/collateral/testing_http_server.h"

#include <CivetServer.h>
#include <civetweb.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace rp::collateral::testing {
namespace {

// One TCP connect to 127.0.0.1:port, closed at once.
void Poke(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): sockets API
  (void)::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  ::close(fd);
}

}  // namespace

class TestingHttpServer::Handler : public CivetHandler {
 public:
  explicit Handler(TestingHttpServer* owner) : owner_(owner) {}
  bool handlePost(CivetServer* server, mg_connection* conn) override {
    // Drain (bounded) and ignore the body; answer as for GET.
    char buf[4096];
    size_t total = 0;
    int n = 0;
    while (total < (1u << 20) && (n = mg_read(conn, buf, sizeof(buf))) > 0) {
      total += static_cast<size_t>(n);
    }
    return handleGet(server, conn);
  }
  bool handleGet(CivetServer* /*server*/, mg_connection* conn) override {
    const mg_request_info* info = mg_get_request_info(conn);  // owned by civetweb
    const std::string path = info->local_uri != nullptr ? info->local_uri : "";
    const std::string query = info->query_string != nullptr ? info->query_string : "";
    TestResponse r = owner_->Record(path, query);
    if (r.delay > absl::ZeroDuration()) absl::SleepFor(r.delay);
    if (r.hang) owner_->WaitForRelease();
    std::string head = absl::StrCat("HTTP/1.1 ", r.status, " X\r\nContent-Type: ", r.content_type,
                                    "\r\nContent-Length: ", r.body.size(),
                                    "\r\nConnection: close\r\n");
    for (const auto& [name, value] : r.headers) absl::StrAppend(&head, name, ": ", value, "\r\n");
    head += "\r\n";
    mg_write(conn, head.data(), head.size());
    if (!r.body.empty()) mg_write(conn, r.body.data(), r.body.size());
    return true;
  }

 private:
  TestingHttpServer* owner_;
};

absl::StatusOr<std::unique_ptr<TestingHttpServer>> TestingHttpServer::Start(int num_threads) {
  std::unique_ptr<TestingHttpServer> s(new TestingHttpServer());
  {
    absl::MutexLock l(&s->mu_);
    s->default_response_.status = 404;
    s->default_response_.body = "not found";
  }
  s->handler_ = std::make_unique<Handler>(s.get());
  const std::vector<std::string> options = {
      "listening_ports", "127.0.0.1:0", "num_threads", std::to_string(num_threads),
      "request_timeout_ms", "20000", "enable_keep_alive", "no"};
  try {
    s->server_ = std::make_unique<CivetServer>(options);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("testing http server: ", e.what()));
  }
  if (s->server_->getContext() == nullptr) {
    return absl::UnavailableError("testing http server: civetweb did not start");
  }
  s->server_->addHandler("/", s->handler_.get());
  std::vector<int> ports = s->server_->getListeningPorts();
  if (ports.empty() || ports[0] <= 0) {
    return absl::UnavailableError("testing http server: no listening port");
  }
  s->port_ = ports[0];
  return s;
}

TestingHttpServer::~TestingHttpServer() { Stop(); }

std::string TestingHttpServer::base_url() const { return absl::StrCat("http://127.0.0.1:", port_); }

void TestingHttpServer::SetResponse(const std::string& path, TestResponse response) {
  absl::MutexLock l(&mu_);
  responses_[path] = std::move(response);
}

void TestingHttpServer::SetDefaultResponse(TestResponse response) {
  absl::MutexLock l(&mu_);
  default_response_ = std::move(response);
}

void TestingHttpServer::ReleaseHangs() {
  absl::MutexLock l(&mu_);
  ++release_generation_;
}

void TestingHttpServer::Stop() {
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
    ++release_generation_;
  }
  if (server_ != nullptr) {
    // civetweb's master thread notices the stop flag only when its poll()
    // returns (2 s quantum); connecting wakes it so tests stay fast.
    std::atomic<bool> closed{false};
    std::thread poker([this, &closed] {
      while (!closed.load()) {
        absl::SleepFor(absl::Milliseconds(20));
        if (!closed.load()) Poke(port_);
      }
    });
    server_->close();  // joins worker threads
    closed.store(true);
    poker.join();
    server_.reset();
  }
}

TestResponse TestingHttpServer::Record(const std::string& path, const std::string& query) {
  absl::MutexLock l(&mu_);
  ++total_;
  ++counts_[path];
  last_uri_ = query.empty() ? path : absl::StrCat(path, "?", query);
  auto it = responses_.find(path);
  return it != responses_.end() ? it->second : default_response_;
}

void TestingHttpServer::WaitForRelease() {
  absl::MutexLock l(&mu_);
  const uint64_t gen = release_generation_;
  auto released = [this, gen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || release_generation_ != gen;
  };
  mu_.AwaitWithTimeout(absl::Condition(&released), kMaxHang);
}

int TestingHttpServer::RequestCount() const {
  absl::MutexLock l(&mu_);
  return total_;
}

int TestingHttpServer::RequestCount(const std::string& path) const {
  absl::MutexLock l(&mu_);
  auto it = counts_.find(path);
  return it == counts_.end() ? 0 : it->second;
}

std::string TestingHttpServer::LastRequestUri() const {
  absl::MutexLock l(&mu_);
  return last_uri_;
}

}  // namespace rp::collateral::testing
