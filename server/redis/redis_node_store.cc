#include "server/redis/redis_node_store.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "verifier/common/absl_view.h"

namespace rp::server::redis {
namespace {

constexpr size_t kMaxNodeNameBytes = 253;  // RFC 1123 subdomain
constexpr size_t kMaxRecordBytes = 1 << 20;

// KEYS[1] the node's hash, KEYS[2] the index. ARGV: attested ms, jti, JSON,
// max nodes, node name, the node key prefix. Returns 1 stored, 0 the stored
// record is as new or newer.
constexpr char kPutScript[] = R"lua(
local a = tonumber(ARGV[1])
local cur = redis.call('HMGET', KEYS[1], 'a', 'j')
if cur[1] then
  local ca = tonumber(cur[1])
  if ca > a or (ca == a and cur[2] >= ARGV[2]) then return 0 end
else
  local max = tonumber(ARGV[4])
  while redis.call('ZCARD', KEYS[2]) >= max do
    local oldest = redis.call('ZPOPMIN', KEYS[2])
    if #oldest == 0 then break end
    redis.call('DEL', ARGV[6] .. oldest[1])
  end
end
redis.call('HSET', KEYS[1], 'a', ARGV[1], 'j', ARGV[2], 'r', ARGV[3])
redis.call('ZADD', KEYS[2], a, ARGV[5])
return 1
)lua";

// KEYS[1] the index; ARGV[1] the node key prefix, ARGV[2] the most to return.
// Returns the records' JSON, newest first.
constexpr char kListScript[] = R"lua(
local names = redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)
local out = {}
for i, n in ipairs(names) do
  local r = redis.call('HGET', ARGV[1] .. n, 'r')
  if r then out[#out + 1] = r end
end
return out
)lua";

absl::StatusOr<admission::fleet::NodeRecord> Parse(std::string_view node, const std::string& text) {
  if (text.size() > kMaxRecordBytes) {
    return absl::InternalError(absl::StrCat("node store: record of ", AbslView(node), " is too large"));
  }
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return absl::InternalError(absl::StrCat("node store: record of ", AbslView(node), " is not JSON"));
  }
  return admission::fleet::NodeRecord::FromJson(j);
}

}  // namespace

RedisNodeStore::RedisNodeStore(RedisClient& client, std::string_view key_prefix, size_t max_nodes)
    : client_(client),
      prefix_(absl::StrCat(AbslView(key_prefix), "node:")),
      index_key_(absl::StrCat(AbslView(key_prefix), "nodes")),
      max_nodes_(std::max<size_t>(1, max_nodes)) {}

std::string RedisNodeStore::Describe() const {
  return absl::StrCat("redis (", client_.Describe(), ", keys ", prefix_, "*, max ", max_nodes_,
                      " nodes)");
}

absl::Status RedisNodeStore::Put(const admission::fleet::NodeRecord& record) {
  if (record.node.empty() || record.node.size() > kMaxNodeNameBytes) {
    return absl::InvalidArgumentError("node store: node name must be 1..253 bytes");
  }
  const std::string json = record.ToJson(true).dump();
  if (json.size() > kMaxRecordBytes) {
    return absl::InvalidArgumentError("node store: record over 1 MiB");
  }
  const std::string key = prefix_ + record.node;
  const std::string a = absl::StrCat(absl::ToUnixMillis(record.attested_at));
  const std::string max = absl::StrCat(max_nodes_);
  absl::StatusOr<Reply> r = client_.Command({"EVAL", kPutScript, "2", key, index_key_, a,
                                             record.token_jti, json, max, record.node, prefix_});
  if (!r.ok()) return r.status();
  if (r->type != Reply::Type::kInteger) {
    return absl::UnavailableError(absl::StrCat("node store: Put answered ", r->Describe()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<admission::fleet::NodeRecord>> RedisNodeStore::Get(
    std::string_view node) const {
  if (node.empty() || node.size() > kMaxNodeNameBytes) return std::nullopt;
  absl::StatusOr<Reply> r = client_.Command({"HGET", prefix_ + std::string(node), "r"});
  if (!r.ok()) return r.status();
  if (r->type == Reply::Type::kNil) return std::nullopt;
  if (r->type != Reply::Type::kString) {
    return absl::UnavailableError(absl::StrCat("node store: Get answered ", r->Describe()));
  }
  absl::StatusOr<admission::fleet::NodeRecord> rec = Parse(node, r->str);
  if (!rec.ok()) return rec.status();
  return std::optional<admission::fleet::NodeRecord>(*std::move(rec));
}

absl::StatusOr<std::vector<admission::fleet::NodeRecord>> RedisNodeStore::List() const {
  const std::string most = absl::StrCat(std::min(max_nodes_, kMaxListed));
  absl::StatusOr<Reply> r = client_.Command({"EVAL", kListScript, "1", index_key_, prefix_, most});
  if (!r.ok()) return r.status();
  if (r->type != Reply::Type::kArray) {
    return absl::UnavailableError(absl::StrCat("node store: List answered ", r->Describe()));
  }
  std::vector<admission::fleet::NodeRecord> out;
  out.reserve(r->elements.size());
  for (const Reply& e : r->elements) {
    if (e.type != Reply::Type::kString) {
      return absl::UnavailableError("node store: List answered a non-string record");
    }
    absl::StatusOr<admission::fleet::NodeRecord> rec = Parse("?", e.str);
    if (!rec.ok()) return rec.status();
    out.push_back(*std::move(rec));
  }
  return out;
}

}  // namespace rp::server::redis
