// Where verifiers get collateral they were not handed in the bundle. Keys
// are paths in the offline-directory layout (ARCHITECTURE §4), e.g.
// "amd/Milan/cert_chain.pem", so a warmed cache is also an offline bundle.
#ifndef RP_VERIFIER_COLLATERAL_SOURCE_H_
#define RP_VERIFIER_COLLATERAL_SOURCE_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "verifier/common/encoding.h"

namespace rp::collateral {

// One item with what is known about where it came from and how long it
// stays fresh. Plain sources fill `data` and `source`; HTTP sources add the
// HTTP freshness hint; the cache (cache.h) sets fresh_until / stale.
struct CollateralItem {
  Bytes data;
  std::string source;                       // Describe() of the producing source
  std::optional<absl::Time> http_expires;   // Cache-Control max-age / Expires
  absl::Time fetched_at = absl::InfinitePast();
  absl::Time fresh_until = absl::InfiniteFuture();
  // True when the cache served the item past fresh_until, inside the
  // caller's grace: the verifier reports a `stale-collateral` warning.
  bool stale = false;
};

struct GetOptions {
  // How long past its freshness an item may still be served (stale=true).
  // Only caches use it; zero means stale items are never served.
  absl::Duration stale_grace = absl::ZeroDuration();
};

// Thread-safe. Get returns nullopt when the source does not have the item,
// an error when the source failed (I/O error, item too large, bad key).
class CollateralSource {
 public:
  virtual ~CollateralSource() = default;
  virtual absl::StatusOr<std::optional<Bytes>> Get(std::string_view key) const = 0;
  // Short description for check details, e.g. "offline:/path".
  virtual std::string Describe() const = 0;
  // Like Get, with provenance and freshness. The default wraps Get, so
  // existing sources need not override it.
  virtual absl::StatusOr<std::optional<CollateralItem>> GetItem(std::string_view key,
                                                                const GetOptions& options) const;
};

// Keys are relative paths of [A-Za-z0-9._-] segments, at most 512
// characters, with no "." / ".." / empty segment and no leading "/".
bool IsValidCollateralKey(std::string_view key);

inline constexpr size_t kMaxCollateralItemBytes = 4 * 1024 * 1024;

// Reads files below `root`. Keys must be relative, made of [A-Za-z0-9._/-]
// segments, with no "..", no empty segment and no leading "/".
//
// Files read are kept in memory (at most kOfflineFileCacheEntries files and
// kOfflineFileCacheBytes bytes, least recently used first out) together
// with the file's identity and times (device, inode, size, mtime, ctime in
// ns). Every Get stats the path: a cached copy answers only while all five
// are unchanged; a file that is gone is "not found" at once. A file is kept
// only if it did not change while it was read and its ctime is at least
// kOfflineFileSettle old, so that two writes within one timestamp tick of
// the file system cannot leave a stale copy behind. Thread-safe.
inline constexpr size_t kOfflineFileCacheEntries = 1024;
inline constexpr uint64_t kOfflineFileCacheBytes = 64ull << 20;
inline constexpr absl::Duration kOfflineFileSettle = absl::Seconds(2);

class OfflineDirectorySource : public CollateralSource {
 public:
  explicit OfflineDirectorySource(std::string root);
  ~OfflineDirectorySource() override;
  absl::StatusOr<std::optional<Bytes>> Get(std::string_view key) const override;
  std::string Describe() const override { return "offline:" + root_; }

  struct FileCache;

 private:
  std::string root_;
  std::unique_ptr<FileCache> files_;
};

// A source that has nothing (used when no collateral directory is set).
class EmptySource : public CollateralSource {
 public:
  absl::StatusOr<std::optional<Bytes>> Get(std::string_view) const override {
    return std::optional<Bytes>();
  }
  std::string Describe() const override { return "none"; }
};

}  // namespace rp::collateral

#endif  // RP_VERIFIER_COLLATERAL_SOURCE_H_
