#include "verifier/common/clock.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace rp {
namespace {
class RealClock : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};
}  // namespace

Clock& Clock::Real() {
  static RealClock* clock = new RealClock();
  return *clock;
}

absl::StatusOr<absl::Time> ParseTime(std::string_view text) {
  int64_t unix_seconds = 0;
  if (absl::SimpleAtoi(std::string(text), &unix_seconds)) return absl::FromUnixSeconds(unix_seconds);
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, std::string(text), &t, &err)) {
    return absl::InvalidArgumentError(
        absl::StrCat("time '", std::string(text), "' is not RFC 3339 (e.g. 2025-09-01T00:00:00Z): ", err));
  }
  return t;
}

std::string FormatRfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

}  // namespace rp
