// The fleet node registry (ARCHITECTURE §10, docs/admission.md): the latest
// attestation outcome per Kubernetes node, keyed by the bound attest-v2
// runtime claim `node`, with a freshness window.
//
// Two layers:
//  - a NodeStore (admission/fleet/node_store.h): memory by default, or a
//    store the replicas share (Redis); written on every Record, read only by
//    Sync;
//  - an in-memory VIEW that every reader uses (the admission webhook, GET
//    /v1/nodes, the gauges): reads never touch the store, never block on the
//    network, and cost a map lookup under a reader lock.
// With a shared store, Sync (called periodically by FleetSyncLoop) merges
// the store into the view, newer record wins (NodeRecord::NewerThan); if the
// last successful Sync is older than max_sync_age the view counts as
// unavailable, and the webhook answers 503 instead of trusting a view that
// may have missed a failing verdict. With a memory store the view is the
// state and is always available.
//
// Thread-safe.
#ifndef RP_ADMISSION_FLEET_REGISTRY_H_
#define RP_ADMISSION_FLEET_REGISTRY_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "admission/fleet/node_record.h"
#include "admission/fleet/node_store.h"
#include "verifier/common/clock.h"

namespace rp::admission::fleet {

struct FleetOptions {
  // A record older than this (now - attested_at) is stale: the webhook
  // denies bindings to the node. > 0.
  absl::Duration freshness = absl::Minutes(10);
  // Records in the view; beyond it the least recently attested node is
  // dropped. > 0.
  size_t max_nodes = 10000;
  // Records older than this are dropped from the view at Sync (they are
  // stale long since; dropped, the node reads as missing: also denied).
  absl::Duration retention = absl::Hours(24 * 7);
  // Appraisals under these policy ids update records; empty = any policy.
  std::set<std::string, std::less<>> policies;
  // Shared store only: the view is unavailable when the last successful
  // Sync is older than this. > 0.
  absl::Duration max_sync_age = absl::Seconds(30);
  // Token claims larger than this (JSON bytes) are not kept: the record is
  // refused (Record returns RESOURCE_EXHAUSTED) rather than stored
  // without the claims its release rule needs.
  size_t max_claims_bytes = 256 * 1024;
};

enum class NodeState {
  kFresh,        // a record within the freshness window
  kStale,        // a record older than the freshness window
  kMissing,      // no record for this node
  kUnavailable,  // the view cannot be trusted (shared store not synced)
};
std::string_view NodeStateName(NodeState s);  // fresh | stale | missing | unavailable

struct NodeLookup {
  NodeState state = NodeState::kUnavailable;
  std::shared_ptr<const NodeRecord> record;  // set for kFresh / kStale
  absl::Duration age;                        // now - attested_at (kFresh / kStale)
};

// Low-cardinality counts for the gauges (rp_fleet_nodes{verdict},
// rp_fleet_stale_nodes).
struct FleetStats {
  std::map<std::string, size_t> nodes_by_verdict;  // affirming | warning | contraindicated
  size_t stale = 0;
  size_t total = 0;
  bool available = false;
  uint64_t record_errors = 0;  // Record calls that failed (since start)
};

class FleetRegistry {
 public:
  // INVALID_ARGUMENT for options out of range. `store` and `clock` must
  // outlive the registry.
  static absl::StatusOr<std::unique_ptr<FleetRegistry>> Create(FleetOptions options,
                                                               NodeStore& store, Clock& clock);

  // Records `record` (made by RecordFromTokenClaims): the view at once,
  // then the store. Returns false when the record's policy is not one that
  // updates records (FleetOptions.policies), true when recorded. Errors:
  // RESOURCE_EXHAUSTED (claims too large: nothing recorded), or the store's
  // error (the view is updated all the same; the caller logs it).
  absl::StatusOr<bool> Record(NodeRecord record);

  // From the view only.
  NodeLookup Find(std::string_view node) const;
  // Every record of the view, by node name. Empty when unavailable.
  std::vector<std::shared_ptr<const NodeRecord>> Snapshot() const;
  bool Available() const;
  FleetStats Stats() const;

  // Merges the store into the view (see above) and drops records past the
  // retention. A failed List leaves the view as it was (and, for a shared
  // store, lets it age towards unavailable).
  absl::Status Sync();

  const FleetOptions& options() const { return options_; }
  const NodeStore& store() const { return store_; }

 private:
  FleetRegistry(FleetOptions options, NodeStore& store, Clock& clock)
      : options_(std::move(options)), store_(store), clock_(clock) {}
  bool AvailableLocked(absl::Time now) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Inserts if newer; evicts the oldest beyond max_nodes.
  void MergeLocked(std::shared_ptr<const NodeRecord> r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const FleetOptions options_;
  NodeStore& store_;
  Clock& clock_;
  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<const NodeRecord>, std::less<>> view_ ABSL_GUARDED_BY(mu_);
  absl::Time last_sync_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::atomic<uint64_t> record_errors_{0};
};

}  // namespace rp::admission::fleet

#endif  // RP_ADMISSION_FLEET_REGISTRY_H_
