#include "verifier/collateral/cache.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "nlohmann/json.hpp"
#include "verifier/collateral/freshness.h"
#include "verifier/common/status_macros.h"

namespace rp::collateral {

struct CachingSource::Flight {
  absl::Notification done;
  absl::StatusOr<std::optional<CollateralItem>> result;
};

namespace {

constexpr size_t kMaxMetaBytes = 64 * 1024;

// Writes `data` to `path` atomically: a unique temp file in the same
// directory, fsync, rename over the target.
bool WriteFileAtomically(const std::string& path, std::span<const uint8_t> data) {
  static std::atomic<uint64_t> counter{0};
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  if (ec) return false;
  const std::string tmp = absl::StrCat(path, ".tmp.", ::getpid(), ".", counter.fetch_add(1));
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  size_t off = 0;
  bool ok = true;
  while (off < data.size()) {
    const ssize_t n = ::write(fd, data.data() + off, data.size() - off);  // NOLINT: bounded
    if (n < 0) {
      if (errno == EINTR) continue;
      ok = false;
      break;
    }
    off += static_cast<size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  ok = (::close(fd) == 0) && ok;
  if (ok) {
    std::filesystem::rename(tmp, path, ec);
    ok = !ec;
  }
  if (!ok) std::filesystem::remove(tmp, ec);
  return ok;
}

std::optional<std::string> ReadSmallFile(const std::string& path, size_t limit) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string text;
  text.resize(limit + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  const auto got = static_cast<size_t>(in.gcount());
  if (got > limit) return std::nullopt;
  text.resize(got);
  return text;
}

constexpr char kMetaSuffix[] = ".meta.json";
// Bookkeeping per memory entry beyond data + key + source (the list node,
// the index slot, the item's fields), so a flood of tiny items still counts.
constexpr uint64_t kMemoryEntryOverhead = 256;

uint64_t MemoryCost(const std::string& key, const CollateralItem& item) {
  return item.data.size() + key.size() + item.source.size() + kMemoryEntryOverhead;
}

}  // namespace

// Which cache-written items are in a cache directory, least recently used
// first, and how many bytes they take. Thread-safe; one per directory per
// process (two CachingSources on one directory, such as the collateral and
// OCSP caches of one stack, share it).
class DiskIndex {
 public:
  static std::shared_ptr<DiskIndex> ForDirectory(const std::string& dir, uint64_t max_bytes,
                                                 size_t max_files) {
    static absl::Mutex* const mu = new absl::Mutex();
    static auto* const registry = new std::map<std::string, std::weak_ptr<DiskIndex>>();
    std::error_code ec;
    std::string canonical = std::filesystem::weakly_canonical(dir, ec).string();
    if (ec || canonical.empty()) canonical = dir;
    absl::MutexLock l(mu);
    for (auto it = registry->begin(); it != registry->end();) {
      it = it->second.expired() ? registry->erase(it) : std::next(it);
    }
    auto found = registry->find(canonical);
    if (found != registry->end()) {
      if (std::shared_ptr<DiskIndex> index = found->second.lock()) return index;
    }
    auto index = std::shared_ptr<DiskIndex>(new DiskIndex(dir, max_bytes, max_files));
    index->Scan();
    (*registry)[canonical] = index;
    return index;
  }

  bool Fits(uint64_t bytes) const { return bytes <= max_bytes_; }

  // `key` was just written (data + sidecar = `bytes`): it becomes the most
  // recent item, and the least recently used items beyond the caps are
  // deleted. Returns how many were.
  size_t Stored(const std::string& key, uint64_t bytes) {
    std::vector<std::string> victims;
    {
      absl::MutexLock l(&mu_);
      for (auto& e : lru_.Put(key, Empty{}, bytes)) victims.push_back(std::move(e.key));
    }
    DeleteFiles(victims);
    return victims.size();
  }

  void Touch(const std::string& key) {
    absl::MutexLock l(&mu_);
    lru_.Get(key);
  }

  void Forget(const std::string& key) {
    absl::MutexLock l(&mu_);
    lru_.Erase(key);
  }

