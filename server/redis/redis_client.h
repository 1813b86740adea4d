// A small, bounded, synchronous Redis client on hiredis 0.14 (Debian 12):
// the shared state of replicas (ARCHITECTURE §11, docs/scale-out.md).
//
// hiredis 0.14 has no TLS and no timeouts on its async API, so this uses the
// sync API: a fixed pool of contexts, each used by one thread at a time, with
// a connect timeout, a command timeout (socket read/write) and TCP
// keepalive. A context that saw any error is dropped and reconnected on next
// use. After `breaker_threshold` consecutive failures the client stops
// trying for a backoff (50 ms doubling to `max_backoff`): calls then fail
// fast with UNAVAILABLE instead of each waiting for a timeout, and the first
// call after the backoff is the probe that closes it again.
//
// Every error is UNAVAILABLE (Redis could not answer) except a reply of type
// error, which is returned as a Reply for the caller to judge. Callers of a
// single-use or limit store fail closed on UNAVAILABLE.
#ifndef RP_SERVER_REDIS_REDIS_CLIENT_H_
#define RP_SERVER_REDIS_REDIS_CLIENT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "verifier/common/clock.h"

struct redisContext;

namespace rp::server::redis {

struct RedisOptions {
  // "host:port" (IPv4, [IPv6] or a name) or "unix:/path/to/redis.sock".
  std::string address;
  std::string username;  // Redis 6+ ACL user; empty = the default user
  std::string password;  // empty = no AUTH
  int pool_size = 8;     // 1..64 contexts
  absl::Duration connect_timeout = absl::Milliseconds(200);
  absl::Duration command_timeout = absl::Milliseconds(100);
  // Consecutive failures that open the breaker, and its longest backoff.
  int breaker_threshold = 3;
  absl::Duration max_backoff = absl::Seconds(2);
};

// A reply copied out of hiredis (bounded: arrays of at most kMaxElements,
// nesting at most kMaxDepth; anything larger is an UNAVAILABLE error).
struct Reply {
  enum class Type { kString, kStatus, kInteger, kNil, kArray, kError };
  static constexpr size_t kMaxElements = 16384;
  static constexpr int kMaxDepth = 4;

  Type type = Type::kNil;
  std::string str;  // kString, kStatus, kError
  int64_t integer = 0;
  std::vector<Reply> elements;

  bool IsStatus(std::string_view s) const { return type == Type::kStatus && str == s; }
  std::string Describe() const;  // for error messages (bounded)
};

// Hooks for metrics (server/shared_store_metrics.h implements them).
class RedisObserver {
 public:
  virtual ~RedisObserver() = default;
  // After every command: whether Redis answered, and how long it took.
  virtual void OnCommand(bool answered, absl::Duration latency) = 0;
  // When reachability changes (first answer after failures, first failure
  // after answers).
  virtual void OnUp(bool up) = 0;
};

// Thread-safe.
class RedisClient {
 public:
  // Parses the address and allocates the pool. Does not connect (Ping does).
  // `observer` may be null; both must outlive the client.
  static absl::StatusOr<std::unique_ptr<RedisClient>> Create(RedisOptions options,
                                                             const Clock& clock,
                                                             RedisObserver* observer = nullptr);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // One command, binary safe (redisCommandArgv). UNAVAILABLE when Redis
  // could not be reached or did not answer in time (or the breaker is open).
  absl::StatusOr<Reply> Command(std::span<const std::string_view> argv);
  absl::StatusOr<Reply> Command(std::initializer_list<std::string_view> argv) {
    return Command(std::span<const std::string_view>(argv.begin(), argv.size()));
  }

  // PING. Also surfaces AUTH failures (PERMISSION_DENIED / UNAUTHENTICATED
  // text in the message).
  absl::Status Ping();

  // CONFIG GET maxmemory-policy: the policy, or nullopt when CONFIG is
  // disabled (managed Redis) or Redis is unreachable.
  std::optional<std::string> MaxMemoryPolicy();

  // "redis 127.0.0.1:6379 (pool 8, timeouts 200/100 ms)".
  std::string Describe() const;

  // True after the last command got an answer (for the up gauge).
  bool up() const;

 private:
  struct Slot {
    redisContext* ctx = nullptr;
    bool busy = false;
  };
  RedisClient(RedisOptions options, const Clock& clock, RedisObserver* observer);

  // A free slot index, waiting at most the command timeout; UNAVAILABLE when
  // none frees up or the breaker is open.
  absl::StatusOr<int> Acquire();
  void Release(int slot, bool healthy);
  // Connects (and AUTHs) slot's context if it has none. Called without mu_.
  absl::Status EnsureConnected(Slot& slot);
  void RecordOutcome(bool answered, absl::Duration latency);

  const RedisOptions options_;
  const Clock& clock_;
  RedisObserver* const observer_;
  std::string host_;  // empty for a unix socket
  int port_ = 0;
  std::string unix_path_;

  mutable absl::Mutex mu_;
  std::vector<Slot> slots_ ABSL_GUARDED_BY(mu_);
  int consecutive_failures_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time breaker_open_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::string last_error_ ABSL_GUARDED_BY(mu_);
  bool up_ ABSL_GUARDED_BY(mu_) = false;
  bool ever_answered_ ABSL_GUARDED_BY(mu_) = false;
};

// "rp:<namespace>:": namespaces are 1..64 of [A-Za-z0-9_.-].
absl::StatusOr<std::string> KeyPrefix(std::string_view name_space);

}  // namespace rp::server::redis

#endif  // RP_SERVER_REDIS_REDIS_CLIENT_H_
