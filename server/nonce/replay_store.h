// Replay protection for challenge nonces: a set of "used" nonces, each kept
// until the challenge it belongs to expires.
#ifndef RP_SERVER_NONCE_REPLAY_STORE_H_
#define RP_SERVER_NONCE_REPLAY_STORE_H_

#include <cstddef>
#include <cstdint>
#include <set>
#include <span>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "verifier/common/clock.h"

namespace rp::nonce {

// Atomic "first use" test for nonces.
//
// MarkUsed records `nonce` as used until `expires_at` and returns true if it
// was not already recorded (first use), false if it was (replay). The check
// and the insert are one atomic step, so two concurrent calls with the same
// nonce never both see true. This maps onto Redis `SET <nonce> 1 NX PX <ms>`:
// OK => true, nil => false, a connection error => an error status.
//
// Errors mean "cannot tell": callers must reject the nonce (fail closed).
// Codes: INVALID_ARGUMENT (empty/oversized nonce, expiry not in the future),
// RESOURCE_EXHAUSTED (store full of unexpired nonces), UNAVAILABLE (backend).
//
// Implementations are thread-safe.
class ReplayStore {
 public:
  virtual ~ReplayStore() = default;
  virtual absl::StatusOr<bool> MarkUsed(std::span<const uint8_t> nonce,
                                        absl::Time expires_at) = 0;
};

// What every ReplayStore refuses with INVALID_ARGUMENT before recording
// anything: an empty nonce or one over InMemoryReplayStore::kMaxNonceBytes,
// and an expiry not after `now`.
absl::Status CheckRecordable(std::span<const uint8_t> nonce, absl::Time expires_at,
                             absl::Time now);

// In-process replay store with bounded memory (the embedded default; one
// replica only, since other replicas cannot see it).
//
// Holds at most `capacity` unexpired nonces. Expired entries are purged
// (oldest expiry first) on every call. When the store is full of unexpired
// nonces, MarkUsed fails with RESOURCE_EXHAUSTED rather than evicting: an
// unexpired nonce is never forgotten, so a replay can never slip through
// because of memory pressure. Thread-safe (one absl::Mutex).
class InMemoryReplayStore final : public ReplayStore {
 public:
  // Nonces longer than this are refused (ours are 32 bytes); bounds memory
  // per entry.
  static constexpr size_t kMaxNonceBytes = 64;

  // `clock` must outlive the store.
  InMemoryReplayStore(size_t capacity, Clock& clock);

  absl::StatusOr<bool> MarkUsed(std::span<const uint8_t> nonce,
                                absl::Time expires_at) override;

  // Unexpired-or-not-yet-purged entries; for tests and metrics.
  size_t size() const;

 private:
  void PurgeExpiredLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t capacity_;
  Clock& clock_;
  mutable absl::Mutex mu_;
  // nonce -> expiry, and the same entries ordered by (expiry, nonce) so that
  // purging touches only expired entries.
  absl::flat_hash_map<std::string, absl::Time> by_nonce_ ABSL_GUARDED_BY(mu_);
  std::set<std::pair<absl::Time, std::string>> by_expiry_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rp::nonce

#endif  // RP_SERVER_NONCE_REPLAY_STORE_H_
