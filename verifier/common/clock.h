// Injected time source (port of absl's clock interface). Only main.cc and
// the CLI create a real clock; tests use FakeClock.
#ifndef RP_VERIFIER_COMMON_CLOCK_H_
#define RP_VERIFIER_COMMON_CLOCK_H_

#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace rp {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
  static Clock& Real();
};

// Thread-safe settable clock for tests and for `--at` style fixed times.
class FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Time t) : now_(t) {}
  absl::Time Now() const override {
    absl::MutexLock l(&mu_);
    return now_;
  }
  void Set(absl::Time t) {
    absl::MutexLock l(&mu_);
    now_ = t;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock l(&mu_);
    now_ += d;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

// RFC 3339 ("2025-09-01T00:00:00Z"); also accepts a bare unix time in seconds.
absl::StatusOr<absl::Time> ParseTime(std::string_view text);
std::string FormatRfc3339(absl::Time t);

}  // namespace rp

#endif  // RP_VERIFIER_COMMON_CLOCK_H_
