// Admission control for the expensive RPCs (Attest, key release): at most
// `max_in_flight` run at once; up to `max_queued` more wait, first come first
// served, for at most `max_queue_wait`; anything beyond is refused at once
// (docs/hardening.md, "Admission control").
//
// On a machine with few cores, admitting every request gives each a thread
// and lets them all compete for the CPU: throughput falls and every request
// gets slow. A bounded number of running requests keeps the cores busy with
// little switching; the queue absorbs bursts; refusal beyond it tells
// clients (RESOURCE_EXHAUSTED, retry hint) to back off or go to another
// replica before their deadline is spent here.
//
// A freed slot is handed directly to the oldest waiter (no thundering herd,
// no overtaking by newcomers). Waiting costs no CPU (absl::Mutex condition).
#ifndef RP_SERVER_LIMITS_INFLIGHT_LIMITER_H_
#define RP_SERVER_LIMITS_INFLIGHT_LIMITER_H_

#include <cstdint>
#include <functional>
#include <list>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace rp::server::limits {

struct InflightLimits {
  int max_in_flight = 4;                            // >= 1
  int max_queued = 16;                              // >= 0 (0 = refuse when full)
  absl::Duration max_queue_wait = absl::Seconds(1);  // >= 0
};

// Why a request was not admitted (metric label: RefusalName).
enum class InflightRefusal { kNone, kQueueFull, kQueueTimeout };
std::string_view RefusalName(InflightRefusal r);  // "" | queue_full | queue_timeout

// Thread-safe. Must outlive every Permit it hands out.
class InflightLimiter {
 public:
  // Called under the limiter's lock after every change of the counts (keep
  // it cheap: e.g. set two gauges). May be empty.
  using Observer = std::function<void(int in_flight, int queued)>;

  // A slot; released (handed to the oldest waiter, if any) when destroyed.
  class Permit {
   public:
    Permit() = default;
    Permit(Permit&& o) noexcept : owner_(o.owner_) { o.owner_ = nullptr; }
    Permit& operator=(Permit&& o) noexcept;
    Permit(const Permit&) = delete;
    Permit& operator=(const Permit&) = delete;
    ~Permit() { Release(); }
    bool held() const { return owner_ != nullptr; }
    void Release();

   private:
    friend class InflightLimiter;
    explicit Permit(InflightLimiter* owner) : owner_(owner) {}
    InflightLimiter* owner_ = nullptr;
  };

  struct Outcome {
    Permit permit;  // held() iff admitted
    InflightRefusal refusal = InflightRefusal::kNone;
    bool admitted() const { return permit.held(); }
  };

  explicit InflightLimiter(InflightLimits limits, Observer observer = nullptr);
  InflightLimiter(const InflightLimiter&) = delete;
  InflightLimiter& operator=(const InflightLimiter&) = delete;

  // Admits at once when a slot is free and nobody waits; else queues (when
  // the queue has room) for at most min(max_wait, limits().max_queue_wait).
  // A max_wait <= 0 never queues (a caller whose own deadline has passed).
  Outcome Acquire(absl::Duration max_wait = absl::InfiniteDuration());

  int in_flight() const;
  int queued() const;
  const InflightLimits& limits() const { return limits_; }

 private:
  struct Waiter {
    bool granted = false;
  };
  void ReleaseSlot();
  void NotifyLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const InflightLimits limits_;
  const Observer observer_;
  mutable absl::Mutex mu_;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  std::list<Waiter*> waiters_ ABSL_GUARDED_BY(mu_);  // oldest first
};

// The RESOURCE_EXHAUSTED status for a refusal, starting with the reason
// code SERVER_BUSY (sent as the rp-reason trailer) and ending with the retry
// hint: "SERVER_BUSY: <what>: ...; retry after N s". `what` names the RPC.
absl::Status BusyStatus(std::string_view what, InflightRefusal refusal,
                        const InflightLimits& limits, int64_t retry_after_seconds);

}  // namespace rp::server::limits

#endif  // RP_SERVER_LIMITS_INFLIGHT_LIMITER_H_
