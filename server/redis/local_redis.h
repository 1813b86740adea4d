// Test fixture: a throwaway redis-server (Debian's redis-server 7.0) on a
// free loopback port, no persistence (--save '' --appendonly no), in a
// temporary directory. Kill() / Restart() (same port) let tests take Redis
// away and bring it back. Not for production code.
#ifndef RP_SERVER_REDIS_LOCAL_REDIS_H_
#define RP_SERVER_REDIS_LOCAL_REDIS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace rp::server::redis {

class LocalRedis {
 public:
  // `extra_args` go to redis-server, e.g. {"--requirepass", "x"}.
  static absl::StatusOr<std::unique_ptr<LocalRedis>> Start(
      std::vector<std::string> extra_args = {});
  ~LocalRedis();

  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  void Kill();               // SIGKILL, waits for the process
  absl::Status Restart();    // on the same port (empty: no persistence)

 private:
  LocalRedis() = default;
  absl::Status Spawn();

  std::string dir_;
  std::vector<std::string> extra_args_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// True when `redis-server` is on PATH.
bool RedisServerAvailable();

}  // namespace rp::server::redis

#endif  // RP_SERVER_REDIS_LOCAL_REDIS_H_
