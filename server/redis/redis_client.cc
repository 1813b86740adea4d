#include "server/redis/redis_client.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "verifier/common/absl_view.h"

namespace rp::server::redis {
namespace {

constexpr size_t kMaxArgs = 64;
constexpr size_t kMaxDescribeBytes = 200;

timeval Tv(absl::Duration d) { return absl::ToTimeval(d); }

std::string Truncated(std::string_view s) {
  if (s.size() <= kMaxDescribeBytes) return std::string(s);
  return absl::StrCat(AbslView(s.substr(0, kMaxDescribeBytes)), "...");
}

absl::StatusOr<Reply> CopyReply(const redisReply* r, int depth) {
  if (r == nullptr) return absl::UnavailableError("redis: no reply");
  if (depth > Reply::kMaxDepth) return absl::UnavailableError("redis: reply nested too deeply");
  Reply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = Reply::Type::kString;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = Reply::Type::kStatus;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = Reply::Type::kError;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = Reply::Type::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_NIL:
      out.type = Reply::Type::kNil;
      break;
    case REDIS_REPLY_ARRAY: {
      out.type = Reply::Type::kArray;
      if (r->elements > Reply::kMaxElements) {
        return absl::UnavailableError("redis: reply array too large");
      }
      out.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) {
        absl::StatusOr<Reply> e = CopyReply(r->element[i], depth + 1);
        if (!e.ok()) return e.status();
        out.elements.push_back(*std::move(e));
      }
      break;
    }
    default:
      return absl::UnavailableError(absl::StrCat("redis: unknown reply type ", r->type));
  }
  return out;
}

}  // namespace

std::string Reply::Describe() const {
  switch (type) {
    case Type::kString:
      return absl::StrCat("string(", str.size(), " bytes)");
    case Type::kStatus:
      return absl::StrCat("status ", Truncated(str));
    case Type::kError:
      return absl::StrCat("error ", Truncated(str));
    case Type::kInteger:
      return absl::StrCat("integer ", integer);
    case Type::kNil:
      return "nil";
    case Type::kArray:
      return absl::StrCat("array(", elements.size(), ")");
  }
  return "?";
}

absl::StatusOr<std::string> KeyPrefix(std::string_view name_space) {
  if (name_space.empty() || name_space.size() > 64) {
    return absl::InvalidArgumentError("redis.namespace must be 1..64 characters");
  }
  for (char c : name_space) {
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' ||
          c == '-')) {
      return absl::InvalidArgumentError(
          absl::StrCat("redis.namespace may hold only [A-Za-z0-9_.-], got '", AbslView(name_space), "'"));
    }
  }
  return absl::StrCat("rp:", AbslView(name_space), ":");
}

absl::StatusOr<std::unique_ptr<RedisClient>> RedisClient::Create(RedisOptions options,
                                                                 const Clock& clock,
                                                                 RedisObserver* observer) {
  if (options.pool_size < 1 || options.pool_size > 64) {
    return absl::InvalidArgumentError("redis.pool_size must be 1..64");
  }
  if (options.connect_timeout <= absl::ZeroDuration() ||
      options.connect_timeout > absl::Seconds(10) ||
      options.command_timeout <= absl::ZeroDuration() ||
      options.command_timeout > absl::Seconds(10)) {
    return absl::InvalidArgumentError("redis timeouts must be in (0, 10 s]");
  }
  if (options.breaker_threshold < 1) options.breaker_threshold = 1;
  std::unique_ptr<RedisClient> client(new RedisClient(std::move(options), clock, observer));
  const std::string& a = client->options_.address;
  if (absl::StartsWith(a, "unix:")) {
    client->unix_path_ = a.substr(5);
    if (client->unix_path_.empty() || client->unix_path_.size() > 100) {
      return absl::InvalidArgumentError("redis.address unix:<path>: path must be 1..100 bytes");
    }
    return client;
  }
  std::string_view host;
  std::string_view port;
  if (absl::StartsWith(a, "[")) {
    const size_t close = a.find("]:");
    if (close == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("redis.address '", a, "': want [v6]:port"));
    }
    host = std::string_view(a).substr(1, close - 1);
    port = std::string_view(a).substr(close + 2);
  } else {
    const size_t colon = a.rfind(':');
    if (colon == std::string::npos || colon == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("redis.address '", a, "': want host:port or unix:/path"));
    }
    host = std::string_view(a).substr(0, colon);
    port = std::string_view(a).substr(colon + 1);
  }
  int p = 0;
  if (!absl::SimpleAtoi(AbslView(port), &p) || p < 1 || p > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("redis.address '", a, "': bad port"));
  }
  client->host_ = std::string(host);
  client->port_ = p;
  return client;
}

