#include "release/directory_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "verifier/common/status_macros.h"

namespace rp::release {
namespace {

// Owns one file descriptor.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

std::string Errno(int err) { return std::strerror(err); }

// I/O failures of the backing file system are "backend unavailable".
absl::Status IoError(absl::string_view what, int err) {
  return absl::UnavailableError(absl::StrCat(what, ": ", Errno(err)));
}

std::string ModeString(mode_t mode) { return absl::StrFormat("%04o", mode & 07777); }

// A directory that may hold secrets must be ours and closed to everyone else.
absl::Status CheckPrivateDir(int fd, absl::string_view what) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return IoError(absl::StrCat("stat ", what), errno);
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(what, " is not a directory"));
  }
  if (st.st_uid != ::geteuid()) {
    return absl::FailedPreconditionError(absl::StrCat(what, " is owned by uid ", st.st_uid,
                                                      ", not by this process (uid ",
                                                      ::geteuid(), ")"));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        what, " has mode ", ModeString(st.st_mode), "; group/other access must be 0 (0700)"));
  }
  return absl::OkStatus();
}

// Opens directory `name` below `parent` without following a symlink;
// creates it (0700) first when `create`.
absl::StatusOr<UniqueFd> OpenSubdir(int parent, const std::string& name, bool create,
                                    absl::string_view what) {
  bool created = false;
  if (create) {
    if (::mkdirat(parent, name.c_str(), 0700) == 0) {
      created = true;
    } else if (errno != EEXIST) {
      return IoError(absl::StrCat("mkdir ", what), errno);
    }
  }
  UniqueFd fd(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0) {
    int err = errno;
    if (err == ENOENT) return absl::NotFoundError(absl::StrCat(what, " does not exist"));
    if (err == ELOOP || err == ENOTDIR) {
      return absl::FailedPreconditionError(
          absl::StrCat(what, " is not a directory (symlinks are refused)"));
    }
    return IoError(absl::StrCat("open ", what), err);
  }
  // umask may have cleared owner bits; a directory we just made is ours to fix.
  if (created && ::fchmod(fd.get(), 0700) != 0) {
    return IoError(absl::StrCat("chmod ", what), errno);
  }
  RETURN_IF_ERROR(CheckPrivateDir(fd.get(), what));
  return fd;
}

struct ResourcePath {
  std::string repository, type, tag;
};

absl::StatusOr<ResourcePath> SplitResource(const std::string& resource) {
  if (!IsValidResourceName(resource)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid resource name \"", absl::CHexEscape(resource.substr(0, kMaxResourceNameBytes)),
        "\" (want <repository>/<type>/<tag>, each 1..", kMaxResourceSegmentBytes,
        " of [A-Za-z0-9._-], not starting with '.')"));
  }
  std::vector<std::string> parts = absl::StrSplit(resource, '/');
  return ResourcePath{parts[0], parts[1], parts[2]};
}

// Checks an open record (or secret file) before anything is read from it.
absl::Status CheckPrivateFile(const struct stat& st, absl::string_view what, size_t max_bytes,
                              bool allow_root_owner) {
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(what, " is not a regular file"));
  }
  bool owner_ok = st.st_uid == ::geteuid() || (allow_root_owner && st.st_uid == 0);
  if (!owner_ok) {
    return absl::FailedPreconditionError(absl::StrCat(
        what, " is owned by uid ", st.st_uid, ", not by this process (uid ", ::geteuid(), ")"));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, " has mode ", ModeString(st.st_mode),
                     "; group/other permission bits must be 0 (0600 or 0400)"));
  }
  if (st.st_size <= 0) return absl::DataLossError(absl::StrCat(what, " is empty"));
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    return absl::DataLossError(
        absl::StrCat(what, " is ", st.st_size, " bytes, more than the cap of ", max_bytes));
  }
  return absl::OkStatus();
}

