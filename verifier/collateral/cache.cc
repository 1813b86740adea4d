#include "verifier/collateral/cache.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
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

}  // namespace

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
  if (options.max_memory_entries == 0) {
    return absl::InvalidArgumentError("cache: max_memory_entries must be positive");
  }
  if (!options.disk_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(options.disk_dir, ec);
    if (ec) {
      return absl::FailedPreconditionError(
          absl::StrCat("cache: cannot create ", options.disk_dir, ": ", ec.message()));
    }
  }
  return std::unique_ptr<CachingSource>(
      new CachingSource(options, std::move(upstream), clock, observer));
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
  if (!data.ok() || !data->has_value()) return std::nullopt;
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
  if (options_.disk_dir.empty()) return;
  const std::string path = absl::StrCat(options_.disk_dir, "/", key);
  // Data first, then the sidecar: a reader that sees new data with old
  // metadata at worst re-fetches early.
  if (!WriteFileAtomically(path, item.data)) {
    // Served from memory all the same; visible in metrics, not an error.
    observer_.OnCacheLookup(CacheOutcome::kDiskError);
    return;
  }
  nlohmann::json meta = {
      {"fetched_at", FormatRfc3339(item.fetched_at)},
      {"fresh_until", FormatRfc3339(item.fresh_until)},
      {"source", item.source},
  };
  const std::string text = meta.dump(2) + "\n";
  if (!WriteFileAtomically(path + ".meta.json", AsBytes(text))) {
    observer_.OnCacheLookup(CacheOutcome::kDiskError);
  }
}

void CachingSource::StoreInMemory(const std::string& key, const CollateralItem& item) const {
  absl::MutexLock l(&mu_);
  memory_[key] = item;
  memory_[key].stale = false;
  while (memory_.size() > options_.max_memory_entries) {
    // Evict the entry that expires first (never the one just stored unless
    // it is the only candidate).
    auto victim = memory_.end();
    for (auto it = memory_.begin(); it != memory_.end(); ++it) {
      if (it->first == key) continue;
      if (victim == memory_.end() || it->second.fresh_until < victim->second.fresh_until) {
        victim = it;
      }
    }
    if (victim == memory_.end()) break;
    memory_.erase(victim);
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
    if (result.ok()) {
      negative_.erase(key);
      if (result->has_value()) {
        not_found_until_.erase(key);
      } else {
        not_found_until_[key] = now + options_.not_found_ttl;
      }
    } else {
      negative_[key] = Negative{result.status(), now + options_.negative_ttl};
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
    auto nf = not_found_until_.find(key);
    if (nf != not_found_until_.end()) {
      if (now < nf->second) {
        observer_.OnCacheLookup(CacheOutcome::kNegativeHit);
        return std::optional<CollateralItem>();
      }
      not_found_until_.erase(nf);
    }
    auto it = memory_.find(key);
    if (it != memory_.end()) cached = it->second;
    auto neg = negative_.find(key);
    if (neg != negative_.end()) {
      if (now < neg->second.until) {
        negative = neg->second.error;
      } else {
        negative_.erase(neg);
      }
    }
  }
  if (!cached.has_value()) {
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
