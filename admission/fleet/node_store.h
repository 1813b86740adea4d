// Where node records live (docs/admission.md "Fleet node registry").
//
// NodeStore is the storage interface a shared store implements so that
// several replicas see one registry: records are JSON (NodeRecord::ToJson /
// FromJson), keyed by node name. The admission webhook never calls a
// NodeStore: it answers from FleetRegistry's in-memory view, which
// FleetRegistry::Sync feeds from the store (admission/fleet/registry.h).
//
// Contract for implementations (a Redis one would store
// "<prefix>:node:<name>" -> ToJson(true), with an index set of names):
//  - Put keeps the NEWER of the stored and the given record
//    (NodeRecord::NewerThan): a slow replica must not roll a node back to an
//    older verdict. A store that cannot compare atomically may replace, as
//    long as it documents it (the registry's writers only Put records they
//    have just made).
//  - Get / List return what Put stored; a record that fails to parse is an
//    error for that node, never a default.
//  - Errors are UNAVAILABLE (retryable) or INTERNAL; nothing blocks forever
//    (implementations bound every call by a timeout).
//  - Thread-safe.
#ifndef RP_ADMISSION_FLEET_NODE_STORE_H_
#define RP_ADMISSION_FLEET_NODE_STORE_H_

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "admission/fleet/node_record.h"

namespace rp::admission::fleet {

class NodeStore {
 public:
  virtual ~NodeStore() = default;
  virtual absl::Status Put(const NodeRecord& record) = 0;
  // nullopt when the store has no record for `node`.
  virtual absl::StatusOr<std::optional<NodeRecord>> Get(std::string_view node) const = 0;
  // Every record (any order).
  virtual absl::StatusOr<std::vector<NodeRecord>> List() const = 0;
  // False for a store only this process sees (then the registry's view IS
  // the state and is always current); true for a store replicas share.
  virtual bool shared() const = 0;
  // For logs: "memory (max 10000 nodes)", "redis://host:6379/0 prefix rp".
  virtual std::string Describe() const = 0;
};

// The default store: this process only, at most `max_nodes` records (the
// least recently attested one is dropped to make room: it is the stalest).
// Records are kept as their JSON text, exactly as a shared store would
// hold them, so the round trip is exercised on every Put / Get.
class InMemoryNodeStore final : public NodeStore {
 public:
  explicit InMemoryNodeStore(size_t max_nodes) : max_nodes_(max_nodes) {}

  absl::Status Put(const NodeRecord& record) override;
  absl::StatusOr<std::optional<NodeRecord>> Get(std::string_view node) const override;
  absl::StatusOr<std::vector<NodeRecord>> List() const override;
  bool shared() const override { return false; }
  std::string Describe() const override;

 private:
  struct Entry {
    absl::Time attested_at;
    std::string jti;
    std::string json;
  };
  const size_t max_nodes_;
  mutable absl::Mutex mu_;
  std::map<std::string, Entry, std::less<>> records_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rp::admission::fleet

#endif  // RP_ADMISSION_FLEET_NODE_STORE_H_