// Reads exactly st_size bytes from a checked file; a file that changes size
// while we read is refused rather than returned in part.
absl::StatusOr<SecretBytes> ReadCheckedFile(int fd, size_t size, absl::string_view what) {
  SecretBytes out = SecretBytes::Zeroed(size);
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::read(fd, out.data() + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IoError(absl::StrCat("read ", what), errno);
    if (n == 0) return absl::DataLossError(absl::StrCat(what, " shrank while being read"));
    done += static_cast<size_t>(n);
  }
  uint8_t extra = 0;
  ssize_t n;
  do {
    n = ::read(fd, &extra, 1);
  } while (n < 0 && errno == EINTR);
  OPENSSL_cleanse(&extra, 1);
  if (n < 0) return IoError(absl::StrCat("read ", what), errno);
  if (n != 0) return absl::DataLossError(absl::StrCat(what, " grew while being read"));
  return out;
}

absl::Status WriteAll(int fd, std::span<const uint8_t> bytes, absl::string_view what) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IoError(absl::StrCat("write ", what), errno);
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

// Sorted names of the entries of directory `fd` that are valid segments and
// (when `want_dirs`) directories or (otherwise) regular files; lstat
// semantics, so symlinks are never listed.
absl::StatusOr<std::vector<std::string>> ListSegments(int fd, bool want_dirs,
                                                      absl::string_view what) {
  int dup_fd = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup_fd < 0) return IoError(absl::StrCat("dup ", what), errno);
  DIR* dir = ::fdopendir(dup_fd);
  if (dir == nullptr) {
    int err = errno;
    ::close(dup_fd);
    return IoError(absl::StrCat("opendir ", what), err);
  }
  std::unique_ptr<DIR, int (*)(DIR*)> closer(dir, &::closedir);
  ::rewinddir(dir);
  std::vector<std::string> names;
  while (true) {
    errno = 0;
    const struct dirent* entry = ::readdir(dir);
    if (entry == nullptr) {
      if (errno != 0) return IoError(absl::StrCat("readdir ", what), errno);
      break;
    }
    const std::string name(static_cast<const char*>(entry->d_name));
    if (!IsValidResourceSegment(name)) continue;  // also skips ".", ".." and temp files
    struct stat st {};
    if (::fstatat(fd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;  // removed meanwhile
      return IoError(absl::StrCat("stat ", what, "/", name), errno);
    }
    if (want_dirs ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode)) names.emplace_back(name);
    if (names.size() > kMaxListedResources) {
      return absl::ResourceExhaustedError(
          absl::StrCat(what, " has more than ", kMaxListedResources, " entries"));
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

absl::StatusOr<std::unique_ptr<DirectoryStore>> DirectoryStore::Create(const std::string& root,
                                                                       Options options) {
  if (root.empty()) return absl::InvalidArgumentError("directory store: empty root path");
  if (options.max_record_bytes == 0) {
    return absl::InvalidArgumentError("directory store: max_record_bytes must be > 0");
  }
  std::string what = absl::StrCat("directory store root ", root);
  bool created = false;
  if (::mkdir(root.c_str(), 0700) == 0) {
    created = true;
  } else if (errno != EEXIST) {
    return IoError(absl::StrCat("mkdir ", what), errno);
  }
  UniqueFd fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) {
    int err = errno;
    if (err == ENOTDIR) return absl::FailedPreconditionError(absl::StrCat(what, " is not a directory"));
    return IoError(absl::StrCat("open ", what), err);
  }
  if (created && ::fchmod(fd.get(), 0700) != 0) return IoError(absl::StrCat("chmod ", what), errno);
  RETURN_IF_ERROR(CheckPrivateDir(fd.get(), what));
  return std::unique_ptr<DirectoryStore>(new DirectoryStore(root, fd.release(), options));
}

DirectoryStore::~DirectoryStore() { ::close(root_fd_); }

absl::StatusOr<SecretBytes> DirectoryStore::Get(std::string_view resource_view) const {
  const std::string resource(resource_view);
  ASSIGN_OR_RETURN(ResourcePath p, SplitResource(resource));
  std::string what = absl::StrCat("resource ", resource);
  auto repo = OpenSubdir(root_fd_, p.repository, /*create=*/false, p.repository);
  if (!repo.ok()) {
    if (absl::IsNotFound(repo.status())) return absl::NotFoundError(absl::StrCat(what, " not found"));
    return Annotate(repo.status(), what);
  }
  auto type = OpenSubdir(repo->get(), p.type, /*create=*/false,
                         absl::StrCat(p.repository, "/", p.type));
  if (!type.ok()) {
    if (absl::IsNotFound(type.status())) return absl::NotFoundError(absl::StrCat(what, " not found"));
    return Annotate(type.status(), what);
  }
  // O_NONBLOCK: a FIFO planted here must not hang the reader (it is refused
  // below as not a regular file).
  UniqueFd fd(::openat(type->get(), p.tag.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) {
    int err = errno;
    if (err == ENOENT) return absl::NotFoundError(absl::StrCat(what, " not found"));
    if (err == ELOOP) {
      return absl::FailedPreconditionError(absl::StrCat(what, " is a symlink (refused)"));
    }
    return IoError(absl::StrCat("open ", what), err);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return IoError(absl::StrCat("stat ", what), errno);
  RETURN_IF_ERROR(CheckPrivateFile(st, what, options_.max_record_bytes, /*allow_root_owner=*/false));
  return ReadCheckedFile(fd.get(), static_cast<size_t>(st.st_size), what);
}

absl::Status DirectoryStore::Put(std::string_view resource_view, std::span<const uint8_t> secret) {
  const std::string resource(resource_view);
  ASSIGN_OR_RETURN(ResourcePath p, SplitResource(resource));
  std::string what = absl::StrCat("resource ", resource);
  if (secret.empty()) return absl::InvalidArgumentError(absl::StrCat(what, ": empty secret"));
  if (secret.size() > options_.max_record_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", secret.size(),
                                                   " bytes, more than the cap of ",
                                                   options_.max_record_bytes));
  }
  ASSIGN_OR_RETURN(UniqueFd repo, OpenSubdir(root_fd_, p.repository, /*create=*/true, p.repository));
  ASSIGN_OR_RETURN(UniqueFd type, OpenSubdir(repo.get(), p.type, /*create=*/true,
                                             absl::StrCat(p.repository, "/", p.type)));
  std::array<uint8_t, 8> nonce{};
  if (RAND_bytes(nonce.data(), static_cast<int>(nonce.size())) != 1) {
    return absl::InternalError("RAND_bytes failed");
  }
  // Starts with '.', so it is never a valid segment: List() and Get() skip it.
  std::string tmp = absl::StrCat(".tmp-", p.tag, "-",
                                 absl::BytesToHexString(absl::string_view(
                                     reinterpret_cast<const char*>(nonce.data()),  // NOLINT
                                     nonce.size())));
  UniqueFd fd(::openat(type.get(), tmp.c_str(),
                       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (fd.get() < 0) return IoError(absl::StrCat("create temp file for ", what), errno);
  auto fail = [&](absl::Status status) {
    ::unlinkat(type.get(), tmp.c_str(), 0);
    return status;
  };
  if (::fchmod(fd.get(), 0600) != 0) return fail(IoError(absl::StrCat("chmod ", what), errno));
  if (absl::Status s = WriteAll(fd.get(), secret, what); !s.ok()) return fail(s);
  if (::fsync(fd.get()) != 0) return fail(IoError(absl::StrCat("fsync ", what), errno));
  if (::close(fd.release()) != 0) return fail(IoError(absl::StrCat("close ", what), errno));
  // The atomic step: readers see the old record or the new one.
  if (::renameat(type.get(), tmp.c_str(), type.get(), p.tag.c_str()) != 0) {
    return fail(IoError(absl::StrCat("rename into ", what), errno));
  }
  if (::fsync(type.get()) != 0) return IoError(absl::StrCat("fsync directory of ", what), errno);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> DirectoryStore::List() const {
  std::vector<std::string> out;
  ASSIGN_OR_RETURN(std::vector<std::string> repos, ListSegments(root_fd_, true, "store root"));
  for (const std::string& repo : repos) {
    ASSIGN_OR_RETURN(UniqueFd repo_fd, OpenSubdir(root_fd_, repo, false, repo));
    ASSIGN_OR_RETURN(std::vector<std::string> types, ListSegments(repo_fd.get(), true, repo));
    for (const std::string& type : types) {
      std::string prefix = absl::StrCat(repo, "/", type);
      ASSIGN_OR_RETURN(UniqueFd type_fd, OpenSubdir(repo_fd.get(), type, false, prefix));
      ASSIGN_OR_RETURN(std::vector<std::string> tags, ListSegments(type_fd.get(), false, prefix));
      for (const std::string& tag : tags) {
        out.push_back(absl::StrCat(prefix, "/", tag));
        if (out.size() > kMaxListedResources) {
          return absl::ResourceExhaustedError(
              absl::StrCat("store holds more than ", kMaxListedResources, " resources"));
        }
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

absl::Status DirectoryStore::Remove(std::string_view resource_view) {
  const std::string resource(resource_view);
  ASSIGN_OR_RETURN(ResourcePath p, SplitResource(resource));
  std::string what = absl::StrCat("resource ", resource);
  auto repo = OpenSubdir(root_fd_, p.repository, false, p.repository);
  if (absl::IsNotFound(repo.status())) return absl::NotFoundError(absl::StrCat(what, " not found"));
  RETURN_IF_ERROR(Annotate(repo.status(), what));
  auto type = OpenSubdir(repo->get(), p.type, false, absl::StrCat(p.repository, "/", p.type));
  if (absl::IsNotFound(type.status())) return absl::NotFoundError(absl::StrCat(what, " not found"));
  RETURN_IF_ERROR(Annotate(type.status(), what));
  if (::unlinkat(type->get(), p.tag.c_str(), 0) != 0) {
    int err = errno;
    if (err == ENOENT) return absl::NotFoundError(absl::StrCat(what, " not found"));
    if (err == EISDIR) return absl::FailedPreconditionError(absl::StrCat(what, " is a directory"));
    return IoError(absl::StrCat("unlink ", what), err);
  }
  // Empty <repository>/<type> directories are left in place: removing them
  // would race a concurrent Put into the same directory.
  if (::fsync(type->get()) != 0) return IoError(absl::StrCat("fsync directory of ", what), errno);
  return absl::OkStatus();
}

std::string DirectoryStore::Describe() const {
  return absl::StrCat("directory ", root_, " (plaintext files, development only)");
}

namespace internal {

absl::StatusOr<SecretBytes> ReadPrivateFile(const std::string& path, size_t max_bytes,
                                            bool allow_root_owner) {
  std::string what = absl::StrCat("file ", path);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) {
    int err = errno;
    if (err == ENOENT) return absl::NotFoundError(absl::StrCat(what, " does not exist"));
    return IoError(absl::StrCat("open ", what), err);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return IoError(absl::StrCat("stat ", what), errno);
  absl::Status check = CheckPrivateFile(st, what, max_bytes, allow_root_owner);
  // An empty or oversized secret file is a configuration problem here, not a
  // damaged record.
  if (absl::IsDataLoss(check)) return absl::FailedPreconditionError(check.message());
  RETURN_IF_ERROR(check);
  return ReadCheckedFile(fd.get(), static_cast<size_t>(st.st_size), what);
}

}  // namespace internal
}  // namespace rp::release
