#include "admission/fleet/node_store.h"

#include <tuple>

#include "absl/strings/str_cat.h"

namespace rp::admission::fleet {
namespace {

absl::StatusOr<NodeRecord> Decode(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InternalError("node store: stored record is not JSON");
  return NodeRecord::FromJson(j);
}

}  // namespace

absl::Status InMemoryNodeStore::Put(const NodeRecord& record) {
  std::string json = record.ToJson(true).dump();
  absl::MutexLock lock(&mu_);
  auto it = records_.find(record.node);
  if (it != records_.end()) {
    if (std::tie(it->second.attested_at, it->second.jti) >=
        std::tie(record.attested_at, record.token_jti)) {
      return absl::OkStatus();  // the stored one is as new or newer
    }
    it->second = Entry{record.attested_at, record.token_jti, std::move(json)};
    return absl::OkStatus();
  }
  if (max_nodes_ == 0) return absl::ResourceExhaustedError("node store: max_nodes is 0");
  if (records_.size() >= max_nodes_) {
    auto oldest = records_.begin();
    for (auto i = records_.begin(); i != records_.end(); ++i) {
      if (i->second.attested_at < oldest->second.attested_at) oldest = i;
    }
    records_.erase(oldest);
  }
  records_.emplace(record.node, Entry{record.attested_at, record.token_jti, std::move(json)});
  return absl::OkStatus();
}

absl::StatusOr<std::optional<NodeRecord>> InMemoryNodeStore::Get(std::string_view node) const {
  std::string json;
  {
    absl::MutexLock lock(&mu_);
    auto it = records_.find(node);
    if (it == records_.end()) return std::optional<NodeRecord>();
    json = it->second.json;
  }
  absl::StatusOr<NodeRecord> r = Decode(json);
  if (!r.ok()) return r.status();
  return std::optional<NodeRecord>(*std::move(r));
}

absl::StatusOr<std::vector<NodeRecord>> InMemoryNodeStore::List() const {
  std::vector<std::string> texts;
  {
    absl::MutexLock lock(&mu_);
    texts.reserve(records_.size());
    for (const auto& [name, e] : records_) texts.push_back(e.json);
  }
  std::vector<NodeRecord> out;
  out.reserve(texts.size());
  for (const std::string& t : texts) {
    absl::StatusOr<NodeRecord> r = Decode(t);
    if (!r.ok()) return r.status();
    out.push_back(*std::move(r));
  }
  return out;
}

std::string InMemoryNodeStore::Describe() const {
  return absl::StrCat("memory (max ", max_nodes_, " nodes)");
}

}  // namespace rp::admission::fleet
