#include "server/redis/local_redis.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace rp::server::redis {
namespace {

int FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

bool Accepts(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  close(fd);
  return ok;
}

}  // namespace

bool RedisServerAvailable() {
  return system("command -v redis-server >/dev/null 2>&1") == 0;
}

absl::StatusOr<std::unique_ptr<LocalRedis>> LocalRedis::Start(std::vector<std::string> extra_args) {
  if (!RedisServerAvailable()) {
    return absl::FailedPreconditionError(
        "redis-server is not installed (scripts/install_deps.sh installs it)");
  }
  std::unique_ptr<LocalRedis> r(new LocalRedis());
  char tmpl[] = "/tmp/rp_redis.XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return absl::InternalError("mkdtemp failed");
  r->dir_ = tmpl;
  r->extra_args_ = std::move(extra_args);
  for (int attempt = 0; attempt < 5; ++attempt) {
    r->port_ = FreeLoopbackPort();
    if (r->port_ == 0) continue;
    if (r->Spawn().ok()) return r;
  }
  return absl::UnavailableError("could not start redis-server on a free loopback port");
}

absl::Status LocalRedis::Spawn() {
  std::vector<std::string> args = {"redis-server", "--port", std::to_string(port_),
                                   "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                   "--dir", dir_, "--daemonize", "no", "--logfile",
                                   dir_ + "/redis.log", "--protected-mode", "yes"};
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execvp("redis-server", argv.data());
    _exit(127);
  }
  pid_ = pid;
  for (int i = 0; i < 200; ++i) {
    if (Accepts(port_)) return absl::OkStatus();
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::UnavailableError("redis-server exited at start (port taken?)");
    }
    absl::SleepFor(absl::Milliseconds(25));
  }
  Kill();
  return absl::DeadlineExceededError("redis-server did not accept connections in 5 s");
}

void LocalRedis::Kill() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
}

absl::Status LocalRedis::Restart() {
  Kill();
  absl::Status last;
  // The port may sit in TIME_WAIT briefly; redis sets SO_REUSEADDR, so
  // retries are for the rare slow exit.
  for (int attempt = 0; attempt < 20; ++attempt) {
    last = Spawn();
    if (last.ok()) return last;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return last;
}

LocalRedis::~LocalRedis() {
  Kill();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

}  // namespace rp::server::redis
