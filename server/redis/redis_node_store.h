// The fleet node registry's records on Redis, shared by replicas
// (admission/fleet/node_store.h has the contract; docs/admission.md).
//
//   rp:<namespace>:node:<name>   hash  a = attested_at (unix ms), j = token
//                                      jti, r = the record's JSON (with claims)
//   rp:<namespace>:nodes         sorted set of names, score = attested_at ms
//
// Put is one Lua script: it keeps the newer record (attested_at, then jti:
// the same total order as NodeRecord::NewerThan, so replicas converge), and
// when `max_nodes` names are held drops the least recently attested one to
// make room (as the in-memory store does). Errors are UNAVAILABLE.
#ifndef RP_SERVER_REDIS_REDIS_NODE_STORE_H_
#define RP_SERVER_REDIS_REDIS_NODE_STORE_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "admission/fleet/node_store.h"
#include "server/redis/redis_client.h"

namespace rp::server::redis {

class RedisNodeStore final : public admission::fleet::NodeStore {
 public:
  // At most this many records per List (the sync loop's read); bounded by
  // the client's reply limit.
  static constexpr size_t kMaxListed = Reply::kMaxElements;

  // `key_prefix` from KeyPrefix(namespace); `client` outlives the store.
  RedisNodeStore(RedisClient& client, std::string_view key_prefix, size_t max_nodes);

  absl::Status Put(const admission::fleet::NodeRecord& record) override;
  absl::StatusOr<std::optional<admission::fleet::NodeRecord>> Get(
      std::string_view node) const override;
  absl::StatusOr<std::vector<admission::fleet::NodeRecord>> List() const override;
  bool shared() const override { return true; }
  std::string Describe() const override;

 private:
  RedisClient& client_;
  const std::string prefix_;
  const std::string index_key_;
  const size_t max_nodes_;
};

}  // namespace rp::server::redis

#endif  // RP_SERVER_REDIS_REDIS_NODE_STORE_H_
