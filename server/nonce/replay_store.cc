#include "server/nonce/replay_store.h"

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "verifier/common/encoding.h"

namespace rp::nonce {

InMemoryReplayStore::InMemoryReplayStore(size_t capacity, Clock& clock)
    : capacity_(capacity), clock_(clock) {}

void InMemoryReplayStore::PurgeExpiredLocked(absl::Time now) {
  while (!by_expiry_.empty() && by_expiry_.begin()->first <= now) {
    by_nonce_.erase(by_expiry_.begin()->second);
    by_expiry_.erase(by_expiry_.begin());
  }
}

absl::Status CheckRecordable(std::span<const uint8_t> nonce, absl::Time expires_at,
                             absl::Time now) {
  if (nonce.empty() || nonce.size() > InMemoryReplayStore::kMaxNonceBytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("replay store: nonce is %d bytes, expected 1..%d",
                        nonce.size(), InMemoryReplayStore::kMaxNonceBytes));
  }
  // An entry that would expire at once could never be remembered; the
  // caller's expiry check should have rejected it, so refuse rather than
  // answer "first use" for something we are not recording.
  if (expires_at <= now) {
    return absl::InvalidArgumentError(
        "replay store: expiry is not in the future");
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> InMemoryReplayStore::MarkUsed(
    std::span<const uint8_t> nonce, absl::Time expires_at) {
  const absl::Time now = clock_.Now();
  if (absl::Status st = CheckRecordable(nonce, expires_at, now); !st.ok()) return st;
  std::string key = ToString(nonce);

  absl::MutexLock lock(&mu_);
  PurgeExpiredLocked(now);
  if (by_nonce_.contains(key)) {
    return false;
  }
  // Fail closed: evicting an unexpired nonce would let its replay through.
  if (by_nonce_.size() >= capacity_) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("replay store: full (%d unexpired nonces); refusing "
                        "rather than forgetting one",
                        by_nonce_.size()));
  }
  by_expiry_.emplace(expires_at, key);
  by_nonce_.emplace(std::move(key), expires_at);
  return true;
}

size_t InMemoryReplayStore::size() const {
  absl::MutexLock lock(&mu_);
  return by_nonce_.size();
}

}  // namespace rp::nonce
