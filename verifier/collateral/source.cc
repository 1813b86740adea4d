#include "verifier/collateral/source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <tuple>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "verifier/common/lru.h"

namespace rp::collateral {

bool IsValidCollateralKey(std::string_view key_view) {
  const std::string key(key_view);
  if (key.empty() || key.size() > 512 || key.front() == '/') return false;
  for (absl::string_view seg : absl::StrSplit(key, '/')) {
    if (seg.empty() || seg == "." || seg == "..") return false;
    for (char c : seg) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '_' || c == '-';
      if (!ok) return false;
    }
  }
  return true;
}

absl::StatusOr<std::optional<CollateralItem>> CollateralSource::GetItem(
    std::string_view key, const GetOptions& /*options*/) const {
  absl::StatusOr<std::optional<Bytes>> got = Get(key);
  if (!got.ok()) return got.status();
  if (!got->has_value()) return std::optional<CollateralItem>();
  CollateralItem item;
  item.data = std::move(**got);
  item.source = Describe();
  return std::optional<CollateralItem>(std::move(item));
}

namespace {

// What identifies one version of a file without reading it.
struct FileStamp {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  bool operator==(const FileStamp& o) const {
    return std::tie(dev, ino, size, mtime_ns, ctime_ns) ==
           std::tie(o.dev, o.ino, o.size, o.mtime_ns, o.ctime_ns);
  }
};

FileStamp StampOf(const struct stat& st) {
  FileStamp f;
  f.dev = st.st_dev;
  f.ino = st.st_ino;
  f.size = st.st_size;
  f.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  f.ctime_ns = static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
  return f;
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

struct OfflineDirectorySource::FileCache {
  struct Entry {
    FileStamp stamp;
    Bytes data;
  };
  absl::Mutex mu;
  LruMap<Entry> files ABSL_GUARDED_BY(mu){kOfflineFileCacheEntries, kOfflineFileCacheBytes};
};

OfflineDirectorySource::OfflineDirectorySource(std::string root)
    : root_(std::move(root)), files_(std::make_unique<FileCache>()) {}

OfflineDirectorySource::~OfflineDirectorySource() = default;

absl::StatusOr<std::optional<Bytes>> OfflineDirectorySource::Get(std::string_view key_view) const {
  const std::string key(key_view);
  if (!IsValidCollateralKey(key)) {
    return absl::InvalidArgumentError(absl::StrCat("collateral key '", key, "' is not valid"));
  }
  const std::string path = absl::StrCat(root_, "/", key);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    absl::MutexLock lock(&files_->mu);
    files_->files.Erase(key);
    return std::optional<Bytes>();  // absent (or unreadable): not in this directory
  }
  {
    absl::MutexLock lock(&files_->mu);
    if (const FileCache::Entry* e = files_->files.Get(key); e != nullptr) {
      if (e->stamp == StampOf(st)) return std::optional<Bytes>(e->data);
      files_->files.Erase(key);
    }
  }
  const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return std::optional<Bytes>();
  if (::fstat(fd.get(), &st) != 0) {
    return absl::InternalError(absl::StrCat("collateral: cannot stat ", path, ": ",
                                            std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InternalError(absl::StrCat("collateral: ", path, " is not a regular file"));
  }
  const FileStamp before = StampOf(st);
  if (static_cast<uint64_t>(st.st_size) > kMaxCollateralItemBytes) {
    // Not FAILED_PRECONDITION: verifiers read that as "stale beyond the grace".
    return absl::ResourceExhaustedError(
        absl::StrCat("collateral: ", path, " is ", st.st_size, " bytes, over the limit of ",
                     kMaxCollateralItemBytes));
  }
  Bytes data(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < data.size()) {
    const ssize_t n = ::read(fd.get(), data.data() + got, data.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return absl::InternalError(absl::StrCat("collateral: read failed for ", path, ": ",
                                              n < 0 ? std::strerror(errno) : "file shrank"));
    }
    got += static_cast<size_t>(n);
  }
  // Remember it only if it held still while it was read and has settled.
  if (::fstat(fd.get(), &st) == 0 && StampOf(st) == before &&
      absl::FromUnixNanos(before.ctime_ns) + kOfflineFileSettle < absl::Now()) {
    absl::MutexLock lock(&files_->mu);
    files_->files.Put(key, FileCache::Entry{before, data}, data.size() + key.size());
  }
  return std::optional<Bytes>(std::move(data));
}

}  // namespace rp::collateral
