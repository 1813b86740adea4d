#include "admission/fleet/registry.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace rp::admission::fleet {

std::string_view NodeStateName(NodeState s) {
  switch (s) {
    case NodeState::kFresh:
      return "fresh";
    case NodeState::kStale:
      return "stale";
    case NodeState::kMissing:
      return "missing";
    case NodeState::kUnavailable:
      return "unavailable";
  }
  return "unavailable";
}

absl::StatusOr<std::unique_ptr<FleetRegistry>> FleetRegistry::Create(FleetOptions options,
                                                                     NodeStore& store,
                                                                     Clock& clock) {
  if (options.freshness <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("fleet: freshness must be > 0");
  }
  if (options.max_nodes == 0) return absl::InvalidArgumentError("fleet: max_nodes must be > 0");
  if (options.retention < options.freshness) {
    return absl::InvalidArgumentError("fleet: retention must be >= freshness");
  }
  if (options.max_sync_age <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("fleet: max_sync_age must be > 0");
  }
  return std::unique_ptr<FleetRegistry>(new FleetRegistry(std::move(options), store, clock));
}

bool FleetRegistry::AvailableLocked(absl::Time now) const {
  if (!store_.shared()) return true;
  return now - last_sync_ <= options_.max_sync_age;
}

void FleetRegistry::MergeLocked(std::shared_ptr<const NodeRecord> r) {
  auto it = view_.find(r->node);
  if (it != view_.end()) {
    if (r->NewerThan(*it->second)) it->second = std::move(r);
    return;
  }
  if (view_.size() >= options_.max_nodes) {
    auto oldest = view_.begin();
    for (auto i = view_.begin(); i != view_.end(); ++i) {
      if (i->second->attested_at < oldest->second->attested_at) oldest = i;
    }
    // The newcomer is older than everything kept: it is the one to drop.
    if (r->attested_at <= oldest->second->attested_at) return;
    view_.erase(oldest);
  }
  std::string name = r->node;
  view_.emplace(std::move(name), std::move(r));
}

absl::StatusOr<bool> FleetRegistry::Record(NodeRecord record) {
  if (!options_.policies.empty() && !options_.policies.contains(record.policy_id)) return false;
  const size_t claims_bytes = record.claims.dump().size();
  if (claims_bytes > options_.max_claims_bytes) {
    record_errors_.fetch_add(1, std::memory_order_relaxed);
    return absl::ResourceExhaustedError(
        absl::StrCat("fleet: token claims of node ", record.node, " are ", claims_bytes,
                     " bytes, max_claims_bytes ", options_.max_claims_bytes, ": not recorded"));
  }
  auto shared = std::make_shared<const NodeRecord>(std::move(record));
  {
    absl::MutexLock lock(&mu_);
    MergeLocked(shared);
  }
  if (absl::Status st = store_.Put(*shared); !st.ok()) {
    record_errors_.fetch_add(1, std::memory_order_relaxed);
    return absl::Status(st.code(), absl::StrCat("fleet: store put ", shared->node, ": ",
                                                st.message()));
  }
  return true;
}

NodeLookup FleetRegistry::Find(std::string_view node) const {
  const absl::Time now = clock_.Now();
  NodeLookup out;
  absl::ReaderMutexLock lock(&mu_);
  if (!AvailableLocked(now)) return out;  // kUnavailable
  auto it = view_.find(node);
  if (it == view_.end()) {
    out.state = NodeState::kMissing;
    return out;
  }
  out.record = it->second;
  out.age = now - out.record->attested_at;
  // A record from the future (clock skew between replicas) counts as age 0.
  if (out.age < absl::ZeroDuration()) out.age = absl::ZeroDuration();
  out.state = out.age <= options_.freshness ? NodeState::kFresh : NodeState::kStale;
  return out;
}

std::vector<std::shared_ptr<const NodeRecord>> FleetRegistry::Snapshot() const {
  const absl::Time now = clock_.Now();
  std::vector<std::shared_ptr<const NodeRecord>> out;
  absl::ReaderMutexLock lock(&mu_);
  if (!AvailableLocked(now)) return out;
  out.reserve(view_.size());
  for (const auto& [name, r] : view_) out.push_back(r);
  return out;
}

bool FleetRegistry::Available() const {
  const absl::Time now = clock_.Now();
  absl::ReaderMutexLock lock(&mu_);
  return AvailableLocked(now);
}

FleetStats FleetRegistry::Stats() const {
  const absl::Time now = clock_.Now();
  FleetStats s;
  for (const char* v : {"affirming", "warning", "contraindicated"}) s.nodes_by_verdict[v] = 0;
  absl::ReaderMutexLock lock(&mu_);
  s.available = AvailableLocked(now);
  s.record_errors = record_errors_.load(std::memory_order_relaxed);
  for (const auto& [name, r] : view_) {
    ++s.total;
    ++s.nodes_by_verdict[r->verdict];  // FromJson / RecordFromTokenClaims allow 3 values
    if (now - r->attested_at > options_.freshness) ++s.stale;
  }
  return s;
}

absl::Status FleetRegistry::Sync() {
  absl::StatusOr<std::vector<NodeRecord>> stored = store_.List();
  const absl::Time now = clock_.Now();
  if (!stored.ok()) {
    return absl::Status(stored.status().code(),
                        absl::StrCat("fleet: store list: ", stored.status().message()));
  }
  absl::MutexLock lock(&mu_);
  for (NodeRecord& r : *stored) {
    if (!options_.policies.empty() && !options_.policies.contains(r.policy_id)) continue;
    MergeLocked(std::make_shared<const NodeRecord>(std::move(r)));
  }
  for (auto it = view_.begin(); it != view_.end();) {
    if (now - it->second->attested_at > options_.retention) {
      it = view_.erase(it);
    } else {
      ++it;
    }
  }
  last_sync_ = now;
  return absl::OkStatus();
}

}  // namespace rp::admission::fleet
