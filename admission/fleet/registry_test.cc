#include "admission/fleet/registry.h"

#include <sstream>
#include <string>

#include "admission/fleet/fleet_metrics.h"
#include "admission/fleet/sync_loop.h"
#include "gtest/gtest.h"
#include "prometheus/text_serializer.h"

namespace rp::admission::fleet {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1767225600);

NodeRecord Rec(const std::string& node, const std::string& verdict, absl::Time at,
               const std::string& policy = "fleet", const std::string& jti = "j") {
  NodeRecord r;
  r.node = node;
  r.verdict = verdict;
  r.attested_at = at;
  r.token_expires_at = at + absl::Minutes(5);
  r.token_jti = jti;
  r.policy_id = policy;
  r.tee = "tdx";
  r.gpu_count = 8;
  r.claims = {{"ear.status", verdict}, {"runtime_claims", {{"node", node}}}};
  return r;
}

// A store the replicas share (what a Redis store is), here in memory; the
// switch makes List fail like an unreachable server.
class SharedMemoryStore : public NodeStore {
 public:
  absl::Status Put(const NodeRecord& r) override { return inner_.Put(r); }
  absl::StatusOr<std::optional<NodeRecord>> Get(std::string_view n) const override {
    return inner_.Get(n);
  }
  absl::StatusOr<std::vector<NodeRecord>> List() const override {
    if (down) return absl::UnavailableError("connection refused");
    return inner_.List();
  }
  bool shared() const override { return true; }
  std::string Describe() const override { return "shared memory (test)"; }
  bool down = false;

 private:
  InMemoryNodeStore inner_{100};
};

std::unique_ptr<FleetRegistry> Make(NodeStore& store, Clock& clock, FleetOptions o = {}) {
  auto r = FleetRegistry::Create(std::move(o), store, clock);
  EXPECT_TRUE(r.ok()) << r.status();
  return std::move(*r);
}

TEST(FleetRegistry, FreshStaleMissing) {
  FakeClock clock(kT0);
  InMemoryNodeStore store(100);
  FleetOptions o;
  o.freshness = absl::Minutes(10);
  auto reg = Make(store, clock, o);
  EXPECT_TRUE(reg->Available());  // a memory store's view is the state
  EXPECT_EQ(reg->Find("gpu-node-1").state, NodeState::kMissing);
  ASSERT_TRUE(*reg->Record(Rec("gpu-node-1", "affirming", kT0)));
  NodeLookup l = reg->Find("gpu-node-1");
  EXPECT_EQ(l.state, NodeState::kFresh);
  ASSERT_NE(l.record, nullptr);
  EXPECT_EQ(l.record->verdict, "affirming");
  clock.Advance(absl::Minutes(10));
  EXPECT_EQ(reg->Find("gpu-node-1").state, NodeState::kFresh);  // the window is inclusive
  clock.Advance(absl::Seconds(1));
  EXPECT_EQ(reg->Find("gpu-node-1").state, NodeState::kStale);
  EXPECT_EQ(reg->Find("gpu-node-2").state, NodeState::kMissing);
  // The store holds the same record, as JSON.
  auto stored = store.Get("gpu-node-1");
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ((*stored)->ToJson(), reg->Find("gpu-node-1").record->ToJson());
}

TEST(FleetRegistry, LatestVerdictWinsAndOlderNeverRollsBack) {
  FakeClock clock(kT0);
  InMemoryNodeStore store(100);
  auto reg = Make(store, clock);
  ASSERT_TRUE(reg->Record(Rec("n1", "affirming", kT0)).ok());
  ASSERT_TRUE(reg->Record(Rec("n1", "contraindicated", kT0 + absl::Seconds(5))).ok());
  EXPECT_EQ(reg->Find("n1").record->verdict, "contraindicated");
  // A slow writer with an older affirming record changes nothing.
  ASSERT_TRUE(reg->Record(Rec("n1", "affirming", kT0 + absl::Seconds(1))).ok());
  EXPECT_EQ(reg->Find("n1").record->verdict, "contraindicated");
  EXPECT_EQ((*store.Get("n1"))->verdict, "contraindicated");
}