  size_t files() const {
    absl::MutexLock l(&mu_);
    return lru_.size();
  }
  uint64_t bytes() const {
    absl::MutexLock l(&mu_);
    return lru_.cost();
  }

 private:
  struct Empty {};

  DiskIndex(std::string dir, uint64_t max_bytes, size_t max_files)
      : dir_(std::move(dir)), max_bytes_(max_bytes), lru_(max_files, max_bytes) {}

  // Items with a sidecar, oldest modification first, then trimmed to the
  // caps (which may have been lowered since the files were written).
  void Scan() {
    namespace fs = std::filesystem;
    std::vector<std::tuple<fs::file_time_type, std::string, uint64_t>> found;
    std::error_code ec;
    const fs::path root(dir_);
    for (auto it = fs::recursive_directory_iterator(
             root, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      std::error_code fec;
      if (!it->is_regular_file(fec)) continue;
      const std::string meta = it->path().string();
      if (!absl::EndsWith(meta, kMetaSuffix)) continue;
      const fs::path data(meta.substr(0, meta.size() - std::strlen(kMetaSuffix)));
      const uintmax_t data_size = fs::file_size(data, fec);
      if (fec) continue;
      const uintmax_t meta_size = it->file_size(fec);
      if (fec) continue;
      const fs::file_time_type mtime = fs::last_write_time(data, fec);
      if (fec) continue;
      const std::string key = data.lexically_relative(root).generic_string();
      if (!IsValidCollateralKey(key)) continue;
      found.emplace_back(mtime, key, static_cast<uint64_t>(data_size + meta_size));
    }
    std::sort(found.begin(), found.end());
    std::vector<std::string> victims;
    {
      absl::MutexLock l(&mu_);
      for (auto& [mtime, key, bytes] : found) {
        for (auto& e : lru_.Put(key, Empty{}, bytes)) victims.push_back(std::move(e.key));
      }
    }
    DeleteFiles(victims);
  }

  void DeleteFiles(const std::vector<std::string>& keys) const {
    for (const std::string& key : keys) {
      std::error_code ec;
      const std::string path = absl::StrCat(dir_, "/", key);
      std::filesystem::remove(path + kMetaSuffix, ec);
      std::filesystem::remove(path, ec);
    }
  }

  const std::string dir_;
  const uint64_t max_bytes_;
  mutable absl::Mutex mu_;
  LruMap<Empty> lru_ ABSL_GUARDED_BY(mu_);
};

CachingSource::CachingSource(const CacheOptions& options,
                             std::shared_ptr<const CollateralSource> upstream, const Clock& clock,
                             CollateralObserver& observer, std::shared_ptr<DiskIndex> disk_index)
    : options_(options),
      upstream_(std::move(upstream)),
      clock_(clock),
      observer_(observer),
      disk_index_(std::move(disk_index)),
      sweep_interval_(std::clamp(std::min(options.negative_ttl, options.not_found_ttl),
                                 absl::Seconds(1), absl::Minutes(1))),
      memory_(options.max_memory_entries, options.max_memory_bytes),
      negative_(options.max_negative_entries, 0) {}

CachingSource::~CachingSource() = default;

CacheStats CachingSource::Stats() const {
  CacheStats s;
  {
    absl::MutexLock l(&mu_);
    s.memory_entries = memory_.size();
    s.memory_bytes = memory_.cost();
    s.negative_entries = negative_.size();
    s.evicted_memory = evicted_memory_;
    s.evicted_negative = evicted_negative_;
  }
  s.evicted_disk = evicted_disk_.load();
  if (disk_index_ != nullptr) {
    s.disk_files = disk_index_->files();
    s.disk_bytes = disk_index_->bytes();
  }
  return s;
}

absl::StatusOr<std::unique_ptr<CachingSource>> CachingSource::Create(
    const CacheOptions& options, std::shared_ptr<const CollateralSource> upstream,
    const Clock& clock, CollateralObserver& observer) {
  if (upstream == nullptr) return absl::InvalidArgumentError("cache: upstream is null");
  if (options.max_ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("cache: max_ttl must be positive");
  }
  if (options.negative_ttl < absl::ZeroDuration() || options.not_found_ttl < absl::ZeroDuration() ||
      options.min_refresh_interval < absl::ZeroDuration() ||
      options.default_stale_grace < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("cache: durations must not be negative");
  }
  if (options.max_memory_entries == 0 || options.max_memory_bytes == 0 ||
      options.max_negative_entries == 0 || options.max_disk_bytes == 0 ||
      options.max_disk_files == 0) {
    return absl::InvalidArgumentError("cache: every cap (entries, bytes, files) must be positive");
  }
  std::shared_ptr<DiskIndex> disk_index;
  if (!options.disk_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(options.disk_dir, ec);
    if (ec) {
      return absl::FailedPreconditionError(
          absl::StrCat("cache: cannot create ", options.disk_dir, ": ", ec.message()));
    }
    disk_index =
        DiskIndex::ForDirectory(options.disk_dir, options.max_disk_bytes, options.max_disk_files);
  }
  return std::unique_ptr<CachingSource>(
      new CachingSource(options, std::move(upstream), clock, observer, std::move(disk_index)));
}

std::string CachingSource::Describe() const {
  return absl::StrCat("cache(", options_.disk_dir.empty() ? "memory" : options_.disk_dir, ") <- ",
                      upstream_->Describe());
}

absl::StatusOr<std::optional<Bytes>> CachingSource::Get(std::string_view key) const {
  GetOptions options;
  options.stale_grace = options_.default_stale_grace;
  ASSIGN_OR_RETURN(std::optional<CollateralItem> item, GetItem(key, options));
  if (!item.has_value()) return std::optional<Bytes>();
  return std::optional<Bytes>(std::move(item->data));
}

std::optional<CollateralItem> CachingSource::LoadFromDisk(const std::string& key,
                                                          absl::Time now) const {
  if (options_.disk_dir.empty()) return std::nullopt;
  OfflineDirectorySource dir(options_.disk_dir);
  absl::StatusOr<std::optional<Bytes>> data = dir.Get(key);
  if (!data.ok() || !data->has_value()) {
    if (disk_index_ != nullptr) disk_index_->Forget(key);  // gone from disk
    return std::nullopt;
  }
  if (disk_index_ != nullptr) disk_index_->Touch(key);
  CollateralItem item;
  item.data = std::move(**data);
  item.source = dir.Describe();
  bool have_meta = false;
  const std::string base = absl::StrCat(options_.disk_dir, "/", key);
  if (std::optional<std::string> text = ReadSmallFile(base + ".meta.json", kMaxMetaBytes)) {
    nlohmann::json meta = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
    if (meta.is_object() && meta.contains("fetched_at") && meta["fetched_at"].is_string() &&
        meta.contains("fresh_until") && meta["fresh_until"].is_string()) {
      absl::StatusOr<absl::Time> fetched = ParseTime(meta["fetched_at"].get<std::string>());
      absl::StatusOr<absl::Time> fresh = ParseTime(meta["fresh_until"].get<std::string>());
      if (fetched.ok() && fresh.ok()) {
        have_meta = true;
        item.fetched_at = *fetched;
        // The ceiling may have been lowered since the item was written.
        item.fresh_until = std::min(*fresh, *fetched + options_.max_ttl);
        if (meta.contains("source") && meta["source"].is_string()) {
          item.source = meta["source"].get<std::string>();
        }
      }
    }
  }
  if (!have_meta) {
    // A file placed by hand (an offline bundle used as the cache): trust its
    // content's own expiry, capped from now.
    item.fetched_at = now;
    item.fresh_until = ComputeFreshUntil(key, item.data, std::nullopt, now, options_.max_ttl);
  }
  return item;
}

void CachingSource::StoreToDisk(const std::string& key, const CollateralItem& item) const {
  if (disk_index_ == nullptr) return;
  const std::string path = absl::StrCat(options_.disk_dir, "/", key);
  nlohmann::json meta = {
      {"fetched_at", FormatRfc3339(item.fetched_at)},
      {"fresh_until", FormatRfc3339(item.fresh_until)},
      {"source", item.source},
  };
  const std::string text = meta.dump(2) + "\n";
  const uint64_t bytes = item.data.size() + text.size();
  if (!disk_index_->Fits(bytes)) {
    // Larger than the whole disk tier: memory only. An older copy on disk
    // would outlive the newer one in memory, so it goes.
    std::error_code ec;
    std::filesystem::remove(path + kMetaSuffix, ec);
    std::filesystem::remove(path, ec);
    disk_index_->Forget(key);
    return;
  }
  // Data first, then the sidecar: a reader that sees new data with old
  // metadata at worst re-fetches early.
  if (!WriteFileAtomically(path, item.data)) {
    // Served from memory all the same; visible in metrics, not an error.
    observer_.OnCacheLookup(CacheOutcome::kDiskError);
    return;
  }
  if (!WriteFileAtomically(path + kMetaSuffix, AsBytes(text))) {
    observer_.OnCacheLookup(CacheOutcome::kDiskError);
    return;
  }
  const size_t evicted = disk_index_->Stored(key, bytes);
  if (evicted > 0) {
    evicted_disk_.fetch_add(evicted);
    observer_.OnCacheEviction(CacheTier::kDisk, static_cast<int64_t>(evicted));
  }
}

void CachingSource::StoreInMemory(const std::string& key, const CollateralItem& item) const {
  CollateralItem copy = item;
  copy.stale = false;
  const uint64_t cost = MemoryCost(key, copy);
  size_t evicted = 0;
  {
    absl::MutexLock l(&mu_);
    // Least recently used entries go first; an item larger than the whole
    // byte cap is served but not kept.
    evicted = memory_.Put(key, std::move(copy), cost).size();
    evicted_memory_ += evicted;
  }
  if (evicted > 0) observer_.OnCacheEviction(CacheTier::kMemory, static_cast<int64_t>(evicted));
}

void CachingSource::RememberNegative(const std::string& key, Negative negative,
                                     absl::Time now) const {
  auto expired = [now](const std::string& /*key*/, const Negative& n) { return now >= n.until; };
  if (now >= negative.until) {
    negative_.Erase(key);  // a zero TTL: nothing to remember
  } else {
    const size_t evicted = negative_.Put(key, std::move(negative), 0).size();
    if (evicted > 0) {
      evicted_negative_ += evicted;
      observer_.OnCacheEviction(CacheTier::kNegative, static_cast<int64_t>(evicted));
    }
  }
  // Expired entries: the oldest ones now, all of them on schedule.
  negative_.TrimOldestWhile(expired);
  if (now >= next_sweep_) {
    negative_.EraseIf(expired);
    next_sweep_ = now + sweep_interval_;
  }
}

absl::StatusOr<std::optional<CollateralItem>> CachingSource::StaleOrFail(
    const std::string& key, const std::optional<CollateralItem>& cached, absl::Duration grace,
    absl::Time now, const absl::Status& why) const {
  if (!cached.has_value()) return Annotate(why, absl::StrCat("collateral ", key));
  if (now <= cached->fresh_until + grace) {
    observer_.OnCacheLookup(CacheOutcome::kStale);
    CollateralItem item = *cached;
    item.stale = true;
    return std::optional<CollateralItem>(std::move(item));
  }
  observer_.OnCacheLookup(CacheOutcome::kStaleRefused);
  // Fail closed: an old CRL could hide a revocation.
  return absl::FailedPreconditionError(absl::StrCat(
      "collateral ", key, " stale since ", FormatRfc3339(cached->fresh_until), ", grace ",
      absl::FormatDuration(grace), " exceeded (refresh: ", why.message(), ")"));
}

absl::StatusOr<std::optional<CollateralItem>> CachingSource::FetchCoalesced(
    const std::string& key, const GetOptions& options) const {
  std::shared_ptr<Flight> flight;
  bool leader = false;
  {
    absl::MutexLock l(&mu_);
    auto it = in_flight_.find(key);
    if (it != in_flight_.end()) {
      flight = it->second;
    } else {
      flight = std::make_shared<Flight>();
      in_flight_[key] = flight;
      leader = true;
    }
  }
  if (!leader) {
    flight->done.WaitForNotification();
    return flight->result;
  }

  absl::StatusOr<std::optional<CollateralItem>> result = upstream_->GetItem(key, options);
  const absl::Time now = clock_.Now();
  if (result.ok() && result->has_value()) {
    CollateralItem& item = **result;
    item.fetched_at = now;
    item.fresh_until = ComputeFreshUntil(key, item.data, item.http_expires, now, options_.max_ttl);
    item.stale = false;
    StoreToDisk(key, item);
    StoreInMemory(key, item);
  }
  {
    absl::MutexLock l(&mu_);
    if (result.ok() && result->has_value()) {
      negative_.Erase(key);
    } else if (result.ok()) {
      RememberNegative(key, Negative{absl::OkStatus(), now + options_.not_found_ttl}, now);
    } else {
      RememberNegative(key, Negative{result.status(), now + options_.negative_ttl}, now);
    }
    in_flight_.erase(key);
  }
  flight->result = result;
  flight->done.Notify();
  return result;
}

absl::StatusOr<std::optional<CollateralItem>> CachingSource::GetItem(
    std::string_view key_view, const GetOptions& options) const {
  const std::string key(key_view);
  // Sidecar and temp-file names are reserved so a key can never address them.
  if (!IsValidCollateralKey(key) || absl::EndsWith(key, ".meta.json") ||
      absl::StrContains(key, ".tmp.")) {
    return absl::InvalidArgumentError(absl::StrCat("collateral key '", key, "' is not valid"));
  }
  const absl::Duration grace = std::max(options.stale_grace, absl::ZeroDuration());
  const absl::Time now = clock_.Now();

  std::optional<CollateralItem> cached;
  std::optional<absl::Status> negative;
  {
    absl::MutexLock l(&mu_);
    if (const Negative* neg = negative_.Get(key)) {
      if (now >= neg->until) {
        negative_.Erase(key);
      } else if (neg->error.ok()) {  // a remembered not-found
        observer_.OnCacheLookup(CacheOutcome::kNegativeHit);
        return std::optional<CollateralItem>();
      } else {
        negative = neg->error;
      }
    }
    if (const CollateralItem* item = memory_.Get(key)) cached = *item;
  }
  if (cached.has_value()) {
    if (disk_index_ != nullptr) disk_index_->Touch(key);
  } else {
    cached = LoadFromDisk(key, now);
    if (cached.has_value()) StoreInMemory(key, *cached);
  }
  if (cached.has_value() && now < cached->fresh_until) {
    observer_.OnCacheLookup(CacheOutcome::kHit);
    return cached;
  }
  if (negative.has_value()) {
    if (!cached.has_value()) observer_.OnCacheLookup(CacheOutcome::kNegativeHit);
    return StaleOrFail(key, cached, grace, now,
                       Annotate(*negative, "recent failure (negative cache)"));
  }
  if (cached.has_value() && now < cached->fetched_at + options_.min_refresh_interval) {
    // Just refreshed and still past its freshness (the upstream serves an
    // expired item): do not ask again yet.
    return StaleOrFail(key, cached, grace, now,
                       absl::UnavailableError("the latest upstream copy is itself stale"));
  }

  observer_.OnCacheLookup(CacheOutcome::kMiss);
  absl::StatusOr<std::optional<CollateralItem>> fetched = FetchCoalesced(key, options);
  if (!fetched.ok()) return StaleOrFail(key, cached, grace, now, fetched.status());
  if (!fetched->has_value()) return fetched;
  if (now < (*fetched)->fresh_until) return fetched;
  // The freshly fetched copy is already past its own freshness.
  return StaleOrFail(key, *fetched, grace, now,
                     absl::UnavailableError("the latest upstream copy is itself stale"));
}

}  // namespace rp::collateral