RedisClient::RedisClient(RedisOptions options, const Clock& clock, RedisObserver* observer)
    : options_(std::move(options)), clock_(clock), observer_(observer) {
  slots_.resize(static_cast<size_t>(options_.pool_size));
}

RedisClient::~RedisClient() {
  absl::MutexLock l(&mu_);
  for (Slot& s : slots_) {
    if (s.ctx != nullptr) redisFree(s.ctx);
    s.ctx = nullptr;
  }
}

std::string RedisClient::Describe() const {
  return absl::StrCat("redis ", options_.address, " (pool ", options_.pool_size, ", timeouts ",
                      absl::ToInt64Milliseconds(options_.connect_timeout), "/",
                      absl::ToInt64Milliseconds(options_.command_timeout), " ms",
                      options_.password.empty() ? "" : ", AUTH", ")");
}

bool RedisClient::up() const {
  absl::MutexLock l(&mu_);
  return up_;
}

absl::StatusOr<int> RedisClient::Acquire() {
  absl::MutexLock l(&mu_);
  const absl::Time now = clock_.Now();
  if (now < breaker_open_until_) {
    return absl::UnavailableError(absl::StrCat(
        "redis: not reachable (backing off for ",
        absl::FormatDuration(breaker_open_until_ - now), "; last error: ", last_error_, ")"));
  }
  auto has_free = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return std::any_of(slots_.begin(), slots_.end(), [](const Slot& s) { return !s.busy; });
  };
  // Waiting is bounded by the command timeout: a pool that stays busy that
  // long means Redis is not keeping up, and the caller fails closed.
  if (!mu_.AwaitWithTimeout(absl::Condition(&has_free), options_.command_timeout)) {
    return absl::UnavailableError(absl::StrCat("redis: all ", slots_.size(),
                                               " connections busy for ",
                                               absl::FormatDuration(options_.command_timeout)));
  }
  // Prefer a connected slot.
  int pick = -1;
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].busy) continue;
    if (pick < 0) pick = static_cast<int>(i);
    if (slots_[i].ctx != nullptr) {
      pick = static_cast<int>(i);
      break;
    }
  }
  slots_[static_cast<size_t>(pick)].busy = true;
  return pick;
}

void RedisClient::Release(int slot, bool healthy) {
  absl::MutexLock l(&mu_);
  Slot& s = slots_[static_cast<size_t>(slot)];
  if (!healthy && s.ctx != nullptr) {
    redisFree(s.ctx);
    s.ctx = nullptr;
  }
  s.busy = false;
}

absl::Status RedisClient::EnsureConnected(Slot& slot) {
  if (slot.ctx != nullptr) return absl::OkStatus();
  redisContext* c =
      unix_path_.empty()
          ? redisConnectWithTimeout(host_.c_str(), port_, Tv(options_.connect_timeout))
          : redisConnectUnixWithTimeout(unix_path_.c_str(), Tv(options_.connect_timeout));
  if (c == nullptr) return absl::UnavailableError("redis: cannot allocate a context");
  if (c->err != 0) {
    std::string why = absl::StrCat("redis: connect ", options_.address, ": ", c->errstr);
    redisFree(c);
    return absl::UnavailableError(why);
  }
  redisSetTimeout(c, Tv(options_.command_timeout));
  redisEnableKeepAlive(c);
  if (!options_.password.empty()) {
    std::vector<const char*> argv = {"AUTH"};
    std::vector<size_t> lens = {4};
    if (!options_.username.empty()) {
      argv.push_back(options_.username.data());
      lens.push_back(options_.username.size());
    }
    argv.push_back(options_.password.data());
    lens.push_back(options_.password.size());
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
    if (r == nullptr) {
      std::string why = absl::StrCat("redis: AUTH: ", c->errstr);
      redisFree(c);
      return absl::UnavailableError(why);
    }
    const bool ok = r->type == REDIS_REPLY_STATUS && std::string_view(r->str, r->len) == "OK";
    std::string why = ok ? "" : absl::StrCat("redis: AUTH refused: ",
                                             Truncated(r->type == REDIS_REPLY_ERROR
                                                           ? std::string_view(r->str, r->len)
                                                           : "unexpected reply"));
    freeReplyObject(r);
    if (!ok) {
      redisFree(c);
      // Never echo the password; the server's message names the user at most.
      return absl::UnavailableError(why);
    }
  }
  slot.ctx = c;
  return absl::OkStatus();
}