TEST(FleetRegistry, PolicyFilterAndClaimsCap) {
  FakeClock clock(kT0);
  InMemoryNodeStore store(100);
  FleetOptions o;
  o.policies = {"fleet"};
  o.max_claims_bytes = 200;
  auto reg = Make(store, clock, o);
  auto other = reg->Record(Rec("n1", "affirming", kT0, "dev"));
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(*other);
  EXPECT_EQ(reg->Find("n1").state, NodeState::kMissing);
  NodeRecord big = Rec("n1", "affirming", kT0);
  big.claims["padding"] = std::string(300, 'x');
  EXPECT_EQ(reg->Record(big).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(reg->Find("n1").state, NodeState::kMissing);
}

TEST(FleetRegistry, MaxNodesDropsTheLeastRecentlyAttested) {
  FakeClock clock(kT0);
  InMemoryNodeStore store(2);
  FleetOptions o;
  o.max_nodes = 2;
  auto reg = Make(store, clock, o);
  ASSERT_TRUE(reg->Record(Rec("a", "affirming", kT0)).ok());
  ASSERT_TRUE(reg->Record(Rec("b", "affirming", kT0 + absl::Seconds(2))).ok());
  ASSERT_TRUE(reg->Record(Rec("c", "affirming", kT0 + absl::Seconds(3))).ok());
  EXPECT_EQ(reg->Find("a").state, NodeState::kMissing);
  EXPECT_EQ(reg->Find("b").state, NodeState::kFresh);
  EXPECT_EQ(reg->Find("c").state, NodeState::kFresh);
  EXPECT_EQ(store.List()->size(), 2u);
  EXPECT_FALSE(store.Get("a")->has_value());
}

// Two replicas sharing one store (what two servers sharing Redis do): each
// sees the other's records after a Sync; until its first Sync, and when the
// store has been unreachable for longer than max_sync_age, a replica's view
// is unavailable (the webhook answers 503 rather than trusting it).
TEST(FleetRegistry, TwoReplicasSharingAStoreConverge) {
  FakeClock clock(kT0);
  SharedMemoryStore store;
  FleetOptions o;
  o.max_sync_age = absl::Seconds(30);
  auto r1 = Make(store, clock, o);
  auto r2 = Make(store, clock, o);
  EXPECT_FALSE(r1->Available());
  EXPECT_EQ(r1->Find("n1").state, NodeState::kUnavailable);
  EXPECT_TRUE(r1->Snapshot().empty());
  ASSERT_TRUE(r1->Sync().ok());
  ASSERT_TRUE(r2->Sync().ok());
  ASSERT_TRUE(r1->Record(Rec("n1", "affirming", kT0, "fleet", "j1")).ok());
  ASSERT_TRUE(r2->Record(Rec("n2", "contraindicated", kT0, "fleet", "j2")).ok());
  EXPECT_EQ(r2->Find("n1").state, NodeState::kMissing);  // not synced yet
  ASSERT_TRUE(r1->Sync().ok());
  ASSERT_TRUE(r2->Sync().ok());
  for (FleetRegistry* r : {r1.get(), r2.get()}) {
    EXPECT_EQ(r->Find("n1").record->verdict, "affirming");
    EXPECT_EQ(r->Find("n2").record->verdict, "contraindicated");
    ASSERT_EQ(r->Snapshot().size(), 2u);
  }
  // n1 fails later on replica 2: replica 1 learns it at its next Sync.
  clock.Advance(absl::Seconds(5));
  ASSERT_TRUE(r2->Record(Rec("n1", "contraindicated", clock.Now(), "fleet", "j3")).ok());
  ASSERT_TRUE(r1->Sync().ok());
  EXPECT_EQ(r1->Find("n1").record->verdict, "contraindicated");
  EXPECT_EQ(r1->Find("n1").record->ToJson(), r2->Find("n1").record->ToJson());
  // The store goes away: the view holds for max_sync_age, then is unavailable.
  store.down = true;
  clock.Advance(absl::Seconds(20));
  EXPECT_FALSE(r1->Sync().ok());
  EXPECT_EQ(r1->Find("n1").state, NodeState::kFresh);
  clock.Advance(absl::Seconds(20));
  EXPECT_FALSE(r1->Sync().ok());
  EXPECT_EQ(r1->Find("n1").state, NodeState::kUnavailable);
  EXPECT_FALSE(r1->Stats().available);
  store.down = false;
  ASSERT_TRUE(r1->Sync().ok());
  EXPECT_EQ(r1->Find("n1").state, NodeState::kFresh);
}

TEST(FleetRegistry, SyncDropsRecordsPastRetention) {
  FakeClock clock(kT0);
  SharedMemoryStore store;
  FleetOptions o;
  o.freshness = absl::Minutes(1);
  o.retention = absl::Hours(1);
  auto reg = Make(store, clock, o);
  ASSERT_TRUE(reg->Record(Rec("n1", "affirming", kT0)).ok());
  clock.Advance(absl::Hours(2));
  ASSERT_TRUE(reg->Sync().ok());
  EXPECT_EQ(reg->Find("n1").state, NodeState::kMissing);
}

TEST(FleetRegistry, CreateValidates) {
  FakeClock clock(kT0);
  InMemoryNodeStore store(1);
  FleetOptions o;
  o.freshness = absl::ZeroDuration();
  EXPECT_FALSE(FleetRegistry::Create(o, store, clock).ok());
  o = {};
  o.max_nodes = 0;
  EXPECT_FALSE(FleetRegistry::Create(o, store, clock).ok());
  o = {};
  o.retention = absl::Minutes(1);
  EXPECT_FALSE(FleetRegistry::Create(o, store, clock).ok());
}

TEST(FleetMetrics, GaugesFollowTheView) {
  FakeClock clock(kT0);
  InMemoryNodeStore store(100);
  FleetOptions o;
  o.freshness = absl::Minutes(10);
  auto reg = Make(store, clock, o);
  ASSERT_TRUE(reg->Record(Rec("a", "affirming", kT0)).ok());
  ASSERT_TRUE(reg->Record(Rec("b", "affirming", kT0 - absl::Minutes(11))).ok());
  ASSERT_TRUE(reg->Record(Rec("c", "contraindicated", kT0)).ok());
  prometheus::Registry registry;
  FleetMetrics metrics(registry);
  FleetSyncLoop loop(*reg, &metrics, absl::Hours(1), nullptr);  // first round runs at once
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry.Collect());
  const std::string text = out.str();
  EXPECT_NE(text.find("rp_fleet_nodes{verdict=\"affirming\"} 2"), std::string::npos) << text;
  EXPECT_NE(text.find("rp_fleet_nodes{verdict=\"warning\"} 0"), std::string::npos) << text;
  EXPECT_NE(text.find("rp_fleet_nodes{verdict=\"contraindicated\"} 1"), std::string::npos);
  EXPECT_NE(text.find("rp_fleet_stale_nodes 1"), std::string::npos) << text;
  EXPECT_NE(text.find("rp_fleet_view_available 1"), std::string::npos) << text;
  clock.Advance(absl::Minutes(30));
  loop.RunOnce();
  std::ostringstream later;
  prometheus::TextSerializer().Serialize(later, registry.Collect());
  EXPECT_NE(later.str().find("rp_fleet_stale_nodes 3"), std::string::npos) << later.str();
}

}  // namespace
}  // namespace rp::admission::fleet