void RedisClient::RecordOutcome(bool answered, absl::Duration latency) {
  bool changed = false;
  {
    absl::MutexLock l(&mu_);
    if (answered) {
      consecutive_failures_ = 0;
      breaker_open_until_ = absl::InfinitePast();
    } else {
      ++consecutive_failures_;
      if (consecutive_failures_ >= options_.breaker_threshold) {
        const int doublings = std::min(consecutive_failures_ - options_.breaker_threshold, 10);
        absl::Duration backoff = absl::Milliseconds(50) * (int64_t{1} << doublings);
        backoff = std::min(backoff, options_.max_backoff);
        breaker_open_until_ = clock_.Now() + backoff;
      }
    }
    changed = up_ != answered || !ever_answered_;
    ever_answered_ = ever_answered_ || answered;
    up_ = answered;
  }
  if (observer_ != nullptr) {
    observer_->OnCommand(answered, latency);
    if (changed) observer_->OnUp(answered);
  }
}

absl::StatusOr<Reply> RedisClient::Command(std::span<const std::string_view> argv) {
  if (argv.empty() || argv.size() > kMaxArgs) {
    return absl::InvalidArgumentError("redis: 1..64 arguments");
  }
  absl::StatusOr<int> slot_index = Acquire();
  if (!slot_index.ok()) {
    if (observer_ != nullptr) observer_->OnCommand(false, absl::ZeroDuration());
    return slot_index.status();
  }
  const absl::Time start = clock_.Now();
  Slot* slot;
  {
    absl::MutexLock l(&mu_);
    slot = &slots_[static_cast<size_t>(*slot_index)];
  }
  // The slot is ours (busy) until Release: its ctx is touched only here.
  absl::Status connected = EnsureConnected(*slot);
  if (!connected.ok()) {
    {
      absl::MutexLock l(&mu_);
      last_error_ = std::string(connected.message());
    }
    Release(*slot_index, false);
    RecordOutcome(false, clock_.Now() - start);
    return connected;
  }
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  ptrs.reserve(argv.size());
  lens.reserve(argv.size());
  for (std::string_view a : argv) {
    ptrs.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* raw = static_cast<redisReply*>(
      redisCommandArgv(slot->ctx, static_cast<int>(ptrs.size()), ptrs.data(), lens.data()));
  if (raw == nullptr) {
    // I/O error or timeout: the context is unusable (hiredis sets err).
    std::string why = absl::StrCat("redis: ", AbslView(argv[0]), ": ",
                                   slot->ctx->err != 0 ? slot->ctx->errstr : "no reply");
    {
      absl::MutexLock l(&mu_);
      last_error_ = why;
    }
    Release(*slot_index, false);
    RecordOutcome(false, clock_.Now() - start);
    return absl::UnavailableError(why);
  }
  absl::StatusOr<Reply> reply = CopyReply(raw, 0);
  freeReplyObject(raw);
  Release(*slot_index, reply.ok());
  RecordOutcome(reply.ok(), clock_.Now() - start);
  return reply;
}

absl::Status RedisClient::Ping() {
  absl::StatusOr<Reply> r = Command({"PING"});
  if (!r.ok()) return r.status();
  if (!r->IsStatus("PONG")) {
    return absl::UnavailableError(absl::StrCat("redis: PING answered ", r->Describe()));
  }
  return absl::OkStatus();
}

std::optional<std::string> RedisClient::MaxMemoryPolicy() {
  absl::StatusOr<Reply> r = Command({"CONFIG", "GET", "maxmemory-policy"});
  if (!r.ok() || r->type != Reply::Type::kArray || r->elements.size() != 2 ||
      r->elements[1].type != Reply::Type::kString) {
    return std::nullopt;
  }
  return r->elements[1].str;
}

}  // namespace rp::server::redis
